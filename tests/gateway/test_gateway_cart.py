"""A member's cart: SKUs and quantities kept by the gateway, priced from the catalogue whenever it is shown."""

import pytest
from gateway_helpers import bearer

TEA = "TEA-LONGJING-250G"
RICE = "RICE-JASMINE-5KG"


def put(client, token, sku, quantity):
    return client.put(f"/api/cart/items/{sku}", json={"quantity": quantity}, headers=bearer(token))


def cart(client, token):
    response = client.get("/api/cart", headers=bearer(token))
    assert response.status_code == 200, response.json
    return response.json


def held(client, token):
    return [(line["sku"], line["quantity"]) for line in cart(client, token)["items"]]


def test_an_empty_cart_is_shown_without_asking_the_catalogue(client, customer, catalogue, inner):
    _, token = customer
    assert cart(client, token) == {"items": [], "total": "0.00"}
    assert inner.calls == []


def test_products_put_in_the_cart_are_priced_from_the_catalogue_with_their_stock(client, customer, catalogue):
    _, token = customer
    response = put(client, token, TEA, 2)
    assert response.status_code == 200
    assert response.json == {
        "sku": TEA,
        "name": "Longjing green tea 250 g",
        "price": "12.50",
        "quantity": 2,
        "line_total": "25.00",
        "missing": False,
        "withdrawn": False,
    }
    put(client, token, RICE, 1)
    shown = cart(client, token)
    assert shown["items"] == [
        response.json | {"in_stock": True},
        {
            "sku": RICE,
            "name": "Jasmine rice 5 kg",
            "price": "39.90",
            "quantity": 1,
            "line_total": "39.90",
            "in_stock": False,
            "missing": False,
            "withdrawn": False,
        },
    ]
    assert shown["total"] == "64.90"


def test_putting_a_product_again_sets_its_quantity_and_keeps_its_place(client, customer, catalogue):
    _, token = customer
    put(client, token, TEA, 2)
    put(client, token, RICE, 1)
    assert put(client, token, TEA, 5).json["quantity"] == 5
    assert held(client, token) == [(TEA, 5), (RICE, 1)]


def test_changing_the_variant_is_taking_one_sku_out_and_putting_another_in(client, customer, catalogue):
    _, token = customer
    put(client, token, TEA, 2)
    assert client.delete(f"/api/cart/items/{TEA}", headers=bearer(token)).status_code == 204
    put(client, token, RICE, 2)
    assert held(client, token) == [(RICE, 2)]


def test_an_unknown_product_is_422_and_stays_out_of_the_cart(client, customer, catalogue):
    _, token = customer
    response = put(client, token, "TEA-PUER-CAKE", 1)
    assert response.status_code == 422
    assert response.json["error"]["code"] == "unknown_product" and list(response.json["error"]["fields"]) == ["sku"]
    assert held(client, token) == []


@pytest.mark.parametrize("quantity", [0, -1, 1.5, "2", True, None, 100_001])
def test_a_quantity_an_order_line_would_refuse_is_422(client, customer, catalogue, inner, quantity):
    _, token = customer
    response = put(client, token, TEA, quantity)
    assert response.status_code == 422
    assert response.json["error"]["code"] == "validation_error" and "quantity" in response.json["error"]["fields"]
    assert held(client, token) == []


def test_the_largest_quantity_of_an_order_line_is_accepted(client, customer, catalogue):
    _, token = customer
    assert put(client, token, TEA, 100_000).status_code == 200


def test_a_missing_quantity_or_a_sku_longer_than_any_is_422(client, customer, catalogue):
    _, token = customer
    response = client.put(f"/api/cart/items/{TEA}", json={}, headers=bearer(token))
    assert response.status_code == 422 and "quantity" in response.json["error"]["fields"]
    response = put(client, token, "T" * 65, 1)
    assert response.status_code == 422 and "sku" in response.json["error"]["fields"]


def test_a_cart_holds_at_most_its_cap_of_lines(client, customer, catalogue, monkeypatch):
    from gateway import cart_services

    monkeypatch.setattr(cart_services, "MAX_CART_LINES", 1)
    _, token = customer
    put(client, token, TEA, 1)
    response = put(client, token, RICE, 1)
    assert response.status_code == 409 and response.json["error"]["code"] == "cart_full"
    assert put(client, token, TEA, 3).status_code == 200  # a line already there may still change
    assert held(client, token) == [(TEA, 3)]


def test_the_cap_is_the_most_lines_an_order_may_have():
    from gateway import cart_services, schemas

    [length] = [v for v in schemas.OrderIn().fields["items"].validators if hasattr(v, "max")]
    assert cart_services.MAX_CART_LINES == length.max


def test_a_product_taken_out_is_gone_and_taking_it_out_again_is_404(client, customer, catalogue):
    _, token = customer
    put(client, token, TEA, 1)
    put(client, token, RICE, 1)
    assert client.delete(f"/api/cart/items/{TEA}", headers=bearer(token)).status_code == 204
    assert held(client, token) == [(RICE, 1)]
    for sku in (TEA, "NEVER-IN-IT", "T" * 65, "TEA%00"):
        response = client.delete(f"/api/cart/items/{sku}", headers=bearer(token))
        assert response.status_code == 404 and response.json["error"]["code"] == "not_found"


def test_emptying_the_cart_takes_every_line_out(client, customer, catalogue):
    _, token = customer
    put(client, token, TEA, 1)
    put(client, token, RICE, 1)
    assert client.delete("/api/cart", headers=bearer(token)).status_code == 204
    assert held(client, token) == []
    assert client.delete("/api/cart", headers=bearer(token)).status_code == 204


def test_a_product_the_catalogue_no_longer_has_is_flagged_not_counted(client, customer, catalogue, gateway):
    from gateway import cart_services

    member_id, token = customer
    put(client, token, TEA, 2)
    with gateway.db.session() as session, session.begin():  # put in when the catalogue still sold it
        cart_services.set_quantity(session, member_id, "TEA-DISCONTINUED", 3)
    shown = cart(client, token)
    assert shown["items"][1] == {
        "sku": "TEA-DISCONTINUED",
        "name": None,
        "price": None,
        "quantity": 3,
        "line_total": None,
        "in_stock": False,
        "missing": True,
        "withdrawn": False,
    }
    assert shown["total"] == "25.00"


def test_each_member_has_a_cart_of_their_own(client, make_customer, catalogue):
    _, li = make_customer("li_ming")
    _, wang = make_customer("wang_fang")
    put(client, li, TEA, 2)
    put(client, wang, RICE, 1)
    assert held(client, li) == [(TEA, 2)] and held(client, wang) == [(RICE, 1)]
    assert client.delete(f"/api/cart/items/{TEA}", headers=bearer(wang)).status_code == 404
    client.delete("/api/cart", headers=bearer(wang))
    assert held(client, li) == [(TEA, 2)]


def test_only_customers_have_a_cart(client, admin, make_account, catalogue):
    courier = make_account("wang_courier", "courier")
    assert client.get("/api/cart").status_code == 401
    for token in (admin, courier):
        assert client.get("/api/cart", headers=bearer(token)).status_code == 403
        assert put(client, token, TEA, 1).status_code == 403
        assert client.delete("/api/cart", headers=bearer(token)).status_code == 403
