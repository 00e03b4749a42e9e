"""Auctions under real concurrency on PostgreSQL: bids racing for one price, closing rounds racing for one auction."""

from __future__ import annotations

import functools
import threading
from datetime import UTC, datetime, timedelta

import pytest

from shared.testing import payloads

from .test_auctions import LI, WANG, teapot

pytestmark = pytest.mark.integration


@pytest.fixture
def catalog_on_postgres(monkeypatch):
    from tests.infra import fresh_postgres_database, postgres_available

    if not postgres_available():
        pytest.skip("PostgreSQL is not reachable")
    from services.catalog import tasks  # noqa: F401  (registers the consumers)
    from services.catalog.config import runtime
    from shared.testing import fresh_database

    url = fresh_postgres_database("mall_test_catalog_auctions")
    monkeypatch.setenv("MALL_DATABASE_URL_CATALOG", url)  # put back after the test
    fresh_database(runtime, url)
    runtime.relay  # noqa: B018  (built once here, not by two threads at the same moment)
    yield runtime
    runtime.reset()


def at_once(*calls):
    """Run each call on a thread of its own, all released at the same moment; their results in order."""
    start = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(i, call):
        start.wait()
        results[i] = call()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def listed(catalog) -> int:
    from services.catalog import auctions
    from services.catalog.schemas import NewAuction

    body = NewAuction().load(teapot(ends_at=(datetime.now(UTC) + timedelta(hours=2)).isoformat()))
    with catalog.db.session() as session, session.begin():
        auction, _ = auctions.list_item(session, body, catalog.settings)
        session.flush()
        return auction.id


def bid(catalog, auction_id, bidder, cents):
    from services.catalog import auctions
    from shared.web import ApiError

    try:
        with catalog.db.session() as session, session.begin():
            auctions.place_bid(session, auction_id, {"bidder_id": bidder, "amount": cents})
        return 201
    except ApiError as exc:
        return exc.status, exc.code


def test_two_bidders_racing_for_the_same_price_one_wins_the_other_is_refused(catalog_on_postgres):
    catalog = catalog_on_postgres
    auction_id = listed(catalog)
    from services.catalog.models import Auction

    for _ in range(5):  # several rounds: each a race for the next price
        with catalog.db.session() as session:
            price = session.get(Auction, auction_id).min_next_bid()
        outcomes = at_once(*(functools.partial(bid, catalog, auction_id, bidder, price) for bidder in (LI, WANG)))
        assert sorted(outcomes, key=lambda outcome: outcome != 201) == [201, (409, "bid_too_low")]
    with catalog.db.session() as session:
        auction = session.get(Auction, auction_id)
        assert auction.bid_count == 5 and auction.highest_bid_cents == price


def test_two_closing_rounds_at_once_sell_an_auction_once(catalog_on_postgres):
    from services.catalog import auctions
    from services.catalog.models import Auction

    catalog = catalog_on_postgres
    auction_id = listed(catalog)
    assert bid(catalog, auction_id, LI, 20000) == 201

    def close():
        with catalog.unit_of_work("close-auctions") as uow:
            return auctions.close_due(uow, catalog.settings, at=datetime.now(UTC) + timedelta(hours=3))

    assert sorted(at_once(close, close, close)) == [0, 0, 1]
    assert [p["buyer_id"] for p in payloads(catalog, "auction.sold")] == [LI]
    with catalog.db.session() as session:
        assert session.get(Auction, auction_id).status == "sold"


def test_one_key_racing_for_bids_on_two_auctions_places_one_and_refuses_the_other(catalog_on_postgres):
    from services.catalog import auctions
    from shared.web import ApiError

    catalog = catalog_on_postgres

    def keyed(auction_id):
        try:
            with catalog.db.session() as session, session.begin():
                auctions.place_bid(session, auction_id, {"bidder_id": LI, "amount": 10000, "idempotency_key": "k"})
            return 201
        except ApiError as exc:
            return exc.status, exc.code

    for _ in range(3):
        first, second = listed(catalog), listed(catalog)
        outcomes = at_once(functools.partial(keyed, first), functools.partial(keyed, second))
        assert sorted(outcomes, key=str) == sorted([201, (409, "idempotency_key_reused")], key=str), outcomes
        with catalog.db.session() as session, session.begin():  # (each round its own key)
            from sqlalchemy import update

            from services.catalog.models import Bid

            session.execute(update(Bid).where(Bid.idempotency_key == "k").values(idempotency_key=None))
