"""The deadline of the gateway -> orders hop: an order orders does not have by its `confirm_by` is sent again."""

import logging
from datetime import timedelta

import pytest
from gateway_helpers import bearer, order_body

from shared.messaging import validate_message
from shared.testing import sent

TEA = "TEA-LONGJING-250G"
RICE = "RICE-JASMINE-5KG"


@pytest.fixture(autouse=True)
def orders_queue_is_not_behind(gateway, monkeypatch):
    """The tests share one embedded broker, where the messages other tests publish wait unconsumed: after
    enough of them the orders queue looked behind and these rounds did nothing (run after tests/logistics).
    No backlog here unless a test says so."""
    monkeypatch.setattr(gateway, "backlog", lambda queue=None: 0)


@pytest.fixture
def place(client, customer, catalogue):
    """`place()` -> the number of an order the customer placed through the public API."""
    _, token = customer

    def place_one(*items) -> str:
        response = client.post("/api/orders", json=order_body(*(items or [(TEA, 2), (RICE, 1)])), headers=bearer(token))
        assert response.status_code == 202, response.json
        return response.json["number"]

    return place_one


def ref_of(gateway, number):
    from gateway.models import OrderRef

    with gateway.db.session() as session:
        return session.get(OrderRef, number)


def commands(gateway, number):
    """The orders.place_order envelopes the gateway's outbox holds for one order, oldest first."""
    return [m for m in sent(gateway, "orders.place_order") if m["payload"]["number"] == number]


def taken_in(inner, number):
    """Orders has the order (its /internal/orders/known lists it)."""
    inner.orders[number] = {"number": number, "member_id": 1, "status": "awaiting_payment"}


def confirm(gateway, inner, at):
    from gateway import services

    return services.confirm_or_resend(gateway, inner, at)


def deadline(gateway):
    return timedelta(seconds=gateway.settings.reply_deadline_seconds)


def test_a_placed_order_must_reach_orders_within_the_reply_deadline(gateway, place):
    ref = ref_of(gateway, place())
    assert ref.confirm_by == ref.created_at + deadline(gateway)
    assert ref.resends == 0


def test_nothing_is_asked_before_the_deadline(gateway, inner, place):
    ref = ref_of(gateway, place())
    inner.calls.clear()
    assert confirm(gateway, inner, ref.confirm_by - timedelta(seconds=1)) == (0, 0)
    assert inner.calls == []
    assert ref_of(gateway, ref.number).confirm_by == ref.confirm_by


def test_an_order_orders_has_is_confirmed_and_never_sent_again(gateway, inner, place):
    number = place()
    ref = ref_of(gateway, number)
    taken_in(inner, number)
    inner.calls.clear()
    assert confirm(gateway, inner, ref.confirm_by) == (1, 0)
    assert inner.calls == ["orders.known_orders"]
    assert ref_of(gateway, number).confirm_by is None
    assert ref_of(gateway, number).resends == 0
    # Checked for good: later rounds neither ask orders nor send anything.
    assert confirm(gateway, inner, ref.confirm_by + timedelta(days=30)) == (0, 0)
    assert inner.calls == ["orders.known_orders"]
    assert len(commands(gateway, number)) == 1


