"""The gateway's run-time handles: settings, database, Celery app (it only sends)."""

from shared.runtime import ServiceRuntime

from .models import Base, messaging

runtime = ServiceRuntime("gateway", Base.metadata, messaging)
