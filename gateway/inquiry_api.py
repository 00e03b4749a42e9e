"""Product inquiries (DOMAIN.md's 咨询) at the edge: a customer asks about a product before buying it, the unit that
sells it (or customer service) answers from stores' stock figure, and the customer reads the answer.

Catalog owns the inquiries (docs/internal-api.md). The gateway checks who calls and what they send, passes the
member and the answering staff member on (never from the body), decides which inquiries a unit's staff see
(what their unit sells: `catalogue_services.sold_by`), adds the stock figure for staff, and shows askers
masked as review authors are (`w***g`). Answers go to the administrator log.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from flask import Blueprint, g

from shared.web import not_found

from . import schemas, services
from .api import audit, idempotency_key, inner, load_json, load_query, requires
from .catalogue_services import sold_by
from .config import runtime
from .services import STAFF_VIEWERS

inquiries = Blueprint("inquiries", __name__, url_prefix="/api")

#: What an asker sees of their inquiry (catalog's fields; who answered is the mall's business, as after-sales').
MINE = (
    "id",
    "question",
    "quantity",
    "public",
    "status",
    "answer",
    "available",
    "answered_unit",
    "created_at",
    "answered_at",
)
#: What everyone sees of an answered public inquiry on the product's page.
PUBLIC = ("id", "question", "answer", "created_at", "answered_at")

# The GET of a path is registered before its POST, as the reviews' are: with an id past the database's range
# Werkzeug answers the first rule's method 404 and the other 405 (never a 500); the page is what is read most.


@inquiries.get("/products/<id:product_id>/inquiries")
def product_inquiries(product_id: int):
    """The product's answered questions (问大家), newest answer first: `?page=&per_page=` -> `{items: [{id, question,
    answer, asker, created_at, answered_at}], total, page, per_page}`; askers masked; those who asked with
    `public: false` are not shown. Anyone may read them; 404."""
    query = load_query(schemas.InquiryPageQuery)
    found = inner().product_inquiries(product_id, query)
    if found is None:
        raise not_found("Product")
    shown = _masked(found["items"])
    return found | {"items": [_public(i, shown) for i in found["items"]]}


@inquiries.post("/products/<id:product_id>/inquiries")
@requires("customer")
def ask(product_id: int):
    """Ask about a product before buying: `{"question": "Is the 250 g tin in stock?", "quantity"?: 3, "public"?:
    true}` -> 201 the inquiry (`open`). The unit that sells it, or customer service, answers; `GET
    /api/inquiries` shows the answer. At most 3 open inquiries per product and 20 in all; 409
    `too_many_open_inquiries`, `product_withdrawn`; 404. Answered inquiries show on the product's page with the
    asker masked unless `public` is false. Send `Idempotency-Key` to make retries safe."""
    key = idempotency_key()
    body = load_json(schemas.InquiryIn)
    wire = {
        "member_id": g.me.id,
        "question": body["question"],
        "quantity": body["quantity"],
        "public": body["public"],
        "idempotency_key": key,
    }
    return _mine(inner().ask(product_id, wire)), 201


@inquiries.get("/inquiries")
@requires("customer")
def my_inquiries():
    """The caller's inquiries and their answers, newest first: `?status=open|answered|all&page=&per_page=` ->
    `{items: [inquiry], total, page, per_page}`."""
    query = load_query(schemas.MyInquiryQuery)
    found = inner().inquiries(query | {"member_id": g.me.id, "sort": "newest"})
    return found | {"items": [_mine(i) for i in found["items"]]}


@inquiries.get("/staff/inquiries")
@requires("staff", *STAFF_VIEWERS)
def staff_inquiries():
    """Inquiries to answer: `?status=open|answered|all&page=&per_page=` (open by default, oldest first: those
    waiting longest; otherwise newest first). A unit's staff see those about what their unit sells (a
    supermarket branch: every supermarket product); customer service and administrators all of them. Each
    shows the stock available now at every unit that sells the product (`stock`), to answer from."""
    query = load_query(schemas.StaffInquiryQuery)
    units = _units()
    params = query | {"sort": "oldest" if query["status"] == "open" else "newest"}
    if g.me.role == "staff":
        mine = _unit_of_caller(units)
        params |= {"unit": mine["code"], "branch": mine.get("kind") == "branch"}
    found = inner().inquiries(params)
    return found | {"items": _for_staff(found["items"], units)}


@inquiries.post("/staff/inquiries/<id:inquiry_id>/answer")
@requires("staff", *STAFF_VIEWERS)
def answer(inquiry_id: int):
    """Answer an inquiry: `{"answer": "Yes, 12 tins at the counter.", "available"?: 12}` (how many the unit can
    supply now, as the counter confirms stock in the worked example) -> the inquiry, answered. The same answer
    again changes nothing; another answer once it has one is 409 `already_answered` (the customer may have
    acted on the first: a follow-up is a new inquiry). Another unit's inquiry is 404."""
    body = load_json(schemas.InquiryAnswerIn)
    units = _units()
    inquiry = inner().inquiry(inquiry_id)
    if inquiry is None or (g.me.role == "staff" and not sold_by(inquiry["product"], _unit_of_caller(units))):
        raise not_found("Inquiry")
    wire = {
        "answer": body["answer"],
        "available": body["available"],
        "by": g.me.username,
        "unit": g.me.unit if g.me.role == "staff" else None,
    }
    answered = inner().answer_inquiry(inquiry_id, wire)
    if answered.get("changed"):  # the same answer again is not a second action
        detail = {"product": answered["product"]["sku"], "available": body["available"], "answer": body["answer"]}
        audit("inquiry.answer", f"inquiry:{inquiry_id}", detail)
    [shown] = _for_staff([answered], units)
    return shown


# --- views ---------------------------------------------------------------------------------------


def _units() -> dict[str, dict[str, Any]]:
    return {u["code"]: u for u in inner().list_units()["items"]}


def _unit_of_caller(units: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The caller's unit as stores knows it (a unit stores does not know sells only what it owns, if anything)."""
    return units.get(g.me.unit) or {"code": g.me.unit, "kind": None}


def _masked(items: list[dict[str, Any]]) -> dict[int, str]:
    with runtime.db.session() as session, session.begin():
        return services.masked_usernames(session, {i["member_id"] for i in items})


def _product(inquiry: dict[str, Any], *fields: str) -> dict[str, Any]:
    return {k: inquiry["product"].get(k) for k in ("id", "sku", "name", *fields)}


def _mine(inquiry: dict[str, Any]) -> dict[str, Any]:
    return {k: inquiry.get(k) for k in MINE} | {"product": _product(inquiry)}


def _public(inquiry: dict[str, Any], shown: dict[int, str]) -> dict[str, Any]:
    return {k: inquiry.get(k) for k in PUBLIC} | {"asker": shown.get(inquiry["member_id"], "***")}


def _for_staff(items: list[dict[str, Any]], units: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Inquiries as staff see them, each with the stock available now at the units that sell its product (one
    call to stores for the page): what the unit answers from."""
    skus = sorted({i["product"]["sku"] for i in items})
    held: dict[str, list[dict[str, Any]]] = defaultdict(list)
    products = {i["product"]["sku"]: i["product"] for i in items}
    for row in inner().availability(skus):
        holder = units.get(row["unit"])
        # Only stock a unit can sell counts (a counter's stray stock of another's product does not).
        if row.get("sku") in products and holder and sold_by(products[row["sku"]], holder):
            held[row["sku"]].append({"unit": row["unit"], "available": max(0, row.get("available", 0))})
    shown = _masked(items)
    see_member = g.me.role != "staff"  # customer service may need to reach the customer; a counter does not
    views = []
    for inquiry in items:
        rows = held[inquiry["product"]["sku"]]
        view = _mine(inquiry) | {
            "product": _product(inquiry, "division", "unit"),
            "asker": shown.get(inquiry["member_id"], "***"),
            "answered_by": inquiry.get("answered_by"),
            "stock": {"available": sum(r["available"] for r in rows), "units": rows},
        }
        if see_member:
            view["member_id"] = inquiry["member_id"]
        views.append(view)
    return views
