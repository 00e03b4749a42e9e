"""Purchasing (B2C 采购): a purchase order is written, confirmed, received (a stock-in) and settled."""

from datetime import UTC, date, datetime, timedelta

import pytest

from shared.testing import deliver, payloads

from .helpers import check, stock_of


def in_two_days() -> str:
    return (datetime.now(UTC).date() + timedelta(days=2)).isoformat()


def purchase(**changes):
    return {
        "unit": "SM-GUOMAO",
        "supplier": "Nanning Grain Co.",
        "buyer": "purchasing_li",
        "delivery_method": "supplier_delivers",
        "settlement_method": "monthly",
        "deliver_by": in_two_days(),
        "lines": [
            {"sku": "RICE-5KG", "quantity": 40, "unit_cost": "31.50"},
            {"sku": "OIL-5L", "quantity": 10, "unit_cost": "62.00"},
        ],
    } | changes


@pytest.fixture
def written(client, units):
    response = client.post("/internal/purchase-orders", json=purchase())
    assert response.status_code == 201, response.json
    return response.json


def test_a_purchase_order_is_written_as_a_draft_with_its_total(written):
    assert written["status"] == "draft" and written["buyer"] == "purchasing_li"
    assert [(line["sku"], line["amount"]) for line in written["lines"]] == [
        ("RICE-5KG", "1260.00"),
        ("OIL-5L", "620.00"),
    ]
    assert written["total"] == "1880.00"


def test_receiving_a_confirmed_order_stocks_it_in_once_and_orders_waiting_hear_of_it(stores, client, written):
    po = written["id"]
    assert client.post(f"/internal/purchase-orders/{po}/receive").status_code == 409  # not confirmed yet
    assert client.post(f"/internal/purchase-orders/{po}/confirm").json["status"] == "confirmed"
    first = client.post(f"/internal/purchase-orders/{po}/receive")
    again = client.post(f"/internal/purchase-orders/{po}/receive")  # a second click receives nothing more
    assert first.json["status"] == again.json["status"] == "received" and first.json["received_at"]
    assert stock_of(stores, "SM-GUOMAO", "RICE-5KG")[0] == 40 and stock_of(stores, "SM-GUOMAO", "OIL-5L")[0] == 10
    assert [p["sku"] for p in payloads(stores, "stock.replenished")] == ["OIL-5L", "RICE-5KG"]
    assert client.post(f"/internal/purchase-orders/{po}/settle").json["status"] == "settled"
    assert client.post(f"/internal/purchase-orders/{po}/cancel").status_code == 409  # received goods stay


def test_receiving_fulfils_the_units_open_purchase_notices(stores, client, written):
    deliver(stores, "stores.check_stock", check(1, "SM-GUOMAO", [("RICE-5KG", 3)], notify_purchasing=True))
    [notice] = client.get("/internal/purchase-notices?unit=SM-GUOMAO").json["items"]
    assert notice["status"] == "open"
    client.post(f"/internal/purchase-orders/{written['id']}/confirm")
    client.post(f"/internal/purchase-orders/{written['id']}/receive")
    [notice] = client.get("/internal/purchase-notices?unit=SM-GUOMAO").json["items"]
    assert notice["status"] == "fulfilled"


def test_a_cancelled_order_is_never_received(stores, client, written):
    po = written["id"]
    assert client.post(f"/internal/purchase-orders/{po}/cancel").json["status"] == "cancelled"
    assert client.post(f"/internal/purchase-orders/{po}/confirm").status_code == 409
    assert client.post(f"/internal/purchase-orders/{po}/receive").status_code == 409
    assert stock_of(stores, "SM-GUOMAO", "RICE-5KG") == (0, 0)


@pytest.mark.parametrize("deliver_by", [date.today().isoformat(), "2020-01-01"])
def test_the_delivery_day_must_be_after_today(client, units, deliver_by):
    response = client.post("/internal/purchase-orders", json=purchase(deliver_by=deliver_by))
    assert response.status_code == 422 and list(response.json["error"]["fields"]) == ["deliver_by"]
    assert client.get("/internal/purchase-orders").json["items"] == []


