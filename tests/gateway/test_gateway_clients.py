"""The real inner-services client: the paths of docs/internal-api.md, the service token, errors mapped."""

import json

import pytest

from shared.config import Settings
from shared.http import ServiceUnavailable
from shared.web import ApiError


class Answer:
    def __init__(self, status, body):
        self.status_code = status
        self.content = json.dumps(body).encode() if body is not None else b""
        self._body = body

    def json(self):
        return self._body


class Wire:
    """Stands in for the HTTP session: records each request, answers from a script."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.requests = []

    def request(self, method, url, json=None, params=None, headers=None, timeout=None):
        self.requests.append((method, url, json, params, headers))
        return self.answers.pop(0)


@pytest.fixture
def wire(monkeypatch):
    def install(*answers):
        fake = Wire(*answers)
        monkeypatch.setattr("shared.http._session", lambda: fake)
        return fake

    return install


@pytest.fixture
def services():
    from gateway.clients import InnerServices

    return InnerServices(Settings.from_env())


def test_an_order_lookup_calls_orders_with_the_service_token(wire, services):
    sent = wire(Answer(200, {"number": "M1", "member_id": 7}))
    assert services.get_order("M1") == {"number": "M1", "member_id": 7}
    method, url, _, _, headers = sent.requests[0]
    assert (method, url) == ("GET", Settings.from_env().service_url("orders") + "/internal/orders/M1")
    assert headers["X-Service-Token"] == Settings.from_env().service_token


def test_an_order_orders_does_not_know_is_none(wire, services):
    wire(Answer(404, {"error": {"code": "not_found", "message": "Order was not found."}}))
    assert services.get_order("M404") is None


def test_a_refusal_of_a_service_passes_through_with_its_code(wire, services):
    wire(Answer(409, {"error": {"code": "not_cancellable", "message": "Too late."}}))
    with pytest.raises(ApiError) as refused:
        services.cancel_order("M1", "changed my mind")
    assert (refused.value.status, refused.value.code) == (409, "not_cancellable")


def test_a_service_that_refuses_the_service_token_or_fails_is_unavailable(wire, services):
    wire(Answer(401, {"error": {"code": "unauthorized", "message": "No."}}), Answer(500, None))
    with pytest.raises(ServiceUnavailable):
        services.wallet(7)
    with pytest.raises(ServiceUnavailable):
        services.wallet(7)


def test_availability_asks_stores_once_for_every_sku(wire, services):
    sent = wire(Answer(200, {"items": []}))
    services.availability(["TEA-LONGJING-250G", "RICE-JASMINE-5KG"])
    _, url, _, params, _ = sent.requests[0]
    assert url.endswith("/internal/availability")
    assert params == [("sku", "TEA-LONGJING-250G"), ("sku", "RICE-JASMINE-5KG")]


def test_a_balance_adjustment_carries_its_idempotency_key(wire, services):
    sent = wire(Answer(200, {"member_id": 7, "balance": "100.00"}))
    services.adjust_wallet(7, "100.00", "top-up", "adj-1")
    _, url, body, _, _ = sent.requests[0]
    assert url == Settings.from_env().service_url("billing") + "/internal/wallets/7/adjust"
    assert body == {"delta": "100.00", "reason": "top-up", "idempotency_key": "adj-1"}


def test_which_orders_orders_has_is_one_call_with_every_number(wire, services):
    sent = wire(Answer(200, {"known": ["M1"]}))
    assert services.known_orders(["M1", "M2"]) == ["M1"]
    [(method, url, body, _, headers)] = sent.requests
    assert (method, url) == ("POST", Settings.from_env().service_url("orders") + "/internal/orders/known")
    assert body == {"numbers": ["M1", "M2"]}
    assert headers["X-Service-Token"] == Settings.from_env().service_token


def test_an_orders_service_that_does_not_answer_which_orders_it_has_is_unavailable(wire, services):
    wire(Answer(503, None))
    with pytest.raises(ServiceUnavailable):
        services.known_orders(["M1"])
