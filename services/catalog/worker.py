"""Catalog's Celery entry point: `celery -A services.catalog.worker worker -Q catalog`."""

from . import tasks  # noqa: F401  (registers the consumers)
from .config import runtime

celery = runtime.celery
