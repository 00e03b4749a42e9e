import pytest


@pytest.fixture
def billing(use_db):
    from services.billing import tasks  # noqa: F401  (registers the consumers)
    from services.billing.config import runtime

    return use_db(runtime)


@pytest.fixture
def client(billing):
    from services.billing.app import create_app

    app = create_app({"TESTING": True})
    client = app.test_client()
    client.environ_base["HTTP_X_SERVICE_TOKEN"] = billing.settings.service_token
    return client