def test_an_order_orders_lacks_is_sent_again_as_placed_with_backoff(gateway, inner, place, caplog):
    number = place()
    ref = ref_of(gateway, number)
    first = ref.confirm_by
    with caplog.at_level(logging.WARNING, logger="mall.gateway"):
        assert confirm(gateway, inner, first) == (0, 1)
    assert any(number in record.getMessage() for record in caplog.records)

    original, again = commands(gateway, number)
    envelope, _ = validate_message("orders.place_order", {k: v for k, v in again.items() if k[0] != "_"})
    assert again["payload"] == original["payload"]  # the same command, as it was written
    assert again["_queue"] == "orders" and again["_task"] == "orders.place_order"
    assert envelope.correlation_id == number and envelope.sender == "gateway"
    assert envelope.id != original["id"]  # a new message, which the inbox does not drop; orders ignores the number
    ref = ref_of(gateway, number)
    assert (ref.resends, ref.confirm_by) == (1, first + 2 * deadline(gateway))

    # Not again before the next deadline...
    assert confirm(gateway, inner, ref.confirm_by - timedelta(seconds=1)) == (0, 0)
    assert len(commands(gateway, number)) == 2
    # ...then again, waiting twice as long after it.
    second = ref.confirm_by
    assert confirm(gateway, inner, second) == (0, 1)
    assert len(commands(gateway, number)) == 3
    ref = ref_of(gateway, number)
    assert (ref.resends, ref.confirm_by) == (2, second + 4 * deadline(gateway))

    # Once orders has it, checking stops.
    taken_in(inner, number)
    assert confirm(gateway, inner, ref.confirm_by) == (1, 0)
    assert ref_of(gateway, number).confirm_by is None
    assert len(commands(gateway, number)) == 3


def test_the_wait_between_re_sends_stops_growing_at_ten_minutes(gateway, inner, place):
    from gateway.models import OrderRef

    number = place()
    with gateway.db.session() as session, session.begin():
        session.get(OrderRef, number).resends = 12
    at = ref_of(gateway, number).confirm_by
    assert confirm(gateway, inner, at) == (0, 1)
    ref = ref_of(gateway, number)
    assert (ref.resends, ref.confirm_by) == (13, at + timedelta(seconds=600))


def test_orders_is_asked_once_about_the_oldest_due_orders(gateway, inner, place):
    from gateway import services

    a, b, c = place(), place(), place()
    taken_in(inner, b)
    at = ref_of(gateway, c).confirm_by
    inner.calls.clear()
    assert services.confirm_or_resend(gateway, inner, at, limit=2) == (1, 1)
    assert inner.calls == ["orders.known_orders"]
    assert len(commands(gateway, a)) == 2
    assert ref_of(gateway, b).confirm_by is None
    assert len(commands(gateway, c)) == 1 and ref_of(gateway, c).confirm_by == at  # the next round's


def test_an_unreachable_orders_changes_nothing_and_is_asked_again_next_time(gateway, inner, place, caplog):
    number = place()
    ref = ref_of(gateway, number)
    inner.down.add("orders")
    with caplog.at_level(logging.WARNING, logger="mall.gateway"):
        assert confirm(gateway, inner, ref.confirm_by) == (0, 0)
    assert any("will ask again" in record.getMessage() for record in caplog.records)
    after = ref_of(gateway, number)
    assert (after.confirm_by, after.resends) == (ref.confirm_by, 0)
    assert len(commands(gateway, number)) == 1

    inner.down.clear()
    assert confirm(gateway, inner, ref.confirm_by) == (0, 1)


def test_a_failed_round_in_the_web_process_is_logged_not_raised(gateway, inner, monkeypatch, caplog):
    from gateway import app, services

    def broken(runtime, inner):
        raise RuntimeError("database went away")

    monkeypatch.setattr(services, "confirm_or_resend", broken)
    with caplog.at_level(logging.WARNING, logger="mall.gateway"):
        app.confirm_placed_orders(inner)
    assert any("will try again" in record.getMessage() for record in caplog.records)


def test_a_round_takes_batch_after_batch_until_none_is_due(gateway, inner, place, monkeypatch):
    from gateway import app, services

    numbers = [place() for _ in range(5)]
    monkeypatch.setattr(services, "CONFIRM_BATCH", 2)
    due = ref_of(gateway, numbers[-1]).confirm_by
    monkeypatch.setattr(services, "now", lambda: due)
    calls = []
    real = services.confirm_or_resend
    monkeypatch.setattr(services, "confirm_or_resend", lambda *a, **k: calls.append(1) or real(*a, **k))
    app.confirm_placed_orders(inner)
    assert len(calls) == 3  # 2 + 2 + 1
    assert all(len(commands(gateway, n)) == 2 for n in numbers)  # each placed once and re-sent once


