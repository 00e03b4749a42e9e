"""shared.web.load_body: every edge refuses text no database takes, and validates with one schema instance."""

import pytest
from flask import Blueprint, Flask, request
from marshmallow import Schema, fields, validate

from shared.web import ApiError, SafeJSON, bad_text, install_error_handlers, load_body, schema_instance

SURROGATE = "Text must be valid Unicode (no lone surrogates)."
NUL = "Text must not contain NUL characters."


class Line(Schema):
    sku = fields.String(required=True)
    quantity = fields.Integer(required=True)


class Basket(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=20))
    lines = fields.List(fields.Nested(Line), load_default=list)
    notes = fields.Dict(load_default=dict)


class Search(Schema):
    q = fields.String(load_default=None)


@pytest.fixture
def client():
    bp = Blueprint("web", __name__)

    @bp.post("/baskets")
    def baskets():
        return load_body(Basket)

    @bp.get("/search")
    def search():
        return load_body(Search, request.args.to_dict())

    app = Flask("web-test")
    app.json = SafeJSON(app)
    install_error_handlers(app)
    app.register_blueprint(bp)
    return app.test_client()


def post(client, text: str):
    """A raw JSON body: the test client's json= cannot carry a lone surrogate (it encodes to UTF-8 first)."""
    return client.post("/baskets", data=text.encode(), content_type="application/json")


def assert_refused(response, fields_):
    assert response.status_code == 422, response.json
    assert response.json == {
        "error": {"code": "validation_error", "message": "Some fields are not valid.", "fields": fields_}
    }


def test_a_normal_body_loads(client):
    response = post(client, '{"name": "Tea \u9f99\u4e95 \\ud83c\\udf75", "lines": [{"sku": "TEA-1", "quantity": 2}]}')
    assert response.status_code == 200
    assert response.json == {"name": "Tea 龙井 🍵", "lines": [{"sku": "TEA-1", "quantity": 2}], "notes": {}}


def test_a_lone_surrogate_in_a_value_is_422_naming_the_field(client):
    assert_refused(post(client, '{"name": "Tea\\ud800"}'), {"name": [SURROGATE]})


def test_a_lone_surrogate_in_a_nested_value_is_422_naming_the_place(client):
    body = '{"name": "Tea", "lines": [{"sku": "TEA-1", "quantity": 1}, {"sku": "\\udfff", "quantity": 1}]}'
    assert_refused(post(client, body), {"lines.1.sku": [SURROGATE]})


def test_a_lone_surrogate_in_a_key_is_422_naming_the_key_escaped(client):
    body = '{"name": "Tea", "notes": {"ok": "x", "k\\ud800": "x"}}'
    assert_refused(post(client, body), {"notes.k\\ud800": [SURROGATE]})
    assert_refused(post(client, '{"\\ud800": 1, "name": "Tea"}'), {"\\ud800": [SURROGATE]})


def test_a_nul_character_is_422_too(client):
    assert_refused(post(client, '{"name": "Tea\\u0000"}'), {"name": [NUL]})


def test_the_text_check_comes_before_the_schema(client):
    # A name too long for the schema and a surrogate: the surrogate is the answer, nothing reaches the schema.
    assert_refused(post(client, '{"name": "' + "x" * 50 + '\\ud800"}'), {"name": [SURROGATE]})


def test_a_lone_surrogate_in_query_data_is_422(client):
    app = client.application
    with app.test_request_context("/search"):
        with pytest.raises(ApiError) as caught:
            load_body(Search, {"q": "tea\ud800"})
    error = caught.value
    assert (error.status, error.code, error.fields) == (422, "validation_error", {"q": [SURROGATE]})


def test_a_nul_character_in_a_query_string_is_422(client):
    assert_refused(client.get("/search?q=tea%00"), {"q": [NUL]})
    assert client.get("/search?q=tea").json == {"q": "tea"}


def test_a_body_that_is_not_an_object_is_422_before_any_text_check(client):
    response = post(client, '["\\ud800"]')
    assert response.status_code == 422
    assert response.json["error"]["message"] == "The request body must be a JSON object."


def test_bad_text_deep_down_is_found_without_recursion():
    value: list = ["fine"]
    for _ in range(10_000):
        value = [value]
    assert bad_text(value) is None
    value = {"a": value + ["\ud800"]}
    where, reason = bad_text(value)
    assert where == "a.1" and reason == SURROGATE


def test_the_cached_schema_instance_is_one_object():
    first = schema_instance(Basket)
    assert isinstance(first, Basket)
    assert schema_instance(Basket) is first
    assert schema_instance(Search) is not first


def test_load_body_validates_with_the_cached_instance(client, monkeypatch):
    loads = []
    original = Basket.load

    def spy(self, *args, **kwargs):
        loads.append(self)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Basket, "load", spy)
    post(client, '{"name": "Tea"}')
    post(client, '{"name": "Coffee"}')
    assert loads == [schema_instance(Basket), schema_instance(Basket)]
    assert loads[0] is loads[1]
