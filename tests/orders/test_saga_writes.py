"""How a saga step reads and writes: the order read once per transaction, only changed columns written, notes in one go.

These run on SQLite and, where it is reachable, on PostgreSQL (where the lock is a real FOR UPDATE).
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from datetime import timedelta

import pytest
from saga_samples import LIPSTICK, NANNING, RICE, TV
from sqlalchemy import event, select

from shared.testing import deliver, fresh_database, payloads
from tests.infra import database_url

NUMBER = "M20261125WRITES"


@pytest.fixture(params=["sqlite", "postgresql"])
def orders(request, tmp_path, monkeypatch):
    from services.orders import tasks
    from services.orders.config import runtime

    url = database_url(request.param, tmp_path, "orders_writes")
    monkeypatch.setattr(tasks, "stock_snapshot", lambda skus: [])  # no branch sells rice: cancelled at placement
    monkeypatch.setenv("MALL_DATABASE_URL_ORDERS", url)  # put back after the test
    fresh_database(runtime, url)
    yield runtime
    runtime.reset()


@contextmanager
def statements(runtime):
    """The SQL the service sends meanwhile, as (statement, executemany) pairs."""
    seen: list[tuple[str, bool]] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        seen.append((" ".join(statement.split()), executemany))

    event.listen(runtime.db.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(runtime.db.engine, "before_cursor_execute", record)


def writes_to(seen, table: str) -> list[str]:
    return [s for s, _ in seen if re.match(rf"(UPDATE|INSERT INTO|DELETE FROM) {table}\b", s)]


def set_columns(update: str) -> set[str]:
    return set(re.findall(r"(\w+)=", update.split(" SET ", 1)[1].split(" WHERE ", 1)[0]))


def place(orders, *lines):
    payload = {"number": NUMBER, "member_id": 7, "payment_method": "balance", "address": NANNING, "lines": list(lines)}
    assert deliver(orders, "orders.place_order", payload, correlation_id=NUMBER) == "handled"


def reply(orders, type_, **payload):
    assert deliver(orders, type_, {"order": NUMBER} | payload) == "handled"


def checks(orders):
    return {c["unit"]: c["fulfilment_id"] for c in payloads(orders, "stores.check_stock")}


def timeline(orders) -> list[str]:
    from services.orders.models import TimelineEvent

    with orders.db.session() as session:
        query = select(TimelineEvent.event).where(TimelineEvent.order_number == NUMBER).order_by(TimelineEvent.id)
        return list(session.scalars(query))


def fulfilments(orders):
    from services.orders.models import Fulfilment

    with orders.db.session() as session:
        return {f.unit: f for f in session.scalars(select(Fulfilment).where(Fulfilment.order_number == NUMBER))}


def sweep(orders, at):
    from services.orders import services

    with orders.unit_of_work("sweep") as uow:
        return services.sweep_deadlines(uow, orders.settings, at=at)


def test_two_overdue_fulfilments_of_one_order_are_read_once_and_both_written(orders):
    from shared.messaging import now

    place(orders, LIPSTICK, TV)  # two units; neither ever answers
    at = now()
    for _ in range(3):
        at += timedelta(days=1)
        with statements(orders) as seen:
            assert sweep(orders, at) == 2
    # The order was locked and read once for both of its fulfilments in each sweep...
    assert len([s for s, _ in seen if "FROM order_lines LEFT OUTER JOIN fulfilments" in s]) == 1
    # ...and neither fulfilment's changes were lost to the other's.
    assert {unit: f.attempts for unit, f in fulfilments(orders).items()} == {"DS-COSMETICS": 3, "EL-WAREHOUSE": 3}
    assert all(f.deadline_at > at for f in fulfilments(orders).values())
    assert len(payloads(orders, "stores.check_stock")) == 2 + 3 * 2
    # Both alerts of the last sweep went to the timeline in one statement, each once.
    assert len(writes_to(seen, "timeline")) == 1
    alerts = [e for e in timeline(orders) if "has not answered 3 times" in e]
    assert alerts == [
        "DS-COSMETICS has not answered 3 times: customer service alerted",
        "EL-WAREHOUSE has not answered 3 times: customer service alerted",
    ]


def test_the_same_order_asked_for_twice_in_one_transaction_is_the_same_object(orders):
    from services.orders import services

    place(orders, LIPSTICK)
    with orders.unit_of_work(NUMBER) as uow:
        first = services._lock(uow, NUMBER)
        first.status = "awaiting_stock"
        second = services._lock(uow, NUMBER)
        assert second is first and second.status == "awaiting_stock"
        first.status = "placed"  # set back: nothing to write


def test_a_repeated_reply_that_changes_nothing_writes_nothing(orders):
    place(orders, LIPSTICK)
    reply(orders, "stock.reserved", fulfilment_id=checks(orders)["DS-COSMETICS"], unit="DS-COSMETICS")
    reply(orders, "payment.captured", method="balance", amount_cents=2500)
    before = timeline(orders)
    with statements(orders) as seen:
        # A capture again (billing answered a re-sent take_payment): the step sets the payment deadline to
        # what it already is and stops. Setting a column to its value is no change.
        reply(orders, "payment.captured", method="balance", amount_cents=2500)
        reply(orders, "stock.reserved", fulfilment_id=checks(orders)["DS-COSMETICS"], unit="DS-COSMETICS")
    assert writes_to(seen, "orders") == writes_to(seen, "fulfilments") == writes_to(seen, "timeline") == []
    assert timeline(orders) == before


def test_a_step_writes_only_the_columns_it_changed(orders):
    place(orders, LIPSTICK)
    fid = checks(orders)["DS-COSMETICS"]
    reply(orders, "stock.reserved", fulfilment_id=fid, unit="DS-COSMETICS")
    reply(orders, "payment.captured", method="balance", amount_cents=2500)
    packed = {"slip_no": "XS-DS-COSMETICS-000001", "packed_at": "2026-11-25T10:00:00+08:00"}
    reply(orders, "parcel.packed", fulfilment_id=fid, unit="DS-COSMETICS", **packed)
    with statements(orders) as seen:
        reply(orders, "shipment.booked", fulfilment_id=fid, delivery="courier", waybill="SF1001", carrier="SF")
    [order_update] = writes_to(seen, "orders")
    [fulfilment_update] = writes_to(seen, "fulfilments")
    assert set_columns(order_update) == {"updated_at"}  # the note's time
    # Done waiting: waiting_for and deadline_at cleared; attempts was 0 already, so it is not written.
    assert set_columns(fulfilment_update) == {"waiting_for", "deadline_at", "waybill", "carrier"}
    [notes] = writes_to(seen, "timeline")
    assert timeline(orders)[-1] == "courier SF booked, waybill SF1001"
    f = fulfilments(orders)["DS-COSMETICS"]
    assert (f.waybill, f.carrier, f.waiting_for, f.deadline_at, f.slip_no) == (
        "SF1001",
        "SF",
        None,
        None,
        packed["slip_no"],
    )


def test_a_step_with_several_notes_writes_them_in_one_statement_in_order(orders):
    place(orders, LIPSTICK, TV)
    ids = checks(orders)
    reply(orders, "stock.reserved", fulfilment_id=ids["DS-COSMETICS"], unit="DS-COSMETICS")
    with statements(orders) as seen:
        reply(orders, "stock.reserved", fulfilment_id=ids["EL-WAREHOUSE"], unit="EL-WAREHOUSE")
    assert len(writes_to(seen, "timeline")) == 1
    assert timeline(orders)[-2:] == ["stock reserved at EL-WAREHOUSE", "payment requested (balance)"]
    [take] = payloads(orders, "billing.take_payment")
    assert take["units"] == [
        {"unit": "DS-COSMETICS", "amount_cents": 2500},
        {"unit": "EL-WAREHOUSE", "amount_cents": 329900},
    ]


def test_an_order_cancelled_at_placement_is_read_with_its_lines_and_no_fulfilment(orders):
    from services.orders import services

    place(orders, LIPSTICK, RICE)  # no branch sells rice: cancelled at placement, no fulfilment
    with orders.unit_of_work(NUMBER) as uow:
        order = services._lock(uow, NUMBER)
        assert order.status == "cancelled" and order.fulfilments == []
        assert [(line.sku, line.amount_cents) for line in order.lines] == [
            ("LIPSTICK-RED-01", 2500),
            ("RICE-5KG", 4590),
        ]
        services.cancel(uow, NUMBER, "changed my mind", orders.settings)  # cancelled already: nothing to do
    assert timeline(orders)[-1] == "cancelled: no branch sells RICE-5KG"


def test_a_receipt_lists_every_line_of_every_parcel(orders):
    place(orders, LIPSTICK, TV)
    ids = checks(orders)
    for unit, fid in ids.items():
        reply(orders, "stock.reserved", fulfilment_id=fid, unit=unit)
    reply(orders, "payment.captured", method="balance", amount_cents=332400)
    packed = {"packed_at": "2026-11-25T10:00:00+08:00"}
    progress = {"waybill": None, "at": "2026-11-25T11:00:00+08:00", "detail": "signed by Li Ming"}
    for unit, fid in ids.items():
        reply(orders, "parcel.packed", fulfilment_id=fid, unit=unit, slip_no=f"XS-{unit}", **packed)
        reply(orders, "shipment.shipped", fulfilment_id=fid, **progress)
        reply(orders, "shipment.delivered", fulfilment_id=fid, **progress)
    from services.orders import services

    with orders.unit_of_work(NUMBER) as uow:
        services.confirm_receipt(uow, NUMBER)
    [completed] = payloads(orders, "order.completed")[:1]
    assert [(line["sku"], line["unit"], line["amount_cents"]) for line in completed["lines"]] == [
        ("LIPSTICK-RED-01", "DS-COSMETICS", 2500),
        ("TV-55-SKYWORTH", "EL-WAREHOUSE", 329900),
    ]
    assert timeline(orders)[-1] == "customer confirmed receipt: completed"


def test_two_replies_of_one_order_on_two_threads_each_see_what_the_other_committed(orders, monkeypatch):
    """The second reply waits for the first one's lock, then reads the order's parts as the first left them:
    exactly one of them sees both parcels reserved and asks for payment (the orders worker runs two threads)."""
    import threading
    import time

    from services.orders import services

    place(orders, LIPSTICK, TV)
    ids = checks(orders)
    first_holds_the_lock = threading.Event()
    lock = services._lock

    def slow_first_lock(uow, number):
        order = lock(uow, number)
        if threading.current_thread().name == "first":
            first_holds_the_lock.set()
            time.sleep(0.5)  # the second reply now waits for this transaction's lock
        return order

    monkeypatch.setattr(services, "_lock", slow_first_lock)
    outcomes: list[str] = []

    def answer(unit: str) -> None:
        outcomes.append(deliver(orders, "stock.reserved", {"order": NUMBER, "fulfilment_id": ids[unit], "unit": unit}))

    first = threading.Thread(target=answer, args=("DS-COSMETICS",), name="first")
    second = threading.Thread(target=answer, args=("EL-WAREHOUSE",), name="second")
    first.start()
    assert first_holds_the_lock.wait(timeout=10)
    second.start()
    first.join(timeout=30)
    second.join(timeout=30)
    assert outcomes == ["handled", "handled"]
    assert {unit: f.status for unit, f in fulfilments(orders).items()} == {
        "DS-COSMETICS": "reserved",
        "EL-WAREHOUSE": "reserved",
    }
    assert len(payloads(orders, "billing.take_payment")) == 1
