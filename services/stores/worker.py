"""Stores' Celery entry point, one worker per unit: `celery -A services.stores.worker worker -Q stores.<unit>`."""

from . import tasks  # noqa: F401  (registers the consumers)
from .config import runtime

celery = runtime.celery
