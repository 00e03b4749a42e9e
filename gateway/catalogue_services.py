"""Merchandisers' stock report (DOMAIN.md: "products by stock level"): the catalogue's products joined with
stores' stock per unit, each read over its service's internal API. No Flask; the blueprint passes the inner
services' client and a validated query."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from shared.web import ApiError

#: The catalogue's largest page, and how many SKUs one availability call asks about.
CATALOGUE_PAGE = 100
AVAILABILITY_BATCH = 100
#: A report reads every product matching its filters; past this many, narrow it (by unit, category,
#: manufacturer or supplier) rather than have the gateway read the whole catalogue on one request.
MAX_REPORT_PRODUCTS = 10_000

_CATALOGUE_FILTERS = ("category", "manufacturer", "supplier", "status", "division", "unit")


def catalogue_products(inner: Any, query: dict[str, Any]) -> list[dict[str, Any]]:
    """Every product matching the query's catalogue filters, page after page, each once (by id).

    422 `report_too_large` when more than MAX_REPORT_PRODUCTS match."""
    filters = {k: query[k] for k in _CATALOGUE_FILTERS if query.get(k)}
    products: dict[int, dict[str, Any]] = {}
    page = 1
    while True:
        found = inner.search_products(filters | {"page": page, "per_page": CATALOGUE_PAGE})
        if found.get("total", 0) > MAX_REPORT_PRODUCTS:
            raise ApiError(
                422,
                "report_too_large",
                f"More than {MAX_REPORT_PRODUCTS} products match; narrow the report by unit, category, "
                "manufacturer or supplier.",
            )
        products.update((p["id"], p) for p in found["items"])
        if len(found["items"]) < CATALOGUE_PAGE or page * CATALOGUE_PAGE >= found.get("total", 0):
            return list(products.values())
        page += 1


def sold_by(product: dict[str, Any], unit: dict[str, Any]) -> bool:
    """Whether `unit` sells the product: a counter or warehouse its own products, a supermarket branch every
    supermarket product (API.md: "sold by every branch that stocks them")."""
    if product.get("division") == "supermarket":
        return unit.get("kind") == "branch"
    return product.get("unit") == unit["code"]


def stock_row(product: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, Any]:
    """A product with its stock: totals over `rows` (stores' rows of it) and one entry per unit."""
    units = [
        {"unit": r["unit"], "on_hand": r["on_hand"], "reserved": r["reserved"], "available": r["available"]}
        for r in rows
    ]
    return product | {
        "on_hand": sum(u["on_hand"] for u in units),
        "reserved": sum(u["reserved"] for u in units),
        "available": sum(max(0, u["available"]) for u in units),
        "units": units,
    }


def stock_report(inner: Any, query: dict[str, Any]) -> dict[str, Any]:
    """Products by stock level, fewest available first: `{items: [product + {on_hand, reserved, available,
    units}], total, page, per_page}`.

    Only stock a unit can sell counts. `unit`: only what that unit sells, and only its stock (422 for a
    unit stores does not know); `below`: only products with fewer than that many available. A product no
    unit holds counts as 0 available: it is the first a merchandiser must see."""
    units = {u["code"]: u for u in inner.list_units()["items"]}
    unit = None
    if query.get("unit"):
        unit = units.get(query["unit"])
        if unit is None:
            raise ApiError(422, "validation_error", "Some fields are not valid.", {"unit": ["No such unit."]})
    narrowed = query
    if unit is not None:  # what the unit sells, asked of the catalogue (so the report's size is the unit's)
        narrowed = query | ({"division": "supermarket", "unit": None} if unit.get("kind") == "branch" else {})
    products = catalogue_products(inner, narrowed)
    if unit is not None:
        products = [p for p in products if sold_by(p, unit)]
    held: dict[str, list[dict[str, Any]]] = defaultdict(list)
    by_sku = {p["sku"]: p for p in products}
    skus = sorted(by_sku)
    for start in range(0, len(skus), AVAILABILITY_BATCH):
        for row in inner.availability(skus[start : start + AVAILABILITY_BATCH]):
            holder = units.get(row["unit"])
            # Only stock the unit can sell counts (a counter's stray stock of another's product does not).
            if (unit is None or row["unit"] == unit["code"]) and holder and sold_by(by_sku[row["sku"]], holder):
                held[row["sku"]].append(row)
    report = [stock_row(p, held[p["sku"]]) for p in products]
    if query.get("below") is not None:
        report = [r for r in report if r["available"] < query["below"]]
    report.sort(key=lambda r: (r["available"], r["sku"]))
    page, per_page = query["page"], query["per_page"]
    return {
        "items": report[(page - 1) * per_page : page * per_page],
        "total": len(report),
        "page": page,
        "per_page": per_page,
    }
