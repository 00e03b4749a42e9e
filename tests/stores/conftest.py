import pytest


@pytest.fixture
def stores(use_db):
    from services.stores import tasks  # noqa: F401  (registers the consumers)
    from services.stores.config import runtime

    return use_db(runtime)


@pytest.fixture
def client(stores):
    from services.stores.app import create_app
    from shared.testing import inner_client

    return inner_client(stores, create_app)


@pytest.fixture
def units(client):
    """The mall's usual units: a cosmetics counter, the Guomao branch, a township branch by fax, the warehouse."""

    def add(code, kind, division, **extra):
        body = {
            "code": code,
            "name": code.title(),
            "kind": kind,
            "division": division,
            "city": extra.pop("city", "Nanning"),
            "lat": 22.817,
            "lon": 108.366,
        } | extra
        response = client.post("/internal/units", json=body)
        assert response.status_code == 201, response.json

    add("DS-COSMETICS", "counter", "department_store")
    add("SM-GUOMAO", "branch", "supermarket")
    add("SM-WUXU", "branch", "supermarket", city="Wuxu", channel="fax")
    add("EL-WAREHOUSE", "warehouse", "electronics", auto_pack=True)
    return client


@pytest.fixture
def stock_in(client):
    def _in(unit, sku, quantity):
        response = client.post("/internal/stock", json={"unit": unit, "sku": sku, "quantity": quantity})
        assert response.status_code == 201, response.json
        return response.json

    return _in
