"""An inquiry (咨询) end to end through the gateway, on the real processes, as in DOMAIN.md's worked example: the
customer asks before buying, the counter sees the stock figure and answers how many it can supply, the customer
reads the answer, and the question shows on the product's page with the asker masked."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e


def test_a_customer_asks_the_counter_answers_from_its_stock_and_the_customer_reads_it(mall, sku_prefix):
    unit = mall.unit(f"DS-{sku_prefix}")
    other = mall.unit(f"DS-X{sku_prefix}")
    tea = mall.product(f"TEA-{sku_prefix}", "25.00", unit, category="Tea")
    mall.stock_in(unit, tea["sku"], 7)
    token, _ = mall.customer("0.00")
    counter = mall.staff("staff", unit)
    stranger = mall.staff("staff", other)

    asked = mall.ok(
        "POST", f"/api/products/{tea['id']}/inquiries", {"question": "Six tins in stock?", "quantity": 6}, token
    )
    assert asked["status"] == "open"

    waiting = [i for i in mall.ok("GET", "/api/staff/inquiries", token=counter)["items"] if i["id"] == asked["id"]]
    assert [(i["quantity"], i["stock"]["available"]) for i in waiting] == [(6, 7)]
    assert all(i["id"] != asked["id"] for i in mall.ok("GET", "/api/staff/inquiries", token=stranger)["items"])
    status, refused = mall.call("POST", f"/api/staff/inquiries/{asked['id']}/answer", {"answer": "No."}, stranger)
    assert status == 404, refused

    reply = {"answer": "Yes, 7 tins at the counter.", "available": waiting[0]["stock"]["available"]}
    answered = mall.ok("POST", f"/api/staff/inquiries/{asked['id']}/answer", reply, counter)
    assert answered["status"] == "answered" and answered["available"] == 7
    status, again = mall.call("POST", f"/api/staff/inquiries/{asked['id']}/answer", {"answer": "Sold out."}, counter)
    assert status == 409 and again["error"]["code"] == "already_answered"

    [mine] = mall.ok("GET", "/api/inquiries", token=token)["items"]
    assert (mine["answer"], mine["available"], mine["answered_unit"]) == ("Yes, 7 tins at the counter.", 7, unit)
    [shown] = mall.ok("GET", f"/api/products/{tea['id']}/inquiries")["items"]
    assert shown["question"] == "Six tins in stock?" and shown["asker"].count("***") == 1
    logged = mall.ok("GET", "/api/admin/log?action=inquiry.answer", token=mall.admin)["items"]
    assert f"inquiry:{asked['id']}" in [e["target"] for e in logged]
