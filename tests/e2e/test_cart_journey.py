"""A shopper's journey through the cart, end to end through the gateway, on the real processes."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import HOME_CITY

pytestmark = pytest.mark.e2e


def test_a_new_member_fills_a_cart_saves_an_address_and_checks_out(mall, sku_prefix):
    unit = mall.unit(f"DS-{sku_prefix}", auto_pack=True)
    tea = mall.product(f"TEA-{sku_prefix}", "12.50", unit, category="Tea")
    cup = mall.product(f"CUP-{sku_prefix}", "30.00", unit, category="Tea")
    mall.stock_in(unit, tea["sku"], 5)
    mall.stock_in(unit, cup["sku"], 5)
    token, _ = mall.customer("100.00")

    mall.ok("PUT", f"/api/cart/items/{tea['sku']}", {"quantity": 1}, token)
    mall.ok("PUT", f"/api/cart/items/{cup['sku']}", {"quantity": 1}, token)
    mall.ok("PUT", f"/api/cart/items/{tea['sku']}", {"quantity": 2}, token)
    cart = mall.ok("GET", "/api/cart", token=token)
    assert [(i["sku"], i["quantity"], i["in_stock"]) for i in cart["items"]] == [
        (tea["sku"], 2, True),
        (cup["sku"], 1, True),
    ]
    assert cart["total"] == "55.00"

    address = {"name": "Li Ming", "phone": "13800000000", "city": HOME_CITY, "line": "1 Minzu Ave",
               "lat": 22.82, "lon": 108.33}  # fmt: skip
    saved = mall.ok("POST", "/api/addresses", address, token)
    assert saved["is_default"] is True

    key = {"Idempotency-Key": f"cart-{sku_prefix}"}
    status, placed = mall.call("POST", "/api/cart/checkout", {"payment_method": "balance"}, token, headers=key)
    assert status == 202 and placed["status"] == "placed", placed
    status, again = mall.call("POST", "/api/cart/checkout", {"payment_method": "balance"}, token, headers=key)
    assert status == 202 and again["number"] == placed["number"]
    assert mall.ok("GET", "/api/cart", token=token) == {"items": [], "total": "0.00"}

    order = mall.wait_for(placed["number"], token, "ready_to_ship")
    assert order["total"] == "55.00" and order["payment"]["status"] == "captured"
    assert [f["delivery"] for f in order["fulfilments"]] == ["local"]
    assert mall.ok("GET", "/api/wallet", token=token)["balance"] == "45.00"
    listed = mall.ok("GET", "/api/orders", token=token)
    assert [o["number"] for o in listed["items"]] == [placed["number"]]
