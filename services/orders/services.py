"""The order saga: each reply moves an order forward, each step lands in its timeline. No Flask, no Celery.

Every handler locks the order row first, so two replies for one order (two units answering at once)
are applied one after the other and exactly one of them sees "all reserved" or "all packed".
Commands that expect a reply set the fulfilment's (or order's) deadline; `sweep_deadlines` re-sends
them when the reply never came (the broker can lose messages), and the other side is idempotent.

The saga reads and writes its rows with Core statements built once, not through the ORM: `_lock` locks
the order's row, then reads its lines and fulfilments, into plain objects (one per order and unit
of work), and `_write_changes` runs as the transaction's last step (`uow.before_commit`): one UPDATE
of the changed columns per changed row, one INSERT of the new timeline notes. The ORM's load and
flush were about 40% of the orders worker's CPU per message; in-process on PostgreSQL, stock.reserved,
payment.captured and parcel.packed each went from 3.3 to 2.4-2.5 ms of CPU, shipment.booked from 2.1 to
1.5. The models stay the schema and the read side (`find`, `view`, the API); the rare side tables
(StrayHold, Withdrawal) stay on the ORM, whose flush of an otherwise empty session costs little.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Integer, and_, bindparam, exists, insert, inspect, or_, select, update
from sqlalchemy.orm import Session, selectinload

from shared.config import Settings, is_local
from shared.db import direct
from shared.messaging import PermanentError, UnitOfWork, now
from shared.money import format_cents
from shared.web import ApiError

from . import routing
from .models import Fulfilment, Order, OrderLine, StrayHold, TimelineEvent, Withdrawal

# Where a fulfilment stands; the order's status is derived from its fulfilments and its payment.
RESERVING, RESERVED, AWAITING_STOCK, PACKING, PACKED = "reserving", "reserved", "awaiting_stock", "packing", "packed"
SHIPPING, DELIVERED, RELEASING, CANCELLED = "shipping", "delivered", "releasing", "cancelled"
#: A parcel refunded to the customer as lost in transit (after-sales); the courier's insurance answers for it.
LOST = "lost"
#: Parcels done with: signed for, or lost and refunded. An order whose parcels are all settled, one of them
#: delivered, is delivered.
SETTLED = (DELIVERED, LOST)

CANCELLABLE = {"placed", "awaiting_stock", "awaiting_payment", "awaiting_check", "paid", "packing", "ready_to_ship"}
#: After this many unanswered tries the timeline tells customer service (the saga keeps trying).
ALERT_AFTER_ATTEMPTS = 3

AvailabilityLookup = Callable[[list[str]], list[dict[str, Any]]]


class _Record:
    """A row read with Core: its columns are plain attributes, and it can tell which ones a step changed."""

    __slots__ = ("_read",)
    _columns: tuple[str, ...] = ()

    def __init__(self, values: Sequence[Any]) -> None:
        self._read = tuple(values)
        for name, value in zip(self._columns, self._read, strict=True):
            setattr(self, name, value)

    def _changes(self) -> dict[str, Any]:
        """The columns whose value differs from the row read (set back to the same value: unchanged, as in the ORM)."""
        return {
            name: value
            for name, old in zip(self._columns, self._read, strict=True)
            if (value := getattr(self, name)) != old
        }


_orders, _fulfilments, _lines, _timeline = (
    Order.__table__,
    Fulfilment.__table__,
    OrderLine.__table__,
    TimelineEvent.__table__,
)
_ORDER_COLUMNS = tuple(c.name for c in _orders.c)
_FULFILMENT_COLUMNS = tuple(c.name for c in _fulfilments.c)
#: The saga never changes a line; it reads these.
_LINE_COLUMNS = ("id", "fulfilment_id", "sku", "name", "quantity", "unit_price_cents")


class _Line:
    __slots__ = _LINE_COLUMNS

    def __init__(self, values: Sequence[Any]) -> None:
        for name, value in zip(_LINE_COLUMNS, values, strict=True):
            setattr(self, name, value)

    @property
    def amount_cents(self) -> int:
        return self.quantity * self.unit_price_cents


class _LockedFulfilment(_Record):
    __slots__ = (*_FULFILMENT_COLUMNS, "lines")
    _columns = _FULFILMENT_COLUMNS

    def __init__(self, values: Sequence[Any]) -> None:
        super().__init__(values)
        self.lines: list[_Line] = []


class _LockedOrder(_Record):
    """The order a saga step holds the lock of: its fulfilments with their lines, all its lines, and the
    timeline notes the step adds (written with its changes when the unit of work commits)."""

    __slots__ = (*_ORDER_COLUMNS, "fulfilments", "lines", "notes")
    _columns = _ORDER_COLUMNS

    def __init__(self, values: Sequence[Any]) -> None:
        super().__init__(values)
        self.fulfilments: list[_LockedFulfilment] = []
        self.lines: list[_Line] = []
        self.notes: list[tuple[datetime, str]] = []


def _note(order: _LockedOrder, event: str) -> None:
    at = now()
    order.notes.append((at, event[:300]))
    order.updated_at = at


#: Two statements, built once. First the order's row, locked: a step that wants an order another step
#: holds waits here until that one commits.
_LOCK_ORDER = direct(select(*_orders.c).where(_orders.c.number == bindparam("number")).with_for_update())
#: Then every line of the order with its line's fulfilment (every fulfilment has lines: place_order
#: routes each line to one; lines without one belong to an order cancelled at placement). It must be a
#: statement of its own: on PostgreSQL a statement sees the database as it was when it started, except
#: for the rows it locks, so one locking SELECT that also joined these would return, after waiting for
#: the lock, the order's new row with its fulfilments as they were before the other step committed.
#: Two replies of one order on two threads then each saw the other's fulfilment unreserved, and the
#: order never asked for payment (the fault suite found it).
_ORDER_PARTS = direct(
    select(*_fulfilments.c, *(_lines.c[name] for name in _LINE_COLUMNS))
    .select_from(_lines.outerjoin(_fulfilments, _fulfilments.c.id == _lines.c.fulfilment_id))
    .where(_lines.c.order_number == bindparam("number"))
    .order_by(_lines.c.id)
)
_L_AT = len(_FULFILMENT_COLUMNS)

#: The kept-back writes: SET takes the columns given, so each set of changed columns compiles once.
_UPDATE_ORDER = direct(update(_orders).where(_orders.c.number == bindparam("key_number")))
_UPDATE_FULFILMENT = direct(update(_fulfilments).where(_fulfilments.c.id == bindparam("key_id")))


def _lock(uow: UnitOfWork, number: str) -> _LockedOrder:
    """The order, locked for this transaction; the same object each time it is asked for in one unit of work."""
    locked = _locked_orders(uow)
    order = locked.get(number)
    if order is not None:  # loaded before in this transaction: its changes are not written yet
        return order
    row = uow.session.execute(_LOCK_ORDER, {"number": number}).first()
    if row is None:
        raise PermanentError(f"no order {number}")
    order = _LockedOrder(row)
    fulfilments: dict[int, _LockedFulfilment] = {}
    for row in uow.session.execute(_ORDER_PARTS, {"number": number}):
        line = _Line(row[_L_AT:])
        order.lines.append(line)
        if line.fulfilment_id is not None:
            f = fulfilments.get(line.fulfilment_id)
            if f is None:
                f = fulfilments[line.fulfilment_id] = _LockedFulfilment(row[:_L_AT])
            f.lines.append(line)
    order.fulfilments = sorted(fulfilments.values(), key=lambda f: f.id)
    locked[number] = order
    return order


def _locked_orders(uow: UnitOfWork) -> dict[str, _LockedOrder]:
    """This unit of work's identity map; on first use it registers the write of all of them before commit."""
    locked = uow.loaded.get(_LockedOrder)
    if locked is None:
        locked = uow.loaded[_LockedOrder] = {}
        uow.before_commit.append(functools.partial(_write_changes, uow.session, locked))
    return locked


