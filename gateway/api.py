"""The gateway's public HTTP API (API.md): load and check the request, call a use case or an inner service, answer."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, current_app, g, request
from sqlalchemy import text
from sqlalchemy.orm import Session

from shared.money import format_cents
from shared.web import ApiError, load_body, not_found

from . import schemas, services
from .clients import ProductCache
from .config import runtime
from .mail import Mailer, mailer_for
from .models import OrderRef, User
from .services import ADMINS, FINANCE, STAFF_VIEWERS, Identity, PlacedBefore

log = logging.getLogger("mall.gateway")

people = Blueprint("people", __name__, url_prefix="/api/auth")
admin = Blueprint("admin", __name__, url_prefix="/api/admin")
shop = Blueprint("shop", __name__, url_prefix="/api")
staff = Blueprint("staff", __name__, url_prefix="/api/staff")
finance = Blueprint("finance", __name__, url_prefix="/api/finance")

ORDER_NUMBER = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


def mailer() -> Mailer:
    """How members' emails leave (the app's own, so tests can read what was sent)."""
    return current_app.config.get("MAILER") or mailer_for(runtime.settings.smtp_url, runtime.settings.var_dir)


def inner():
    """The inner services' client (tests put a fake in `app.extensions["inner"]`)."""
    return current_app.extensions["inner"]


def product_cache() -> ProductCache:
    """The catalogue's products by SKU for the order path, kept a few seconds (see ProductCache)."""
    return current_app.extensions["products"]


def load_json(schema: type[schemas.Schema]) -> Any:
    """The request's JSON body, validated by (the shared instance of) `schema`; 422 if it is wrong."""
    return load_body(schema)


def load_query(schema: type[schemas.Schema]) -> dict[str, Any]:
    """The query string, validated by (the shared instance of) `schema`; 422 if it is wrong."""
    return load_body(schema, request.args.to_dict())


def _idempotency_key_header() -> tuple[str | None, bool]:
    """The request's Idempotency-Key (None when absent) and whether it is valid."""
    key = (request.headers.get("Idempotency-Key") or "").strip()
    return key or None, len(key) <= 100 and key.isprintable()


def idempotency_key() -> str | None:
    """The request's Idempotency-Key; 422 when it is longer than 100 characters or not printable."""
    key, valid = _idempotency_key_header()
    if not valid:
        reason = ["At most 100 printable characters."]
        raise ApiError(422, "validation_error", "Some fields are not valid.", {"Idempotency-Key": reason})
    return key


# --- who is calling ------------------------------------------------------------------------------


