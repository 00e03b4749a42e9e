"""Billing's internal HTTP API (service token required): wallets, payments, and finance's copies, statements and
sales report."""

from flask import Blueprint, request
from sqlalchemy import select

from shared.http import ServiceUnavailable
from shared.money import format_cents
from shared.web import ApiError, load_body, not_found

from . import services
from .config import logistics_costs, runtime
from .models import Payment
from .schemas import BalanceAdjustment, MonthQuery, PaymentNotice, StatementRun

bp = Blueprint("billing", __name__, url_prefix="/internal")


@bp.get("/wallets/<id:member_id>")
def get_wallet(member_id: int):
    """A member's balance: `{"member_id": 7, "balance": "100.00"}`."""
    with runtime.db.session() as session:
        return {"member_id": member_id, "balance": format_cents(services.balance_of(session, member_id))}


@bp.post("/wallets/<id:member_id>/adjust")
def adjust_wallet(member_id: int):
    """`{"delta": "100.00", "reason": "top-up", "idempotency_key": "..."}` -> the new balance."""
    body = load_body(BalanceAdjustment)
    with runtime.db.session() as session, session.begin():
        balance = services.adjust_balance(session, member_id, body["delta"], body["reason"], body["idempotency_key"])
    return {"member_id": member_id, "balance": format_cents(balance)}


@bp.get("/members/<id:member_id>/spending")
def spending(member_id: int):
    """A member's spending records: `{"spent": "125.00", "items": [{order, method, paid, refunded, paid_at,
    items: [{sku, name, quantity, amount}]}]}`, newest first (at most 100 orders)."""
    with runtime.db.session() as session:
        return services.spending_of(session, member_id)


@bp.get("/payments/<order>")
def get_payment(order: str):
    with runtime.db.session() as session:
        payment = session.scalar(select(Payment).where(Payment.order == order))
        if payment is None:
            raise not_found("Payment")
        return services.payment_view(payment)


@bp.post("/payments/notify")
def payment_notified():
    """An online payment's trade, as the provider reported it (the gateway verified its signature):
    `{"out_trade_no", "trade_no", "amount": "25.00", "trade_status": "TRADE_SUCCESS", "paid_at"?}`
    -> `{"order", "status", "changed"}`; 404 for an unknown out_trade_no, 400 when the amount or the trade
    does not match (nothing changes)."""
    body = load_body(PaymentNotice)
    notice = {k: v for k, v in body.items() if k != "amount"} | {"amount_cents": body["amount"]}
    with runtime.db.session() as session:
        order = session.scalar(select(Payment.order).where(Payment.out_trade_no == notice["out_trade_no"]))
    if order is None:
        raise not_found("Payment")
    with runtime.unit_of_work(order) as uow:
        return services.payment_notified(uow, notice)


# --- finance ------------------------------------------------------------------------------------


@bp.get("/orders/<order>/copies")
def order_copies(order: str):
    """The order's website, department (one per unit) and finance copies: `{"copies": [{"kind": "website",
    "unit": null, "lines": [{"sku", "name", "quantity", "amount": "25.00"}], "total": "25.00"}, ...]}`; 404."""
    with runtime.db.session() as session:
        return {"copies": services.order_copies(session, order)}


@bp.post("/statements/run")
def run_statements():
    """Build a month's statements now, replacing any built before: `{"month": "2026-10"}` ->
    `{"month", "items": [statement]}`; 503 when logistics (the month's costs) does not answer."""
    body = load_body(StatementRun)
    timezone = runtime.settings.timezone
    try:
        items = services.run_statements(runtime.db, body["month"], logistics_costs, timezone=timezone)
    except ServiceUnavailable as exc:
        raise ApiError(503, "service_unavailable", "Logistics did not answer with the month's costs.") from exc
    return {"month": body["month"], "items": items}


@bp.get("/statements")
def statements():
    """`?month=2026-10` -> `{"month", "items": [{"unit", "month", "orders", "gross", "refunds", "logistics_cost",
    "insurance", "claims", "net_payable", "parcels", "built_at"}]}` (empty until the month is run)."""
    query = load_body(MonthQuery, request.args.to_dict())
    with runtime.db.session() as session:
        return {"month": query["month"], "items": services.statements_of(session, query["month"])}


@bp.get("/reports/sales")
def sales_report():
    """`?month=2026-10` -> `{"month", "items": [{"sku", "name", "units", "orders", "revenue"}]}`, by revenue."""
    query = load_body(MonthQuery, request.args.to_dict())
    with runtime.db.session() as session:
        items = services.sales_report(session, query["month"], runtime.settings.timezone)
    return {"month": query["month"], "items": items}
