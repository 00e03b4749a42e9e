from datetime import UTC, datetime

import pytest


@pytest.fixture
def billing(use_db):
    from services.billing import tasks  # noqa: F401  (registers the consumers)
    from services.billing.config import runtime

    return use_db(runtime)


@pytest.fixture
def client(billing):
    from services.billing.app import create_app
    from shared.testing import inner_client

    return inner_client(billing, create_app)


@pytest.fixture
def clock(monkeypatch):
    """`clock.at = datetime(...)`: when billing's money moves (payments, refunds) in these tests (from
    20 October 2026)."""
    from services.billing import services

    class Clock:
        at = datetime(2026, 10, 20, 2, 0, tzinfo=UTC)

    clock = Clock()
    monkeypatch.setattr(services, "now", lambda: clock.at)
    return clock
