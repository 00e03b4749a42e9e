"""Stores' use cases: units, stock-in, reservations, packing tasks, slips and purchase notices. No Flask, no Celery."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shared.messaging import PermanentError, UnitOfWork, now

from .models import PackingTask, PurchaseNotice, Reservation, Stock, Unit

SLIP_NAMES = {"GD": "hold slip (挂单小票)", "XS": "sales slip (销售小票)"}

log = logging.getLogger("mall.stores")


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


def _unit_or_permanent(session: Session, code: str) -> Unit:
    """A command for a unit that does not exist can never succeed: dead-letter it instead of retrying."""
    unit = session.get(Unit, code)
    if unit is None:
        raise PermanentError(f"unknown unit {code!r}")
    return unit


# --- stock ----------------------------------------------------------------------------------------


def _stock(session: Session, unit: str, sku: str) -> Stock | None:
    # populate_existing: the conditional updates below bypass the identity map, so read fresh values.
    return session.get(Stock, (unit, sku), populate_existing=True)


def _available(session: Session, unit: str, sku: str) -> int:
    stock = _stock(session, unit, sku)
    return stock.on_hand - stock.reserved if stock else 0


def stock_view(stock: Stock) -> dict[str, Any]:
    return {
        "unit": stock.unit,
        "sku": stock.sku,
        "on_hand": stock.on_hand,
        "reserved": stock.reserved,
        "available": stock.on_hand - stock.reserved,
    }


def _add_on_hand(session: Session, unit: str, sku: str, quantity: int) -> None:
    changed = session.execute(
        update(Stock)
        .where(Stock.unit == unit, Stock.sku == sku)
        .values(on_hand=Stock.on_hand + quantity, updated_at=now())
        .execution_options(synchronize_session=False)
    ).rowcount
    if changed:
        return
    try:
        with session.begin_nested():
            session.execute(insert(Stock).values(unit=unit, sku=sku, on_hand=quantity, reserved=0, updated_at=now()))
    except IntegrityError:
        # A concurrent stock-in created the row after our update found none: add to it instead.
        session.execute(
            update(Stock)
            .where(Stock.unit == unit, Stock.sku == sku)
            .values(on_hand=Stock.on_hand + quantity, updated_at=now())
            .execution_options(synchronize_session=False)
        )


def stock_in(uow: UnitOfWork, unit_code: str, sku: str, quantity: int) -> dict[str, Any]:
    """Goods received (入库): on hand rises, open purchase notices for the SKU are fulfilled, orders hear of it."""
    session = uow.session
    if session.get(Unit, unit_code) is None:
        raise UnknownUnit(unit_code)
    _add_on_hand(session, unit_code, sku, quantity)
    session.execute(
        update(PurchaseNotice)
        .where(PurchaseNotice.unit == unit_code, PurchaseNotice.sku == sku, PurchaseNotice.status == "open")
        .values(status="fulfilled", fulfilled_at=now())
        .execution_options(synchronize_session=False)
    )
    stock = _stock(session, unit_code, sku)
    assert stock is not None
    view = stock_view(stock)
    # Orders waiting in awaiting_stock for this SKU at this unit try again.
    uow.send("stock.replenished", {"unit": unit_code, "sku": sku, "available": view["available"]})
    return view


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


class _Short(Exception):
    """Raised inside the savepoint so that every line reserved so far is rolled back together."""


def _reserve(session: Session, unit: str, sku: str, quantity: int) -> bool:
    """No oversell: one conditional update, so two fulfilments can never both take the last piece."""
    return (
        session.execute(
            update(Stock)
            .where(Stock.unit == unit, Stock.sku == sku, Stock.on_hand - Stock.reserved >= quantity)
            .values(reserved=Stock.reserved + quantity, updated_at=now())
            .execution_options(synchronize_session=False)
        ).rowcount
        == 1
    )


def check_stock(uow: UnitOfWork, command: dict[str, Any]) -> None:
    """Reserve every line of a fulfilment at this unit, or none; reply stock.reserved or stock.short."""
    session = uow.session
    unit = _unit_or_permanent(session, command["unit"])
    reply = {"order": command["order"], "fulfilment_id": command["fulfilment_id"], "unit": unit.code}
    existing = session.scalars(
        select(Reservation).where(Reservation.fulfilment_id == command["fulfilment_id"], Reservation.unit == unit.code)
    ).all()
    if existing:
        # The saga re-sends a command whose reply it never got: answer again, reserve nothing twice.
        if any(r.status in ("held", "issued") for r in existing):
            uow.send("stock.reserved", reply)
        else:
            # Released already (the order was cancelled): a stale check must not hold stock nobody frees.
            uow.send("stock.released", reply)
        return

    wanted: dict[str, int] = {}
    for line in command["lines"]:
        wanted[line["sku"]] = wanted.get(line["sku"], 0) + line["quantity"]
    short: list[dict[str, Any]] = []
    try:
        with session.begin_nested():
            # Sorted, so that two fulfilments locking the same rows on PostgreSQL take them in one order.
            for sku in sorted(wanted):
                if not _reserve(session, unit.code, sku, wanted[sku]):
                    short.append(
                        {"sku": sku, "requested": wanted[sku], "available": _available(session, unit.code, sku)}
                    )
            if short:
                raise _Short
            for sku in sorted(wanted):
                session.add(
                    Reservation(
                        order=command["order"],
                        fulfilment_id=command["fulfilment_id"],
                        unit=unit.code,
                        sku=sku,
                        quantity=wanted[sku],
                        status="held",
                        created_at=now(),
                        updated_at=now(),
                    )
                )
            session.flush()
    except _Short:
        notice = None
        if command["notify_purchasing"]:
            notice = _raise_purchase_notices(session, unit.code, command["order"], short)
        uow.send("stock.short", reply | {"short": short, "purchase_notice": notice})
        return
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
    unit = _unit_or_permanent(session, command["unit"])
    fulfilment_id = command["fulfilment_id"]
    # Lock the task first, as completing a task does, so that packing and releasing never cross.
    task = session.scalar(
        select(PackingTask)
        .where(PackingTask.fulfilment_id == fulfilment_id, PackingTask.unit == unit.code)
        .with_for_update()
    )
    if task is not None and task.status == "open":
        task.status = "cancelled"
    reservations = session.scalars(
        select(Reservation)
        .where(
            Reservation.fulfilment_id == fulfilment_id,
            Reservation.unit == unit.code,
            Reservation.status.in_(("held", "issued")),
        )
        .order_by(Reservation.sku)
        .with_for_update()
    ).all()
    for reservation in reservations:
        if reservation.status == "held":
            values = {"reserved": Stock.reserved - reservation.quantity}
        else:
            # Issued goods were taken off the shelf when the parcel was packed; unpacked, they go back.
            values = {"on_hand": Stock.on_hand + reservation.quantity}
        session.execute(
            update(Stock)
            .where(Stock.unit == unit.code, Stock.sku == reservation.sku)
            .values(**values, updated_at=now())
            .execution_options(synchronize_session=False)
        )
        reservation.status = "released"
        reservation.updated_at = now()
    uow.send("stock.released", {"order": command["order"], "fulfilment_id": fulfilment_id, "unit": unit.code})


# --- packing --------------------------------------------------------------------------------------


def slip_number(unit: Unit, task: PackingTask) -> str:
    """Branches issue a hold slip (挂单小票, GD-); counters and the warehouse a sales slip (销售小票, XS-)."""
    prefix = "GD" if unit.kind == "branch" else "XS"
    return f"{prefix}-{unit.code}-{task.id:06d}"


def fax_document(unit: Unit, task: PackingTask) -> str:
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
    task = session.scalar(
        select(PackingTask).where(PackingTask.fulfilment_id == command["fulfilment_id"]).with_for_update()
    )
    if task is not None:
        # A repeat: answer a packed parcel again; an open task is with the staff, a cancelled one is over.
        if task.status == "done":
            _send_packed(uow, task)
        return
    held = session.scalar(
        select(Reservation.id).where(
            Reservation.fulfilment_id == command["fulfilment_id"],
            Reservation.unit == unit.code,
            Reservation.status.in_(("held", "issued")),
        )
    )
    if held is None:
        # The order was cancelled and its stock released before this command arrived (the two can
        # cross): no staff member should pack goods nobody holds for a customer.
        log.info("no packing task for fulfilment %s: nothing is reserved for it", command["fulfilment_id"])
        return
    task = PackingTask(
        order=command["order"],
        fulfilment_id=command["fulfilment_id"],
        unit=unit.code,
        status="open",
        delivery=command["delivery"],
        items=[{"sku": line["sku"], "name": line["name"], "quantity": line["quantity"]} for line in command["lines"]],
        created_at=now(),
    )
    session.add(task)
    session.flush()  # the task id goes into the fax and the slip number
    if unit.channel == "fax":
        task.fax_document = fax_document(unit, task)
    if unit.auto_pack:
        _complete(uow, unit, task, None)


def task_order(session: Session, task_id: int, unit: str) -> str:
    """The order a unit's packing task belongs to (its messages carry it as correlation id)."""
    task = session.get(PackingTask, task_id)
    if task is None or task.unit != unit:
        raise TaskNotFound(task_id)
    return task.order


