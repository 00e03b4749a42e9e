"""Stores' use cases: units, stock-in, reservations, packing tasks, slips and purchase notices. No Flask, no Celery.

Stock, reservations and packing tasks are on every order's path (a check and a pack per fulfilment), so
they are read and written with the Core statements below, built once with bound parameters: SQLAlchemy
reuses their compiled form, and no ORM object is loaded or flushed per message. Units and purchase
notices are staff work and use the ORM.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, and_, bindparam, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shared.db import direct
from shared.messaging import PermanentError, UnitOfWork, now

from .models import PackingTask, PurchaseNotice, Reservation, ReturnedGoods, Stock, Unit

SLIP_NAMES = {"GD": "hold slip (挂单小票)", "XS": "sales slip (销售小票)"}
RESERVED_STATUSES = ("held", "issued")  # goods still promised to the customer

log = logging.getLogger("mall.stores")

# --- statements -----------------------------------------------------------------------------------
# (An insert or update may not name a bound parameter after one of its columns: hence in_unit, of_sku.)

unit_table, stock_table, reservation_table, task_table = (
    Unit.__table__,
    Stock.__table__,
    Reservation.__table__,
    PackingTask.__table__,
)

#: What packing needs to know of a unit.
UNIT = direct(
    select(unit_table.c.code, unit_table.c.name, unit_table.c.kind, unit_table.c.channel, unit_table.c.auto_pack).where(
        unit_table.c.code == bindparam("unit")
    )
)
#: The unit with this fulfilment's reservations there, in one round trip: no row means no such unit, a
#: single row without a status means nothing is reserved yet.
UNIT_AND_RESERVATIONS = direct(
    select(unit_table.c.code, reservation_table.c.status)
    .outerjoin(
        reservation_table,
        and_(
            reservation_table.c.unit == unit_table.c.code,
            reservation_table.c.fulfilment_id == bindparam("fulfilment_id"),
        ),
    )
    .where(unit_table.c.code == bindparam("unit"))
)
STOCK = direct(
    select(stock_table).where(stock_table.c.unit == bindparam("unit"), stock_table.c.sku == bindparam("sku"))
)
AVAILABLE = direct(
    select(stock_table.c.on_hand - stock_table.c.reserved).where(
        stock_table.c.unit == bindparam("unit"), stock_table.c.sku == bindparam("sku")
    )
)
_stock_row = and_(stock_table.c.unit == bindparam("in_unit"), stock_table.c.sku == bindparam("of_sku"))
#: No oversell: one conditional update, so two fulfilments can never both take the last piece.
RESERVE = direct(
    update(stock_table)
    .where(_stock_row, stock_table.c.on_hand - stock_table.c.reserved >= bindparam("quantity"))
    .values(reserved=stock_table.c.reserved + bindparam("quantity"), updated_at=bindparam("at"))
)
#: Held goods nobody will take after all: available again.
GIVE_BACK = direct(
    update(stock_table)
    .where(_stock_row)
    .values(reserved=stock_table.c.reserved - bindparam("quantity"), updated_at=bindparam("at"))
)
#: The goods leave the shelf: what was promised is now gone from both counts.
ISSUE = direct(
    update(stock_table)
    .where(_stock_row, stock_table.c.reserved >= bindparam("quantity"))
    .values(
        on_hand=stock_table.c.on_hand - bindparam("quantity"),
        reserved=stock_table.c.reserved - bindparam("quantity"),
        updated_at=bindparam("at"),
    )
)
#: Goods arrive (stock-in), or come back when a packed fulfilment is released.
RESTOCK = direct(
    update(stock_table)
    .where(_stock_row)
    .values(on_hand=stock_table.c.on_hand + bindparam("quantity"), updated_at=bindparam("at"))
)

HOLD = direct(insert(reservation_table))
#: Still reserved, as plain comparisons: an IN list would be rendered anew at each execution.
_still_reserved = or_(*(reservation_table.c.status == status for status in RESERVED_STATUSES))
_reservations_of = and_(
    reservation_table.c.fulfilment_id == bindparam("of_fulfilment"), reservation_table.c.unit == bindparam("in_unit")
)
#: What is still reserved for a fulfilment at a unit, locked in SKU order: packing and releasing lock it alike.
RESERVED_FOR_UPDATE = direct(
    select(reservation_table.c.sku, reservation_table.c.quantity, reservation_table.c.status)
    .where(_reservations_of, _still_reserved)
    .order_by(reservation_table.c.sku)
    .with_for_update()
)
#: The held reservations of a fulfilment at a unit are packed; returns what they hold.
MARK_ISSUED = direct(
    update(reservation_table)
    .where(_reservations_of, reservation_table.c.status == "held")
    .values(status="issued", updated_at=bindparam("at"))
    .returning(reservation_table.c.sku, reservation_table.c.quantity)
)
MARK_RELEASED = direct(
    update(reservation_table)
    .where(_reservations_of, _still_reserved)
    .values(status="released", updated_at=bindparam("at"))
)

TASK = direct(select(task_table).where(task_table.c.id == bindparam("task_id")))
TASK_FOR_UPDATE = direct(TASK.with_for_update())
TASK_OF_FULFILMENT_FOR_UPDATE = direct(
    select(task_table).where(task_table.c.fulfilment_id == bindparam("fulfilment_id")).with_for_update()
)
OPEN_TASK = direct(insert(task_table).returning(*task_table.c))
_task_row = task_table.c.id == bindparam("task_id")
SET_FAX = direct(update(task_table).where(_task_row).values(fax_document=bindparam("fax")))
CANCEL_TASK = direct(update(task_table).where(_task_row).values(status="cancelled"))
TASK_DONE = direct(
    update(task_table)
    .where(_task_row)
    .values(status="done", slip_no=bindparam("slip"), packed_at=bindparam("at"))
    .returning(*task_table.c)
)


class StoresError(Exception):
    """A request stores cannot carry out; the API maps each kind to an HTTP error."""


class UnitExists(StoresError):
    """A unit with this code is already registered."""


class UnknownUnit(StoresError):
    """No unit has this code."""


class TaskNotFound(StoresError):
    """No packing task with this id belongs to the unit that asked."""


class TaskNotOpen(StoresError):
    """The packing task was cancelled, or was already done with another slip."""


def aware(moment: datetime | None) -> datetime | None:
    """SQLite hands timestamps back without their offset; every timestamp stores writes is UTC."""
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment


def _iso(moment: datetime | None) -> str | None:
    moment = aware(moment)
    return moment.isoformat() if moment else None


# --- units ----------------------------------------------------------------------------------------


def add_unit(session: Session, data: dict[str, Any]) -> Unit:
    """Register a counter, branch or warehouse; its code names its queue (`stores.<code>`)."""
    if session.get(Unit, data["code"]) is not None:
        raise UnitExists(data["code"])
    unit = Unit(**data, created_at=now())
    session.add(unit)
    try:
        session.flush()
    except IntegrityError as exc:  # registered by a concurrent request since the check above
        raise UnitExists(data["code"]) from exc
    return unit


def list_units(session: Session) -> list[Unit]:
    return list(session.scalars(select(Unit).order_by(Unit.code)))


def unit_view(unit: Unit) -> dict[str, Any]:
    return {
        "code": unit.code,
        "name": unit.name,
        "kind": unit.kind,
        "division": unit.division,
        "city": unit.city,
        "lat": unit.lat,
        "lon": unit.lon,
        "channel": unit.channel,
        "auto_pack": unit.auto_pack,
    }


def _unit(session: Session, code: str) -> Row | None:
    return session.execute(UNIT, {"unit": code}).first()


def unit_known(session: Session, code: str) -> bool:
    return _unit(session, code) is not None


def _unknown_unit(code: str) -> PermanentError:
    """A command for a unit that does not exist can never succeed: dead-letter it instead of retrying."""
    return PermanentError(f"unknown unit {code!r}")


def _unit_or_permanent(session: Session, code: str) -> Row:
    unit = _unit(session, code)
    if unit is None:
        raise _unknown_unit(code)
    return unit


# --- stock ----------------------------------------------------------------------------------------


def _available(session: Session, unit: str, sku: str) -> int:
    return session.execute(AVAILABLE, {"unit": unit, "sku": sku}).scalar() or 0


def stock_view(stock: Row) -> dict[str, Any]:
    return {
        "unit": stock.unit,
        "sku": stock.sku,
        "on_hand": stock.on_hand,
        "reserved": stock.reserved,
        "available": stock.on_hand - stock.reserved,
    }


def _add_on_hand(session: Session, unit: str, sku: str, quantity: int) -> None:
    line = {"in_unit": unit, "of_sku": sku, "quantity": quantity, "at": now()}
    if session.execute(RESTOCK, line).rowcount:
        return
    try:
        with session.begin_nested():
            session.execute(
                insert(stock_table).values(unit=unit, sku=sku, on_hand=quantity, reserved=0, updated_at=line["at"])
            )
    except IntegrityError:
        # A concurrent stock-in created the row after our update found none: add to it instead.
        session.execute(RESTOCK, line)


def stock_in(uow: UnitOfWork, unit_code: str, sku: str, quantity: int) -> dict[str, Any]:
    """Goods received (入库): on hand rises, open purchase notices for the SKU are fulfilled, orders hear of it."""
    session = uow.session
    if _unit(session, unit_code) is None:
        raise UnknownUnit(unit_code)
    _add_on_hand(session, unit_code, sku, quantity)
    session.execute(
        update(PurchaseNotice)
        .where(PurchaseNotice.unit == unit_code, PurchaseNotice.sku == sku, PurchaseNotice.status == "open")
        .values(status="fulfilled", fulfilled_at=now())
        .execution_options(synchronize_session=False)
    )
    view = stock_view(session.execute(STOCK, {"unit": unit_code, "sku": sku}).one())
    # Orders waiting in awaiting_stock for this SKU at this unit try again.
    uow.send("stock.replenished", {"unit": unit_code, "sku": sku, "available": view["available"]})
    return view


def restock_return(uow: UnitOfWork, command: dict[str, Any]) -> None:
    """Goods a customer returned under an after-sales case go back on the unit's shelf, once per case
    (a re-sent command only answers again); orders waiting for them hear of it as of any stock-in."""
    session = uow.session
    _unit_or_permanent(session, command["unit"])
    if session.get(ReturnedGoods, command["case"]) is None:
        per_sku: dict[str, int] = {}
        for line in command["lines"]:
            per_sku[line["sku"]] = per_sku.get(line["sku"], 0) + line["quantity"]
        session.add(
            ReturnedGoods(
                case_id=command["case"],
                order=command["order"],
                unit=command["unit"],
                lines=command["lines"],
                restocked_at=now(),
            )
        )
        # (A copy racing this one on another worker fails on the case's key at commit and is retried.)
        for sku in sorted(per_sku):  # stock rows in SKU order, as every writer of several takes them
            stock_in(uow, command["unit"], sku, per_sku[sku])
    uow.send("stock.returned", {"order": command["order"], "case": command["case"], "unit": command["unit"]})


def availability(session: Session, skus: list[str]) -> list[dict[str, Any]]:
    """Every unit's stock of the given SKUs, with what routing needs to pick a unit (kind, place)."""
    if not skus:
        return []
    rows = session.execute(
        select(Stock, Unit)
        .join(Unit, Unit.code == Stock.unit)
        .where(Stock.sku.in_(skus))
        .order_by(Stock.sku, Unit.code)
    ).all()
    return [
        {
            "sku": stock.sku,
            "unit": unit.code,
            "kind": unit.kind,
            "division": unit.division,
            "city": unit.city,
            "lat": unit.lat,
            "lon": unit.lon,
            "on_hand": stock.on_hand,
            "reserved": stock.reserved,
            "available": stock.on_hand - stock.reserved,
        }
        for stock, unit in rows
    ]


