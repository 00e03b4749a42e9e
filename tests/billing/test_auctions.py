"""Auctions in billing: the winning buyer's balance pays the seller, once per auction whatever the re-sends; a
balance that cannot cover the price is recorded and answered as such."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select

from shared.testing import deliver, envelope, payloads

from .test_finance import top_up

SELLER, BUYER = 7, 8


def sold(auction=41, amount=15100, buyer=BUYER):
    return {
        "auction": auction,
        "seller_id": SELLER,
        "buyer_id": buyer,
        "amount_cents": amount,
        "title": "Hand-painted Nixing teapot",
        "sold_at": "2026-11-27T02:00:00+00:00",
    }


def balance(client, member_id):
    return client.get(f"/internal/wallets/{member_id}").json["balance"]


def movements(billing, member_id):
    from services.billing.models import WalletMovement

    with billing.db.session() as session:
        rows = session.scalars(
            select(WalletMovement).where(WalletMovement.member_id == member_id).order_by(WalletMovement.id)
        )
        return [(m.delta_cents, m.reference) for m in rows]


def test_the_winning_price_moves_from_the_buyer_to_the_seller(billing, client, clock):
    top_up(client, member_id=BUYER, amount="200.00")
    assert deliver(billing, "auction.sold", sold()) == "handled"
    assert (balance(client, BUYER), balance(client, SELLER)) == ("49.00", "151.00")
    assert movements(billing, BUYER)[-1] == (-15100, "auction:41:buyer")
    assert movements(billing, SELLER) == [(15100, "auction:41:seller")]
    [paid] = payloads(billing, "auction.paid")
    assert paid == {"auction": 41, "amount_cents": 15100, "paid_at": clock.at.isoformat()}


def test_a_sold_event_delivered_twice_or_sent_again_moves_the_money_once(billing, client, clock):
    top_up(client, member_id=BUYER, amount="400.00")
    body = envelope("auction.sold", sold(), correlation_id="auction-41")
    assert billing.consume("auction.sold", body) == "handled"
    assert billing.consume("auction.sold", body) == "duplicate"  # the broker's repeat: the inbox drops it
    assert deliver(billing, "auction.sold", sold()) == "handled"  # catalog asking again: a new message id
    assert (balance(client, BUYER), balance(client, SELLER)) == ("249.00", "151.00")
    assert len(movements(billing, SELLER)) == 1
    assert [p["auction"] for p in payloads(billing, "auction.paid")] == [41, 41]  # answered each time


def test_a_buyer_whose_balance_does_not_cover_the_price_leaves_it_unpaid(billing, client, clock):
    top_up(client, member_id=BUYER, amount="151.00")
    assert deliver(billing, "auction.sold", sold(amount=15101)) == "handled"
    assert (balance(client, BUYER), balance(client, SELLER)) == ("151.00", "0.00")
    assert payloads(billing, "auction.payment_failed") == [{"auction": 41, "reason": "insufficient_balance"}]
    top_up(client, member_id=BUYER, amount="100.00")  # money that comes later does not revive the sale
    assert deliver(billing, "auction.sold", sold(amount=15101)) == "handled"
    assert balance(client, BUYER) == "251.00"
    assert payloads(billing, "auction.payment_failed") == [{"auction": 41, "reason": "insufficient_balance"}] * 2
    assert payloads(billing, "auction.paid") == []


def test_each_auction_is_settled_on_its_own(billing, client, clock):
    top_up(client, member_id=BUYER, amount="300.00")
    deliver(billing, "auction.sold", sold(auction=41, amount=10000))
    deliver(billing, "auction.sold", sold(auction=42, amount=15000))
    deliver(billing, "auction.sold", sold(auction=43, amount=10000))  # 50.00 left: not enough
    assert (balance(client, BUYER), balance(client, SELLER)) == ("50.00", "250.00")
    assert [p["auction"] for p in payloads(billing, "auction.paid")] == [41, 42]
    assert [p["auction"] for p in payloads(billing, "auction.payment_failed")] == [43]


def test_a_second_movement_under_an_auctions_reference_is_refused_by_the_database(billing, client, clock):
    from sqlalchemy.exc import IntegrityError

    from services.billing import services

    top_up(client, member_id=BUYER, amount="300.00")
    deliver(billing, "auction.sold", sold())
    with pytest.raises(IntegrityError), billing.db.session() as session, session.begin():
        services._move(session, BUYER, -100, "bought again", reference="auction:41:buyer")
    assert balance(client, BUYER) == "149.00"


@pytest.mark.integration
def test_copies_of_a_sold_event_racing_on_postgresql_move_the_money_once(monkeypatch):
    from services.billing import services, tasks  # noqa: F401  (tasks registers the consumers)
    from services.billing.config import runtime
    from shared.testing import fresh_database
    from tests.infra import fresh_postgres_database, postgres_available

    if not postgres_available():
        pytest.skip("PostgreSQL is not reachable")
    url = fresh_postgres_database("mall_test_billing_auctions")
    monkeypatch.setenv("MALL_DATABASE_URL_BILLING", url)
    fresh_database(runtime, url)
    try:
        with runtime.db.session() as session, session.begin():
            services.adjust_balance(session, BUYER, 100000, "top-up")
        runtime.relay  # noqa: B018  (built once, not by four threads at once)
        start = threading.Barrier(4)
        outcomes = []

        def resend():
            start.wait()
            outcomes.append(deliver(runtime, "auction.sold", sold()))  # four re-sends, four message ids

        threads = [threading.Thread(target=resend) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert outcomes == ["handled"] * 4
        with runtime.db.session() as session:
            assert services.balance_of(session, BUYER) == 100000 - 15100
            assert services.balance_of(session, SELLER) == 15100
        assert len(payloads(runtime, "auction.paid")) == 4
    finally:
        runtime.reset()
