"""A person-to-person auction end to end through the gateway, on the real processes: listed, bid on by two
members, closed by beat's job, and paid from the winner's balance to the seller's by billing."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest

pytestmark = pytest.mark.e2e


def wait_for_auction(mall, auction_id: int, statuses: set[str], timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    auction: dict = {}
    while time.monotonic() < deadline:
        auction = mall.ok("GET", f"/api/auctions/{auction_id}")
        if auction["status"] in statuses:
            return auction
        time.sleep(0.3)
    raise AssertionError(f"auction {auction_id} stayed {auction.get('status')} (wanted {statuses})\n{mall.tail(30)}")


def test_two_members_bid_and_the_highest_above_the_reserve_buys_it_from_their_balance(mall):
    seller, _ = mall.customer("0.00")
    li, _ = mall.customer("500.00")
    zhou, _ = mall.customer("500.00")
    ends_at = (datetime.now(UTC) + timedelta(seconds=4)).isoformat()
    item = {"title": "Hand-painted Nixing teapot", "starting_price": "100.00", "reserve_price": "150.00"}
    teapot = mall.ok("POST", "/api/auctions", item | {"ends_at": ends_at}, seller)
    bowl = mall.ok("POST", "/api/auctions", item | {"title": "A chipped bowl", "ends_at": ends_at}, seller)

    mall.ok("POST", f"/api/auctions/{teapot['id']}/bids", {"amount": "100.00"}, li)
    mall.ok("POST", f"/api/auctions/{teapot['id']}/bids", {"amount": "105.00"}, zhou)
    key = {"Idempotency-Key": f"li-{uuid.uuid4().hex}"}
    status, first = mall.call("POST", f"/api/auctions/{teapot['id']}/bids", {"amount": "160.00"}, li, headers=key)
    status_again, again = mall.call("POST", f"/api/auctions/{teapot['id']}/bids", {"amount": "160.00"}, li, headers=key)
    assert (status, status_again) == (201, 201) and first["bid"] == again["bid"]
    status, too_low = mall.call("POST", f"/api/auctions/{teapot['id']}/bids", {"amount": "160.00"}, zhou)
    assert status == 409 and too_low["error"]["code"] == "bid_too_low"

    paid = wait_for_auction(mall, teapot["id"], {"paid", "unpaid", "failed"})
    assert paid["status"] == "paid" and paid["current_price"] == "160.00" and paid["bids"] == 3
    assert paid["winner"] is not None and paid["winner"] == first["bid"]["bidder"]
    assert mall.ok("GET", "/api/wallet", token=li)["balance"] == "340.00"
    assert mall.ok("GET", "/api/wallet", token=zhou)["balance"] == "500.00"
    assert mall.ok("GET", "/api/wallet", token=seller)["balance"] == "160.00"

    unsold = wait_for_auction(mall, bowl["id"], {"failed"})
    assert unsold["outcome"] == "no_bids" and unsold["winner"] is None
    status, late = mall.call("POST", f"/api/auctions/{teapot['id']}/bids", {"amount": "500.00"}, zhou)
    assert status == 409 and late["error"]["code"] == "auction_closed"
