"""The mall's Redis transport: kombu's unacked bookkeeping, written as kombu writes it, for less CPU."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid

import pytest
import redis as redis_py
from kombu import Connection

from shared import redis_broker
from tests.infra import REDIS_URL, redis_available

pytestmark = pytest.mark.skipif(not redis_available(), reason="Redis is not reachable")


@pytest.fixture
def keys():
    """Unacked keys of this test's own, so other tests and workers on the same Redis never mix in."""
    prefix = f"test-unacked-{uuid.uuid4().hex[:8]}"
    names = {
        "unacked_key": prefix,
        "unacked_index_key": f"{prefix}_index",
        "unacked_mutex_key": f"{prefix}_mutex",
    }
    yield names
    redis_py.Redis.from_url(REDIS_URL).delete(*names.values())


@pytest.fixture
def queue():
    name = f"test.orders-{uuid.uuid4().hex[:8]}"
    yield name
    r = redis_py.Redis.from_url(REDIS_URL)
    for key in (name, *r.keys(f"_kombu.binding*{name}")):
        r.delete(key)


def connect(transport: str, **options) -> Connection:
    return Connection(REDIS_URL.replace("redis://", f"{transport}://", 1), transport_options=options)


def put(channel, queue: str, order: str) -> None:
    body = json.dumps({"order": order})
    channel.basic_publish(
        channel.prepare_message(body, content_type="application/json"), exchange="", routing_key=queue
    )


def unacked(keys, tag: str):
    r = redis_py.Redis.from_url(REDIS_URL)
    raw = r.hget(keys["unacked_key"], tag)
    return r.zscore(keys["unacked_index_key"], tag), json.loads(raw) if raw else None


def test_the_mall_transport_keeps_unacked_messages_with_its_own_qos(keys):
    with connect("mallredis", **keys) as conn:
        assert isinstance(conn.default_channel.qos, redis_broker.QoS)


def test_a_taken_message_is_recorded_as_kombu_records_it_and_forgotten_on_ack(keys, queue):
    recorded = {}
    for transport in ("redis", "mallredis"):
        with connect(transport, **keys) as conn:
            channel = conn.default_channel
            put(channel, queue, "M20261124K7Q2ZP")
            before = time.time()
            message = channel.basic_get(queue)
            score, stored = unacked(keys, message.delivery_tag)
            assert before - 1 <= score <= time.time() + 1
            recorded[transport] = stored
            message.ack()
            assert unacked(keys, message.delivery_tag) == (None, None)
    # Everything but the message's own delivery tag is what kombu itself writes for restore to read.
    for stored in recorded.values():
        stored[0]["properties"].pop("delivery_tag")
    assert recorded["mallredis"] == recorded["redis"]
    assert recorded["mallredis"][1:] == ["", queue]


def test_a_message_whose_taker_died_is_given_back_after_the_visibility_timeout(keys, queue):
    dead = connect("mallredis", visibility_timeout=1, **keys)
    put(dead.default_channel, queue, "M20261124K7Q2ZP")
    taken = dead.default_channel.basic_get(queue)
    assert taken is not None
    # The taker dies without acking or restoring (a SIGKILL): only Redis remembers the message.
    dead.default_channel.qos._delivered.clear()
    dead.release()
    time.sleep(1.2)
    with connect("mallredis", visibility_timeout=1, **keys) as conn:
        channel = conn.default_channel
        channel.qos.restore_visible(num=10, interval=1)
        again = channel.basic_get(queue)
        assert again is not None
        assert json.loads(again.body) == {"order": "M20261124K7Q2ZP"}
        again.ack()


