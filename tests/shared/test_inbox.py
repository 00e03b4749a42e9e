"""The inbox on both databases: a message delivered twice is handled once and counted as a duplicate."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from shared.testing import envelope, fresh_database
from tests.infra import fresh_postgres_database, postgres_available


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_message_delivered_twice_is_handled_once_and_counted(backend, tmp_path):
    from services.billing import tasks  # noqa: F401
    from services.billing.config import runtime

    if backend == "postgresql" and not postgres_available():
        pytest.skip("PostgreSQL is not reachable")
    url = f"sqlite:///{tmp_path / 'billing.db'}" if backend == "sqlite" else fresh_postgres_database("mall_test_inbox")
    fresh_database(runtime, url)
    try:
        body = envelope(
            "billing.refund_payment",
            {"order": "M20261124INBOX1", "reason": "customer cancelled"},
            correlation_id="M20261124INBOX1",
        )
        assert runtime.consume("billing.refund_payment", body) == "handled"
        assert runtime.consume("billing.refund_payment", body) == "duplicate"
        assert runtime.consume("billing.refund_payment", body) == "duplicate"
        with runtime.db.session() as session:
            [row] = session.execute(select(runtime.tables.inbox)).all()
            replies = session.execute(select(runtime.tables.outbox)).all()
        assert row.duplicates == 2
        assert len(replies) == 1
    finally:
        runtime.reset()
