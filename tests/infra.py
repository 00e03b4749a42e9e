"""Which real servers this machine has for the tests: Redis and PostgreSQL, found or skipped, never faked."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from mall.harness import (  # noqa: F401  (the tests' names for the harness's helpers)
    POSTGRES_URL,
    REDIS_URL,
    free_port,
    fresh_postgres_database,
    postgres_available,
    redis_available,
)


def database_url(kind: str, tmp_path: Path, name: str) -> str:
    """A fresh database for a test parametrized over "sqlite" and "postgresql" (skipped without PostgreSQL)."""
    if kind == "postgresql":
        if not postgres_available():
            import pytest

            pytest.skip("PostgreSQL is not reachable")
        return fresh_postgres_database(f"mall_test_{name}")
    return f"sqlite:///{tmp_path / (name + '.db')}"


class PrivateRedis:
    """A redis-server of a test's own on a free port, which the test stops and starts again.

    Durable (`appendonly yes`, as production runs it) keeps its messages across a restart, for the fault
    suite; otherwise a stopped server comes back empty.
    """

    def __init__(self, root: Path, *, durable: bool):
        self.port = free_port()
        self.dir = root / "redis"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.durable = durable
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        argv = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir), "--save", ""]
        if self.durable:
            argv += ["--appendonly", "yes", "--appendfsync", "always", "--maxmemory-policy", "noeviction"]
        else:
            argv += ["--appendonly", "no"]
        self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        import redis

        client = redis.Redis(port=self.port)
        for _ in range(100):
            try:
                client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def restart(self) -> None:
        """SHUTDOWN writes the append-only file out; the new server reads it back in."""
        import redis

        try:
            redis.Redis(port=self.port).shutdown(nosave=False)
        except redis.ConnectionError:
            pass
        self.process.wait(timeout=10)
        time.sleep(0.5)
        self.start()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


def fill_pool(db, connections: int = 3) -> None:
    """Open `connections` of `db`'s pooled connections at once and give them back, open."""
    from sqlalchemy import text

    held = [db.engine.connect() for _ in range(connections)]
    for connection in held:
        connection.execute(text("SELECT 1"))
        connection.close()  # back to the pool, open


def failures_after_the_server_drops_the_pool(db, use, tries: int = 6) -> int:
    """Have PostgreSQL drop every connection to `db`'s database (as a restart does), then call `use()`
    `tries` times: how many calls failed, each on a connection SQLAlchemy then invalidated."""
    from sqlalchemy import MetaData, text
    from sqlalchemy.exc import DBAPIError

    from shared.db import Database

    admin = Database(db.url, MetaData())
    try:
        with admin.engine.connect() as connection:
            dropped = connection.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            ).scalar()
    finally:
        admin.dispose()
    assert dropped >= 3
    failures = 0
    for _ in range(tries):
        try:
            use()
        except DBAPIError as exc:
            assert exc.connection_invalidated
            failures += 1
    return failures
