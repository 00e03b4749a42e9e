"""Billing's use cases: take and refund payments, keep wallets and the ledger. No Flask, no Celery."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from shared.messaging import UnitOfWork, now
from shared.web import ApiError

from .models import LedgerEntry, Payment, Wallet, WalletMovement


def _wallet(session: Session, member_id: int) -> Wallet:
    wallet = session.get(Wallet, member_id)
    if wallet is None:
        wallet = Wallet(member_id=member_id, balance_cents=0, updated_at=now())
        session.add(wallet)
        session.flush()
    return wallet


def balance_of(session: Session, member_id: int) -> int:
    wallet = session.get(Wallet, member_id)
    return wallet.balance_cents if wallet else 0


def _move(
    session: Session,
    member_id: int,
    delta: int,
    reason: str,
    order: str | None = None,
    key: str | None = None,
) -> bool:
    """Change a balance by `delta` in one conditional update: it never goes below zero."""
    _wallet(session, member_id)
    result = session.execute(
        update(Wallet)
        .where(Wallet.member_id == member_id, Wallet.balance_cents + delta >= 0)
        .values(balance_cents=Wallet.balance_cents + delta, updated_at=now())
    )
    if result.rowcount != 1:
        return False
    session.add(
        WalletMovement(
            member_id=member_id,
            delta_cents=delta,
            reason=reason,
            order=order,
            idempotency_key=key,
            created_at=now(),
        )
    )
    return True


def adjust_balance(session: Session, member_id: int, delta: int, reason: str, key: str | None = None) -> int:
    """An administrator's adjustment; the same idempotency key twice moves money once."""
    if key:
        seen = session.scalar(select(WalletMovement).where(WalletMovement.idempotency_key == key))
        if seen is not None:
            if seen.member_id != member_id or seen.delta_cents != delta:
                raise ApiError(409, "idempotency_key_reused", "This key was used for another adjustment.")
            return balance_of(session, member_id)
    if not _move(session, member_id, delta, f"adjustment: {reason}", key=key):
        raise ApiError(409, "insufficient_balance", "The balance cannot go below zero.")
    session.flush()
    return balance_of(session, member_id)


def _reply_with_state(uow: UnitOfWork, payment: Payment) -> None:
    """Tell orders where the payment stands (a command sent again gets the same answer)."""
    if payment.status == "captured" or (payment.status == "refunded" and payment.captured_at):
        uow.send(
            "payment.captured",
            {"order": payment.order, "method": payment.method, "amount_cents": payment.amount_cents},
        )
    elif payment.status == "failed":
        uow.send("payment.failed", {"order": payment.order, "reason": payment.failure or "failed"})
    elif payment.status in ("pending", "cod"):
        uow.send("payment.pending", {"order": payment.order, "method": payment.method})


def take_payment(uow: UnitOfWork, command: dict[str, Any]) -> None:
    """Charge an order once its stock is held: balance now, online later (provider notify), COD on delivery."""
    session = uow.session
    order = command["order"]
    existing = session.scalar(select(Payment).where(Payment.order == order))
    if existing is not None:
        _reply_with_state(uow, existing)
        return
    payment = Payment(
        order=order,
        member_id=command["member_id"],
        method=command["method"],
        status="pending",
        amount_cents=command["total_cents"],
        refunded_cents=0,
        created_at=now(),
    )
    if command["method"] == "balance":
        if _move(session, command["member_id"], -command["total_cents"], "order payment", order=order):
            payment.status = "captured"
            payment.captured_at = now()
            for share in command["units"]:
                session.add(
                    LedgerEntry(
                        order=order,
                        unit=share["unit"],
                        kind="sale",
                        amount_cents=share["amount_cents"],
                        reason="order paid from balance",
                        created_at=now(),
                    )
                )
        else:
            payment.status = "failed"
            payment.failure = "insufficient_balance"
    elif command["method"] == "online":
        payment.status = "pending"
        payment.out_trade_no = f"{order}-{uuid.uuid4().hex[:8]}"
    else:
        payment.status = "cod"
    session.add(payment)
    session.flush()
    _reply_with_state(uow, payment)


def refund_payment(uow: UnitOfWork, command: dict[str, Any]) -> None:
    """Give back what a cancelled order paid; a second refund of the same order pays nothing."""
    session = uow.session
    payment = session.scalar(select(Payment).where(Payment.order == command["order"]).with_for_update())
    if payment is None:
        uow.send("payment.refunded", {"order": command["order"], "amount_cents": 0})
        return
    if payment.status == "refunded":
        uow.send("payment.refunded", {"order": payment.order, "amount_cents": payment.refunded_cents})
        return
    amount = payment.amount_cents if payment.status == "captured" else 0
    if amount and payment.method == "balance":
        _move(session, payment.member_id, amount, f"refund: {command['reason']}", order=payment.order)
    for entry in session.scalars(
        select(LedgerEntry).where(LedgerEntry.order == payment.order, LedgerEntry.kind == "sale")
    ).all():
        session.add(
            LedgerEntry(
                order=payment.order,
                unit=entry.unit,
                kind="refund",
                amount_cents=-entry.amount_cents,
                reason=command["reason"],
                created_at=now(),
            )
        )
    payment.status = "refunded" if amount else "failed"
    payment.failure = payment.failure or (None if amount else "cancelled before payment")
    payment.refunded_cents = amount
    payment.refunded_at = now()
    uow.send("payment.refunded", {"order": payment.order, "amount_cents": amount})


def complete_sale(uow: UnitOfWork, event: dict[str, Any]) -> None:
    """The customer confirmed receipt: the sale is final (cash on delivery counts as collected now)."""
    payment = uow.session.scalar(select(Payment).where(Payment.order == event["order"]))
    if payment is None or payment.completed_at is not None:
        return
    payment.completed_at = event["completed_at"]
    if payment.status == "cod":
        payment.status = "captured"
        payment.captured_at = event["completed_at"]
        units: dict[str, int] = {}
        for line in event["lines"]:
            units[line["unit"]] = units.get(line["unit"], 0) + line["amount_cents"]
        for unit, amount in units.items():
            uow.session.add(
                LedgerEntry(
                    order=payment.order,
                    unit=unit,
                    kind="sale",
                    amount_cents=amount,
                    reason="cash collected on delivery",
                    created_at=now(),
                )
            )


def payment_view(payment: Payment) -> dict[str, Any]:
    return {
        "order": payment.order,
        "method": payment.method,
        "status": payment.status,
        "amount_cents": payment.amount_cents,
        "refunded_cents": payment.refunded_cents,
        "out_trade_no": payment.out_trade_no,
        "captured_at": payment.captured_at.isoformat() if payment.captured_at else None,
    }
