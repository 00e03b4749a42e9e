"""Person-to-person auctions (DOMAIN.md's C2C 拍卖): a member lists an item, members bid, the highest bid wins.

- A member lists an item with a starting price, a reserve price above it, and an end time (48 hours on
  by default; from MALL_AUCTION_MIN_SECONDS to MALL_AUCTION_MAX_DAYS ahead) (`list_item`).
- Members bid in turn (`place_bid`): the first bid at least the starting price, each later one at least
  the highest plus its step (`models.bid_increment`). A bid locks its auction's row, so of two bids
  racing for one price exactly one is accepted; the other is too low (409). The seller may not bid,
  and nobody bids once the end time has come.
- Beat's `catalog.close_auctions` closes what has ended (`close_due`): the highest bid above the reserve
  sells (`sold`, and `auction.sold` to billing, in the same transaction), anything else fails. Billing
  moves the price from the buyer's balance to the seller's and answers `auction.paid` or
  `auction.payment_failed` (`paid`, `unpaid`); until it does, the job sends `auction.sold`
  again with backoff (billing settles each auction once, however often it is told).
- The seller may cancel an auction that has no bid yet (`cancel`).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shared.config import Settings
from shared.db import as_utc
from shared.messaging import PermanentError, UnitOfWork, now
from shared.money import format_cents
from shared.web import ApiError, not_found

from .models import Auction, Bid

log = logging.getLogger("mall.catalog.auctions")

#: DOMAIN.md: "an end time (about two days)": what an auction runs when the seller names no end.
DEFAULT_DURATION = timedelta(hours=48)
#: Bids shown with an auction, newest first (the count shows how many there were in all).
BID_HISTORY = 50
#: Each closing round takes at most this many auctions of each kind; the next round (seconds later) the rest.
CLOSE_BATCH = 200
#: Re-sends of `auction.sold` wait the reply deadline doubled each time, up to this many doublings.
MAX_BACKOFF_DOUBLINGS = 6


def correlation(auction_id: int) -> str:
    """What the messages about one auction correlate by (an order's number is what orders' correlate by)."""
    return f"auction-{auction_id}"


def end_bounds(settings: Settings, at: datetime) -> tuple[datetime, datetime]:
    """The earliest and latest end time an auction listed at `at` may have."""
    return at + timedelta(seconds=settings.auction_min_seconds), at + timedelta(days=settings.auction_max_days)


def list_item(session: Session, data: dict[str, Any], settings: Settings) -> tuple[Auction, bool]:
    """List a member's item (NewAuction). Returns the auction and whether it is new: the same Idempotency-Key
    again returns the first auction (another listing under it is 409 `idempotency_key_reused`).

    The end time must lie from MALL_AUCTION_MIN_SECONDS (an hour) to MALL_AUCTION_MAX_DAYS (7) ahead: 422.
    """
    key = data.get("idempotency_key")
    if key:
        earlier = _listed_under(session, data["seller_id"], key)
        if earlier is not None:
            return _same_listing(earlier, data), False
    at = now()
    ends_at = data.get("ends_at") or at + DEFAULT_DURATION
    earliest, latest = end_bounds(settings, at)
    if not earliest <= ends_at <= latest:
        reason = f"Must be from {earliest.isoformat(timespec='seconds')} to {latest.isoformat(timespec='seconds')}."
        raise ApiError(422, "validation_error", "Some fields are not valid.", {"ends_at": [reason]})
    auction = Auction(
        seller_id=data["seller_id"],
        title=data["title"],
        description=data["description"],
        starting_price_cents=data["starting_price"],
        reserve_price_cents=data["reserve_price"],
        ends_at=ends_at.astimezone(UTC),
        status="open",
        bid_count=0,
        idempotency_key=key,
        settle_attempts=0,
        created_at=at,
    )
    try:
        with session.begin_nested():
            session.add(auction)
    except IntegrityError:  # the same key at the same moment: the first one listed it
        earlier = _listed_under(session, data["seller_id"], key)
        if earlier is None:
            raise
        return _same_listing(earlier, data), False
    return auction, True


def _listed_under(session: Session, seller_id: int, key: str) -> Auction | None:
    return session.scalar(select(Auction).where(Auction.seller_id == seller_id, Auction.idempotency_key == key))


def _same_listing(earlier: Auction, data: dict[str, Any]) -> Auction:
    same = (earlier.title, earlier.starting_price_cents, earlier.reserve_price_cents) == (
        data["title"],
        data["starting_price"],
        data["reserve_price"],
    )
    if not same:
        raise ApiError(409, "idempotency_key_reused", "This key was used for another listing.")
    return earlier


def _locked(session: Session, auction_id: int) -> Auction:
    """The auction, its row locked for this transaction (read as the last writer left it); 404 if none."""
    auction = session.scalar(
        select(Auction).where(Auction.id == auction_id).with_for_update().execution_options(populate_existing=True)
    )
    if auction is None:
        raise not_found("Auction")
    return auction


def place_bid(session: Session, auction_id: int, bid: dict[str, Any]) -> tuple[Bid, bool]:
    """A member bids (NewBid). Returns the bid and whether it is new: the same Idempotency-Key again returns
    the first bid (under another auction or amount: 409 `idempotency_key_reused`).

    404 for an unknown auction; 409 `own_auction` for the seller, `auction_closed` once it has ended or is
    no longer open, `bid_too_low` below the starting price or the highest bid plus its step.
    """
    # The row lock first: a bid racing this one (even under the same key) has committed or not started.
    auction = _locked(session, auction_id)
    bidder, amount, key = bid["bidder_id"], bid["amount"], bid.get("idempotency_key")
    if key:
        earlier = session.scalar(select(Bid).where(Bid.bidder_id == bidder, Bid.idempotency_key == key))
        if earlier is not None:
            if (earlier.auction_id, earlier.amount_cents) != (auction_id, amount):
                raise ApiError(409, "idempotency_key_reused", "This key was used for another bid.")
            return earlier, False
    if auction.seller_id == bidder:
        raise ApiError(409, "own_auction", "A seller may not bid on their own auction.")
    at = now()
    if auction.status != "open" or at >= as_utc(auction.ends_at):
        raise ApiError(409, "auction_closed", "This auction has ended; no more bids.")
    least = auction.min_next_bid()
    if amount < least:
        what = "the starting price" if auction.highest_bid_cents is None else "the highest bid plus its step"
        raise ApiError(409, "bid_too_low", f"A bid must be at least {format_cents(least)} ({what}).")
    row = Bid(auction_id=auction_id, bidder_id=bidder, amount_cents=amount, idempotency_key=key, created_at=at)
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        # The same key at the same moment for a bid on another auction (whose row lock this one does not
        # wait for): one bid per bidder and key.
        raise ApiError(409, "idempotency_key_reused", "This key was used for another bid.") from None
    auction.highest_bid_cents, auction.highest_bidder_id = amount, bidder
    auction.bid_count += 1
    session.flush()
    return row, True


def cancel(session: Session, auction_id: int, seller_id: int) -> Auction:
    """The seller withdraws an auction nobody has bid on (again: the same answer).

    403 `not_seller` for anyone else; 409 `has_bids` once someone bid, `auction_closed` once it ended.
    """
    auction = _locked(session, auction_id)
    if auction.seller_id != seller_id:
        raise ApiError(403, "not_seller", "Only the seller may cancel an auction.")
    if auction.status == "cancelled":
        return auction
    if auction.status != "open" or now() >= as_utc(auction.ends_at):
        raise ApiError(409, "auction_closed", "This auction has ended.")
    if auction.bid_count:
        raise ApiError(409, "has_bids", "Somebody has bid: the auction runs to its end.")
    auction.status, auction.closed_at, auction.outcome = "cancelled", now(), "cancelled by the seller"
    return auction


def get(session: Session, auction_id: int) -> tuple[Auction, list[Bid]]:
    """An auction and its latest bids, newest first; 404 if none."""
    auction = session.get(Auction, auction_id)
    if auction is None:
        raise not_found("Auction")
    bids = session.scalars(
        select(Bid).where(Bid.auction_id == auction_id).order_by(Bid.amount_cents.desc()).limit(BID_HISTORY)
    ).all()
    return auction, list(bids)


_ORDERINGS = {
    "ending": (Auction.ends_at.asc(), Auction.id.asc()),
    "newest": (Auction.created_at.desc(), Auction.id.desc()),
}


def search(session: Session, query: dict[str, Any]) -> tuple[list[Auction], int]:
    """One page of auctions (AuctionQuery): by status and seller, ending soonest first or newest first."""
    filters = []
    if query.get("status"):
        filters.append(Auction.status == query["status"])
    if query.get("seller_id"):
        filters.append(Auction.seller_id == query["seller_id"])
    total = session.scalar(select(func.count()).select_from(Auction).where(*filters)) or 0
    page, per_page = query.get("page", 1), query.get("per_page", 20)
    items = session.scalars(
        select(Auction)
        .where(*filters)
        .order_by(*_ORDERINGS[query.get("sort") or "ending"])
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return list(items), total


# --- closing and settling -------------------------------------------------------------------------


def _claim(session: Session, *conditions) -> list[Auction]:
    """Auctions matching `conditions`, each row locked; rows another closing round holds are skipped
    (PostgreSQL), so two rounds at once close each auction once. SQLite writes one transaction at a time."""
    query = (
        select(Auction)
        .where(*conditions)
        .order_by(Auction.id)
        .limit(CLOSE_BATCH)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )
    return list(session.scalars(query))


def close_due(uow: UnitOfWork, settings: Settings, at: datetime | None = None) -> int:
    """Close every open auction whose end has come, and tell billing again about sold ones it has not
    answered by their deadline. Returns how many auctions it closed or re-sent."""
    at = at or now()
    session = uow.session
    ended = _claim(session, Auction.status == "open", Auction.ends_at <= at)
    for auction in ended:
        auction.closed_at = at
        if auction.reserve_met():
            auction.status, auction.outcome = "sold", None
            _ask_payment(uow, auction, settings, at)
        else:
            auction.status = "failed"
            auction.outcome = "no_bids" if auction.highest_bid_cents is None else "reserve_not_met"
        log.info("auction %d closed: %s", auction.id, auction.outcome or "sold")
    unanswered = _claim(session, Auction.status == "sold", Auction.settle_deadline_at <= at)
    for auction in unanswered:
        if auction.settle_attempts >= 3:
            log.warning("auction %d: billing has not answered after %d tries", auction.id, auction.settle_attempts)
        _ask_payment(uow, auction, settings, at)
    return len(ended) + len(unanswered)


def _ask_payment(uow: UnitOfWork, auction: Auction, settings: Settings, at: datetime) -> None:
    """`auction.sold` (again), with a deadline for billing's answer that doubles with each try."""
    uow.send(
        "auction.sold",
        {
            "auction": auction.id,
            "seller_id": auction.seller_id,
            "buyer_id": auction.highest_bidder_id,
            "amount_cents": auction.highest_bid_cents,
            "title": auction.title,
            "sold_at": as_utc(auction.closed_at).isoformat(),
        },
        correlation_id=correlation(auction.id),
    )
    wait = settings.reply_deadline_seconds * 2 ** min(auction.settle_attempts, MAX_BACKOFF_DOUBLINGS)
    auction.settle_attempts += 1
    auction.settle_deadline_at = at + timedelta(seconds=wait)


def _settling(uow: UnitOfWork, auction_id: int) -> Auction:
    try:
        return _locked(uow.session, auction_id)
    except ApiError:  # billing answers only auctions catalog sold: sending it again will not make one
        raise PermanentError(f"billing answered for auction {auction_id}, which catalog does not have") from None


def paid(uow: UnitOfWork, event: dict[str, Any]) -> None:
    """Billing moved the price to the seller: the auction is paid (a repeat changes nothing)."""
    auction = _settling(uow, event["auction"])
    if auction.status == "sold":
        auction.status, auction.settled_at, auction.settle_deadline_at = "paid", event["paid_at"], None


def payment_failed(uow: UnitOfWork, event: dict[str, Any]) -> None:
    """The buyer's balance did not cover the price: the auction is unpaid and the item stays the seller's."""
    auction = _settling(uow, event["auction"])
    if auction.status == "sold":
        auction.status, auction.outcome = "unpaid", event["reason"]
        auction.settled_at, auction.settle_deadline_at = now(), None
