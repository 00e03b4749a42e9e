"""Logistics' Celery entry point: `celery -A services.logistics.worker worker -Q logistics`."""

from . import tasks  # noqa: F401  (registers the consumers and the batch cut-off job)
from .config import runtime

celery = runtime.celery
