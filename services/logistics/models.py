"""Logistics' tables: shipments (one per fulfilment), local delivery batches and partners' tracking events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shared.db import declarative_base
from shared.messaging import messaging_tables

Base = declarative_base()
messaging = messaging_tables(Base.metadata)

#: Statuses before the parcel leaves the mall's hands: the saga may still withdraw these. Any other
#: (picked up, in transit, delivered, or a problem, return or refusal the courier reported) has left.
BEFORE_HAND_OVER = ("awaiting_batch", "ready", "booked")


class Batch(Base):
    """One of the day's local delivery runs ("B20261124-1"): open while parcels join it, closed at the cut-off."""

    __tablename__ = "batches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    status: Mapped[str] = mapped_column(String(16), index=True)  # open | closed
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_by: Mapped[str | None] = mapped_column(String(64))


class Shipment(Base):
    """How one fulfilment (one unit's parcel of an order) reaches the customer.

    Local: awaiting_batch -> ready (batch closed) -> picked_up (courier signed at the counter) -> delivered.
    Courier: booked (waybill) -> in_transit -> delivered, or problem / returning / returned, from tracking.
    Either may be cancelled before hand-over.
    """

    __tablename__ = "shipments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order: Mapped[str] = mapped_column(String(32), index=True)
    fulfilment_id: Mapped[int] = mapped_column(Integer, unique=True)
    unit: Mapped[str] = mapped_column(String(32))
    delivery: Mapped[str] = mapped_column(String(16))  # local | courier
    address: Mapped[dict[str, Any]] = mapped_column(JSON)
    declared_value_cents: Mapped[int] = mapped_column(BigInteger)
    insurance_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    #: What delivering it costs the mall (the courier company's charge, or the local delivery fee), fixed
    #: from the settings when it is booked; finance charges it to the unit in its monthly statement.
    delivery_fee_cents: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    cod_amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    status: Mapped[str] = mapped_column(String(16), index=True)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("batches.id"), index=True)
    waybill: Mapped[str | None] = mapped_column(String(64), unique=True)
    carrier: Mapped[str | None] = mapped_column(String(32))
    picked_up_by: Mapped[str | None] = mapped_column(String(64))
    signature: Mapped[str | None] = mapped_column(String(200))
    delivered_by: Mapped[str | None] = mapped_column(String(64))
    signed_by: Mapped[str | None] = mapped_column(String(100))
    shipped_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_event_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    batch: Mapped[Batch | None] = relationship(lazy="joined")


class WithdrawnBeforeBooking(Base):
    """A fulfilment whose delivery the saga withdrew before logistics had booked it.

    The cancel and the booking command can cross (a booking retried after the courier failed to
    answer, say): the cancel answers "cancelled" at once, and this row makes the booking that comes
    after it answer the same instead of booking a pickup for a cancelled order.
    """

    __tablename__ = "withdrawn_before_booking"

    fulfilment_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order: Mapped[str] = mapped_column(String(32))
    withdrawn_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class TrackingEvent(Base):
    """One event a partner reported about a waybill; the unique key makes a repeated report add nothing."""

    __tablename__ = "tracking_events"
    __table_args__ = (
        UniqueConstraint("waybill", "at", "state", "detail", name="uq_tracking_events_waybill_at_state_detail"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    waybill: Mapped[str] = mapped_column(String(64))  # the unique key below leads with it: no index of its own
    source: Mapped[str] = mapped_column(String(32))
    state: Mapped[int] = mapped_column(Integer)
    detail: Mapped[str] = mapped_column(String(500))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class LossClaim(Base):
    """A claim on the courier for a parcel lost or damaged in transit, under the insurance its premium paid
    for (DOMAIN.md: 3‰ to 5‰ of the declared value): one per after-sales case (orders' id) that refunded
    the customer. Customer service or finance records what the courier paid, or that it refused; what it
    paid goes back to the unit in the month it was paid (`services.costs`)."""

    __tablename__ = "loss_claims"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(Integer, unique=True)
    order: Mapped[str] = mapped_column(String(32), index=True)
    fulfilment_id: Mapped[int] = mapped_column(Integer)
    unit: Mapped[str] = mapped_column(String(32))
    waybill: Mapped[str | None] = mapped_column(String(64))
    carrier: Mapped[str | None] = mapped_column(String(32))
    problem: Mapped[str] = mapped_column(String(16))  # lost | damaged
    declared_value_cents: Mapped[int] = mapped_column(BigInteger)
    premium_cents: Mapped[int] = mapped_column(BigInteger)
    #: What the customer was refunded; the claim asks for that, at most the declared value.
    refunded_cents: Mapped[int] = mapped_column(BigInteger)
    claimed_cents: Mapped[int] = mapped_column(BigInteger)
    #: open, paid, rejected, not_insured (booked without a premium) or withdrawn (a "lost" parcel signed for
    #: after all).
    status: Mapped[str] = mapped_column(String(16), index=True)
    paid_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    note: Mapped[str | None] = mapped_column(String(500))
    settled_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    #: When the courier paid (or refused): the month a paid claim is credited to the unit in.
    settled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