def _write_changes(session: Session, locked: dict[str, _LockedOrder]) -> None:
    """One UPDATE per changed row (its changed columns only), then every new timeline note in one INSERT."""
    notes = []
    for order in locked.values():
        if changes := order._changes():
            session.execute(_UPDATE_ORDER, {"key_number": order.number, **changes})
        for f in order.fulfilments:
            if changes := f._changes():
                session.execute(_UPDATE_FULFILMENT, {"key_id": f.id, **changes})
        notes += [{"order_number": order.number, "at": at, "event": event} for at, event in order.notes]
    if notes:
        session.execute(_NEW_NOTES, notes)


def _unit_of(order: Order | _LockedOrder, line: OrderLine | _Line) -> str | None:
    """The unit a line was routed to (None when the order was never routed)."""
    return next((f.unit for f in order.fulfilments if f.id == line.fulfilment_id), None)


def _fulfilment(order: _LockedOrder, fulfilment_id: int) -> _LockedFulfilment:
    for f in order.fulfilments:
        if f.id == fulfilment_id:
            return f
    raise PermanentError(f"order {order.number} has no fulfilment {fulfilment_id}")


def _wait(f: _LockedFulfilment, command: str, settings: Settings) -> None:
    f.waiting_for = command
    f.deadline_at = now() + timedelta(seconds=settings.reply_deadline_seconds)
    f.attempts = 0


def _done_waiting(f: _LockedFulfilment) -> None:
    f.waiting_for = None
    f.deadline_at = None
    f.attempts = 0


# --- commands, built from the saga's own state (so a re-send is the same command) ------------------


