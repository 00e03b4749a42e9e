"""One database per service: engine, sessions, and the SQLite settings that let several processes share a file."""

from __future__ import annotations

import functools
import keyword
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from psycopg.rows import namedtuple_row
from sqlalchemy import DateTime, MetaData, create_engine, event
from sqlalchemy.dialects.sqlite import DATETIME as SQLITE_DATETIME
from sqlalchemy.dialects.sqlite.base import SQLiteDialect
from sqlalchemy.engine import Engine
from sqlalchemy.exc import MultipleResultsFound, NoResultFound
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

log = logging.getLogger("mall.db")

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


def as_utc(moment: datetime | None) -> datetime | None:
    """`moment` as an aware UTC datetime (None stays None). Columns read through the models already come back
    aware (above); this is for values that bypass them (JSON, a naive value a test or an old row holds)."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


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
            self._sessions = sessionmaker(self._engine, class_=MallSession, expire_on_commit=False)
        return self._engine

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session; use `with db.session() as s, s.begin():` for one transaction.

        Reads on a hot path take the transaction too, so that it ends with COMMIT: a session closed
        without one rolls back, and psycopg forgets the connection's prepared statements at every
        ROLLBACK (`Connection._rollback_gen`), so statements a process runs on every request were parsed
        and planned anew each time (about 35 µs more of the server's CPU each; the gateway's
        statements were never prepared at all).
        """
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


# --- hot statements, run on the driver directly ----------------------------------------------------

_DIRECT = "mall_direct"


def direct(statement):
    """Mark a Core statement that is built once (a module constant on a message's path) to run directly on
    the driver: on PostgreSQL, `session.execute(statement, params)` then sends its SQL text, compiled once
    for each set of parameter names, on the session's own psycopg connection, inside the session's
    transaction, and reads the rows back as named tuples.

    SQLAlchemy's own path builds an execution context, result metadata and row objects each time: about
    35 µs of CPU a statement on top of psycopg's 30, and a saga runs about 75 statements an order. The
    SQL, the parameters, the casts, the autoflush of the session's pending objects before it, and the
    errors (wrapped by SQLAlchemy; a dropped connection or an interrupt invalidates the connection) are
    the same. A statement the direct path cannot run as SQLAlchemy would (Python-side defaults, expanding
    IN, result types SQLAlchemy converts, column names a named tuple cannot have, ORM entities) takes
    SQLAlchemy's path, with a warning once; so does every statement on SQLite, and while anything listens
    to the engine's or the session's events (tests that record the SQL). The e2e tests fail on such a
    warning; `tests/shared/test_direct.py` holds both paths to the same results.
    """
    return statement.execution_options(**{_DIRECT: True})


class MallSession(Session):
    """The services' session: statements marked with `direct` skip SQLAlchemy's execution path."""

    def execute(self, statement, params=None, **kwargs):
        if (
            not kwargs
            and statement._execution_options.get(_DIRECT)
            and (params is None or type(params) in (dict, list))
            and not self.execution_options
            and not self.dispatch.do_orm_execute
        ):
            # As SQLAlchemy does before every Core statement: the session's pending objects first.
            self._autoflush()
            result = _execute_direct(self, statement, params)
            if result is not None:
                return result
        return super().execute(statement, params, **kwargs)


class DirectResult:
    """The rows of a direct statement, with the part of SQLAlchemy's `Result` the services use."""

    __slots__ = ("_rows", "rowcount")

    def __init__(self, rows: list[Any], rowcount: int):
        self._rows = rows
        self.rowcount = rowcount

    def __iter__(self):
        return iter(self._rows)

    def all(self) -> list[Any]:
        return list(self._rows)

    def first(self) -> Any:
        return self._rows[0] if self._rows else None

    def one_or_none(self) -> Any:
        if len(self._rows) > 1:
            raise MultipleResultsFound("Multiple rows were found when one or none was required")
        return self.first()

    def one(self) -> Any:
        if not self._rows:
            raise NoResultFound("No row was found when one was required")
        return self.one_or_none()

    def scalar(self) -> Any:
        return self._rows[0][0] if self._rows else None

    def scalar_one(self) -> Any:
        return self.one()[0]

    def scalar_one_or_none(self) -> Any:
        row = self.one_or_none()
        return None if row is None else row[0]

    def scalars(self) -> DirectResult:
        return DirectResult([row[0] for row in self._rows], self.rowcount)


#: Compiled direct statements: (statement, server version, parameter names, many rows) -> (the statement, its
#: compiled form or None where it must take SQLAlchemy's path, whether it returns rows, and for an INSERT of
#: many rows its SQL split as `_rows_at_once` does). The statement is kept, so that its id stays its own.
_COMPILED: dict[tuple[int, Any, tuple[str, ...], bool], tuple[Any, Any, bool, tuple[str, str] | None]] = {}
#: The services mark about fifty statements, a few compiled for more than one set of names.
_MOST_COMPILED = 2048


