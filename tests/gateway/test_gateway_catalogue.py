"""Administrators' catalogue work through the gateway: changing, withdrawing and restoring products, categories,
manufacturers and suppliers, and what each does to the order path, the cart and the storefront."""

import pytest
from gateway_helpers import bearer, order_body

from gateway.clients import ProductCache
from shared.testing import payloads

TEA = "TEA-LONGJING-250G"
RICE = "RICE-JASMINE-5KG"


def log_of(client, root, action):
    return client.get("/api/admin/log", query_string={"action": action}, headers=bearer(root)).json["items"]


def place(client, token, *items):
    return client.post("/api/orders", json=order_body(*items), headers=bearer(token))


def prices_sent(gateway):
    return [line["unit_price_cents"] for p in payloads(gateway, "orders.place_order") for line in p["lines"]]


# --- changing a product ---------------------------------------------------------------------------


def test_a_price_change_is_logged_with_the_price_before_and_after(client, admin, root, catalogue, inner):
    tea = catalogue["tea"]
    response = client.patch(f"/api/admin/products/{tea['id']}", json={"price": "11.8"}, headers=bearer(admin))
    assert response.status_code == 200, response.json
    assert response.json["price"] == "11.80"
    assert response.json["changed"] == {"price": ["12.50", "11.80"]}
    [entry] = log_of(client, root, "product.change")
    assert entry["actor"] == "zhao_admin" and entry["target"] == f"product:{TEA}"
    assert entry["detail"] == {"id": tea["id"], "changed": {"price": ["12.50", "11.80"]}}


def test_the_next_order_is_priced_at_the_new_price_and_the_one_before_keeps_its_own(
    client, admin, customer, catalogue, inner, gateway
):
    _, token = customer
    assert place(client, token, (TEA, 1)).status_code == 202  # the old price is now in the product cache
    client.patch(f"/api/admin/products/{catalogue['tea']['id']}", json={"price": "9.90"}, headers=bearer(admin))
    assert place(client, token, (TEA, 1)).status_code == 202
    assert prices_sent(gateway) == [1250, 990]
    assert inner.calls.count("catalog.lookup_products") == 2  # the change made this process ask again


def test_sku_division_and_unit_are_not_changed(client, admin, root, catalogue, inner):
    tea = catalogue["tea"]
    response = client.patch(
        f"/api/admin/products/{tea['id']}", json={"sku": "TEA-OTHER", "price": "1.00"}, headers=bearer(admin)
    )
    assert response.status_code == 422
    assert list(response.json["error"]["fields"]) == ["sku"]
    assert inner.products[tea["id"]]["price"] == "12.50"
    assert log_of(client, root, "product.change") == []


@pytest.mark.parametrize(
    "body",
    [{}, {"price": "0.00"}, {"price": 9.9}, {"price": "1e3"}, {"name": ""}, {"unit": "DS TEA"}, {"colour": "red"}],
)
def test_a_change_that_is_not_valid_is_refused_before_the_catalogue_is_asked(client, admin, catalogue, inner, body):
    response = client.patch(f"/api/admin/products/{catalogue['tea']['id']}", json=body, headers=bearer(admin))
    assert response.status_code == 422
    assert response.json["error"]["code"] == "validation_error"
    assert inner.calls == []


def test_only_administrators_change_products(client, customer, make_account, catalogue):
    _, token = customer
    service = make_account("cs_li", "customer_service")
    for who in (token, service):
        response = client.patch(f"/api/admin/products/{catalogue['tea']['id']}", json={"price": "1.00"},
                                headers=bearer(who))  # fmt: skip
        assert response.status_code == 403
    assert client.patch(f"/api/admin/products/{catalogue['tea']['id']}", json={"price": "1.00"}).status_code == 401


def test_an_unknown_product_is_not_found(client, admin, catalogue):
    assert client.patch("/api/admin/products/999", json={"price": "1.00"}, headers=bearer(admin)).status_code == 404
    assert client.delete("/api/admin/products/999", headers=bearer(admin)).status_code == 404
    assert client.post("/api/admin/products/999/restore", headers=bearer(admin)).status_code == 404
    too_large = client.patch(f"/api/admin/products/{2**40}", json={"price": "1.00"}, headers=bearer(admin))
    assert too_large.status_code == 404