def _send_check_stock(
    uow: UnitOfWork, f: _LockedFulfilment, settings: Settings, notify_purchasing: bool | None = None
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


def _send_release(uow: UnitOfWork, f: _LockedFulfilment, reason: str, settings: Settings) -> None:
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


def _withdraw_delivery(uow: UnitOfWork, order: _LockedOrder, f: _LockedFulfilment, settings: Settings) -> None:
    """Ask logistics to withdraw a fulfilment's delivery, and wait for its answer (see Withdrawal)."""
    if f.waiting_for == "logistics.arrange_delivery":
        _done_waiting(f)  # the Withdrawal's own deadline takes over: booking it is no longer wanted
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


def _stop_withdrawing(session: Session, f: _LockedFulfilment) -> None:
    """Logistics withdrew the delivery, or the parcel was handed over: nothing more to ask."""
    withdrawal = session.get(Withdrawal, f.id)
    if withdrawal is not None:
        session.delete(withdrawal)


def _send_pack(uow: UnitOfWork, f: _LockedFulfilment, settings: Settings) -> None:
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


def _lines_with_units(order: _LockedOrder) -> list[dict[str, Any]]:
    """The order's lines with the unit each is fulfilled at (`CompletedLine`): billing's copy of the order."""
    return [
        {
            "sku": line.sku,
            "name": line.name,
            "unit": _unit_of(order, line) or "-",
            "quantity": line.quantity,
            "amount_cents": line.amount_cents,
        }
        for line in order.lines
    ]


def _send_take_payment(uow: UnitOfWork, order: _LockedOrder, settings: Settings) -> None:
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
            "lines": _lines_with_units(order),
        }
        | ({"invoice": order.invoice} if order.invoice else {}),
    )
    order.payment_deadline_at = now() + timedelta(seconds=settings.reply_deadline_seconds)


def _send_arrange_delivery(uow: UnitOfWork, order: _LockedOrder, f: _LockedFulfilment, settings: Settings) -> None:
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
_ORDER_EXISTS = direct(select(_orders.c.number).where(_orders.c.number == bindparam("number")))
_NEW_ORDER = direct(insert(_orders))
_NEW_FULFILMENT = direct(insert(_fulfilments).returning(_fulfilments.c.id))
_NEW_LINES = direct(insert(_lines))
_NEW_NOTES = direct(insert(_timeline))


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
        "invoice": command.get("invoice"),
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
    order = _lock(uow, event["order"])
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
            _note(order, f"{event['unit']} reserved after the order moved to {f.unit}: released there")
        _send_stray_release(uow, stray, settings)
        return
    if f.status in (PACKED, SHIPPING, DELIVERED):
        return  # a late copy: the stock was issued; a cancelled order's parcel waits for logistics or is gone
    if order.status == "cancelled" or f.status in (RELEASING, CANCELLED):
        _send_release(uow, f, "order cancelled", settings)
        return
    if f.status not in (RESERVING, AWAITING_STOCK):
        return  # already past this step: a repeated answer
    f.status = RESERVED
    _done_waiting(f)
    _note(order, f"stock reserved at {f.unit}")
    if all(x.status == RESERVED for x in order.fulfilments):
        if order.status == "awaiting_stock":
            order.status = "placed"
        _send_take_payment(uow, order, settings)
        _note(order, f"payment requested ({order.payment_method})")


def stock_short(uow: UnitOfWork, event: dict[str, Any], settings: Settings) -> None:
    order = _lock(uow, event["order"])
    f = _fulfilment(order, event["fulfilment_id"])
    if f.unit != event["unit"] or f.status not in (RESERVING, AWAITING_STOCK) or order.status == "cancelled":
        return
    short = ", ".join(f"{s['sku']} {s['available']}/{s['requested']}" for s in event["short"])
    if f.candidates:
        previous, f.unit = f.unit, f.candidates[0]
        f.candidates = f.candidates[1:]
        _note(order, f"{previous} is short ({short}); trying {f.unit}")
        _send_check_stock(uow, f, settings)
        return
    f.status = AWAITING_STOCK
    _done_waiting(f)
    if event["purchase_notice"]:
        f.purchase_notice = event["purchase_notice"]
    order.status = "awaiting_stock"
    _note(
        order,
        f"{f.unit} is short ({short}); external purchase notice {f.purchase_notice or '-'} sent"
        " to purchasing; waiting for stock-in",
    )


#: Fulfilments waiting at a unit for stock of a SKU (their ids and orders; each is read again under its lock).
_WAITING_FOR_SKU = direct(
    select(_fulfilments.c.id, _fulfilments.c.order_number).where(
        _fulfilments.c.unit == bindparam("unit"),
        _fulfilments.c.status == AWAITING_STOCK,
        exists().where(_lines.c.fulfilment_id == _fulfilments.c.id, _lines.c.sku == bindparam("sku")),
    )
)


