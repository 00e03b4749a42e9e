"""Stores' tables: units, stock per unit and SKU, reservations, packing tasks, purchase notices and orders."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shared.db import declarative_base
from shared.messaging import messaging_tables

Base = declarative_base()
messaging = messaging_tables(Base.metadata)


class Unit(Base):
    """A fulfilment unit: a department-store counter, a supermarket branch or the electronics warehouse."""

    __tablename__ = "units"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16))  # counter | branch | warehouse
    division: Mapped[str] = mapped_column(String(32), index=True)
    city: Mapped[str] = mapped_column(String(64))
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    # Township branches take their orders by fax: a printable document instead of the task queue.
    channel: Mapped[str] = mapped_column(String(8), default="queue")
    auto_pack: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Stock(Base):
    """What one unit holds of one SKU; `reserved` is promised to fulfilments but still on the shelf."""

    __tablename__ = "stock"
    # The database itself refuses an oversell, whatever the code above it does.
    __table_args__ = (
        CheckConstraint("reserved >= 0", name="reserved_not_negative"),
        CheckConstraint("on_hand >= reserved", name="on_hand_covers_reserved"),
    )

    unit: Mapped[str] = mapped_column(String(32), ForeignKey("units.code"), primary_key=True)
    sku: Mapped[str] = mapped_column(String(64), primary_key=True)
    on_hand: Mapped[int] = mapped_column(Integer, default=0)
    reserved: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Reservation(Base):
    """Stock held for one line of a fulfilment: held, then issued when packed, or released on cancel."""

    __tablename__ = "reservations"
    # Per unit: a fulfilment moved to another branch (a short or silent unit) may hold stock at both
    # for a moment, until the saga releases the one it moved away from.
    __table_args__ = (UniqueConstraint("fulfilment_id", "unit", "sku", name="uq_reservations_fulfilment_unit_sku"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order: Mapped[str] = mapped_column(String(32), index=True)
    fulfilment_id: Mapped[int] = mapped_column(Integer, index=True)
    unit: Mapped[str] = mapped_column(String(32), index=True)
    sku: Mapped[str] = mapped_column(String(64))
    quantity: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))  # held | issued | released
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class PackingTask(Base):
    """One fulfilment to pack at one unit; done means a slip was issued and the stock left the shelf."""

    __tablename__ = "packing_tasks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order: Mapped[str] = mapped_column(String(32), index=True)
    fulfilment_id: Mapped[int] = mapped_column(Integer, unique=True)
    unit: Mapped[str] = mapped_column(String(32), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)  # open | done | cancelled
    delivery: Mapped[str] = mapped_column(String(16))  # local | courier
    items: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    fax_document: Mapped[str | None] = mapped_column(Text)
    slip_no: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    packed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class PurchaseNotice(Base):
    """An external purchase notice (缺货外采通知): purchasing must buy what a unit could not serve."""

    __tablename__ = "purchase_notices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    unit: Mapped[str] = mapped_column(String(32), index=True)
    sku: Mapped[str] = mapped_column(String(64))
    quantity: Mapped[int] = mapped_column(Integer)
    order: Mapped[str] = mapped_column(String(32), index=True)
    status: Mapped[str] = mapped_column(String(16))  # open | fulfilled
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    fulfilled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class PurchaseOrder(Base):
    """A purchase order (B2C 采购): goods bought from a supplier for one unit, confirmed, received (stock-in:
    on hand rises, orders waiting for the goods resume), then settled with the supplier."""

    __tablename__ = "purchase_orders"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    unit: Mapped[str] = mapped_column(String(32), index=True)
    supplier: Mapped[str] = mapped_column(String(100))
    #: Who buys (the purchasing staff's username).
    buyer: Mapped[str] = mapped_column(String(64))
    delivery_method: Mapped[str] = mapped_column(String(24))  # supplier_delivers | we_collect
    settlement_method: Mapped[str] = mapped_column(String(16))  # cash | transfer | monthly
    #: The day the goods are due; after the day the order was written (mall time zone).
    deliver_by: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), index=True)  # draft | confirmed | received | settled | cancelled
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    settled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    lines: Mapped[list[PurchaseOrderLine]] = relationship(order_by="PurchaseOrderLine.id", lazy="selectin")


class PurchaseOrderLine(Base):
    __tablename__ = "purchase_order_lines"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    purchase_order_id: Mapped[int] = mapped_column(ForeignKey("purchase_orders.id"), index=True)
    sku: Mapped[str] = mapped_column(String(64))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_cost_cents: Mapped[int] = mapped_column(BigInteger)


class ReturnedGoods(Base):
    """Goods a customer sent back under an after-sales case (orders' id), put back on the unit's shelf once."""

    __tablename__ = "returned_goods"

    case_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    order: Mapped[str] = mapped_column(String(32), index=True)
    unit: Mapped[str] = mapped_column(String(32))
    #: JSON `[{"sku", "quantity"}]`.
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    restocked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
