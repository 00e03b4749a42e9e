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