def stock_replenished(uow: UnitOfWork, event: dict[str, Any], settings: Settings) -> None:
    """A stock-in at a unit: fulfilments waiting there for that SKU ask again."""
    waiting = uow.session.execute(_WAITING_FOR_SKU, {"unit": event["unit"], "sku": event["sku"]}).all()
    for fulfilment_id, number in waiting:
        order = _lock(uow, number)
        f = _fulfilment(order, fulfilment_id)
        if order.status == "cancelled" or f.status != AWAITING_STOCK:
            continue
        f.status = RESERVING
        _send_check_stock(uow, f, settings, notify_purchasing=False)
        _note(order, f"stock-in of {event['sku']} at {f.unit}: asking again")


def stock_released(uow: UnitOfWork, event: dict[str, Any]) -> None:
    order = _lock(uow, event["order"])
    f = _fulfilment(order, event["fulfilment_id"])
    stray = uow.session.get(StrayHold, (f.id, event["unit"]))
    if stray is not None:  # the unit the order moved away from gave its late reservation back
        uow.session.delete(stray)
        return
    if f.status == RELEASING and f.unit == event["unit"]:
        f.status = CANCELLED
        _done_waiting(f)
        _note(order, f"stock released at {f.unit}")


def payment_captured(uow: UnitOfWork, event: dict[str, Any], settings: Settings) -> None:
    order = _lock(uow, event["order"])
    if order.status == "cancelled":
        if order.payment_status not in ("captured", "refunded", "refunding"):
            order.payment_deadline_at = None  # the void's: billing has the money, a refund is asked for instead
            order.payment_status = "captured"
            _note(order, "payment arrived after the cancel")
        # Refunded as a cancel refunds: at once, or once logistics has withdrawn a packed parcel. (A late
        # copy while the refund is in flight leaves that refund's deadline alone.)
        _refund_when_parcels_are_settled(uow, order, settings)
        return
    order.payment_deadline_at = None
    if order.payment_status in ("captured", "refunded"):
        # A repeat, or a stale copy (a replayed dead letter) for an order whose money after-sales has given
        # back: never a second start of packing for an order long delivered.
        return
    order.payment_status = "captured"
    order.status = "paid"
    _note(order, f"payment captured: {format_cents(event['amount_cents'])} ({event['method']})")
    _start_packing(uow, order, settings)


def _start_packing(uow: UnitOfWork, order: _LockedOrder, settings: Settings) -> None:
    for f in order.fulfilments:
        if f.status == RESERVED:
            _send_pack(uow, f, settings)
            _note(order, f"packing task sent to {f.unit}")
    order.status = "packing"


def payment_pending(uow: UnitOfWork, event: dict[str, Any], settings: Settings) -> None:
    order = _lock(uow, event["order"])
    if order.status == "cancelled":
        return  # a late answer to take_payment: the deadline now is the void's (`_send_void`)
    if order.status != "placed":
        return  # a repeat: an online order's deadline is now the payment's own (below)
    if event["method"] == "cod":
        order.payment_deadline_at = None  # customer service checks it, however long that takes
        order.status, order.payment_status = "awaiting_check", "cod"
        _note(order, "cash on delivery: waiting for customer service to check the order")
    else:
        # Unpaid online orders hold stock: the sweep cancels this one if it is not paid in time.
        order.payment_deadline_at = now() + timedelta(minutes=settings.payment_timeout_minutes)
        order.status, order.payment_status = "awaiting_payment", "pending"
        _note(order, f"waiting for the online payment (for {settings.payment_timeout_minutes} minutes)")


def payment_failed(uow: UnitOfWork, event: dict[str, Any], settings: Settings) -> None:
    order = _lock(uow, event["order"])
    if order.payment_status in ("captured", "refunding", "refunded"):
        # Billing never fails a captured payment: this is a stale answer (expire_payment's, crossed by the
        # provider's notification; or take_payment's), and acting on it would cancel a paid order.
        return
    if order.status == "cancelled":
        if order.payment_status == "pending":  # billing has failed it: the void sent at the cancel is moot
            order.payment_status, order.payment_deadline_at = "failed", None
        return  # otherwise a late answer: a refund or void still waiting keeps its deadline
    order.payment_deadline_at = None
    order.payment_status = "failed"
    _cancel(uow, order, f"payment failed: {event['reason']}", settings, refund=False)


def payment_refunded(uow: UnitOfWork, event: dict[str, Any]) -> None:
    order = _lock(uow, event["order"])
    if order.payment_status == "refunded":
        order.payment_deadline_at = None
        return
    if event["amount_cents"]:
        order.payment_deadline_at = None
        order.payment_status = "refunded"
        order.refunded_cents = event["amount_cents"]
        _note(order, f"refunded {format_cents(event['amount_cents'])}")
    elif order.payment_status in ("pending", "cod"):  # the void's answer: nothing was, or will be, taken
        order.payment_deadline_at = None
        order.payment_status = "failed"
    # A refund of nothing while money is captured or being refunded answers an earlier void (the money
    # came after it): the refund's own answer is still to come, and its deadline stays.