# --- withdrawing a product ------------------------------------------------------------------------


def test_a_withdrawn_product_cannot_be_ordered_even_just_after_it_was_cached(
    client, admin, root, customer, catalogue, gateway
):
    _, token = customer
    assert place(client, token, (TEA, 1)).status_code == 202
    withdrawn = client.delete(f"/api/admin/products/{catalogue['tea']['id']}", headers=bearer(admin))
    assert withdrawn.status_code == 200
    assert withdrawn.json["on_sale"] is False and withdrawn.json["withdrawn_at"]

    response = place(client, token, (RICE, 1), (TEA, 2))
    assert response.status_code == 422
    assert response.json["error"]["code"] == "product_withdrawn"
    assert response.json["error"]["fields"] == {"items.1.sku": ["This product is withdrawn from sale."]}
    assert len(payloads(gateway, "orders.place_order")) == 1
    [entry] = log_of(client, root, "product.withdraw")
    assert entry["target"] == f"product:{TEA}"


def test_a_withdrawn_product_keeps_its_page_and_reviews_but_leaves_search(client, admin, catalogue):
    tea = catalogue["tea"]
    client.delete(f"/api/admin/products/{tea['id']}", headers=bearer(admin))
    page = client.get(f"/api/products/{tea['id']}")
    assert page.status_code == 200
    assert page.json["on_sale"] is False
    assert page.json["in_stock"] is False and page.json["availability"]["available"] == 5
    assert client.get(f"/api/products/{tea['id']}/reviews").status_code == 200
    assert [p["sku"] for p in client.get("/api/products").json["items"]] == [RICE]


def test_a_withdrawn_product_cannot_be_put_in_a_cart_and_one_already_there_is_not_counted(
    client, admin, customer, catalogue
):
    _, token = customer
    client.put(f"/api/cart/items/{TEA}", json={"quantity": 2}, headers=bearer(token))
    client.put(f"/api/cart/items/{RICE}", json={"quantity": 1}, headers=bearer(token))
    client.delete(f"/api/admin/products/{catalogue['tea']['id']}", headers=bearer(admin))

    cart = client.get("/api/cart", headers=bearer(token)).json
    assert [(i["sku"], i["withdrawn"], i["in_stock"]) for i in cart["items"]] == [
        (TEA, True, False),
        (RICE, False, False),
    ]
    assert cart["total"] == "39.90"
    response = client.put(f"/api/cart/items/{TEA}", json={"quantity": 3}, headers=bearer(token))
    assert response.status_code == 422
    assert response.json["error"]["code"] == "product_withdrawn"


def test_a_product_put_back_on_sale_can_be_ordered_again(client, admin, root, customer, catalogue):
    _, token = customer
    tea = catalogue["tea"]
    client.delete(f"/api/admin/products/{tea['id']}", headers=bearer(admin))
    assert place(client, token, (TEA, 1)).status_code == 422
    restored = client.post(f"/api/admin/products/{tea['id']}/restore", headers=bearer(admin))
    assert restored.status_code == 200 and restored.json["on_sale"] is True
    assert place(client, token, (TEA, 1)).status_code == 202
    assert [e["target"] for e in log_of(client, root, "product.restore")] == [f"product:{TEA}"]


def test_a_lookup_under_way_when_a_product_changes_keeps_nothing():
    """The answer of a lookup that was asking while a product was forgotten may predate the change."""

    class Catalogue:
        def __init__(self):
            self.price = "12.50"
            self.cache = None

        def lookup_products(self, skus):
            answer = {"items": [{"sku": TEA, "price": self.price}], "missing": []}
            self.price = "9.90"  # an administrator changes it while this answer is on its way back ...
            self.cache.forget([TEA])  # ... and their gateway process forgets the product
            return answer

    catalogue = Catalogue()
    cache = catalogue.cache = ProductCache(catalogue, seconds=5.0)
    assert cache.lookup([TEA])[TEA]["price"] == "12.50"
    assert cache.lookup([TEA])[TEA]["price"] == "9.90"  # asked again, not the older answer kept


