"""The order saga: each reply moves an order forward, each step lands in its timeline. No Flask, no Celery.

Every handler locks the order row first, so two replies for one order (two units answering at once)
are applied one after the other and exactly one of them sees "all reserved" or "all packed".
Commands that expect a reply set the fulfilment's (or order's) deadline; `sweep_deadlines` re-sends
them when the reply never came (the broker can lose messages), and the other side is idempotent.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, insert, inspect, or_, select
from sqlalchemy.orm import Session, joinedload, selectinload

from shared.config import Settings, is_local
from shared.messaging import PermanentError, UnitOfWork, now
from shared.money import format_cents
from shared.web import ApiError

from . import routing
from .models import Fulfilment, Order, OrderLine, StrayHold, TimelineEvent, Withdrawal

# Where a fulfilment stands; the order's status is derived from its fulfilments and its payment.
RESERVING, RESERVED, AWAITING_STOCK, PACKING, PACKED = "reserving", "reserved", "awaiting_stock", "packing", "packed"
SHIPPING, DELIVERED, RELEASING, CANCELLED = "shipping", "delivered", "releasing", "cancelled"

CANCELLABLE = {"placed", "awaiting_stock", "awaiting_payment", "awaiting_check", "paid", "packing", "ready_to_ship"}
#: After this many unanswered tries the timeline tells customer service (the saga keeps trying).
ALERT_AFTER_ATTEMPTS = 3

AvailabilityLookup = Callable[[list[str]], list[dict[str, Any]]]


def _note(session: Session, order: Order, event: str) -> None:
    session.add(TimelineEvent(order_number=order.number, at=now(), event=event[:300]))
    order.updated_at = now()


#: One statement: the order row locked, its fulfilments and their lines joined in (every saga step
#: reads them; the order's own list of lines loads when asked). Built once, so each step only binds
#: the number.
_LOCK_ORDER = (
    select(Order)
    .where(Order.number == bindparam("number"))
    .options(joinedload(Order.fulfilments).joinedload(Fulfilment.lines))
    .with_for_update(of=Order)
)


def _lock(session: Session, number: str) -> Order:
    order = session.execute(_LOCK_ORDER, {"number": number}).unique().scalar_one_or_none()
    if order is None:
        raise PermanentError(f"no order {number}")
    return order


def _unit_of(order: Order, line: OrderLine) -> str | None:
    """The unit a line was routed to (None when the order was never routed)."""
    return next((f.unit for f in order.fulfilments if f.id == line.fulfilment_id), None)


def _fulfilment(order: Order, fulfilment_id: int) -> Fulfilment:
    for f in order.fulfilments:
        if f.id == fulfilment_id:
            return f
    raise PermanentError(f"order {order.number} has no fulfilment {fulfilment_id}")


def _wait(f: Fulfilment, command: str, settings: Settings) -> None:
    f.waiting_for = command
    f.deadline_at = now() + timedelta(seconds=settings.reply_deadline_seconds)
    f.attempts = 0


def _done_waiting(f: Fulfilment) -> None:
    f.waiting_for = None
    f.deadline_at = None
    f.attempts = 0


# --- commands, built from the saga's own state (so a re-send is the same command) ------------------


def _send_check_stock(
    uow: UnitOfWork, f: Fulfilment, settings: Settings, notify_purchasing: bool | None = None
) -> None:
    if notify_purchasing is None:
        notify_purchasing = not f.candidates and f.purchase_notice is None
    lines = [{"sku": line.sku, "quantity": line.quantity} for line in f.lines]
    uow.send("stores.check_stock", _check_stock_command(f.order_number, f.id, f.unit, lines, notify_purchasing))
    _wait(f, "stores.check_stock", settings)


def _check_stock_command(
    number: str, fulfilment_id: int, unit: str, lines: list[dict[str, Any]], notify_purchasing: bool
) -> dict[str, Any]:
    return {
        "order": number,
        "fulfilment_id": fulfilment_id,
        "unit": unit,
        "lines": [{"sku": line["sku"], "quantity": line["quantity"]} for line in lines],
        "notify_purchasing": notify_purchasing,
    }


def _send_release(uow: UnitOfWork, f: Fulfilment, reason: str, settings: Settings) -> None:
    uow.send("stores.release_stock", {"order": f.order_number, "fulfilment_id": f.id, "unit": f.unit, "reason": reason})
    f.status = RELEASING
    _wait(f, "stores.release_stock", settings)


def _send_stray_release(uow: UnitOfWork, stray: StrayHold, settings: Settings) -> None:
    """Ask a unit the fulfilment moved away from to give back what it reserved late; wait for its answer."""
    uow.send(
        "stores.release_stock",
        {
            "order": stray.order_number,
            "fulfilment_id": stray.fulfilment_id,
            "unit": stray.unit,
            "reason": "rerouted to another unit",
        },
    )
    stray.deadline_at = now() + timedelta(seconds=settings.reply_deadline_seconds * min(2**stray.attempts, 16))


def _withdraw_delivery(uow: UnitOfWork, order: Order, f: Fulfilment, settings: Settings) -> None:
    """Ask logistics to withdraw a fulfilment's delivery, and wait for its answer (see Withdrawal)."""
    withdrawal = uow.session.get(Withdrawal, f.id)
    if withdrawal is None:
        withdrawal = Withdrawal(fulfilment_id=f.id, order_number=order.number, attempts=0)
        uow.session.add(withdrawal)
    _send_withdrawal(uow, withdrawal, settings)


