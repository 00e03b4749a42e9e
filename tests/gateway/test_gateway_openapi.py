"""The OpenAPI document covers the whole app."""

import re


def test_the_openapi_document_lists_every_route_of_the_app(client, app):
    document = client.get("/api/openapi.json").json
    assert document["openapi"].startswith("3.")
    documented = {(path, method.upper()) for path, ops in document["paths"].items() for method in ops}
    routes = {
        (re.sub(r"<(?:[a-z]+(?:\([^)]*\))?:)?(\w+)>", r"{\1}", rule.rule), method)
        for rule in app.url_map.iter_rules()
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    assert routes <= documented
    assert ("/api/orders", "POST") in documented and ("/webhooks/kuaidi100", "POST") in documented


def test_the_order_request_is_described_with_its_fields(client):
    document = client.get("/api/openapi.json").json
    operation = document["paths"]["/api/orders"]["post"]
    ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    schema = document["components"]["schemas"][ref]
    assert set(schema["properties"]) == {"items", "address", "payment_method", "invoice"}
    assert set(schema["required"]) == {"items", "address", "payment_method"}  # API.md's; the invoice is optional
    assert "422" in operation["responses"] and operation["security"] == [{"bearer": []}]


def test_a_path_part_of_a_few_words_is_an_enum(client):
    document = client.get("/api/openapi.json").json
    operation = document["paths"]["/api/admin/purchase-orders/{order_id}/{action}"]["post"]
    [action] = [p for p in operation["parameters"] if p["name"] == "action"]
    assert action["schema"] == {"type": "string", "enum": ["confirm", "receive", "settle", "cancel"]}


def test_every_endpoint_says_what_it_takes_and_answers(app):
    from gateway.openapi import OPERATIONS

    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()} - {"static"}
    assert sorted(endpoints - set(OPERATIONS)) == []


def test_the_auction_routes_are_described(client):
    document = client.get("/api/openapi.json").json
    bid = document["paths"]["/api/auctions/{auction_id}/bids"]["post"]
    assert {"201", "404", "409", "422"} <= set(bid["responses"])
    assert any(p.get("name") == "Idempotency-Key" for p in bid["parameters"])
    assert "security" not in document["paths"]["/api/auctions"]["get"]
    assert document["paths"]["/api/auctions"]["post"]["security"] == [{"bearer": []}]
