"""Statements marked `direct` run on psycopg itself, and give what SQLAlchemy's own path gives."""

from __future__ import annotations

import importlib
import logging
from contextlib import contextmanager

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, bindparam, event, insert, select, update
from sqlalchemy.dialects.postgresql import psycopg as psycopg_dialect
from sqlalchemy.exc import IntegrityError, MultipleResultsFound, NoResultFound, StatementError
from sqlalchemy.orm import registry
from sqlalchemy.sql.base import Executable

from shared.db import Database, DirectResult, _not_direct, direct
from tests.infra import (
    failures_after_the_server_drops_the_pool,
    fill_pool,
    fresh_postgres_database,
    postgres_available,
)

metadata = MetaData()
shelf = Table(
    "shelf",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("sku", String(20), nullable=False, unique=True),
    Column("name", String(40), nullable=False),
    Column("on_hand", Integer, nullable=False),
    Column("note", String(40), nullable=True, default="python-side default"),
)


class Shelved:
    """The shelf as an ORM class (a registry of this test's own: the services' models are untouched)."""


registry().map_imperatively(Shelved, shelf)

BY_SKU = select(shelf.c.id, shelf.c.sku, shelf.c.on_hand).where(shelf.c.sku == bindparam("sku"))
ALL = select(shelf.c.sku, shelf.c.on_hand, (shelf.c.on_hand * 2).label("doubled")).order_by(shelf.c.sku)
ADD = insert(shelf).returning(shelf.c.id)
PUT = insert(shelf)
TAKE = (
    update(shelf)
    .where(shelf.c.sku == bindparam("of_sku"), shelf.c.on_hand >= bindparam("quantity"))
    .values(on_hand=shelf.c.on_hand - bindparam("quantity"))
)

ROWS = [
    {"sku": "a", "name": "tea", "on_hand": 3, "note": None},
    {"sku": "b", "name": "rice", "on_hand": 1, "note": None},
    {"sku": "c", "name": "oil", "on_hand": 0, "note": None},
]


@pytest.fixture(scope="module")
def url():
    if not postgres_available():
        pytest.skip("PostgreSQL is not reachable")
    return fresh_postgres_database("mall_test_direct")


@pytest.fixture
def db(url):
    database = Database(url, metadata)
    metadata.drop_all(database.engine)
    metadata.create_all(database.engine)
    with database.session() as session, session.begin():
        session.execute(PUT, ROWS)
    yield database
    database.dispose()


def both(db: Database, statement, params=None, *, write: bool = False):
    """The statement's result on SQLAlchemy's path and on the direct one (each rolled back when it writes)."""
    out = []
    for marked in (statement, direct(statement)):
        with db.session() as session:
            session.begin()
            result = session.execute(marked, params)
            out.append((type(result), _read(result)))
            session.rollback() if write else session.commit()
    (plain_type, plain), (direct_type, fast) = out
    assert plain_type is not DirectResult and direct_type is DirectResult
    return plain, fast


def _read(result):
    rowcount = result.rowcount  # before the rows: SQLAlchemy's cursor forgets it once they are read
    rows = [tuple(row) for row in result] if isinstance(result, DirectResult) or result.returns_rows else []
    return rows, rowcount


def test_reads_give_the_same_rows_by_position_and_by_name(db):
    plain, fast = both(db, ALL)
    assert plain == fast
    assert fast[0] == [("a", 3, 6), ("b", 1, 2), ("c", 0, 0)]
    with db.session() as session:
        row = session.execute(direct(BY_SKU), {"sku": "b"}).one()
        assert (row.sku, row.on_hand, row[0] > 0) == ("b", 1, True)
        assert row._asdict() == {"id": row.id, "sku": "b", "on_hand": 1}


def test_writes_give_the_same_rowcounts_and_returned_keys(db):
    plain, fast = both(db, TAKE, {"of_sku": "a", "quantity": 2}, write=True)
    assert plain == fast == ([], 1)
    plain, fast = both(db, TAKE, {"of_sku": "b", "quantity": 2}, write=True)
    assert plain == fast == ([], 0)  # the condition refused it: nothing taken, on either path
    plain, fast = both(db, ADD, {"sku": "d", "name": "salt", "on_hand": 5, "note": "x"}, write=True)
    assert plain[1] == fast[1] == 1 and len(fast[0]) == 1
    # Without RETURNING no rows, though PostgreSQL sends the new key back for SQLAlchemy's own use (whose
    # row count then reads -1, where psycopg's says 1: no service reads the count of an INSERT).
    plain, fast = both(db, PUT, {"sku": "d", "name": "salt", "on_hand": 5, "note": "x"}, write=True)
    assert plain[0] == fast[0] == [] and fast[1] == 1
    # A list of one row, as a single statement: the same.
    plain, fast = both(db, TAKE, [{"of_sku": "a", "quantity": 1}], write=True)
    assert plain == fast == ([], 1)
    # Many rows at once: the same total.
    plain, fast = both(db, TAKE, [{"of_sku": "a", "quantity": 1}, {"of_sku": "c", "quantity": 1}], write=True)
    assert plain == fast == ([], 1)


