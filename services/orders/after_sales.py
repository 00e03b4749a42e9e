"""After-sales (售后): a customer's return, refund request or complaint about an order that reached them.

DOMAIN.md, after the source's "售后服务的处理": customer service takes the complaint; a quality problem
goes to the department, which agrees with the customer a return or a refund; a service problem gets an
answer; a loss in transit is refunded (and claimed from the courier under the insurance). Here:

- The customer opens a case about some of the goods of one unit (`open_case`), within
  MALL_AFTER_SALES_DAYS of delivery, or about a parcel lost on the way while it is still shipping.
  Goods can be claimed once: a case counts against what was bought, less what open and refunded
  cases already claim.
- That unit's staff or customer service agree a refund (the customer keeps the goods, or never got
  them) or a return (the goods come back first: `goods_received`), for at most the goods' price, or
  answer it without money (`answer`).
- The refund goes to billing as `billing.refund_after_sale`, once per case whatever the re-sends; a
  return the unit can sell again goes back on its shelf with `stores.restock_return`. Both keep a
  deadline, and `sweep` sends them again until the answer comes (`refunded`, `stock_returned`).

Every step locks the order first (the saga's `_lock`), then the case, and writes a line in the order's
timeline, which is where the customer sees how the case is handled.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.config import Settings
from shared.db import as_utc
from shared.messaging import UnitOfWork, now
from shared.money import format_cents
from shared.web import ApiError

from . import services
from .models import AfterSale

KINDS = ("return", "refund", "complaint")
PROBLEMS = ("quality", "damaged", "lost", "wrong_item", "service", "other")
STATUSES = ("requested", "awaiting_return", "refunding", "refunded", "closed")
#: Cases whose goods count as claimed (a case answered without money gives them back).
CLAIMING = ("requested", "awaiting_return", "refunding", "refunded")


def _case(uow: UnitOfWork, case_id: int) -> AfterSale:
    """The case, locked after its order (the order's lock first, as every saga step takes it)."""
    session = uow.session
    number = session.scalar(select(AfterSale.order_number).where(AfterSale.id == case_id))
    if number is None:
        raise ApiError(404, "not_found", f"After-sales case {case_id} does not exist.")
    services._lock(uow, number)
    return session.get(AfterSale, case_id, with_for_update=True, populate_existing=True)


def _bought(order) -> dict[str, dict[str, Any]]:
    """{sku: {unit, parcel, name, quantity, price, parcel's status}} of a locked order's routed lines."""
    units = {f.id: f for f in order.fulfilments}
    bought: dict[str, dict[str, Any]] = {}
    for line in order.lines:
        f = units.get(line.fulfilment_id)
        if f is None:
            continue
        item = bought.setdefault(
            line.sku,
            {
                "unit": f.unit,
                "parcel": f.id,
                "name": line.name,
                "quantity": 0,
                "price": line.unit_price_cents,
                "status": f.status,
            },
        )
        item["quantity"] += line.quantity
    return bought


def _claimed_before(session: Session, number: str) -> dict[str, int]:
    """Pieces of each SKU that the order's open and refunded cases already claim."""
    claimed: dict[str, int] = {}
    cases = session.scalars(select(AfterSale).where(AfterSale.order_number == number, AfterSale.status.in_(CLAIMING)))
    for case in cases:
        if case.kind == "complaint":
            continue
        for line in case.lines:
            claimed[line["sku"]] = claimed.get(line["sku"], 0) + line["quantity"]
    return claimed


def open_case(uow: UnitOfWork, number: str, request: dict[str, Any], settings: Settings) -> tuple[AfterSale, bool]:
    """Open a case on order `number` for `request` (`member_id, kind, problem, reason, lines, idempotency_key`).

    Returns the case and whether it is new (the same idempotency key again returns the first case).
    """
    session = uow.session
    key = request.get("idempotency_key")
    order = services._lock(uow, number)
    if order.member_id != request["member_id"]:
        raise ApiError(404, "not_found", f"Order {number} does not exist.")
    if key:
        earlier = session.scalar(
            select(AfterSale).where(AfterSale.member_id == order.member_id, AfterSale.idempotency_key == key)
        )
        if earlier is not None:
            if earlier.order_number != number:
                raise ApiError(409, "idempotency_key_reused", "This key was used for another after-sales case.")
            return earlier, False
    kind, problem = request["kind"], request["problem"]
    lost_on_the_way = order.status == "shipping" and problem == "lost"
    if order.status not in ("delivered", "completed") and not lost_on_the_way:
        raise ApiError(
            409,
            "not_after_sales",
            f"Order {number} is {order.status}: after-sales opens once it is delivered "
            "(or, for a parcel lost on the way, while it is shipping).",
        )
    if order.status in ("delivered", "completed"):
        since = as_utc(order.delivered_at) or as_utc(order.updated_at)
        if now() - since > timedelta(days=settings.after_sales_days):
            raise ApiError(
                409,
                "after_sales_closed",
                f"After-sales for order {number} closed {settings.after_sales_days} days after delivery.",
            )
    if lost_on_the_way and order.payment_method == "cod":
        raise ApiError(
            409,
            "nothing_paid",
            "Cash on delivery is paid at the door: a parcel lost on the way was never paid for.",
        )
    if kind == "return" and problem == "lost":
        raise ApiError(422, "validation_error", "Lost goods cannot be returned.", {"kind": ["Ask for a refund."]})
    wanted: dict[str, int] = {}
    for line in request["lines"]:
        wanted[line["sku"]] = wanted.get(line["sku"], 0) + line["quantity"]
    if kind != "complaint" and not wanted:
        raise ApiError(422, "validation_error", "Say which goods the case is about.", {"lines": ["Required."]})
    bought = _bought(order)
    unknown = sorted(sku for sku in wanted if sku not in bought)
    if unknown:
        raise ApiError(
            422, "validation_error", "Some goods are not in this order.", {"lines": [f"not in the order: {unknown}"]}
        )
    units = sorted({bought[sku]["unit"] for sku in wanted})
    if len({bought[sku]["parcel"] for sku in wanted}) > 1:  # (one unit may have sent two parcels, rerouted)
        raise ApiError(
            422,
            "validation_error",
            "Open one case per department and parcel.",
            {"lines": [f"these goods come from {', '.join(units)} in more than one parcel: one case each"]},
        )
    if lost_on_the_way and any(bought[sku]["status"] != services.SHIPPING for sku in wanted):
        raise ApiError(409, "not_after_sales", "Only a parcel still on its way can be reported lost.")
    claimed = _claimed_before(session, number) if kind != "complaint" else {}
    if problem == "lost" and wanted:
        # A parcel is lost whole: the case claims every piece of it not claimed yet.
        parcel = bought[next(iter(wanted))]["parcel"]
        whole = {
            sku: item["quantity"] - claimed.get(sku, 0) for sku, item in bought.items() if item["parcel"] == parcel
        }
        if wanted != {sku: left for sku, left in whole.items() if left > 0}:
            raise ApiError(
                422,
                "validation_error",
                "A lost parcel is lost whole: claim all of its goods.",
                {"lines": [f"the parcel holds {whole}"]},
            )
    for sku, quantity in wanted.items():
        left = bought[sku]["quantity"] - claimed.get(sku, 0)
        if quantity > left:
            raise ApiError(409, "already_claimed", f"Only {max(left, 0)} of {sku} are left to claim on this order.")
    lines = [
        {
            "sku": sku,
            "name": bought[sku]["name"],
            "quantity": quantity,
            "amount_cents": quantity * bought[sku]["price"],
        }
        for sku, quantity in wanted.items()
    ]
    at = now()
    case = AfterSale(
        order_number=number,
        member_id=order.member_id,
        unit=units[0] if units else None,
        kind=kind,
        problem=problem,
        reason=request["reason"],
        lines=lines,
        claimed_cents=0 if kind == "complaint" else sum(line["amount_cents"] for line in lines),
        status="requested",
        idempotency_key=key,
        attempts=0,
        restock_attempts=0,
        created_at=at,
        updated_at=at,
    )
    session.add(case)
    session.flush()  # its id, for the timeline
    what = f"{kind} of {format_cents(case.claimed_cents)}" if kind != "complaint" else "complaint"
    services._note(order, f"after-sales #{case.id} opened: {what} ({problem}): {case.reason}")
    return case, True


def _refund_lines(case: AfterSale) -> list[dict[str, Any]]:
    """The agreed refund spread over the case's goods by their price, to the cent, none more than it cost;
    the pieces count as given back only when the goods came back."""
    returned = case.resolution == "return"
    total, claimed = case.refund_cents, case.claimed_cents
    shares = [total * line["amount_cents"] // claimed for line in case.lines]
    left = total - sum(shares)
    for i, line in enumerate(case.lines):  # the cents rounding left, each line at most its own price
        extra = min(left, line["amount_cents"] - shares[i])
        shares[i] += extra
        left -= extra
    return [
        {
            "sku": line["sku"],
            "name": line["name"],
            "quantity": line["quantity"] if returned else 0,
            "amount_cents": share,
        }
        for line, share in zip(case.lines, shares, strict=True)
    ]


def _send_refund(uow: UnitOfWork, case: AfterSale, settings: Settings) -> None:
    order = services._lock(uow, case.order_number)
    delivered_at = as_utc(order.delivered_at)
    uow.send(
        "billing.refund_after_sale",
        {
            "order": case.order_number,
            "case": case.id,
            "unit": case.unit,
            "amount_cents": case.refund_cents,
            "lines": _refund_lines(case),
            "reason": f"after-sales #{case.id}: {case.reason}"[:200],
            "delivered_at": delivered_at.isoformat() if delivered_at else None,
        },
    )
    case.deadline_at = now() + timedelta(seconds=settings.reply_deadline_seconds)


def _send_restock(uow: UnitOfWork, case: AfterSale, settings: Settings) -> None:
    uow.send(
        "stores.restock_return",
        {
            "order": case.order_number,
            "case": case.id,
            "unit": case.unit,
            "lines": [{"sku": line["sku"], "quantity": line["quantity"]} for line in case.lines],
        },
    )
    case.restock_deadline_at = now() + timedelta(seconds=settings.reply_deadline_seconds)


def _touch(case: AfterSale, by: str | None) -> None:
    case.updated_at = now()
    if by:
        case.handled_by = by[:64]


def agree(
    uow: UnitOfWork,
    case_id: int,
    resolution: str,
    refund_cents: int | None,
    reply: str | None,
    by: str,
    settings: Settings,
) -> AfterSale:
    """The unit (or customer service) agrees a refund now or a return first, for `refund_cents` (default: the
    goods' price). The same agreement again changes nothing."""
    case = _case(uow, case_id)
    amount = case.claimed_cents if refund_cents is None else refund_cents
    if case.status != "requested":
        if case.resolution == resolution and case.refund_cents == amount:
            return case  # a repeated click
        raise ApiError(409, "case_not_open", f"After-sales case {case_id} is {case.status}.")
    if case.kind == "complaint":
        raise ApiError(409, "no_goods", "A complaint about the service is answered, not refunded.")
    if resolution == "return" and case.problem == "lost":
        raise ApiError(409, "no_goods", "Lost goods cannot come back: agree a refund.")
    if not 1 <= amount <= case.claimed_cents:
        raise ApiError(
            422,
            "validation_error",
            "The refund must be more than nothing and at most what the goods cost.",
            {"refund": [f"at most {format_cents(case.claimed_cents)}"]},
        )
    order = services._lock(uow, case.order_number)
    case.resolution, case.refund_cents = resolution, amount
    if reply:
        case.reply = reply
    _touch(case, by)
    if resolution == "return":
        case.status = "awaiting_return"
        services._note(order, f"after-sales #{case.id} agreed: return, then {format_cents(amount)} back")
    else:
        case.status = "refunding"
        services._note(order, f"after-sales #{case.id} agreed: refund of {format_cents(amount)}")
        _send_refund(uow, case, settings)
    return case


def answer(uow: UnitOfWork, case_id: int, reply: str, by: str) -> AfterSale:
    """Close a case without money, with an answer for the customer (a complaint about the service, a claim
    that is refused, a return that never came). The same answer again changes nothing."""
    case = _case(uow, case_id)
    if case.status == "closed" and case.reply == reply:
        return case
    if case.status not in ("requested", "awaiting_return"):
        raise ApiError(409, "case_not_open", f"After-sales case {case_id} is {case.status}.")
    order = services._lock(uow, case.order_number)
    case.status, case.reply, case.closed_at = "closed", reply, now()
    _touch(case, by)
    services._note(order, f"after-sales #{case.id} answered: {reply}")
    return case


def goods_received(uow: UnitOfWork, case_id: int, restock: bool, by: str, settings: Settings) -> AfterSale:
    """The returned goods are back at the unit: the agreed refund goes out, and goods that can be sold again
    go back on the shelf. Received twice changes nothing."""
    case = _case(uow, case_id)
    if case.resolution == "return" and case.status in ("refunding", "refunded"):
        return case
    if case.status != "awaiting_return":
        raise ApiError(409, "case_not_awaiting_return", f"After-sales case {case_id} is {case.status}.")
    order = services._lock(uow, case.order_number)
    case.status, case.restock = "refunding", restock
    _touch(case, by)
    kept = "back on sale" if restock else "kept aside"
    services._note(order, f"after-sales #{case.id}: goods received back at {case.unit}, {kept}")
    _send_refund(uow, case, settings)
    if restock:
        _send_restock(uow, case, settings)
    return case


#: Problems that happened on the courier's watch: the courier's insurance answers for them.
IN_TRANSIT = ("lost", "damaged")


def _fulfilment_of(order, case: AfterSale):
    """The case's parcel: the fulfilment its goods were sent in (one: `open_case` sees to it); None for a
    complaint about the service."""
    skus = {line["sku"] for line in case.lines}
    parcel = next((line.fulfilment_id for line in order.lines if line.sku in skus and line.fulfilment_id), None)
    return next((f for f in order.fulfilments if f.id == parcel), None)


def _lost(uow: UnitOfWork, order, f) -> None:
    """A parcel refunded as lost is lost: the order goes on as if its other parcels were all it had."""
    f.status = services.LOST
    services._done_waiting(f)
    services._note(order, f"parcel from {f.unit} lost in transit")
    if any(x.status not in services.SETTLED for x in order.fulfilments):
        return
    if any(x.status == services.DELIVERED for x in order.fulfilments):
        order.status = "delivered"  # (receipt is confirmed automatically days after the last signing)
    else:
        services._complete(uow, order, "every parcel was lost in transit and refunded: completed")


def _send_claim(uow: UnitOfWork, case: AfterSale, f, amount: int, settings: Settings) -> None:
    uow.send(
        "logistics.claim_loss",
        {
            "order": case.order_number,
            "fulfilment_id": f.id,
            "case": case.id,
            "unit": case.unit,
            "amount_cents": amount,
            "problem": case.problem,
        },
    )
    case.claim_deadline_at = now() + timedelta(seconds=settings.reply_deadline_seconds)


# --- replies ----------------------------------------------------------------------------------------


def _replied_case(uow: UnitOfWork, event: dict[str, Any]) -> AfterSale | None:
    order = services._lock(uow, event["order"])
    case = uow.session.get(AfterSale, event["case"], with_for_update=True, populate_existing=True)
    if case is None or case.order_number != order.number:
        return None
    return case


def refunded(uow: UnitOfWork, event: dict[str, Any], settings: Settings) -> None:
    """Billing paid the case's refund: the case is done, and the order shows what it has had back."""
    case = _replied_case(uow, event)
    if case is None or case.status != "refunding":
        return  # a repeat, or an answer for a case orders does not have
    order = services._lock(uow, event["order"])
    amount = event["amount_cents"]
    case.status, case.refund_cents, case.closed_at = "refunded", amount, now()
    case.deadline_at, case.attempts = None, 0
    _touch(case, None)
    order.refunded_cents = (order.refunded_cents or 0) + amount
    if order.payment_status == "captured" and order.refunded_cents >= order.total_cents:
        order.payment_status = "refunded"
    services._note(order, f"after-sales #{case.id} refunded {format_cents(amount)}")
    f = _fulfilment_of(order, case)
    if f is None or not amount:
        return
    if case.problem == "lost":
        if f.status not in (services.SHIPPING, services.LOST):
            return  # it was delivered after all, before the refund: nothing was lost, nothing to claim
        _lost(uow, order, f)
    if case.problem in IN_TRANSIT and f.delivery == "courier" and not (case.resolution == "return" and case.restock):
        # DOMAIN.md: a loss in transit is claimed under the insurance agreed with the courier (not for
        # damaged goods that came back and are on sale again: nothing was lost).
        _send_claim(uow, case, f, amount, settings)


def stock_returned(uow: UnitOfWork, event: dict[str, Any]) -> None:
    """The unit put the returned goods back on its shelf."""
    case = _replied_case(uow, event)
    if case is None or case.restocked_at is not None:
        return
    order = services._lock(uow, event["order"])
    case.restocked_at, case.restock_deadline_at, case.restock_attempts = now(), None, 0
    services._note(order, f"after-sales #{case.id}: returned goods back in stock at {case.unit}")


def loss_claimed(uow: UnitOfWork, event: dict[str, Any]) -> None:
    """Logistics has claimed the loss from the courier (or found the parcel was not insured)."""
    case = _replied_case(uow, event)
    if case is None or case.claim_id is not None:
        return
    order = services._lock(uow, event["order"])
    case.claim_id, case.claim_deadline_at, case.claim_attempts = event["claim"], None, 0
    if event["claimed_cents"]:
        what = f"claimed from the courier under the insurance: {format_cents(event['claimed_cents'])}"
    else:
        what = "not insured: nothing to claim from the courier"
    services._note(order, f"after-sales #{case.id}: loss {what} (claim #{event['claim']})")


# --- deadlines ----------------------------------------------------------------------------------------


def sweep(uow: UnitOfWork, settings: Settings, at: datetime, limit: int) -> int:
    """Send again the refunds and restocks whose answer is overdue, waiting longer after each try."""
    session = uow.session
    resent = 0
    overdue = session.execute(
        select(AfterSale.id, AfterSale.order_number)
        .where(
            (AfterSale.deadline_at < at)
            | ((AfterSale.restock_deadline_at < at) & AfterSale.restocked_at.is_(None))
            | ((AfterSale.claim_deadline_at < at) & AfterSale.claim_id.is_(None))
        )
        .order_by(AfterSale.id)
        .limit(limit)
    ).all()
    for case_id, number in overdue:
        order = services._lock(uow, number)
        case = session.get(AfterSale, case_id, with_for_update=True, populate_existing=True)
        if case.status == "refunding" and case.deadline_at is not None and as_utc(case.deadline_at) < at:
            case.attempts += 1
            _send_refund(uow, case, settings)
            case.deadline_at = at + timedelta(seconds=settings.reply_deadline_seconds * min(2**case.attempts, 16))
            if case.attempts == services.ALERT_AFTER_ATTEMPTS:
                services._note(order, f"billing has not refunded after-sales #{case.id} after 3 tries: alerted")
            resent += 1
        elif case.status != "refunding":
            case.deadline_at = None
        if case.claim_id is None and case.claim_deadline_at is not None and as_utc(case.claim_deadline_at) < at:
            case.claim_attempts += 1
            _send_claim(uow, case, _fulfilment_of(order, case), case.refund_cents or 0, settings)
            wait = settings.reply_deadline_seconds * min(2**case.claim_attempts, 16)
            case.claim_deadline_at = at + timedelta(seconds=wait)
            if case.claim_attempts == services.ALERT_AFTER_ATTEMPTS:
                services._note(order, f"logistics has not claimed after-sales #{case.id} after 3 tries: alerted")
            resent += 1
        if case.restocked_at is None and case.restock_deadline_at is not None and as_utc(case.restock_deadline_at) < at:
            case.restock_attempts += 1
            _send_restock(uow, case, settings)
            wait = settings.reply_deadline_seconds * min(2**case.restock_attempts, 16)
            case.restock_deadline_at = at + timedelta(seconds=wait)
            if case.restock_attempts == services.ALERT_AFTER_ATTEMPTS:
                services._note(order, f"{case.unit} has not restocked after-sales #{case.id} after 3 tries: alerted")
            resent += 1
    return resent


# --- reading ------------------------------------------------------------------------------------------


def find_case(session: Session, case_id: int) -> AfterSale | None:
    return session.get(AfterSale, case_id)


def cases_of_order(session: Session, number: str) -> list[AfterSale]:
    return list(session.scalars(select(AfterSale).where(AfterSale.order_number == number).order_by(AfterSale.id)))


def list_cases(session: Session, status: str | None, unit: str | None, limit: int = 200) -> list[AfterSale]:
    """Cases newest first, by status and unit (customer service's and a unit's lists)."""
    query = select(AfterSale).order_by(AfterSale.id.desc()).limit(limit)
    if status:
        query = query.where(AfterSale.status == status)
    if unit:
        query = query.where(AfterSale.unit == unit)
    return list(session.scalars(query))


def case_view(case: AfterSale) -> dict[str, Any]:
    def iso(moment: datetime | None) -> str | None:
        moment = as_utc(moment)
        return moment.isoformat() if moment else None

    return {
        "id": case.id,
        "order": case.order_number,
        "member_id": case.member_id,
        "unit": case.unit,
        "kind": case.kind,
        "problem": case.problem,
        "reason": case.reason,
        "items": [
            {
                "sku": line["sku"],
                "name": line["name"],
                "quantity": line["quantity"],
                "amount": format_cents(line["amount_cents"]),
            }
            for line in case.lines
        ],
        "claimed": format_cents(case.claimed_cents),
        "status": case.status,
        "resolution": case.resolution,
        "refund": format_cents(case.refund_cents) if case.refund_cents is not None else None,
        "restock": case.restock,
        "reply": case.reply,
        "handled_by": case.handled_by,
        "claim": case.claim_id,
        "created_at": iso(case.created_at),
        "updated_at": iso(case.updated_at),
        "closed_at": iso(case.closed_at),
    }
