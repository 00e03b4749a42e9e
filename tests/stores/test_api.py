from shared.testing import assert_text_refused, deliver, payloads, sent

from .helpers import check


def test_units_are_registered_and_listed(units):
    items = units.get("/internal/units").json["items"]
    assert [u["code"] for u in items] == ["DS-COSMETICS", "EL-WAREHOUSE", "SM-GUOMAO", "SM-WUXU"]
    guomao = next(u for u in items if u["code"] == "SM-GUOMAO")
    assert guomao == {
        "code": "SM-GUOMAO",
        "name": "Sm-Guomao",
        "kind": "branch",
        "division": "supermarket",
        "city": "Nanning",
        "lat": 22.817,
        "lon": 108.366,
        "channel": "queue",
        "auto_pack": False,
    }


def test_a_unit_code_is_registered_once(units):
    body = {
        "code": "SM-GUOMAO",
        "name": "Guomao again",
        "kind": "branch",
        "division": "supermarket",
        "city": "Nanning",
        "lat": 22.8,
        "lon": 108.3,
    }
    response = units.post("/internal/units", json=body)
    assert response.status_code == 409 and response.json["error"]["code"] == "unit_exists"


def test_an_invalid_unit_gets_422_with_the_reason_per_field(client):
    response = client.post(
        "/internal/units",
        json={"code": "SM GUOMAO", "name": "", "kind": "kiosk", "division": "supermarket", "city": "Nanning",
              "lat": 95, "lon": "east", "channel": "pigeon", "colour": "red"},
    )  # fmt: skip
    assert response.status_code == 422
    error = response.json["error"]
    assert error["code"] == "validation_error"
    assert set(error["fields"]) == {"code", "name", "kind", "lat", "lon", "channel", "colour"}


def test_a_lone_surrogate_in_a_new_unit_is_422_and_changes_nothing(stores, client):
    body = (
        '{"code": "SM-GUOMAO", "name": "Guomao", "kind": "branch", "division": "supermarket", '
        '"city": "Nan\\udc00ning", "lat": 22.8, "lon": 108.3}'
    )
    response = client.post("/internal/units", data=body.encode(), content_type="application/json")
    assert_text_refused(response, "city")
    assert client.get("/internal/units").json == {"items": []}
    assert sent(stores) == []


def test_an_invalid_stock_in_gets_422(units):
    response = units.post("/internal/stock", json={"unit": "DS-COSMETICS", "sku": "LIPSTICK-RED-01", "quantity": 0})
    assert response.status_code == 422 and "quantity" in response.json["error"]["fields"]
    response = units.post("/internal/stock", json={"unit": "DS-COSMETICS", "sku": "LIPSTICK-RED-01", "quantity": "3"})
    assert response.status_code == 422


def test_stock_in_for_an_unknown_unit_is_not_found(units, stores):
    response = units.post("/internal/stock", json={"unit": "DS-NOWHERE", "sku": "LIPSTICK-RED-01", "quantity": 3})
    assert response.status_code == 404 and response.json["error"]["code"] == "not_found"
    assert sent(stores) == []


def test_stock_in_raises_stock_replenished_and_fulfils_the_purchase_notices(stores, units, stock_in):
    stock_in("SM-GUOMAO", "RICE-5KG", 1)
    deliver(stores, "stores.check_stock", check(1, "SM-GUOMAO", [("RICE-5KG", 3)], notify_purchasing=True))
    assert [n["status"] for n in units.get("/internal/purchase-notices").json["items"]] == ["open"]

    assert stock_in("SM-GUOMAO", "RICE-5KG", 10) == {
        "unit": "SM-GUOMAO",
        "sku": "RICE-5KG",
        "on_hand": 11,
        "reserved": 0,
        "available": 11,
    }
    assert [n["status"] for n in units.get("/internal/purchase-notices").json["items"]] == ["fulfilled"]
    assert payloads(stores, "stock.replenished")[-1] == {"unit": "SM-GUOMAO", "sku": "RICE-5KG", "available": 11}
    assert sent(stores, "stock.replenished")[-1]["correlation_id"] == "stock-in:SM-GUOMAO"


def test_availability_lists_each_unit_holding_the_skus_with_its_place(stores, units, stock_in):
    stock_in("SM-GUOMAO", "RICE-5KG", 4)
    stock_in("SM-WUXU", "RICE-5KG", 1)
    stock_in("DS-COSMETICS", "LIPSTICK-RED-01", 2)
    stock_in("DS-COSMETICS", "PERFUME-ROSE-50ML", 2)
    deliver(stores, "stores.check_stock", check(1, "SM-GUOMAO", [("RICE-5KG", 3)]))
    items = units.get("/internal/availability?sku=RICE-5KG&sku=LIPSTICK-RED-01").json["items"]
    assert [(i["sku"], i["unit"], i["available"]) for i in items] == [
        ("LIPSTICK-RED-01", "DS-COSMETICS", 2),
        ("RICE-5KG", "SM-GUOMAO", 1),
        ("RICE-5KG", "SM-WUXU", 1),
    ]
    guomao = items[1]
    assert (guomao["kind"], guomao["division"], guomao["city"], guomao["on_hand"], guomao["reserved"]) == (
        "branch",
        "supermarket",
        "Nanning",
        4,
        3,
    )
    assert units.get("/internal/availability").json["items"] == []


def test_internal_calls_need_the_service_token(stores):
    from services.stores.app import create_app

    assert create_app().test_client().get("/internal/units").status_code == 401
