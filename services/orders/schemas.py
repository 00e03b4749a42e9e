"""Orders' HTTP schemas."""

from marshmallow import Schema, fields, validate


class CancelRequest(Schema):
    reason = fields.String(load_default="cancelled by the customer", validate=validate.Length(min=1, max=150))


class MemberQuery(Schema):
    member_id = fields.Integer(load_default=None)


#: The most order numbers one `POST /internal/orders/known` may ask about.
MAX_KNOWN_NUMBERS = 500


class KnownOrdersQuery(Schema):
    """`{"numbers": [..]}`: which of these orders does the orders service have?"""

    numbers = fields.List(
        fields.String(validate=validate.Length(min=1, max=32)),
        required=True,
        validate=validate.Length(max=MAX_KNOWN_NUMBERS),
    )


# --- after-sales ------------------------------------------------------------------------------------


class AfterSaleLine(Schema):
    sku = fields.String(required=True, validate=validate.Length(min=1, max=64))
    quantity = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=100_000))


class AfterSaleRequest(Schema):
    """A customer's case, as the gateway passes it on (it checked the caller owns the order)."""

    member_id = fields.Integer(required=True, strict=True)
    kind = fields.String(required=True, validate=validate.OneOf(["return", "refund", "complaint"]))
    problem = fields.String(
        load_default="other",
        validate=validate.OneOf(["quality", "damaged", "lost", "wrong_item", "service", "other"]),
    )
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))
    lines = fields.List(fields.Nested(AfterSaleLine), load_default=list, validate=validate.Length(max=100))
    idempotency_key = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=100))


class AfterSaleAgreement(Schema):
    resolution = fields.String(required=True, validate=validate.OneOf(["refund", "return"]))
    #: Cents; none: the goods' price.
    refund_cents = fields.Integer(load_default=None, allow_none=True, strict=True)
    reply = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=500))
    by = fields.String(required=True, validate=validate.Length(min=1, max=64))


class AfterSaleAnswer(Schema):
    reply = fields.String(required=True, validate=validate.Length(min=1, max=500))
    by = fields.String(required=True, validate=validate.Length(min=1, max=64))


class AfterSaleReceipt(Schema):
    restock = fields.Boolean(required=True)
    by = fields.String(required=True, validate=validate.Length(min=1, max=64))


class AfterSaleQuery(Schema):
    status = fields.String(
        load_default=None, validate=validate.OneOf(["requested", "awaiting_return", "refunding", "refunded", "closed"])
    )
    unit = fields.String(load_default=None, validate=validate.Length(min=1, max=32))


class ContactChange(Schema):
    """New contact details for an order's delivery (at least one)."""

    name = fields.String(validate=validate.Length(min=1, max=100))
    phone = fields.String(validate=validate.Length(min=1, max=32))
    line = fields.String(validate=validate.Length(min=1, max=200))
    by = fields.String(required=True, validate=validate.Length(min=1, max=64))
