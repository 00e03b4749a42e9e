"""Orders' tables: the order, its lines, one fulfilment per unit, and the timeline of what happened."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shared.db import declarative_base
from shared.messaging import messaging_tables

Base = declarative_base()
messaging = messaging_tables(Base.metadata)


class Order(Base):
    __tablename__ = "orders"

    number: Mapped[str] = mapped_column(String(32), primary_key=True)
    member_id: Mapped[int] = mapped_column(Integer, index=True)
    status: Mapped[str] = mapped_column(String(24), index=True)
    payment_method: Mapped[str] = mapped_column(String(16))
    payment_status: Mapped[str] = mapped_column(String(16))
    total_cents: Mapped[int] = mapped_column(BigInteger)
    refunded_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    address: Mapped[dict[str, Any]] = mapped_column(JSON)
    cancel_reason: Mapped[str | None] = mapped_column(String(200))
    #: The invoice the customer asked for (`{kind, title, tax_id}`), or None.
    invoice: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    #: The saga waits for billing's answer until then (beat re-sends take_payment after it).
    payment_deadline_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    #: When its last parcel was signed for (cash on delivery: collected); receipt is confirmed
    #: automatically MALL_AUTO_RECEIPT_DAYS later if the customer has not confirmed it.
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    # Read-only collections: rows are written with their foreign keys set (services.place_order), so a
    # saga step's flush only looks at the rows it changed. With writable relationships every flush
    # walked all four tables' dependencies, a third of a step's CPU.
    lines: Mapped[list[OrderLine]] = relationship(order_by="OrderLine.id", viewonly=True)
    fulfilments: Mapped[list[Fulfilment]] = relationship(order_by="Fulfilment.id", viewonly=True)
    timeline: Mapped[list[TimelineEvent]] = relationship(order_by="TimelineEvent.id", viewonly=True)


class Fulfilment(Base):
    """The part of an order one unit (counter, branch, warehouse) reserves, packs and hands over."""

    __tablename__ = "fulfilments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_number: Mapped[str] = mapped_column(ForeignKey("orders.number"), index=True)
    unit: Mapped[str] = mapped_column(String(32), index=True)
    status: Mapped[str] = mapped_column(String(24), index=True)
    delivery: Mapped[str] = mapped_column(String(8))
    #: Units still worth trying if this one is short (supermarket lines), nearest or best-stocked first.
    candidates: Mapped[list[str]] = mapped_column(JSON, default=list)
    slip_no: Mapped[str | None] = mapped_column(String(64))
    waybill: Mapped[str | None] = mapped_column(String(64), index=True)
    carrier: Mapped[str | None] = mapped_column(String(32))
    purchase_notice: Mapped[str | None] = mapped_column(String(200))
    #: The command whose reply the saga is waiting for, and until when.
    waiting_for: Mapped[str | None] = mapped_column(String(48))
    deadline_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)

    lines: Mapped[list[OrderLine]] = relationship(order_by="OrderLine.id", viewonly=True)


class OrderLine(Base):
    __tablename__ = "order_lines"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_number: Mapped[str] = mapped_column(ForeignKey("orders.number"), index=True)
    fulfilment_id: Mapped[int | None] = mapped_column(ForeignKey("fulfilments.id"), index=True)
    sku: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price_cents: Mapped[int] = mapped_column(BigInteger)
    division: Mapped[str] = mapped_column(String(32))
    #: The unit that owns the product (counters, warehouse); supermarket products have none.
    owner_unit: Mapped[str | None] = mapped_column(String(32))

    @property
    def amount_cents(self) -> int:
        return self.quantity * self.unit_price_cents


class StrayHold(Base):
    """Stock a unit reserved for a fulfilment after the saga had moved it to another unit.

    The saga asks that unit to release it and waits for `stock.released` from there; `sweep_deadlines`
    asks again when the answer is late, so a lost release cannot leave stock held for no one.
    """

    __tablename__ = "stray_holds"

    fulfilment_id: Mapped[int] = mapped_column(ForeignKey("fulfilments.id"), primary_key=True)
    unit: Mapped[str] = mapped_column(String(32), primary_key=True)
    order_number: Mapped[str] = mapped_column(ForeignKey("orders.number"), index=True)
    deadline_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)


class Withdrawal(Base):
    """A delivery the saga asked logistics to withdraw (the order was cancelled after packing).

    Logistics answers `shipment.cancelled`, or the parcel was already handed over and
    `shipment.shipped` comes instead; until one of them does, `sweep_deadlines` asks again.
    """

    __tablename__ = "withdrawals"

    fulfilment_id: Mapped[int] = mapped_column(ForeignKey("fulfilments.id"), primary_key=True)
    order_number: Mapped[str] = mapped_column(ForeignKey("orders.number"), index=True)
    deadline_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)


class AfterSale(Base):
    """An after-sales case (售后): a customer's return, refund request or complaint about a delivered order.

    It concerns the goods of one unit (the department that agrees what to do), or none for a complaint
    about the service. Customer service or the unit agrees a refund (the customer keeps the goods) or a
    return (the goods come back first), or answers it without money; the money goes back through billing
    (`billing.refund_after_sale`, once per case) and returned goods onto the shelf through the unit
    (`stores.restock_return`). Each step is also a line in the order's timeline.
    """

    __tablename__ = "after_sales"
    __table_args__ = (UniqueConstraint("member_id", "idempotency_key", name="uq_after_sales_member_id_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_number: Mapped[str] = mapped_column(ForeignKey("orders.number"), index=True)
    member_id: Mapped[int] = mapped_column(Integer)
    #: The unit whose goods the case is about (None: a complaint about the service, for customer service).
    unit: Mapped[str | None] = mapped_column(String(32), index=True)
    #: What the customer asks for: "return" (goods back, money back), "refund" (money back, goods kept or
    #: never arrived) or "complaint" (an answer).
    kind: Mapped[str] = mapped_column(String(16))
    #: quality, damaged, lost, wrong_item, service or other.
    problem: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(500))
    #: JSON `[{"sku", "name", "quantity", "amount_cents"}]`: the goods concerned, at the price paid.
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    claimed_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    #: requested, awaiting_return, refunding, refunded or closed.
    status: Mapped[str] = mapped_column(String(16), index=True)
    #: What was agreed: "refund" or "return" (None until then, and for a case answered without money).
    resolution: Mapped[str | None] = mapped_column(String(16))
    refund_cents: Mapped[int | None] = mapped_column(BigInteger)
    #: Whether returned goods go back on sale (False: faulty goods, kept aside).
    restock: Mapped[bool | None] = mapped_column(Boolean)
    reply: Mapped[str | None] = mapped_column(String(500))
    handled_by: Mapped[str | None] = mapped_column(String(64))
    idempotency_key: Mapped[str | None] = mapped_column(String(100))
    #: The refund's reply deadline (billing.refund_after_sale is sent again after it), and tries so far.
    deadline_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: The same for putting returned goods back in stock (stores.restock_return).
    restock_deadline_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    restock_attempts: Mapped[int] = mapped_column(Integer, default=0)
    restocked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: The same for claiming a refunded loss in transit from the courier (logistics.claim_loss), and
    #: logistics' claim once it answered.
    claim_deadline_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    claim_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    claim_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class TimelineEvent(Base):
    __tablename__ = "timeline"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_number: Mapped[str] = mapped_column(ForeignKey("orders.number"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    event: Mapped[str] = mapped_column(String(300))