def test_the_result_methods_the_services_use(db):
    with db.session() as session, session.begin():
        assert session.execute(direct(BY_SKU), {"sku": "zzz"}).first() is None
        assert session.execute(direct(BY_SKU), {"sku": "zzz"}).one_or_none() is None
        assert session.execute(direct(ALL)).scalar() == "a"
        assert session.execute(direct(ALL)).scalars().all() == ["a", "b", "c"]
        first = session.execute(direct(BY_SKU), {"sku": "a"}).scalar_one_or_none()
        assert (
            first == session.execute(direct(BY_SKU), {"sku": "a"}).scalar_one() == session.scalar(BY_SKU, {"sku": "a"})
        )
        assert len(session.execute(direct(ALL)).all()) == 3
        with pytest.raises(NoResultFound):
            session.execute(direct(BY_SKU), {"sku": "zzz"}).one()
        with pytest.raises(MultipleResultsFound):
            session.execute(direct(ALL)).one()


def test_many_rows_at_once_and_the_transaction_is_the_sessions(db):
    with db.session() as session:
        session.begin()
        result = session.execute(direct(PUT), [{"sku": s, "name": s, "on_hand": 1, "note": None} for s in "xyz"])
        assert isinstance(result, DirectResult)
        assert session.execute(select(shelf.c.sku).where(shelf.c.sku.in_(list("xyz")))).scalars().all() == list("xyz")
        session.rollback()  # the direct statements were in the session's transaction: gone with it
    with db.session() as session:
        assert session.execute(direct(BY_SKU), {"sku": "x"}).first() is None


def test_an_insert_of_many_rows_is_one_statement_with_the_same_rows_as_sqlalchemys_executemany(db, tmp_path):
    rows = [
        {"sku": f"n{i:03}", "name": f"item {i}", "on_hand": i, "note": None if i % 2 else "even"} for i in range(250)
    ]
    sent = []
    for marked in (PUT, direct(PUT)):
        with db.session() as session:
            session.begin()
            with _binds_sent(session, tmp_path / "trace") as binds:
                result = session.execute(marked, rows)
            sent.append(binds())
            if isinstance(result, DirectResult):  # SQLAlchemy's reads -1 after an INSERT (see above)
                assert result.rowcount == len(rows)
            stored = session.execute(
                select(shelf.c.sku, shelf.c.name, shelf.c.on_hand, shelf.c.note)
                .where(shelf.c.sku.like("n%"))
                .order_by(shelf.c.sku)
            ).all()
            assert [tuple(r) for r in stored] == [(r["sku"], r["name"], r["on_hand"], r["note"]) for r in rows]
            session.rollback()
    # SQLAlchemy's path: psycopg's executemany, a statement a row; the direct one: 250 rows in three.
    assert sent[0] >= 250 and sent[1] == 3


@contextmanager
def _binds_sent(session, path):
    """Count the statements the session's psycopg connection sends (libpq's protocol trace: one Bind each)."""
    pgconn = session.connection().connection.driver_connection.pgconn
    with open(path, "w") as trace:
        pgconn.trace(trace.fileno())
        try:
            yield lambda: sum(1 for line in path.read_text().splitlines() if "\tF\t" in line and "\tBind\t" in line)
        finally:
            pgconn.untrace()


def test_an_insert_of_many_rows_that_breaks_a_constraint_is_sqlalchemys_error_and_writes_nothing(db):
    with db.session() as session:
        session.begin()
        with pytest.raises(IntegrityError):
            session.execute(direct(PUT), [{"sku": "new", "name": "n", "on_hand": 1, "note": None}, ROWS[0]])
        session.rollback()
        assert session.execute(direct(BY_SKU), {"sku": "new"}).first() is None


def test_the_sessions_pending_objects_are_flushed_first_as_sqlalchemy_does(db):
    with db.session() as session, session.begin():
        item = Shelved()
        item.sku, item.name, item.on_hand, item.note = "p", "pepper", 4, None
        session.add(item)
        with session.no_autoflush:  # as with SQLAlchemy's path: not flushed inside no_autoflush
            assert session.execute(direct(BY_SKU), {"sku": "p"}).first() is None
        assert session.execute(direct(BY_SKU), {"sku": "p"}).one().on_hand == 4


def test_a_missing_parameter_is_sqlalchemys_error_too(db):
    with db.session() as session:
        session.begin()
        with pytest.raises(StatementError, match="of_sku"):
            session.execute(direct(TAKE), {"quantity": 1})
        session.rollback()
        assert session.execute(direct(BY_SKU), {"sku": "a"}).one().on_hand == 3


