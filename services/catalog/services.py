"""Catalog's use cases: add and find products, count views and sales, reviews. No Flask, no Celery."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shared.messaging import UnitOfWork, now
from shared.web import ApiError

from .models import Category, Manufacturer, Product, Purchase, Review, Supplier

log = logging.getLogger("mall.catalog")

_ORDERINGS = {
    # Every ordering ends with the id so that pages never repeat or skip a product.
    None: (Product.id.asc(),),
    "price": (Product.price_cents.asc(), Product.id.asc()),
    "-price": (Product.price_cents.desc(), Product.id.asc()),
    "newest": (Product.created_at.desc(), Product.id.desc()),
    "hot": (Product.views.desc(), Product.id.asc()),
}


def _named(session: Session, model: type[Category | Manufacturer | Supplier], name: str):
    """The row called `name`, created on first use (two first uses at once: the loser reads the winner's)."""
    found = session.scalar(select(model).where(model.name == name))
    if found is not None:
        return found
    try:
        with session.begin_nested():
            found = model(name=name)
            session.add(found)
    except IntegrityError:
        found = session.scalar(select(model).where(model.name == name))
    return found


def create_product(session: Session, data: dict[str, Any]) -> Product:
    """Add a product; its category, manufacturer and supplier are created the first time they are named.

    A SKU already in the catalogue is a 409 `sku_taken`. Supermarket goods keep no unit: every branch
    that stocks them sells them, and the order saga picks the branch.
    """
    if session.scalar(select(Product.id).where(Product.sku == data["sku"])) is not None:
        raise _sku_taken(data["sku"])
    product = Product(
        sku=data["sku"],
        name=data["name"],
        price_cents=data["price"],
        category=_named(session, Category, data["category"]),
        manufacturer=_named(session, Manufacturer, data["manufacturer"]),
        supplier=_named(session, Supplier, data["supplier"]),
        division=data["division"],
        unit=None if data["division"] == "supermarket" else data["unit"],
        views=0,
        units_sold=0,
        created_at=now(),
    )
    try:
        with session.begin_nested():
            session.add(product)
    except IntegrityError as exc:  # the same SKU created at the same moment by another caller
        raise _sku_taken(data["sku"]) from exc
    return product


def _sku_taken(sku: str) -> ApiError:
    return ApiError(409, "sku_taken", f"A product with SKU {sku} already exists.")


def _named_like(model: type[Category | Manufacturer], name: str):
    # Names are few and short: matching them case-insensitively costs nothing, products use the id index.
    return select(model.id).where(func.lower(model.name) == name.lower())


def search_products(session: Session, query: dict[str, Any]) -> tuple[Sequence[Product], int]:
    """One page of products matching the query, and how many match in all.

    `q` is a case-insensitive substring of the name or the SKU; `category` and `manufacturer` are
    names; prices are integer cents. Orderings are stable: ties are broken by id.
    """
    filters = []
    if query.get("q"):
        needle = query["q"].lower()
        filters.append(
            or_(
                func.lower(Product.name).contains(needle, autoescape=True),
                func.lower(Product.sku).contains(needle, autoescape=True),
            )
        )
    if query.get("category"):
        filters.append(Product.category_id.in_(_named_like(Category, query["category"])))
    if query.get("manufacturer"):
        filters.append(Product.manufacturer_id.in_(_named_like(Manufacturer, query["manufacturer"])))
    if query.get("min_price") is not None:
        filters.append(Product.price_cents >= query["min_price"])
    if query.get("max_price") is not None:
        filters.append(Product.price_cents <= query["max_price"])

    total = session.scalar(select(func.count()).select_from(Product).where(*filters)) or 0
    page, per_page = query.get("page", 1), query.get("per_page", 20)
    items = session.scalars(
        select(Product)
        .where(*filters)
        .order_by(*_ORDERINGS[query.get("sort")])
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return items, total


def get_product(session: Session, product_id: int, *, count_view: bool = False) -> Product | None:
    """A product by id; `count_view` adds one view in a single UPDATE, so concurrent views all count."""
    if count_view:
        result = session.execute(
            update(Product)
            .where(Product.id == product_id)
            .values(views=Product.views + 1)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount == 0:
            return None
    return session.scalar(select(Product).where(Product.id == product_id).execution_options(populate_existing=True))


def lookup_products(session: Session, skus: list[str]) -> tuple[list[Product], list[str]]:
    """The products with these SKUs, in the order asked, and the SKUs the catalogue does not know."""
    wanted = list(dict.fromkeys(skus))
    found = {p.sku: p for p in session.scalars(select(Product).where(Product.sku.in_(wanted))).all()}
    return [found[s] for s in wanted if s in found], [s for s in wanted if s not in found]


def list_categories(session: Session) -> list[dict[str, Any]]:
    """Every category by name, with how many products it holds."""
    rows = session.execute(
        select(Category.name, func.count(Product.id))
        .outerjoin(Product, Product.category_id == Category.id)
        .group_by(Category.id, Category.name)
        .order_by(Category.name)
    ).all()
    return [{"name": name, "products": count} for name, count in rows]


def count_sales(uow: UnitOfWork, event: dict[str, Any]) -> None:
    """A completed order adds its quantities to `units_sold` (the inbox makes a redelivery count nothing),
    and lets its customer review what they bought."""
    _record_purchases(uow.session, event)
    quantities: dict[str, int] = {}
    for line in event["lines"]:
        quantities[line["sku"]] = quantities.get(line["sku"], 0) + line["quantity"]
    for sku, quantity in quantities.items():
        # One conditional UPDATE per SKU: concurrent orders add up, no read-then-write.
        result = uow.session.execute(
            update(Product)
            .where(Product.sku == sku)
            .values(units_sold=Product.units_sold + quantity)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount == 0:
            log.warning("order %s sold %s, which the catalogue does not know", event["order"], sku)


# --- reviews --------------------------------------------------------------------------------------


def _record_purchases(session: Session, event: dict[str, Any]) -> None:
    skus = sorted({line["sku"] for line in event["lines"]})
    if skus:
        bought = {"order": event["order"], "member_id": event["member_id"], "completed_at": event["completed_at"]}
        rows = [bought | {"sku": sku} for sku in skus]
        session.execute(insert(Purchase), rows)


def write_review(session: Session, product_id: int, review: dict[str, Any]) -> Review:
    """A member reviews a product they received: once per completed order that bought it.

    404 for an unknown product; 409 `not_purchased` when the member has no completed order of it (or not
    the one named), 409 `already_reviewed` when every such order has its review.
    """
    product = session.get(Product, product_id)
    if product is None:
        raise ApiError(404, "not_found", "Product was not found.")
    member = review["member_id"]
    bought = select(Purchase.order).where(Purchase.sku == product.sku, Purchase.member_id == member)
    if review["order"]:
        bought = bought.where(Purchase.order == review["order"])
    orders = session.scalars(bought.order_by(Purchase.completed_at, Purchase.id)).all()
    if not orders:
        raise ApiError(409, "not_purchased", "Only a customer who received this product can review it.")
    reviewed = set(
        session.scalars(select(Review.order).where(Review.product_id == product_id, Review.order.in_(orders)))
    )
    for order in (o for o in orders if o not in reviewed):
        row = Review(
            product_id=product_id,
            member_id=member,
            order=order,
            rating=review["rating"],
            text=review["text"],
            photos=review["photos"],
            created_at=now(),
        )
        try:
            with session.begin_nested():  # a savepoint: losing a race for this order leaves the next one
                session.add(row)
        except IntegrityError:  # another review of the member's took this order a moment ago
            continue
        return row
    raise ApiError(409, "already_reviewed", "This purchase has its review already.")


def reviews_of(session: Session, product_id: int, query: dict[str, Any]) -> tuple[list[Review], int, dict[str, Any]]:
    """A product's reviews, newest first (filtered by rating, or to those with photos), their count, and
    the product's rating over all its reviews: `{"average": 4.5 | None, "count": 12, "by_rating": {"5": 8, ...}}`."""
    if session.get(Product, product_id) is None:
        raise ApiError(404, "not_found", "Product was not found.")
    chosen = select(Review).where(Review.product_id == product_id)
    if query.get("rating"):
        chosen = chosen.where(Review.rating == query["rating"])
    if query.get("with_photos"):
        chosen = chosen.where(func.json_array_length(Review.photos) > 0)
    total = session.scalar(select(func.count()).select_from(chosen.subquery()))
    page, per_page = query.get("page", 1), query.get("per_page", 20)
    items = session.scalars(
        chosen.order_by(Review.created_at.desc(), Review.id.desc()).limit(per_page).offset((page - 1) * per_page)
    ).all()
    return list(items), total, rating_of(session, product_id)


def rating_of(session: Session, product_id: int) -> dict[str, Any]:
    counts = dict(
        session.execute(
            select(Review.rating, func.count()).where(Review.product_id == product_id).group_by(Review.rating)
        ).all()
    )
    count = sum(counts.values())
    average = round(sum(r * n for r, n in counts.items()) / count, 1) if count else None
    return {"average": average, "count": count, "by_rating": {str(r): counts.get(r, 0) for r in range(5, 0, -1)}}
