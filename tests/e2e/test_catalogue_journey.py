"""An administrator changes a price and withdraws a product, end to end through the gateway, on the real
processes: the next order is priced at the new price, the order before keeps its own, a withdrawn product
cannot be ordered but keeps its page."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e


def test_a_price_change_reaches_the_next_order_and_a_withdrawn_product_is_refused(mall, sku_prefix):
    unit = mall.unit(f"DS-{sku_prefix}", auto_pack=True)
    tea = mall.product(f"TEA-{sku_prefix}", "20.00", unit, category="Tea")
    mall.stock_in(unit, tea["sku"], 10)
    token, _ = mall.customer("500.00")

    status, first = mall.place(token, [(tea["sku"], 1)])
    assert status == 202, first  # the gateway now keeps the product, at 20.00, for a few seconds
    changed = mall.ok("PATCH", f"/api/admin/products/{tea['id']}", {"price": "15.00"}, mall.admin)
    assert changed["changed"] == {"price": ["20.00", "15.00"]}

    # One gateway process here: the one that made the change forgot the product, so no waiting is needed
    # (another process would price at the new price within PRODUCT_CACHE_SECONDS).
    status, second = mall.place(token, [(tea["sku"], 2)])
    assert status == 202, second
    assert mall.wait_for(second["number"], token, {"paid", "packing", "ready_to_ship", "shipping"})["total"] == "30.00"
    assert mall.order(first["number"], token)["total"] == "20.00"

    mall.ok("DELETE", f"/api/admin/products/{tea['id']}", token=mall.admin)
    status, refused = mall.place(token, [(tea["sku"], 1)])
    assert status == 422 and refused["error"]["code"] == "product_withdrawn", refused
    found = mall.ok("GET", f"/api/products?q={tea['sku']}")
    assert found["items"] == []
    page = mall.ok("GET", f"/api/products/{tea['id']}")
    assert page["on_sale"] is False and page["price"] == "15.00"

    mall.ok("POST", f"/api/admin/products/{tea['id']}/restore", token=mall.admin)
    assert [p["sku"] for p in mall.ok("GET", f"/api/products?q={tea['sku']}")["items"]] == [tea["sku"]]
    report = mall.ok("GET", f"/api/admin/reports/stock?unit={unit}", token=mall.admin)
    assert [(r["sku"], [u["unit"] for u in r["units"]]) for r in report["items"]] == [(tea["sku"], [unit])]
    for action in ("product.change", "product.withdraw", "product.restore"):
        logged = mall.ok("GET", f"/api/admin/log?action={action}", token=mall.admin)["items"]
        assert f"product:{tea['sku']}" in [e["target"] for e in logged], action
