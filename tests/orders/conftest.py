import pytest


@pytest.fixture
def orders(use_db, monkeypatch):
    from services.orders import tasks
    from services.orders.config import runtime

    # Routing reads stores' stock over HTTP; here the snapshot is whatever the test puts in STOCK.
    monkeypatch.setattr(tasks, "stock_snapshot", lambda skus: [row for row in STOCK if row["sku"] in skus])
    STOCK.clear()
    return use_db(runtime)


STOCK: list[dict] = []


@pytest.fixture
def stock():
    return STOCK


@pytest.fixture
def client(orders):
    from services.orders.app import create_app
    from shared.testing import inner_client

    return inner_client(orders, create_app)
