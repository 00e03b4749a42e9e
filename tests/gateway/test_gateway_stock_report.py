"""Merchandisers' products by stock level: the catalogue's products joined with stores' stock per unit."""

from gateway_helpers import bearer

from gateway import catalogue_services

TEA = "TEA-LONGJING-250G"
RICE = "RICE-JASMINE-5KG"


def report(client, token, **query):
    response = client.get("/api/admin/reports/stock", query_string=query, headers=bearer(token))
    assert response.status_code == 200, response.json
    return response.json


def levels(found):
    return [(r["sku"], r["available"]) for r in found["items"]]


def test_products_are_listed_fewest_available_first_with_what_no_unit_holds_as_zero(client, admin, catalogue):
    found = report(client, admin)
    assert levels(found) == [(RICE, 0), (TEA, 5)]
    assert found["total"] == 2
    tea = found["items"][1]
    assert tea["units"] == [{"unit": "DS-TEA", "on_hand": 5, "reserved": 0, "available": 5}]
    assert tea["supplier"] == "Hangzhou Tea" and tea["price"] == "12.50"


def test_below_keeps_the_products_with_fewer_available_counting_what_is_reserved(client, admin, catalogue, inner):
    inner.reserved[("DS-TEA", TEA)] = 2
    assert levels(report(client, admin, below=4)) == [(RICE, 0), (TEA, 3)]
    assert levels(report(client, admin, below=3)) == [(RICE, 0)]
    tea = report(client, admin, below=4)["items"][1]
    assert (tea["on_hand"], tea["reserved"], tea["available"]) == (5, 2, 3)


def test_a_unit_sees_what_it_sells_and_only_its_own_stock(client, admin, catalogue, inner):
    inner.stock_in({"unit": "SM-GUOMAO", "sku": RICE, "quantity": 7})
    inner.stock_in({"unit": "SM-GUOMAO", "sku": TEA, "quantity": 1})  # stock of a product it does not sell
    assert levels(report(client, admin, unit="SM-GUOMAO")) == [(RICE, 7)]
    assert levels(report(client, admin, unit="DS-TEA")) == [(TEA, 5)]


def test_the_report_is_narrowed_by_manufacturer_supplier_and_status(client, admin, catalogue):
    assert levels(report(client, admin, manufacturer="wuchang")) == [(RICE, 0)]
    assert levels(report(client, admin, supplier="Hangzhou Tea")) == [(TEA, 5)]
    client.delete(f"/api/admin/products/{catalogue['tea']['id']}", headers=bearer(admin))
    assert levels(report(client, admin)) == [(RICE, 0)]
    assert levels(report(client, admin, status="withdrawn")) == [(TEA, 5)]


def test_the_report_is_paged(client, admin, catalogue):
    first = report(client, admin, per_page=1)
    second = report(client, admin, per_page=1, page=2)
    assert levels(first) == [(RICE, 0)] and levels(second) == [(TEA, 5)]
    assert first["total"] == second["total"] == 2


def test_every_page_of_the_catalogue_is_read(client, admin, catalogue, inner, monkeypatch):
    monkeypatch.setattr(catalogue_services, "CATALOGUE_PAGE", 1)
    monkeypatch.setattr(catalogue_services, "AVAILABILITY_BATCH", 1)
    assert levels(report(client, admin)) == [(RICE, 0), (TEA, 5)]
    assert inner.calls.count("catalog.search_products") == 2


def test_a_report_over_too_many_products_asks_to_be_narrowed(client, admin, catalogue, monkeypatch):
    monkeypatch.setattr(catalogue_services, "MAX_REPORT_PRODUCTS", 1)
    response = client.get("/api/admin/reports/stock", headers=bearer(admin))
    assert response.status_code == 422
    assert response.json["error"]["code"] == "report_too_large"


def test_a_unit_narrows_a_report_that_would_be_too_large(client, admin, catalogue, monkeypatch):
    monkeypatch.setattr(catalogue_services, "MAX_REPORT_PRODUCTS", 1)
    assert levels(report(client, admin, unit="DS-TEA")) == [(TEA, 5)]
    assert levels(report(client, admin, unit="SM-GUOMAO")) == [(RICE, 0)]


def test_a_report_query_that_is_not_valid_is_refused(client, admin, catalogue):
    for query in ({"below": "-1"}, {"below": "few"}, {"unit": "DS TEA"}, {"per_page": "0"}, {"status": "gone"}):
        response = client.get("/api/admin/reports/stock", query_string=query, headers=bearer(admin))
        assert response.status_code == 422, query
    unknown = client.get("/api/admin/reports/stock", query_string={"unit": "DS-NONE"}, headers=bearer(admin))
    assert unknown.status_code == 422 and unknown.json["error"]["fields"] == {"unit": ["No such unit."]}


def test_only_administrators_read_the_stock_report(client, make_account, catalogue):
    service = make_account("cs_li", "customer_service")
    assert client.get("/api/admin/reports/stock", headers=bearer(service)).status_code == 403


def test_stock_a_unit_cannot_sell_is_not_counted_in_the_totals(client, admin, catalogue, inner):
    inner.stock_in({"unit": "SM-GUOMAO", "sku": TEA, "quantity": 1})  # the branch does not sell the counter's tea
    tea = [r for r in report(client, admin)["items"] if r["sku"] == TEA][0]
    assert tea["available"] == 5 and [u["unit"] for u in tea["units"]] == ["DS-TEA"]