# --- reservations ---------------------------------------------------------------------------------


def check_stock(uow: UnitOfWork, command: dict[str, Any]) -> None:
    """Reserve every line of a fulfilment at this unit, or none; reply stock.reserved or stock.short."""
    session = uow.session
    unit, fulfilment_id = command["unit"], command["fulfilment_id"]
    rows = session.execute(UNIT_AND_RESERVATIONS, {"unit": unit, "fulfilment_id": fulfilment_id}).all()
    if not rows:
        raise _unknown_unit(unit)
    reply = {"order": command["order"], "fulfilment_id": fulfilment_id, "unit": unit}
    existing = [row.status for row in rows if row.status is not None]
    if existing:
        # The saga re-sends a command whose reply it never got: answer again, reserve nothing twice.
        if any(status in RESERVED_STATUSES for status in existing):
            uow.send("stock.reserved", reply)
        else:
            # Released already (the order was cancelled): a stale check must not hold stock nobody frees.
            uow.send("stock.released", reply)
        return

    wanted: dict[str, int] = {}
    for line in command["lines"]:
        wanted[line["sku"]] = wanted.get(line["sku"], 0) + line["quantity"]
    at = now()
    taken: list[dict[str, Any]] = []
    short: list[dict[str, Any]] = []
    # Sorted, so that two fulfilments locking the same rows on PostgreSQL take them in one order.
    for sku in sorted(wanted):
        line = {"in_unit": unit, "of_sku": sku, "quantity": wanted[sku], "at": at}
        if session.execute(RESERVE, line).rowcount == 1:
            taken.append(line)
        else:
            short.append({"sku": sku, "requested": wanted[sku], "available": _available(session, unit, sku)})
    if short:
        # All or none: the lines that fitted go back (their rows stay locked until this transaction ends).
        for line in taken:
            session.execute(GIVE_BACK, line)
        notice = None
        if command["notify_purchasing"]:
            notice = _raise_purchase_notices(session, unit, command["order"], short)
        uow.send("stock.short", reply | {"short": short, "purchase_notice": notice})
        return
    held = {"order": command["order"], "fulfilment_id": fulfilment_id, "unit": unit, "status": "held"}
    session.execute(
        HOLD,
        [held | {"sku": sku, "quantity": wanted[sku], "created_at": at, "updated_at": at} for sku in sorted(wanted)],
    )
    uow.send("stock.reserved", reply)


