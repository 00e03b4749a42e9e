"""Person-to-person auctions (DOMAIN.md's C2C 拍卖) at the edge: members list items and bid, anyone browses.

Catalog owns the auctions (docs/internal-api.md); the gateway checks who calls and what they send, passes
the member on (never from the body), and shows people masked as reviews do (`w***g`). Bidders never see
the reserve price, only whether the highest bid is above it; the seller sees it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Blueprint, g

from shared.money import format_cents, to_cents
from shared.web import ApiError, not_found

from . import schemas, services
from .api import idempotency_key, inner, load_json, load_query, requires
from .config import runtime

auctions = Blueprint("auctions", __name__, url_prefix="/api/auctions")

#: What the public sees of catalog's auction; `seller`, `winner` and bidders are added masked.
PUBLIC = (
    "id",
    "title",
    "description",
    "starting_price",
    "current_price",
    "min_next_bid",
    "bids",
    "reserve_met",
    "status",
    "outcome",
    "ends_at",
    "created_at",
    "closed_at",
)
#: A sold auction's highest bidder is its winner (paid or not).
WON = ("sold", "paid", "unpaid")


@auctions.post("")
@requires("customer")
def list_auction():
    """List an item: `{"title": "Hand-painted Nixing teapot", "description"?, "starting_price": "100.00",
    "reserve_price": "150.00" (above the start), "ends_at"?: "2026-11-27T10:00:00+08:00"}` -> 201 the auction
    with its reserve price. Runs 48 hours unless `ends_at` says otherwise (from an hour to 7 days ahead).
    Send `Idempotency-Key` to make retries safe: the same key returns the same auction."""
    key = idempotency_key()
    body = load_json(schemas.AuctionIn)
    if body["ends_at"] is not None:
        _check_end(body["ends_at"])
    wire = {
        "seller_id": g.me.id,
        "title": body["title"],
        "description": body["description"],
        "starting_price": format_cents(body["starting_price"]),
        "reserve_price": format_cents(body["reserve_price"]),
        "ends_at": body["ends_at"].isoformat() if body["ends_at"] else None,
        "idempotency_key": key,
    }
    return _for_seller(inner().create_auction(wire)), 201


def _check_end(ends_at: datetime) -> None:
    """422 for an end time outside the allowed window (catalog checks again with its own clock)."""
    settings, at = runtime.settings, datetime.now(UTC)
    earliest = at + timedelta(seconds=settings.auction_min_seconds)
    latest = at + timedelta(days=settings.auction_max_days)
    if not earliest <= ends_at <= latest:
        reason = f"Must be from {settings.auction_min_seconds} seconds to {settings.auction_max_days} days from now."
        raise ApiError(422, "validation_error", "Some fields are not valid.", {"ends_at": [reason]})


@auctions.get("")
def search_auctions():
    """Browse auctions: `?status=open|sold|paid|unpaid|failed|cancelled&sort=ending|newest&page=&per_page=` ->
    `{items: [auction], total, page, per_page}`; open ones unless `status` says otherwise, ending soonest
    first unless `sort=newest`. Anyone may."""
    query = load_query(schemas.AuctionQuery)
    query.setdefault("status", "open")
    found = inner().auctions(query)
    shown = _masked(found["items"])
    return found | {"items": [_public(a, shown) for a in found["items"]]}


@auctions.get("/mine")
@requires("customer")
def my_auctions():
    """The auctions the caller listed, with their reserve prices: the same query and page as browsing."""
    query = load_query(schemas.AuctionQuery)
    found = inner().auctions(query | {"seller_id": g.me.id})
    shown = _masked(found["items"])
    return found | {"items": [_public(a, shown) | {"reserve_price": a["reserve_price"]} for a in found["items"]]}


@auctions.get("/<id:auction_id>")
def get_auction(auction_id: int):
    """One auction with its latest bids, highest first: `{..., bid_history: [{id, amount, bidder, created_at}]}`
    (bidders masked); 404."""
    auction = inner().auction(auction_id)
    if auction is None:
        raise not_found("Auction")
    shown = _masked([auction], auction.get("bid_history", []))
    return _public(auction, shown) | {"bid_history": [_bid(b, shown) for b in auction.get("bid_history", [])]}


@auctions.post("/<id:auction_id>/bids")
@requires("customer")
def place_bid(auction_id: int):
    """Bid `{"amount": "156.00"}` -> 201 `{bid, auction}`: the first bid at least the starting price, each later one
    at least the highest plus its step (`min_next_bid`: +1.00 below 100.00, +5.00 below 1,000.00, +10.00
    below 5,000.00, +50.00 from there). 409 `bid_too_low` (also when another bid took that price a moment
    before), `own_auction`, `auction_closed`, `insufficient_balance` (a bid the bidder's account balance
    does not cover now); 404. The winner pays from their account balance when the auction closes (a bid
    holds no money: the balance may be spent before then, and the auction is then `unpaid`). Send
    `Idempotency-Key` to make retries safe: the same key returns the same bid."""
    key = idempotency_key()
    body = load_json(schemas.BidIn)
    # Not a guarantee (nothing is held), but a member cannot win with bids they could never pay.
    if body["amount"] > to_cents(inner().wallet(g.me.id)["balance"]):
        raise ApiError(409, "insufficient_balance", "Your account balance does not cover this bid.")
    wire = {"bidder_id": g.me.id, "amount": format_cents(body["amount"]), "idempotency_key": key}
    placed = inner().place_bid(auction_id, wire)
    shown = _masked([placed["auction"]], [placed["bid"]])
    return {"bid": _bid(placed["bid"], shown), "auction": _public(placed["auction"], shown)}, 201


@auctions.post("/<id:auction_id>/cancel")
@requires("customer")
def cancel_auction(auction_id: int):
    """The seller withdraws an auction nobody has bid on (`{}`) -> the auction, cancelled; 403 `not_seller`;
    409 `has_bids`, `auction_closed`; 404."""
    load_json(schemas.Empty)
    return _for_seller(inner().cancel_auction(auction_id, g.me.id))


# --- views ---------------------------------------------------------------------------------------


def _masked(auctions_: list[dict[str, Any]], bids: list[dict[str, Any]] = ()) -> dict[int, str]:
    """Masked usernames of the sellers, winners and bidders named (from the gateway's own members)."""
    people = {a["seller_id"] for a in auctions_} | {a["highest_bidder_id"] for a in auctions_ if a["status"] in WON}
    people |= {b["bidder_id"] for b in bids}
    with runtime.db.session() as session, session.begin():
        return services.masked_usernames(session, {p for p in people if p is not None})


def _public(auction: dict[str, Any], shown: dict[int, str]) -> dict[str, Any]:
    winner = auction.get("highest_bidder_id") if auction["status"] in WON else None
    return {k: auction.get(k) for k in PUBLIC} | {
        "seller": shown.get(auction["seller_id"], "***"),
        "winner": None if winner is None else shown.get(winner, "***"),
    }


def _bid(bid: dict[str, Any], shown: dict[int, str]) -> dict[str, Any]:
    return {
        "id": bid["id"],
        "amount": bid["amount"],
        "bidder": shown.get(bid["bidder_id"], "***"),
        "created_at": bid["created_at"],
    }


def _for_seller(auction: dict[str, Any]) -> dict[str, Any]:
    return _public(auction, _masked([auction])) | {"reserve_price": auction["reserve_price"]}
