"""Auctions through the gateway: members list and bid as themselves, anyone browses, people are shown masked and the
reserve price only to the seller."""

from datetime import UTC, datetime, timedelta

import pytest
from gateway_helpers import bearer


def teapot(**changes):
    return {
        "title": "Hand-painted Nixing teapot",
        "description": "Qinzhou clay, fired 2019, never used.",
        "starting_price": "100.00",
        "reserve_price": "150.00",
    } | changes


@pytest.fixture
def seller(make_customer):
    return make_customer("wang_fang")


@pytest.fixture
def bidders(make_customer, inner):
    """Two members whose balances cover their bids (a bid the balance does not cover is refused)."""
    pair = make_customer("li_ming"), make_customer("zhou_yan")
    for member_id, _ in pair:
        inner.wallets[member_id] = 1_000_000
    return pair


def list_teapot(client, token, **changes):
    response = client.post("/api/auctions", json=teapot(**changes), headers=bearer(token))
    assert response.status_code == 201, response.json
    return response.json


def bid(client, token, auction_id, amount, key=None):
    headers = bearer(token) | ({"Idempotency-Key": key} if key else {})
    return client.post(f"/api/auctions/{auction_id}/bids", json={"amount": amount}, headers=headers)


def test_a_member_lists_an_item_as_themselves_and_sees_its_reserve(client, inner, seller):
    seller_id, token = seller
    auction = list_teapot(client, token)
    assert auction["status"] == "open" and auction["seller"] == "w***g"
    assert auction["reserve_price"] == "150.00" and auction["min_next_bid"] == "100.00"
    assert inner.auction_rows[auction["id"]]["seller_id"] == seller_id


def test_the_body_cannot_choose_whose_auction_it_is(client, inner, seller):
    _, token = seller
    response = client.post("/api/auctions", json=teapot(seller_id=999), headers=bearer(token))
    assert response.status_code == 422 and set(response.json["error"]["fields"]) == {"seller_id"}
    assert inner.auction_rows == {}


def test_bad_listings_are_422_before_the_catalogue_is_asked(client, inner, seller):
    _, token = seller
    soon = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    far = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    cases = [
        (teapot(reserve_price="100.00"), {"reserve_price"}),
        (teapot(starting_price="0.00", reserve_price="-1"), {"starting_price", "reserve_price"}),
        (teapot(title="", starting_price=100), {"title"}),
        (teapot(ends_at="2026-11-27T10:00:00"), {"ends_at"}),  # no offset: which 10 o'clock?
        (teapot(ends_at=soon), {"ends_at"}),
        (teapot(ends_at=far), {"ends_at"}),
        (teapot(starting_price=1.5), {"starting_price"}),
    ]
    for body, fields in cases:
        response = client.post("/api/auctions", json=body, headers=bearer(token))
        assert response.status_code == 422, body
        assert set(response.json["error"]["fields"]) == fields, body
    assert inner.calls == []


def test_an_end_time_two_days_ahead_is_passed_on(client, inner, seller):
    _, token = seller
    ends = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    auction = list_teapot(client, token, ends_at=ends.isoformat())
    assert datetime.fromisoformat(auction["ends_at"]) == ends


def test_listing_again_under_the_same_key_returns_the_same_auction(client, inner, seller):
    _, token = seller
    headers = bearer(token) | {"Idempotency-Key": "teapot-2026"}
    first = client.post("/api/auctions", json=teapot(), headers=headers)
    again = client.post("/api/auctions", json=teapot(), headers=headers)
    assert first.status_code == again.status_code == 201 and first.json["id"] == again.json["id"]
    assert len(inner.auction_rows) == 1


def test_buyers_bid_and_everyone_sees_them_masked_without_the_reserve(client, inner, seller, bidders):
    _, seller_token = seller
    (li_id, li), (_, zhou) = bidders
    auction = list_teapot(client, seller_token)
    placed = bid(client, li, auction["id"], "100.00")
    assert placed.status_code == 201
    assert placed.json["bid"]["bidder"] == "l***g" and placed.json["auction"]["min_next_bid"] == "105.00"
    assert inner.bid_rows[0]["bidder_id"] == li_id  # who the token says, never the body
    assert bid(client, zhou, auction["id"], "160.00").status_code == 201
    shown = client.get(f"/api/auctions/{auction['id']}")
    assert shown.status_code == 200
    assert "reserve_price" not in shown.json and shown.json["reserve_met"] is True
    assert shown.json["current_price"] == "160.00" and shown.json["winner"] is None  # open: nobody has won yet
    assert [(b["bidder"], b["amount"]) for b in shown.json["bid_history"]] == [("z***n", "160.00"), ("l***g", "100.00")]
    assert not any("bidder_id" in b for b in shown.json["bid_history"])