def _raise_purchase_notices(session: Session, unit: str, order: str, short: list[dict[str, Any]]) -> str:
    """One open notice per short SKU of the order at this unit (a re-sent check reuses it); their ids."""
    ids: list[str] = []
    for line in short:
        missing = line["requested"] - line["available"]
        notice = session.scalar(
            select(PurchaseNotice).where(
                PurchaseNotice.unit == unit,
                PurchaseNotice.sku == line["sku"],
                PurchaseNotice.order == order,
                PurchaseNotice.status == "open",
            )
        )
        if notice is None:
            notice = PurchaseNotice(
                unit=unit, sku=line["sku"], quantity=missing, order=order, status="open", created_at=now()
            )
            session.add(notice)
            session.flush()
        else:
            notice.quantity = max(notice.quantity, missing)
        ids.append(str(notice.id))
    return ",".join(ids)


def release_stock(uow: UnitOfWork, command: dict[str, Any]) -> None:
    """Give a cancelled fulfilment's stock back and cancel its packing; a second release changes nothing."""
    session = uow.session
    unit = _unit_or_permanent(session, command["unit"]).code
    fulfilment_id = command["fulfilment_id"]
    # Lock the task first, as completing a task does, so that packing and releasing never cross.
    task = session.execute(TASK_OF_FULFILMENT_FOR_UPDATE, {"fulfilment_id": fulfilment_id}).first()
    if task is not None and task.unit == unit and task.status == "open":
        session.execute(CANCEL_TASK, {"task_id": task.id})
    of_fulfilment = {"of_fulfilment": fulfilment_id, "in_unit": unit}
    reserved = session.execute(RESERVED_FOR_UPDATE, of_fulfilment).all()
    if reserved:
        at = now()
        for line in reserved:
            back = GIVE_BACK if line.status == "held" else RESTOCK
            session.execute(back, {"in_unit": unit, "of_sku": line.sku, "quantity": line.quantity, "at": at})
        session.execute(MARK_RELEASED, of_fulfilment | {"at": at})
    uow.send("stock.released", {"order": command["order"], "fulfilment_id": fulfilment_id, "unit": unit})


