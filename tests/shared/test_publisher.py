"""The relay's publisher: the message `send_task` wrote, taken by a real worker on both brokers, and a
publisher that survives a broker restart, many threads and a fork."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from kombu import Producer

from shared.celery_app import make_celery
from shared.config import Settings
from shared.envelope import Envelope
from shared.messaging import Relay, _summary
from tests.infra import PrivateRedis, redis_available

REPO = Path(__file__).resolve().parents[2]
#: A Redis database of this file's own: its queues never meet another test's.
REDIS_URL = "redis://127.0.0.1:6379/11"
TASK = "orders.handle_payment_refunded"


def envelope_json(order: str, **payload) -> str:
    """An outbox row's body, as `UnitOfWork.send` writes it."""
    envelope = Envelope(
        type="payment.refunded",
        payload={"order": order, "amount_cents": 1250, **payload},
        sender="billing",
        correlation_id=order,
    )
    return json.dumps(envelope.dump())


def relay_for(app) -> Relay:
    relay = Relay(None, None, app, "billing")
    relay.defer_marks = True  # marks stay in memory: these tests have no outbox table
    return relay


def take(app, queue: str, timeout: float = 5.0):
    """The next raw message waiting in `queue`, as the broker holds it."""
    with app.connection_for_write() as connection:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = connection.default_channel.basic_get(queue, no_ack=True)
            if message is not None:
                return message
            time.sleep(0.02)
    raise AssertionError(f"nothing arrived in {queue} within {timeout}s")


def waiting(app, queue: str) -> int:
    count = 0
    with app.connection_for_write() as connection:
        while connection.default_channel.basic_get(queue, no_ack=True) is not None:
            count += 1
    return count


@pytest.fixture(params=["embedded", "redis"])
def app(request, tmp_path, monkeypatch):
    """A Celery app with the mall's settings on the embedded file broker or on Redis."""
    monkeypatch.setenv("MALL_VAR_DIR", str(tmp_path / "var"))
    if request.param == "redis":
        if not redis_available():
            pytest.skip("Redis is not reachable")
        monkeypatch.setenv("MALL_BROKER_URL", REDIS_URL)
    else:
        monkeypatch.delenv("MALL_BROKER_URL", raising=False)
    app = make_celery("publishing", Settings.from_env())
    yield app
    app.close()
    if request.param == "redis":  # the database is this file's own: leave nothing behind (bindings, pidbox)
        import redis

        redis.Redis.from_url(REDIS_URL).flushdb()


@pytest.fixture
def queue():
    return f"test.publisher.{uuid.uuid4().hex[:12]}"


def send_both_ways(app, queue: str, body: str) -> None:
    """Publish `body` as the relay did before (decode it, `send_task`) and as it does now."""
    app.send_task(TASK, args=[json.loads(body)], queue=queue, argsrepr=_summary(body), kwargsrepr="{}")
    relay = relay_for(app)
    assert relay.publish([(1, TASK, queue, body)]) == 1
    relay.publisher.close()


def assert_same_message(before, after, body: str) -> None:
    """Everything but the new task's own id is what `send_task` wrote."""
    task_id = after.headers["id"]
    assert task_id != before.headers["id"] and after.properties["correlation_id"] == task_id

    def own_id_masked(message):  # a message with no parent is its own root
        return {k: "<own id>" if v == message.headers["id"] else v for k, v in message.headers.items()}

    assert own_id_masked(after) == own_id_masked(before)  # every header, the root and parent ids included
    assert list(after.headers) == list(before.headers)
    unique = {"correlation_id": None, "delivery_tag": None}
    assert after.properties | unique == before.properties | unique
    assert (after.content_type, after.content_encoding) == (before.content_type, before.content_encoding)
    assert after.body == before.body  # byte for byte: the envelope's text inside Celery's [args, kwargs, embed]
    embed = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}
    assert after.decode() == [[json.loads(body)], {}, embed]


def test_the_relay_publishes_the_message_send_task_did(app, queue):
    body = envelope_json("M20261125PUBLSH")
    send_both_ways(app, queue, body)
    before, after = take(app, queue), take(app, queue)
    assert_same_message(before, after, body)
    assert after.headers["root_id"] == after.headers["id"] and after.headers["parent_id"] is None
    assert after.headers["argsrepr"] == "(payment.refunded {} order=M20261125PUBLSH)".format(json.loads(body)["id"])


def test_a_message_sent_by_a_running_task_is_its_child_as_with_send_task(app, queue):
    body = envelope_json("M20261125CHILDM")

    @app.task(name="billing.take_payment", shared=False)
    def take_payment():
        send_both_ways(app, queue, body)

    parent = take_payment.apply(task_id="5f0c6a52-4a57-4c1e-9e55-0d1c6a3c8b11")
    assert parent.successful(), parent.traceback
    before, after = take(app, queue), take(app, queue)
    assert_same_message(before, after, body)
    assert after.headers["parent_id"] == after.headers["root_id"] == "5f0c6a52-4a57-4c1e-9e55-0d1c6a3c8b11"


