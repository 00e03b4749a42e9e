"""A service's run-time handles (settings, database, Celery app, relay) and its message consumers."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from functools import cached_property
from typing import Any

from celery import Celery
from marshmallow import ValidationError
from sqlalchemy import MetaData

from shared.celery_app import make_celery
from shared.config import Settings
from shared.contracts import message_type, queue_for
from shared.db import Database
from shared.logs import correlation
from shared.messaging import (
    Duplicate,
    MessagingTables,
    PermanentError,
    Relay,
    UnitOfWork,
    count_duplicate,
    dead_letter,
    now,
    prune,
    validate_message,
)

log = logging.getLogger("mall.consumer")

Handler = Callable[[UnitOfWork, dict[str, Any]], None]

MAX_RETRIES = 5
#: A queue with more messages waiting than this is behind: deadline sweeps wait rather than re-send
#: (about two seconds of the orders worker's work at full speed).
BEHIND_AT = 100
#: Every process that sweeps the outbox also deletes expired messages (`prune_messages`): once a minute,
#: for up to two seconds (a 1,000-row batch takes tens of milliseconds, so far more a minute than the
#: busiest mall adds). `mall prune` deletes everything expired at once.
PRUNE_EVERY_SECONDS = 60
PRUNE_SECONDS = 2.0


class ServiceRuntime:
    """Everything one service needs at run time; built once per process, lazily."""

    def __init__(self, name: str, metadata: MetaData, tables: MessagingTables):
        self.name = name
        self.metadata = metadata
        self.tables = tables
        self.handlers: dict[str, Handler] = {}
        self.periodic_jobs: dict[str, Callable[[], Any]] = {}
        self._sweeper: threading.Thread | None = None
        #: When the sweeper thread next prunes expired messages (time.monotonic()).
        self.next_prune_at = float("inf")

    @cached_property
    def settings(self) -> Settings:
        return Settings.from_env()

    @cached_property
    def db(self) -> Database:
        return Database(self.settings.database_url(self.name), self.metadata)

    @cached_property
    def celery(self) -> Celery:
        app = make_celery(self.name, self.settings)
        for type_ in list(self.handlers):
            self._register_task(app, type_)
        for name, fn in self.periodic_jobs.items():
            app.task(name=name, shared=False, acks_late=True, ignore_result=True)(fn)
        return app

    @cached_property
    def relay(self) -> Relay:
        return Relay(self.db, self.tables, self.celery, self.name, self.settings.fault_duplicate_rate)

    def reset(self) -> None:
        """Forget settings and connections (tests change the environment between cases)."""
        if "db" in self.__dict__:
            self.db.dispose()
        if "relay" in self.__dict__:
            self.relay.publisher.close()
        for attr in ("settings", "db", "celery", "relay"):
            self.__dict__.pop(attr, None)

    @contextmanager
    def unit_of_work(self, correlation_id: str, cause=None) -> Iterator[UnitOfWork]:
        """One transaction; the messages it sends are published right after it commits."""
        with self.db.session() as session:
            with session.begin():
                uow = UnitOfWork(session, self.name, self.tables, correlation_id, cause)
                yield uow
                uow.finish()
        self.relay.publish(uow.sent)

    # --- consuming -------------------------------------------------------------------------------

    def handles(self, type_: str) -> Callable[[Handler], Handler]:
        """Register `fn(uow, payload)` as this service's handler of one message type."""
        mt = message_type(type_)
        if self.name not in mt.consumers:
            raise ValueError(f"{self.name} is not a consumer of {type_} in shared/contracts.py")

        def register(fn: Handler) -> Handler:
            self.handlers[type_] = fn
            if "celery" in self.__dict__:
                self._register_task(self.celery, type_)
            return fn

        return register

    def periodic(self, name: str) -> Callable[[Callable[[], Any]], Callable[[], Any]]:
        """Register `fn()` as a task beat sends on a schedule (`<service>.<verb>`, on this service's queue)."""

        def register(fn: Callable[[], Any]) -> Callable[[], Any]:
            self.periodic_jobs[name] = fn
            if "celery" in self.__dict__:
                self.celery.task(name=name, shared=False, acks_late=True, ignore_result=True)(fn)
            return fn

        return register

    def _register_task(self, app: Celery, type_: str) -> None:
        name = message_type(type_).task_name(self.name)
        runtime = self

        @app.task(
            name=name, bind=True, shared=False, acks_late=True, reject_on_worker_lost=True, max_retries=MAX_RETRIES
        )
        def consume_task(task, body):
            runtime.consume(type_, body, retries=task.request.retries, retry=task.retry)

    def consume(self, type_: str, body: Any, *, retries: int = 0, retry=None) -> str:
        """Validate, de-duplicate, handle in one transaction, publish; returns the outcome for the log."""
        mt = message_type(type_)
        task = mt.task_name(self.name)
        started = time.perf_counter()
        try:
            envelope, payload = validate_message(type_, body)
        except ValidationError as exc:
            queue = self.name if self.name != "stores" else "stores.?"
            dead_letter(self.db, self.tables, task=task, queue=queue, body=body, error=str(exc.messages), attempts=1)
            log.error("dead-lettered invalid %s: %s", type_, exc.messages)
            return "dead_lettered"
        with correlation(envelope.correlation_id):
            outcome = "handled"
            try:
                with self.unit_of_work(envelope.correlation_id, cause=envelope) as uow:
                    uow.record_receipt(envelope)
                    self.handlers[type_](uow, payload)
            except Duplicate:
                # The inbox claim (ON CONFLICT DO NOTHING) waits for a racing copy to commit, so a
                # repeat always surfaces here; a handler's own IntegrityError is a transient race: retry.
                count_duplicate(self.db, self.tables, envelope.id)
                outcome = "duplicate"
            except PermanentError as exc:
                dead_letter(
                    self.db,
                    self.tables,
                    task=task,
                    queue=queue_for(self.name, payload),
                    body=body,
                    error=f"{type(exc).__name__}: {exc}",
                    attempts=retries + 1,
                )
                outcome = "dead_lettered"
            except Exception as exc:  # transient (database busy, another service down): retry, bounded
                outcome = self._retry_or_dead_letter(task, mt, envelope, body, exc, retries, retry)
            log.info(
                "%s %s id=%s from=%s in %.1f ms",
                outcome,
                type_,
                envelope.id,
                envelope.sender,
                (time.perf_counter() - started) * 1000,
            )
            return outcome

    def _retry_or_dead_letter(self, task, mt, envelope, body, exc, retries, retry) -> str:
        if retry is not None and retries < MAX_RETRIES:
            log.warning("retrying %s (try %d): %s", mt.type, retries + 1, exc)
            # Exponential backoff with jitter, capped: a short countdown, never a long ETA task.
            raise retry(exc=exc, countdown=min(2**retries, 30) * (0.5 + random.random()))
        log.exception("dead-lettering %s after %d tries", mt.type, retries + 1)
        dead_letter(
            self.db,
            self.tables,
            task=task,
            queue=queue_for(self.name, envelope.payload),
            body=body,
            error=f"{type(exc).__name__}: {exc}",
            attempts=retries + 1,
        )
        return "dead_lettered"

    def is_behind(self, queue: str | None = None) -> bool:
        """Whether a queue (this service's own by default) has more than BEHIND_AT messages waiting."""
        waiting = self.backlog(queue)
        if waiting > BEHIND_AT:
            log.info(
                "%s has %d messages waiting: overdue replies may be among them, no re-sends now",
                queue or self.name,
                waiting,
            )
            return True
        return False

    def backlog(self, queue: str | None = None) -> int:
        """Messages waiting in a queue (this service's own by default): how far behind its consumers are.

        Deadline sweeps ask before they re-send: a reply that is late because the queue is long is not
        lost, and re-sending it would only make the queue longer.
        """
        from kombu.exceptions import ChannelError

        try:
            with self.celery.pool.acquire(block=True) as connection:
                declared = connection.default_channel.queue_declare(queue=queue or self.name, passive=True)
            return declared.message_count
        except ChannelError:  # a queue nobody has sent to yet (an empty Redis list does not exist)
            return 0

    # --- liveness -------------------------------------------------------------------------------

    def beat(self, worker: str, queues: list[str]) -> None:
        """Record that `worker` is alive and consuming `queues` (its web process reports it on /health)."""
        from sqlalchemy import delete, insert

        table = self.tables.heartbeats
        with self.db.session() as session, session.begin():
            session.execute(delete(table).where(table.c.worker == worker))
            session.execute(insert(table).values(worker=worker, queues=",".join(queues), beat_at=now()))

    def live_workers(self, within_seconds: float = 15.0) -> list[dict[str, Any]]:
        from sqlalchemy import select

        table = self.tables.heartbeats
        cutoff = now() - timedelta(seconds=within_seconds)
        with self.db.session() as session:
            rows = session.execute(select(table).where(table.c.beat_at >= cutoff)).all()
        return [{"worker": r.worker, "queues": r.queues.split(",")} for r in rows]

    def start_heartbeat(self, worker: str, queues: list[str], interval: float = 5.0) -> None:
        def loop():
            while True:
                try:
                    self.beat(worker, queues)
                except Exception:
                    log.warning("heartbeat failed; will try again", exc_info=True)
                time.sleep(interval)

        threading.Thread(target=loop, name=f"{self.name}-heartbeat", daemon=True).start()

    # --- the outbox sweep ------------------------------------------------------------------------

    def prune_messages(self, days: int | None = None, seconds: float | None = None, progress=None) -> dict[str, int]:
        """Delete published outbox rows and inbox rows older than `days` (default: the retention setting)."""
        days = days or self.settings.message_retention_days
        deleted = prune(self.db, self.tables, now() - timedelta(days=days), seconds=seconds, progress=progress)
        if any(deleted.values()):
            log.info("pruned %d outbox and %d inbox rows older than %d days", deleted["outbox"], deleted["inbox"], days)
        return deleted

    def sweep_once(self) -> None:
        """One round of the sweeper thread: publish what the fast path could not; once a minute, prune."""
        try:
            self.relay.sweep()
        except Exception:
            log.warning("outbox sweep failed; will try again", exc_info=True)
        if time.monotonic() >= self.next_prune_at:
            self.next_prune_at = time.monotonic() + PRUNE_EVERY_SECONDS
            try:
                self.prune_messages(seconds=PRUNE_SECONDS)
            except Exception:
                log.warning("pruning expired messages failed; will try again in a minute", exc_info=True)

    def start_outbox_sweeper(self, interval: float = 1.0) -> None:
        """Publish, in a background thread, what the fast path could not (idempotent to call twice)."""
        if self._sweeper is not None:
            return
        # With a sweeper to write them, publish marks can wait for it (see Relay).
        self.relay.defer_marks = True

        # The first prune comes at a random point of the first minute: a service's processes spread out.
        self.next_prune_at = time.monotonic() + PRUNE_EVERY_SECONDS * random.random()

        def loop():
            while True:
                time.sleep(interval)
                self.sweep_once()

        self._sweeper = threading.Thread(target=loop, name=f"{self.name}-outbox", daemon=True)
        self._sweeper.start()