# --- packing --------------------------------------------------------------------------------------


def slip_number(unit: Row, task: Row) -> str:
    """Branches issue a hold slip (挂单小票, GD-); counters and the warehouse a sales slip (销售小票, XS-)."""
    prefix = "GD" if unit.kind == "branch" else "XS"
    return f"{prefix}-{unit.code}-{task.id:06d}"


def fax_document(unit: Row, task: Row) -> str:
    """The printable order a township branch receives by fax instead of the task queue."""
    slip = SLIP_NAMES["GD" if unit.kind == "branch" else "XS"]
    delivery = {
        "local": "local delivery: our delivery staff collect the parcel from you",
        "courier": "out of town: the courier collects the parcel from you",
    }[task.delivery]
    lines = [
        "GUOMAO ONLINE MALL - ORDER BY FAX (网上商城传真订单)",
        f"Order:    {task.order}",
        f"Unit:     {unit.code} {unit.name}",
        f"Task:     {task.id}",
        f"Delivery: {delivery}",
        "",
        "Goods:",
    ]
    lines += [f"  {i}. {item['sku']}  {item['name']}  x {item['quantity']}" for i, item in enumerate(task.items, 1)]
    lines += [
        "",
        f"Please confirm the stock, issue a {slip}, put the slip in the parcel,",
        f"label the parcel with the order number {task.order} and keep it until it is collected.",
        f"Then report task {task.id} done with the slip number.",
    ]
    return "\n".join(lines) + "\n"


