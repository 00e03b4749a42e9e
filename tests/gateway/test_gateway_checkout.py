"""Checking a cart out: an order placed exactly as POST /api/orders places one, the lines bought leaving the cart
in the transaction that records the order, and only then; retries under one Idempotency-Key buy once."""

import time

import pytest
from gateway_helpers import ADDRESS, bearer, order_body

from shared.testing import payloads, sent

TEA = "TEA-LONGJING-250G"
RICE = "RICE-JASMINE-5KG"
OFFICE = ADDRESS | {"line": "88 Jinhu Road", "name": "Li Ming (office)"}


def put(client, token, sku, quantity):
    response = client.put(f"/api/cart/items/{sku}", json={"quantity": quantity}, headers=bearer(token))
    assert response.status_code == 200, response.json
    return response


def save(client, token, address, **extra):
    response = client.post("/api/addresses", json=address | extra, headers=bearer(token))
    assert response.status_code == 201, response.json
    return response.json


def checkout(client, token, body, key="li-ming-cart-1"):
    headers = bearer(token) | ({"Idempotency-Key": key} if key else {})
    return client.post("/api/cart/checkout", json=body, headers=headers)


def held(client, token):
    return [(line["sku"], line["quantity"]) for line in client.get("/api/cart", headers=bearer(token)).json["items"]]


def refs(gateway):
    from sqlalchemy import select

    from gateway.models import OrderRef

    with gateway.db.session() as session:
        return list(session.scalars(select(OrderRef.number)))


class Clock:
    """Monotonic seconds that move only when a test says so."""

    now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def shopper(client, customer, catalogue):
    """Li Ming with two products in the cart and a home address saved (the default)."""
    member_id, token = customer
    put(client, token, TEA, 2)
    put(client, token, RICE, 1)
    save(client, token, ADDRESS)
    return member_id, token


def test_the_cart_is_checked_out_to_the_default_address_as_one_order(client, shopper, gateway):
    member_id, token = shopper
    response = checkout(client, token, {"payment_method": "balance"})
    assert response.status_code == 202
    number = response.json["number"]
    assert response.json == {"number": number, "status": "placed"}
    [payload] = payloads(gateway, "orders.place_order")
    assert payload["number"] == number and payload["member_id"] == member_id
    assert payload["address"] == ADDRESS and payload["payment_method"] == "balance"
    assert [(line["sku"], line["quantity"], line["unit_price_cents"]) for line in payload["lines"]] == [
        (TEA, 2, 1250),
        (RICE, 1, 3990),
    ]
    assert held(client, token) == []
    assert refs(gateway) == [number]
    view = client.get(f"/api/orders/{number}", headers=bearer(token)).json
    assert view["status"] == "placed" and view["total"] == "64.90"


def test_the_order_is_priced_by_the_catalogue_at_checkout_not_when_put_in_the_cart(
    client, shopper, catalogue, inner, gateway, app
):
    _, token = shopper
    clock = app.extensions["products"].clock = Clock()
    clock.now = time.monotonic()  # the shopper fixture's lookups were kept on the real clock
    assert put(client, token, TEA, 2).json["price"] == "12.50"
    inner.products[catalogue["tea"]["id"]]["price"] = "13.00"
    clock.now += 60  # past the few seconds the gateway keeps a product
    assert checkout(client, token, {"payment_method": "balance"}).status_code == 202
    [payload] = payloads(gateway, "orders.place_order")
    assert [line["unit_price_cents"] for line in payload["lines"] if line["sku"] == TEA] == [1300]


def test_a_saved_address_or_a_new_one_may_be_named_instead_of_the_default(client, shopper, gateway):
    _, token = shopper
    office = save(client, token, OFFICE)
    by_id = {"address_id": office["id"], "payment_method": "cod", "skus": [TEA]}
    assert checkout(client, token, by_id).status_code == 202
    parents = ADDRESS | {"city": "Guilin", "lat": 25.27, "lon": 110.29}
    by_value = {"address": parents, "payment_method": "online"}
    assert checkout(client, token, by_value, key="li-ming-cart-2").status_code == 202
    first, second = payloads(gateway, "orders.place_order")
    assert first["address"] == OFFICE and first["payment_method"] == "cod"
    assert second["address"] == parents and second["payment_method"] == "online"