def test_catalogues_refusals_reach_the_bidder(client, inner, seller, bidders):
    seller_id, seller_token = seller
    inner.wallets[seller_id] = 100_000  # (so that the catalogue, not the balance, refuses the seller's bid)
    (_, li), _ = bidders
    auction = list_teapot(client, seller_token)
    own = bid(client, seller_token, auction["id"], "120.00")
    assert own.status_code == 409 and own.json["error"]["code"] == "own_auction"
    low = bid(client, li, auction["id"], "99.00")
    assert low.status_code == 409 and low.json["error"]["code"] == "bid_too_low"
    assert bid(client, li, 99999, "120.00").status_code == 404


def test_a_bid_sent_again_under_its_key_is_the_same_bid(client, inner, seller, bidders):
    _, seller_token = seller
    (_, li), _ = bidders
    auction = list_teapot(client, seller_token)
    first = bid(client, li, auction["id"], "120.00", key="bid-120")
    again = bid(client, li, auction["id"], "120.00", key="bid-120")
    assert first.status_code == again.status_code == 201 and first.json["bid"] == again.json["bid"]
    assert len(inner.bid_rows) == 1
    assert bid(client, li, auction["id"], "130.00", key="x" * 101).status_code == 422


def test_bids_must_be_money_and_need_a_customer(client, inner, seller, bidders, make_account):
    _, seller_token = seller
    (_, li), _ = bidders
    auction = list_teapot(client, seller_token)
    inner.calls.clear()
    for amount in ("abc", "-5.00", "0", 12.5, "1e3", None):
        assert bid(client, li, auction["id"], amount).status_code == 422, amount
    assert inner.calls == []
    assert client.post(f"/api/auctions/{auction['id']}/bids", json={"amount": "120.00"}).status_code == 401
    staff = make_account("zhou_staff", "staff", unit="DS-TEA")
    assert bid(client, staff, auction["id"], "120.00").status_code == 403


def test_the_seller_cancels_before_the_first_bid_and_nobody_else_can(client, inner, seller, bidders):
    _, seller_token = seller
    (_, li), _ = bidders
    auction = list_teapot(client, seller_token)
    other = client.post(f"/api/auctions/{auction['id']}/cancel", json={}, headers=bearer(li))
    assert other.status_code == 403 and other.json["error"]["code"] == "not_seller"
    cancelled = client.post(f"/api/auctions/{auction['id']}/cancel", json={}, headers=bearer(seller_token))
    assert cancelled.status_code == 200 and cancelled.json["status"] == "cancelled"
    bidded = list_teapot(client, seller_token)
    bid(client, li, bidded["id"], "100.00")
    late = client.post(f"/api/auctions/{bidded['id']}/cancel", json={}, headers=bearer(seller_token))
    assert late.status_code == 409 and late.json["error"]["code"] == "has_bids"


def test_anyone_browses_by_status_and_a_seller_sees_their_own_with_reserves(client, inner, seller, bidders):
    _, seller_token = seller
    (_, li), _ = bidders
    first = list_teapot(client, seller_token)
    list_teapot(client, seller_token, title="Celadon vase")
    client.post(f"/api/auctions/{first['id']}/cancel", json={}, headers=bearer(seller_token))
    found = client.get("/api/auctions?status=open")
    assert found.status_code == 200 and found.json["total"] == 1
    [open_one] = found.json["items"]
    assert open_one["title"] == "Celadon vase" and "reserve_price" not in open_one and "seller_id" not in open_one
    assert client.get("/api/auctions?status=sunk").status_code == 422
    assert client.get("/api/auctions?per_page=500").status_code == 422
    mine = client.get("/api/auctions/mine", headers=bearer(seller_token)).json
    assert [a["reserve_price"] for a in mine["items"]] == ["150.00", "150.00"]
    assert client.get("/api/auctions/mine", headers=bearer(li)).json["total"] == 0


def test_a_sold_auction_names_its_winner_masked(client, inner, seller, bidders):
    _, seller_token = seller
    (_, li), _ = bidders
    auction = list_teapot(client, seller_token)
    bid(client, li, auction["id"], "200.00")
    inner.auction_rows[auction["id"]].update(status="sold")  # as catalog's closing job leaves it
    assert client.get(f"/api/auctions/{auction['id']}").json["winner"] == "l***g"


def test_an_unknown_auction_is_404(client):
    assert client.get("/api/auctions/99999").status_code == 404
    assert client.get("/api/auctions/99999999999").status_code == 404


def test_a_bid_the_bidders_balance_does_not_cover_is_refused_before_the_catalogue_is_asked(
    client, inner, seller, make_customer
):
    _, token = seller
    auction = list_teapot(client, token)
    member_id, poor = make_customer("qian_poor")
    inner.wallets[member_id] = 9_999
    refused = bid(client, poor, auction["id"], "100.00")
    assert refused.status_code == 409 and refused.json["error"]["code"] == "insufficient_balance"
    assert (
        inner.auction_rows[auction["id"]].get("bids", 0) in (0, None) or not inner.auction_rows[auction["id"]]["bids"]
    )
    inner.wallets[member_id] = 10_000
    assert bid(client, poor, auction["id"], "100.00").status_code == 201
