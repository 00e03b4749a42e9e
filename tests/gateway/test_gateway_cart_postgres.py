"""On PostgreSQL, where requests of one member really run at once: the member's row lock keeps one default
address and buys one cart line once."""

from __future__ import annotations

import threading
import time

import pytest
from gateway_helpers import ADDRESS, order_body
from sqlalchemy import func, select, text

TEA = "TEA-LONGJING-250G"
LINES = [
    {
        "sku": TEA,
        "name": "Longjing green tea 250 g",
        "quantity": 2,
        "unit_price_cents": 1250,
        "division": "department_store",
        "unit": "DS-TEA",
    }
]


@pytest.fixture
def gateway_on_postgres(monkeypatch):
    from tests.infra import fresh_postgres_database, postgres_available

    if not postgres_available():
        pytest.skip("PostgreSQL is not reachable")
    from gateway.config import runtime
    from shared.testing import fresh_database

    url = fresh_postgres_database("mall_test_gateway_cart")
    monkeypatch.setenv("MALL_DATABASE_URL_GATEWAY", url)  # put back after the test
    fresh_database(runtime, url)
    yield runtime
    runtime.reset()


@pytest.fixture
def member(gateway_on_postgres) -> int:
    from gateway import services

    with gateway_on_postgres.db.session() as session, session.begin():
        return services.register(session, {"username": "li_ming", "password": "Jasmine-Tea-88"}).id


def all_at_once(gateway, member_id: int, *work) -> list:
    """Run each of `work` in a thread of its own while the member's row is held, so that every one of them
    is waiting for it when it is let go; their results (or what they raised), in order."""
    results: list = [None] * len(work)

    def run(i, fn):
        try:
            results[i] = fn()
        except Exception as exc:  # noqa: BLE001  (the test looks at what each one raised)
            results[i] = exc

    with gateway.db.session() as holder, holder.begin():
        holder.execute(text("SELECT id FROM users WHERE id = :id FOR UPDATE"), {"id": member_id})
        threads = [threading.Thread(target=run, args=(i, fn)) for i, fn in enumerate(work)]
        for thread in threads:
            thread.start()
        waiting = text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        deadline = time.monotonic() + 30
        with gateway.db.engine.connect() as watcher:
            while any(t.is_alive() for t in threads) and watcher.execute(waiting).scalar_one() < len(work):
                watcher.commit()
                assert time.monotonic() < deadline, f"not all waiting for the member's row: {results}"
                time.sleep(0.01)
    for thread in threads:
        thread.join(timeout=30)
    return results


def test_two_first_addresses_saved_at_once_leave_one_default(gateway_on_postgres, member):
    from gateway import cart_services
    from gateway.models import Address

    gateway = gateway_on_postgres

    def save(line):
        with gateway.db.session() as session, session.begin():
            return cart_services.save_address(session, member, ADDRESS | {"line": line}).id

    results = all_at_once(gateway, member, lambda: save("1 Minzu Avenue"), lambda: save("88 Jinhu Road"))
    assert all(isinstance(r, int) for r in results), results
    with gateway.db.session() as session:
        assert session.scalar(select(func.count()).where(Address.member_id == member, Address.is_default)) == 1


def test_two_checkouts_of_one_cart_at_once_buy_it_once(gateway_on_postgres, member):
    from gateway import cart_services, services
    from gateway.models import OrderRef
    from shared.web import ApiError

    gateway = gateway_on_postgres
    with gateway.db.session() as session, session.begin():
        cart_services.set_quantity(session, member, TEA, 2)
    bought = [(TEA, 2)]  # what both read before either placed its order

    def check_out(key):
        remove = cart_services.remove_bought(member, bought)
        return services.place_order(gateway, member, key, order_body((TEA, 2)), LINES, alongside=remove)

    results = all_at_once(gateway, member, lambda: check_out("tab-1"), lambda: check_out("tab-2"))
    placed = [r for r in results if isinstance(r, tuple)]
    refused = [r for r in results if isinstance(r, ApiError)]
    assert len(placed) == 1 and [e.code for e in refused] == ["cart_changed"], results
    with gateway.db.session() as session:
        assert list(session.scalars(select(OrderRef.number))) == [placed[0][0]]
        assert cart_services.cart_of(session, member) == []
