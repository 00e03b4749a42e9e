"""The message catalogue in code: every message type, its payload schema, its producer and its consumers.

Commands are imperative and name the service that performs them (`stores.check_stock`); their Celery
task name is the type itself. Events are past tense (`stock.reserved`); each consumer gets its own
task, `<consumer>.handle_<entity>_<verb>`. Stores commands go to the queue of the unit named in the
payload (`stores.<unit>`), so each department runs its own worker. docs/messages.md describes the
same catalogue for people; tests/contracts checks both stay in step.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from marshmallow import RAISE, Schema, fields, validate

Money = fields.Integer  # payloads carry money as integer cents: never floats, never rounding on the wire


class Payload(Schema):
    class Meta:
        unknown = RAISE


def _order() -> fields.String:
    return fields.String(required=True, validate=validate.Length(min=1, max=32))


def _unit() -> fields.String:
    return fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z0-9_-]{1,32}$"))


def _cents(**kwargs) -> fields.Integer:
    return fields.Integer(required=True, strict=True, validate=validate.Range(min=0), **kwargs)


def _quantity() -> fields.Integer:
    return fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=100_000))


class Address(Payload):
    name = fields.String(required=True)
    phone = fields.String(required=True)
    city = fields.String(required=True)
    line = fields.String(required=True)
    lat = fields.Float(required=True, validate=validate.Range(min=-90, max=90))
    lon = fields.Float(required=True, validate=validate.Range(min=-180, max=180))


class OrderLine(Payload):
    sku = fields.String(required=True)
    name = fields.String(required=True)
    quantity = _quantity()
    unit_price_cents = _cents()
    division = fields.String(required=True)
    unit = fields.String(required=True, allow_none=True)


class StockLine(Payload):
    sku = fields.String(required=True)
    quantity = _quantity()


class PackLine(Payload):
    sku = fields.String(required=True)
    name = fields.String(required=True)
    quantity = _quantity()


class ShortLine(Payload):
    sku = fields.String(required=True)
    requested = _quantity()
    available = fields.Integer(required=True, strict=True)


class UnitAmount(Payload):
    unit = _unit()
    amount_cents = _cents()


class CompletedLine(Payload):
    sku = fields.String(required=True)
    name = fields.String(required=True)
    unit = _unit()
    quantity = _quantity()
    amount_cents = _cents()


class Invoice(Payload):
    """What the customer wants on the invoice (发票): a personal one in a name, or a company's with its
    unified social credit code."""

    kind = fields.String(required=True, validate=validate.OneOf(["personal", "company"]))
    title = fields.String(required=True, validate=validate.Length(min=1, max=100))
    tax_id = fields.String(
        required=True,
        allow_none=True,
        validate=validate.Regexp(r"^[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}$"),
    )


# --- commands -------------------------------------------------------------------------------------


class PlaceOrder(Payload):
    number = _order()
    member_id = fields.Integer(required=True, strict=True)
    payment_method = fields.String(required=True, validate=validate.OneOf(["balance", "online", "cod"]))
    address = fields.Nested(Address, required=True)
    lines = fields.List(fields.Nested(OrderLine), required=True, validate=validate.Length(min=1))
    #: Optional (none: no invoice asked for), so that commands written before it still validate.
    invoice = fields.Nested(Invoice, required=False, load_default=None, allow_none=True)


class CheckStock(Payload):
    order = _order()
    fulfilment_id = fields.Integer(required=True, strict=True)
    unit = _unit()
    lines = fields.List(fields.Nested(StockLine), required=True, validate=validate.Length(min=1))
    #: Set when this unit is the last one that could serve: a shortage then raises an external purchase notice.
    notify_purchasing = fields.Boolean(required=True)


class ReleaseStock(Payload):
    order = _order()
    fulfilment_id = fields.Integer(required=True, strict=True)
    unit = _unit()
    reason = fields.String(required=True)


class PackParcel(Payload):
    order = _order()
    fulfilment_id = fields.Integer(required=True, strict=True)
    unit = _unit()
    delivery = fields.String(required=True, validate=validate.OneOf(["local", "courier"]))
    lines = fields.List(fields.Nested(PackLine), required=True, validate=validate.Length(min=1))


class TakePayment(Payload):
    order = _order()
    member_id = fields.Integer(required=True, strict=True)
    method = fields.String(required=True, validate=validate.OneOf(["balance", "online", "cod"]))
    total_cents = _cents()
    units = fields.List(fields.Nested(UnitAmount), required=True, validate=validate.Length(min=1))
    #: The order's lines with the unit each is fulfilled at: billing keeps them for the three order copies
    #: and the sales report. Optional (an empty list) so that commands sent before it existed still validate.
    lines = fields.List(fields.Nested(CompletedLine), required=False, load_default=list)
    #: The invoice the customer asked for (optional: none asked, or a command from before it existed).
    invoice = fields.Nested(Invoice, required=False, load_default=None, allow_none=True)


class RefundPayment(Payload):
    order = _order()
    reason = fields.String(required=True)


class ExpirePayment(Payload):
    order = _order()
    reason = fields.String(required=True)


class ArrangeDelivery(Payload):
    order = _order()
    fulfilment_id = fields.Integer(required=True, strict=True)
    unit = _unit()
    delivery = fields.String(required=True, validate=validate.OneOf(["local", "courier"]))
    address = fields.Nested(Address, required=True)
    declared_value_cents = _cents()
    cod_amount_cents = _cents()


class RefundLine(Payload):
    """What an after-sales refund gives back for one product: the pieces that came back (0 when the
    customer keeps them) and the money."""

    sku = fields.String(required=True)
    name = fields.String(required=True)
    quantity = fields.Integer(required=True, strict=True, validate=validate.Range(min=0, max=100_000))
    amount_cents = _cents()


class RefundAfterSale(Payload):
    order = _order()
    #: The after-sales case (orders' id): billing refunds each case once, however often it is asked.
    case = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    unit = _unit()
    amount_cents = _cents()
    lines = fields.List(fields.Nested(RefundLine), required=True, validate=validate.Length(min=1))
    reason = fields.String(required=True)
    #: When the order was delivered: a cash-on-delivery payment not yet final was collected then.
    delivered_at = fields.AwareDateTime(required=True, allow_none=True, format="iso")


class ClaimLoss(Payload):
    """A courier parcel lost or damaged in transit, refunded to the customer: claim it from the courier
    under the insurance its premium paid for."""

    order = _order()
    fulfilment_id = fields.Integer(required=True, strict=True)
    case = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    unit = _unit()
    #: What the customer was refunded: the claim asks for that, at most the parcel's declared value.
    amount_cents = _cents()
    problem = fields.String(required=True, validate=validate.OneOf(["lost", "damaged"]))


class RestockReturn(Payload):
    order = _order()
    case = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    unit = _unit()
    lines = fields.List(fields.Nested(StockLine), required=True, validate=validate.Length(min=1))


class CancelDelivery(Payload):
    order = _order()
    fulfilment_id = fields.Integer(required=True, strict=True)


# --- events ---------------------------------------------------------------------------------------


class StockReserved(Payload):
    order = _order()
    fulfilment_id = fields.Integer(required=True, strict=True)
    unit = _unit()


class StockShort(Payload):
    order = _order()
    fulfilment_id = fields.Integer(required=True, strict=True)
    unit = _unit()
    short = fields.List(fields.Nested(ShortLine), required=True)
    purchase_notice = fields.String(required=True, allow_none=True)


class StockReleased(Payload):
    order = _order()
    fulfilment_id = fields.Integer(required=True, strict=True)
    unit = _unit()


class StockReplenished(Payload):
    unit = _unit()
    sku = fields.String(required=True)
    available = fields.Integer(required=True, strict=True)


class ParcelPacked(Payload):
    order = _order()
    fulfilment_id = fields.Integer(required=True, strict=True)
    unit = _unit()
    slip_no = fields.String(required=True)
    packed_at = fields.AwareDateTime(required=True, format="iso")


class PaymentCaptured(Payload):
    order = _order()
    method = fields.String(required=True)
    amount_cents = _cents()


class PaymentPending(Payload):
    order = _order()
    method = fields.String(required=True, validate=validate.OneOf(["online", "cod"]))


class PaymentFailed(Payload):
    order = _order()
    reason = fields.String(required=True)


class PaymentRefunded(Payload):
    order = _order()
    amount_cents = _cents()


class ShipmentBooked(Payload):
    order = _order()
    fulfilment_id = fields.Integer(required=True, strict=True)
    delivery = fields.String(required=True, validate=validate.OneOf(["local", "courier"]))
    waybill = fields.String(required=True, allow_none=True)
    carrier = fields.String(required=True, allow_none=True)


class ShipmentProgress(Payload):
    """Shared shape of shipped / delivered / failed / tracked: what happened to one parcel, and when."""

    order = _order()
    fulfilment_id = fields.Integer(required=True, strict=True)
    waybill = fields.String(required=True, allow_none=True)
    at = fields.AwareDateTime(required=True, format="iso")
    detail = fields.String(required=True)


class ShipmentCancelled(Payload):
    order = _order()
    fulfilment_id = fields.Integer(required=True, strict=True)


class StockReturned(Payload):
    order = _order()
    case = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    unit = _unit()


class LossClaimed(Payload):
    order = _order()
    case = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    claim = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    #: What the claim asks of the courier (0: the parcel was not insured, so nothing can be claimed).
    claimed_cents = _cents()


class AfterSaleRefunded(Payload):
    order = _order()
    case = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    amount_cents = _cents()


class OrderCompleted(Payload):
    order = _order()
    member_id = fields.Integer(required=True, strict=True)
    completed_at = fields.AwareDateTime(required=True, format="iso")
    #: When the last parcel was signed for: cash on delivery was collected then (null: not known, for
    #: an order delivered before orders kept it; optional, so events already in flight still load).
    delivered_at = fields.AwareDateTime(required=False, load_default=None, allow_none=True, format="iso")
    lines = fields.List(fields.Nested(CompletedLine), required=True)


def _auction() -> fields.Integer:
    return fields.Integer(required=True, strict=True, validate=validate.Range(min=1))


def _member() -> fields.Integer:
    return fields.Integer(required=True, strict=True, validate=validate.Range(min=1))


class AuctionSold(Payload):
    """A person-to-person auction closed above its reserve: the buyer pays the seller its price, from the
    buyer's account balance to the seller's, once per auction however often this is sent."""

    auction = _auction()
    seller_id = _member()
    buyer_id = _member()
    amount_cents = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    sold_at = fields.AwareDateTime(required=True, format="iso")


class AuctionPaid(Payload):
    auction = _auction()
    amount_cents = _cents()
    paid_at = fields.AwareDateTime(required=True, format="iso")


class AuctionPaymentFailed(Payload):
    auction = _auction()
    #: Why the money did not move (`insufficient_balance`).
    reason = fields.String(required=True, validate=validate.Length(min=1, max=200))


@dataclass(frozen=True)
class MessageType:
    type: str
    schema: type[Payload]
    producer: str
    consumers: tuple[str, ...]
    moves: str  # what it moves forward, for the catalogue

    @property
    def is_command(self) -> bool:
        return len(self.consumers) == 1 and self.type.startswith(self.consumers[0] + ".")

    @property
    def validator(self) -> Payload:
        """One shared instance of the payload schema (building a marshmallow schema costs more than using it)."""
        return _validator(self.schema)

    def task_name(self, consumer: str) -> str:
        if self.is_command:
            return self.type
        return f"{consumer}.handle_{self.type.replace('.', '_')}"


@functools.cache
def _validator(schema: type[Payload]) -> Payload:
    return schema()


def _m(type_: str, schema: type[Payload], producer: str, consumers: tuple[str, ...], moves: str) -> MessageType:
    return MessageType(type_, schema, producer, consumers, moves)


CATALOGUE: dict[str, MessageType] = {
    m.type: m
    for m in [
        _m("orders.place_order", PlaceOrder, "gateway", ("orders",), "creates the order and starts the saga"),
        _m("stores.check_stock", CheckStock, "orders", ("stores",), "asks one unit to reserve a fulfilment"),
        _m(
            "stores.release_stock",
            ReleaseStock,
            "orders",
            ("stores",),
            "gives a cancelled fulfilment's stock back",
        ),
        _m("stores.pack_parcel", PackParcel, "orders", ("stores",), "opens a packing task at the unit"),
        _m(
            "billing.take_payment",
            TakePayment,
            "orders",
            ("billing",),
            "charges the order once stock is held",
        ),
        _m("billing.refund_payment", RefundPayment, "orders", ("billing",), "refunds a cancelled paid order"),
        _m(
            "billing.expire_payment",
            ExpirePayment,
            "orders",
            ("billing",),
            "an online payment's time is up: failed if still unpaid, else its state",
        ),
        _m(
            "logistics.arrange_delivery",
            ArrangeDelivery,
            "orders",
            ("logistics",),
            "books the parcel's delivery",
        ),
        _m("logistics.cancel_delivery", CancelDelivery, "orders", ("logistics",), "withdraws a delivery"),
        _m(
            "billing.refund_after_sale",
            RefundAfterSale,
            "orders",
            ("billing",),
            "pays back what an after-sales case agreed, once per case",
        ),
        _m(
            "logistics.claim_loss",
            ClaimLoss,
            "orders",
            ("logistics",),
            "claims a refunded loss in transit from the courier, once per case",
        ),
        _m(
            "stores.restock_return",
            RestockReturn,
            "orders",
            ("stores",),
            "puts returned goods back on the unit's shelf, once per case",
        ),
        _m(
            "stock.reserved",
            StockReserved,
            "stores",
            ("orders",),
            "fulfilment reserved; all reserved: payment",
        ),
        _m("stock.short", StockShort, "stores", ("orders",), "reroute, or wait in awaiting_stock"),
        _m("stock.released", StockReleased, "stores", ("orders",), "a cancelled fulfilment's stock is back"),
        _m(
            "stock.replenished",
            StockReplenished,
            "stores",
            ("orders",),
            "stock-in: orders waiting on it resume",
        ),
        _m("parcel.packed", ParcelPacked, "stores", ("orders",), "slip issued; all packed: ready_to_ship"),
        _m("payment.captured", PaymentCaptured, "billing", ("orders",), "order paid: packing starts"),
        _m(
            "payment.pending",
            PaymentPending,
            "billing",
            ("orders",),
            "waits for the provider or the COD check",
        ),
        _m("payment.failed", PaymentFailed, "billing", ("orders",), "order cancelled, stock released"),
        _m("payment.refunded", PaymentRefunded, "billing", ("orders",), "refund recorded on the order"),
        _m("shipment.booked", ShipmentBooked, "logistics", ("orders",), "waybill or batch known"),
        _m(
            "shipment.shipped",
            ShipmentProgress,
            "logistics",
            ("orders",),
            "parcel handed over: shipping (sent again in answer to a cancel that came too late)",
        ),
        _m("shipment.delivered", ShipmentProgress, "logistics", ("orders",), "parcel signed for: delivered"),
        _m("shipment.failed", ShipmentProgress, "logistics", ("orders",), "delivery problem in the timeline"),
        _m("shipment.tracked", ShipmentProgress, "logistics", ("orders",), "a tracking event in the timeline"),
        _m("shipment.cancelled", ShipmentCancelled, "logistics", ("orders",), "delivery withdrawn"),
        _m(
            "loss.claimed",
            LossClaimed,
            "logistics",
            ("orders",),
            "the loss is claimed from the courier (or not insured)",
        ),
        _m("stock.returned", StockReturned, "stores", ("orders",), "an after-sales return is back in stock"),
        _m(
            "after_sale.refunded",
            AfterSaleRefunded,
            "billing",
            ("orders",),
            "an after-sales case's money is back: the case is refunded",
        ),
        _m("order.completed", OrderCompleted, "orders", ("billing", "catalog"), "sale final; sales counts"),
        _m(
            "auction.sold",
            AuctionSold,
            "catalog",
            ("billing",),
            "an auction sold above its reserve: the buyer's balance pays the seller, once per auction",
        ),
        _m("auction.paid", AuctionPaid, "billing", ("catalog",), "the price moved to the seller: the auction is paid"),
        _m(
            "auction.payment_failed",
            AuctionPaymentFailed,
            "billing",
            ("catalog",),
            "the buyer's balance did not cover the price: the auction is unpaid",
        ),
    ]
}


def message_type(type_: str) -> MessageType:
    try:
        return CATALOGUE[type_]
    except KeyError:
        raise KeyError(f"unknown message type {type_!r}: add it to shared/contracts.py") from None


def queue_for(consumer: str, payload: dict) -> str:
    """Stores work is addressed to one unit's own queue; every other service has one queue."""
    if consumer == "stores":
        return f"stores.{payload['unit']}"
    return consumer


def handled_by(service: str) -> list[MessageType]:
    return [m for m in CATALOGUE.values() if service in m.consumers]