def _send_withdrawal(uow: UnitOfWork, withdrawal: Withdrawal, settings: Settings) -> None:
    uow.send("logistics.cancel_delivery", {"order": withdrawal.order_number, "fulfilment_id": withdrawal.fulfilment_id})
    withdrawal.deadline_at = now() + timedelta(
        seconds=settings.reply_deadline_seconds * min(2**withdrawal.attempts, 16)
    )


def _stop_withdrawing(session: Session, f: Fulfilment) -> None:
    """Logistics withdrew the delivery, or the parcel was handed over: nothing more to ask."""
    withdrawal = session.get(Withdrawal, f.id)
    if withdrawal is not None:
        session.delete(withdrawal)


def _send_pack(uow: UnitOfWork, f: Fulfilment, settings: Settings) -> None:
    uow.send(
        "stores.pack_parcel",
        {
            "order": f.order_number,
            "fulfilment_id": f.id,
            "unit": f.unit,
            "delivery": f.delivery,
            "lines": [{"sku": line.sku, "name": line.name, "quantity": line.quantity} for line in f.lines],
        },
    )
    f.status = PACKING
    # Packing is people's work and takes as long as it takes, but the command and its answer can be
    # lost like any other: the sweep sends it again up to three times (stores answers a packed parcel
    # again, and leaves an open task with the staff), without alerting anyone: a slow packer is not a
    # silent unit. After that the task list shows what is left.
    _wait(f, "stores.pack_parcel", settings)


def _send_take_payment(uow: UnitOfWork, order: Order, settings: Settings) -> None:
    shares: dict[str, int] = defaultdict(int)
    for f in order.fulfilments:
        shares[f.unit] += sum(line.amount_cents for line in f.lines)
    uow.send(
        "billing.take_payment",
        {
            "order": order.number,
            "member_id": order.member_id,
            "method": order.payment_method,
            "total_cents": order.total_cents,
            "units": [{"unit": unit, "amount_cents": amount} for unit, amount in sorted(shares.items())],
        },
    )
    order.payment_deadline_at = now() + timedelta(seconds=settings.reply_deadline_seconds)


def _send_arrange_delivery(uow: UnitOfWork, order: Order, f: Fulfilment, settings: Settings) -> None:
    value = sum(line.amount_cents for line in f.lines)
    uow.send(
        "logistics.arrange_delivery",
        {
            "order": order.number,
            "fulfilment_id": f.id,
            "unit": f.unit,
            "delivery": f.delivery,
            "address": order.address,
            "declared_value_cents": value,
            "cod_amount_cents": value if order.payment_method == "cod" else 0,
        },
    )
    _wait(f, "logistics.arrange_delivery", settings)


# --- the saga's steps --------------------------------------------------------------------------------


