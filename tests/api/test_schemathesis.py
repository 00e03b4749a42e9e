"""Schemathesis against the running mall: every operation of `/api/openapi.json`, fuzzed, never answers 5xx.

The schema is loaded from the live gateway, so the published document is what gets tested. Each operation is
called with a real bearer token of a role that may use it (the document's `x-roles`), so requests get past
401 and reach validation and the use cases; the partner webhooks are signed, so their payloads get parsed.
A second test calls every protected operation without a (valid) token. Bounded for CI: a fixed seed and a
handful of fuzzed examples per operation, on top of schemathesis' coverage cases.

Every 4xx must carry API.md's error shape, except the partner webhooks, which answer in the partner's format.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from mall.partners import AlipaySigner
from shared.config import Settings

pytestmark = [
    pytest.mark.e2e,
    # schemathesis reports, for instance, that negative cases may not be rejected; its advice is not a failure.
    pytest.mark.filterwarnings("ignore::UserWarning"),
]

SEED = 20261124
#: Fuzzed examples per operation (the coverage phase adds the schema's boundary cases on top).
MAX_EXAMPLES = int(os.environ.get("MALL_API_FUZZ_EXAMPLES", "12"))
PARTNER_PATHS = ("/webhooks/",)
SNAKE_CASE = re.compile(r"^[a-z][a-z0-9_]*$")
EXAMPLE_SKU = "TEA-LONGJING-250G"
EXAMPLE_UNIT = {"code": "DS-TEA", "name": "Tea counter", "kind": "counter", "division": "department_store",
                "city": "Nanning", "lat": 22.817, "lon": 108.324, "auto_pack": True}  # fmt: skip


def _config(phases: list[str]) -> schemathesis.Config:
    return schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "phases": {name: {"enabled": name in phases} for name in ("examples", "coverage", "fuzzing", "stateful")},
        }
    )


@pytest.fixture(scope="package")
def api_schema(mall):
    """The live document, every phase that runs per operation (examples, coverage, fuzzing)."""
    return schemathesis.openapi.from_url(
        mall.base + "/api/openapi.json", config=_config(["examples", "coverage", "fuzzing"])
    )


@pytest.fixture(scope="package")
def tokens(mall) -> dict[str, str]:
    """A logged-in caller of every role, and a little world (a unit, a stocked product, an order) to find."""
    suffix = uuid.uuid4().hex[:6].upper()
    unit = mall.unit(f"API-{suffix}")
    sku = f"API-{suffix}-TEA"
    mall.product(sku, "12.50", unit)
    mall.stock_in(unit, sku, 50)
    customer, _ = mall.customer()
    status, placed = mall.place(customer, [(sku, 1)])
    assert status == 202, placed
    # The document's example order buys this product: its examples then reach the order saga.
    mall.call("POST", "/api/admin/units", EXAMPLE_UNIT, mall.admin)
    example = {"sku": EXAMPLE_SKU, "price": "12.50", "category": "Tea", "manufacturer": "Xihu", "supplier": "Xihu"}
    mall.call("POST", "/api/admin/products", example | {"name": "Longjing 250 g", "division": "department_store",
                                                          "unit": EXAMPLE_UNIT["code"]}, mall.admin)  # fmt: skip
    mall.stock_in(EXAMPLE_UNIT["code"], EXAMPLE_SKU, 1000)
    return {
        "superadmin": mall.admin,
        "admin": mall.staff("admin"),
        "customer": customer,
        "staff": mall.staff("staff", unit),
        "courier": mall.staff("courier"),
        "customer_service": mall.staff("customer_service"),
        "finance": mall.staff("finance"),
    }


@pytest.fixture(autouse=True)
def _pytest9_node_id(request):
    """schemathesis 4.32's lazy schemas rename the node through `_nodeid`, which pytest 9.2 no longer has."""
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid


def token_for(case: schemathesis.Case, tokens: dict[str, str]) -> str | None:
    """The first role the operation names (an administrator's operation: the super administrator's token)."""
    definition = case.operation.definition.raw
    if "security" not in definition:
        return None
    roles = definition.get("x-roles") or ["customer"]
    role = "superadmin" if roles[0] == "admin" else roles[0]
    return tokens[role]


def send(case: schemathesis.Case, mall) -> Any:
    """Make the call; the partner webhooks carry a good signature, so their payloads get parsed."""
    path = case.operation.path
    if path == "/webhooks/kuaidi100" and isinstance(case.body, dict) and isinstance(case.body.get("param"), str):
        salt = mall.env.get("MALL_KUAIDI100_SALT") or Settings.kuaidi100_salt
        case.body = {**case.body, "sign": hashlib.md5((case.body["param"] + salt).encode()).hexdigest().upper()}
    form = case.body if isinstance(case.body, dict) else {}
    if path == "/webhooks/alipay" and form and all(isinstance(v, str) for v in form.values()):
        signer = AlipaySigner.in_folder(Path(mall.env["MALL_VAR_DIR"]))
        case.body = signer.sign({k: v for k, v in case.body.items() if k not in ("sign", "sign_type")})
    if path != "/webhooks/aftership":
        return case.call(timeout=30)
    kwargs = case.as_transport_kwargs()
    headers = kwargs.setdefault("headers", {})
    if "json" in kwargs:
        kwargs["data"] = json.dumps(kwargs.pop("json")).encode()
        headers["Content-Type"] = "application/json"
    raw = kwargs.get("data") or b""
    kwargs["data"] = raw = raw.encode() if isinstance(raw, str) else raw
    secret = mall.env.get("MALL_AFTERSHIP_SECRET") or Settings.aftership_secret
    headers["aftership-hmac-sha256"] = base64.b64encode(
        hmac.new(secret.encode(), raw, hashlib.sha256).digest()
    ).decode()
    return requests.request(**kwargs, timeout=30)


def error_shape(ctx, response, case) -> None:
    """A 4xx answers `{"error": {"code": "<snake_case>", "message": "...", "fields"?: {name: [str]}}}`."""
    body = response.text
    assert "Traceback (most recent call last)" not in body, "a stack trace leaked into the response"
    if not 400 <= response.status_code < 500 or case.operation.path.startswith(PARTNER_PATHS):
        return
    try:
        payload: Any = response.json()
    except ValueError:
        raise AssertionError(f"{response.status_code} body is not JSON: {body[:300]!r}") from None
    assert isinstance(payload, dict) and isinstance(payload.get("error"), dict), f"not the error shape: {body[:300]}"
    error = payload["error"]
    assert isinstance(error.get("code"), str) and SNAKE_CASE.match(error["code"]), f"bad error.code: {body[:300]}"
    assert isinstance(error.get("message"), str) and error["message"], f"bad error.message: {body[:300]}"
    if "fields" in error:
        fields = error["fields"]
        assert isinstance(fields, dict), f"error.fields is not an object: {body[:300]}"
        for name, reasons in fields.items():
            assert isinstance(reasons, list) and all(isinstance(r, str) for r in reasons), f"error.fields.{name}"


BOUNDED = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)

schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@BOUNDED
def test_no_request_gets_a_server_error(case, tokens, mall):
    token = token_for(case, tokens)
    if token is not None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {token}"}
    response = send(case, mall)
    case.validate_response(response, checks=[not_a_server_error, error_shape])


def test_without_a_token_nothing_protected_gets_through(api_schema, mall):
    """Every operation that needs a token, called without one (and with a forged one): 401 in the error shape."""
    checked = 0
    for path, operations in api_schema.raw_schema["paths"].items():
        for method, definition in operations.items():
            if "security" not in definition:
                continue
            # A path part that is one of a few words takes the first; any other, 1.
            words = {
                p["name"]: p["schema"]["enum"][0]
                for p in definition.get("parameters", [])
                if p.get("in") == "path" and "enum" in p.get("schema", {})
            }
            url = mall.base + re.sub(r"\{([^}]+)\}", lambda m, words=words: words.get(m[1], "1"), path)
            for headers in ({}, {"Authorization": "Bearer not.a.token"}, {"Authorization": "Basic YTpi"}):
                response = requests.request(method, url, json={}, headers=headers, timeout=30)
                assert response.status_code == 401, f"{method.upper()} {path} {headers} -> {response.status_code}"
                error = response.json()["error"]
                assert SNAKE_CASE.match(error["code"]) and error["message"], response.text
                checked += 1
    assert checked >= 3 * 20, "the document lists fewer protected operations than the mall has"


