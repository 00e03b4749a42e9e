from datetime import datetime

from shared.testing import deliver, payloads

from .helpers import check, pack, release, stock_of


def reserve_and_pack(stores, stock_in, unit, sku="LIPSTICK-RED-01", name="Red lipstick", fulfilment_id=1):
    stock_in(unit, sku, 2)
    deliver(stores, "stores.check_stock", check(fulfilment_id, unit, [(sku, 1)]))
    deliver(stores, "stores.pack_parcel", pack(fulfilment_id, unit, [(sku, name, 1)]))


def open_tasks(client, unit, status="open"):
    return client.get(f"/internal/tasks?unit={unit}&status={status}").json["items"]


def test_an_auto_pack_unit_packs_at_once_with_a_sales_slip(stores, units, stock_in):
    reserve_and_pack(stores, stock_in, "EL-WAREHOUSE", "FRIDGE-HAIER-310L", "Haier fridge 310 L")
    [packed] = payloads(stores, "parcel.packed")
    assert packed["slip_no"] == "XS-EL-WAREHOUSE-000001"
    assert (packed["order"], packed["fulfilment_id"], packed["unit"]) == ("M100001", 1, "EL-WAREHOUSE")
    assert datetime.fromisoformat(packed["packed_at"]).tzinfo is not None
    assert stock_of(stores, "EL-WAREHOUSE", "FRIDGE-HAIER-310L") == (1, 0)


def test_a_counter_gets_an_open_task_and_packs_nothing_by_itself(stores, units, stock_in, client):
    reserve_and_pack(stores, stock_in, "DS-COSMETICS")
    [task] = open_tasks(client, "DS-COSMETICS")
    assert task["items"] == [{"sku": "LIPSTICK-RED-01", "name": "Red lipstick", "quantity": 1}]
    assert (task["order"], task["status"], task["delivery"], task["slip_no"]) == ("M100001", "open", "local", None)
    assert task["fax_document"] is None
    assert payloads(stores, "parcel.packed") == []


def test_a_repeated_pack_command_opens_one_task(stores, units, stock_in, client):
    reserve_and_pack(stores, stock_in, "DS-COSMETICS")
    deliver(stores, "stores.pack_parcel", pack())
    assert len(open_tasks(client, "DS-COSMETICS", "all")) == 1


def test_staff_marking_a_task_done_sends_parcel_packed_once(stores, units, stock_in, client):
    reserve_and_pack(stores, stock_in, "DS-COSMETICS")
    [task] = open_tasks(client, "DS-COSMETICS")
    done = client.post(f"/internal/tasks/{task['id']}/done", json={"unit": "DS-COSMETICS"})
    assert done.status_code == 200
    assert (done.json["status"], done.json["slip_no"]) == ("done", f"XS-DS-COSMETICS-{task['id']:06d}")
    again = client.post(f"/internal/tasks/{task['id']}/done", json={"unit": "DS-COSMETICS"})
    assert again.status_code == 200 and again.json == done.json
    assert [p["slip_no"] for p in payloads(stores, "parcel.packed")] == [done.json["slip_no"]]
    assert stock_of(stores, "DS-COSMETICS", "LIPSTICK-RED-01") == (1, 0)
    assert open_tasks(client, "DS-COSMETICS") == []


def test_a_branch_issues_a_hold_slip(stores, units, stock_in, client):
    reserve_and_pack(stores, stock_in, "SM-GUOMAO", "RICE-5KG", "Rice 5 kg")
    [task] = open_tasks(client, "SM-GUOMAO")
    done = client.post(f"/internal/tasks/{task['id']}/done", json={"unit": "SM-GUOMAO"})
    assert done.json["slip_no"] == f"GD-SM-GUOMAO-{task['id']:06d}"