#: place_order writes a new order's rows with these (built once): nothing is loaded, nothing to flush.
_ORDER_EXISTS = select(Order.number).where(Order.number == bindparam("number"))
_NEW_ORDER = insert(Order.__table__)
_NEW_FULFILMENT = insert(Fulfilment.__table__).returning(Fulfilment.__table__.c.id)
_NEW_LINES = insert(OrderLine.__table__)
_NEW_NOTES = insert(TimelineEvent.__table__)


def place_order(uow: UnitOfWork, command: dict[str, Any], settings: Settings, availability: AvailabilityLookup) -> None:
    """Create the order, route each line to a unit and ask every unit to reserve its part."""
    session = uow.session
    number = command["number"]
    if session.execute(_ORDER_EXISTS, {"number": number}).first() is not None:
        return  # the gateway sent it twice (a re-send crossed the first): the order exists, nothing to do
    lines = command["lines"]
    address = command["address"]
    at = now()
    order = {
        "number": number,
        "member_id": command["member_id"],
        "status": "placed",
        "payment_method": command["payment_method"],
        "payment_status": "pending",
        "total_cents": sum(line["quantity"] * line["unit_price_cents"] for line in lines),
        "refunded_cents": 0,
        "address": address,
        "cancel_reason": None,
        "payment_deadline_at": None,
        "created_at": at,
        "updated_at": at,
    }
    notes = [f"placed: {len(lines)} line(s), {format_cents(order['total_cents'])} by {order['payment_method']}"]
    local = is_local(address["city"], settings)
    market_skus = sorted({line["sku"] for line in lines if line["division"] == routing.SUPERMARKET})
    try:
        routes = routing.route(lines, availability(market_skus) if market_skus else [], address, local)
    except routing.NoUnitSells as exc:
        order |= {"status": "cancelled", "payment_status": "failed", "cancel_reason": f"no branch sells {exc}"}
        session.execute(_NEW_ORDER, order)
        session.execute(_NEW_LINES, [_line_row(number, line) for line in lines])
        _write_notes(session, number, [*notes, f"cancelled: no branch sells {exc}"], at)
        return
    session.execute(_NEW_ORDER, order)
    delivery = "local" if local else "courier"
    deadline = at + timedelta(seconds=settings.reply_deadline_seconds)
    for r in routes:
        fulfilment = {
            "order_number": number,
            "unit": r.unit,
            "status": RESERVING,
            "delivery": delivery,
            "candidates": r.candidates,
            "slip_no": None,
            "waybill": None,
            "carrier": None,
            "purchase_notice": None,
            # Waiting for the unit's answer from the start (see _send_check_stock).
            "waiting_for": "stores.check_stock",
            "deadline_at": deadline,
            "attempts": 0,
        }
        fulfilment_id = session.execute(_NEW_FULFILMENT, fulfilment).scalar_one()
        session.execute(_NEW_LINES, [_line_row(number, line, fulfilment_id) for line in r.lines])
        uow.send(
            "stores.check_stock",
            _check_stock_command(number, fulfilment_id, r.unit, r.lines, notify_purchasing=not r.candidates),
        )
        notes.append(f"stock check sent to {r.unit} ({delivery} delivery)")
    _write_notes(session, number, notes, at)


def _line_row(number: str, line: dict[str, Any], fulfilment_id: int | None = None) -> dict[str, Any]:
    return {
        "order_number": number,
        "fulfilment_id": fulfilment_id,
        "sku": line["sku"],
        "name": line["name"],
        "quantity": line["quantity"],
        "unit_price_cents": line["unit_price_cents"],
        "division": line["division"],
        "owner_unit": line["unit"],
    }


def _write_notes(session: Session, number: str, events: list[str], at: datetime) -> None:
    session.execute(_NEW_NOTES, [{"order_number": number, "at": at, "event": event[:300]} for event in events])