def pack_parcel(uow: UnitOfWork, command: dict[str, Any]) -> None:
    """Open one packing task per fulfilment (a fax for fax units); auto-pack units pack it at once."""
    session = uow.session
    unit = _unit_or_permanent(session, command["unit"])
    fulfilment_id = command["fulfilment_id"]
    task = session.execute(TASK_OF_FULFILMENT_FOR_UPDATE, {"fulfilment_id": fulfilment_id}).first()
    if task is not None:
        # A repeat: answer a packed parcel again; an open task is with the staff, a cancelled one is over.
        if task.status == "done":
            _send_packed(uow, task)
        return
    # Locked, so that a release committing meanwhile is seen here, not after the task is open.
    if not session.execute(RESERVED_FOR_UPDATE, {"of_fulfilment": fulfilment_id, "in_unit": unit.code}).all():
        # The order was cancelled and its stock released before this command arrived (the two can
        # cross): no staff member should pack goods nobody holds for a customer.
        log.info("no packing task for fulfilment %s: nothing is reserved for it", fulfilment_id)
        return
    task = session.execute(
        OPEN_TASK,
        {
            "order": command["order"],
            "fulfilment_id": fulfilment_id,
            "unit": unit.code,
            "status": "open",
            "delivery": command["delivery"],
            "items": [
                {"sku": line["sku"], "name": line["name"], "quantity": line["quantity"]} for line in command["lines"]
            ],
            "created_at": now(),
        },
    ).one()  # the task id goes into the fax and the slip number
    if unit.channel == "fax":
        session.execute(SET_FAX, {"task_id": task.id, "fax": fax_document(unit, task)})
    if unit.auto_pack:
        _complete(uow, unit, task, None)


