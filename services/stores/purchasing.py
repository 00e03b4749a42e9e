"""Purchasing (B2C 采购): purchase orders for a unit's goods. No Flask, no Celery.

A purchase order is written (draft: goods, quantities, costs, supplier, buyer, how the goods come and
how the supplier is paid, and the day they are due, which must be after today), confirmed, received
and settled. Receiving is a stock-in of every line at the order's unit in one transaction: on hand
rises, the unit's open external purchase notices for those goods are fulfilled, and orders waiting in
`awaiting_stock` hear `stock.replenished` and ask again. Staff work, so the ORM throughout.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.messaging import UnitOfWork, now
from shared.money import format_cents
from shared.web import ApiError

from . import services
from .models import PurchaseOrder, PurchaseOrderLine

#: status -> the statuses it may move to.
MOVES = {
    "draft": {"confirmed", "cancelled"},
    "confirmed": {"received", "cancelled"},
    "received": {"settled"},
    "settled": set(),
    "cancelled": set(),
}


#: The most of one SKU a purchase order may bring in (the same bound as one stock-in).
MAX_PER_SKU = 1_000_000


def _due_after_today(deliver_by: date, timezone: str) -> None:
    """422 unless the delivery day is after today in the mall's time zone (DOMAIN.md)."""
    today = now().astimezone(ZoneInfo(timezone)).date()
    if deliver_by <= today:
        raise ApiError(
            422,
            "validation_error",
            "Some fields are not valid.",
            {"deliver_by": [f"Must be after today ({today.isoformat()})."]},
        )


def create(session: Session, data: dict[str, Any], buyer: str, timezone: str) -> PurchaseOrder:
    """A draft purchase order; 404 for an unknown unit, 422 for a delivery day not after today (mall time)
    or more than MAX_PER_SKU of one SKU."""
    if not services.unit_known(session, data["unit"]):
        raise services.UnknownUnit(data["unit"])
    _due_after_today(data["deliver_by"], timezone)
    per_sku: dict[str, int] = {}
    for line in data["lines"]:
        per_sku[line["sku"]] = per_sku.get(line["sku"], 0) + line["quantity"]
    too_many = sorted(sku for sku, quantity in per_sku.items() if quantity > MAX_PER_SKU)
    if too_many:
        raise ApiError(
            422,
            "validation_error",
            "Some fields are not valid.",
            {"lines": [f"At most {MAX_PER_SKU:,} of one SKU in an order ({', '.join(too_many)})."]},
        )
    order = PurchaseOrder(
        unit=data["unit"],
        supplier=data["supplier"],
        buyer=buyer,
        delivery_method=data["delivery_method"],
        settlement_method=data["settlement_method"],
        deliver_by=data["deliver_by"],
        status="draft",
        note=data.get("note"),
        created_at=now(),
    )
    session.add(order)
    session.flush()
    session.add_all(
        PurchaseOrderLine(
            purchase_order_id=order.id, sku=line["sku"], quantity=line["quantity"], unit_cost_cents=line["unit_cost"]
        )
        for line in data["lines"]
    )
    session.flush()
    session.refresh(order)
    return order


def _locked(session: Session, order_id: int) -> PurchaseOrder:
    order = session.scalar(select(PurchaseOrder).where(PurchaseOrder.id == order_id).with_for_update())
    if order is None:
        raise ApiError(404, "not_found", "Purchase order was not found.")
    return order


def _move(order: PurchaseOrder, to: str) -> bool:
    """Move to `to`; False when it is there already (a repeated request changes nothing), 409 if it cannot."""
    if order.status == to:
        return False
    if to not in MOVES[order.status]:
        raise ApiError(409, "not_allowed", f"A {order.status} purchase order cannot become {to}.")
    order.status = to
    if to != "cancelled":
        setattr(order, f"{to}_at", now())  # confirmed_at, received_at, settled_at
    return True


def confirm(session: Session, order_id: int, timezone: str) -> PurchaseOrder:
    """A draft whose delivery day has passed since it was written is not confirmed (422): change it first."""
    order = _locked(session, order_id)
    if order.status == "draft":
        _due_after_today(order.deliver_by, timezone)
    _move(order, "confirmed")
    return order


def receive(uow: UnitOfWork, order_id: int) -> PurchaseOrder:
    """Goods received: every line is a stock-in at the order's unit, once (the order's row is locked, so
    two clicks at once receive once)."""
    order = _locked(uow.session, order_id)
    if _move(order, "received"):
        per_sku: dict[str, int] = {}
        for line in order.lines:
            per_sku[line.sku] = per_sku.get(line.sku, 0) + line.quantity
        # In SKU order, as every other lock of stock rows (check_stock): two transactions never wait
        # for each other's rows in opposite orders.
        for sku in sorted(per_sku):
            services.stock_in(uow, order.unit, sku, per_sku[sku])
    return order


def settle(session: Session, order_id: int) -> PurchaseOrder:
    order = _locked(session, order_id)
    _move(order, "settled")
    return order


def cancel(session: Session, order_id: int) -> PurchaseOrder:
    order = _locked(session, order_id)
    _move(order, "cancelled")
    return order


def find(session: Session, order_id: int) -> PurchaseOrder:
    order = session.get(PurchaseOrder, order_id)
    if order is None:
        raise ApiError(404, "not_found", "Purchase order was not found.")
    return order


def list_orders(session: Session, unit: str | None = None, status: str | None = None) -> list[PurchaseOrder]:
    query = select(PurchaseOrder).order_by(PurchaseOrder.id.desc())
    if unit:
        query = query.where(PurchaseOrder.unit == unit)
    if status:
        query = query.where(PurchaseOrder.status == status)
    return list(session.scalars(query.limit(500)))


def _iso(moment: datetime | None) -> str | None:
    return services.aware(moment).isoformat() if moment else None


def view(order: PurchaseOrder) -> dict[str, Any]:
    lines = [
        {
            "sku": line.sku,
            "quantity": line.quantity,
            "unit_cost": format_cents(line.unit_cost_cents),
            "amount": format_cents(line.quantity * line.unit_cost_cents),
        }
        for line in order.lines
    ]
    deliver_by: date = order.deliver_by
    return {
        "id": order.id,
        "unit": order.unit,
        "supplier": order.supplier,
        "buyer": order.buyer,
        "delivery_method": order.delivery_method,
        "settlement_method": order.settlement_method,
        "deliver_by": deliver_by.isoformat(),
        "status": order.status,
        "note": order.note,
        "lines": lines,
        "total": format_cents(sum(line.quantity * line.unit_cost_cents for line in order.lines)),
        "created_at": _iso(order.created_at),
        "confirmed_at": _iso(order.confirmed_at),
        "received_at": _iso(order.received_at),
        "settled_at": _iso(order.settled_at),
    }