def stock_reserved(uow: UnitOfWork, event: dict[str, Any], settings: Settings) -> None:
    order = _lock(uow.session, event["order"])
    f = _fulfilment(order, event["fulfilment_id"])
    if f.unit != event["unit"]:
        # A late answer from a unit we already moved away from (it was short, or silent until the sweep
        # rerouted it, and then reserved for a re-sent check): that unit now holds stock no one else
        # will ever free. Give it back there; the fulfilment itself stays with its current unit, and
        # the `stock.released` that follows is ignored by `stock_released` (the unit does not match).
        stray = uow.session.get(StrayHold, (f.id, event["unit"]))
        if stray is None:
            stray = StrayHold(fulfilment_id=f.id, unit=event["unit"], order_number=order.number, attempts=0)
            uow.session.add(stray)
            _note(uow.session, order, f"{event['unit']} reserved after the order moved to {f.unit}: released there")
        _send_stray_release(uow, stray, settings)
        return
    if order.status == "cancelled" or f.status in (RELEASING, CANCELLED):
        _send_release(uow, f, "order cancelled", settings)
        return
    if f.status not in (RESERVING, AWAITING_STOCK):
        return  # already past this step: a repeated answer
    f.status = RESERVED
    _done_waiting(f)
    _note(uow.session, order, f"stock reserved at {f.unit}")
    if all(x.status == RESERVED for x in order.fulfilments):
        if order.status == "awaiting_stock":
            order.status = "placed"
        _send_take_payment(uow, order, settings)
        _note(uow.session, order, f"payment requested ({order.payment_method})")


def stock_short(uow: UnitOfWork, event: dict[str, Any], settings: Settings) -> None:
    order = _lock(uow.session, event["order"])
    f = _fulfilment(order, event["fulfilment_id"])
    if f.unit != event["unit"] or f.status not in (RESERVING, AWAITING_STOCK) or order.status == "cancelled":
        return
    short = ", ".join(f"{s['sku']} {s['available']}/{s['requested']}" for s in event["short"])
    if f.candidates:
        previous, f.unit = f.unit, f.candidates[0]
        f.candidates = f.candidates[1:]
        _note(uow.session, order, f"{previous} is short ({short}); trying {f.unit}")
        _send_check_stock(uow, f, settings)
        return
    f.status = AWAITING_STOCK
    _done_waiting(f)
    if event["purchase_notice"]:
        f.purchase_notice = event["purchase_notice"]
    order.status = "awaiting_stock"
    _note(
        uow.session,
        order,
        f"{f.unit} is short ({short}); external purchase notice {f.purchase_notice or '-'} sent"
        " to purchasing; waiting for stock-in",
    )


def stock_replenished(uow: UnitOfWork, event: dict[str, Any], settings: Settings) -> None:
    """A stock-in at a unit: fulfilments waiting there for that SKU ask again."""
    waiting = uow.session.scalars(
        select(Fulfilment).where(Fulfilment.unit == event["unit"], Fulfilment.status == AWAITING_STOCK)
    ).all()
    for candidate in waiting:
        if not any(line.sku == event["sku"] for line in candidate.lines):
            continue
        order = _lock(uow.session, candidate.order_number)
        f = _fulfilment(order, candidate.id)
        if order.status == "cancelled" or f.status != AWAITING_STOCK:
            continue
        f.status = RESERVING
        _send_check_stock(uow, f, settings, notify_purchasing=False)
        _note(uow.session, order, f"stock-in of {event['sku']} at {f.unit}: asking again")


def stock_released(uow: UnitOfWork, event: dict[str, Any]) -> None:
    order = _lock(uow.session, event["order"])
    f = _fulfilment(order, event["fulfilment_id"])
    stray = uow.session.get(StrayHold, (f.id, event["unit"]))
    if stray is not None:  # the unit the order moved away from gave its late reservation back
        uow.session.delete(stray)
        return
    if f.status == RELEASING and f.unit == event["unit"]:
        f.status = CANCELLED
        _done_waiting(f)
        _note(uow.session, order, f"stock released at {f.unit}")


def payment_captured(uow: UnitOfWork, event: dict[str, Any], settings: Settings) -> None:
    order = _lock(uow.session, event["order"])
    order.payment_deadline_at = None
    if order.status == "cancelled":
        if order.payment_status not in ("refunded", "refunding"):
            order.payment_status = "captured"
            _send_refund(uow, order, "order cancelled", settings)
            _note(uow.session, order, "payment arrived after the cancel: refund requested")
        return
    if order.payment_status == "captured":
        return
    order.payment_status = "captured"
    order.status = "paid"
    _note(uow.session, order, f"payment captured: {format_cents(event['amount_cents'])} ({event['method']})")
    _start_packing(uow, order, settings)