def parcel_packed(uow: UnitOfWork, event: dict[str, Any], settings: Settings) -> None:
    order = _lock(uow, event["order"])
    f = _fulfilment(order, event["fulfilment_id"])
    if f.status != PACKING or order.status == "cancelled":
        return
    f.status, f.slip_no = PACKED, event["slip_no"]
    _note(order, f"packed at {f.unit}, slip {f.slip_no}")
    _send_arrange_delivery(uow, order, f, settings)
    # Only from packing: when another unit's parcel was already handed over the order is shipping,
    # and the last parcel being packed must not move it back to ready_to_ship.
    if order.status == "packing" and all(x.status in (PACKED, SHIPPING, DELIVERED) for x in order.fulfilments):
        order.status = "ready_to_ship"
        _note(order, "ready to ship")


def shipment_booked(uow: UnitOfWork, event: dict[str, Any], settings: Settings) -> None:
    order = _lock(uow, event["order"])
    f = _fulfilment(order, event["fulfilment_id"])
    if order.status == "cancelled":
        if f.status in (SHIPPING, DELIVERED):
            return  # a late copy: the parcel was handed over (`_handed_over_after_cancel`)
        # The booking overtook the cancel (arrange_delivery retried or redelivered after logistics had
        # already answered our cancel_delivery with "nothing booked"): a pickup now stands for a
        # cancelled order. Withdraw it again; logistics answers shipment.cancelled and stops there.
        _withdraw_delivery(uow, order, f, settings)
        _note(order, f"delivery from {f.unit} booked after the cancel: withdrawn again")
        return
    if f.waiting_for == "logistics.arrange_delivery":
        _done_waiting(f)
    if event["waybill"] and f.waybill is None:
        f.waybill, f.carrier = event["waybill"], event["carrier"]
        _note(order, f"courier {f.carrier} booked, waybill {f.waybill}")
    elif not event["waybill"] and f.waiting_for is None and f.status == PACKED:
        _note(order, f"parcel from {f.unit} joins the next local delivery batch")


def shipment_shipped(uow: UnitOfWork, event: dict[str, Any]) -> None:
    order = _lock(uow, event["order"])
    f = _fulfilment(order, event["fulfilment_id"])
    if order.status == "cancelled":
        _handed_over_after_cancel(uow, order, f, "shipped")
        return
    if f.status not in (PACKED,):
        return
    f.status = SHIPPING
    _done_waiting(f)
    _note(order, f"shipped from {f.unit}" + _how(event))
    if order.status in ("packing", "ready_to_ship"):
        order.status = "shipping"


def shipment_delivered(uow: UnitOfWork, event: dict[str, Any]) -> None:
    order = _lock(uow, event["order"])
    f = _fulfilment(order, event["fulfilment_id"])
    if order.status == "cancelled":
        _handed_over_after_cancel(uow, order, f, "delivered")
        return
    if f.status == DELIVERED:
        return
    if f.status == LOST:  # it turned up after all, after its refund: the order has moved on without it
        f.status = DELIVERED
        _note_once(
            uow, order, f"parcel from {f.unit} reported lost was delivered after its refund: customer service alerted"
        )
        return
    f.status = DELIVERED
    _done_waiting(f)
    _note(order, f"delivered from {f.unit}" + _how(event))
    # The latest signing so far, whatever order the reports come in: once every parcel is signed for, when
    # the order was delivered (cash on delivery collected).
    order.delivered_at = max(event["at"], order.delivered_at or event["at"])
    if all(x.status in SETTLED for x in order.fulfilments):  # (one, at least, delivered: this one)
        order.status = "delivered"
    elif order.status in ("packing", "ready_to_ship"):
        order.status = "shipping"


_NOTED = direct(
    select(_timeline.c.id)
    .where(_timeline.c.order_number == bindparam("number"), _timeline.c.event == bindparam("event"))
    .limit(1)
)


def _handed_over_after_cancel(uow: UnitOfWork, order: _LockedOrder, f: _LockedFulfilment, what: str) -> None:
    """The cancel and the courier crossed: the parcel was handed over before logistics heard of the cancel
    (orders had not heard of the hand-over either, so it accepted the cancel).

    A packed parcel's stock and the order's refund wait for logistics' answer (see `_cancel`), so
    nothing was given back yet: the goods left with the courier, their stock stays issued, and the
    refund is held (the customer has the goods, or will). The fulfilment shows where the parcel is;
    the timeline tells customer service, once per parcel and step, to recover it and refund by hand.
    """
    _stop_withdrawing(uow.session, f)
    if f.status in (PACKED, SHIPPING):
        f.status = DELIVERED if what == "delivered" else SHIPPING
        _done_waiting(f)
    event = f"parcel from {f.unit} {what} after the cancel: customer service alerted to recover it"
    if order.payment_status == "captured":
        event += "; the refund waits for it (refund by hand once it is back)"
    _note_once(uow, order, event)


