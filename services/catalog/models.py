"""Catalog's tables: categories, manufacturers, suppliers, the products that belong to them, their reviews and
inquiries, and members' person-to-person auctions with their bids."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
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


INQUIRY_STATUSES = ("open", "answered")


class Inquiry(Base):
    """A customer's question about a product before buying it (咨询): is it in stock, when does more come, a
    detail the page does not give. The unit that sells the product (or customer service) answers it once,
    with how many it can supply if it says (DOMAIN.md's worked example: C confirms stock, B answers A).

    Answered inquiries are shown on the product's page (as 问大家), the asker masked, unless the asker
    asked with `public` false. An answer is final: a follow-up is a new inquiry.
    """

    __tablename__ = "inquiries"
    __table_args__ = (
        # The member's own list (newest first) and the limits on open inquiries per member and product.
        Index("ix_inquiries_member_id_created_at", "member_id", "created_at"),
        # The product page's answered questions, newest answer first.
        Index("ix_inquiries_product_id_answered_at", "product_id", "answered_at"),
        # The staff's queue: open inquiries, oldest first.
        Index("ix_inquiries_status_created_at", "status", "created_at"),
        UniqueConstraint("member_id", "idempotency_key", name="uq_inquiries_member_id_idempotency_key"),
        CheckConstraint("status IN ('open', 'answered')", name="status_known"),
        CheckConstraint("quantity IS NULL OR quantity > 0", name="quantity_positive"),
        CheckConstraint("available IS NULL OR available >= 0", name="available_not_negative"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    member_id: Mapped[int] = mapped_column(Integer)
    question: Mapped[str] = mapped_column(Text)
    #: How many the customer would like to buy, when stock is the question.
    quantity: Mapped[int | None] = mapped_column(Integer)
    #: Whether the question and its answer may be shown on the product's page (the asker masked).
    public: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(16))
    answer: Mapped[str | None] = mapped_column(Text)
    #: How many the unit said it can supply when it answered: a statement at that moment, not a reservation.
    available: Mapped[int | None] = mapped_column(Integer)
    #: Who answered (a username), and for which unit (none when customer service answered).
    answered_by: Mapped[str | None] = mapped_column(String(64))
    answered_unit: Mapped[str | None] = mapped_column(String(32))
    #: The customer's Idempotency-Key when asking: the same key again returns this inquiry.
    idempotency_key: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    answered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    product: Mapped[Product] = relationship(lazy="joined", innerjoin=True)


AUCTION_STATUSES = ("open", "cancelled", "failed", "sold", "paid", "unpaid")

#: How much a bid must raise the highest one, by the price reached (cents): below 100.00 at least 1.00,
#: below 1,000.00 at least 5.00, below 5,000.00 at least 10.00, from there on at least 50.00. A step
#: that grows with the price keeps bidding quick on dear items and affordable on cheap ones.
BID_INCREMENTS = ((10_000, 100), (100_000, 500), (500_000, 1_000))
TOP_BID_INCREMENT = 5_000


def bid_increment(price_cents: int) -> int:
    """The least raise over a highest bid of `price_cents`."""
    for below, step in BID_INCREMENTS:
        if price_cents < below:
            return step
    return TOP_BID_INCREMENT


class Auction(Base):
    """A member's item sold to the highest bidder (DOMAIN.md's C2C auction, 拍卖).

    `open` until `ends_at`; then `sold` to the highest bidder when that bid is above the reserve, else
    `failed`. A sold auction waits for billing to move the price from the buyer's balance to the seller's
    (`paid`) or to say the buyer could not cover it (`unpaid`); until one of those answers comes, the
    closing job sends `auction.sold` again after `settle_deadline_at`. The seller may cancel an auction
    without bids (`cancelled`). The highest bid is kept on the row so that a bid is one locked row.
    """

    __tablename__ = "auctions"
    __table_args__ = (
        # The closing job's scans: open auctions past their end, sold ones past their settlement deadline.
        Index("ix_auctions_status_ends_at", "status", "ends_at"),
        Index("ix_auctions_status_settle_deadline_at", "status", "settle_deadline_at"),
        UniqueConstraint("seller_id", "idempotency_key", name="uq_auctions_seller_id_idempotency_key"),
        CheckConstraint("reserve_price_cents > starting_price_cents", name="reserve_above_start"),
        CheckConstraint("starting_price_cents > 0", name="starting_price_positive"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seller_id: Mapped[int] = mapped_column(Integer, index=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    starting_price_cents: Mapped[int] = mapped_column(BigInteger)
    #: Never shown to bidders (as auction sites keep it): they see only whether the highest bid is above it.
    reserve_price_cents: Mapped[int] = mapped_column(BigInteger)
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16))
    highest_bid_cents: Mapped[int | None] = mapped_column(BigInteger)
    highest_bidder_id: Mapped[int | None] = mapped_column(Integer)
    bid_count: Mapped[int] = mapped_column(Integer, default=0)
    #: Why a closed auction did not sell (`no_bids`, `reserve_not_met`), or why it is unpaid (billing's word).
    outcome: Mapped[str | None] = mapped_column(String(200))
    #: The seller's Idempotency-Key when listing it: the same key again returns this auction.
    idempotency_key: Mapped[str | None] = mapped_column(String(100))
    #: How often `auction.sold` was sent, and when to send it again if billing has not answered.
    settle_attempts: Mapped[int] = mapped_column(Integer, default=0)
    settle_deadline_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    settled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    def min_next_bid(self) -> int:
        """The least the next bid may be: the starting price for the first, else the highest plus its step."""
        if self.highest_bid_cents is None:
            return self.starting_price_cents
        return self.highest_bid_cents + bid_increment(self.highest_bid_cents)

    def reserve_met(self) -> bool:
        """Whether the highest bid would sell the item now: strictly above the reserve (DOMAIN.md)."""
        return self.highest_bid_cents is not None and self.highest_bid_cents > self.reserve_price_cents


class Bid(Base):
    """One accepted bid; every bid is above the one before, so an auction's amounts are unique."""

    __tablename__ = "bids"
    __table_args__ = (
        UniqueConstraint("auction_id", "amount_cents", name="uq_bids_auction_id_amount_cents"),
        UniqueConstraint("bidder_id", "idempotency_key", name="uq_bids_bidder_id_idempotency_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    auction_id: Mapped[int] = mapped_column(ForeignKey("auctions.id"), index=True)
    bidder_id: Mapped[int] = mapped_column(Integer, index=True)
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    idempotency_key: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
