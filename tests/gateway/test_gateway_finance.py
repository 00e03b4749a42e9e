"""Finance: order copies, monthly statements and the sales report, for finance staff and administrators only."""

import pytest
from gateway_helpers import bearer

STATEMENT = {
    "unit": "DS-TEA",
    "orders": 2,
    "gross": "25.00",
    "refunds": "0.00",
    "logistics_cost": "12.00",
    "insurance": "0.08",
    "net_payable": "12.92",
    "parcels": 1,
}
COPIES = [
    {"kind": "website", "unit": None, "lines": [], "total": "12.50"},
    {"kind": "department", "unit": "DS-TEA", "lines": [], "total": "12.50"},
    {"kind": "finance", "unit": None, "lines": [], "total": "12.50"},
]
FINANCE_ROUTES = [
    ("get", "/api/finance/orders/M20261020AAAA/copies", None),
    ("post", "/api/finance/statements/run", {"month": "2026-10"}),
    ("get", "/api/finance/statements?month=2026-10", None),
    ("get", "/api/finance/reports/sales?month=2026-10", None),
]


@pytest.fixture
def accountant(make_account):
    return make_account("qian_kuaiji", "finance")


def call(client, method, path, body, token=None):
    headers = bearer(token) if token else {}
    return (
        getattr(client, method)(path, json=body, headers=headers)
        if method == "post"
        else client.get(path, headers=headers)
    )


@pytest.mark.parametrize(("method", "path", "body"), FINANCE_ROUTES)
def test_finance_routes_want_a_token(client, method, path, body):
    response = call(client, method, path, body)
    assert response.status_code == 401 and response.json["error"]["code"] == "unauthorized"


@pytest.mark.parametrize(("method", "path", "body"), FINANCE_ROUTES)
def test_finance_routes_are_not_for_customers_staff_or_customer_service(
    client, make_account, customer, method, path, body
):
    others = [
        customer[1],
        make_account("wang_fang", "staff", unit="DS-TEA"),
        make_account("chen_kf", "customer_service"),
    ]
    for token in others:
        response = call(client, method, path, body, token)
        assert response.status_code == 403 and response.json["error"]["code"] == "forbidden"


@pytest.mark.parametrize(("method", "path", "body"), FINANCE_ROUTES)
def test_finance_staff_and_administrators_get_in(client, inner, accountant, admin, root, method, path, body):
    inner.copies["M20261020AAAA"] = COPIES
    for token in (accountant, admin, root):
        assert call(client, method, path, body, token).status_code == 200


def test_a_statement_run_builds_the_month_answers_its_statements_and_is_in_the_administrator_log(
    client, inner, accountant, root
):
    inner.month_costs["2026-10"] = [STATEMENT]
    assert client.get("/api/finance/statements?month=2026-10", headers=bearer(accountant)).json["items"] == []
    response = client.post("/api/finance/statements/run", json={"month": "2026-10"}, headers=bearer(accountant))
    assert response.status_code == 200
    assert response.json == {"month": "2026-10", "items": [STATEMENT | {"month": "2026-10"}]}
    listed = client.get("/api/finance/statements?month=2026-10", headers=bearer(accountant)).json
    assert listed["items"] == response.json["items"]
    assert set(listed["items"][0]) >= {"unit", "month", "orders", "gross", "refunds", "logistics_cost", "insurance"}
    log = client.get("/api/admin/log", query_string={"action": "statements.run"}, headers=bearer(root)).json["items"]
    assert [(e["actor"], e["target"], e["detail"]) for e in log] == [("qian_kuaiji", "month:2026-10", {"units": 1})]


@pytest.mark.parametrize("month", ["2026-13", "2026-1", "10-2026", "2026-10-01", "", "last month"])
def test_a_month_that_is_not_yyyy_mm_gets_422_naming_the_field(client, inner, accountant, month):
    for method, path, body in (
        ("get", f"/api/finance/statements?month={month}", None),
        ("get", f"/api/finance/reports/sales?month={month}", None),
        ("post", "/api/finance/statements/run", {"month": month}),
    ):
        response = call(client, method, path, body, accountant)
        assert response.status_code == 422, (path, response.json)
        assert response.json["error"]["code"] == "validation_error" and "month" in response.json["error"]["fields"]
    assert not [c for c in inner.calls if c.startswith("billing.")]


def test_a_missing_month_gets_422(client, accountant):
    for response in (
        client.get("/api/finance/statements", headers=bearer(accountant)),
        client.get("/api/finance/reports/sales", headers=bearer(accountant)),
        client.post("/api/finance/statements/run", json={}, headers=bearer(accountant)),
    ):
        assert response.status_code == 422 and "month" in response.json["error"]["fields"]


def test_an_orders_copies_come_from_billing(client, inner, accountant):
    inner.copies["M20261020AAAA"] = COPIES
    response = client.get("/api/finance/orders/M20261020AAAA/copies", headers=bearer(accountant))
    assert response.status_code == 200
    assert [(c["kind"], c["unit"]) for c in response.json["copies"]] == [
        ("website", None),
        ("department", "DS-TEA"),
        ("finance", None),
    ]


def test_an_order_billing_does_not_know_has_no_copies(client, accountant):
    for number in ("M404404", "not an order!"):
        response = client.get(f"/api/finance/orders/{number}/copies", headers=bearer(accountant))
        assert response.status_code == 404
        assert response.json["error"]["code"] == "not_found" and response.json["error"]["message"]


def test_the_sales_report_is_billings_for_the_month(client, inner, accountant):
    row = {"sku": "TEA-LONGJING-250G", "name": "Longjing green tea 250 g", "units": 4, "orders": 3, "revenue": "50.00"}
    inner.sales["2026-10"] = [row]
    response = client.get("/api/finance/reports/sales?month=2026-10", headers=bearer(accountant))
    assert response.json == {"month": "2026-10", "items": [row]}
    assert client.get("/api/finance/reports/sales?month=2026-11", headers=bearer(accountant)).json["items"] == []


def test_a_statement_run_while_billing_is_down_is_503_and_logs_nothing(client, inner, accountant, root):
    inner.down.add("billing")
    response = client.post("/api/finance/statements/run", json={"month": "2026-10"}, headers=bearer(accountant))
    assert response.status_code == 503 and response.json["error"]["code"] == "service_unavailable"
    log = client.get("/api/admin/log", query_string={"action": "statements.run"}, headers=bearer(root)).json["items"]
    assert log == []


def test_the_openapi_document_describes_the_finance_routes(client):
    document = client.get("/api/openapi.json").json
    report = document["paths"]["/api/finance/reports/sales"]["get"]
    assert "Refunds paid out" in report["description"] and report["x-roles"] == ["finance", "admin", "superadmin"]
    run = document["paths"]["/api/finance/statements/run"]["post"]
    ref = run["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert set(document["components"]["schemas"][ref]["properties"]) == {"month"}
    assert {"401", "403", "422"} <= set(run["responses"])
    assert "404" in document["paths"]["/api/finance/orders/{number}/copies"]["get"]["responses"]
