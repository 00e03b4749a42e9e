"""Test helpers: a service on a fresh database, messages delivered without a broker, the outbox read back."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from shared.contracts import message_type
from shared.envelope import Envelope


def fresh_database(runtime, url: str) -> None:
    """Point a runtime at `url` (tables created from the models, dropped first)."""
    import os

    os.environ[f"MALL_DATABASE_URL_{runtime.name.upper()}"] = url
    runtime.reset()
    runtime.metadata.drop_all(runtime.db.engine)
    runtime.db.create_all()


def envelope(
    type_: str,
    payload: dict[str, Any],
    *,
    correlation_id: str = "-",
    sender: str | None = None,
    message_id: str | None = None,
) -> dict[str, Any]:
    """A valid envelope around `payload`, as a producer would send it."""
    kwargs = {"id": message_id} if message_id else {}
    return Envelope(
        type=type_,
        payload=payload,
        sender=sender or message_type(type_).producer,
        correlation_id=correlation_id,
        **kwargs,
    ).dump()


def deliver(
    runtime,
    type_: str,
    payload: dict[str, Any] | None = None,
    *,
    body: Any = None,
    correlation_id: str | None = None,
) -> str:
    """Hand one message to a service's consumer exactly as its worker would, minus the broker."""
    if body is None:
        body = envelope(type_, payload or {}, correlation_id=correlation_id or str(payload.get("order", "-")))
    return runtime.consume(type_, body)


def sent(runtime, type_: str | None = None) -> list[dict[str, Any]]:
    """Envelopes the service wrote to its outbox (one per consumer), oldest first."""
    outbox = runtime.tables.outbox
    query = select(outbox).order_by(outbox.c.id)
    if type_:
        query = query.where(outbox.c.type == type_)
    with runtime.db.session() as session:
        return [json.loads(row.body) | {"_queue": row.queue, "_task": row.task} for row in session.execute(query).all()]


def payloads(runtime, type_: str) -> list[dict[str, Any]]:
    return [m["payload"] for m in sent(runtime, type_)]


def inner_client(runtime, create_app):
    """A test client of an inner service's app that presents the service token, as the gateway does."""
    client = create_app({"TESTING": True}).test_client()
    client.environ_base["HTTP_X_SERVICE_TOKEN"] = runtime.settings.service_token
    return client


def assert_text_refused(response, field: str) -> None:
    """The 422 every edge answers for text no database can store (shared.web.refuse_bad_text), naming `field`."""
    assert response.status_code == 422, response.json
    error = response.json["error"]
    assert error["code"] == "validation_error"
    assert error["fields"] == {field: ["Text must be valid Unicode (no lone surrogates)."]}
