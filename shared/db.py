"""One database per service: engine, sessions, and the SQLite settings that let several processes share a file."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC
from pathlib import Path

from sqlalchemy import DateTime, MetaData, create_engine, event
from sqlalchemy.dialects.sqlite import DATETIME as SQLITE_DATETIME
from sqlalchemy.dialects.sqlite.base import SQLiteDialect
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class _AwareSQLiteDateTime(SQLITE_DATETIME):
    """SQLite keeps no time zone: store UTC, and read back aware UTC datetimes, as PostgreSQL's timestamptz does.

    Without this, the same model returns naive datetimes on SQLite and aware ones on PostgreSQL, and
    comparing them (deadlines, tracking events) fails only in the embedded default.
    """

    def bind_processor(self, dialect):
        inner = super().bind_processor(dialect)

        def process(value):
            if value is not None and value.tzinfo is not None:
                value = value.astimezone(UTC).replace(tzinfo=None)
            return inner(value) if inner else value

        return process

    def result_processor(self, dialect, coltype):
        inner = super().result_processor(dialect, coltype)

        def process(value):
            value = inner(value) if inner else value
            if value is not None and value.tzinfo is None and getattr(self, "timezone", False):
                value = value.replace(tzinfo=UTC)
            return value

        return process


def _install_aware_datetimes() -> None:
    from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite

    for dialect in (SQLiteDialect, SQLiteDialect_pysqlite):
        dialect.colspecs = {**dialect.colspecs, DateTime: _AwareSQLiteDateTime}


_install_aware_datetimes()


def declarative_base() -> type[DeclarativeBase]:
    """A fresh declarative base with its own metadata, for one service's tables only."""

    class Base(DeclarativeBase):
        metadata = MetaData(naming_convention=NAMING)

    return Base


def make_engine(url: str, pool_size: int | None = None, ping: bool = True) -> Engine:
    """An engine for `url`. On a server, `pool_size` is how many threads of the process may use the
    database at once: the pool keeps that many connections (opened when first needed) and opens no more.

    A connection opened past the pool's size (overflow) is closed again when it is returned, so a pool
    smaller than the process's threads makes a busy process connect and disconnect all the time; and the
    mall's processes together must stay under the server's connection limit. Without a `pool_size`
    (tools, tests), five are kept and up to fifteen opened.

    `ping` checks a connection with a round trip each time it is taken from the pool, so that one the
    server dropped (a PostgreSQL restart) is replaced before use instead of failing a request. Without
    it, the first use of a dropped connection fails, and SQLAlchemy then replaces every connection of
    the pool: one failure per process, not one per connection.
    """
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_connection, _record):
            # Let SQLAlchemy issue BEGIN itself (below), and let readers and one writer work at once.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):
            # Take the write lock at the start: two processes that both read then write would
            # otherwise deadlock on the upgrade, and SQLite would fail one at once.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    if pool_size is None:
        return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)
    return create_engine(url, pool_pre_ping=ping, pool_size=pool_size, max_overflow=0)


class Database:
    """A service's engine and session factory; the engine is created on first use (after fork)."""

    def __init__(self, url: str, metadata: MetaData):
        self.url = url
        self.metadata = metadata
        self.pool_size: int | None = None
        self.ping = True
        self._engine: Engine | None = None
        self._sessions: sessionmaker[Session] | None = None

    def size_pool(self, connections: int, ping: bool = True) -> None:
        """Keep, and open at most, `connections` connections: one per thread that may use the database.

        Said where the threads are known (the web server's settings, the worker's concurrency), before
        the first use; an engine made earlier is disposed, and the next use makes one of the new size.
        """
        self.pool_size = max(1, connections)
        self.ping = ping
        self.dispose()

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = make_engine(self.url, self.pool_size, self.ping)
            self._sessions = sessionmaker(self._engine, expire_on_commit=False)
        return self._engine

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session; use `with db.session() as s, s.begin():` for one transaction."""
        self.engine  # noqa: B018  (creates the session factory)
        assert self._sessions is not None
        with self._sessions() as session:
            yield session

    def create_all(self) -> None:
        """Create the tables straight from the models (tests); production uses the migrations."""
        self.metadata.create_all(self.engine)

    def dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
            self._sessions = None