def test_a_constraint_violation_is_sqlalchemys_error_and_the_session_rolls_back(db):
    with db.session() as session:
        session.begin()
        with pytest.raises(IntegrityError):
            session.execute(direct(PUT), {"sku": "a", "name": "again", "on_hand": 1, "note": None})
        session.rollback()
        assert session.execute(direct(BY_SKU), {"sku": "a"}).one().on_hand == 3


def test_what_sqlalchemy_would_do_more_with_takes_its_path(db, caplog):
    # Marked once each, as the services mark theirs (the compiled form is kept per statement object);
    # built here, so that no other test has compiled them before.
    SOME = direct(select(shelf.c.sku).where(shelf.c.sku.in_(["a", "b"])))
    DIRECT_PUT, DIRECT_ADD = direct(insert(shelf)), direct(insert(shelf).returning(shelf.c.id))
    KEYWORD = direct(select(shelf.c.sku.label("from")).where(shelf.c.sku == "a"))
    with caplog.at_level(logging.WARNING, logger="mall.db"), db.session() as session, session.begin():
        # An IN list is rendered at execution; a column left out has a default computed in Python.
        assert not isinstance(session.execute(SOME), DirectResult)
        assert session.execute(SOME).scalars().all() == ["a", "b"]
        session.execute(DIRECT_PUT, {"sku": "n", "name": "noted", "on_hand": 1})
        assert session.execute(select(shelf.c.note).where(shelf.c.sku == "n")).scalar() == "python-side default"
        # Many rows with RETURNING: SQLAlchemy batches them into one INSERT and sorts the keys back.
        rows = [{"sku": s, "name": s, "on_hand": 1, "note": None} for s in "pq"]
        assert len(session.execute(DIRECT_ADD, rows).all()) == 2
        # A column named as no named tuple can be: SQLAlchemy's Row keeps the name.
        assert session.execute(KEYWORD).one()._mapping["from"] == "a"
    # Once per statement and set of parameter names, naming why.
    assert caplog.text.count("takes SQLAlchemy's path") == 3
    assert "rendered at execution" in caplog.text and "computed in Python" in caplog.text
    assert "'from' is not a name a named tuple can have" in caplog.text


def test_anything_listening_to_the_engine_sees_every_statement(db):
    seen: list[str] = []
    record = lambda conn, cursor, statement, *_: seen.append(statement.split()[0])  # noqa: E731
    event.listen(db.engine, "before_cursor_execute", record)
    try:
        with db.session() as session:
            result = session.execute(direct(BY_SKU), {"sku": "a"})
        assert not isinstance(result, DirectResult) and seen == ["SELECT"]
    finally:
        event.remove(db.engine, "before_cursor_execute", record)


def test_on_sqlite_every_statement_takes_sqlalchemys_path(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'direct.db'}", metadata)
    metadata.create_all(database.engine)
    try:
        with database.session() as session, session.begin():
            session.execute(direct(PUT), ROWS)
            result = session.execute(direct(ALL))
            assert not isinstance(result, DirectResult)
            assert [tuple(row) for row in result] == [("a", 3, 6), ("b", 1, 2), ("c", 0, 0)]
    finally:
        database.dispose()


@pytest.mark.integration
def test_a_connection_the_server_dropped_fails_once_then_the_pool_is_new(url, db):
    """As on SQLAlchemy's path (test_db_pool.py): a dropped connection invalidates the whole pool."""
    db.size_pool(3, ping=False)
    fill_pool(db)

    def read() -> None:
        with db.session() as session:
            assert session.execute(direct(BY_SKU), {"sku": "a"}).one().on_hand == 3

    assert failures_after_the_server_drops_the_pool(db, read) == 1


@pytest.mark.parametrize(
    "module",
    [
        "services.orders.services",
        "services.stores.services",
        "services.billing.services",
        "services.logistics.services",
        "gateway.services",
        "shared.messaging",
    ],
)
def test_every_statement_the_services_mark_runs_directly_on_postgresql(module):
    """A marked statement that SQLAlchemy would have to process (an IN list, a Python default, a converted
    column) silently loses the direct path; this names it instead."""
    dialect = psycopg_dialect.dialect()
    loaded = importlib.import_module(module)
    marked = [
        (name, value)
        for name, value in vars(loaded).items()
        if isinstance(value, Executable) and value._execution_options.get("mall_direct") is True
    ]
    if module == "shared.messaging":
        from shared.messaging import _statements, messaging_tables

        statements = _statements(messaging_tables(MetaData()))
        marked = [("outbox_insert", statements.outbox_insert), ("inbox_claim", statements.inbox_claim("postgresql"))]
    assert marked
    for name, statement in marked:
        assert _not_direct(statement, statement.compile(dialect=dialect), dialect) is None, name
