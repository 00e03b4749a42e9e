"""The gateway's tables: people and their roles, login failures, the administrator log, placed-order references,
members' delivery addresses and carts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from shared.db import declarative_base
from shared.messaging import messaging_tables

Base = declarative_base()
messaging = messaging_tables(Base.metadata)

ROLES = ("customer", "staff", "courier", "customer_service", "finance", "admin", "superadmin")
#: Every role but the members': staff accounts, which administrators list, disable and change.
STAFF_ROLES = tuple(r for r in ROLES if r != "customer")


class User(Base):
    """A member (customer) or a staff account; `username_key` makes names unique whatever their case."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64))
    username_key: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(32))
    role: Mapped[str] = mapped_column(String(32), index=True)
    #: The unit a `staff` account works at (its packing tasks); empty for every other role.
    unit: Mapped[str | None] = mapped_column(String(32))
    #: Part of every token; a password change bumps it, so tokens issued before stop working.
    token_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    #: When an administrator disabled the (staff) account; NULL while it is active. A disabled account keeps
    #: its row, its name and its history (the administrator log and orders' timelines name it) but cannot log
    #: in, and its tokens stop working (services.identify reads this with the token's version).
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: The last successful log-in, written by the log-in's own transaction (no extra round trip).
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class LoginFailure(Base):
    """One failed login, by username and by client address; counted per minute to slow down guessing."""

    __tablename__ = "login_failures"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    key: Mapped[str] = mapped_column(String(128), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class AdminLogEntry(Base):
    """One administrator action: who did what, to what, when."""

    __tablename__ = "admin_log"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    actor: Mapped[str] = mapped_column(String(64), index=True)
    action: Mapped[str] = mapped_column(String(64), index=True)
    target: Mapped[str] = mapped_column(String(200), index=True)
    detail: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class OrderRef(Base):
    """An order the gateway accepted and sent to orders: the idempotency record and the view until orders knows it."""

    __tablename__ = "order_refs"
    __table_args__ = (UniqueConstraint("member_id", "idempotency_key", name="uq_order_refs_member_id_key"),)

    number: Mapped[str] = mapped_column(String(32), primary_key=True)
    member_id: Mapped[int] = mapped_column(Integer, index=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(100))
    request_hash: Mapped[str] = mapped_column(String(64))
    total_cents: Mapped[int] = mapped_column(BigInteger)
    #: JSON: {"lines": [...], "address": {...}, "payment_method": "..."} as sent to orders.
    snapshot: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    #: When orders should have the order by; past it the gateway asks orders and sends `orders.place_order`
    #: again if orders does not have it (services.confirm_or_resend). NULL once orders is known to have it.
    confirm_by: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    #: How many times the gateway sent `orders.place_order` again (each re-send waits twice as long).
    resends: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class Address(Base):
    """A member's saved delivery address (DOMAIN.md: "manage delivery addresses"); one of them is the default.

    The partial unique index keeps at most one default per member, whatever two requests do at once;
    the use cases keep exactly one while the member has any (cart_services).
    """

    __tablename__ = "addresses"
    __table_args__ = (
        Index(
            "uq_addresses_default_per_member",
            "member_id",
            unique=True,
            sqlite_where=text("is_default"),
            postgresql_where=text("is_default"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(Integer, index=True)
    name: Mapped[str] = mapped_column(String(100))
    phone: Mapped[str] = mapped_column(String(32))
    city: Mapped[str] = mapped_column(String(64))
    line: Mapped[str] = mapped_column(String(200))
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CartItem(Base):
    """One line of a member's cart: a SKU and how many. No price: a cart is priced from the catalogue when
    shown and when checked out, so it never holds a price the catalogue no longer asks."""

    __tablename__ = "cart_items"

    member_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sku: Mapped[str] = mapped_column(String(64), primary_key=True)
    quantity: Mapped[int] = mapped_column(Integer)
    #: When the SKU was put in the cart: the cart lists its lines in that order.
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class PasswordReset(Base):
    """A password reset a member asked for: the emailed token's SHA-256 (never the token), until when it
    works, and when it was used (once)."""

    __tablename__ = "password_resets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
