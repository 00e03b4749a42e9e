"""Billing's run-time handles: settings, database, Celery app; and the one read it makes of another service."""

from typing import Any

from shared.http import ServiceClient
from shared.runtime import ServiceRuntime

from .models import Base, messaging

runtime = ServiceRuntime("billing", Base.metadata, messaging)


def logistics_costs(month: str) -> list[dict[str, Any]]:
    """Logistics' fees and premiums of `month` per unit (its internal API, with the service token).

    Raises shared.http.ServiceUnavailable when logistics does not answer: no statement is built without them.
    """
    client = ServiceClient("logistics", runtime.settings)
    return client.get("/internal/costs", params={"month": month})["items"]
