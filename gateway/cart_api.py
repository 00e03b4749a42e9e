"""Members' delivery addresses and carts, and checking a cart out (DOMAIN.md: "manage delivery addresses",
"Cart", "Checkout"): load and check the request, call a use case of `cart_services`, answer."""

from __future__ import annotations

from flask import Blueprint, g

from shared.web import ApiError, bad_text, load_body, not_found

from . import cart_services, schemas, services
from .api import idempotency_key, load_json, product_cache, requires, skus_in_stock, submit_order
from .config import runtime

addresses = Blueprint("addresses", __name__, url_prefix="/api/addresses")
cart = Blueprint("cart", __name__, url_prefix="/api/cart")


# --- addresses -----------------------------------------------------------------------------------


@addresses.get("")
@requires("customer")
def list_addresses():
    """The caller's delivery addresses, the default first: `{"items": [{id, name, phone, city, line, lat, lon,
    is_default}]}`."""
    with runtime.db.session() as session, session.begin():
        return {"items": [cart_services.address_view(a) for a in cart_services.addresses_of(session, g.me.id)]}


@addresses.post("")
@requires("customer")
def save_address():
    """Save an address: `{"name": "Li Ming", "phone", "city", "line", "lat", "lon", "is_default"?}` -> 201 it, with
    its `id`. The first address is the default; at most 20 (409 `too_many_addresses`)."""
    body = load_json(schemas.AddressSaved)
    with runtime.db.session() as session, session.begin():
        address = cart_services.save_address(session, g.me.id, body)
    return cart_services.address_view(address), 201


@addresses.put("/<id:address_id>")
@requires("customer")
def replace_address(address_id: int):
    """Replace an address (the same body as saving one) -> the address. `is_default: true` makes it the
    default; the default is moved, not removed (`false` on it: 409 `default_address_required`)."""
    body = load_json(schemas.AddressSaved)
    with runtime.db.session() as session, session.begin():
        address = cart_services.replace_address(session, g.me.id, address_id, body)
    return cart_services.address_view(address)


@addresses.delete("/<id:address_id>")
@requires("customer")
def delete_address(address_id: int):
    """Delete an address -> 204; when it was the default, the newest one left becomes the default."""
    with runtime.db.session() as session, session.begin():
        cart_services.delete_address(session, g.me.id, address_id)
    return "", 204


@addresses.post("/<id:address_id>/default")
@requires("customer")
def make_default(address_id: int):
    """Make this the default address (`{}`) -> the address."""
    load_json(schemas.Empty)
    with runtime.db.session() as session, session.begin():
        address = cart_services.make_default(session, g.me.id, address_id)
    return cart_services.address_view(address)


# --- the cart ------------------------------------------------------------------------------------


@cart.get("")
@requires("customer")
def show_cart():
    """The cart priced from the catalogue now: `{"items": [{sku, name, price, quantity, line_total, in_stock,
    missing, withdrawn}], "total": "25.00"}`. A SKU the catalogue no longer has shows `missing: true` and no
    price; one withdrawn from sale shows `withdrawn: true`; neither counts in the total."""
    with runtime.db.session() as session, session.begin():
        held = cart_services.cart_of(session, g.me.id)
    products = product_cache().lookup([sku for sku, _ in held])
    in_stock = skus_in_stock(sorted(products)) if products else set()
    return cart_services.cart_view(held, products, in_stock)


