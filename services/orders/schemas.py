"""Orders' HTTP schemas."""

from marshmallow import Schema, fields, validate


class CancelRequest(Schema):
    reason = fields.String(load_default="cancelled by the customer", validate=validate.Length(min=1, max=150))


class MemberQuery(Schema):
    member_id = fields.Integer(load_default=None)