def _start_packing(uow: UnitOfWork, order: Order, settings: Settings) -> None:
    for f in order.fulfilments:
        if f.status == RESERVED:
            _send_pack(uow, f, settings)
            _note(uow.session, order, f"packing task sent to {f.unit}")
    order.status = "packing"


def payment_pending(uow: UnitOfWork, event: dict[str, Any]) -> None:
    order = _lock(uow.session, event["order"])
    order.payment_deadline_at = None
    if order.status != "placed":
        return
    if event["method"] == "cod":
        order.status, order.payment_status = "awaiting_check", "cod"
        _note(uow.session, order, "cash on delivery: waiting for customer service to check the order")
    else:
        order.status, order.payment_status = "awaiting_payment", "pending"
        _note(uow.session, order, "waiting for the online payment")


def payment_failed(uow: UnitOfWork, event: dict[str, Any], settings: Settings) -> None:
    order = _lock(uow.session, event["order"])
    order.payment_deadline_at = None
    if order.status == "cancelled":
        return
    order.payment_status = "failed"
    _cancel(uow, order, f"payment failed: {event['reason']}", settings, refund=False)


def payment_refunded(uow: UnitOfWork, event: dict[str, Any]) -> None:
    order = _lock(uow.session, event["order"])
    order.payment_deadline_at = None
    if order.payment_status == "refunded":
        return
    if event["amount_cents"]:
        order.payment_status = "refunded"
        order.refunded_cents = event["amount_cents"]
        _note(uow.session, order, f"refunded {format_cents(event['amount_cents'])}")
    elif order.payment_status in ("pending", "cod", "refunding"):
        order.payment_status = "failed"


def parcel_packed(uow: UnitOfWork, event: dict[str, Any], settings: Settings) -> None:
    order = _lock(uow.session, event["order"])
    f = _fulfilment(order, event["fulfilment_id"])
    if f.status != PACKING or order.status == "cancelled":
        return
    f.status, f.slip_no = PACKED, event["slip_no"]
    _note(uow.session, order, f"packed at {f.unit}, slip {f.slip_no}")
    _send_arrange_delivery(uow, order, f, settings)
    # Only from packing: when another unit's parcel was already handed over the order is shipping,
    # and the last parcel being packed must not move it back to ready_to_ship.
    if order.status == "packing" and all(x.status in (PACKED, SHIPPING, DELIVERED) for x in order.fulfilments):
        order.status = "ready_to_ship"
        _note(uow.session, order, "ready to ship")


def shipment_booked(uow: UnitOfWork, event: dict[str, Any], settings: Settings) -> None:
    order = _lock(uow.session, event["order"])
    f = _fulfilment(order, event["fulfilment_id"])
    if order.status == "cancelled":
        # The booking overtook the cancel (arrange_delivery retried or redelivered after logistics had
        # already answered our cancel_delivery with "nothing booked"): a pickup now stands for a
        # cancelled order. Withdraw it again; logistics answers shipment.cancelled and stops there.
        _withdraw_delivery(uow, order, f, settings)
        _note(uow.session, order, f"delivery from {f.unit} booked after the cancel: withdrawn again")
        return
    if f.waiting_for == "logistics.arrange_delivery":
        _done_waiting(f)
    if event["waybill"] and f.waybill is None:
        f.waybill, f.carrier = event["waybill"], event["carrier"]
        _note(uow.session, order, f"courier {f.carrier} booked, waybill {f.waybill}")
    elif not event["waybill"] and f.waiting_for is None and f.status == PACKED:
        _note(uow.session, order, f"parcel from {f.unit} joins the next local delivery batch")


