"""Billing's Celery entry point: `celery -A services.billing.worker worker -Q billing`."""

from . import tasks  # noqa: F401  (registers the consumers)
from .config import runtime

celery = runtime.celery
