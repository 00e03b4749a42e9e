"""Purchasing through the gateway: administrators write, confirm, receive and settle purchase orders."""

from datetime import date, timedelta

from gateway_helpers import bearer


def purchase(**changes):
    return {
        "unit": "SM-GUOMAO",
        "supplier": "Nanning Grain Co.",
        "delivery_method": "supplier_delivers",
        "settlement_method": "monthly",
        "deliver_by": (date.today() + timedelta(days=3)).isoformat(),
        "lines": [{"sku": "TEA-LONGJING-250G", "quantity": 40, "unit_cost": "31.50"}],
    } | changes


def test_an_administrator_writes_a_purchase_order_as_its_buyer_and_it_is_logged(client, catalogue, inner, admin, root):
    response = client.post("/api/admin/purchase-orders", json=purchase(), headers=bearer(admin))
    assert response.status_code == 201
    sent = inner.purchase_order_rows[response.json["id"]]
    assert sent["buyer"] == "zhao_admin"  # the caller, whatever the body says
    assert sent["lines"] == [{"sku": "TEA-LONGJING-250G", "quantity": 40, "unit_cost": "31.50"}]
    log = client.get("/api/admin/log", query_string={"action": "purchase_order.create"}, headers=bearer(root))
    assert [row["actor"] for row in log.json["items"]] == ["zhao_admin"]


def test_a_purchase_order_names_products_of_the_catalogue(client, catalogue, inner, admin):
    body = purchase(lines=[{"sku": "TEA-LONGJING-250G", "quantity": 1, "unit_cost": "9.00"}] * 2)
    body["lines"] = body["lines"] + [{"sku": "NO-SUCH-TEA", "quantity": 1, "unit_cost": "9.00"}]
    response = client.post("/api/admin/purchase-orders", json=body, headers=bearer(admin))
    assert response.status_code == 422 and list(response.json["error"]["fields"]) == ["lines.2.sku"]
    assert inner.purchase_order_rows == {}


def test_a_supplier_of_spaces_is_no_supplier(client, catalogue, inner, admin):
    response = client.post("/api/admin/purchase-orders", json=purchase(supplier="   "), headers=bearer(admin))
    assert response.status_code == 422 and list(response.json["error"]["fields"]) == ["supplier"]


def test_a_purchase_order_moves_through_its_steps(client, catalogue, inner, admin):
    po = client.post("/api/admin/purchase-orders", json=purchase(), headers=bearer(admin)).json["id"]
    for action, status in [("confirm", "confirmed"), ("receive", "received"), ("settle", "settled")]:
        response = client.post(f"/api/admin/purchase-orders/{po}/{action}", headers=bearer(admin))
        assert response.status_code == 200 and response.json["status"] == status
    refused = client.post(f"/api/admin/purchase-orders/{po}/cancel", headers=bearer(admin))
    assert refused.status_code == 409 and refused.json["error"]["code"] == "not_allowed"
    assert client.post(f"/api/admin/purchase-orders/{po}/pay", headers=bearer(admin)).status_code == 404
    assert client.get(f"/api/admin/purchase-orders/{po}", headers=bearer(admin)).json["status"] == "settled"
    assert client.get("/api/admin/purchase-orders/424242", headers=bearer(admin)).status_code == 404


def test_bad_purchase_orders_are_422_before_stores_is_asked(client, catalogue, inner, admin):
    inner.calls.clear()
    body = purchase(buyer="someone_else", lines=[{"sku": "TEA-LONGJING-250G", "quantity": 0, "unit_cost": "free"}])
    response = client.post("/api/admin/purchase-orders", json=body | {"deliver_by": "soon"}, headers=bearer(admin))
    assert response.status_code == 422
    assert set(response.json["error"]["fields"]) == {"buyer", "deliver_by", "lines.0.quantity", "lines.0.unit_cost"}
    assert client.get("/api/admin/purchase-orders?status=lost", headers=bearer(admin)).status_code == 422
    assert client.get("/api/admin/purchase-notices?unit=a b", headers=bearer(admin)).status_code == 422
    assert inner.calls == []


def test_purchasing_is_for_administrators(client, catalogue, customer, make_account):
    _, token = customer
    staff = make_account("zhou_staff", "staff", unit="DS-TEA")
    for who in (token, staff):
        assert client.post("/api/admin/purchase-orders", json=purchase(), headers=bearer(who)).status_code == 403
        assert client.get("/api/admin/purchase-notices", headers=bearer(who)).status_code == 403
    assert client.get("/api/admin/purchase-orders").status_code == 401


def test_purchasing_sees_the_units_purchase_notices(client, catalogue, admin):
    response = client.get("/api/admin/purchase-notices?unit=SM-GUOMAO", headers=bearer(admin))
    assert response.status_code == 200 and response.json["items"][0]["sku"] == "RICE-5KG"