def current_identity(idempotency_key: str | None = None) -> tuple[Identity, PlacedBefore | None]:
    """Who the bearer token names, and the order they placed under `idempotency_key` before (if any)."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "unauthorized", "Log in first and send 'Authorization: Bearer <token>'.")
    # A connection, not a session: one statement, read-only, no objects to track. It ends with COMMIT,
    # not ROLLBACK: psycopg forgets a connection's prepared statements at every rollback (see
    # `Database.session`), and every request of the API starts here.
    with runtime.db.engine.begin() as connection:
        return services.identify(connection, token.strip(), runtime.settings, idempotency_key)


def requires(*roles: str, placing: bool = False) -> Callable:
    """Only a logged-in caller (of one of `roles`, when given) gets in; `g.me` is who they are.

    A view that places orders (`placing`) also gets `g.placed`: the order the caller placed before under
    the request's Idempotency-Key, read in the identity's statement. An invalid key reads nothing; the
    view refuses it, after the caller is known (who calls is always checked first).
    """

    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def guarded(*args, **kwargs):
            key, valid = _idempotency_key_header() if placing else (None, False)
            g.me, g.placed = current_identity(key if valid else None)
            if roles and g.me.role not in roles:
                raise ApiError(403, "forbidden", "Your role may not do this.")
            return view(*args, **kwargs)

        guarded.roles = roles  # type: ignore[attr-defined]  (read by the OpenAPI document)
        return guarded

    return decorate


def audit(action: str, target: str, detail: dict[str, Any] | None = None) -> None:
    """One administrator log row for what the caller just did."""
    with runtime.db.session() as session, session.begin():
        services.audit(session, g.me, action, target, detail)


# --- people --------------------------------------------------------------------------------------


@people.post("/register")
def register():
    """Become a member: `{"username": "li_ming", "password": "Jasmine-Tea-88"}` -> 201 `{"id": 7, "username": ...}`."""
    body = load_json(schemas.Registration)
    with runtime.db.session() as session, session.begin():
        user = services.register(session, body)
    return {"id": user.id, "username": user.username}, 201


@people.post("/login")
def login():
    """`{"username", "password"}` -> `{"access_token", "token_type": "Bearer", "role"}`; 401; 403
    `account_disabled` (the right password of a disabled staff account); 429 when throttled."""
    body = load_json(schemas.Login)
    limit = runtime.settings.login_attempts_per_minute
    with runtime.db.session() as session, session.begin():
        user = services.authenticate(session, body["username"], body["password"], request.remote_addr, limit)
    if user is None:
        raise ApiError(401, "invalid_credentials", "The username or password is not right.")
    return {"access_token": services.issue_token(user, runtime.settings), "token_type": "Bearer", "role": user.role}


@people.post("/password")
@requires()
def change_password():
    """`{"old_password", "new_password"}` -> 204; every token issued before stops working."""
    body = load_json(schemas.PasswordChange)
    with runtime.db.session() as session, session.begin():
        services.change_password(session, g.me.id, body["old_password"], body["new_password"])
    return "", 204


@people.post("/password/forgot")
def forgot_password():
    """`{"username"}` -> 202: when the account exists and has an email, a reset code is emailed to it (it
    works once, for MALL_PASSWORD_RESET_MINUTES). The answer is the same for any name, so it tells nobody
    which accounts exist; at most three codes of an account work at once."""
    body = load_json(schemas.PasswordForgotten)
    settings = runtime.settings
    with runtime.db.session() as session, session.begin():
        reset = services.request_password_reset(session, body["username"], settings)
    if reset is not None:  # after the commit: a code that was never kept is never sent
        email, token = reset
        try:
            mailer().send(services.reset_message(settings, email, token))
        except Exception:  # the member asks again; nothing tells a caller the account exists
            log.exception("could not send a password reset email")
    return {}, 202


@people.post("/password/reset")
def reset_password():
    """`{"token", "new_password"}` -> 204: the emailed code's account has the new password, and every
    token issued before stops working; 422 `invalid_reset_token` for a used, expired or wrong code."""
    body = load_json(schemas.PasswordReset)
    with runtime.db.session() as session, session.begin():
        services.reset_password(session, body["token"], body["new_password"])
    return "", 204


@people.get("/me")
@requires()
def me():
    """Who the token belongs to: `{"id", "username", "role", "unit", "email", "phone"}`."""
    with runtime.db.session() as session, session.begin():
        return services.profile(session.get(User, g.me.id))


@people.patch("/me")
@requires()
def update_me():
    """Change the account's `{"email"?, "phone"?}` (null clears one) -> the profile."""
    body = load_json(schemas.ProfileChange)
    with runtime.db.session() as session, session.begin():
        return services.profile(services.update_profile(session, g.me.id, body))


@people.post("/logout")
@requires()
def log_out():
    """Log out -> 204: every token of the account stops working (on every device)."""
    load_json(schemas.Empty)
    with runtime.db.session() as session, session.begin():
        services.log_out(session, g.me.id)
    return "", 204


# --- administration ------------------------------------------------------------------------------


@admin.post("/staff")
@requires(*ADMINS)
def create_staff():
    """`{"username", "password", "role", "unit"?}` -> 201; only the super administrator adds administrators."""
    body = load_json(schemas.StaffAccount)
    with runtime.db.session() as session, session.begin():
        user = services.create_staff(session, g.me, body)
    return {"id": user.id, "username": user.username, "role": user.role, "unit": user.unit}, 201


@admin.get("/log")
@requires("superadmin")
def admin_log():
    """Search the administrator actions, newest first: `?actor=zhao_admin&action=staff.*&target=user:12
    &since=2026-11-01T00:00:00+08:00&until=...&limit=100&before=<id>` -> `{items: [{id, actor, action, target,
    detail, at}], next_before}`; pass `next_before` as `before` for the next page (null: no more)."""
    query = load_query(schemas.AdminLogQuery)
    with runtime.db.session() as session:
        items, next_before = services.admin_log(session, **query)
    return {"items": items, "next_before": next_before}


@admin.post("/units")
@requires(*ADMINS)
def create_unit():
    """A counter, branch or warehouse: `{"code": "DS-TEA", "name", "kind", "division", "city", "lat", "lon"}`."""
    body = load_json(schemas.UnitIn)
    unit = inner().create_unit(body)
    audit("unit.create", f"unit:{body['code']}", body)
    return unit, 201