def shipment_shipped(uow: UnitOfWork, event: dict[str, Any]) -> None:
    order = _lock(uow.session, event["order"])
    f = _fulfilment(order, event["fulfilment_id"])
    if order.status == "cancelled":
        _handed_over_after_cancel(uow, order, f, "shipped")
        return
    if f.status not in (PACKED,):
        return
    f.status = SHIPPING
    _done_waiting(f)
    _note(uow.session, order, f"shipped from {f.unit}" + _how(event))
    if order.status in ("packing", "ready_to_ship"):
        order.status = "shipping"


def shipment_delivered(uow: UnitOfWork, event: dict[str, Any]) -> None:
    order = _lock(uow.session, event["order"])
    f = _fulfilment(order, event["fulfilment_id"])
    if order.status == "cancelled":
        _handed_over_after_cancel(uow, order, f, "delivered")
        return
    if f.status == DELIVERED:
        return
    f.status = DELIVERED
    _done_waiting(f)
    _note(uow.session, order, f"delivered from {f.unit}" + _how(event))
    if all(x.status == DELIVERED for x in order.fulfilments):
        order.status = "delivered"
    elif order.status in ("packing", "ready_to_ship"):
        order.status = "shipping"


def _handed_over_after_cancel(uow: UnitOfWork, order: Order, f: Fulfilment, what: str) -> None:
    # The cancel and the courier crossed: the parcel was handed over before logistics heard of the
    # cancel (orders had not heard of the hand-over either, so it accepted the cancel). The goods are
    # gone while the stock was released and the refund sent; nothing here can undo that, but it must
    # not pass silently as it used to: the timeline tells customer service, once per parcel and step.
    _stop_withdrawing(uow.session, f)
    event = f"parcel from {f.unit} {what} after the cancel: customer service alerted to recover it"
    if not any(e.event == event for e in order.timeline):
        _note(uow.session, order, event)


def _how(event: dict[str, Any]) -> str:
    # A partner's event reaches the timeline once, as its own tracking entry; the status line only
    # names the waybill. Staff hand-overs have no tracking entry, so their detail goes here.
    return f" (waybill {event['waybill']})" if event["waybill"] else f": {event['detail']}"


def shipment_cancelled(uow: UnitOfWork, event: dict[str, Any]) -> None:
    """Logistics withdrew a delivery the saga asked it to: noted, and no longer asked."""
    order = _lock(uow.session, event["order"])
    _stop_withdrawing(uow.session, _fulfilment(order, event["fulfilment_id"]))
    _note(uow.session, order, "delivery withdrawn")


def shipment_noted(uow: UnitOfWork, event: dict[str, Any], what: str) -> None:
    """Tracking events, delivery problems and withdrawn deliveries go to the timeline only."""
    order = _lock(uow.session, event["order"])
    detail = event.get("detail") or ""
    _note(uow.session, order, f"{what}: {detail}".rstrip(": "))


# --- people's actions (through the gateway) ----------------------------------------------------------


def cancel(uow: UnitOfWork, number: str, reason: str, settings: Settings) -> Order:
    """The customer (or customer service) cancels before hand-over: release, withdraw, refund."""
    order = _lock(uow.session, number)
    if order.status == "cancelled":
        return order
    if order.status not in CANCELLABLE or any(f.status in (SHIPPING, DELIVERED) for f in order.fulfilments):
        raise ApiError(409, "not_cancellable", f"Order {number} is {order.status} and can no longer be cancelled.")
    _cancel(uow, order, reason, settings, refund=True)
    return order


def _cancel(uow: UnitOfWork, order: Order, reason: str, settings: Settings, *, refund: bool) -> None:
    order.status = "cancelled"
    order.cancel_reason = reason
    _note(uow.session, order, f"cancelled: {reason}")
    for f in order.fulfilments:
        if f.status == PACKED:
            _withdraw_delivery(uow, order, f, settings)
        if f.status in (RESERVING, RESERVED, AWAITING_STOCK, PACKING, PACKED):
            _send_release(uow, f, reason, settings)
    if refund and order.payment_status == "captured":
        _send_refund(uow, order, reason, settings)
        _note(uow.session, order, "refund requested")
    elif refund and order.payment_status in ("pending", "cod"):
        uow.send("billing.refund_payment", {"order": order.number, "reason": reason})


