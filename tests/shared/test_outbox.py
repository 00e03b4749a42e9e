"""The outbox relay: what a transaction sends is published after its commit, marked once, and swept when lost."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from shared.envelope import Envelope
from shared.messaging import Relay, _summary, now
from shared.testing import fresh_database
from tests.infra import database_url


class RecordingPublisher:
    """Stands in for the relay's `TaskPublisher` (the broker is not under test, see test_publisher.py); can
    be made to fail. It keeps what a worker would receive: the task, its envelope and Flower's summary."""

    def __init__(self):
        self.sent: list[tuple[str, str]] = []
        self.envelopes: list[dict] = []
        self.summaries: list[str] = []
        self.broken = False

    def publish(self, task, queue, args_json, argsrepr, kwargsrepr="{}"):
        if self.broken:
            raise ConnectionError("broker unreachable")
        (envelope,) = json.loads(args_json)
        self.sent.append((task, envelope["id"]))
        self.envelopes.append(envelope)
        self.summaries.append(argsrepr)
        return str(uuid.uuid4())

    def close(self):
        pass


@pytest.fixture(params=["sqlite", "postgresql"])
def billing(request, tmp_path):
    from services.billing import tasks  # noqa: F401
    from services.billing.config import runtime

    fresh_database(runtime, database_url(request.param, tmp_path, "outbox"))
    publisher = RecordingPublisher()
    runtime.__dict__["relay"] = Relay(runtime.db, runtime.tables, runtime.celery, runtime.name, publisher=publisher)
    yield runtime
    runtime.reset()


def send_one(runtime, order="M20261125OUTBOX"):
    with runtime.unit_of_work(order) as uow:
        uow.send("payment.refunded", {"order": order, "amount_cents": 100})


def unpublished(runtime) -> list[int]:
    outbox = runtime.tables.outbox
    with runtime.db.session() as session:
        return list(session.scalars(select(outbox.c.id).where(outbox.c.published_at.is_(None))))


def age_outbox(runtime, seconds: float = 60) -> None:
    outbox = runtime.tables.outbox
    with runtime.db.session() as session, session.begin():
        session.execute(update(outbox).values(created_at=now() - timedelta(seconds=seconds)))


def test_without_a_sweeper_a_published_row_is_marked_at_once(billing):
    send_one(billing)
    assert len(billing.relay.publisher.sent) == 1
    assert unpublished(billing) == []


def test_a_published_message_is_the_envelope_with_a_summary_for_flower(billing):
    send_one(billing, "M20261125OUTBOX")
    (envelope,) = billing.relay.publisher.envelopes
    assert Envelope.load(envelope).payload == {"order": "M20261125OUTBOX", "amount_cents": 100}
    assert billing.relay.publisher.sent == [("orders.handle_payment_refunded", envelope["id"])]
    assert billing.relay.publisher.summaries == [f"(payment.refunded {envelope['id']} order=M20261125OUTBOX)"]


def test_the_summary_of_an_envelope_in_another_layout_is_read_by_decoding_it():
    body = json.dumps({"type": "payment.refunded", "correlation_id": "M20261125OUTBOX", "id": "5d1c"})
    assert _summary(body) == "(payment.refunded 5d1c order=M20261125OUTBOX)"


def test_injected_duplicates_publish_the_same_envelope_twice(billing):
    billing.relay.duplicate_rate = 1.0
    send_one(billing)
    first, second = billing.relay.publisher.sent
    assert first == second  # one envelope id twice: the consumer's inbox drops the second
    assert unpublished(billing) == []


def test_with_a_sweeper_marks_wait_for_it_and_are_written_together(billing):
    billing.relay.defer_marks = True
    send_one(billing, "M20261125OUTBX1")
    send_one(billing, "M20261125OUTBX2")
    assert len(unpublished(billing)) == 2  # published, not yet marked
    assert billing.relay.flush_marks() == 2
    assert unpublished(billing) == []


def test_the_sweep_sends_what_the_fast_path_could_not_and_nothing_it_did(billing):
    billing.relay.defer_marks = True
    send_one(billing, "M20261125OUTBX1")  # published, its mark pending in memory
    billing.relay.publisher.broken = True
    send_one(billing, "M20261125OUTBX2")  # committed, never published
    billing.relay.publisher.broken = False
    age_outbox(billing)
    assert billing.relay.sweep() == 1
    sent = [message_id for _, message_id in billing.relay.publisher.sent]
    assert len(sent) == 2 and sent[0] != sent[1]  # OUTBX2 by the sweep; OUTBX1 not a second time
    assert unpublished(billing) == []


def test_a_burst_of_marks_is_written_in_chunks(billing):
    billing.relay.defer_marks = True
    for n in range(3):
        send_one(billing, f"M20261125BURST{n}")
    billing.relay._marks.extend(range(100_000, 102_500))  # ids of rows that do not exist: harmless
    assert billing.relay.flush_marks() == 2503
    assert unpublished(billing) == []


def test_before_commit_hooks_write_in_the_same_transaction_and_only_when_it_commits(billing):
    calls = []
    with billing.unit_of_work("M20261125HOOKS1") as uow:
        uow.send("payment.refunded", {"order": "M20261125HOOKS1", "amount_cents": 100})
        uow.before_commit.append(lambda: calls.append(uow.session.in_transaction()))
    assert calls == [True]

    with pytest.raises(RuntimeError):
        with billing.unit_of_work("M20261125HOOKS2") as uow:
            uow.before_commit.append(lambda: calls.append("ran"))
            raise RuntimeError("the handler failed")
    assert calls == [True]  # a failed handler's hooks never run

    def fail():
        raise RuntimeError("the kept-back write failed")

    with pytest.raises(RuntimeError):
        with billing.unit_of_work("M20261125HOOKS3") as uow:
            uow.send("payment.refunded", {"order": "M20261125HOOKS3", "amount_cents": 100})
            uow.before_commit.append(fail)
    # The failing hook rolled back the message sent in its transaction: only the first one was published.
    assert len(billing.relay.publisher.sent) == 1