def test_an_error_reply_is_raised_and_the_next_message_goes_through(keys, queue):
    r = redis_py.Redis.from_url(REDIS_URL)
    with connect("mallredis", **keys) as conn:
        channel = conn.default_channel
        r.set(keys["unacked_index_key"], "not a sorted set")
        put(channel, queue, "M20261124K7Q2ZP")
        with pytest.raises(redis_py.ResponseError, match="WRONGTYPE"):
            channel.basic_get(queue)
        # The HSET's reply was never read: that connection must not be handed out again.
        r.delete(keys["unacked_index_key"])
        put(channel, queue, "M20261124AAAAAA")
        message = channel.basic_get(queue)
        assert json.loads(message.body) == {"order": "M20261124AAAAAA"}
        assert unacked(keys, message.delivery_tag)[0] is not None
        message.ack()
        assert unacked(keys, message.delivery_tag) == (None, None)


def test_a_connection_dropped_by_the_server_is_replaced(keys, queue):
    name = f"test-{uuid.uuid4().hex[:8]}"
    r = redis_py.Redis.from_url(REDIS_URL)
    with connect("mallredis", client_name=name, **keys) as conn:
        channel = conn.default_channel
        put(channel, queue, "M20261124K7Q2ZP")
        channel.basic_get(queue).ack()
        for client in r.client_list():
            if client["name"] == name:
                r.client_kill_filter(_id=client["id"])
        put(channel, queue, "M20261124AAAAAA")
        message = channel.basic_get(queue)
        assert message is not None
        message.ack()
        assert unacked(keys, message.delivery_tag) == (None, None)


def test_with_a_global_key_prefix_the_bookkeeping_is_kombus_own_and_prefixed(keys, queue):
    prefix = f"test-prefix-{uuid.uuid4().hex[:8]}:"
    r = redis_py.Redis.from_url(REDIS_URL)
    try:
        with connect("mallredis", global_keyprefix=prefix, **keys) as conn:
            channel = conn.default_channel
            put(channel, queue, "M20261124K7Q2ZP")
            message = channel.basic_get(queue)
            assert r.zscore(prefix + keys["unacked_index_key"], message.delivery_tag) is not None
            assert r.zscore(keys["unacked_index_key"], message.delivery_tag) is None
            message.ack()
            assert r.zscore(prefix + keys["unacked_index_key"], message.delivery_tag) is None
    finally:
        for key in r.keys(prefix + "*"):
            r.delete(key)


def test_a_task_whose_worker_is_killed_mid_task_is_run_by_another_worker(tmp_path, queue):
    env = dict(
        os.environ,
        MALL_BROKER_URL=REDIS_URL,
        MALL_VAR_DIR=str(tmp_path),
        # Short, so that the restore (every 5 s, see shared/celery_app.py) finds it soon.
        MALL_VISIBILITY_TIMEOUT="2",
    )

    def worker(n: int) -> subprocess.Popen:
        argv = ["-m", "celery", "-A", "tests.shared.redelivery_app", "worker", "--pool", "solo", "-Q", queue]
        argv += ["-n", f"redelivery{n}-{uuid.uuid4().hex[:6]}@%h", "--without-gossip", "--without-mingle"]
        argv += ["--loglevel", "WARNING"]
        log = open(tmp_path / f"worker{n}.log", "w")  # noqa: SIM115  (the worker writes to it until the end)
        return subprocess.Popen([sys.executable, *argv], env=env, stdout=log, stderr=subprocess.STDOUT)

    def wait_for(path, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while not path.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        return path.exists()

    first = worker(1)
    second = None
    try:
        saved = dict(os.environ)
        os.environ.update(env)
        try:
            from tests.shared.redelivery_app import app

            app.send_task("test.stall_once", args=[str(tmp_path)], queue=queue)
        finally:
            os.environ.clear()
            os.environ.update(saved)
        assert wait_for(tmp_path / "taken", 60), (tmp_path / "worker1.log").read_text()
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        second = worker(2)
        assert wait_for(tmp_path / "redelivered", 60), "the killed worker's task was lost"
        assert (tmp_path / "redelivered").read_text() != (tmp_path / "taken").read_text()
    finally:
        for process in (first, second):
            if process and process.poll() is None:
                process.terminate()
                process.wait(timeout=30)