def _send_refund(uow: UnitOfWork, order: Order, reason: str, settings: Settings) -> None:
    """Ask billing to refund a captured payment, and keep a deadline: a lost refund is sent again."""
    if order.payment_status == "captured":
        order.payment_status = "refunding"
    uow.send("billing.refund_payment", {"order": order.number, "reason": reason})
    order.payment_deadline_at = now() + timedelta(seconds=settings.reply_deadline_seconds)


def confirm_receipt(uow: UnitOfWork, number: str) -> Order:
    order = _lock(uow.session, number)
    if order.status == "completed":
        return order
    if order.status != "delivered":
        raise ApiError(409, "not_delivered", f"Order {number} is {order.status}, not delivered yet.")
    order.status = "completed"
    completed_at = now()
    _note(uow.session, order, "customer confirmed receipt: completed")
    uow.send(
        "order.completed",
        {
            "order": order.number,
            "member_id": order.member_id,
            "completed_at": completed_at.isoformat(),
            "lines": [
                {
                    "sku": line.sku,
                    "name": line.name,
                    "unit": _unit_of(order, line) or "-",
                    "quantity": line.quantity,
                    "amount_cents": line.amount_cents,
                }
                for line in order.lines
            ],
        },
    )
    return order


def check_cash_on_delivery(uow: UnitOfWork, number: str, settings: Settings) -> Order:
    """Customer service confirmed a cash-on-delivery order (核单): packing starts."""
    order = _lock(uow.session, number)
    if order.status != "awaiting_check":
        if order.payment_method == "cod" and order.status in ("packing", "ready_to_ship", "shipping"):
            return order
        raise ApiError(409, "not_awaiting_check", f"Order {number} is {order.status}, not awaiting a check.")
    _note(uow.session, order, "cash-on-delivery order checked by customer service")
    _start_packing(uow, order, settings)
    return order


# --- deadlines ---------------------------------------------------------------------------------------


def sweep_deadlines(uow: UnitOfWork, settings: Settings, at: datetime | None = None, limit: int = 200) -> int:
    """Re-send every command whose reply is overdue; tell customer service when a unit keeps silent."""
    at = at or now()
    session = uow.session
    resent = 0
    overdue = session.scalars(
        select(Fulfilment).where(Fulfilment.deadline_at.is_not(None), Fulfilment.deadline_at < at).limit(limit)
    ).all()
    for candidate in overdue:
        order = _lock(session, candidate.order_number)
        f = _fulfilment(order, candidate.id)
        if f.deadline_at is None or f.deadline_at >= at:
            continue
        attempts = f.attempts + 1
        if f.waiting_for == "stores.check_stock":
            if attempts >= ALERT_AFTER_ATTEMPTS and f.candidates:
                previous, f.unit = f.unit, f.candidates[0]
                f.candidates = f.candidates[1:]
                _note(session, order, f"{previous} did not answer; trying {f.unit}")
                _send_check_stock(uow, f, settings)
                attempts = 0
            else:
                _send_check_stock(uow, f, settings)
        elif f.waiting_for == "stores.release_stock":
            _send_release(uow, f, order.cancel_reason or "order cancelled", settings)
        elif f.waiting_for == "logistics.arrange_delivery":
            _send_arrange_delivery(uow, order, f, settings)
        elif f.waiting_for == "stores.pack_parcel" and f.status == PACKING and attempts <= ALERT_AFTER_ATTEMPTS:
            _send_pack(uow, f, settings)
        else:  # nothing to wait for (or, for packing, three tries made: the rest is the staff's work)
            _done_waiting(f)
            continue
        f.attempts = attempts
        # Back off: wait longer after each unanswered try.
        f.deadline_at = at + timedelta(seconds=settings.reply_deadline_seconds * min(2**attempts, 16))
        if attempts == ALERT_AFTER_ATTEMPTS and f.waiting_for != "stores.pack_parcel":
            _note(session, order, f"{f.unit} has not answered {attempts} times: customer service alerted")
        resent += 1
    resent += _sweep_requests(
        uow, StrayHold, _send_stray_release, "has not given back its late reservation", settings, at, limit
    )
    resent += _sweep_requests(
        uow, Withdrawal, _send_withdrawal, "has not confirmed the withdrawal", settings, at, limit
    )
    payments = session.scalars(
        select(Order).where(Order.payment_deadline_at.is_not(None), Order.payment_deadline_at < at).limit(limit)
    ).all()
    for candidate in payments:
        order = _lock(session, candidate.number)
        if order.payment_status == "refunding":  # billing never confirmed the refund: ask again (idempotent)
            _send_refund(uow, order, order.cancel_reason or "order cancelled", settings)
            resent += 1
            continue
        if order.status == "cancelled" or order.payment_status != "pending":
            order.payment_deadline_at = None
            continue
        _send_take_payment(uow, order, settings)
        resent += 1
    return resent