@admin.post("/products")
@requires(*ADMINS)
def create_product():
    """`{"sku": "TEA-LONGJING-250G", "name", "price": "12.50", ...}` -> 201 the product."""
    body = load_json(schemas.ProductIn)
    body["price"] = format_cents(body["price"])
    if body.get("unit") is None:
        body.pop("unit", None)
    product = inner().create_product(body)
    audit("product.create", f"product:{body['sku']}", body)
    return product, 201


@admin.post("/stock")
@requires(*ADMINS)
def stock_in():
    """A stock-in (入库): `{"unit": "DS-TEA", "sku": "TEA-LONGJING-250G", "quantity": 20}` -> 201."""
    body = load_json(schemas.StockIn)
    stock = inner().stock_in(body)
    audit("stock.in", f"unit:{body['unit']}", body)
    return stock, 201


# --- purchasing (B2C 采购) ----------------------------------------------------------------------


@admin.post("/purchase-orders")
@requires(*ADMINS)
def create_purchase_order():
    """Write a purchase order (a draft): `{unit, supplier, delivery_method: supplier_delivers|we_collect,
    settlement_method: cash|transfer|monthly, deliver_by: "2026-12-01" (after today), note?, lines: [{sku,
    quantity, unit_cost}]}` -> 201; the buyer is the caller."""
    body = load_json(schemas.PurchaseOrderIn)
    missing = set(inner().lookup_products(sorted({line["sku"] for line in body["lines"]})).get("missing", []))
    unknown = {
        f"lines.{i}.sku": ["Not a product of the catalogue."]
        for i, line in enumerate(body["lines"])
        if line["sku"] in missing
    }
    if unknown:  # received, it would be stock of nothing anyone can buy
        raise ApiError(422, "validation_error", "Some fields are not valid.", unknown)
    wire = body | {"deliver_by": body["deliver_by"].isoformat(), "buyer": g.me.username}
    wire["lines"] = [line | {"unit_cost": format_cents(line["unit_cost"])} for line in body["lines"]]
    order = inner().create_purchase_order(wire)
    audit("purchase_order.create", f"purchase_order:{order['id']}", {"unit": body["unit"], "total": order["total"]})
    return order, 201


@admin.get("/purchase-orders")
@requires(*ADMINS)
def list_purchase_orders():
    """Purchase orders, newest first: `?unit=&status=draft|confirmed|received|settled|cancelled`."""
    return inner().purchase_orders(load_query(schemas.PurchaseOrderQuery))


@admin.get("/purchase-orders/<id:order_id>")
@requires(*ADMINS)
def get_purchase_order(order_id: int):
    order = inner().purchase_order(order_id)
    if order is None:
        raise not_found("Purchase order")
    return order


@admin.post("/purchase-orders/<id:order_id>/<any(confirm, receive, settle, cancel):action>")
@requires(*ADMINS)
def move_purchase_order(order_id: int, action: str):
    """Confirm a draft; receive the goods (a stock-in of every line at the unit, once: orders waiting for
    them resume); settle with the supplier; or cancel one not yet received. 409 when it cannot."""
    order = inner().move_purchase_order(order_id, action)
    audit(f"purchase_order.{action}", f"purchase_order:{order_id}", {"status": order["status"]})
    return order


@admin.get("/purchase-notices")
@requires(*ADMINS)
def purchase_notices():
    """External purchase notices (缺货外采通知) a unit raised when it was short: `?unit=` (optional)."""
    return inner().purchase_notices(load_query(schemas.PurchaseNoticeQuery).get("unit"))


@admin.post("/members/<id:member_id>/balance")
@requires(*ADMINS)
def adjust_balance(member_id: int):
    """`{"delta": "100.00", "reason": "refund by hand"}` -> `{"member_id", "balance"}`; honours Idempotency-Key."""
    body = load_json(schemas.BalanceAdjustment)
    key = idempotency_key()
    with runtime.db.session() as session:
        if not services.member_exists(session, member_id):
            raise not_found("Member")
    wallet = inner().adjust_wallet(member_id, format_cents(body["delta"]), body["reason"], key)
    audit(
        "member.balance_adjust",
        f"member:{member_id}",
        {"delta": format_cents(body["delta"]), "reason": body["reason"], "balance": wallet.get("balance"), "key": key},
    )
    return {"member_id": member_id, "balance": wallet["balance"]}


# --- shopping ------------------------------------------------------------------------------------


@shop.get("/units")
def list_units():
    """Every counter, branch and warehouse: `{"items": [unit]}`."""
    return inner().list_units()


