import pytest
from argon2 import PasswordHasher
from gateway_fakes import FakeInnerServices
from gateway_helpers import SUPERADMIN, bearer, login


@pytest.fixture
def gateway(use_db, monkeypatch):
    from gateway import services
    from gateway.config import runtime

    # argon2 at its production cost makes every test wait; the cheapest settings test the same code.
    monkeypatch.setattr(services, "hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    monkeypatch.setattr(services, "_dummy_hash", None)
    return use_db(runtime)


@pytest.fixture
def inner():
    return FakeInnerServices()


@pytest.fixture
def app(gateway, inner):
    from gateway.app import create_app

    return create_app({"TESTING": True, "BOOTSTRAP_ADMIN": ":".join(SUPERADMIN)}, inner=inner)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def root(client):
    """The super administrator's token (created by MALL_BOOTSTRAP_ADMIN)."""
    return login(client, *SUPERADMIN)


@pytest.fixture
def make_account(client, root):
    """`make_account("wang_fang", "staff", unit="DS-TEA")` -> a logged-in staff account's token."""

    def make(username: str, role: str, unit: str | None = None, password: str = "Staff-Pass-2026") -> str:
        body = {"username": username, "password": password, "role": role} | ({"unit": unit} if unit else {})
        response = client.post("/api/admin/staff", json=body, headers=bearer(root))
        assert response.status_code == 201, response.json
        return login(client, username, password)

    return make


@pytest.fixture
def admin(make_account):
    return make_account("zhao_admin", "admin")


@pytest.fixture
def make_customer(client):
    """`make_customer("li_ming")` -> (member id, token)."""

    def make(username: str, password: str = "Jasmine-Tea-88") -> tuple[int, str]:
        response = client.post("/api/auth/register", json={"username": username, "password": password})
        assert response.status_code == 201, response.json
        return response.json["id"], login(client, username, password)

    return make


@pytest.fixture
def customer(make_customer):
    return make_customer("li_ming")


@pytest.fixture
def catalogue(inner):
    """A tea counter of the department store and a supermarket branch, with a few products."""
    inner.create_unit(
        {
            "code": "DS-TEA",
            "name": "Tea counter",
            "kind": "counter",
            "division": "department_store",
            "city": "Nanning",
            "lat": 22.82,
            "lon": 108.32,
        }
    )
    inner.create_unit(
        {
            "code": "SM-GUOMAO",
            "name": "Guomao branch",
            "kind": "branch",
            "division": "supermarket",
            "city": "Nanning",
            "lat": 22.81,
            "lon": 108.31,
        }
    )
    tea = inner.create_product(
        {
            "sku": "TEA-LONGJING-250G",
            "name": "Longjing green tea 250 g",
            "price": "12.50",
            "category": "Tea",
            "manufacturer": "West Lake",
            "supplier": "Hangzhou Tea",
            "division": "department_store",
            "unit": "DS-TEA",
        }
    )
    rice = inner.create_product(
        {
            "sku": "RICE-JASMINE-5KG",
            "name": "Jasmine rice 5 kg",
            "price": "39.90",
            "category": "Grocery",
            "manufacturer": "Wuchang",
            "supplier": "Northeast Grain",
            "division": "supermarket",
        }
    )
    inner.stock_in({"unit": "DS-TEA", "sku": "TEA-LONGJING-250G", "quantity": 5})
    inner.calls.clear()
    return {"tea": tea, "rice": rice}
