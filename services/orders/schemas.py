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
