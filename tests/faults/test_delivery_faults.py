"""Faults done, not imagined: a message delivered twice, a worker killed mid-task, a poison message."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager

import pytest
import sqlalchemy as sa

pytestmark = pytest.mark.e2e


@contextmanager
def mall_environment(mall):
    """Settings.from_env() as the mall's own processes see them."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(mall.env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def engine_of(mall, service: str) -> sa.Engine:
    url = mall.env.get(f"MALL_DATABASE_URL_{service.upper()}") or f"sqlite:///{mall.env['MALL_VAR_DIR']}/{service}.db"
    return sa.create_engine(url)


def rows(mall, service: str, sql: str, **params):
    engine = engine_of(mall, service)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(sql), params).all()
    finally:
        engine.dispose()


def publish(mall, task: str, queue: str, body) -> None:
    with mall_environment(mall):
        from shared.celery_app import make_celery
        from shared.config import Settings

        app = make_celery("faults", Settings.from_env())
        app.send_task(task, args=[body], queue=queue)


def world(mall, prefix: str, stock: int = 50, auto_pack: bool = True):
    unit = mall.unit(f"DS-{prefix}", auto_pack=auto_pack)
    product = mall.product(f"PERFUME-{prefix}", "10.00", unit)
    mall.stock_in(unit, product["sku"], stock)
    return unit, product


def test_a_message_delivered_twice_changes_nothing(mall, sku_prefix):
    _, product = world(mall, sku_prefix)
    token, _ = mall.customer("100.00")
    _, placed = mall.place(token, [(product["sku"], 3)])
    number = placed["number"]
    mall.wait_for(number, token, "ready_to_ship")
    [take] = rows(
        mall,
        "orders",
        "SELECT task, queue, body, message_id FROM outbox WHERE correlation_id = :n AND type = 'billing.take_payment'",
        n=number,
    )
    publish(mall, take.task, take.queue, json.loads(take.body))
    publish(mall, take.task, take.queue, json.loads(take.body))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        [dup] = rows(mall, "billing", "SELECT duplicates FROM inbox WHERE message_id = :m", m=take.message_id)
        if dup.duplicates >= 2:
            break
        time.sleep(0.2)
    assert dup.duplicates >= 2
    assert mall.ok("GET", "/api/wallet", token=token)["balance"] == "70.00"
    assert len(rows(mall, "billing", 'SELECT id FROM payments WHERE "order" = :n', n=number)) == 1
    assert mall.order(number, token)["status"] == "ready_to_ship"


def test_a_worker_killed_mid_task_loses_nothing(mall, sku_prefix):
    _, product = world(mall, sku_prefix, stock=100)
    shoppers = [mall.customer("100.00") for _ in range(8)]
    numbers = []
    for token, _ in shoppers:
        status, placed = mall.place(token, [(product["sku"], 1)])
        assert status == 202
        numbers.append((token, placed["number"]))
        if len(numbers) == 3:
            for pattern in ("worker --service billing", "worker --service orders"):
                for pid in mall.pids(pattern):
                    os.kill(pid, signal.SIGKILL)
    for token, number in numbers:
        mall.wait_for(number, token, "ready_to_ship", timeout=120)
    for token, _ in shoppers:
        assert mall.ok("GET", "/api/wallet", token=token)["balance"] == "90.00"
    # The supervisor restarts what was killed (a Python start takes a moment on a busy machine).
    deadline = time.monotonic() + 30
    while not (mall.pids("worker --service billing") and mall.pids("worker --service orders")):
        assert time.monotonic() < deadline, "the supervisor did not restart the killed workers"
        time.sleep(0.2)


def test_a_poison_message_is_dead_lettered_and_the_worker_goes_on(mall, sku_prefix):
    marker = f"poison-{sku_prefix}"
    publish(mall, "orders.place_order", "orders", {"id": marker, "type": "orders.place_order", "payload": "??"})
    deadline = time.monotonic() + 30
    found = []
    while time.monotonic() < deadline and not found:
        found = rows(mall, "orders", "SELECT id, error FROM dead_letters WHERE message_id = :m", m=marker)
        time.sleep(0.2)
    assert found, "the poison message never reached the dead-letter table"
    listed = subprocess.run(
        [sys.executable, "-m", "mall", "dlq", "list", "--service", "orders", "--json"],
        env=mall.env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert any(row["id"] == found[0].id for row in json.loads(listed.stdout))
    _, product = world(mall, sku_prefix)
    token, _ = mall.customer("100.00")
    _, placed = mall.place(token, [(product["sku"], 1)])
    mall.wait_for(placed["number"], token, "ready_to_ship")