@shop.get("/products")
def search_products():
    """Search the catalogue: `?q=&category=&manufacturer=&min_price=&max_price=&sort=&page=&per_page=`."""
    query = load_query(schemas.ProductSearch)
    for bound in ("min_price", "max_price"):
        if bound in query:
            query[bound] = format_cents(query[bound])
    found = inner().search_products(query)
    in_stock = skus_in_stock(sorted({p["sku"] for p in found["items"]}))
    fields = ("id", "sku", "name", "price", "category", "manufacturer")
    return {
        "items": [{k: p.get(k) for k in fields} | {"in_stock": p["sku"] in in_stock} for p in found["items"]],
        "total": found.get("total", len(found["items"])),
        "page": found.get("page", query["page"]),
        "per_page": found.get("per_page", query["per_page"]),
    }


def skus_in_stock(skus: list[str]) -> set[str]:
    """Which of `skus` some unit has available now (stores' word, one call)."""
    return {row["sku"] for row in inner().availability(skus) if row.get("available", 0) > 0}


@shop.get("/products/<id:product_id>")
def get_product(product_id: int):
    """One product with its availability per unit (and one more view for "hot"). A product withdrawn from sale
    keeps its page (`on_sale: false`, `withdrawn_at`), and shows `in_stock: false`: it cannot be bought."""
    product = inner().get_product(product_id, count_view=True)
    if product is None:
        raise not_found("Product")
    rows = [row for row in inner().availability([product["sku"]]) if row.get("sku") == product["sku"]]
    available = sum(max(0, row.get("available", 0)) for row in rows)
    units = [{"unit": row["unit"], "available": row.get("available", 0)} for row in rows]
    buyable = available > 0 and product.get("on_sale", True)
    availability = {"in_stock": buyable, "available": available, "units": units}
    return product | {"in_stock": buyable, "availability": availability}


@shop.get("/products/<id:product_id>/reviews")
def list_reviews(product_id: int):
    """A product's reviews, newest first: `?rating=5&with_photos=true&page=&per_page=` ->
    `{items: [{id, rating, text, photos, author, created_at}], total, page, per_page, rating: {average, count,
    by_rating}}`. Anyone may read them; authors are shown masked (`w***g`)."""
    query = load_query(schemas.ReviewQuery)
    found = inner().reviews(product_id, query)
    if found is None:
        raise not_found("Product")
    with runtime.db.session() as session, session.begin():
        authors = services.masked_usernames(session, {r["member_id"] for r in found["items"]})
    return found | {"items": [public_review(r, authors) for r in found["items"]]}


@shop.post("/products/<id:product_id>/reviews")
@requires("customer")
def write_review(product_id: int):
    """Review a product the caller received (an order of theirs with it is completed), once per such order:
    `{rating: 1..5, text, photos?: [url, ...] (at most 9), order?}` -> 201 the review; 409 `not_purchased`
    or `already_reviewed`."""
    body = load_json(schemas.ReviewIn)
    written = inner().write_review(product_id, body | {"member_id": g.me.id})
    with runtime.db.session() as session, session.begin():
        authors = services.masked_usernames(session, {g.me.id})
    return public_review(written, authors), 201


def public_review(review: dict[str, Any], authors: dict[int, str]) -> dict[str, Any]:
    fields = ("id", "rating", "text", "photos", "created_at")
    return {k: review.get(k) for k in fields} | {"author": authors.get(review.get("member_id"), "***")}


@shop.get("/spending")
@requires("customer")
def spending():
    """The caller's spending records (消费记录): `{"spent", "items": [{order, method, paid, refunded, paid_at,
    items}]}`, paid orders newest first; `spent` is everything paid less what was given back."""
    return inner().spending(g.me.id)


@shop.get("/wallet")
@requires("customer")
def wallet():
    """The caller's account balance: `{"balance": "100.00"}`."""
    return {"balance": inner().wallet(g.me.id)["balance"]}


def _find_order(number: str) -> tuple[dict[str, Any], bool]:
    """The order as the caller may see it, and whether the orders service knows it yet; 404 otherwise."""
    if not ORDER_NUMBER.match(number):
        raise not_found("Order")
    mine_only = g.me.role == "customer"
    order = inner().get_order(number)
    if order is not None:
        if mine_only and order.get("member_id") != g.me.id:
            raise not_found("Order")
        return services.public_order(order), True
    with runtime.db.session() as session, session.begin():
        ref = session.get(OrderRef, number)
        if ref is None or (mine_only and ref.member_id != g.me.id):
            raise not_found("Order")
        return services.placed_view(ref), False


