"""Logistics' HTTP schemas: staff hand-overs, batch closing and partners' tracking reports."""

from marshmallow import Schema, fields, validate

from shared.calendar import month_field

_who = validate.Length(min=1, max=64)


class CloseBatch(Schema):
    #: Who closed it early (the gateway passes the staff member); the schedule closes as "schedule".
    closed_by = fields.String(load_default="staff", validate=_who)


class DeliveryQuery(Schema):
    status = fields.String(
        load_default="open", validate=validate.OneOf(["open", "ready", "picked_up", "delivered", "all"])
    )


class PickUp(Schema):
    signature = fields.String(required=True, validate=validate.Length(min=1, max=200))
    courier = fields.String(required=True, validate=_who)


class Delivered(Schema):
    signed_by = fields.String(required=True, validate=validate.Length(min=1, max=100))
    courier = fields.String(required=True, validate=_who)


class CostsQuery(Schema):
    month = month_field(required=True)


class TrackingEventIn(Schema):
    #: Kuaidi100's state codes, which the gateway maps every partner onto.
    state = fields.Integer(required=True, strict=True, validate=validate.Range(min=0, max=6))
    detail = fields.String(required=True, validate=validate.Length(max=2000))
    #: ISO 8601; a time without a zone is the mall's local time (Kuaidi100 reports Beijing time).
    at = fields.DateTime(required=True, format="iso")


class TrackingReport(Schema):
    source = fields.String(required=True, validate=validate.Length(min=1, max=32))
    waybill = fields.String(required=True, validate=validate.Length(min=1, max=64))
    events = fields.List(fields.Nested(TrackingEventIn), required=True, validate=validate.Length(min=1, max=500))


class ClaimQuery(Schema):
    status = fields.String(
        load_default=None, validate=validate.OneOf(["open", "paid", "rejected", "not_insured", "withdrawn"])
    )


class ClaimSettled(Schema):
    paid_cents = fields.Integer(required=True, strict=True)
    by = fields.String(required=True, validate=_who)


class ClaimRejected(Schema):
    note = fields.String(required=True, validate=validate.Length(min=1, max=500))
    by = fields.String(required=True, validate=_who)
