"""Person-to-person auctions in catalog: a member lists an item, members bid in turn, the closing job sells it to
the highest bid above the reserve (or fails it), and billing's answer marks it paid or unpaid."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.testing import deliver, envelope, payloads, sent

LISTED_AT = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
SELLER, LI, WANG = 7, 8, 9


@pytest.fixture
def clock(monkeypatch):
    """`clock.at = ...`: what catalog's auctions take for now (from 25 November 2026, 10:00 in the mall)."""
    from services.catalog import auctions

    class Clock:
        at = LISTED_AT

    clock = Clock()
    monkeypatch.setattr(auctions, "now", lambda: clock.at)
    return clock


def teapot(**changes):
    return {
        "seller_id": SELLER,
        "title": "Hand-painted Nixing teapot",
        "description": "Qinzhou clay, fired 2019, never used.",
        "starting_price": "100.00",
        "reserve_price": "150.00",
        "ends_at": (LISTED_AT + timedelta(days=2)).isoformat(),
    } | changes


def listed(client, **changes):
    response = client.post("/internal/auctions", json=teapot(**changes))
    assert response.status_code == 201, response.json
    return response.json


def bid(client, auction, bidder, amount, key=None):
    body = {"bidder_id": bidder, "amount": amount} | ({"idempotency_key": key} if key else {})
    return client.post(f"/internal/auctions/{auction['id']}/bids", json=body)


def close(catalog, at):
    from services.catalog import auctions

    with catalog.unit_of_work("close-auctions") as uow:
        return auctions.close_due(uow, catalog.settings, at=at)


def shown(client, auction):
    return client.get(f"/internal/auctions/{auction['id']}").json


# --- listing --------------------------------------------------------------------------------------


def test_a_member_lists_an_item_that_runs_48_hours_unless_told_otherwise(client, clock):
    auction = listed(client, ends_at=None)
    assert auction["status"] == "open" and auction["bids"] == 0 and auction["current_price"] is None
    assert auction["starting_price"] == "100.00" and auction["reserve_price"] == "150.00"
    assert auction["min_next_bid"] == "100.00" and auction["reserve_met"] is False
    assert datetime.fromisoformat(auction["ends_at"]) == LISTED_AT + timedelta(hours=48)


def test_the_reserve_must_be_above_the_starting_price(client, clock):
    for reserve in ("100.00", "99.99"):
        response = client.post("/internal/auctions", json=teapot(reserve_price=reserve))
        assert response.status_code == 422
        assert response.json["error"]["fields"] == {"reserve_price": ["Must be above the starting price."]}
    assert client.get("/internal/auctions").json["total"] == 0


@pytest.mark.parametrize(
    "ends_in",
    [timedelta(minutes=-5), timedelta(0), timedelta(minutes=59), timedelta(days=7, seconds=1)],
)
def test_an_end_time_in_the_past_or_too_near_or_too_far_is_refused(client, clock, ends_in):
    response = client.post("/internal/auctions", json=teapot(ends_at=(LISTED_AT + ends_in).isoformat()))
    assert response.status_code == 422 and set(response.json["error"]["fields"]) == {"ends_at"}


def test_an_end_time_without_its_offset_is_refused(client, clock):
    response = client.post("/internal/auctions", json=teapot(ends_at="2026-11-27T10:00:00"))
    assert response.status_code == 422 and set(response.json["error"]["fields"]) == {"ends_at"}


def test_listing_again_under_the_same_key_returns_the_first_auction(client, clock):
    first = listed(client, idempotency_key="teapot-1")
    assert listed(client, idempotency_key="teapot-1")["id"] == first["id"]
    other = client.post("/internal/auctions", json=teapot(title="A vase", idempotency_key="teapot-1"))
    assert other.status_code == 409 and other.json["error"]["code"] == "idempotency_key_reused"
    assert client.get("/internal/auctions").json["total"] == 1


# --- bidding --------------------------------------------------------------------------------------


def test_buyers_bid_in_turn_each_above_the_last_by_its_step(client, clock):
    auction = listed(client)
    assert bid(client, auction, LI, "99.99").json["error"]["code"] == "bid_too_low"
    first = bid(client, auction, LI, "100.00")
    assert first.status_code == 201 and first.json["auction"]["min_next_bid"] == "105.00"
    too_little = bid(client, auction, WANG, "104.99")
    assert too_little.status_code == 409 and too_little.json["error"]["code"] == "bid_too_low"
    assert "105.00" in too_little.json["error"]["message"]
    assert bid(client, auction, WANG, "105.00").status_code == 201
    assert bid(client, auction, LI, "160.00").status_code == 201
    now = shown(client, auction)
    assert (now["current_price"], now["highest_bidder_id"], now["bids"]) == ("160.00", LI, 3)
    assert now["reserve_met"] is True
    assert [(b["bidder_id"], b["amount"]) for b in now["bid_history"]] == [
        (LI, "160.00"),
        (WANG, "105.00"),
        (LI, "100.00"),
    ]