@shop.post("/orders")
@requires("customer", placing=True)
def place_order():
    """Place an order (send `Idempotency-Key` to make retries safe) -> 202 `{"number", "status": "placed"}`;
    422 `unknown_product` or `product_withdrawn` naming the items that cannot be bought."""
    key = idempotency_key()
    body = load_json(schemas.OrderIn)
    if g.placed is not None:
        return {"number": services.replay(g.placed, services.request_hash(body)), "status": "placed"}, 202
    return submit_order(key, body)


def submit_order(
    key: str | None,
    body: dict[str, Any],
    *,
    digest: str | None = None,
    alongside: Callable[[Session], None] | None = None,
) -> tuple[dict[str, str], int]:
    """Price a validated OrderIn from the catalogue and place it for the caller -> 202 `{"number", "status"}`.

    `POST /api/orders` and the cart's checkout both place their orders here; `digest` and `alongside` are
    `services.place_order`'s. 422 `unknown_product` naming each item the catalogue does not have, 422
    `product_withdrawn` each item an administrator withdrew from sale.
    """
    skus = list(dict.fromkeys(item["sku"] for item in body["items"]))
    products = product_cache().lookup(skus)
    unknown = services.unknown_skus(body["items"], products)
    if unknown:
        raise ApiError(422, "unknown_product", "Some products do not exist.", unknown)
    withdrawn = services.withdrawn_skus(body["items"], products)
    if withdrawn:
        raise ApiError(422, "product_withdrawn", "Some products are no longer sold.", withdrawn)
    lines = services.order_lines(body["items"], products)
    number, _ = services.place_order(runtime, g.me.id, key, body, lines, digest=digest, alongside=alongside)
    return {"number": number, "status": "placed"}, 202


@shop.get("/orders")
@requires("customer", *STAFF_VIEWERS)
def list_orders():
    """The caller's orders, newest first (customer service and administrators: `?member_id=`)."""
    query = load_query(schemas.OrderListQuery)
    if g.me.role == "customer":
        member_id = g.me.id
    elif "member_id" in query:
        member_id = query["member_id"]
    else:
        raise ApiError(422, "validation_error", "Some fields are not valid.", {"member_id": ["Required."]})
    orders = [services.public_order(o) for o in inner().list_orders(member_id)]
    known = {o["number"] for o in orders}
    with runtime.db.session() as session, session.begin():
        placed = [services.placed_view(r) for r in services.order_refs_of(session, member_id) if r.number not in known]
    return {"items": sorted(orders + placed, key=lambda o: o["number"], reverse=True)}


@shop.get("/orders/<number>")
@requires("customer", *STAFF_VIEWERS)
def get_order(number: str):
    """`{number, status, total, items, payment, fulfilments, timeline}`; another member's order is 404."""
    return _find_order(number)[0]


@shop.post("/orders/<number>/cancel")
@requires("customer", *STAFF_VIEWERS)
def cancel_order(number: str):
    """Cancel (`{"reason"?}`) -> 202; a paid order is refunded; 409 once it is out of the door.

    A packed order's refund and stock wait until logistics has withdrawn its parcel; a parcel the
    courier took before that stays with its order, and customer service recovers it."""
    body = load_json(schemas.Cancellation)
    _, known = _find_order(number)
    if not known:
        raise ApiError(409, "order_not_ready", "The order is still being taken in; try again in a moment.")
    reason = body["reason"] if g.me.role == "customer" else f"{body['reason']} (by {g.me.username})"[:150]
    order = inner().cancel_order(number, reason)
    if g.me.role != "customer":
        audit("order.cancel", f"order:{number}", {"reason": body["reason"]})
    return services.public_order(order), 202


@shop.post("/orders/<number>/contact")
@requires("customer", *STAFF_VIEWERS)
def change_contact(number: str):
    """Change who receives the order and how to reach them `{"name"?, "phone"?, "line"?}` before its
    parcels are packed -> the order; 409 `contact_locked` after (customer service arranges it with the
    courier). The city and the place stay: the order was routed by them."""
    body = load_json(schemas.ContactChange)
    _, known = _find_order(number)
    if not known:
        raise ApiError(409, "order_not_ready", "The order is still being taken in; try again in a moment.")
    order = inner().change_contact(number, body, g.me.username)
    if g.me.role != "customer":
        audit("order.contact", f"order:{number}", {"changed": sorted(body)})
    return services.public_order(order)


