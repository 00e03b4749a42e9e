"""Staff consoles: packing tasks per unit, delivery batches, local couriers, the cash-on-delivery check."""

from gateway_helpers import bearer


def packing_task(inner, task_id, unit, order="M20261124A0B1C2D3"):
    inner.task_rows[task_id] = {
        "id": task_id,
        "order": order,
        "unit": unit,
        "status": "open",
        "items": [{"sku": "TEA-LONGJING-250G", "name": "Longjing green tea 250 g", "quantity": 2}],
        "slip_no": None,
        "delivery": "local",
    }


def test_staff_see_only_their_own_units_tasks(client, make_account, inner):
    packing_task(inner, 1, "DS-TEA")
    packing_task(inner, 2, "SM-GUOMAO")
    tea_staff = make_account("wang_fang", "staff", unit="DS-TEA")
    response = client.get(
        "/api/staff/tasks", query_string={"status": "open", "unit": "SM-GUOMAO"}, headers=bearer(tea_staff)
    )
    assert response.status_code == 200
    assert [t["id"] for t in response.json["items"]] == [1]
    assert set(response.json["items"][0]) >= {"id", "order", "unit", "status", "items"}


def test_staff_mark_their_parcel_packed_but_not_another_units(client, make_account, inner):
    packing_task(inner, 1, "DS-TEA")
    packing_task(inner, 2, "SM-GUOMAO")
    tea_staff = make_account("wang_fang", "staff", unit="DS-TEA")
    done = client.post("/api/staff/tasks/1/done", json={"slip_no": "XP-0001"}, headers=bearer(tea_staff))
    assert done.status_code == 200 and done.json["slip_no"] == "XP-0001"
    assert client.post("/api/staff/tasks/2/done", json={}, headers=bearer(tea_staff)).status_code == 404


def test_a_customer_or_a_courier_sees_no_packing_tasks(client, customer, make_account):
    _, token = customer
    courier = make_account("zhou_courier", "courier")
    assert client.get("/api/staff/tasks", headers=bearer(token)).status_code == 403
    assert client.get("/api/staff/tasks", headers=bearer(courier)).status_code == 403


def test_an_administrator_names_the_unit_whose_tasks_to_see(client, admin, inner):
    packing_task(inner, 2, "SM-GUOMAO")
    assert client.get("/api/staff/tasks", headers=bearer(admin)).status_code == 422
    response = client.get("/api/staff/tasks", query_string={"unit": "SM-GUOMAO"}, headers=bearer(admin))
    assert [t["id"] for t in response.json["items"]] == [2]


def test_customer_service_closes_the_batch_and_it_is_logged(client, root, make_account, inner):
    service = make_account("chen_service", "customer_service")
    response = client.post("/api/staff/batches/close", json={}, headers=bearer(service))
    assert response.status_code == 200 and set(response.json) == {"batch", "deliveries"}
    assert inner.batches_closed_by == ["chen_service"]
    log = client.get("/api/admin/log", query_string={"action": "batch.close"}, headers=bearer(root)).json["items"]
    assert [entry["actor"] for entry in log] == ["chen_service"]


def test_a_courier_cannot_close_a_batch(client, make_account):
    courier = make_account("zhou_courier", "courier")
    assert client.post("/api/staff/batches/close", json={}, headers=bearer(courier)).status_code == 403


def test_a_courier_lists_deliveries_picks_up_and_hands_over(client, make_account, inner):
    inner.delivery_rows[5] = {"id": 5, "order": "M20261124A0B1C2D3", "unit": "DS-TEA", "status": "ready"}
    courier = make_account("zhou_courier", "courier")
    assert client.get("/api/staff/deliveries", headers=bearer(courier)).json["items"][0]["id"] == 5
    picked = client.post("/api/staff/deliveries/5/picked-up", json={"signature": "Zhou"}, headers=bearer(courier))
    assert picked.status_code == 200 and picked.json["courier"] == "zhou_courier"
    handed = client.post("/api/staff/deliveries/5/delivered", json={"signed_by": "Li Ming"}, headers=bearer(courier))
    assert handed.status_code == 200 and handed.json["status"] == "delivered"


def test_a_hand_over_needs_a_signature(client, make_account, inner):
    courier = make_account("zhou_courier", "courier")
    response = client.post("/api/staff/deliveries/5/picked-up", json={}, headers=bearer(courier))
    assert response.status_code == 422 and "signature" in response.json["error"]["fields"]


def test_customer_service_checks_a_cash_on_delivery_order_and_it_is_logged(client, root, make_account, inner):
    inner.orders["M20261124A0B1C2D3"] = {"number": "M20261124A0B1C2D3", "member_id": 7, "status": "awaiting_check"}
    service = make_account("chen_service", "customer_service")
    response = client.post("/api/staff/orders/M20261124A0B1C2D3/check", json={}, headers=bearer(service))
    assert response.status_code == 200 and "member_id" not in response.json
    log = client.get("/api/admin/log", query_string={"action": "order.check"}, headers=bearer(root)).json["items"]
    assert [(e["actor"], e["target"]) for e in log] == [("chen_service", "order:M20261124A0B1C2D3")]


def test_a_staff_member_cannot_check_orders(client, make_account):
    tea_staff = make_account("wang_fang", "staff", unit="DS-TEA")
    assert client.post("/api/staff/orders/M1/check", json={}, headers=bearer(tea_staff)).status_code == 403
