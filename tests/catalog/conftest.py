import pytest


@pytest.fixture
def catalog(use_db):
    from services.catalog import tasks  # noqa: F401  (registers the consumers)
    from services.catalog.config import runtime

    return use_db(runtime)


@pytest.fixture
def client(catalog):
    from services.catalog.app import create_app
    from shared.testing import inner_client

    return inner_client(catalog, create_app)


@pytest.fixture
def add_product(client):
    """`add_product("TV-55-SKYWORTH", price="2999.00", ...)`: a product created through the API."""

    def _add(
        sku,
        *,
        name=None,
        price="10.00",
        category="TVs",
        manufacturer="Skyworth",
        supplier="Nanning Electric",
        division="electronics",
        unit="EL-WAREHOUSE",
    ):
        body = {
            "sku": sku,
            "name": name or sku.replace("-", " ").title(),
            "price": price,
            "category": category,
            "manufacturer": manufacturer,
            "supplier": supplier,
            "division": division,
            "unit": unit,
        }
        response = client.post("/internal/products", json=body)
        assert response.status_code == 201, response.json
        return response.json

    return _add