def _how(event: dict[str, Any]) -> str:
    # A partner's event reaches the timeline once, as its own tracking entry; the status line only
    # names the waybill. Staff hand-overs have no tracking entry, so their detail goes here.
    return f" (waybill {event['waybill']})" if event["waybill"] else f": {event['detail']}"


def shipment_cancelled(uow: UnitOfWork, event: dict[str, Any], settings: Settings) -> None:
    """Logistics withdrew a delivery the saga asked it to: no longer asked; a cancelled order's packed
    parcel is now certain to stay here, so its stock goes back and, once no parcel is in doubt, the refund."""
    order = _lock(uow, event["order"])
    f = _fulfilment(order, event["fulfilment_id"])
    _stop_withdrawing(uow.session, f)
    _note_once(uow, order, f"delivery from {f.unit} withdrawn")  # each re-sent withdrawal is answered
    if order.status == "cancelled" and f.status == PACKED:
        _send_release(uow, f, order.cancel_reason or "order cancelled", settings)
        _refund_when_parcels_are_settled(uow, order, settings)


def shipment_noted(uow: UnitOfWork, event: dict[str, Any], what: str) -> None:
    """Tracking events, delivery problems and withdrawn deliveries go to the timeline only."""
    order = _lock(uow, event["order"])
    detail = event.get("detail") or ""
    _note(order, f"{what}: {detail}".rstrip(": "))


# --- people's actions (through the gateway) ----------------------------------------------------------


def cancel(uow: UnitOfWork, number: str, reason: str, settings: Settings) -> None:
    """The customer (or customer service) cancels before hand-over: release, withdraw, refund."""
    order = _lock(uow, number)
    if order.status == "cancelled":
        return
    if order.status not in CANCELLABLE or any(f.status in (SHIPPING, DELIVERED) for f in order.fulfilments):
        raise ApiError(409, "not_cancellable", f"Order {number} is {order.status} and can no longer be cancelled.")
    _cancel(uow, order, reason, settings, refund=True)


def _cancel(uow: UnitOfWork, order: _LockedOrder, reason: str, settings: Settings, *, refund: bool) -> None:
    order.status = "cancelled"
    order.cancel_reason = reason
    _note(order, f"cancelled: {reason}")
    for f in order.fulfilments:
        if f.status == PACKED:
            # A packed parcel may be handed to a courier at any moment, before logistics hears of the
            # cancel: its stock goes back, and the refund goes out, only once logistics has withdrawn
            # it (`shipment_cancelled`). If it was handed over instead, both stay (`_handed_over_after_cancel`).
            _withdraw_delivery(uow, order, f, settings)
        elif f.status in (RESERVING, RESERVED, AWAITING_STOCK, PACKING):
            _send_release(uow, f, reason, settings)
    if refund and order.payment_status in ("captured", "cod"):
        _refund_when_parcels_are_settled(uow, order, settings)
    elif refund and order.payment_status == "pending":
        _send_void(uow, order, reason, settings)


def _refund_when_parcels_are_settled(uow: UnitOfWork, order: _LockedOrder, settings: Settings) -> None:
    """Refund a cancelled order's captured payment (or void its cash on delivery), unless a packed parcel's
    withdrawal is still unanswered (it waits: `shipment_cancelled` calls this again) or a parcel was
    handed over (then it stays: the customer has the goods, or pays for them at the door)."""
    if order.payment_status not in ("captured", "cod"):
        return  # refunding or refunded already, never captured, or failed
    if any(f.status == PACKED for f in order.fulfilments):
        _note_once(uow, order, _REFUND_WAITS)
        return
    if any(f.status in (SHIPPING, DELIVERED) for f in order.fulfilments):
        return  # the goods are with the courier or the customer: customer service recovers them first
    reason = order.cancel_reason or "order cancelled"
    if order.payment_status == "cod":
        _send_void(uow, order, reason, settings)  # no cash to collect
        return
    _send_refund(uow, order, reason, settings)
    _note(order, "refund requested")


def _send_expire(uow: UnitOfWork, order: _LockedOrder, settings: Settings) -> None:
    """An online order's time to pay is up. Billing answers `payment.failed` (still unpaid: the order is
    cancelled) or `payment.captured` (it was paid, and that reply was late or lost: the order goes on).
    Orders does not cancel on its own clock: the payment may have been captured a moment ago. Sent again
    after a reply deadline until billing answers."""
    reason = f"not paid within {settings.payment_timeout_minutes} minutes"
    uow.send("billing.expire_payment", {"order": order.number, "reason": reason})
    order.payment_deadline_at = now() + timedelta(seconds=settings.reply_deadline_seconds)


