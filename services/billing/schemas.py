"""Billing's HTTP schemas."""

from marshmallow import Schema, fields, validate

from shared.calendar import month_field
from shared.money import Money


class BalanceAdjustment(Schema):
    delta = Money(required=True)
    reason = fields.String(required=True, validate=validate.Length(min=1, max=150))
    idempotency_key = fields.String(load_default=None, validate=validate.Length(max=100))


class PaymentNotice(Schema):
    """The payment provider's notification about a trade, as the gateway forwards it once verified."""

    out_trade_no = fields.String(required=True, validate=validate.Length(min=1, max=64))
    trade_no = fields.String(required=True, validate=validate.Length(min=1, max=64))
    amount = Money(required=True, positive=True)
    trade_status = fields.String(
        required=True, validate=validate.OneOf(["TRADE_SUCCESS", "TRADE_FINISHED", "TRADE_CLOSED", "WAIT_BUYER_PAY"])
    )
    #: When the customer paid, as the provider says (`gmt_payment`); the sale counts in that month.
    paid_at = fields.AwareDateTime(load_default=None, allow_none=True, format="iso")


class MonthQuery(Schema):
    month = month_field(required=True)


class StatementRun(Schema):
    month = month_field(required=True)
