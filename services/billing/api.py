"""Billing's internal HTTP API (service token required): wallets and payments."""

from flask import Blueprint
from sqlalchemy import select

from shared.money import format_cents
from shared.web import load_body, not_found

from . import services
from .config import runtime
from .models import Payment
from .schemas import BalanceAdjustment, PaymentNotice

bp = Blueprint("billing", __name__, url_prefix="/internal")


@bp.get("/wallets/<int:member_id>")
def get_wallet(member_id: int):
    """A member's balance: `{"member_id": 7, "balance": "100.00"}`."""
    with runtime.db.session() as session:
        return {"member_id": member_id, "balance": format_cents(services.balance_of(session, member_id))}


@bp.post("/wallets/<int:member_id>/adjust")
def adjust_wallet(member_id: int):
    """`{"delta": "100.00", "reason": "top-up", "idempotency_key": "..."}` -> the new balance."""
    body = load_body(BalanceAdjustment)
    with runtime.db.session() as session, session.begin():
        balance = services.adjust_balance(session, member_id, body["delta"], body["reason"], body["idempotency_key"])
    return {"member_id": member_id, "balance": format_cents(balance)}


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