def _sweep_requests(uow: UnitOfWork, model, resend, silence: str, settings: Settings, at: datetime, limit: int) -> int:
    """Send again the side requests (StrayHold, Withdrawal) whose answer is overdue, with backoff."""
    session = uow.session
    resent = 0
    key = [*inspect(model).primary_key]
    overdue = session.execute(select(*key, model.order_number).where(model.deadline_at < at).limit(limit)).all()
    for *ids, number in overdue:
        order = _lock(session, number)
        # Read again under the order's lock: the answer may have come meanwhile.
        request = session.get(model, tuple(ids), populate_existing=True)
        if request is None or request.deadline_at >= at:
            continue
        request.attempts += 1
        resend(uow, request, settings)
        if request.attempts == ALERT_AFTER_ATTEMPTS:
            who = getattr(request, "unit", "logistics")
            _note(session, order, f"{who} {silence} after {request.attempts} tries: customer service alerted")
        resent += 1
    return resent


# --- reading -----------------------------------------------------------------------------------------


def find(session: Session, number: str) -> Order | None:
    return session.scalar(
        select(Order)
        .where(Order.number == number)
        .options(
            selectinload(Order.fulfilments).selectinload(Fulfilment.lines),
            selectinload(Order.lines),
            selectinload(Order.timeline),
        )
    )


def list_for_member(session: Session, member_id: int | None, limit: int = 100) -> list[Order]:
    query = (
        select(Order)
        .options(
            selectinload(Order.fulfilments).selectinload(Fulfilment.lines),
            selectinload(Order.lines),
            selectinload(Order.timeline),
        )
        .order_by(Order.created_at.desc())
        .limit(limit)
    )
    if member_id is not None:
        query = query.where(Order.member_id == member_id)
    return list(session.scalars(query).all())


def waiting_on(session: Session, statuses: list[str]) -> list[Order]:
    return list(session.scalars(select(Order).where(or_(*(Order.status == s for s in statuses)))).all())


def view(order: Order) -> dict[str, Any]:
    """The order as API.md shows it (plus member_id, which the gateway strips)."""
    return {
        "number": order.number,
        "member_id": order.member_id,
        "status": order.status,
        "total": format_cents(order.total_cents),
        "items": [
            {
                "sku": line.sku,
                "name": line.name,
                "quantity": line.quantity,
                "price": format_cents(line.unit_price_cents),
                "amount": format_cents(line.amount_cents),
                "unit": _unit_of(order, line) or line.owner_unit,
            }
            for line in order.lines
        ],
        "address": order.address,
        "payment": {
            "method": order.payment_method,
            "status": _payment_status(order),
            "refunded": format_cents(order.refunded_cents),
        },
        "fulfilments": [
            {
                "id": f.id,
                "unit": f.unit,
                "status": f.status,
                "slip_no": f.slip_no,
                "delivery": f.delivery,
                "waybill": f.waybill,
                "carrier": f.carrier,
                "items": [{"sku": line.sku, "quantity": line.quantity} for line in f.lines],
            }
            for f in order.fulfilments
        ],
        "cancel_reason": order.cancel_reason,
        "created_at": order.created_at.isoformat(),
        "timeline": [{"at": e.at.isoformat(), "event": e.event} for e in order.timeline],
    }


def _payment_status(order: Order) -> str:
    # "refunding" is the saga's own in-between state; the API's payment statuses stop at captured.
    return "captured" if order.payment_status == "refunding" else order.payment_status