def test_bad_purchase_orders_are_refused_with_a_reason_for_each(client, units):
    body = purchase(lines=[{"sku": "RICE-5KG", "quantity": 0, "unit_cost": "-1"}], settlement_method="barter")
    response = client.post("/internal/purchase-orders", json=body)
    assert response.status_code == 422
    assert set(response.json["error"]["fields"]) == {"lines.0.quantity", "lines.0.unit_cost", "settlement_method"}
    assert client.post("/internal/purchase-orders", json=purchase(lines=[])).status_code == 422
    unknown = client.post("/internal/purchase-orders", json=purchase(unit="NOWHERE"))
    assert unknown.status_code == 404


def test_purchase_orders_are_listed_by_unit_and_status(client, units, written):
    client.post("/internal/purchase-orders", json=purchase(unit="DS-COSMETICS"))
    assert [o["unit"] for o in client.get("/internal/purchase-orders").json["items"]] == ["DS-COSMETICS", "SM-GUOMAO"]
    assert len(client.get("/internal/purchase-orders?unit=SM-GUOMAO&status=draft").json["items"]) == 1
    assert client.get("/internal/purchase-orders?status=settled").json["items"] == []
    assert client.get("/internal/purchase-orders/9999").status_code == 404


def test_receiving_stocks_in_each_sku_once_in_sku_order_as_every_other_stock_lock(stores, client, units, monkeypatch):
    from services.stores import services

    lines = [
        {"sku": "RICE-5KG", "quantity": 40, "unit_cost": "31.50"},
        {"sku": "OIL-5L", "quantity": 10, "unit_cost": "62.00"},
        {"sku": "RICE-5KG", "quantity": 2, "unit_cost": "31.50"},
    ]
    po = client.post("/internal/purchase-orders", json=purchase(lines=lines)).json["id"]
    client.post(f"/internal/purchase-orders/{po}/confirm")
    seen, real = [], services.stock_in
    monkeypatch.setattr(
        services, "stock_in", lambda uow, unit, sku, q: seen.append((sku, q)) or real(uow, unit, sku, q)
    )
    assert client.post(f"/internal/purchase-orders/{po}/receive").status_code == 200
    assert seen == [("OIL-5L", 10), ("RICE-5KG", 42)]


def test_a_draft_whose_delivery_day_has_passed_is_not_confirmed(stores, client, units, monkeypatch):
    from services.stores import purchasing

    po = client.post("/internal/purchase-orders", json=purchase()).json  # due in two days
    later = datetime.now(UTC) + timedelta(days=5)
    monkeypatch.setattr(purchasing, "now", lambda: later)
    response = client.post(f"/internal/purchase-orders/{po['id']}/confirm")
    assert response.status_code == 422 and list(response.json["error"]["fields"]) == ["deliver_by"]
    assert client.get(f"/internal/purchase-orders/{po['id']}").json["status"] == "draft"


def test_after_today_is_in_mall_time_not_utc(stores, client, units, monkeypatch):
    from services.stores import purchasing

    # 16:30 UTC on 25 November is 00:30 on the 26th in Shanghai: the 26th is today, not tomorrow.
    monkeypatch.setattr(purchasing, "now", lambda: datetime(2026, 11, 25, 16, 30, tzinfo=UTC))
    response = client.post("/internal/purchase-orders", json=purchase(deliver_by="2026-11-26"))
    assert response.status_code == 422 and list(response.json["error"]["fields"]) == ["deliver_by"]
    assert client.post("/internal/purchase-orders", json=purchase(deliver_by="2026-11-27")).status_code == 201


def test_one_order_brings_at_most_a_million_of_a_sku(client, units):
    lines = [{"sku": "RICE-5KG", "quantity": 600_000, "unit_cost": "1.00"}] * 2
    response = client.post("/internal/purchase-orders", json=purchase(lines=lines))
    assert response.status_code == 422 and list(response.json["error"]["fields"]) == ["lines"]
