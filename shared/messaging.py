"""Outbox, inbox and dead letters: how a service changes state and sends messages in one transaction.

- A use case runs inside a `UnitOfWork`; `uow.send(type, payload)` writes the message to the service's
  `outbox` table in the same transaction as the state change.
- After the commit the `Relay` publishes those rows at once (the fast path) and marks them published;
  whatever it could not publish (broker down, process killed) a periodic sweep publishes later.
- A consumer records each message id in its `inbox` in the same transaction as the handler's effects,
  so a message delivered twice changes nothing the second time (and counts as a duplicate).
- A message that is not a valid envelope, or keeps failing after bounded retries, goes to the
  `dead_letters` table; `mall dlq list|replay` inspects and re-sends it.
- `prune` deletes published outbox rows and inbox rows older than the retention (14 days by default):
  every process that sweeps the outbox prunes for up to two seconds a minute; `mall prune` catches up.
"""

from __future__ import annotations

import functools
import json
import logging
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from marshmallow import ValidationError
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    delete,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session

from shared.contracts import message_type, queue_for
from shared.db import direct
from shared.envelope import Envelope
from shared.publisher import TaskPublisher

log = logging.getLogger("mall.messaging")


def now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class MessagingTables:
    outbox: Table
    inbox: Table
    dead_letters: Table
    heartbeats: Table