@shop.post("/orders/<number>/receipt")
@requires("customer")
def confirm_receipt(number: str):
    """The customer confirms the goods arrived -> 200 the order (completed)."""
    load_json(schemas.Empty)
    _, known = _find_order(number)
    if not known:
        raise ApiError(409, "not_delivered", "The order has not been delivered.")
    return services.public_order(inner().confirm_receipt(number))


@shop.post("/orders/<number>/pay")
@requires("customer")
def pay_order(number: str):
    """For an `online` order awaiting payment: `{"out_trade_no", "pay_url"}` to pay at the provider."""
    order, known = _find_order(number)
    payment = order.get("payment") or {}
    if payment.get("method") != "online":
        raise ApiError(409, "not_payable", "Only orders paid online are paid here.")
    if not known or order.get("status") != "awaiting_payment":
        raise ApiError(409, "not_payable", "The order is not awaiting payment.")
    charge = inner().payment(number)
    if charge is None or charge.get("status") != "pending" or not charge.get("out_trade_no"):
        raise ApiError(409, "not_payable", "The order is not awaiting payment.")
    gateway = current_app.config["ALIPAY_GATEWAY_URL"]
    query = urlencode(
        {
            "method": "alipay.trade.page.pay",
            "out_trade_no": charge["out_trade_no"],
            "total_amount": format_cents(charge["amount_cents"]),
            "subject": f"Mall order {number}",
        }
    )
    return {"out_trade_no": charge["out_trade_no"], "pay_url": f"{gateway}?{query}"}


# --- after-sales (售后) ----------------------------------------------------------------------------


@shop.post("/orders/<number>/after-sales")
@requires("customer")
def open_after_sale(number: str):
    """A return, refund or complaint about goods that reached the caller (send `Idempotency-Key` to make
    retries safe: the same key returns the same case) -> 201 the case. Within MALL_AFTER_SALES_DAYS of
    delivery (15), or for a parcel lost while it is still shipping; goods of one unit per case, each piece
    claimed once. The order's timeline shows how it is handled."""
    key = idempotency_key()
    body = load_json(schemas.AfterSaleIn)
    _, known = _find_order(number)
    if not known:
        raise ApiError(409, "not_after_sales", "The order is still being taken in.")
    request_ = {
        "member_id": g.me.id,
        "kind": body["kind"],
        "problem": body["problem"],
        "reason": body["reason"],
        "lines": body["items"],
        "idempotency_key": key,
    }
    return _public_case(inner().open_after_sale(number, request_)), 201


def _public_case(case: dict[str, Any]) -> dict[str, Any]:
    """A case without whose it is; a customer does not see which staff member handled it either."""
    hidden = ("member_id", "handled_by") if g.me.role == "customer" else ("member_id",)
    return {k: v for k, v in case.items() if k not in hidden}


def _public_cases(cases: dict[str, Any]) -> dict[str, Any]:
    return {"items": [_public_case(case) for case in cases["items"]]}


@shop.get("/orders/<number>/after-sales")
@requires("customer", *STAFF_VIEWERS)
def order_after_sales(number: str):
    """The order's after-sales cases, oldest first."""
    _, known = _find_order(number)
    return _public_cases(inner().order_after_sales(number)) if known else {"items": []}


def _after_sale_for_staff(case_id: int) -> dict[str, Any]:
    """A case the caller may handle: any for customer service and administrators; a unit's staff, their
    unit's only (404 for another's, as for tasks)."""
    case = inner().after_sale(case_id)
    if case is None or (g.me.role == "staff" and case.get("unit") != g.me.unit):
        raise not_found("After-sales case")
    return case


@staff.get("/after-sales")
@requires("staff", *STAFF_VIEWERS)
def list_after_sales():
    """After-sales cases, newest first (`?status=`): a unit's staff see their unit's, customer service and
    administrators all of them (or `?unit=`)."""
    query = load_query(schemas.AfterSaleQuery)
    if g.me.role == "staff":
        query["unit"] = g.me.unit
    return _public_cases(inner().after_sales(query))


