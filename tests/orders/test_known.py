"""`POST /internal/orders/known`: which of these order numbers orders has (the gateway's deadline asks it)."""

import json

import pytest

from shared.testing import deliver, sent

ADDRESS = {
    "name": "Li Ming",
    "phone": "13800000000",
    "city": "Nanning",
    "line": "1 Minzu Ave",
    "lat": 22.8,
    "lon": 108.3,
}
TEA = {
    "sku": "TEA-LONGJING-250G",
    "name": "Longjing green tea 250 g",
    "quantity": 2,
    "unit_price_cents": 1250,
    "division": "department_store",
    "unit": "DS-TEA",
}


def place(orders, number):
    payload = {"number": number, "member_id": 7, "payment_method": "balance", "address": ADDRESS, "lines": [TEA]}
    assert deliver(orders, "orders.place_order", payload, correlation_id=number) == "handled"


def test_orders_answers_which_numbers_it_has_in_the_order_asked(orders, client):
    place(orders, "M20261124AAAAAA")
    place(orders, "M20261124BBBBBB")
    response = client.post(
        "/internal/orders/known", json={"numbers": ["M20261124BBBBBB", "M20261124ZZZZZZ", "M20261124AAAAAA"]}
    )
    assert response.status_code == 200
    assert response.json == {"known": ["M20261124BBBBBB", "M20261124AAAAAA"]}


def test_numbers_orders_does_not_have_are_simply_absent(orders, client):
    assert client.post("/internal/orders/known", json={"numbers": ["M20261124ZZZZZZ"]}).json == {"known": []}
    assert client.post("/internal/orders/known", json={"numbers": []}).json == {"known": []}


def test_a_number_asked_twice_is_answered_once(orders, client):
    place(orders, "M20261124AAAAAA")
    body = {"numbers": ["M20261124AAAAAA", "M20261124AAAAAA"]}
    assert client.post("/internal/orders/known", json=body).json == {"known": ["M20261124AAAAAA"]}


def test_five_hundred_numbers_are_one_question(orders, client):
    place(orders, "M20261124AAAAAA")
    numbers = [f"M{i:015d}" for i in range(499)] + ["M20261124AAAAAA"]
    assert client.post("/internal/orders/known", json={"numbers": numbers}).json == {"known": ["M20261124AAAAAA"]}


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "numbers"),
        ({"numbers": "M20261124AAAAAA"}, "numbers"),
        ({"numbers": [7]}, "numbers.0"),
        ({"numbers": [""]}, "numbers.0"),
        ({"numbers": ["M" * 33]}, "numbers.0"),
        ({"numbers": [f"M{i}" for i in range(501)]}, "numbers"),
        ({"numbers": [], "member_id": 7}, "member_id"),
    ],
)
def test_a_bad_question_is_422_naming_the_field(orders, client, body, field):
    response = client.post("/internal/orders/known", json=body)
    assert response.status_code == 422
    assert response.json["error"]["code"] == "validation_error"
    assert field in response.json["error"]["fields"]


def test_a_body_that_is_not_an_object_is_422(orders, client):
    assert client.post("/internal/orders/known", json=["M20261124AAAAAA"]).status_code == 422


def test_without_the_service_token_it_is_401(orders):
    from services.orders.app import create_app

    app = create_app({"TESTING": True})
    body = {"numbers": ["M20261124AAAAAA"]}
    assert app.test_client().post("/internal/orders/known", json=body).status_code == 401
    wrong = {"X-Service-Token": "not-the-token"}
    assert app.test_client().post("/internal/orders/known", json=body, headers=wrong).status_code == 401


class OrdersOverHttp:
    """The gateway's inner-services client, reduced to the one call, answered by the orders app itself."""

    def __init__(self, client):
        self.client = client

    def known_orders(self, numbers):
        response = self.client.post("/internal/orders/known", json={"numbers": numbers})
        assert response.status_code == 200, response.json
        return response.json["known"]


def test_an_order_the_broker_lost_reaches_orders_when_the_gateway_sends_it_again(orders, client, use_db):
    from gateway import services as gateway_services
    from gateway.config import runtime as gateway_runtime
    from gateway.models import OrderRef

    gateway = use_db(gateway_runtime)
    body = {"address": ADDRESS, "payment_method": "balance"}
    number, _ = gateway_services.place_order(gateway, 7, None, body, [TEA])
    [lost] = sent(gateway, "orders.place_order")  # never delivered: a worker died holding it
    with gateway.db.session() as session:
        due = session.get(OrderRef, number).confirm_by

    assert gateway_services.confirm_or_resend(gateway, OrdersOverHttp(client), due) == (0, 1)
    _, again = sent(gateway, "orders.place_order")
    assert orders.consume("orders.place_order", _envelope(again)) == "handled"
    assert client.get(f"/internal/orders/{number}").status_code == 200

    # The lost one turning up after all changes nothing: orders already has the number.
    checks = len(sent(orders, "stores.check_stock"))
    assert orders.consume("orders.place_order", _envelope(lost)) == "handled"
    assert len(sent(orders, "stores.check_stock")) == checks

    later = due + gateway_services.resend_wait(gateway.settings, 1)
    assert gateway_services.confirm_or_resend(gateway, OrdersOverHttp(client), later) == (1, 0)
    with gateway.db.session() as session:
        assert session.get(OrderRef, number).confirm_by is None


def _envelope(message):
    return json.loads(json.dumps({k: v for k, v in message.items() if not k.startswith("_")}))
