"""Stores' HTTP schemas: units, stock-in, staff task actions and the list queries."""

from marshmallow import Schema, fields, validate

from shared.money import Money

UNIT_CODE = validate.Regexp(r"^[A-Za-z0-9_-]{1,32}$", error="A unit code is 1 to 32 letters, digits, - or _.")


class NewUnit(Schema):
    code = fields.String(required=True, validate=UNIT_CODE)
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    kind = fields.String(required=True, validate=validate.OneOf(["counter", "branch", "warehouse"]))
    division = fields.String(required=True, validate=validate.Length(min=1, max=32))
    city = fields.String(required=True, validate=validate.Length(min=1, max=64))
    lat = fields.Float(required=True, allow_nan=False, validate=validate.Range(min=-90, max=90))
    lon = fields.Float(required=True, allow_nan=False, validate=validate.Range(min=-180, max=180))
    channel = fields.String(load_default="queue", validate=validate.OneOf(["queue", "fax"]))
    auto_pack = fields.Boolean(load_default=False)


class StockIn(Schema):
    unit = fields.String(required=True, validate=UNIT_CODE)
    sku = fields.String(required=True, validate=validate.Length(min=1, max=64))
    quantity = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=1_000_000))


class TaskQuery(Schema):
    unit = fields.String(required=True, validate=UNIT_CODE)
    status = fields.String(load_default="open", validate=validate.OneOf(["open", "done", "cancelled", "all"]))


class TaskDone(Schema):
    unit = fields.String(required=True, validate=UNIT_CODE)
    # Staff may type the number of the paper slip they wrote; otherwise stores numbers it.
    slip_no = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=64))


class PurchaseLine(Schema):
    sku = fields.String(required=True, validate=validate.Length(min=1, max=64))
    quantity = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=1_000_000))
    unit_cost = Money(required=True, positive=True)


class NewPurchaseOrder(Schema):
    unit = fields.String(required=True, validate=UNIT_CODE)
    supplier = fields.String(required=True, validate=validate.Length(min=1, max=100))
    buyer = fields.String(required=True, validate=validate.Length(min=1, max=64))
    delivery_method = fields.String(required=True, validate=validate.OneOf(["supplier_delivers", "we_collect"]))
    settlement_method = fields.String(required=True, validate=validate.OneOf(["cash", "transfer", "monthly"]))
    deliver_by = fields.Date(required=True)
    note = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=500))
    lines = fields.List(fields.Nested(PurchaseLine), required=True, validate=validate.Length(min=1, max=200))


class PurchaseOrderQuery(Schema):
    unit = fields.String(load_default=None, validate=UNIT_CODE)
    status = fields.String(
        load_default=None, validate=validate.OneOf(["draft", "confirmed", "received", "settled", "cancelled"])
    )
