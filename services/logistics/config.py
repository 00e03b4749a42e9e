"""Logistics' run-time handles: settings, database, Celery app."""

from shared.runtime import ServiceRuntime

from .models import Base, messaging

runtime = ServiceRuntime("logistics", Base.metadata, messaging)
