"""Catalog's use cases: add, change, withdraw and find products, categories, manufacturers and suppliers, count
views and sales, reviews. No Flask, no Celery."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shared.messaging import UnitOfWork, now
from shared.money import format_cents
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
    """The row called `name`, created on first use (two first uses at once: the loser reads the winner's).

    The row is read FOR SHARE: an administrator removing that category at this moment (delete_category
    locks it FOR UPDATE) waits for this product, then sees it and refuses, instead of the product
    failing on a category gone under it.
    """
    named = select(model).where(model.name == name).with_for_update(read=True)
    found = session.scalar(named)
    if found is not None:
        return found
    # The same name in another case is the same shelf ("TVs", "tvs"): search matches names whatever their
    # case, and a category an administrator added is refused in another case (409 category_exists).
    other_case = (
        select(model)
        .where(func.lower(model.name) == name.lower())
        .order_by(model.id)
        .limit(1)
        .with_for_update(read=True)
    )
    found = session.scalar(other_case)
    if found is not None:
        return found
    try:
        with session.begin_nested():
            found = model(name=name)
            session.add(found)
    except IntegrityError:
        found = session.scalar(named)
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


#: Why a product's SKU, division and unit stay as created (docs/architecture.md, "Catalogue administration").
FIXED = {
    "sku": "Cannot be changed: orders, stock, reviews and statements know the product by its SKU.",
    "division": "Cannot be changed: it decides which units sell the product and hold its stock.",
    "unit": "Cannot be changed: the unit holds the product's stock and packs its orders.",
}


def _locked_product(session: Session, product_id: int) -> Product:
    product = session.scalar(
        select(Product).where(Product.id == product_id).with_for_update().execution_options(populate_existing=True)
    )
    if product is None:
        raise ApiError(404, "not_found", "Product was not found.")
    return product


def change_product(session: Session, product_id: int, changes: dict[str, Any]) -> tuple[Product, dict[str, list]]:
    """Change a product's name, price, category, manufacturer or supplier (a category, manufacturer or
    supplier named for the first time is created) -> the product and what changed, `{field: [before, after]}`
    (a price as "12.50"). The product's row is locked, so two changes at once apply one after the other.

    `sku`, `division` and `unit` may be given only as they are: another value is 422 with the reason
    (FIXED). Orders already placed keep the price they were placed at: their lines carry it.
    """
    product = _locked_product(session, product_id)
    fixed = {
        field: [reason]
        for field, reason in FIXED.items()
        if field in changes and changes[field] != getattr(product, field)
    }
    if fixed:
        raise ApiError(422, "validation_error", "Some fields are not valid.", fixed)
    changed: dict[str, list] = {}
    if "name" in changes and changes["name"] != product.name:
        changed["name"] = [product.name, changes["name"]]
        product.name = changes["name"]
    if "price" in changes and changes["price"] != product.price_cents:
        changed["price"] = [format_cents(product.price_cents), format_cents(changes["price"])]
        product.price_cents = changes["price"]
    for field, model in (("category", Category), ("manufacturer", Manufacturer), ("supplier", Supplier)):
        if field in changes and changes[field] != getattr(product, field).name:
            row = _named(session, model, changes[field])  # (another case of the same name: the same row)
            if row is not getattr(product, field):
                changed[field] = [getattr(product, field).name, row.name]
                setattr(product, field, row)
    session.flush()
    return product, changed


def withdraw_product(session: Session, product_id: int) -> Product:
    """Withdraw a product from sale (DOMAIN.md: "remove products"): it leaves search and cannot be ordered;
    its page and reviews stay. Withdrawing it again changes nothing (it keeps the first time)."""
    product = _locked_product(session, product_id)
    if product.withdrawn_at is None:
        product.withdrawn_at = now()
        session.flush()
    return product


def restore_product(session: Session, product_id: int) -> Product:
    """Put a withdrawn product back on sale; one on sale stays as it is."""
    product = _locked_product(session, product_id)
    if product.withdrawn_at is not None:
        product.withdrawn_at = None
        session.flush()
    return product


def _named_like(model: type[Category | Manufacturer | Supplier], name: str):
    # Names are few and short: matching them case-insensitively costs nothing, products use the id index.
    return select(model.id).where(func.lower(model.name) == name.lower())


def search_products(session: Session, query: dict[str, Any]) -> tuple[Sequence[Product], int]:
    """One page of products matching the query, and how many match in all.

    `q` is a case-insensitive substring of the name or the SKU; `category`, `manufacturer` and
    `supplier` are names; prices are integer cents; `status` is `on_sale` (the default: what the
    storefront shows), `withdrawn` or `all`. Orderings are stable: ties are broken by id.
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
    if query.get("supplier"):
        filters.append(Product.supplier_id.in_(_named_like(Supplier, query["supplier"])))
    if query.get("division"):
        filters.append(Product.division == query["division"])
    if query.get("unit"):
        filters.append(Product.unit == query["unit"])
    status = query.get("status", "on_sale")
    if status == "on_sale":
        filters.append(Product.withdrawn_at.is_(None))
    elif status == "withdrawn":
        filters.append(Product.withdrawn_at.is_not(None))
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
    """The products with these SKUs, in the order asked, and the SKUs the catalogue does not know.

    A withdrawn product is found (with `on_sale` false), not missing: it exists, and the caller says why
    it cannot be bought (the gateway's order path answers 422 `product_withdrawn`).
    """
    wanted = list(dict.fromkeys(skus))
    found = {p.sku: p for p in session.scalars(select(Product).where(Product.sku.in_(wanted))).all()}
    return [found[s] for s in wanted if s in found], [s for s in wanted if s not in found]


