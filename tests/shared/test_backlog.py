"""How far behind a queue is, on both brokers: what the deadline sweeps ask before they re-send."""

from __future__ import annotations

import uuid

import pytest

from tests.infra import redis_available


@pytest.fixture(params=["embedded", "redis"])
def billing(request, tmp_path, monkeypatch):
    from services.billing import tasks  # noqa: F401
    from services.billing.config import runtime

    monkeypatch.setenv("MALL_VAR_DIR", str(tmp_path))
    if request.param == "redis":
        if not redis_available():
            pytest.skip("Redis is not reachable")
        monkeypatch.setenv("MALL_BROKER_URL", "redis://127.0.0.1:6379/15")
    else:
        monkeypatch.delenv("MALL_BROKER_URL", raising=False)
    runtime.reset()
    yield runtime
    runtime.reset()


def test_a_queue_nobody_sent_to_is_not_behind(billing):
    assert billing.backlog(f"test-{uuid.uuid4().hex}") == 0


def test_the_backlog_counts_the_messages_waiting(billing):
    from shared import runtime as runtime_module

    queue = f"test-{uuid.uuid4().hex}"
    for n in range(3):
        billing.celery.send_task("test.nothing", args=[n], queue=queue)
    assert billing.backlog(queue) == 3
    assert not billing.is_behind(queue)
    with billing.celery.connection_for_write() as connection:
        connection.default_channel.queue_purge(queue)
    assert billing.backlog(queue) == 0
    assert runtime_module.BEHIND_AT > 3
