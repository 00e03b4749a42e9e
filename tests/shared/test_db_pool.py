"""The connection pool of a server database: one connection per thread that may use it, kept, never more."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import MetaData, event, text

from shared.db import Database
from tests.infra import (
    failures_after_the_server_drops_the_pool,
    fill_pool,
    fresh_postgres_database,
    postgres_available,
)


@pytest.fixture(scope="module")
def url():
    if not postgres_available():
        pytest.skip("PostgreSQL is not reachable")
    return fresh_postgres_database("mall_test_db_pool")


def counting_connections(db: Database) -> list[int]:
    opened: list[int] = []
    event.listen(db.engine, "connect", lambda *_: opened.append(1))
    return opened


@pytest.mark.integration
def test_a_pool_sized_to_the_threads_connects_once_per_thread_however_busy(url):
    db = Database(url, MetaData())
    db.size_pool(8)
    opened = counting_connections(db)
    together = threading.Barrier(8)

    def thread() -> None:
        for _ in range(20):  # twenty rounds: all eight threads hold a connection, then all give it back
            with db.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
                together.wait(timeout=30)
            together.wait(timeout=30)

    threads = [threading.Thread(target=thread) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    try:
        assert len(opened) == 8  # not one per round: returned connections stay open
    finally:
        db.dispose()


@pytest.mark.integration
def test_a_sized_pool_never_opens_more_than_its_size(url):
    db = Database(url, MetaData())
    db.size_pool(2)
    opened = counting_connections(db)
    first, second = db.engine.connect(), db.engine.connect()
    got_third = threading.Event()

    def third() -> None:
        with db.engine.connect():
            got_third.set()

    waiting = threading.Thread(target=third)
    waiting.start()
    try:
        assert not got_third.wait(0.5)  # it waits for a connection to come back...
        first.close()
        assert got_third.wait(10)  # ...and takes that one
        assert len(opened) == 2
    finally:
        waiting.join(timeout=10)
        second.close()
        db.dispose()


@pytest.mark.integration
def test_sizing_the_pool_after_first_use_takes_effect_on_the_next(url):
    db = Database(url, MetaData())
    with db.session() as session:
        session.execute(text("SELECT 1"))
    db.size_pool(3)
    try:
        assert db.engine.pool.size() == 3
    finally:
        db.dispose()


def test_a_web_process_keeps_a_connection_for_each_thread_of_waitress_and_of_its_own(monkeypatch):
    import logging

    from mall import cli, registry

    class Runtime:
        db = Database("postgresql+psycopg://postgres@127.0.0.1:5432/never_connected", MetaData())

        def start_outbox_sweeper(self) -> None:
            pass

    runtime, served = Runtime(), {}
    monkeypatch.setattr(registry, "runtime", lambda service: runtime)
    monkeypatch.setattr(registry, "create_app", lambda service: "the gateway's app")
    monkeypatch.setattr("waitress.serve", lambda app, **settings: served.update(settings))
    monkeypatch.setattr(cli, "setup_logging", lambda process_name: None)
    queue_log = logging.getLogger("waitress.queue")
    level = queue_log.level
    try:
        cli.main(["web", "--service", "gateway", "--threads", "12", "--port", "8000"])
        assert served["threads"] == 12
        assert runtime.db.pool_size == 12 + cli.WEB_BACKGROUND_THREADS
        assert not queue_log.isEnabledFor(logging.WARNING)  # no line each time a request waits for a thread
    finally:
        queue_log.setLevel(level)


@pytest.mark.integration
def test_without_a_ping_a_connection_the_server_dropped_fails_once_then_the_pool_is_new(url):
    """Workers take connections without a ping: after the server drops them (a restart), one use fails,
    which the worker retries, and every other connection of the pool is replaced before its next use."""
    db = Database(url, MetaData())
    db.size_pool(3, ping=False)
    opened = counting_connections(db)
    fill_pool(db)
    assert len(opened) == 3

    def select_one() -> None:
        with db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    try:
        assert failures_after_the_server_drops_the_pool(db, select_one) == 1
    finally:
        db.dispose()


@pytest.mark.parametrize(
    ("service", "embedded", "argv", "pool", "concurrency"),
    [
        ("orders", False, [], "threads", 2),  # waits on PostgreSQL's commits: a second thread works meanwhile
        ("billing", False, [], "solo", 1),
        ("orders", True, [], "solo", 1),  # SQLite takes one writer at a time: nothing to gain
        ("orders", False, ["--pool", "solo"], "solo", 1),
        ("billing", False, ["--pool", "threads", "--concurrency", "3"], "threads", 3),
    ],
)
def test_a_worker_runs_its_services_task_threads_with_a_connection_each(
    monkeypatch, service, embedded, argv, pool, concurrency
):
    from types import SimpleNamespace

    from mall import cli, registry

    started: list[list[str]] = []

    class Runtime:
        db = Database("postgresql+psycopg://postgres@127.0.0.1:5432/never_connected", MetaData())
        settings = SimpleNamespace(embedded=embedded)
        celery = SimpleNamespace(worker_main=started.append)

        def start_heartbeat(self, *_) -> None:
            pass

        def start_outbox_sweeper(self) -> None:
            pass

    runtime = Runtime()
    monkeypatch.setattr(registry, "worker_runtime", lambda name: runtime)
    monkeypatch.setattr(cli, "setup_logging", lambda process_name: None)
    cli.main(["worker", "--service", service, *argv])
    (celery_argv,) = started
    assert celery_argv[celery_argv.index("--pool") + 1] == pool
    assert celery_argv[celery_argv.index("--concurrency") + 1] == str(concurrency)
    assert runtime.db.pool_size == concurrency + cli.WORKER_BACKGROUND_THREADS
    assert runtime.db.ping is False