def complete_task(uow: UnitOfWork, task_id: int, unit_code: str, slip_no: str | None = None) -> PackingTask:
    """Staff packed the parcel: issue the slip and the stock, tell orders; done twice with one slip is done once."""
    session = uow.session
    task = session.scalar(select(PackingTask).where(PackingTask.id == task_id).with_for_update())
    if task is None or task.unit != unit_code:
        raise TaskNotFound(task_id)
    if task.status == "cancelled":
        raise TaskNotOpen(task_id)
    if task.status == "done":
        if slip_no in (None, task.slip_no):
            return task
        raise TaskNotOpen(task_id)
    unit = session.get(Unit, unit_code)
    assert unit is not None
    _complete(uow, unit, task, slip_no)
    return task


def _complete(uow: UnitOfWork, unit: Unit, task: PackingTask, slip_no: str | None) -> None:
    session = uow.session
    task.slip_no = slip_no or slip_number(unit, task)
    task.status = "done"
    task.packed_at = now()
    held = session.scalars(
        select(Reservation)
        .where(
            Reservation.fulfilment_id == task.fulfilment_id,
            Reservation.unit == unit.code,
            Reservation.status == "held",
        )
        .order_by(Reservation.sku)
        .with_for_update()
    ).all()
    for reservation in held:
        # The goods leave the shelf: what was promised is now gone from both counts.
        issued = session.execute(
            update(Stock)
            .where(Stock.unit == unit.code, Stock.sku == reservation.sku, Stock.reserved >= reservation.quantity)
            .values(
                on_hand=Stock.on_hand - reservation.quantity,
                reserved=Stock.reserved - reservation.quantity,
                updated_at=now(),
            )
            .execution_options(synchronize_session=False)
        ).rowcount
        if issued != 1:
            raise RuntimeError(f"stock of {reservation.sku} at {unit.code} does not cover its reservation")
        reservation.status = "issued"
        reservation.updated_at = now()
    _send_packed(uow, task)


def _send_packed(uow: UnitOfWork, task: PackingTask) -> None:
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


def list_tasks(session: Session, unit: str, status: str = "open") -> list[PackingTask]:
    query = select(PackingTask).where(PackingTask.unit == unit).order_by(PackingTask.id)
    if status != "all":
        query = query.where(PackingTask.status == status)
    return list(session.scalars(query))


def task_view(task: PackingTask) -> dict[str, Any]:
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
