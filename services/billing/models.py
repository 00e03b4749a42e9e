"""Billing's tables: wallets and movements, auctions' settlements, payments, the ledger of entries per unit,
each order's lines (for the three order copies and the sales report) and the monthly statements."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from shared.db import declarative_base
from shared.messaging import messaging_tables

Base = declarative_base()
messaging = messaging_tables(Base.metadata)


class Wallet(Base):
    __tablename__ = "wallets"

    member_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    balance_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class WalletMovement(Base):
    """Every change of a balance, with its reason: top-ups, order debits, refunds."""

    __tablename__ = "wallet_movements"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(Integer, index=True)
    delta_cents: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(200))
    order: Mapped[str | None] = mapped_column(String(32), index=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(100), unique=True)
    #: What the movement settles beyond an order, unique: "auction:<id>:buyer" and "auction:<id>:seller" for
    #: an auction's price, so that a re-sent `auction.sold` can never move it twice.
    reference: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AuctionSettlement(Base):
    """How billing settled one person-to-person auction (catalog's id): `paid` (the price moved from the
    buyer's balance to the seller's) or `failed` (the balance did not cover it). One per auction: a re-sent
    `auction.sold` gets the same answer again."""

    __tablename__ = "auction_settlements"

    auction_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seller_id: Mapped[int] = mapped_column(Integer, index=True)
    buyer_id: Mapped[int] = mapped_column(Integer, index=True)
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))
    failure: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Payment(Base):
    """One payment per order: pending (online), cod, captured, failed or refunded."""

    __tablename__ = "payments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order: Mapped[str] = mapped_column(String(32), unique=True)
    member_id: Mapped[int] = mapped_column(Integer, index=True)
    method: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    refunded_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    out_trade_no: Mapped[str | None] = mapped_column(String(64), unique=True)
    #: The provider's own number for an online payment's trade (Alipay's `trade_no`), once it has told us.
    trade_no: Mapped[str | None] = mapped_column(String(64), unique=True)
    #: JSON `[{"unit", "amount_cents"}]`: what each unit is owed once the payment is captured (an online
    #: payment is captured later, by the provider's notification, and its ledger entries are written then).
    shares: Mapped[str | None] = mapped_column(Text)
    failure: Mapped[str | None] = mapped_column(String(200))
    #: JSON `{"kind", "title", "tax_id"}`: the invoice the customer asked for (finance issues it), or None.
    invoice: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    captured_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    refunded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class LedgerEntry(Base):
    """A billing entry: what one unit is owed (sale) or gives back (refund) for one order."""

    __tablename__ = "ledger_entries"
    __table_args__ = (
        UniqueConstraint("order", "unit", "kind", "reference", name="uq_ledger_entries_order_unit_kind_reference"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order: Mapped[str] = mapped_column(String(32), index=True)
    unit: Mapped[str] = mapped_column(String(32), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(200))
    #: What else the entry is for, beyond its order: "after-sale:<case>" for an after-sales refund ("" for
    #: the order's own sale and its refund at a cancel). One entry per order, unit, kind and reference.
    reference: Mapped[str] = mapped_column(String(40), default="", server_default="")
    #: When the money moved: the month a statement counts the entry in (hence the index).
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class OrderLine(Base):
    """One line of an order as billing was told with its payment: what, how many, for how much, from which unit.

    The website, department and finance copies of the order and the monthly sales report are read from these.
    """

    __tablename__ = "order_lines"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order: Mapped[str] = mapped_column(String(32), index=True)
    sku: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    unit: Mapped[str] = mapped_column(String(32))
    quantity: Mapped[int] = mapped_column(Integer)
    amount_cents: Mapped[int] = mapped_column(BigInteger)


class RefundLine(Base):
    """What an after-sales refund gave back for one product: pieces returned (0: the customer kept them, or
    never got them) and money. The sales report takes them off the month the refund was paid out."""

    __tablename__ = "refund_lines"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order: Mapped[str] = mapped_column(String(32), index=True)
    unit: Mapped[str] = mapped_column(String(32))
    reference: Mapped[str] = mapped_column(String(40))
    sku: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    quantity: Mapped[int] = mapped_column(Integer)
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class Statement(Base):
    """What the mall settles with one unit for one calendar month (mall time zone): built on the 15th for the
    month before, or again by finance; building a month again replaces its rows."""

    __tablename__ = "statements"
    __table_args__ = (UniqueConstraint("unit", "month", name="uq_statements_unit_month"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    unit: Mapped[str] = mapped_column(String(32))
    month: Mapped[str] = mapped_column(String(7), index=True)  # "2026-10"
    orders: Mapped[int] = mapped_column(Integer)
    gross_cents: Mapped[int] = mapped_column(BigInteger)
    refunds_cents: Mapped[int] = mapped_column(BigInteger)
    parcels: Mapped[int] = mapped_column(Integer)
    logistics_cost_cents: Mapped[int] = mapped_column(BigInteger)
    insurance_cents: Mapped[int] = mapped_column(BigInteger)
    #: What couriers paid that month on loss claims for the unit's parcels (credited back to it).
    claims_cents: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    net_payable_cents: Mapped[int] = mapped_column(BigInteger)
    built_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Settlement(Base):
    """That a month's statements were built, and when: kept even for a month with nothing to settle, so
    that the hourly job knows the month is done (`services.settlement_due`)."""

    __tablename__ = "settlements"

    month: Mapped[str] = mapped_column(String(7), primary_key=True)  # "2026-10"
    units: Mapped[int] = mapped_column(Integer)
    built_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