@staff.post("/after-sales/<id:case_id>/agree")
@requires("staff", *STAFF_VIEWERS)
def agree_after_sale(case_id: int):
    """Agree `{"resolution": "refund"|"return", "refund"?, "reply"?}`: a refund goes out now; a return waits
    for the goods (`received`). The refund is at most what the goods cost (default: all of it)."""
    body = load_json(schemas.AfterSaleAgreement)
    _after_sale_for_staff(case_id)
    case = inner().move_after_sale(
        case_id,
        "agree",
        {"resolution": body["resolution"], "refund_cents": body["refund"], "reply": body["reply"], "by": g.me.username},
    )
    audit("after_sale.agree", f"after-sale:{case_id}", {"resolution": body["resolution"], "refund": case["refund"]})
    return _public_case(case)


@staff.post("/after-sales/<id:case_id>/reply")
@requires("staff", *STAFF_VIEWERS)
def answer_after_sale(case_id: int):
    """Close the case with an answer and no money `{"reply"}`: a complaint about the service, a claim
    refused, a return that never came."""
    body = load_json(schemas.AfterSaleAnswer)
    _after_sale_for_staff(case_id)
    case = inner().move_after_sale(case_id, "reply", {"reply": body["reply"], "by": g.me.username})
    audit("after_sale.reply", f"after-sale:{case_id}", {"reply": body["reply"]})
    return _public_case(case)


@staff.post("/after-sales/<id:case_id>/received")
@requires("staff", *STAFF_VIEWERS)
def after_sale_received(case_id: int):
    """The returned goods are back at the unit `{"restock": bool}`: the agreed refund goes out; goods that
    can be sold again go back on the shelf."""
    body = load_json(schemas.AfterSaleReceived)
    _after_sale_for_staff(case_id)
    case = inner().move_after_sale(case_id, "received", {"restock": body["restock"], "by": g.me.username})
    audit("after_sale.received", f"after-sale:{case_id}", {"restock": body["restock"]})
    return _public_case(case)


#: Who follows loss claims on couriers: customer service files them, finance sees the money come in.
CLAIM_HANDLERS = ("customer_service", "finance", "admin", "superadmin")


@staff.get("/claims")
@requires(*CLAIM_HANDLERS)
def list_claims():
    """Claims on couriers for parcels lost or damaged in transit (`?status=open|paid|rejected|not_insured`),
    newest first. Each is opened when an after-sales case refunds such a parcel."""
    return inner().claims(load_query(schemas.ClaimQuery))


@staff.post("/claims/<id:claim_id>/settle")
@requires(*CLAIM_HANDLERS)
def settle_claim(claim_id: int):
    """The courier paid `{"paid": "50.00"}` (at most what was claimed): credited to the unit in that
    month's statement."""
    body = load_json(schemas.ClaimSettlement)
    claim = inner().settle_claim(claim_id, body["paid"], g.me.username)
    audit("claim.settle", f"claim:{claim_id}", {"paid": claim["paid"]})
    return claim


@staff.post("/claims/<id:claim_id>/reject")
@requires(*CLAIM_HANDLERS)
def reject_claim(claim_id: int):
    """The courier refused the claim `{"note"}`: the unit bears the loss."""
    body = load_json(schemas.ClaimRejection)
    claim = inner().reject_claim(claim_id, body["note"], g.me.username)
    audit("claim.reject", f"claim:{claim_id}", {"note": body["note"]})
    return claim


# --- staff ---------------------------------------------------------------------------------------


@staff.get("/tasks")
@requires("staff", *ADMINS)
def list_tasks():
    """The packing tasks of the caller's unit (`?status=open|done|cancelled|all`; administrators add `unit`)."""
    query = load_query(schemas.TaskQuery)
    if g.me.role == "staff":
        unit = g.me.unit
    elif query.get("unit"):
        unit = query["unit"]
    else:
        raise ApiError(422, "validation_error", "Some fields are not valid.", {"unit": ["Required."]})
    return inner().tasks(unit, query["status"])


@staff.post("/tasks/<id:task_id>/done")
@requires("staff")
def task_done(task_id: int):
    """The parcel is packed: `{"slip_no"?}` -> the task."""
    body = load_json(schemas.TaskDone)
    return inner().task_done(task_id, g.me.unit, body["slip_no"])


@staff.post("/batches/close")
@requires(*STAFF_VIEWERS)
def close_batch():
    """Close the current local delivery batch now (`{}`) -> `{"batch", "deliveries"}`."""
    load_json(schemas.Empty)
    closed = inner().close_batch(g.me.username)
    audit("batch.close", f"batch:{closed.get('batch')}", closed)
    return closed


@staff.get("/deliveries")
@requires("courier", *ADMINS)
def list_deliveries():
    """The not-yet-delivered deliveries of closed batches: `{"items": [{id, order, unit, status, ...}]}`."""
    query = load_query(schemas.DeliveryQuery)
    return inner().deliveries(query.get("status"))


