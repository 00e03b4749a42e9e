"""Billing's HTTP schemas."""

from marshmallow import Schema, fields, validate

from shared.calendar import month_field
from shared.money import Money


class BalanceAdjustment(Schema):
    delta = Money(required=True)
    reason = fields.String(required=True, validate=validate.Length(min=1, max=150))
    idempotency_key = fields.String(load_default=None, validate=validate.Length(max=100))


class MonthQuery(Schema):
    month = month_field(required=True)


class StatementRun(Schema):
    month = month_field(required=True)