def test_only_the_skus_named_are_bought_and_the_rest_stay_in_the_cart(client, shopper, gateway):
    _, token = shopper
    assert checkout(client, token, {"payment_method": "balance", "skus": [RICE]}).status_code == 202
    [payload] = payloads(gateway, "orders.place_order")
    assert [line["sku"] for line in payload["lines"]] == [RICE]
    assert held(client, token) == [(TEA, 2)]


def test_the_same_key_and_body_again_return_the_same_order_and_buy_nothing_more(client, shopper, gateway):
    _, token = shopper
    first = checkout(client, token, {"payment_method": "balance"})
    put(client, token, TEA, 1)  # shopping goes on after the first checkout
    again = checkout(client, token, {"payment_method": "balance"})
    assert again.status_code == 202 and again.json == first.json
    assert len(sent(gateway, "orders.place_order")) == 1
    assert held(client, token) == [(TEA, 1)]


def test_a_retry_that_finds_the_cart_already_checked_out_gets_its_order(client, shopper, gateway, monkeypatch):
    """The first try committed after the retry's identity (and the order it placed under the key) was read."""
    from gateway import api

    _, token = shopper
    first = checkout(client, token, {"payment_method": "balance"})
    identify = api.current_identity
    monkeypatch.setattr(api, "current_identity", lambda key=None: (identify(key)[0], None))
    again = checkout(client, token, {"payment_method": "balance"})
    assert again.status_code == 202 and again.json == first.json
    assert len(sent(gateway, "orders.place_order")) == 1


def test_the_same_key_with_another_body_is_409_and_leaves_the_cart_alone(client, shopper, gateway):
    _, token = shopper
    checkout(client, token, {"payment_method": "balance", "skus": [RICE]})
    response = checkout(client, token, {"payment_method": "cod", "skus": [TEA]})
    assert response.status_code == 409 and response.json["error"]["code"] == "idempotency_key_reused"
    assert held(client, token) == [(TEA, 2)]
    assert len(sent(gateway, "orders.place_order")) == 1


def test_a_key_used_for_an_order_cannot_check_out_the_cart(client, shopper, gateway):
    _, token = shopper
    headers = bearer(token) | {"Idempotency-Key": "li-ming-1"}
    assert client.post("/api/orders", json=order_body((TEA, 1)), headers=headers).status_code == 202
    response = checkout(client, token, {"payment_method": "balance"}, key="li-ming-1")
    assert response.status_code == 409 and response.json["error"]["code"] == "idempotency_key_reused"
    assert held(client, token) == [(TEA, 2), (RICE, 1)]


@pytest.mark.parametrize("key", [None, "x" * 101, "\x01"])
def test_a_checkout_needs_a_good_idempotency_key(client, shopper, gateway, key):
    _, token = shopper
    response = checkout(client, token, {"payment_method": "balance"}, key=key)
    assert response.status_code == 422 and "Idempotency-Key" in response.json["error"]["fields"]
    assert held(client, token) == [(TEA, 2), (RICE, 1)] and sent(gateway) == []


def test_an_empty_cart_is_422(client, customer, catalogue, gateway):
    _, token = customer
    save(client, token, ADDRESS)
    response = checkout(client, token, {"payment_method": "balance"})
    assert response.status_code == 422 and response.json["error"]["code"] == "empty_cart"
    assert sent(gateway) == []