@pytest.mark.parametrize(
    ("highest", "least"),
    [("99.00", "100.00"), ("100.00", "105.00"), ("999.99", "1004.99"), ("1000.00", "1010.00"), ("5000.00", "5050.00")],
)
def test_the_step_grows_with_the_price(client, clock, highest, least):
    auction = listed(client, starting_price=highest, reserve_price="9000.00")
    assert bid(client, auction, LI, highest).json["auction"]["min_next_bid"] == least


def test_the_seller_may_not_bid_on_their_own_auction(client, clock):
    auction = listed(client)
    response = bid(client, auction, SELLER, "120.00")
    assert response.status_code == 409 and response.json["error"]["code"] == "own_auction"


def test_nobody_bids_once_the_end_time_has_come(client, clock):
    auction = listed(client)
    clock.at = LISTED_AT + timedelta(days=2)
    response = bid(client, auction, LI, "120.00")
    assert response.status_code == 409 and response.json["error"]["code"] == "auction_closed"
    assert shown(client, auction)["bids"] == 0


def test_a_bid_sent_again_under_its_key_is_the_same_bid(client, clock):
    auction = listed(client)
    first = bid(client, auction, LI, "120.00", key="li-bid-1")
    again = bid(client, auction, LI, "120.00", key="li-bid-1")
    assert again.status_code == 201 and again.json["bid"] == first.json["bid"]
    assert shown(client, auction)["bids"] == 1
    other = bid(client, auction, LI, "130.00", key="li-bid-1")
    assert other.status_code == 409 and other.json["error"]["code"] == "idempotency_key_reused"


def test_bids_on_an_unknown_auction_are_404_and_bad_bids_422(client, clock):
    assert client.post("/internal/auctions/999/bids", json={"bidder_id": LI, "amount": "1.00"}).status_code == 404
    auction = listed(client)
    for body in ({"bidder_id": LI, "amount": "-1.00"}, {"bidder_id": LI, "amount": 1.5}, {"amount": "120.00"}):
        assert client.post(f"/internal/auctions/{auction['id']}/bids", json=body).status_code == 422


# --- cancelling -----------------------------------------------------------------------------------


def test_the_seller_cancels_an_auction_nobody_has_bid_on(client, clock):
    auction = listed(client)
    other = client.post(f"/internal/auctions/{auction['id']}/cancel", json={"seller_id": LI})
    assert other.status_code == 403 and other.json["error"]["code"] == "not_seller"
    cancelled = client.post(f"/internal/auctions/{auction['id']}/cancel", json={"seller_id": SELLER})
    assert cancelled.status_code == 200 and cancelled.json["status"] == "cancelled"
    assert client.post(f"/internal/auctions/{auction['id']}/cancel", json={"seller_id": SELLER}).status_code == 200
    assert bid(client, auction, LI, "120.00").json["error"]["code"] == "auction_closed"


def test_an_auction_with_a_bid_runs_to_its_end(client, clock):
    auction = listed(client)
    bid(client, auction, LI, "100.00")
    response = client.post(f"/internal/auctions/{auction['id']}/cancel", json={"seller_id": SELLER})
    assert response.status_code == 409 and response.json["error"]["code"] == "has_bids"


# --- closing and settling -------------------------------------------------------------------------


def test_the_highest_bid_above_the_reserve_wins_and_billing_is_asked_for_the_money(catalog, client, clock):
    auction = listed(client)
    bid(client, auction, LI, "120.00")
    bid(client, auction, WANG, "151.00")
    ends = LISTED_AT + timedelta(days=2)
    assert close(catalog, ends - timedelta(seconds=1)) == 0
    assert close(catalog, ends) == 1
    closed = shown(client, auction)
    assert closed["status"] == "sold" and closed["min_next_bid"] is None
    [sold] = sent(catalog, "auction.sold")
    assert sold["payload"] == {
        "auction": auction["id"],
        "seller_id": SELLER,
        "buyer_id": WANG,
        "amount_cents": 15100,
        "title": "Hand-painted Nixing teapot",
        "sold_at": ends.isoformat(),
    }
    assert sold["correlation_id"] == f"auction-{auction['id']}" and sold["_queue"] == "billing"


