"""Administrators' catalogue work and merchandisers' queries (DOMAIN.md "What staff do": categories, products,
manufacturers and suppliers; products by stock level, manufacturer and supplier), and the storefront's
category list: load and check the request, call the catalogue (and stores), log the change, answer."""

from __future__ import annotations

from flask import Blueprint

from shared.money import format_cents

from . import catalogue_services, schemas
from .api import audit, inner, load_json, load_query, product_cache, requires
from .services import ADMINS

catalogue = Blueprint("catalogue", __name__, url_prefix="/api/admin")
categories = Blueprint("categories", __name__, url_prefix="/api/categories")


# --- products ------------------------------------------------------------------------------------


@catalogue.get("/products")
@requires(*ADMINS)
def list_products():
    """Products for merchandisers, withdrawn ones too: `?q=&category=&manufacturer=&supplier=&status=on_sale|
    withdrawn|all&sort=&page=&per_page=` -> `{items: [product], total, page, per_page}`."""
    return inner().search_products(load_query(schemas.AdminProductQuery))


@catalogue.patch("/products/<id:product_id>")
@requires(*ADMINS)
def change_product(product_id: int):
    """Change a product: `{"price": "11.80", "name"?, "category"?, "manufacturer"?, "supplier"?}` -> the product
    with `changed: {field: [before, after]}`. SKU, division and unit cannot change (422 with the reason).

    Orders already placed keep their price. The order path of this gateway process sees the change at
    once; other gateway processes within PRODUCT_CACHE_SECONDS (5 s)."""
    body = load_json(schemas.ProductChange)
    if "price" in body:
        body["price"] = format_cents(body["price"])
    product = inner().change_product(product_id, body)
    product_cache().forget([product["sku"]])
    audit("product.change", f"product:{product['sku']}", {"id": product_id, "changed": product.get("changed", {})})
    return product


@catalogue.delete("/products/<id:product_id>")
@requires(*ADMINS)
def withdraw_product(product_id: int):
    """Remove a product from sale -> the product (`on_sale: false`). It is withdrawn, never deleted: it leaves
    search and cannot be ordered (422 `product_withdrawn`); its page and reviews stay; orders already
    placed go on. The same again changes nothing; `POST .../restore` puts it back on sale."""
    product = inner().withdraw_product(product_id)
    product_cache().forget([product["sku"]])
    audit("product.withdraw", f"product:{product['sku']}", {"id": product_id, "withdrawn_at": product["withdrawn_at"]})
    return product


@catalogue.post("/products/<id:product_id>/restore")
@requires(*ADMINS)
def restore_product(product_id: int):
    """Put a withdrawn product back on sale -> the product (`on_sale: true`)."""
    product = inner().restore_product(product_id)
    product_cache().forget([product["sku"]])
    audit("product.restore", f"product:{product['sku']}", {"id": product_id})
    return product


# --- categories, manufacturers, suppliers --------------------------------------------------------


@catalogue.get("/categories")
@requires(*ADMINS)
def list_categories():
    """Every category: `{items: [{id, name, products, withdrawn}]}` (`products`: those on sale)."""
    return inner().categories()


@catalogue.post("/categories")
@requires(*ADMINS)
def create_category():
    """Add a category before its products: `{"name": "Tea sets"}` -> 201 `{id, name, products: 0, withdrawn: 0}`;
    409 `category_exists` (names are compared in any case). A product naming a new category still creates it."""
    body = load_json(schemas.CategoryIn)
    category = inner().create_category(body["name"])
    audit("category.create", f"category:{category['id']}", {"name": category["name"]})
    return category, 201


@catalogue.delete("/categories/<id:category_id>")
@requires(*ADMINS)
def delete_category(category_id: int):
    """Remove a category -> 204; 409 `category_in_use` while any product names it (withdrawn ones too)."""
    inner().delete_category(category_id)
    audit("category.delete", f"category:{category_id}")
    return "", 204


@catalogue.get("/manufacturers")
@requires(*ADMINS)
def list_manufacturers():
    """Every manufacturer products name: `{items: [{id, name, products, withdrawn}]}`, by name."""
    return inner().manufacturers()


@catalogue.get("/suppliers")
@requires(*ADMINS)
def list_suppliers():
    """Every supplier products name: `{items: [{id, name, products, withdrawn}]}`, by name."""
    return inner().suppliers()


# --- merchandisers' reports ----------------------------------------------------------------------


@catalogue.get("/reports/stock")
@requires(*ADMINS)
def stock_report():
    """Products by stock level, fewest available first: `?below=5&unit=&category=&manufacturer=&supplier=
    &status=on_sale|withdrawn|all&page=&per_page=` -> `{items: [product + {on_hand, reserved, available, units:
    [{unit, on_hand, reserved, available}]}], total, page, per_page}`.

    `unit` keeps what that unit sells and counts only its stock; a product no unit holds has 0 available."""
    return catalogue_services.stock_report(inner(), load_query(schemas.StockReportQuery))


# --- the storefront ------------------------------------------------------------------------------


@categories.get("")
def public_categories():
    """Browse by category: `{items: [{id, name, products}]}`, `products` being those on sale."""
    return {"items": [{k: c[k] for k in ("id", "name", "products")} for c in inner().categories()["items"]]}