# --- categories, manufacturers, suppliers ---------------------------------------------------------


def test_an_administrator_adds_a_category_the_storefront_then_lists(client, admin, root, catalogue):
    response = client.post("/api/admin/categories", json={"name": " Tea sets "}, headers=bearer(admin))
    assert response.status_code == 201
    assert response.json["name"] == "Tea sets" and response.json["products"] == 0
    listed = client.get("/api/categories").json["items"]
    assert sorted((c["name"], c["products"]) for c in listed) == [("Grocery", 1), ("Tea", 1), ("Tea sets", 0)]
    assert all(set(c) == {"id", "name", "products"} for c in listed)
    assert [e["detail"] for e in log_of(client, root, "category.create")] == [{"name": "Tea sets"}]


def test_a_category_taken_or_not_valid_is_refused(client, admin, catalogue):
    taken = client.post("/api/admin/categories", json={"name": "tea"}, headers=bearer(admin))
    assert taken.status_code == 409 and taken.json["error"]["code"] == "category_exists"
    for body in ({}, {"name": ""}, {"name": "x" * 65}, {"name": 7}):
        assert client.post("/api/admin/categories", json=body, headers=bearer(admin)).status_code == 422


def test_only_an_empty_category_is_removed(client, admin, root, catalogue):
    empty = client.post("/api/admin/categories", json={"name": "Radios"}, headers=bearer(admin)).json
    assert client.delete(f"/api/admin/categories/{empty['id']}", headers=bearer(admin)).status_code == 204
    tea = next(
        c for c in client.get("/api/admin/categories", headers=bearer(admin)).json["items"] if c["name"] == "Tea"
    )
    in_use = client.delete(f"/api/admin/categories/{tea['id']}", headers=bearer(admin))
    assert in_use.status_code == 409 and in_use.json["error"]["code"] == "category_in_use"
    assert client.delete(f"/api/admin/categories/{empty['id']}", headers=bearer(admin)).status_code == 404
    assert [e["target"] for e in log_of(client, root, "category.delete")] == [f"category:{empty['id']}"]


def test_manufacturers_and_suppliers_are_listed_with_their_products(client, admin, catalogue):
    client.delete(f"/api/admin/products/{catalogue['rice']['id']}", headers=bearer(admin))
    makers = client.get("/api/admin/manufacturers", headers=bearer(admin)).json["items"]
    assert [(m["name"], m["products"], m["withdrawn"]) for m in makers] == [("West Lake", 1, 0), ("Wuchang", 0, 1)]
    suppliers = client.get("/api/admin/suppliers", headers=bearer(admin)).json["items"]
    assert [s["name"] for s in suppliers] == ["Hangzhou Tea", "Northeast Grain"]


def test_merchandisers_list_products_by_supplier_and_status(client, admin, catalogue):
    client.delete(f"/api/admin/products/{catalogue['rice']['id']}", headers=bearer(admin))

    def skus(**query):
        response = client.get("/api/admin/products", query_string=query, headers=bearer(admin))
        assert response.status_code == 200, response.json
        return [p["sku"] for p in response.json["items"]]

    assert skus() == [TEA, RICE]  # withdrawn ones too, by default
    assert skus(supplier="northeast grain") == [RICE]
    assert skus(status="on_sale") == [TEA]
    assert skus(status="withdrawn", manufacturer="West Lake") == []
    bad = client.get("/api/admin/products", query_string={"status": "deleted"}, headers=bearer(admin))
    assert bad.status_code == 422


def test_reading_the_catalogue_lists_needs_an_administrator(client, customer, catalogue):
    _, token = customer
    for path in ("/api/admin/products", "/api/admin/categories", "/api/admin/manufacturers", "/api/admin/suppliers"):
        assert client.get(path, headers=bearer(token)).status_code == 403
        assert client.get(path).status_code == 401