DEEP = "[" * 100_000
UNIT = {"code": "EDGE-1", "name": "Edge", "kind": "counter", "division": "supermarket", "city": "X", "lat": 1, "lon": 1}
PRODUCT = {"sku": "EDGE-1", "name": "Edge", "category": "c", "manufacturer": "m", "supplier": "s"}
PRODUCT |= {"division": "supermarket"}
#: Inputs that once made the gateway answer 500 or 503: (method, path, JSON text or query, expected status).
EDGE_CASES = [
    ("POST", "/api/admin/products", json.dumps(PRODUCT | {"price": "1e100"}), 422),
    ("POST", "/api/admin/products", json.dumps(PRODUCT | {"price": "9" * 60}), 422),
    ("POST", "/api/admin/products", json.dumps(PRODUCT | {"price": 10**40}), 422),
    ("POST", "/api/admin/members/1/balance", json.dumps({"delta": "-1E+999999", "reason": "x"}), 422),
    ("GET", "/api/products", {"min_price": "1e100"}, 422),
    ("POST", "/api/auth/login", DEEP, 400),
    ("POST", "/api/admin/units", '{"code": [' + "[" * 900 + "]" * 900 + "]}", 422),
    ("POST", "/api/auth/login", '{"username": "li\\ud800", "password": "Jasmine-Tea-88"}', 422),
    ("POST", "/api/admin/units", json.dumps(UNIT | {"name": "\ud800"}), 422),
    ("POST", "/api/admin/units", json.dumps(UNIT | {"name": "a\x00b"}), 422),
    ("POST", "/api/admin/staff", json.dumps({"username": "edge_cs", "password": "Edge-Pass-123",
                                             "role": "courier", "email": "a" * 300 + "@example.com"}), 422),
]  # fmt: skip


@pytest.mark.parametrize(("method", "path", "payload", "status"), EDGE_CASES)
def test_edge_inputs_get_a_4xx_in_the_error_shape(tokens, mall, method, path, payload, status):
    headers = {"Authorization": f"Bearer {tokens['superadmin']}", "Content-Type": "application/json"}
    if isinstance(payload, dict):
        response = requests.request(method, mall.base + path, params=payload, headers=headers, timeout=30)
    else:
        data = payload.encode("utf-8", "surrogatepass")
        response = requests.request(method, mall.base + path, data=data, headers=headers, timeout=30)
    assert response.status_code == status, response.text[:300]
    assert SNAKE_CASE.match(response.json()["error"]["code"]), response.text[:300]


@pytest.mark.parametrize(
    "param",
    [
        DEEP,
        '{"lastResult": {"state": 1, "nu": "X\\ud800", "data": []}}',
        '{"lastResult": {"state": Infinity, "nu": "X", "data": []}}',
        '{"lastResult": {"state": 1, "nu": "X", "data": [{"context": "\\u0000", "time": "2026-11-24 10:00:00"}]}}',
    ],
)
def test_a_signed_but_broken_kuaidi100_push_gets_a_4xx(mall, param):
    salt = mall.env.get("MALL_KUAIDI100_SALT") or Settings.kuaidi100_salt
    sign = hashlib.md5((param + salt).encode("utf-8", "surrogatepass")).hexdigest().upper()
    response = requests.post(mall.base + "/webhooks/kuaidi100", data={"param": param, "sign": sign}, timeout=30)
    assert 400 <= response.status_code < 500, response.text[:300]