def test_a_real_worker_runs_what_the_relay_published_and_retries_it_with_celery(app, queue, tmp_path):
    record = tmp_path / "record.jsonl"
    plain, retried = envelope_json("M20261125WORKR1"), envelope_json("M20261125WORKR2", retry_once=True)
    relay = relay_for(app)
    assert relay.publish([(1, TASK, queue, plain), (2, TASK, queue, retried)]) == 2
    relay.publisher.close()

    env = dict(os.environ, MALL_TEST_RECORD=str(record), PYTHONPATH=str(REPO))
    log = tmp_path / "worker.log"
    argv = [sys.executable, "-m", "celery", "-A", "tests.shared.publishing_worker", "worker", "--pool", "solo"]
    argv += ["-Q", queue, "-n", f"{queue}@%h", "--loglevel", "INFO", "--without-gossip", "--without-mingle"]
    argv += ["--without-heartbeat"]
    with open(log, "wb") as out:
        worker = subprocess.Popen(argv, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(_lines(record)) < 3:
            time.sleep(0.1)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)
    runs = _lines(record)
    assert len(runs) == 3, log.read_text()[-3000:]
    by_order = {}
    for run in runs:
        by_order.setdefault(run["body"]["correlation_id"], []).append(run)
    first, second = by_order["M20261125WORKR1"], by_order["M20261125WORKR2"]
    assert [run["body"] for run in first] == [json.loads(plain)]
    assert [run["retries"] for run in first] == [0]
    assert first[0]["argsrepr"] == _summary(plain) and first[0]["queue"] == queue
    assert [run["body"] for run in second] == [json.loads(retried)] * 2  # Celery's own retry, same argument
    assert [run["retries"] for run in second] == [0, 1]


def _lines(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_each_queue_is_declared_once_per_connection(app, queue, monkeypatch):
    declared = []
    original = Producer.maybe_declare

    def counting(self, entity, *args, **kwargs):
        declared.append(entity.name)
        return original(self, entity, *args, **kwargs)

    monkeypatch.setattr(Producer, "maybe_declare", counting)
    relay = relay_for(app)
    other = queue + ".other"
    body = envelope_json("M20261125DECLAR")
    relay.publish([(n, TASK, queue, body) for n in range(5)] + [(9, TASK, other, body)])
    assert declared == [queue, other]
    assert waiting(app, queue) == 5 and waiting(app, other) == 1
    relay.publisher.close()


def test_threads_publish_at_once_each_on_a_connection_of_its_own(app, queue):
    relay = relay_for(app)
    body = envelope_json("M20261125THREAD")
    connections, errors = set(), []

    def storefront():
        try:
            for n in range(25):
                assert relay.publish([(n, TASK, queue, body)]) == 1
            connections.add(id(relay.publisher._local.link.connection))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=storefront) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(connections) == 8
    assert waiting(app, queue) == 200
    relay.publisher.close()


def test_after_a_fork_the_child_publishes_on_a_connection_of_its_own(app, queue):
    relay = relay_for(app)
    body = envelope_json("M20261125FORKED")
    assert relay.publish([(1, TASK, queue, body)]) == 1
    parents = relay.publisher._local.link
    pid = os.fork()
    if pid == 0:  # the child: report by exit status, never return into pytest
        code = 1
        try:
            published = relay.publish([(2, TASK, queue, body)])
            link = relay.publisher._local.link
            code = 0 if published == 1 and link is not parents and link.pid == os.getpid() else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert relay.publish([(3, TASK, queue, body)]) == 1  # the parent's connection still works
    assert relay.publisher._local.link is parents
    assert waiting(app, queue) == 3
    relay.publisher.close()


# --- a Redis of the test's own, stopped and started ------------------------------------------------


@pytest.fixture
def private_redis(tmp_path, monkeypatch):
    if not shutil.which("redis-server"):
        pytest.skip("redis-server is not installed")
    server = PrivateRedis(tmp_path, durable=False)
    server.start()
    monkeypatch.setenv("MALL_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("MALL_BROKER_URL", server.url)
    yield server
    server.stop()


def test_a_publish_while_the_broker_is_away_fails_soon_and_the_next_one_reconnects(private_redis):
    app = make_celery("publishing", Settings.from_env())
    relay = relay_for(app)
    body = envelope_json("M20261125BROKER")
    assert relay.publish([(1, TASK, "orders", body)]) == 1

    private_redis.stop()
    started = time.monotonic()
    assert relay.publish([(2, TASK, "orders", body)]) == 0  # left in the outbox for the sweep
    assert time.monotonic() - started < 10  # the retry policy is bounded
    with pytest.raises(Exception):  # noqa: B017  (kombu's OperationalError or redis-py's, by version)
        relay.publisher.publish(TASK, "orders", "[" + body + "]", argsrepr="(down)")

    private_redis.start()
    assert relay.publish([(3, TASK, "orders", body)]) == 1
    assert waiting(app, "orders") == 1  # the restarted Redis kept nothing (--save ''): only the last
    relay.publisher.close()
    app.close()


def test_a_broker_restarted_between_publishes_is_reconnected_to_without_a_failure(private_redis):
    app = make_celery("publishing", Settings.from_env())
    relay = relay_for(app)
    body = envelope_json("M20261125RESTRT")
    assert relay.publish([(1, TASK, "orders", body)]) == 1
    private_redis.stop()
    private_redis.start()
    assert relay.publish([(2, TASK, "orders", body)]) == 1
    assert waiting(app, "orders") == 1
    relay.publisher.close()
    app.close()