def test_without_an_address_or_a_default_one_it_is_422(client, customer, catalogue, gateway):
    _, token = customer
    put(client, token, TEA, 1)
    response = checkout(client, token, {"payment_method": "balance"})
    assert response.status_code == 422 and list(response.json["error"]["fields"]) == ["address"]
    assert held(client, token) == [(TEA, 1)] and sent(gateway) == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"payment_method": "credit"}, "payment_method"),
        ({}, "payment_method"),
        ({"payment_method": "balance", "address_id": 1, "address": ADDRESS}, "address"),
        ({"payment_method": "balance", "address_id": "1"}, "address_id"),
        ({"payment_method": "balance", "address": ADDRESS | {"lat": 95}}, "address.lat"),
        ({"payment_method": "balance", "skus": []}, "skus"),
        ({"payment_method": "balance", "skus": ["TEA-PUER-CAKE"]}, "skus.0"),
        ({"payment_method": "balance", "address_id": 999}, "address_id"),
    ],
)
def test_a_bad_checkout_is_422_naming_the_field_and_leaves_the_cart_alone(client, shopper, gateway, body, field):
    _, token = shopper
    response = checkout(client, token, body)
    assert response.status_code == 422
    assert response.json["error"]["code"] == "validation_error" and field in response.json["error"]["fields"]
    assert held(client, token) == [(TEA, 2), (RICE, 1)] and sent(gateway) == []


def test_another_members_address_cannot_be_delivered_to(client, shopper, make_customer, gateway):
    _, token = shopper
    _, wang = make_customer("wang_fang")
    theirs = save(client, wang, OFFICE)
    response = checkout(client, token, {"payment_method": "balance", "address_id": theirs["id"]})
    assert response.status_code == 422 and list(response.json["error"]["fields"]) == ["address_id"]
    assert sent(gateway) == []


def test_a_product_gone_from_the_catalogue_fails_the_checkout_and_keeps_the_cart(client, shopper, gateway):
    from gateway import cart_services

    member_id, token = shopper
    with gateway.db.session() as session, session.begin():
        cart_services.set_quantity(session, member_id, "TEA-DISCONTINUED", 1)
    response = checkout(client, token, {"payment_method": "balance"})
    assert response.status_code == 422 and response.json["error"]["code"] == "unknown_product"
    assert held(client, token) == [(TEA, 2), (RICE, 1), ("TEA-DISCONTINUED", 1)]
    assert sent(gateway) == [] and refs(gateway) == []


def test_when_the_orders_transaction_fails_the_cart_keeps_its_lines(client, shopper, gateway, monkeypatch):
    """The lines are removed in the transaction that records the order and its message: all of it or none."""
    from shared.messaging import UnitOfWork

    _, token = shopper

    def fail(self):
        raise RuntimeError("the database went away before the commit")

    monkeypatch.setattr(UnitOfWork, "finish", fail)
    assert checkout(client, token, {"payment_method": "balance"}).status_code == 500
    monkeypatch.undo()
    assert held(client, token) == [(TEA, 2), (RICE, 1)]
    assert sent(gateway) == [] and refs(gateway) == []


def test_a_cart_changed_during_the_checkout_is_409_and_nothing_is_bought(client, shopper, app, gateway, monkeypatch):
    from gateway import cart_services

    member_id, token = shopper
    products = app.extensions["products"]
    lookup = products.lookup

    def meanwhile(skus):  # another tab changes a quantity while the checkout prices the cart
        with gateway.db.session() as session, session.begin():
            cart_services.set_quantity(session, member_id, TEA, 3)
        return lookup(skus)

    monkeypatch.setattr(products, "lookup", meanwhile)
    response = checkout(client, token, {"payment_method": "balance"})
    assert response.status_code == 409 and response.json["error"]["code"] == "cart_changed"
    assert held(client, token) == [(TEA, 3), (RICE, 1)]
    assert sent(gateway) == [] and refs(gateway) == []


def test_only_customers_check_out(client, admin, catalogue):
    assert checkout(client, admin, {"payment_method": "balance"}).status_code == 403


def test_the_checkout_is_documented_with_its_required_key(client):
    document = client.get("/api/openapi.json").json
    operation = document["paths"]["/api/cart/checkout"]["post"]
    [key] = [p for p in operation["parameters"] if p["name"] == "Idempotency-Key"]
    assert key["required"] is True and {"202", "409", "422"} <= set(operation["responses"])
    ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert set(document["components"]["schemas"][ref]["properties"]) == {
        "address_id",
        "address",
        "payment_method",
        "skus",
    }
    [order_key] = [p for p in document["paths"]["/api/orders"]["post"]["parameters"] if p["name"] == "Idempotency-Key"]
    assert order_key["required"] is False