@cart.put("/items/<sku>")
@requires("customer")
def put_item(sku: str):
    """Hold this many of a product: `{"quantity": 2}` -> the line `{sku, name, price, quantity, line_total, missing}`.

    Adds the SKU if the cart lacks it (at most 100 lines: 409 `cart_full`). The quantity follows an order
    line's rules; an SKU the catalogue does not have is 422 `unknown_product`, one withdrawn from sale 422
    `product_withdrawn`. Changing a variant is taking
    one SKU out and putting another in."""
    body = load_json(schemas.CartQuantity)
    item = load_body(schemas.OrderItemIn, {"sku": sku, "quantity": body["quantity"]})
    product = product_cache().lookup([item["sku"]]).get(item["sku"])
    if product is None:
        raise ApiError(422, "unknown_product", "Some products do not exist.", {"sku": ["No product has this SKU."]})
    if not product.get("on_sale", True):
        reason = {"sku": ["This product is withdrawn from sale."]}
        raise ApiError(422, "product_withdrawn", "Some products are no longer sold.", reason)
    with runtime.db.session() as session, session.begin():
        cart_services.set_quantity(session, g.me.id, item["sku"], item["quantity"])
    return cart_services.cart_line(item["sku"], item["quantity"], product)


@cart.delete("/items/<sku>")
@requires("customer")
def remove_item(sku: str):
    """Take a product out of the cart -> 204; 404 when it is not in it."""
    # A SKU too long for any cart, or text no database takes (NUL), is in no cart: never ask.
    if len(sku) > 64 or bad_text(sku):
        raise not_found("Cart line")
    with runtime.db.session() as session, session.begin():
        removed = cart_services.remove_line(session, g.me.id, sku)
    if not removed:
        raise not_found("Cart line")
    return "", 204


@cart.delete("")
@requires("customer")
def empty_cart():
    """Empty the cart -> 204."""
    with runtime.db.session() as session, session.begin():
        cart_services.empty_cart(session, g.me.id)
    return "", 204


@cart.post("/checkout")
@requires("customer", placing=True)
def checkout():
    """Buy the cart: `{"address_id": 3 | "address": {...}, "payment_method": "balance", "skus"?: [...]}` with an
    `Idempotency-Key` (required) -> 202 `{"number", "status": "placed"}`, as `POST /api/orders`.

    No address given: the default one (none saved: 422). `skus` buys only those lines. The order is priced
    from the catalogue, never from the cart; the lines bought leave the cart in the transaction that places
    the order, and only then. The same key and body again return the same order; 422 `empty_cart`;
    409 `cart_changed` when the cart changed during the checkout."""
    key = idempotency_key()
    if key is None:  # a retry without one would find the cart empty and never learn its order's number
        raise ApiError(422, "validation_error", "Some fields are not valid.", {"Idempotency-Key": ["Required."]})
    body = load_json(schemas.CheckoutIn)
    digest = services.request_hash({"cart_checkout": body})
    if g.placed is not None:
        return {"number": services.replay(g.placed, digest), "status": "placed"}, 202
    with runtime.db.session() as session, session.begin():
        try:
            bought = cart_services.lines_to_buy(cart_services.cart_of(session, g.me.id), body.get("skus"))
            address = _delivery_address(session, body)
        except ApiError:
            # A retry racing its first try, which emptied the cart after `g.placed` was read: its order.
            ref = services.find_order_ref(session, g.me.id, key)
            if ref is None:
                raise
            return {"number": services.replay(ref, digest), "status": "placed"}, 202
    order = {
        "items": [{"sku": sku, "quantity": quantity} for sku, quantity in bought],
        "address": address,
        "payment_method": body["payment_method"],
    }
    order = load_body(schemas.OrderIn, order)  # exactly what POST /api/orders accepts
    return submit_order(key, order, digest=digest, alongside=cart_services.remove_bought(g.me.id, bought))


def _delivery_address(session, body: dict) -> dict:
    """Where the checkout delivers: the address given, the saved one named, else the default; 422 otherwise."""
    if "address" in body:
        return body["address"]
    if "address_id" in body:
        saved = cart_services.find_address(session, g.me.id, body["address_id"])
        if saved is None:
            raise ApiError(422, "validation_error", "Some fields are not valid.", {"address_id": ["Not one of yours."]})
    else:
        saved = cart_services.default_address(session, g.me.id)
        if saved is None:
            reason = ["Required: no default address is saved."]
            raise ApiError(422, "validation_error", "Some fields are not valid.", {"address": reason})
    return cart_services.order_address(saved)