def _send_void(uow: UnitOfWork, order: _LockedOrder, reason: str, settings: Settings) -> None:
    """Tell billing a cancelled order will not be paid (online, not yet paid; or cash on delivery), and keep a
    deadline as a refund does: billing's answer (`payment.refunded` of nothing) clears it, the sweep re-sends."""
    uow.send("billing.refund_payment", {"order": order.number, "reason": reason})
    order.payment_deadline_at = now() + timedelta(seconds=settings.reply_deadline_seconds)


_REFUND_WAITS = "refund waits for logistics to withdraw the packed parcel(s)"


def _note_once(uow: UnitOfWork, order: _LockedOrder, event: str) -> None:
    """A timeline line the order gets once, however often the step that writes it runs."""
    noted = any(e == event for _, e in order.notes) or (
        uow.session.execute(_NOTED, {"number": order.number, "event": event}).first() is not None
    )
    if not noted:
        _note(order, event)


def _send_refund(uow: UnitOfWork, order: _LockedOrder, reason: str, settings: Settings) -> None:
    """Ask billing to refund a captured payment, and keep a deadline: a lost refund is sent again."""
    if order.payment_status == "captured":
        order.payment_status = "refunding"
    uow.send("billing.refund_payment", {"order": order.number, "reason": reason})
    order.payment_deadline_at = now() + timedelta(seconds=settings.reply_deadline_seconds)


def confirm_receipt(uow: UnitOfWork, number: str) -> None:
    order = _lock(uow, number)
    if order.status == "completed":
        return
    if order.status != "delivered":
        raise ApiError(409, "not_delivered", f"Order {number} is {order.status}, not delivered yet.")
    _complete(uow, order, "customer confirmed receipt: completed")


def _complete(uow: UnitOfWork, order: _LockedOrder, note: str) -> None:
    """The deal is done: billing makes the sale final (cash on delivery: collected at `delivered_at`)."""
    order.status = "completed"
    _note(order, note)
    delivered_at = order.delivered_at
    uow.send(
        "order.completed",
        {
            "order": order.number,
            "member_id": order.member_id,
            "completed_at": now().isoformat(),
            "delivered_at": delivered_at.isoformat() if delivered_at else None,
            "lines": _lines_with_units(order),
        },
    )


#: Parcels still at their unit, not packed: their delivery is not arranged yet, so new contact details reach
#: logistics with the booking (which reads the order's address then).
_NOT_PACKED = (RESERVING, RESERVED, AWAITING_STOCK, PACKING)


def change_contact(uow: UnitOfWork, number: str, contact: dict[str, str], by: str) -> None:
    """The customer (or customer service) changes who receives the order and how to reach them, before
    shipment (DOMAIN.md: "change contact details before shipment"): name, phone and street line. Not the
    city or the place: the order was routed and its delivery chosen by them. Once any parcel is packed its
    delivery is being arranged, and the change is customer service's to make with the courier: 409."""
    order = _lock(uow, number)
    if order.status in ("cancelled", "completed") or any(f.status not in _NOT_PACKED for f in order.fulfilments):
        raise ApiError(
            409,
            "contact_locked",
            f"Order {number} is {order.status}: its parcels are packed or on their way; ask customer service.",
        )
    changed = {key: value for key, value in contact.items() if order.address.get(key) != value}
    if not changed:
        return  # the same change again
    order.address = order.address | changed
    _note(order, f"contact details changed before shipment by {by}: {', '.join(sorted(changed))}")


def check_cash_on_delivery(uow: UnitOfWork, number: str, settings: Settings) -> None:
    """Customer service confirmed a cash-on-delivery order (核单): packing starts."""
    order = _lock(uow, number)
    if order.status != "awaiting_check":
        if order.payment_method == "cod" and order.status in ("packing", "ready_to_ship", "shipping"):
            return
        raise ApiError(409, "not_awaiting_check", f"Order {number} is {order.status}, not awaiting a check.")
    _note(order, "cash-on-delivery order checked by customer service")
    _start_packing(uow, order, settings)


# --- deadlines ---------------------------------------------------------------------------------------


#: What the sweep looks at: ids only; each order is then locked and read (and checked) again.
_OVERDUE_FULFILMENTS = direct(
    select(_fulfilments.c.id, _fulfilments.c.order_number)
    .where(_fulfilments.c.deadline_at.is_not(None), _fulfilments.c.deadline_at < bindparam("at"))
    .limit(bindparam("limit", type_=Integer))
)
#: Delivered orders whose customer has not confirmed receipt in time (orders delivered before
#: `delivered_at` was kept count from their last change).
_UNCONFIRMED_RECEIPTS = direct(
    select(_orders.c.number)
    .where(
        _orders.c.status == "delivered",
        or_(
            _orders.c.delivered_at < bindparam("before"),
            and_(_orders.c.delivered_at.is_(None), _orders.c.updated_at < bindparam("before")),
        ),
    )
    .limit(bindparam("limit", type_=Integer))
)
_OVERDUE_PAYMENTS = direct(
    select(_orders.c.number)
    .where(_orders.c.payment_deadline_at.is_not(None), _orders.c.payment_deadline_at < bindparam("at"))
    .limit(bindparam("limit", type_=Integer))
)


