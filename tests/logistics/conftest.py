import pytest


@pytest.fixture
def logistics(use_db):
    from services.logistics import tasks  # noqa: F401  (registers the consumers)
    from services.logistics.config import runtime

    return use_db(runtime)


@pytest.fixture
def courier(monkeypatch, logistics):
    """The sandbox courier the consumers book with, fresh for each test (it remembers cancellations)."""
    from services.logistics import tasks
    from services.logistics.couriers import SandboxCourier

    sandbox = SandboxCourier()
    monkeypatch.setattr(tasks, "courier", sandbox)
    return sandbox


@pytest.fixture
def client(logistics, courier):
    from services.logistics.app import create_app
    from shared.testing import inner_client

    return inner_client(logistics, create_app)