def test_no_order_is_sent_again_while_the_orders_queue_is_behind(gateway, inner, place, monkeypatch):
    from gateway import app, services
    from shared import runtime as runtime_module

    number = place()
    due = ref_of(gateway, number).confirm_by
    monkeypatch.setattr(services, "now", lambda: due)
    asked = []
    monkeypatch.setattr(gateway, "backlog", lambda queue=None: asked.append(queue) or runtime_module.BEHIND_AT + 1)
    app.confirm_placed_orders(inner)
    assert asked == ["orders"] and len(commands(gateway, number)) == 1  # still queued there, perhaps
    monkeypatch.setattr(gateway, "backlog", lambda queue=None: 0)
    app.confirm_placed_orders(inner)
    assert len(commands(gateway, number)) == 2


def test_a_testing_app_starts_no_background_threads(app):
    from gateway import app as gateway_app

    assert gateway_app._confirmer is None


def test_a_round_another_process_runs_meanwhile_sends_the_order_once(gateway, inner, place):
    from gateway import services

    number = place()
    at = ref_of(gateway, number).confirm_by
    asked = inner.known_orders

    def another_process_goes_first(numbers):
        # While this round waits for orders (holding no lock), another gateway process does the same round.
        inner.known_orders = asked
        assert services.confirm_or_resend(gateway, inner, at) == (0, 1)
        return asked(numbers)

    inner.known_orders = another_process_goes_first
    assert services.confirm_or_resend(gateway, inner, at) == (0, 0)
    assert len(commands(gateway, number)) == 2
    assert ref_of(gateway, number).resends == 1


# --- PostgreSQL: the rows another process holds are skipped, not waited for ------------------------------------


@pytest.fixture
def gateway_on_postgres(monkeypatch):
    from tests.infra import fresh_postgres_database, postgres_available

    if not postgres_available():
        pytest.skip("PostgreSQL is not reachable")
    from sqlalchemy import create_engine, make_url, text

    from gateway.config import runtime
    from shared.testing import fresh_database

    url = fresh_postgres_database("mall_test_gateway_confirm")
    # A round that waited for a held row (no SKIP LOCKED) fails in seconds instead of hanging the test.
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f"ALTER DATABASE {make_url(url).database} SET lock_timeout = '5s'"))
    engine.dispose()
    monkeypatch.setenv("MALL_DATABASE_URL_GATEWAY", url)  # put back after the test
    fresh_database(runtime, url)
    yield runtime
    runtime.reset()


LINES = [
    {
        "sku": TEA,
        "name": "Longjing green tea 250 g",
        "quantity": 1,
        "unit_price_cents": 1250,
        "division": "department_store",
        "unit": "DS-TEA",
    }
]


def test_on_postgresql_an_order_another_process_is_checking_is_left_to_it(gateway_on_postgres, inner):
    from sqlalchemy import select

    from gateway import services
    from gateway.models import OrderRef

    gateway = gateway_on_postgres
    body = order_body((TEA, 1))
    held, free = (services.place_order(gateway, 7, None, body, LINES)[0] for _ in range(2))
    at = max(ref_of(gateway, held).confirm_by, ref_of(gateway, free).confirm_by)
    with gateway.db.session() as other, other.begin():
        other.execute(select(OrderRef).where(OrderRef.number == held).with_for_update())
        assert services.confirm_or_resend(gateway, inner, at) == (0, 1)
    assert (ref_of(gateway, held).resends, ref_of(gateway, free).resends) == (0, 1)
    assert len(commands(gateway, held)) == 1 and len(commands(gateway, free)) == 2
    # The next round takes the one that was held.
    assert services.confirm_or_resend(gateway, inner, at) == (0, 1)
    assert ref_of(gateway, held).resends == 1
