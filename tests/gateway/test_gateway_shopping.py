"""Browsing the catalogue, the wallet, and inner services that do not answer."""

from gateway_helpers import bearer


def test_a_visitor_searches_products_and_sees_what_is_in_stock(client, catalogue, inner):
    response = client.get("/api/products", query_string={"sort": "price", "page": 1, "per_page": 10})
    assert response.status_code == 200
    by_sku = {item["sku"]: item for item in response.json["items"]}
    assert by_sku["TEA-LONGJING-250G"] == {
        "id": catalogue["tea"]["id"],
        "sku": "TEA-LONGJING-250G",
        "name": "Longjing green tea 250 g",
        "price": "12.50",
        "category": "Tea",
        "manufacturer": "West Lake",
        "in_stock": True,
    }
    assert by_sku["RICE-JASMINE-5KG"]["in_stock"] is False
    assert (response.json["total"], response.json["page"], response.json["per_page"]) == (2, 1, 10)
    assert inner.calls == ["catalog.search_products", "stores.availability"]


def test_price_bounds_reach_the_catalogue_as_money(client, catalogue, inner, monkeypatch):
    seen = []
    original = inner.search_products
    monkeypatch.setattr(inner, "search_products", lambda params: seen.append(params) or original(params))
    client.get("/api/products", query_string={"min_price": "10", "max_price": "20.5", "category": "Tea"})
    assert seen[0] | {} == {"min_price": "10.00", "max_price": "20.50", "category": "Tea", "page": 1, "per_page": 20}


def test_bad_search_values_are_422_not_500(client, catalogue):
    response = client.get(
        "/api/products", query_string={"per_page": 0, "page": "first", "min_price": "cheap", "sort": "cheapest"}
    )
    assert response.status_code == 422
    assert set(response.json["error"]["fields"]) == {"per_page", "page", "min_price", "sort"}


def test_a_minimum_price_above_the_maximum_is_422(client, catalogue):
    response = client.get("/api/products", query_string={"min_price": "50.00", "max_price": "10.00"})
    assert response.status_code == 422
    assert "min_price" in response.json["error"]["fields"]


def test_a_product_page_shows_availability_per_unit_and_counts_a_view(client, catalogue, inner):
    tea_id = catalogue["tea"]["id"]
    response = client.get(f"/api/products/{tea_id}")
    assert response.status_code == 200
    assert response.json["sku"] == "TEA-LONGJING-250G"
    assert response.json["availability"] == {
        "in_stock": True,
        "available": 5,
        "units": [{"unit": "DS-TEA", "available": 5}],
    }
    assert inner.products[tea_id]["views"] == 1


def test_an_unknown_product_is_404(client, catalogue):
    response = client.get("/api/products/4242")
    assert response.status_code == 404
    assert response.json["error"]["code"] == "not_found"


def test_a_customer_sees_the_wallet_balance(client, customer, inner):
    member_id, token = customer
    inner.wallets[member_id] = 12345
    assert client.get("/api/wallet", headers=bearer(token)).json == {"balance": "123.45"}


def test_a_service_that_does_not_answer_is_503_not_500(client, catalogue, inner):
    inner.down.add("catalog")
    response = client.get("/api/products")
    assert response.status_code == 503
    assert response.json["error"]["code"] == "service_unavailable"


def test_health_is_200_only_when_every_service_is_up(client, inner):
    response = client.get("/api/health")
    assert response.status_code == 200
    assert response.json["status"] == "ok"
    assert set(response.json["services"]) == {"gateway", "catalog", "orders", "stores", "logistics", "billing"}
    inner.down.add("stores")
    response = client.get("/api/health")
    assert response.status_code == 503
    assert response.json["down"] == ["stores"]
    assert response.json["error"]["code"] == "service_unavailable"


def test_an_unknown_path_is_404_in_the_error_shape(client):
    response = client.get("/api/no-such-thing")
    assert response.status_code == 404
    assert set(response.json["error"]) >= {"code", "message"}


def test_an_id_too_large_for_the_database_is_404_not_500(client, admin):
    assert client.get("/api/products/99999999999999999999").status_code == 404
    response = client.post(
        "/api/admin/members/99999999999999999999/balance", json={"delta": "1.00", "reason": "x"}, headers=bearer(admin)
    )
    assert response.status_code == 404


def test_text_with_a_nul_character_is_422_not_500(client):
    response = client.post("/api/auth/login", json={"username": "li\x00ming", "password": "Jasmine-Tea-88"})
    assert response.status_code == 422
    assert client.get("/api/products", query_string={"q": "tea\x00"}).status_code == 422
