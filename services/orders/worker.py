"""Orders' Celery entry point: `celery -A services.orders.worker worker -Q orders`."""

from . import tasks  # noqa: F401  (registers the consumers)
from .config import runtime

celery = runtime.celery
