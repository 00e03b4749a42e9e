"""Expired messages are deleted: published outbox rows and inbox rows past the retention, nothing else."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, insert, select

from mall import cli
from shared.config import Settings
from shared.messaging import PRUNE_BATCH, now, prune
from shared.testing import fresh_database
from tests.infra import database_url

DAY = timedelta(days=1)


@pytest.fixture(params=["sqlite", "postgresql"])
def billing(request, tmp_path):
    from services.billing.config import runtime

    fresh_database(runtime, database_url(request.param, tmp_path, "prune"))
    yield runtime
    runtime.reset()


def add_messages(runtime, age: timedelta, *, outbox: int = 0, unpublished: int = 0, inbox: int = 0) -> None:
    """Rows as old as `age`: published outbox rows, unpublished ones, inbox rows."""
    tables, at = runtime.tables, now() - age

    def outbox_row(published: bool) -> dict:
        return {
            "message_id": str(uuid.uuid4()),
            "type": "payment.captured",
            "task": "orders.payment_captured",
            "queue": "orders",
            "body": "{}",
            "correlation_id": "M1",
            "created_at": at,
            "published_at": at if published else None,
        }

    rows = [outbox_row(True) for _ in range(outbox)] + [outbox_row(False) for _ in range(unpublished)]
    inbox_rows = [
        {"message_id": str(uuid.uuid4()), "type": "billing.take_payment", "correlation_id": "M1", "received_at": at}
        for _ in range(inbox)
    ]
    with runtime.db.session() as session, session.begin():
        if rows:
            session.execute(insert(tables.outbox), rows)
        if inbox_rows:
            session.execute(insert(tables.inbox), [r | {"duplicates": 0} for r in inbox_rows])


def counts(runtime) -> tuple[int, int, int]:
    """(published outbox rows, unpublished ones, inbox rows)."""
    outbox, inbox = runtime.tables.outbox, runtime.tables.inbox
    with runtime.db.session() as session:
        published = session.scalar(select(func.count()).where(outbox.c.published_at.is_not(None)))
        unpublished = session.scalar(select(func.count()).where(outbox.c.published_at.is_(None)))
        return published, unpublished, session.scalar(select(func.count()).select_from(inbox))


def test_rows_past_the_retention_go_and_newer_ones_and_unsent_messages_stay(billing):
    add_messages(billing, 20 * DAY, outbox=3, unpublished=2, inbox=4)
    add_messages(billing, 13 * DAY, outbox=5, inbox=6)
    assert billing.prune_messages() == {"outbox": 3, "inbox": 4}  # 14 days by default
    # An unpublished message is still to be sent, however old; the younger rows stay.
    assert counts(billing) == (5, 2, 6)
    assert billing.prune_messages() == {"outbox": 0, "inbox": 0}
    assert billing.prune_messages(days=10) == {"outbox": 5, "inbox": 6}
    assert counts(billing) == (0, 2, 0)


def test_it_deletes_in_batches_and_reports_each(billing):
    add_messages(billing, 30 * DAY, outbox=PRUNE_BATCH + 10, inbox=PRUNE_BATCH)
    seen: list[tuple[str, int]] = []
    assert billing.prune_messages(progress=lambda table, n: seen.append((table, n))) == {
        "outbox": PRUNE_BATCH + 10,
        "inbox": PRUNE_BATCH,
    }
    assert seen == [  # the tables take turns
        ("outbox", PRUNE_BATCH),
        ("inbox", PRUNE_BATCH),
        ("outbox", PRUNE_BATCH + 10),
        ("inbox", PRUNE_BATCH),  # a full batch may be the last: one more finds nothing
    ]


def test_a_slice_stops_when_its_time_is_up_and_the_next_goes_on_each_table_taking_turns(billing):
    add_messages(billing, 30 * DAY, outbox=2 * PRUNE_BATCH + 5, inbox=PRUNE_BATCH + 3)
    # No time at all: still a batch of each table, so that neither waits for the other to be done.
    assert billing.prune_messages(seconds=0) == {"outbox": PRUNE_BATCH, "inbox": PRUNE_BATCH}
    assert billing.prune_messages(seconds=0) == {"outbox": PRUNE_BATCH, "inbox": 3}
    assert billing.prune_messages(seconds=0) == {"outbox": 5, "inbox": 0}
    assert counts(billing) == (0, 0, 0)


def test_processes_pruning_at_once_each_delete_other_rows(billing):
    if billing.db.engine.dialect.name != "postgresql":
        pytest.skip("SKIP LOCKED is PostgreSQL's; on SQLite one writer holds the database")
    add_messages(billing, 30 * DAY, outbox=6 * PRUNE_BATCH, inbox=2 * PRUNE_BATCH)
    results: list[dict[str, int]] = []
    start = threading.Barrier(3)

    def one():
        start.wait()
        results.append(prune(billing.db, billing.tables, now() - 14 * DAY))

    threads = [threading.Thread(target=one) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r["outbox"] for r in results) == 6 * PRUNE_BATCH
    assert sum(r["inbox"] for r in results) == 2 * PRUNE_BATCH
    assert counts(billing) == (0, 0, 0)


def test_mall_prune_deletes_now_and_says_what(billing, capsys, monkeypatch):
    add_messages(billing, 8 * DAY, outbox=2, inbox=1)
    assert cli.main(["prune", "--service", "billing"]) == 0
    assert counts(billing) == (2, 0, 1)  # younger than 14 days
    assert cli.main(["prune", "--service", "billing", "--days", "7"]) == 0
    out = capsys.readouterr().out
    assert "prune: billing: 2 published outbox rows and 1 inbox rows older than 7 days deleted" in out
    assert counts(billing) == (0, 0, 0)


def test_a_retention_under_a_day_is_refused(monkeypatch, capsys):
    for value in ("0", "-3", "a week", "0.5"):
        monkeypatch.setenv("MALL_MESSAGE_RETENTION_DAYS", value)
        with pytest.raises(ValueError, match="MALL_MESSAGE_RETENTION_DAYS"):
            Settings.from_env()
    monkeypatch.setenv("MALL_MESSAGE_RETENTION_DAYS", "30")
    assert Settings.from_env().message_retention_days == 30
    with pytest.raises(SystemExit):
        cli.main(["prune", "--days", "0"])
    assert "at least 1" in capsys.readouterr().err


def test_the_outbox_sweeper_prunes_a_slice_once_a_minute(billing, monkeypatch):
    from shared import runtime as runtime_module

    monkeypatch.setattr(runtime_module, "PRUNE_SECONDS", 0)
    add_messages(billing, 30 * DAY, outbox=PRUNE_BATCH + 1, inbox=1)
    billing.next_prune_at = 0.0  # due
    billing.sweep_once()
    assert counts(billing) == (1, 0, 0)  # the slice's time was up after a batch of each table
    assert billing.next_prune_at > time.monotonic() + 50
    billing.sweep_once()  # not due again for a minute
    assert counts(billing) == (1, 0, 0)
    billing.next_prune_at = 0.0
    billing.sweep_once()
    assert counts(billing) == (0, 0, 0)
