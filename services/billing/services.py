"""Billing's use cases: take and refund payments, keep wallets and the ledger; finance's order copies, monthly
statements and sales report. No Flask, no Celery (another service's data comes in as a function).

Taking a payment is on every order's path: wallets, movements, new payments and ledger entries are
written with the Core statements below, built once with bound parameters, so SQLAlchemy reuses their
compiled form and no ORM object is loaded or flushed per message.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shared.calendar import month_bounds
from shared.db import Database, as_utc, direct
from shared.messaging import PermanentError, UnitOfWork, now
from shared.money import format_cents
from shared.web import ApiError, not_found

from .models import (
    AuctionSettlement,
    LedgerEntry,
    OrderLine,
    Payment,
    RefundLine,
    Settlement,
    Statement,
    Wallet,
    WalletMovement,
)

log = logging.getLogger("mall.billing")

# --- statements -----------------------------------------------------------------------------------
# (An update may not name a bound parameter after one of its columns: hence "member", not "member_id".)

wallet_table, movement_table, payment_table, ledger_table, line_table = (
    Wallet.__table__,
    WalletMovement.__table__,
    Payment.__table__,
    LedgerEntry.__table__,
    OrderLine.__table__,
)

BALANCE = direct(select(wallet_table.c.balance_cents).where(wallet_table.c.member_id == bindparam("member")))
OPEN_WALLET = direct(insert(wallet_table))
#: One conditional update: a balance never goes below zero, however many payments race for it.
MOVE = direct(
    update(wallet_table)
    .where(wallet_table.c.member_id == bindparam("member"), wallet_table.c.balance_cents + bindparam("delta") >= 0)
    .values(balance_cents=wallet_table.c.balance_cents + bindparam("delta"), updated_at=bindparam("at"))
)
RECORD_MOVEMENT = direct(insert(movement_table))
#: What orders is told about a payment (see _reply_with_state).
PAYMENT_STATE = direct(
    select(
        payment_table.c.order,
        payment_table.c.method,
        payment_table.c.status,
        payment_table.c.amount_cents,
        payment_table.c.failure,
        payment_table.c.captured_at,
    ).where(payment_table.c.order == bindparam("order"))
)
RECORD_PAYMENT = direct(insert(payment_table))
RECORD_ENTRIES = direct(insert(ledger_table))
RECORD_LINES = direct(insert(line_table))
SALES = direct(
    select(ledger_table.c.unit, ledger_table.c.amount_cents).where(
        ledger_table.c.order == bindparam("order"), ledger_table.c.kind == "sale"
    )
)


def balance_of(session: Session, member_id: int) -> int:
    return session.execute(BALANCE, {"member": member_id}).scalar() or 0


def _move(
    session: Session,
    member_id: int,
    delta: int,
    reason: str,
    order: str | None = None,
    key: str | None = None,
    reference: str | None = None,
) -> bool:
    """Change a balance by `delta` (see MOVE) and record why; False if the balance does not cover it.

    `reference` is unique among movements: a second movement under it fails the transaction.
    """
    at = now()
    move = {"member": member_id, "delta": delta, "at": at}
    moved = session.execute(MOVE, move).rowcount == 1
    if not moved and session.execute(BALANCE, {"member": member_id}).first() is None:
        # A member's first movement opens the wallet at zero (a debit then still fails).
        session.execute(OPEN_WALLET, {"member_id": member_id, "balance_cents": 0, "updated_at": at})
        moved = session.execute(MOVE, move).rowcount == 1
    if moved:
        session.execute(
            RECORD_MOVEMENT,
            {
                "member_id": member_id,
                "delta_cents": delta,
                "reason": reason,
                "order": order,
                "idempotency_key": key,
                "reference": reference,
                "created_at": at,
            },
        )
    return moved


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
    return balance_of(session, member_id)


# --- person-to-person auctions ---------------------------------------------------------------------


def settle_auction(uow: UnitOfWork, event: dict[str, Any]) -> None:
    """An auction sold (catalog's `auction.sold`): move its price from the buyer's balance to the seller's.

    Once per auction, whatever the re-sends: the settlement row (one per auction) is claimed first; a copy
    racing this one waits on its key and then finds it. The two movements carry the unique references
    `auction:<id>:buyer` and `auction:<id>:seller` besides. A balance that does not cover the price is
    recorded as a failed settlement (the auction is unpaid; nothing moved). Either way catalog is told,
    and told the same again when it asks again.
    """
    session = uow.session
    auction = event["auction"]
    settlement = AuctionSettlement(
        auction_id=auction,
        seller_id=event["seller_id"],
        buyer_id=event["buyer_id"],
        amount_cents=event["amount_cents"],
        status="paid",
        created_at=now(),
    )
    try:
        with session.begin_nested():
            session.add(settlement)
    except IntegrityError:  # settled before (or a moment ago, by a copy that has committed): the same answer
        settlement = session.get(AuctionSettlement, auction, populate_existing=True)
        _answer_auction(uow, settlement)
        return
    amount, reason = event["amount_cents"], f"auction #{auction}: {event['title']}"[:200]
    if _move(session, event["buyer_id"], -amount, f"bought at {reason}"[:200], reference=f"auction:{auction}:buyer"):
        _move(session, event["seller_id"], amount, f"sold at {reason}"[:200], reference=f"auction:{auction}:seller")
    else:
        settlement.status, settlement.failure = "failed", "insufficient_balance"
        log.info("auction %d unpaid: buyer %d's balance does not cover %d cents", auction, event["buyer_id"], amount)
    _answer_auction(uow, settlement)


def _answer_auction(uow: UnitOfWork, settlement: AuctionSettlement) -> None:
    correlation_id = f"auction-{settlement.auction_id}"
    if settlement.status == "paid":
        at = settlement.created_at if settlement.created_at.tzinfo else settlement.created_at.replace(tzinfo=UTC)
        payload = {"auction": settlement.auction_id, "amount_cents": settlement.amount_cents, "paid_at": at.isoformat()}
        uow.send("auction.paid", payload, correlation_id=correlation_id)
    else:
        payload = {"auction": settlement.auction_id, "reason": settlement.failure or "failed"}
        uow.send("auction.payment_failed", payload, correlation_id=correlation_id)


def _reply_with_state(uow: UnitOfWork, payment: Mapping[str, Any]) -> None:
    """Tell orders where the payment stands (a command sent again gets the same answer)."""
    status = payment["status"]
    if status == "captured" or (status == "refunded" and payment["captured_at"]):
        uow.send(
            "payment.captured",
            {"order": payment["order"], "method": payment["method"], "amount_cents": payment["amount_cents"]},
        )
    elif status == "failed":
        uow.send("payment.failed", {"order": payment["order"], "reason": payment["failure"] or "failed"})
    elif status in ("pending", "cod"):
        uow.send("payment.pending", {"order": payment["order"], "method": payment["method"]})


def take_payment(uow: UnitOfWork, command: dict[str, Any]) -> None:
    """Charge an order once its stock is held: balance now, online later (provider notify), COD on delivery."""
    session = uow.session
    order = command["order"]
    existing = session.execute(PAYMENT_STATE, {"order": order}).first()
    if existing is not None:
        _reply_with_state(uow, existing._asdict())
        return
    at = now()
    payment = {
        "order": order,
        "member_id": command["member_id"],
        "method": command["method"],
        "status": "pending",
        "amount_cents": command["total_cents"],
        "refunded_cents": 0,
        "out_trade_no": None,
        "trade_no": None,
        "shares": json.dumps(command["units"]),
        "failure": None,
        "invoice": json.dumps(command["invoice"], ensure_ascii=False) if command.get("invoice") else None,
        "created_at": at,
        "captured_at": None,
    }
    if command["method"] == "balance":
        if _move(session, command["member_id"], -command["total_cents"], "order payment", order=order):
            payment |= {"status": "captured", "captured_at": at}
            _record_entries(session, order, "sale", command["units"], "order paid from balance")
        else:
            payment |= {"status": "failed", "failure": "insufficient_balance"}
    elif command["method"] == "online":
        payment["out_trade_no"] = f"{order}-{uuid.uuid4().hex[:8]}"
    else:
        payment["status"] = "cod"
    session.execute(RECORD_PAYMENT, payment)
    if command["lines"]:  # (a command sent before take_payment carried lines has none: see docs/messages.md)
        session.execute(RECORD_LINES, [{"order": order, **line} for line in command["lines"]])
    _reply_with_state(uow, payment)


def _record_entries(
    session: Session,
    order: str,
    kind: str,
    shares: list[dict[str, Any]],
    reason: str,
    at: datetime | None = None,
) -> None:
    """One ledger entry per unit share (`{"unit", "amount_cents"}`): what it is owed (sale) or gives back (refund).

    An entry is dated when the money moved (`at`, default now): the month a statement counts it in.
    """
    if not shares:
        return  # (an insert without parameters would write one row of defaults)
    at = at or now()
    session.execute(
        RECORD_ENTRIES,
        [
            {
                "order": order,
                "unit": share["unit"],
                "kind": kind,
                "amount_cents": share["amount_cents"],
                "reason": reason,
                "reference": share.get("reference", ""),
                "created_at": at,
            }
            for share in shares
        ],
    )


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
    sales = session.execute(SALES, {"order": payment.order}).all()
    refunds = [{"unit": sale.unit, "amount_cents": -sale.amount_cents} for sale in sales]
    _record_entries(session, payment.order, "refund", refunds, command["reason"])
    payment.status = "refunded" if amount else "failed"
    payment.failure = payment.failure or (None if amount else "cancelled before payment")
    payment.refunded_cents = amount
    payment.refunded_at = now()
    uow.send("payment.refunded", {"order": payment.order, "amount_cents": amount})


def refund_after_sale(uow: UnitOfWork, command: dict[str, Any]) -> None:
    """Pay back what an after-sales case agreed (orders' `after_sales`), once per case.

    The money goes back the way it came: to the wallet for a balance payment; for cash on delivery, which
    cannot go back in cash, to the wallet too; for an online payment it is recorded as owed back through
    the provider (as a cancel's refund is). A cash-on-delivery payment that is not final yet (the order
    is delivered, not completed) is captured first, as collected when the order was delivered. The unit
    gives the money back in the month it was paid out (a refund entry, referenced by the case), and the
    goods' lines go into `refund_lines` for the sales report. Never more than is left of the payment.
    """
    session = uow.session
    order, reference = command["order"], f"after-sale:{command['case']}"
    payment = session.scalar(select(Payment).where(Payment.order == order).with_for_update())
    if payment is None or payment.status in ("pending", "failed"):
        # An after-sales case is opened on a delivered order: its payment exists and was taken. This one was
        # never paid: nothing can go back, and sending it again will not change that.
        raise PermanentError(f"order {order} has no payment to refund ({payment.status if payment else 'none'})")
    done = session.scalar(
        select(func.sum(RefundLine.amount_cents)).where(RefundLine.order == order, RefundLine.reference == reference)
    )
    if done is not None:  # this case was refunded before: the same answer again
        uow.send("after_sale.refunded", {"order": order, "case": command["case"], "amount_cents": int(done)})
        return
    if payment.status == "cod":
        collected_at = command.get("delivered_at")
        if collected_at is None:  # (orders refuses such a case: nothing was collected to give back)
            raise PermanentError(f"order {order}: cash on delivery was never collected, nothing to refund")
        payment.status, payment.captured_at = "captured", collected_at
        _record_entries(
            session, order, "sale", _shares_of(session, payment), "cash collected on delivery", at=collected_at
        )
    requested = command["amount_cents"]
    if sum(line["amount_cents"] for line in command["lines"]) != requested:
        raise PermanentError(f"after-sales refund of {order}: lines do not add up to {requested}")
    amount = min(requested, payment.amount_cents - payment.refunded_cents)
    if amount < requested:
        log.error("after-sales refund of %s capped at %d cents, what is left of the payment", order, amount)
    at = now()
    if amount and payment.method in ("balance", "cod"):
        _move(session, payment.member_id, amount, f"refund: {command['reason']}"[:200], order=order)
    _record_entries(
        session,
        order,
        "refund",
        [{"unit": command["unit"], "amount_cents": -amount, "reference": reference}],
        command["reason"],
        at=at,
    )
    lines, left = [], amount
    for line in command["lines"]:  # (capped: what is left goes to the first lines)
        given = min(line["amount_cents"], left)
        left -= given
        lines.append(
            RefundLine(
                order=order,
                unit=command["unit"],
                reference=reference,
                sku=line["sku"],
                name=line["name"],
                quantity=line["quantity"],
                amount_cents=given,
                created_at=at,
            )
        )
    session.add_all(lines)
    payment.refunded_cents += amount
    payment.refunded_at = at
    if payment.refunded_cents >= payment.amount_cents:
        payment.status = "refunded"
    uow.send("after_sale.refunded", {"order": order, "case": command["case"], "amount_cents": amount})


def expire_payment(uow: UnitOfWork, command: dict[str, Any]) -> None:
    """The order stopped waiting for its online payment: a payment still pending fails now, under the row's
    lock, so the provider's notification is either before (captured: orders goes on) or after (money that
    came after the close: captured, and orders refunds it). Either way orders is told where it stands."""
    payment = uow.session.scalar(select(Payment).where(Payment.order == command["order"]).with_for_update())
    if payment is None:  # billing never took the payment: nothing can be paid
        uow.send("payment.failed", {"order": command["order"], "reason": command["reason"]})
        return
    if payment.status == "pending":
        payment.status, payment.failure = "failed", command["reason"]
    _reply_with_state(uow, _state(payment))


def complete_sale(uow: UnitOfWork, event: dict[str, Any]) -> None:
    """The customer confirmed receipt (or orders did, days after delivery): the sale is final. Cash on
    delivery is captured as collected when the last parcel was signed for (`delivered_at`; for an order
    delivered before orders kept that time, at completion)."""
    # Locked, as refund_after_sale locks it: the two must not both enter a cash-on-delivery sale.
    payment = uow.session.scalar(select(Payment).where(Payment.order == event["order"]).with_for_update())
    if payment is None or payment.completed_at is not None:
        return
    payment.completed_at = event["completed_at"]
    if payment.status == "cod":
        collected_at = event.get("delivered_at") or event["completed_at"]
        payment.status = "captured"
        payment.captured_at = collected_at
        units: dict[str, int] = {}
        for line in event["lines"]:
            units[line["unit"]] = units.get(line["unit"], 0) + line["amount_cents"]
        shares = [{"unit": unit, "amount_cents": amount} for unit, amount in units.items()]
        # Dated when the cash was collected, not when this message happened to be handled.
        _record_entries(uow.session, payment.order, "sale", shares, "cash collected on delivery", at=collected_at)


#: Alipay's trade states: paid (TRADE_FINISHED: paid and no longer refundable), closed unpaid (or fully
#: refunded after payment), and created but not paid yet (sent only when the merchant asks for it).
PAID_STATES = ("TRADE_SUCCESS", "TRADE_FINISHED")
CLOSED_STATE = "TRADE_CLOSED"
WAITING_STATE = "WAIT_BUYER_PAY"


def payment_notified(uow: UnitOfWork, notice: dict[str, Any]) -> dict[str, Any]:
    """The payment provider's notification about an online payment's trade, verified by the gateway.

    `notice`: `{out_trade_no, trade_no, amount_cents, trade_status, paid_at}`. Paid: the payment is
    captured, each unit's sale entry written and orders told, once however often the provider repeats
    itself; money that arrives for an order cancelled meanwhile is captured too, and orders refunds it.
    Closed: a payment still pending fails (orders cancels the order); a closed trade that had been paid
    (a full refund closes it) changes nothing. A notice whose amount, method or trade number does not match
    the payment changes nothing and raises ApiError(400); an unknown out_trade_no ApiError(404).
    """
    payment = uow.session.scalar(
        select(Payment).where(Payment.out_trade_no == notice["out_trade_no"]).with_for_update()
    )
    if payment is None:
        raise ApiError(404, "not_found", "No payment has this out_trade_no.")
    if payment.method != "online" or payment.amount_cents != notice["amount_cents"]:
        raise ApiError(400, "amount_mismatch", "The amount does not match the order's payment.")
    if payment.trade_no is not None and payment.trade_no != notice["trade_no"]:
        raise ApiError(400, "trade_mismatch", "This payment was made in another trade.")
    status = notice["trade_status"]
    if status in PAID_STATES and payment.captured_at is None:
        payment.trade_no = notice["trade_no"]
        payment.status, payment.failure = "captured", None
        payment.captured_at = notice.get("paid_at") or now()
        payment.refunded_at = None  # a void of the cancelled order recorded one; the refund sets it again
        shares = _shares_of(uow.session, payment)
        _record_entries(uow.session, payment.order, "sale", shares, "paid online", at=payment.captured_at)
        _reply_with_state(uow, _state(payment))
        return {"order": payment.order, "status": payment.status, "changed": True}
    if status == CLOSED_STATE and payment.status == "pending":
        payment.trade_no = notice["trade_no"]
        payment.status, payment.failure = "failed", "trade closed unpaid"
        _reply_with_state(uow, _state(payment))
        return {"order": payment.order, "status": payment.status, "changed": True}
    return {"order": payment.order, "status": payment.status, "changed": False}


#: The unit a sale is entered under when billing cannot tell whose it is: finance allocates it by hand.
UNALLOCATED = "UNALLOCATED"


def _shares_of(session: Session, payment: Payment) -> list[dict[str, Any]]:
    """What each unit is owed for a payment captured now: the shares kept at take_payment; for a payment
    taken before billing kept them, its order's lines; failing both, the whole amount UNALLOCATED (logged),
    so that the money is in the books, and in a statement, rather than nowhere."""
    if payment.shares is not None:
        return json.loads(payment.shares)
    units: dict[str, int] = {}
    for line in session.scalars(select(OrderLine).where(OrderLine.order == payment.order)):
        units[line.unit] = units.get(line.unit, 0) + line.amount_cents
    if sum(units.values()) == payment.amount_cents:
        return [{"unit": unit, "amount_cents": amount} for unit, amount in sorted(units.items())]
    log.error("payment of %s captured without its units' shares: entered as %s", payment.order, UNALLOCATED)
    return [{"unit": UNALLOCATED, "amount_cents": payment.amount_cents}]


def _state(payment: Payment) -> dict[str, Any]:
    return {
        "order": payment.order,
        "method": payment.method,
        "status": payment.status,
        "amount_cents": payment.amount_cents,
        "failure": payment.failure,
        "captured_at": payment.captured_at,
    }


def payment_view(payment: Payment) -> dict[str, Any]:
    return {
        "order": payment.order,
        "method": payment.method,
        "status": payment.status,
        "amount_cents": payment.amount_cents,
        "refunded_cents": payment.refunded_cents,
        "out_trade_no": payment.out_trade_no,
        "trade_no": payment.trade_no,
        "captured_at": payment.captured_at.isoformat() if payment.captured_at else None,
    }


# --- finance: the three order copies --------------------------------------------------------------


def _copy(kind: str, unit: str | None, lines: list[OrderLine]) -> dict[str, Any]:
    return {
        "kind": kind,
        "unit": unit,
        "lines": [
            {"sku": line.sku, "name": line.name, "quantity": line.quantity, "amount": format_cents(line.amount_cents)}
            for line in lines
        ],
        "total": format_cents(sum(line.amount_cents for line in lines)),
    }


def order_copies(session: Session, order: str) -> list[dict[str, Any]]:
    """The order's three copies (网站, 部门, 财务): the website's and finance's with every line, and one
    department copy per unit with that unit's lines; 404 for an order billing has no lines of."""
    lines = list(session.scalars(select(OrderLine).where(OrderLine.order == order).order_by(OrderLine.id)))
    if not lines:
        raise not_found("Order")
    units = sorted({line.unit for line in lines})
    invoice = session.scalar(select(Payment.invoice).where(Payment.order == order))
    return [
        _copy("website", None, lines),
        *(_copy("department", unit, [line for line in lines if line.unit == unit]) for unit in units),
        # Finance issues the invoice the customer asked for (none: no invoice).
        _copy("finance", None, lines) | {"invoice": json.loads(invoice) if invoice else None},
    ]


# --- finance: monthly statements ------------------------------------------------------------------

#: Logistics' costs of a month per unit: `[{"unit", "parcels", "logistics_cost_cents", "insurance_cents"}]`.
CostsLookup = Callable[[str], list[dict[str, Any]]]
#: Told `(month, units done, units in all)` after each unit's statement.
Progress = Callable[[str, int, int], None]

#: Two runs of one month (beat and finance at once) take turns on PostgreSQL; SQLite writes one at a time anyway.
STATEMENT_LOCK = direct(select(func.pg_advisory_xact_lock(bindparam("namespace"), bindparam("key")).label("locked")))
_LOCK_NAMESPACE = 0x4249  # "BI": billing's advisory locks


def _entries_by_unit(session: Session, kind: str, start: datetime, end: datetime) -> dict[str, tuple[int, int]]:
    """{unit: (distinct orders, sum of amounts)} of the ledger entries of one kind dated in [start, end)."""
    rows = session.execute(
        select(LedgerEntry.unit, func.count(func.distinct(LedgerEntry.order)), func.sum(LedgerEntry.amount_cents))
        .where(LedgerEntry.kind == kind, LedgerEntry.created_at >= start, LedgerEntry.created_at < end)
        .group_by(LedgerEntry.unit)
    ).all()
    return {unit: (orders, int(amount or 0)) for unit, orders, amount in rows}


def build_statements(
    session: Session,
    month: str,
    costs: list[dict[str, Any]],
    *,
    timezone: str,
    progress: Progress | None = None,
) -> list[dict[str, Any]]:
    """Build (or build again) every unit's statement of `month`, replacing that month's rows.

    A sale counts in the month its payment was captured (cash on delivery: collected), a refund in the
    month it was paid out: the dates of their ledger entries, in the mall's time zone. `costs` are
    logistics' fees and premiums of the parcels booked that month (see CostsLookup). A unit with costs
    and no sales still gets a statement. net_payable = gross - refunds - logistics_cost - insurance + claims
    (what couriers paid that month on loss claims for the unit's parcels).
    """
    if session.bind.dialect.name == "postgresql":
        year, number = (int(part) for part in month.split("-"))
        session.execute(STATEMENT_LOCK, {"namespace": _LOCK_NAMESPACE, "key": year * 100 + number})
    start, end = month_bounds(month, timezone)
    sales = _entries_by_unit(session, "sale", start, end)
    refunds = _entries_by_unit(session, "refund", start, end)
    charged = {row["unit"]: row for row in costs}
    units = sorted(set(sales) | set(refunds) | set(charged))
    session.execute(delete(Statement).where(Statement.month == month))
    built_at = now()
    settled = session.get(Settlement, month) or Settlement(month=month)
    settled.units, settled.built_at = len(units), built_at
    session.add(settled)
    statements = []
    for done, unit in enumerate(units, start=1):
        orders, gross = sales.get(unit, (0, 0))
        refunded = -refunds.get(unit, (0, 0))[1]  # refund entries are negative: the statement shows them positive
        cost = charged.get(unit, {})
        logistics_cost, insurance = cost.get("logistics_cost_cents", 0), cost.get("insurance_cents", 0)
        claims = cost.get("claims_cents", 0)
        statement = Statement(
            unit=unit,
            month=month,
            orders=orders,
            gross_cents=gross,
            refunds_cents=refunded,
            parcels=cost.get("parcels", 0),
            logistics_cost_cents=logistics_cost,
            insurance_cents=insurance,
            claims_cents=claims,
            net_payable_cents=gross - refunded - logistics_cost - insurance + claims,
            built_at=built_at,
        )
        session.add(statement)
        statements.append(statement)
        log.info("statements %s: %d/%d units", month, done, len(units))
        if progress is not None:
            progress(month, done, len(units))
    session.flush()
    return [statement_view(s) for s in statements]


def run_statements(
    db: Database,
    month: str,
    costs: CostsLookup,
    *,
    timezone: str,
    progress: Progress | None = None,
) -> list[dict[str, Any]]:
    """Build `month`'s statements now (see build_statements): logistics' costs are asked first, outside
    any transaction, then one transaction replaces the month's rows."""
    charged = costs(month)
    with db.session() as session, session.begin():
        return build_statements(session, month, charged, timezone=timezone, progress=progress)


#: When the month before is settled (DOMAIN.md: 每月15日): the 15th, 02:00 in the mall. The two hours
#: leave time for the last automatic receipts (at most 13 days after a delivery on the month's last
#: day, so by the 14th) to reach billing.
SETTLEMENT_DAY, SETTLEMENT_HOUR = 15, 2


def settlement_due(session: Session, month: str, at: datetime, timezone: str) -> bool:
    """Whether `month` (the month before `at`'s) is to be settled now: it is past 02:00 on the 15th in
    the mall, and the month was not built since then (a month with nothing to settle counts as built)."""
    local = at.astimezone(ZoneInfo(timezone))
    since = local.replace(day=SETTLEMENT_DAY, hour=SETTLEMENT_HOUR, minute=0, second=0, microsecond=0)
    if local < since:
        return False
    built = session.scalar(select(Settlement.built_at).where(Settlement.month == month))
    if built is not None and built.tzinfo is None:  # SQLite hands back naive UTC
        built = built.replace(tzinfo=UTC)
    return built is None or built < since


def statements_of(session: Session, month: str) -> list[dict[str, Any]]:
    """The statements built for `month`, by unit (none before the month is run)."""
    rows = session.scalars(select(Statement).where(Statement.month == month).order_by(Statement.unit))
    return [statement_view(s) for s in rows]


def statement_view(s: Statement) -> dict[str, Any]:
    return {
        "unit": s.unit,
        "month": s.month,
        "orders": s.orders,
        "gross": format_cents(s.gross_cents),
        "refunds": format_cents(s.refunds_cents),
        "logistics_cost": format_cents(s.logistics_cost_cents),
        "insurance": format_cents(s.insurance_cents),
        "claims": format_cents(s.claims_cents),
        "net_payable": format_cents(s.net_payable_cents),
        "parcels": s.parcels,
        "built_at": s.built_at.isoformat(),
    }


# --- a member's spending records (消费记录) ----------------------------------------------------------


def spending_of(session: Session, member_id: int, limit: int = 100) -> dict[str, Any]:
    """What a member has spent, newest first (DOMAIN.md: "spending records: amount spent, goods bought"):
    each paid order with its method, what was paid and given back, when, and the goods; and in all, what
    the member has spent net of refunds. Orders not paid (pending, failed, cash not yet collected) are
    not spending; their payment is in the order."""
    paid = session.scalars(
        select(Payment)
        .where(Payment.member_id == member_id, Payment.captured_at.is_not(None))
        .order_by(Payment.captured_at.desc(), Payment.id.desc())
        .limit(limit)
    ).all()
    lines: dict[str, list[OrderLine]] = {}
    if paid:
        for line in session.scalars(
            select(OrderLine).where(OrderLine.order.in_([p.order for p in paid])).order_by(OrderLine.id)
        ):
            lines.setdefault(line.order, []).append(line)
    spent = session.scalar(
        select(func.coalesce(func.sum(Payment.amount_cents - Payment.refunded_cents), 0)).where(
            Payment.member_id == member_id, Payment.captured_at.is_not(None)
        )
    )
    return {
        "spent": format_cents(int(spent)),
        "items": [
            {
                "order": p.order,
                "method": p.method,
                "paid": format_cents(p.amount_cents),
                "refunded": format_cents(p.refunded_cents),
                "paid_at": as_utc(p.captured_at).isoformat(),
                "items": [
                    {
                        "sku": line.sku,
                        "name": line.name,
                        "quantity": line.quantity,
                        "amount": format_cents(line.amount_cents),
                    }
                    for line in lines.get(p.order, [])
                ],
            }
            for p in paid
        ],
    }


# --- finance: the monthly sales report ------------------------------------------------------------


#: A product's lines in a month: (name, units, distinct orders, amount in cents).
ProductTotals = tuple[str, int, int, int]


def _lines_by_product(session: Session, kind: str, start: datetime, end: datetime) -> dict[str, ProductTotals]:
    """{sku: ProductTotals} of the lines whose unit has a `kind` ledger entry dated in [start, end)."""
    rows = session.execute(
        select(
            OrderLine.sku,
            func.max(OrderLine.name),
            func.sum(OrderLine.quantity),
            func.count(func.distinct(OrderLine.order)),
            func.sum(OrderLine.amount_cents),
        )
        .join(
            LedgerEntry,
            (LedgerEntry.order == OrderLine.order)
            & (LedgerEntry.unit == OrderLine.unit)
            & (LedgerEntry.kind == kind)
            # The order's own sale and its cancel's refund; an after-sales refund has lines of its own.
            & (LedgerEntry.reference == ""),
        )
        .where(LedgerEntry.created_at >= start, LedgerEntry.created_at < end)
        .group_by(OrderLine.sku)
    ).all()
    return {sku: (name, int(units), orders, int(amount)) for sku, name, units, orders, amount in rows}


def _after_sales_by_product(session: Session, start: datetime, end: datetime) -> dict[str, ProductTotals]:
    """{sku: ProductTotals} of what after-sales refunds paid out in [start, end) gave back: pieces returned
    and money."""
    rows = session.execute(
        select(
            RefundLine.sku,
            func.max(RefundLine.name),
            func.sum(RefundLine.quantity),
            func.count(func.distinct(RefundLine.order)),
            func.sum(RefundLine.amount_cents),
        )
        .where(RefundLine.created_at >= start, RefundLine.created_at < end)
        .group_by(RefundLine.sku)
    ).all()
    return {sku: (name, int(units), orders, int(amount)) for sku, name, units, orders, amount in rows}


def sales_report(session: Session, month: str, timezone: str) -> list[dict[str, Any]]:
    """Per product, what was sold in `month`: units, orders and revenue, by revenue (highest first).

    A line counts in the month its unit's sale was captured (cash on delivery: collected); a line refunded
    in the month takes its units and revenue off again (its order still counts among the orders that month
    it was sold in), and so does an after-sales refund: its money, and the pieces that came back. Orders
    paid before billing kept lines (see docs/messages.md) are not in it.
    """
    start, end = month_bounds(month, timezone)
    sold = _lines_by_product(session, "sale", start, end)
    refunded = _lines_by_product(session, "refund", start, end)
    for sku, (name, units, orders, amount) in _after_sales_by_product(session, start, end).items():
        back_name, back_units, back_orders, back_amount = refunded.get(sku, (name, 0, 0, 0))
        refunded[sku] = (back_name, back_units + units, back_orders + orders, back_amount + amount)
    report = []
    for sku in set(sold) | set(refunded):
        name, units, orders, revenue = sold.get(sku, (None, 0, 0, 0))
        back_name, back_units, _, back_revenue = refunded.get(sku, (None, 0, 0, 0))
        report.append(
            {
                "sku": sku,
                "name": name or back_name,
                "units": units - back_units,
                "orders": orders,
                "revenue_cents": revenue - back_revenue,
            }
        )
    report.sort(key=lambda row: (-row["revenue_cents"], row["sku"]))
    return [
        {k: v for k, v in row.items() if k != "revenue_cents"} | {"revenue": format_cents(row["revenue_cents"])}
        for row in report
    ]