def sweep_deadlines(uow: UnitOfWork, settings: Settings, at: datetime | None = None, limit: int = 200) -> int:
    """Re-send every command whose reply is overdue; tell customer service when a unit keeps silent."""
    at = at or now()
    session = uow.session
    resent = 0
    overdue = session.execute(_OVERDUE_FULFILMENTS, {"at": at, "limit": limit}).all()
    for fulfilment_id, number in overdue:
        order = _lock(uow, number)
        f = _fulfilment(order, fulfilment_id)
        if f.deadline_at is None or f.deadline_at >= at:
            continue
        attempts = f.attempts + 1
        if f.waiting_for == "stores.check_stock":
            if attempts >= ALERT_AFTER_ATTEMPTS and f.candidates:
                previous, f.unit = f.unit, f.candidates[0]
                f.candidates = f.candidates[1:]
                _note(order, f"{previous} did not answer; trying {f.unit}")
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
            _note(order, f"{f.unit} has not answered {attempts} times: customer service alerted")
        resent += 1
    resent += _sweep_requests(
        uow, StrayHold, _send_stray_release, "has not given back its late reservation", settings, at, limit
    )
    resent += _sweep_requests(
        uow, Withdrawal, _send_withdrawal, "has not confirmed the withdrawal", settings, at, limit
    )
    for number in session.execute(_OVERDUE_PAYMENTS, {"at": at, "limit": limit}).scalars().all():
        order = _lock(uow, number)
        if order.payment_status == "refunding":  # billing never confirmed the refund: ask again (idempotent)
            _send_refund(uow, order, order.cancel_reason or "order cancelled", settings)
            resent += 1
            continue
        if order.status == "cancelled" and order.payment_status in ("pending", "cod"):
            _send_void(uow, order, order.cancel_reason or "order cancelled", settings)  # nor the void
            resent += 1
            continue
        if order.status == "cancelled" or order.payment_status != "pending":
            order.payment_deadline_at = None
            continue
        if order.status == "awaiting_payment":  # the customer's time is up: billing decides, under its lock
            _send_expire(uow, order, settings)
            resent += 1
            continue
        _send_take_payment(uow, order, settings)
        resent += 1
    from . import after_sales  # (it builds on this module's steps)

    resent += after_sales.sweep(uow, settings, at, limit)
    _confirm_receipts_automatically(uow, settings, at, limit)
    return resent


def _confirm_receipts_automatically(uow: UnitOfWork, settings: Settings, at: datetime, limit: int) -> None:
    """A customer who never confirms receipt confirms it MALL_AUTO_RECEIPT_DAYS after delivery (as malls do):
    the sale becomes final, and a delivered order never waits for ever."""
    days = settings.auto_receipt_days
    before = at - timedelta(days=days)
    for number in uow.session.execute(_UNCONFIRMED_RECEIPTS, {"before": before, "limit": limit}).scalars().all():
        order = _lock(uow, number)
        if order.status == "delivered":  # (read again under the lock)
            _complete(uow, order, f"receipt confirmed automatically {days} days after delivery: completed")


def _sweep_requests(uow: UnitOfWork, model, resend, silence: str, settings: Settings, at: datetime, limit: int) -> int:
    """Send again the side requests (StrayHold, Withdrawal) whose answer is overdue, with backoff."""
    session = uow.session
    resent = 0
    key = [*inspect(model).primary_key]
    overdue = session.execute(select(*key, model.order_number).where(model.deadline_at < at).limit(limit)).all()
    for *ids, number in overdue:
        order = _lock(uow, number)
        # Read again under the order's lock: the answer may have come meanwhile.
        request = session.get(model, tuple(ids), populate_existing=True)
        if request is None or request.deadline_at >= at:
            continue
        request.attempts += 1
        resend(uow, request, settings)
        if request.attempts == ALERT_AFTER_ATTEMPTS:
            who = getattr(request, "unit", "logistics")
            _note(order, f"{who} {silence} after {request.attempts} tries: customer service alerted")
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
        "invoice": order.invoice,
        "created_at": order.created_at.isoformat(),
        "timeline": [{"at": e.at.isoformat(), "event": e.event} for e in order.timeline],
    }


def _payment_status(order: Order) -> str:
    # "refunding" is the saga's own in-between state; the API's payment statuses stop at captured.
    return "captured" if order.payment_status == "refunding" else order.payment_status
