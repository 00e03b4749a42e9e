"""Billing's HTTP schemas."""

from marshmallow import Schema, fields, validate

from shared.money import Money


class BalanceAdjustment(Schema):
    delta = Money(required=True)
    reason = fields.String(required=True, validate=validate.Length(min=1, max=150))
    idempotency_key = fields.String(load_default=None, validate=validate.Length(max=100))