def _with_counts(session: Session, model: type[Category | Manufacturer | Supplier], key) -> list[dict[str, Any]]:
    """Every row of `model` by name: `{id, name, products, withdrawn}`, products on sale and withdrawn ones."""
    withdrawn = Product.withdrawn_at.is_not(None)
    rows = session.execute(
        select(
            model.id,
            model.name,
            func.count(Product.id).filter(~withdrawn),
            func.count(Product.id).filter(withdrawn),
        )
        .outerjoin(Product, key == model.id)
        .group_by(model.id, model.name)
        .order_by(model.name, model.id)
    ).all()
    return [{"id": i, "name": name, "products": on_sale, "withdrawn": gone} for i, name, on_sale, gone in rows]


def list_categories(session: Session) -> list[dict[str, Any]]:
    """Every category by name, with how many products on sale it holds (`products`) and how many withdrawn."""
    return _with_counts(session, Category, Product.category_id)


def list_manufacturers(session: Session) -> list[dict[str, Any]]:
    """Every manufacturer a product has named, with its products on sale and withdrawn."""
    return _with_counts(session, Manufacturer, Product.manufacturer_id)


def list_suppliers(session: Session) -> list[dict[str, Any]]:
    """Every supplier a product has named, with its products on sale and withdrawn."""
    return _with_counts(session, Supplier, Product.supplier_id)


def create_category(session: Session, name: str) -> Category:
    """An administrator adds a category before its products (DOMAIN.md: "add categories").

    A product still names its category by name, and naming one that does not exist still creates it
    (API.md's `POST /api/admin/products`). 409 `category_exists` for a name taken in any case: search
    matches category names case-insensitively, so "tea" beside "Tea" would be one shelf shown twice.
    """
    if session.scalar(_named_like(Category, name)) is not None:
        raise _category_exists(name)
    category = Category(name=name)
    try:
        with session.begin_nested():
            session.add(category)
    except IntegrityError as exc:  # the same name added at the same moment
        raise _category_exists(name) from exc
    return category


def _category_exists(name: str) -> ApiError:
    return ApiError(409, "category_exists", f"A category called {name} exists already.")


def delete_category(session: Session, category_id: int) -> None:
    """Remove a category no product names (DOMAIN.md: "remove categories"); 404, or 409 `category_in_use`
    while any product names it, withdrawn ones too (their pages still show it: move or keep them first).

    The category's row is locked first; a product being created in it holds it FOR SHARE (`_named`), so
    one of the two waits for the other and the check below sees the product.
    """
    category = session.scalar(select(Category).where(Category.id == category_id).with_for_update())
    if category is None:
        raise ApiError(404, "not_found", "Category was not found.")
    used = session.scalar(select(func.count(Product.id)).where(Product.category_id == category_id)) or 0
    if used:
        message = f"{used} product(s) are in the category {category.name}; change their category first."
        raise ApiError(409, "category_in_use", message)
    session.execute(delete(Category).where(Category.id == category_id))


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