def task_order(session: Session, task_id: int, unit: str) -> str:
    """The order a unit's packing task belongs to (its messages carry it as correlation id)."""
    task = session.execute(TASK, {"task_id": task_id}).first()
    if task is None or task.unit != unit:
        raise TaskNotFound(task_id)
    return task.order


def complete_task(uow: UnitOfWork, task_id: int, unit_code: str, slip_no: str | None = None) -> Row:
    """Staff packed the parcel: issue the slip and the stock, tell orders; done twice with one slip is done once."""
    session = uow.session
    task = session.execute(TASK_FOR_UPDATE, {"task_id": task_id}).first()
    if task is None or task.unit != unit_code:
        raise TaskNotFound(task_id)
    if task.status == "cancelled":
        raise TaskNotOpen(task_id)
    if task.status == "done":
        if slip_no in (None, task.slip_no):
            return task
        raise TaskNotOpen(task_id)
    return _complete(uow, _unit_or_permanent(session, unit_code), task, slip_no)


def _complete(uow: UnitOfWork, unit: Row, task: Row, slip_no: str | None) -> Row:
    """Issue the slip and the stock of an open task and tell orders; returns the task as done."""
    session = uow.session
    at = now()
    done = session.execute(TASK_DONE, {"task_id": task.id, "slip": slip_no or slip_number(unit, task), "at": at}).one()
    issued = session.execute(MARK_ISSUED, {"of_fulfilment": task.fulfilment_id, "in_unit": unit.code, "at": at}).all()
    for line in sorted(issued, key=lambda line: line.sku):  # in SKU order, as check_stock locks stock rows
        stock_line = {"in_unit": unit.code, "of_sku": line.sku, "quantity": line.quantity, "at": at}
        if session.execute(ISSUE, stock_line).rowcount != 1:
            raise RuntimeError(f"stock of {line.sku} at {unit.code} does not cover its reservation")
    _send_packed(uow, done)
    return done


def _send_packed(uow: UnitOfWork, task: Row) -> None:
    assert task.slip_no is not None
    uow.send(
        "parcel.packed",
        {
            "order": task.order,
            "fulfilment_id": task.fulfilment_id,
            "unit": task.unit,
            "slip_no": task.slip_no,
            "packed_at": _iso(task.packed_at),
        },
        correlation_id=task.order,
    )


def list_tasks(session: Session, unit: str, status: str = "open") -> list[Row]:
    query = select(task_table).where(task_table.c.unit == unit).order_by(task_table.c.id)
    if status != "all":
        query = query.where(task_table.c.status == status)
    return list(session.execute(query))


def task_view(task: Row) -> dict[str, Any]:
    return {
        "id": task.id,
        "order": task.order,
        "fulfilment_id": task.fulfilment_id,
        "unit": task.unit,
        "status": task.status,
        "items": task.items,
        "slip_no": task.slip_no,
        "delivery": task.delivery,
        "fax_document": task.fax_document,
        "created_at": _iso(task.created_at),
        "packed_at": _iso(task.packed_at),
    }


# --- purchase notices -----------------------------------------------------------------------------


def list_purchase_notices(session: Session, unit: str | None = None) -> list[PurchaseNotice]:
    query = select(PurchaseNotice).order_by(PurchaseNotice.id)
    if unit:
        query = query.where(PurchaseNotice.unit == unit)
    return list(session.scalars(query))


def notice_view(notice: PurchaseNotice) -> dict[str, Any]:
    return {
        "id": notice.id,
        "unit": notice.unit,
        "sku": notice.sku,
        "quantity": notice.quantity,
        "order": notice.order,
        "status": notice.status,
        "created_at": _iso(notice.created_at),
    }