@staff.post("/deliveries/<id:delivery_id>/picked-up")
@requires("courier")
def picked_up(delivery_id: int):
    """The courier collected the parcel: `{"signature": "..."}` -> the delivery."""
    body = load_json(schemas.PickUp)
    return inner().picked_up(delivery_id, body["signature"], g.me.username)


@staff.post("/deliveries/<id:delivery_id>/delivered")
@requires("courier")
def delivered(delivery_id: int):
    """The customer signed for it: `{"signed_by": "Li Ming"}` -> the delivery."""
    body = load_json(schemas.Handover)
    return inner().delivered(delivery_id, body["signed_by"], g.me.username)


@staff.post("/orders/<number>/check")
@requires(*STAFF_VIEWERS)
def check_order(number: str):
    """Customer service confirms a cash-on-delivery order (核单) -> the order."""
    load_json(schemas.Empty)
    if not ORDER_NUMBER.match(number):
        raise not_found("Order")
    order = inner().check_order(number)
    audit("order.check", f"order:{number}")
    return services.public_order(order)


# --- finance -------------------------------------------------------------------------------------


@finance.get("/orders/<number>/copies")
@requires(*FINANCE)
def order_copies(number: str):
    """An order's three copies (website, one per department, finance):
    `{"copies": [{"kind": "website", "unit": null, "lines": [{"sku", "name", "quantity", "amount"}], "total"}]}`.

    The website and finance copies hold every line (`unit` null); each department copy holds its unit's
    lines. 404 for an order billing does not know (not paid for yet, or paid before billing kept lines)."""
    if not ORDER_NUMBER.match(number):
        raise not_found("Order")
    return inner().order_copies(number)


@finance.post("/statements/run")
@requires(*FINANCE)
def run_statements():
    """Build a month's statements now: `{"month": "2026-10"}` -> `{"month", "items": [statement]}`.

    Beat does this on the 15th for the month before; running a month again replaces its statements.
    A sale counts in the month its payment was captured (cash on delivery: collected), a refund in the
    month it was paid out, in the mall's time zone; logistics_cost and insurance are the courier fees
    and premiums of the unit's parcels booked that month; net_payable = gross - refunds - logistics_cost
    - insurance."""
    body = load_json(schemas.StatementRun)
    built = inner().run_statements(body["month"])
    audit("statements.run", f"month:{body['month']}", {"units": len(built.get("items", []))})
    return built


@finance.get("/statements")
@requires(*FINANCE)
def statements():
    """A month's statements per unit: `?month=2026-10` -> `{"month", "items": [{"unit", "month", "orders",
    "gross", "refunds", "logistics_cost", "insurance", "claims", "net_payable"}]}` (empty until the month is run)."""
    query = load_query(schemas.MonthQuery)
    return inner().statements(query["month"])


@finance.get("/reports/sales")
@requires(*FINANCE)
def sales_report():
    """The monthly sales report per product: `?month=2026-10` -> `{"month", "items": [{"sku", "name", "units",
    "orders", "revenue"}]}`, highest revenue first.

    Sales count in the month their payment was captured (cash on delivery: collected). Refunds paid out
    in the month subtract their units and revenue (a product refunded more than sold shows negative
    numbers); `orders` counts the orders that bought the product that month."""
    query = load_query(schemas.MonthQuery)
    return inner().sales_report(query["month"])


# --- health --------------------------------------------------------------------------------------


@shop.get("/health")
def health():
    """200 `{"status": "ok", "services": {...}}` once every service and its workers are up; 503 before."""
    report: dict[str, Any] = {}
    try:
        with runtime.db.session() as session:
            session.execute(text("SELECT 1"))
        report["gateway"] = {"status": "ok"}
    except Exception as exc:  # the database is down or missing: say so, do not fail
        report["gateway"] = {"status": "down", "reason": type(exc).__name__}
    for name, (up, said) in inner().health().items():
        report[name] = said if up and isinstance(said, dict) else {"status": "ok" if up else "down", "detail": said}
        report[name].setdefault("status", "ok" if up else "down")
    down = sorted(name for name, said in report.items() if said.get("status") != "ok")
    if not down:
        return {"status": "ok", "services": report}
    message = f"Not up yet: {', '.join(down)}."
    return {
        "status": "unavailable",
        "services": report,
        "down": down,
        "error": {"code": "service_unavailable", "message": message},
    }, 503