def test_a_slip_typed_by_staff_is_kept_and_a_different_one_later_is_refused(stores, units, stock_in, client):
    reserve_and_pack(stores, stock_in, "SM-GUOMAO", "RICE-5KG", "Rice 5 kg")
    [task] = open_tasks(client, "SM-GUOMAO")
    url = f"/internal/tasks/{task['id']}/done"
    assert client.post(url, json={"unit": "SM-GUOMAO", "slip_no": "GD-2024-0815"}).json["slip_no"] == "GD-2024-0815"
    assert client.post(url, json={"unit": "SM-GUOMAO", "slip_no": "GD-2024-0815"}).status_code == 200
    refused = client.post(url, json={"unit": "SM-GUOMAO", "slip_no": "GD-2024-0999"})
    assert refused.status_code == 409 and refused.json["error"]["code"] == "task_not_open"


def test_a_fax_branch_gets_a_printable_fax_with_the_order_number(stores, units, stock_in, client):
    reserve_and_pack(stores, stock_in, "SM-WUXU", "RICE-5KG", "Rice 5 kg")
    [task] = open_tasks(client, "SM-WUXU")
    fax = task["fax_document"]
    assert "M100001" in fax and "SM-WUXU" in fax and "RICE-5KG" in fax and "Rice 5 kg  x 1" in fax
    assert "hold slip" in fax and "label the parcel with the order number M100001" in fax
    assert "local delivery" in fax


def test_another_units_task_is_not_found(stores, units, stock_in, client):
    reserve_and_pack(stores, stock_in, "DS-COSMETICS")
    [task] = open_tasks(client, "DS-COSMETICS")
    response = client.post(f"/internal/tasks/{task['id']}/done", json={"unit": "SM-GUOMAO"})
    assert response.status_code == 404 and response.json["error"]["code"] == "not_found"
    assert client.post("/internal/tasks/999/done", json={"unit": "DS-COSMETICS"}).status_code == 404
    assert payloads(stores, "parcel.packed") == []


def test_a_released_fulfilment_cancels_its_task_and_it_cannot_be_done(stores, units, stock_in, client):
    reserve_and_pack(stores, stock_in, "DS-COSMETICS")
    [task] = open_tasks(client, "DS-COSMETICS")
    deliver(stores, "stores.release_stock", release())
    assert [t["id"] for t in open_tasks(client, "DS-COSMETICS", "cancelled")] == [task["id"]]
    response = client.post(f"/internal/tasks/{task['id']}/done", json={"unit": "DS-COSMETICS"})
    assert response.status_code == 409 and response.json["error"]["code"] == "task_not_open"
    assert stock_of(stores, "DS-COSMETICS", "LIPSTICK-RED-01") == (2, 0)


def test_a_pack_command_for_a_packed_parcel_answers_with_the_same_slip(stores, units, stock_in):
    reserve_and_pack(stores, stock_in, "EL-WAREHOUSE", "FRIDGE-HAIER-310L", "Haier fridge 310 L")
    deliver(stores, "stores.pack_parcel", pack(1, "EL-WAREHOUSE", [("FRIDGE-HAIER-310L", "Haier fridge 310 L", 1)]))
    first, second = payloads(stores, "parcel.packed")
    assert first == second
    assert stock_of(stores, "EL-WAREHOUSE", "FRIDGE-HAIER-310L") == (1, 0)


def test_tasks_need_a_unit_and_a_known_status(client):
    missing = client.get("/internal/tasks")
    assert missing.status_code == 422 and "unit" in missing.json["error"]["fields"]
    assert client.get("/internal/tasks?unit=DS-COSMETICS&status=lost").status_code == 422


def test_a_pack_command_that_arrives_after_the_release_opens_no_task(stores, units, stock_in, client):
    stock_in("DS-COSMETICS", "LIPSTICK-RED-01", 2)
    deliver(stores, "stores.check_stock", check(1, "DS-COSMETICS", [("LIPSTICK-RED-01", 1)]))
    deliver(stores, "stores.release_stock", release())
    deliver(stores, "stores.pack_parcel", pack(1, "DS-COSMETICS", [("LIPSTICK-RED-01", "Red lipstick", 1)]))
    assert open_tasks(client, "DS-COSMETICS", "all") == []
    assert payloads(stores, "parcel.packed") == []
    assert stock_of(stores, "DS-COSMETICS", "LIPSTICK-RED-01") == (2, 0)
