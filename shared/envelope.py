"""The versioned message envelope every Celery message of the mall carries, validated on both ends."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from marshmallow import RAISE, Schema, fields, post_load, validate


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Envelope:
    """One message: who sent what about which order, and why (its cause)."""

    type: str
    payload: dict[str, Any]
    sender: str
    correlation_id: str
    version: int = 1
    causation_id: str | None = None
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    occurred_at: datetime = field(default_factory=utcnow)

    def dump(self) -> dict[str, Any]:
        """JSON-ready data, as `EnvelopeSchema` dumps it (written out: every message sent pays for it)."""
        return {
            "id": self.id,
            "type": self.type,
            "version": self.version,
            "correlation_id": self.correlation_id,
            "causation_id": self.causation_id,
            "occurred_at": self.occurred_at.isoformat(),
            "sender": self.sender,
            "payload": self.payload,
        }

    @staticmethod
    def load(data: Any) -> Envelope:
        """Validate a raw message; raises marshmallow.ValidationError when it is not an envelope."""
        if not isinstance(data, dict):
            from marshmallow import ValidationError

            raise ValidationError({"_schema": ["An envelope is a JSON object."]})
        return _SCHEMA.load(data)


class EnvelopeSchema(Schema):
    class Meta:
        unknown = RAISE

    id = fields.UUID(required=True)
    type = fields.String(required=True, validate=validate.Regexp(r"^[a-z_]+\.[a-z_]+$"))
    version = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    correlation_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    causation_id = fields.String(required=True, allow_none=True, validate=validate.Length(max=64))
    occurred_at = fields.AwareDateTime(required=True)
    sender = fields.String(required=True, validate=validate.Length(min=1, max=32))
    payload = fields.Dict(required=True, keys=fields.String())

    @post_load
    def make(self, data: dict[str, Any], **_: Any) -> Envelope:
        data["id"] = str(data["id"])
        return Envelope(**data)


#: Built once: a marshmallow schema is cheap to use and dear to build.
_SCHEMA = EnvelopeSchema()