def test_a_highest_bid_at_the_reserve_or_no_bid_at_all_fails(catalog, client, clock):
    at_reserve = listed(client)
    bid(client, at_reserve, LI, "150.00")  # DOMAIN.md: the price must be *above* the reserve
    unloved = listed(client, title="A chipped bowl")
    assert close(catalog, LISTED_AT + timedelta(days=3)) == 2
    assert (shown(client, at_reserve)["status"], shown(client, at_reserve)["outcome"]) == ("failed", "reserve_not_met")
    assert (shown(client, unloved)["status"], shown(client, unloved)["outcome"]) == ("failed", "no_bids")
    assert payloads(catalog, "auction.sold") == []


def test_an_auction_is_closed_once_and_billing_asked_again_only_after_its_deadline(catalog, client, clock):
    auction = listed(client)
    bid(client, auction, LI, "200.00")
    ends = LISTED_AT + timedelta(days=2)
    close(catalog, ends)
    assert close(catalog, ends + timedelta(seconds=5)) == 0
    deadline = catalog.settings.reply_deadline_seconds
    assert close(catalog, ends + timedelta(seconds=deadline)) == 1  # no answer yet: told again
    assert close(catalog, ends + timedelta(seconds=deadline + 1)) == 0  # and then after twice as long
    assert close(catalog, ends + timedelta(seconds=3 * deadline)) == 1
    told = payloads(catalog, "auction.sold")
    assert len(told) == 3 and all(p == told[0] for p in told)


def test_billings_answer_marks_it_paid_once_however_often_it_comes(catalog, client, clock):
    auction = listed(client)
    bid(client, auction, LI, "200.00")
    ends = LISTED_AT + timedelta(days=2)
    close(catalog, ends)
    answer = {"auction": auction["id"], "amount_cents": 20000, "paid_at": (ends + timedelta(seconds=1)).isoformat()}
    body = envelope("auction.paid", answer, correlation_id=f"auction-{auction['id']}")
    assert catalog.consume("auction.paid", body) == "handled"
    assert catalog.consume("auction.paid", body) == "duplicate"
    late_failure = {"auction": auction["id"], "reason": "insufficient_balance"}
    assert deliver(catalog, "auction.payment_failed", late_failure) == "handled"
    paid = shown(client, auction)
    assert paid["status"] == "paid" and paid["settled_at"] == answer["paid_at"]
    assert close(catalog, ends + timedelta(days=1)) == 0  # answered: never asked again


def test_a_buyer_who_cannot_pay_leaves_the_auction_unpaid(catalog, client, clock):
    auction = listed(client)
    bid(client, auction, LI, "200.00")
    close(catalog, LISTED_AT + timedelta(days=2))
    assert deliver(catalog, "auction.payment_failed", {"auction": auction["id"], "reason": "insufficient_balance"})
    unpaid = shown(client, auction)
    assert (unpaid["status"], unpaid["outcome"]) == ("unpaid", "insufficient_balance")
    assert close(catalog, LISTED_AT + timedelta(days=3)) == 0


def test_an_answer_about_an_auction_catalog_never_had_is_dead_lettered(catalog, clock):
    answer = {"auction": 404, "amount_cents": 100, "paid_at": LISTED_AT.isoformat()}
    assert deliver(catalog, "auction.paid", answer) == "dead_lettered"


# --- browsing -------------------------------------------------------------------------------------


def test_auctions_are_found_by_status_ending_soonest_first(client, clock):
    listed(client, title="Later", ends_at=(LISTED_AT + timedelta(days=3)).isoformat())
    sooner = listed(client, title="Sooner", ends_at=(LISTED_AT + timedelta(days=1)).isoformat())
    gone = listed(client, title="Gone")
    client.post(f"/internal/auctions/{gone['id']}/cancel", json={"seller_id": SELLER})
    found = client.get("/internal/auctions?status=open").json
    assert [a["title"] for a in found["items"]] == ["Sooner", "Later"] and found["total"] == 2
    assert [a["id"] for a in client.get("/internal/auctions?sort=newest&per_page=1&page=2").json["items"]] == [
        sooner["id"]
    ]
    assert client.get("/internal/auctions?status=cancelled").json["items"][0]["id"] == gone["id"]
    assert client.get("/internal/auctions?status=sunk").status_code == 422
