"""Orders' internal HTTP API (service token required): read orders, and people's actions on them."""

from flask import Blueprint, request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from shared.web import ApiError, load_body, not_found

from . import after_sales, services
from .config import runtime
from .models import Order
from .schemas import (
    AfterSaleAgreement,
    AfterSaleAnswer,
    AfterSaleQuery,
    AfterSaleReceipt,
    AfterSaleRequest,
    CancelRequest,
    ContactChange,
    KnownOrdersQuery,
    MemberQuery,
)

bp = Blueprint("orders", __name__, url_prefix="/internal")


def _view(number: str):
    with runtime.db.session() as session:
        order = services.find(session, number)
        if order is None:
            raise not_found(f"Order {number}")
        return services.view(order)


@bp.get("/orders/<number>")
def get_order(number: str):
    """The order with its fulfilments, payment and timeline (API.md's shape plus member_id)."""
    return _view(number)


@bp.get("/orders")
def list_orders():
    """`?member_id=7` -> `{"items": [order, ...]}`, newest first."""
    query = load_body(MemberQuery, request.args.to_dict())
    with runtime.db.session() as session:
        return {"items": [services.view(o) for o in services.list_for_member(session, query["member_id"])]}


@bp.post("/orders/known")
def known_orders():
    """`{"numbers": ["M...", ...]}` (at most 500) -> `{"known": [the numbers orders has]}`, in the order asked.

    The gateway asks this about orders it placed whose `orders.place_order` should have arrived by now,
    and sends the command again for the numbers missing here.
    """
    numbers = list(dict.fromkeys(load_body(KnownOrdersQuery)["numbers"]))
    if not numbers:
        return {"known": []}
    with runtime.db.session() as session:
        found = set(session.scalars(select(Order.number).where(Order.number.in_(numbers))))
    return {"known": [number for number in numbers if number in found]}


@bp.post("/orders/<number>/cancel")
def cancel_order(number: str):
    """`{"reason": "..."}` -> 202; 409 not_cancellable once the parcel was handed over."""
    body = load_body(CancelRequest)
    with runtime.unit_of_work(number) as uow:
        _exists(uow.session, number)
        services.cancel(uow, number, body["reason"], runtime.settings)
    return _view(number), 202


@bp.post("/orders/<number>/receipt")
def confirm_receipt(number: str):
    with runtime.unit_of_work(number) as uow:
        _exists(uow.session, number)
        services.confirm_receipt(uow, number)
    return _view(number)


@bp.post("/orders/<number>/check")
def check_order(number: str):
    """Customer service confirms a cash-on-delivery order (核单)."""
    with runtime.unit_of_work(number) as uow:
        _exists(uow.session, number)
        services.check_cash_on_delivery(uow, number, runtime.settings)
    return _view(number)


@bp.post("/orders/<number>/contact")
def change_contact(number: str):
    """`{"name"?, "phone"?, "line"?, "by"}` -> the order; 409 `contact_locked` once a parcel is packed."""
    body = load_body(ContactChange)
    contact = {key: body[key] for key in ("name", "phone", "line") if key in body}
    if not contact:
        raise ApiError(422, "validation_error", "Say what changes.", {"name": ["One of name, phone, line."]})
    with runtime.unit_of_work(number) as uow:
        _exists(uow.session, number)
        services.change_contact(uow, number, contact, body["by"])
    return _view(number)


@bp.post("/orders/<number>/after-sales")
def open_after_sale(number: str):
    """A customer's case on their order -> 201 the case (200: the same idempotency key again)."""
    body = load_body(AfterSaleRequest)
    try:
        with runtime.unit_of_work(number) as uow:
            _exists(uow.session, number)
            case, new = after_sales.open_case(uow, number, body, runtime.settings)
            view = after_sales.case_view(case)
    except IntegrityError:  # the same key, at the same moment, for another order (one row per member and key)
        raise ApiError(409, "idempotency_key_reused", "This key was used for another after-sales case.") from None
    return view, 201 if new else 200


@bp.get("/orders/<number>/after-sales")
def order_after_sales(number: str):
    with runtime.db.session() as session:
        _exists(session, number)
        return {"items": [after_sales.case_view(c) for c in after_sales.cases_of_order(session, number)]}


@bp.get("/after-sales")
def list_after_sales():
    """`?status=&unit=` -> `{"items": [case, ...]}`, newest first."""
    query = load_body(AfterSaleQuery, request.args.to_dict())
    with runtime.db.session() as session:
        cases = after_sales.list_cases(session, query["status"], query["unit"])
        return {"items": [after_sales.case_view(c) for c in cases]}


@bp.get("/after-sales/<id:case_id>")
def get_after_sale(case_id: int):
    with runtime.db.session() as session:
        case = after_sales.find_case(session, case_id)
        if case is None:
            raise not_found(f"After-sales case {case_id}")
        return after_sales.case_view(case)


@bp.post("/after-sales/<id:case_id>/agree")
def agree_after_sale(case_id: int):
    body = load_body(AfterSaleAgreement)
    with runtime.unit_of_work(f"after-sale-{case_id}") as uow:
        case = after_sales.agree(
            uow, case_id, body["resolution"], body["refund_cents"], body["reply"], body["by"], runtime.settings
        )
        view = after_sales.case_view(case)
    return view


@bp.post("/after-sales/<id:case_id>/reply")
def answer_after_sale(case_id: int):
    body = load_body(AfterSaleAnswer)
    with runtime.unit_of_work(f"after-sale-{case_id}") as uow:
        view = after_sales.case_view(after_sales.answer(uow, case_id, body["reply"], body["by"]))
    return view


@bp.post("/after-sales/<id:case_id>/received")
def after_sale_received(case_id: int):
    body = load_body(AfterSaleReceipt)
    with runtime.unit_of_work(f"after-sale-{case_id}") as uow:
        case = after_sales.goods_received(uow, case_id, body["restock"], body["by"], runtime.settings)
        view = after_sales.case_view(case)
    return view


def _exists(session, number: str) -> None:
    if session.get(Order, number) is None:
        raise not_found(f"Order {number}")