def _execute_direct(session: Session, statement, params) -> DirectResult | None:
    connection = session.connection()
    dialect = connection.dialect
    if dialect.driver != "psycopg" or connection._has_events or connection.engine._has_events or dialect._has_events:
        return None
    if type(params) is list:
        if not params:
            return None
        # One row is sent as one statement: psycopg's executemany (pipeline mode) costs about 15 µs more.
        first, many = params[0], len(params) > 1
    else:
        first, many = params or {}, False
    # Every engine of the mall is made by `make_engine` with the same options: the server's version is
    # what can change the SQL (not the dialect object, of which tests make many).
    key = (id(statement), dialect.server_version_info, tuple(first), many)
    entry = _COMPILED.get(key)
    if entry is None:
        if len(_COMPILED) >= _MOST_COMPILED:  # statements marked anew at each call: never reused, never kept
            log.warning("%d direct statements compiled: mark statements once, not at each call", len(_COMPILED))
            _COMPILED.clear()
        # Rows only where SQLAlchemy gives them: a SELECT or an explicit RETURNING (a single-row INSERT
        # also returns its key on PostgreSQL, which SQLAlchemy keeps for `inserted_primary_key` only).
        returns_rows = statement.is_select or bool(getattr(statement, "_returning", ()))
        compiled = _compile_direct(statement, dialect, tuple(first), many)
        rows_at_once = _rows_at_once(statement, compiled) if many and compiled is not None else None
        entry = _COMPILED[key] = (statement, compiled, returns_rows, rows_at_once)
    _, compiled, returns_rows, rows_at_once = entry
    if compiled is None or (many and compiled.effective_returning):
        return None
    processors = compiled._bind_processors
    sql = compiled.string
    fairy = connection.connection
    cursor = fairy.info.get(_DIRECT)
    if cursor is None or cursor.closed or cursor.connection is not fairy.driver_connection:
        cursor = fairy.info[_DIRECT] = fairy.driver_connection.cursor(row_factory=namedtuple_row)
    values: Any = None
    try:
        if many:
            values = [_parameters(compiled, processors, p) for p in params]
            if rows_at_once is None:
                cursor.executemany(sql, values)
                return DirectResult([], cursor.rowcount)
            count, rows = 0, values
            for start in range(0, len(rows), _MOST_ROWS_AT_ONCE):
                chunk = rows[start : start + _MOST_ROWS_AT_ONCE]
                sql = _values_for(rows_at_once, len(chunk))
                values = {f"{name}#{i}": value for i, row in enumerate(chunk) for name, value in row.items()}
                cursor.execute(sql, values)
                count += cursor.rowcount
            return DirectResult([], count)
        values = _parameters(compiled, processors, first)
        cursor.execute(sql, values)
        rows = cursor.fetchall() if returns_rows else []
        return DirectResult(rows, cursor.rowcount)
    except BaseException as exc:
        # As SQLAlchemy's path would: wrapped in its exception classes (a missing parameter is a
        # StatementError), and a dropped connection, or an interrupt mid-statement, invalidates this
        # connection and, for a dropped one, the pool's others (see `make_engine`'s `ping`).
        connection._handle_dbapi_exception(exc, sql, values, cursor, None)
        raise  # unreachable: the call above raises


#: An INSERT of many rows is sent as one statement of up to this many rows (`_rows_at_once`).
_MOST_ROWS_AT_ONCE = 100
_PLACEHOLDER = re.compile(r"%\(([^)]+)\)s")


def _rows_at_once(statement, compiled) -> tuple[str, str] | None:
    """A plain INSERT's SQL split at its row of values, so that many rows go in one statement.

    psycopg's `executemany` sends them in pipeline mode: for the two or three rows of a saga step's
    timeline notes, 57 µs of CPU against 33 for one INSERT of all of them, and it waits on the server
    more often (each wait lets the worker's other thread take the GIL). SQLAlchemy's own path sends
    psycopg's `executemany` too (its "insertmanyvalues" is for RETURNING only, on this driver). An
    INSERT with RETURNING, ON CONFLICT or a SELECT, or any other statement, keeps `executemany`.
    """
    if (
        not statement.is_insert
        or statement._returning
        or statement._post_values_clause is not None
        or statement.select is not None
        or statement._multi_values
    ):
        return None
    head, marker, row = compiled.string.rpartition(" VALUES (")
    if not marker or not row.endswith(")"):
        return None
    return head + " VALUES ", "(" + row


@functools.lru_cache(maxsize=256)
def _values_for(rows_at_once: tuple[str, str], rows: int) -> str:
    """The INSERT of `rows` rows: row i's parameters are named `<name>#<i>` (a name SQLAlchemy never makes)."""
    head, row = rows_at_once
    return head + ", ".join(_PLACEHOLDER.sub(lambda m, i=i: f"%({m[1]}#{i})s", row) for i in range(rows))


def _parameters(compiled, processors, params: dict[str, Any]) -> dict[str, Any]:
    values = compiled.construct_params(params)
    for name, process in processors.items():
        if name in values:
            values[name] = process(values[name])
    return values


def _compile_direct(statement, dialect, names: tuple[str, ...], many: bool):
    compiled = statement.compile(dialect=dialect, column_keys=list(names), for_executemany=many)
    reason = _not_direct(statement, compiled, dialect)
    if reason:
        log.warning("statement takes SQLAlchemy's path, not the direct one (%s): %s", reason, compiled.string[:120])
        return None
    return compiled


def _not_direct(statement, compiled, dialect) -> str | None:
    """Why SQLAlchemy's path would do more with this statement than sending its SQL and reading tuples."""
    if statement._propagate_attrs.get("compile_state_plugin") == "orm":
        return "it names ORM entities"
    if compiled.positional or compiled.escaped_bind_names:
        return "its parameters are not plain names"
    if compiled.insert_prefetch or compiled.update_prefetch:
        return "a column default is computed in Python"
    if compiled.post_compile_params or compiled.literal_execute_params:
        return "a parameter is rendered at execution"
    for entry in compiled._result_columns:  # psycopg's named tuples cannot carry every name a Row can
        if not entry[0].isidentifier() or keyword.iskeyword(entry[0]) or entry[0].startswith("_"):
            return f"column {entry[0]!r} is not a name a named tuple can have"
    for entry in compiled._result_columns:
        try:
            processor = entry[3].dialect_impl(dialect).result_processor(dialect, None)
        except Exception:  # a type whose processing depends on the column's type code
            return f"column {entry[0]} is converted on reading"
        if processor is not None:
            return f"column {entry[0]} is converted on reading"
    return None
