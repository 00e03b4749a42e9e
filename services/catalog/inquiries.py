"""Product inquiries (DOMAIN.md's 咨询): a customer asks about a product before buying; the unit that sells it, or
customer service, answers.

- A customer asks (`ask`): a question, and how many they would like when stock is the question. At most
  MAX_OPEN_PER_PRODUCT open inquiries per member and product, and MAX_OPEN_PER_MEMBER in all, so nobody
  floods a unit's queue; a withdrawn product takes none (409). An Idempotency-Key makes a retried ask the
  same inquiry.
- Staff see the inquiries about what their unit sells (`search` with `unit`, and `branch` for a supermarket
  branch, which sells every supermarket product); the gateway knows which units are branches.
- One answer (`answer`), with how many the unit can supply if it says: the same answer again changes
  nothing (a retry), another one is 409 `already_answered`. The customer may have acted on the first
  (bought, or gone elsewhere), so it does not change under them; a follow-up is a new inquiry.
- The product's page shows its answered public inquiries (`answered_on`).

Nothing here sends a message: asking and answering are HTTP actions of a person who waits for the answer,
they change only catalog's rows, and the stock figure is read, never reserved (docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shared.messaging import now
from shared.web import ApiError, not_found

from .models import Inquiry, Product

#: How many open (unanswered) inquiries one member may have about one product, and about all products.
MAX_OPEN_PER_PRODUCT = 3
MAX_OPEN_PER_MEMBER = 20

#: A member's asks take turns on PostgreSQL, so two at once cannot both pass the limits; SQLite writes one at a time.
MEMBER_LOCK = select(func.pg_advisory_xact_lock(bindparam("namespace"), bindparam("member_id")).label("locked"))
_LOCK_NAMESPACE = 0x4951  # "IQ": catalog's inquiry locks, keyed by member id


def _lock_member(session: Session, member_id: int) -> None:
    if session.bind.dialect.name == "postgresql":
        session.execute(MEMBER_LOCK, {"namespace": _LOCK_NAMESPACE, "member_id": member_id})


def ask(session: Session, product_id: int, data: dict[str, Any]) -> tuple[Inquiry, bool]:
    """A member asks about a product (NewInquiry) -> the inquiry and whether it is new (the same
    Idempotency-Key again returns the first one; another question under it is 409 `idempotency_key_reused`).

    404 for an unknown product; 409 `product_withdrawn`, `too_many_open_inquiries`.
    """
    member = data["member_id"]
    _lock_member(session, member)
    key = data.get("idempotency_key")
    if key:
        earlier = session.scalar(select(Inquiry).where(Inquiry.member_id == member, Inquiry.idempotency_key == key))
        if earlier is not None:
            return _same_ask(earlier, product_id, data), False
    product = session.get(Product, product_id)
    if product is None:
        raise not_found("Product")
    if not product.on_sale:
        raise ApiError(409, "product_withdrawn", "This product is no longer sold; there is nothing to ask about.")
    _check_limits(session, member, product_id)
    inquiry = Inquiry(
        product=product,
        member_id=member,
        question=data["question"],
        quantity=data.get("quantity"),
        public=data.get("public", True),
        status="open",
        idempotency_key=key,
        created_at=now(),
    )
    try:
        with session.begin_nested():
            session.add(inquiry)
    except IntegrityError:  # the same key at the same moment (on SQLite, or past the lock): read the winner's
        earlier = session.scalar(select(Inquiry).where(Inquiry.member_id == member, Inquiry.idempotency_key == key))
        if earlier is None:
            raise
        return _same_ask(earlier, product_id, data), False
    return inquiry, True


def _same_ask(earlier: Inquiry, product_id: int, data: dict[str, Any]) -> Inquiry:
    same = (earlier.product_id, earlier.question, earlier.quantity, earlier.public) == (
        product_id,
        data["question"],
        data.get("quantity"),
        data.get("public", True),
    )
    if not same:
        raise ApiError(409, "idempotency_key_reused", "This Idempotency-Key was used for another inquiry.")
    return earlier


def _check_limits(session: Session, member_id: int, product_id: int) -> None:
    open_ = session.execute(
        select(Inquiry.product_id, func.count())
        .where(Inquiry.member_id == member_id, Inquiry.status == "open")
        .group_by(Inquiry.product_id)
    ).all()
    on_product = sum(n for p, n in open_ if p == product_id)
    if on_product >= MAX_OPEN_PER_PRODUCT:
        message = f"You have {on_product} questions about this product waiting for an answer; wait for one first."
        raise ApiError(409, "too_many_open_inquiries", message)
    if sum(n for _, n in open_) >= MAX_OPEN_PER_MEMBER:
        message = f"You have {MAX_OPEN_PER_MEMBER} questions waiting for an answer; wait for some first."
        raise ApiError(409, "too_many_open_inquiries", message)


def get(session: Session, inquiry_id: int) -> Inquiry:
    inquiry = session.get(Inquiry, inquiry_id)
    if inquiry is None:
        raise not_found("Inquiry")
    return inquiry


def answer(session: Session, inquiry_id: int, data: dict[str, Any]) -> tuple[Inquiry, bool]:
    """Answer an inquiry (InquiryAnswer: `answer`, `available`?, `by`, `unit`?) -> the inquiry and whether this
    call answered it. The same answer and figure again change nothing; anything else once it is answered is
    409 `already_answered`. The row is locked, so of two different answers at once exactly one is kept."""
    inquiry = session.scalar(
        select(Inquiry)
        .where(Inquiry.id == inquiry_id)
        .with_for_update(of=Inquiry)
        .execution_options(populate_existing=True)
    )
    if inquiry is None:
        raise not_found("Inquiry")
    if inquiry.status == "answered":
        if (inquiry.answer, inquiry.available) == (data["answer"], data.get("available")):
            return inquiry, False
        raise ApiError(409, "already_answered", "This inquiry has its answer; ask the customer to ask again.")
    inquiry.status = "answered"
    inquiry.answer = data["answer"]
    inquiry.available = data.get("available")
    inquiry.answered_by = data["by"]
    inquiry.answered_unit = data.get("unit")
    inquiry.answered_at = now()
    session.flush()
    return inquiry, True


_ORDER = {
    "newest": (Inquiry.created_at.desc(), Inquiry.id.desc()),
    "oldest": (Inquiry.created_at.asc(), Inquiry.id.asc()),
}


def search(session: Session, query: dict[str, Any]) -> tuple[Sequence[Inquiry], int]:
    """One page of inquiries and how many match: by `member_id`, `product_id`, `status` (`open`, `answered`,
    `all`), what a unit sells (`unit`: the products it owns; with `branch`, every supermarket product too),
    `sort` (`newest` or `oldest` first)."""
    filters = []
    for field in ("member_id", "product_id"):
        if query.get(field) is not None:
            filters.append(getattr(Inquiry, field) == query[field])
    if query.get("status", "all") != "all":
        filters.append(Inquiry.status == query["status"])
    if query.get("unit"):
        sold = Product.unit == query["unit"]
        if query.get("branch"):
            sold = or_(sold, Product.division == "supermarket")
        filters.append(Inquiry.product_id.in_(select(Product.id).where(sold)))
    total = session.scalar(select(func.count()).select_from(Inquiry).where(*filters)) or 0
    page, per_page = query.get("page", 1), query.get("per_page", 20)
    items = session.scalars(
        select(Inquiry)
        .where(*filters)
        .order_by(*_ORDER[query.get("sort", "newest")])
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return items, total


def answered_on(session: Session, product_id: int, query: dict[str, Any]) -> tuple[Sequence[Inquiry], int]:
    """A product's answered inquiries that their askers let be shown, newest answer first; 404 for no product."""
    if session.get(Product, product_id) is None:
        raise not_found("Product")
    filters = (Inquiry.product_id == product_id, Inquiry.status == "answered", Inquiry.public.is_(True))
    total = session.scalar(select(func.count()).select_from(Inquiry).where(*filters)) or 0
    page, per_page = query.get("page", 1), query.get("per_page", 20)
    items = session.scalars(
        select(Inquiry)
        .where(*filters)
        .order_by(Inquiry.answered_at.desc(), Inquiry.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return items, total