def messaging_tables(metadata: MetaData) -> MessagingTables:
    """Add the outbox, inbox and dead-letter tables to a service's own metadata."""
    outbox = Table(
        "outbox",
        metadata,
        Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
        Column("message_id", String(36), nullable=False, index=True),
        Column("type", String(64), nullable=False),
        Column("task", String(96), nullable=False),
        Column("queue", String(96), nullable=False),
        Column("body", Text, nullable=False),
        Column("correlation_id", String(64), nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("published_at", DateTime(timezone=True), nullable=True, index=True),
    )
    inbox = Table(
        "inbox",
        metadata,
        Column("message_id", String(36), primary_key=True),
        Column("type", String(64), nullable=False),
        Column("correlation_id", String(64), nullable=False),
        Column("received_at", DateTime(timezone=True), nullable=False),
        Column("duplicates", Integer, nullable=False, default=0),
        # For `prune` only. BRIN on PostgreSQL: rows arrive in time order, and a BRIN index costs an
        # insert almost nothing (a B-tree would cost every message an index entry); SQLite makes a B-tree.
        Index("ix_inbox_received_at", "received_at", postgresql_using="brin"),
    )
    dead_letters = Table(
        "dead_letters",
        metadata,
        Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
        Column("message_id", String(64), nullable=True),
        Column("type", String(64), nullable=True),
        Column("task", String(96), nullable=False),
        Column("queue", String(96), nullable=False),
        Column("body", Text, nullable=False),
        Column("error", Text, nullable=False),
        Column("attempts", Integer, nullable=False),
        Column("sender", String(32), nullable=True),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("replayed_at", DateTime(timezone=True), nullable=True),
    )
    heartbeats = Table(
        "worker_heartbeats",
        metadata,
        Column("worker", String(200), primary_key=True),
        Column("queues", Text, nullable=False),
        Column("beat_at", DateTime(timezone=True), nullable=False),
    )
    return MessagingTables(outbox, inbox, dead_letters, heartbeats)


class Duplicate(Exception):
    """The inbox has seen this message already."""


class PermanentError(Exception):
    """A message that can never succeed (it names something that does not exist): dead-letter it now."""


@dataclass
class UnitOfWork:
    """One transaction of one service: state changes plus the messages they cause."""

    session: Session
    service: str
    tables: MessagingTables
    correlation_id: str
    cause: Envelope | None = None
    #: The outbox rows this transaction wrote: (row id, task, queue, body), published from memory after commit.
    sent: list[tuple[int, str, str, str]] = field(default_factory=list)
    #: Called in order just before the transaction commits: writes a handler kept back until its end.
    before_commit: list[Callable[[], None]] = field(default_factory=list)
    #: Rows a handler loaded in this transaction and writes back before commit, under keys of its own
    #: (the saga's locked orders): a second load in the same transaction must see the first one's changes.
    loaded: dict[Any, Any] = field(default_factory=dict)

    def send(self, type_: str, payload: dict[str, Any], *, correlation_id: str | None = None) -> Envelope:
        """Write a message to the outbox in this transaction; it is published after the commit."""
        mt = message_type(type_)
        errors = mt.validator.validate(payload)
        if errors:  # a bug in the producer, never the sender's input: fail loudly, commit nothing
            raise ValueError(f"{type_} payload does not match its contract: {errors}")
        envelope = Envelope(
            type=type_,
            payload=payload,
            sender=self.service,
            # A message about an order correlates by its number, whoever's transaction sends it (sweeps too).
            correlation_id=correlation_id or str(payload.get("order") or self.correlation_id),
            causation_id=self.cause.id if self.cause else None,
        )
        body = json.dumps(envelope.dump())
        statement = _statements(self.tables).outbox_insert
        for consumer in mt.consumers:
            task, queue = mt.task_name(consumer), queue_for(consumer, payload)
            # An outbox row refers to nothing, so the handler's pending changes need not be flushed
            # before it: they go in the commit's single flush (one flush a message, not one a send).
            with self.session.no_autoflush:
                row_id = self.session.execute(
                    statement,
                    dict(
                        message_id=envelope.id,
                        type=type_,
                        task=task,
                        queue=queue,
                        body=body,
                        correlation_id=envelope.correlation_id,
                        created_at=now(),
                    ),
                ).scalar_one()
            self.sent.append((row_id, task, queue, body))
        return envelope

    def finish(self) -> None:
        """Run the before-commit hooks (the runtime calls this as the transaction's last step)."""
        for hook in self.before_commit:
            hook()

    def record_receipt(self, envelope: Envelope) -> None:
        """Claim this message in the inbox; raises Duplicate when it was handled before."""
        values = dict(
            message_id=envelope.id,
            type=envelope.type,
            correlation_id=envelope.correlation_id,
            received_at=now(),
            duplicates=0,
        )
        # RETURNING, not rowcount: whether a row came back is unambiguous on every driver.
        claim = _statements(self.tables).inbox_claim(self.session.bind.dialect.name)
        if self.session.execute(claim, values).first() is None:
            raise Duplicate(envelope.id)


class _Statements:
    """The messaging statements, built once per set of tables: SQLAlchemy then reuses their compiled form."""

    def __init__(self, tables: MessagingTables):
        outbox, inbox = tables.outbox, tables.inbox
        self.outbox_insert = direct(insert(outbox).returning(outbox.c.id))
        self._inbox = inbox
        self._claims: dict[str, Any] = {}

    def inbox_claim(self, dialect: str):
        """INSERT .. ON CONFLICT DO NOTHING RETURNING: a second copy (even one racing the first on another
        worker, which waits for the first's commit on the unique key) inserts nothing and returns no row."""
        if dialect not in self._claims:
            if dialect == "postgresql":
                from sqlalchemy.dialects.postgresql import insert as upsert
            elif dialect == "sqlite":
                from sqlalchemy.dialects.sqlite import insert as upsert
            else:  # pragma: no cover - the mall runs on PostgreSQL or SQLite
                raise RuntimeError(f"no inbox claim for {dialect}")
            self._claims[dialect] = direct(
                upsert(self._inbox).on_conflict_do_nothing().returning(self._inbox.c.message_id)
            )
        return self._claims[dialect]


@functools.cache
def _statements(tables: MessagingTables) -> _Statements:
    return _Statements(tables)


#: The start of every envelope the outbox holds (`json.dumps(Envelope.dump())`): its id, type and correlation id.
_ENVELOPE_HEAD = re.compile(r'\{"id": "([^"\\]*)", "type": "([^"\\]*)", "version": \d+, "correlation_id": "([^"\\]*)"')


def _summary(body: str) -> str:
    """A short summary for Flower and the broker's headers, instead of Celery's repr of the whole envelope
    (which cost more CPU than publishing it), read from the JSON text without decoding all of it."""
    head = _ENVELOPE_HEAD.match(body)
    if head:
        message_id, type_, correlation_id = head.groups()
    else:  # not the layout `Envelope.dump` writes (another version wrote the row): decode it
        message = json.loads(body)
        message_id, type_, correlation_id = message.get("id"), message.get("type"), message.get("correlation_id")
    return f"({type_} {message_id} order={correlation_id})"


class Relay:
    """Publishes outbox rows to the broker and marks them published.

    The fast path publishes a transaction's rows right after its commit. Marking them published costs a
    transaction, so where a sweeper thread runs (`defer_marks`) the marks wait in memory and the sweeper
    writes all of them at once, every second, before it looks for unpublished rows (those older than
    five seconds). A mark that is lost (process killed) only lets the sweep send the message again: a
    duplicate, which the consumer's inbox drops.

    It publishes through `shared/publisher.py`: the row's JSON text goes out as Celery's task message
    without being decoded.
    """

    def __init__(
        self,
        db,
        tables: MessagingTables,
        celery,
        service: str,
        duplicate_rate: float = 0.0,
        publisher: TaskPublisher | None = None,
    ):
        self.db = db
        self.tables = tables
        self.celery = celery
        #: Sends the rows as Celery task messages on the app's broker (tests give a stand-in).
        self.publisher = publisher or TaskPublisher(celery)
        self.service = service
        #: Fault injection for the fault suite only (MALL_FAULT_DUPLICATE_RATE): publish some messages
        #: twice, as a broker redelivery or a relay crash after publish would. 0 in production.
        self.duplicate_rate = duplicate_rate
        self.defer_marks = False
        self._marks: list[int] = []
        self._lock = threading.Lock()

    def _send(self, task: str, queue: str, body: str) -> None:
        # The body is the envelope's JSON as the outbox holds it: it goes out as it is, never decoded.
        args, summary = "[" + body + "]", _summary(body)
        self.publisher.publish(task, queue, args, argsrepr=summary)
        if self.duplicate_rate and random.random() < self.duplicate_rate:
            self.publisher.publish(task, queue, args, argsrepr=summary)

    def _publish_row(self, row) -> None:
        self._send(row.task, row.queue, row.body)

    def _claimable(self, session: Session, query):
        # Row locks another sweeping process skips (web and worker of one service both sweep).
        if session.bind.dialect.name == "postgresql":
            return query.with_for_update(skip_locked=True)
        return query  # SQLite: the transaction holds the database's write lock (BEGIN IMMEDIATE)

    def publish(self, sent: list[tuple[int, str, str, str]]) -> int:
        """The fast path right after a commit: publish what the transaction wrote, then mark it published.

        It reads nothing back (the unit of work kept the rows). What it cannot send stays unpublished
        and the sweep sends it.
        """
        if not sent:
            return 0
        done: list[int] = []
        try:
            for row_id, task, queue, body in sent:
                self._send(task, queue, body)
                done.append(row_id)
        except Exception as exc:  # the message is safe in the outbox; the sweep sends it
            log.warning(
                "outbox: fast publish stopped after %d of %d (%s); the sweep sends the rest", len(done), len(sent), exc
            )
        if done:
            with self._lock:
                self._marks.extend(done)
            if not self.defer_marks:
                self.flush_marks()
        return len(done)

    def flush_marks(self) -> int:
        """Mark the published rows in a transaction of their own. On PostgreSQL it does not wait for the
        disk (synchronous_commit off): losing a mark costs a duplicate, never a message."""
        with self._lock:
            marks, self._marks = self._marks, []
        if not marks:
            return 0
        outbox = self.tables.outbox
        try:
            with self.db.session() as session, session.begin():
                if session.bind.dialect.name == "postgresql":
                    session.execute(text("SET LOCAL synchronous_commit TO OFF"))
                for start in range(0, len(marks), 1000):  # a burst stays well inside a statement's parameters
                    chunk = marks[start : start + 1000]
                    session.execute(update(outbox).where(outbox.c.id.in_(chunk)).values(published_at=now()))
        except Exception as exc:  # unmarked rows are sent again by the sweep: a duplicate, not a loss
            log.warning("outbox: could not mark %d published (%s)", len(marks), exc)
        return len(marks)

    def sweep(self, older_than: float = 5.0, limit: int = 500) -> int:
        """Publish rows the fast path missed (broker down, process killed between commit and publish)."""
        self.flush_marks()
        outbox = self.tables.outbox
        cutoff = now() - timedelta(seconds=older_than)
        published = 0
        with self.db.session() as session, session.begin():
            query = (
                select(outbox)
                .where(outbox.c.published_at.is_(None), outbox.c.created_at < cutoff)
                .order_by(outbox.c.id)
                .limit(limit)
            )
            for row in session.execute(self._claimable(session, query)).all():
                self._publish_row(row)
                session.execute(update(outbox).where(outbox.c.id == row.id).values(published_at=now()))
                published += 1
        if published:
            log.info("outbox: sweep published %d message(s)", published)
        return published


def dead_letter(db, tables: MessagingTables, *, task: str, queue: str, body: Any, error: str, attempts: int) -> int:
    """Keep a message that cannot be handled, with who sent it and why it failed."""
    envelope = body if isinstance(body, dict) else {}
    with db.session() as session, session.begin():
        result = session.execute(
            insert(tables.dead_letters).values(
                message_id=str(envelope.get("id"))[:64] if envelope.get("id") else None,
                type=str(envelope.get("type"))[:64] if envelope.get("type") else None,
                sender=str(envelope.get("sender"))[:32] if envelope.get("sender") else None,
                task=task,
                queue=queue,
                body=json.dumps(body, default=str),
                error=error[:4000],
                attempts=attempts,
                created_at=now(),
            )
        )
        return result.inserted_primary_key[0]


def count_duplicate(db, tables: MessagingTables, message_id: str) -> None:
    with db.session() as session, session.begin():
        session.execute(
            update(tables.inbox)
            .where(tables.inbox.c.message_id == message_id)
            .values(duplicates=tables.inbox.c.duplicates + 1)
        )


def validate_message(type_: str, body: Any) -> tuple[Envelope, dict[str, Any]]:
    """Envelope and payload checked against the catalogue; raises ValidationError with the reason."""
    envelope = Envelope.load(body)
    if envelope.type != type_:
        raise ValidationError({"type": [f"this task takes {type_!r}, not {envelope.type!r}"]})
    mt = message_type(type_)
    payload = mt.validator.load(envelope.payload)
    return envelope, payload


#: Rows one prune statement deletes: short transactions, few locks, and progress to report between them.
PRUNE_BATCH = 1000


def prune(
    db,
    tables: MessagingTables,
    before: datetime,
    *,
    seconds: float | None = None,
    progress: Callable[[str, int], None] | None = None,
) -> dict[str, int]:
    """Delete the outbox rows published before `before` and the inbox rows received before it.

    An unpublished outbox row is never deleted, however old: it is a message still to send. An inbox
    row only has to outlive every copy of its message that can still arrive (a redelivery after the
    visibility timeout, a re-publish by the outbox sweep), which is minutes to hours; the retention is
    days. Dead letters are kept: an operator replays or keeps them.

    Each batch is a transaction of its own that deletes up to PRUNE_BATCH rows, locked with SKIP
    LOCKED on PostgreSQL, so that every process of a service may prune at once, each taking other
    rows. The two tables take turns, a batch each, until neither has expired rows left or, with
    `seconds`, that time has passed (each table still gets one batch a call): the sweeper's slice.
    `progress(table, deleted so far)` is called after each batch. Returns the rows deleted per table.
    """
    outbox, inbox = tables.outbox, tables.inbox
    expired = {
        "outbox": (outbox, outbox.c.id, [outbox.c.published_at.is_not(None), outbox.c.published_at < before]),
        "inbox": (inbox, inbox.c.message_id, [inbox.c.received_at < before]),
    }
    deleted = dict.fromkeys(expired, 0)
    left = list(expired)
    until = None if seconds is None else time.monotonic() + seconds
    while left:
        for name in list(left):
            table, key, conditions = expired[name]
            with db.session() as session, session.begin():
                chosen = select(key).where(*conditions).limit(PRUNE_BATCH)
                if session.bind.dialect.name == "postgresql":
                    chosen = chosen.with_for_update(skip_locked=True)
                count = session.execute(delete(table).where(key.in_(chosen.scalar_subquery()))).rowcount
            deleted[name] += count
            if progress is not None:
                progress(name, deleted[name])
            if count < PRUNE_BATCH:
                left.remove(name)
        if until is not None and time.monotonic() >= until:
            break
    return deleted
