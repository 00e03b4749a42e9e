"""Plain helpers of the gateway tests, imported by name (`from gateway_helpers import bearer`).

They live here, not in conftest.py: tests/orders has a conftest.py of its own, and when pytest loads both
the module name `conftest` means the last one loaded, so `from conftest import ...` broke collection.
"""

from __future__ import annotations

SUPERADMIN = ("root", "Root-Pass-2026")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def login(client, username: str, password: str) -> str:
    response = client.post("/api/auth/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.json
    return response.json["access_token"]


ADDRESS = {
    "name": "Li Ming",
    "phone": "13800000000",
    "city": "Nanning",
    "line": "1 Minzu Avenue",
    "lat": 22.8,
    "lon": 108.3,
}


def order_body(*items: tuple[str, int], payment_method: str = "balance") -> dict:
    return {
        "items": [{"sku": sku, "quantity": quantity} for sku, quantity in items],
        "address": dict(ADDRESS),
        "payment_method": payment_method,
    }
