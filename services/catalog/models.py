"""Catalog's tables: categories, manufacturers, suppliers, the products that belong to them, and their reviews."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shared.db import declarative_base
from shared.messaging import messaging_tables

Base = declarative_base()
messaging = messaging_tables(Base.metadata)

DIVISIONS = ("department_store", "supermarket", "electronics")


class Category(Base):
    """A shelf of the shop (TVs, cosmetics, rice and oil): created the first time a product names it, or by an
    administrator ahead of its products; removed only while no product names it."""

    __tablename__ = "categories"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)


class Manufacturer(Base):
    __tablename__ = "manufacturers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)


class Supplier(Base):
    __tablename__ = "suppliers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)


class Product(Base):
    """One product the mall sells; `unit` is the counter or warehouse that owns it (none for supermarket goods).

    A product is never deleted: orders, reviews, sales reports and statements name its SKU. Removing it
    withdraws it from sale (`withdrawn_at`): it leaves search and cannot be ordered, its page and
    reviews stay readable, and it can be put back on sale.
    """

    __tablename__ = "products"
    __table_args__ = (
        # Browsing a category is the most common search; these let it filter and sort without a scan.
        Index("ix_products_category_price", "category_id", "price_cents"),
        Index("ix_products_category_views", "category_id", "views"),
        Index("ix_products_manufacturer_price", "manufacturer_id", "price_cents"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sku: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    price_cents: Mapped[int] = mapped_column(BigInteger, index=True)
    category_id: Mapped[int] = mapped_column(ForeignKey("categories.id"))
    manufacturer_id: Mapped[int] = mapped_column(ForeignKey("manufacturers.id"))
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id"), index=True)
    division: Mapped[str] = mapped_column(String(32))
    unit: Mapped[str | None] = mapped_column(String(32))
    views: Mapped[int] = mapped_column(BigInteger, default=0, index=True)
    units_sold: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    #: When an administrator withdrew it from sale; NULL while it is on sale.
    withdrawn_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    @property
    def on_sale(self) -> bool:
        return self.withdrawn_at is None

    # Many-to-one and always shown with the product: load them in the same query.
    category: Mapped[Category] = relationship(lazy="joined", innerjoin=True)
    manufacturer: Mapped[Manufacturer] = relationship(lazy="joined", innerjoin=True)
    supplier: Mapped[Supplier] = relationship(lazy="joined", innerjoin=True)


class Purchase(Base):
    """A product a member bought in a completed order (from `order.completed`): what they may review."""

    __tablename__ = "purchases"
    __table_args__ = (UniqueConstraint("order", "sku", name="uq_purchases_order_sku"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order: Mapped[str] = mapped_column(String(32))
    sku: Mapped[str] = mapped_column(String(64))
    member_id: Mapped[int] = mapped_column(Integer, index=True)
    completed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Review(Base):
    """A customer's review of a product they bought (晒单: with photos): one per product per order."""

    __tablename__ = "reviews"
    __table_args__ = (
        UniqueConstraint("order", "product_id", name="uq_reviews_order_product_id"),
        Index("ix_reviews_product_id_rating", "product_id", "rating"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    member_id: Mapped[int] = mapped_column(Integer, index=True)
    #: Only the reviewer's own orders are named to them; others see the review without it.
    order: Mapped[str] = mapped_column(String(32))
    rating: Mapped[int] = mapped_column(SmallInteger)
    text: Mapped[str] = mapped_column(Text)
    photos: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
