"""Loss claims on couriers at the gateway: who sees and settles them, and the administrator log."""

import pytest
from gateway_helpers import bearer


@pytest.fixture
def open_claim(inner):
    inner.claim_rows[3] = {
        "id": 3,
        "case": 7,
        "order": "M20261125LOST01",
        "unit": "EL-WAREHOUSE",
        "waybill": "SF1",
        "carrier": "sf",
        "problem": "lost",
        "declared_value": "3299.00",
        "premium": "9.90",
        "refunded": "3299.00",
        "claimed": "3299.00",
        "status": "open",
        "paid": "0.00",
        "note": None,
        "settled_by": None,
        "created_at": "2026-11-25T10:00:00+00:00",
        "settled_at": None,
    }
    return inner.claim_rows[3]


def test_finance_settles_what_the_courier_paid_and_it_is_logged(client, inner, open_claim, make_account, root):
    finance = make_account("qian_finance", "finance")
    assert [c["id"] for c in client.get("/api/staff/claims?status=open", headers=bearer(finance)).json["items"]] == [3]
    paid = client.post("/api/staff/claims/3/settle", json={"paid": "3000.00"}, headers=bearer(finance))
    assert paid.status_code == 200 and paid.json["paid"] == "3000.00" and paid.json["settled_by"] == "qian_finance"
    log = client.get("/api/admin/log", headers=bearer(root)).json["items"]
    assert any(e["action"] == "claim.settle" and e["target"] == "claim:3" for e in log)
    again = client.post("/api/staff/claims/3/reject", json={"note": "late"}, headers=bearer(finance))
    assert again.status_code == 409


def test_customer_service_records_a_refusal(client, inner, open_claim, make_account):
    cs = make_account("zhou_cs", "customer_service")
    refused = client.post("/api/staff/claims/3/reject", json={"note": "Packed too thinly."}, headers=bearer(cs))
    assert refused.status_code == 200 and refused.json["status"] == "rejected"


@pytest.mark.parametrize("body", [{}, {"paid": "0.00"}, {"paid": "-1.00"}, {"paid": "1.001"}, {"paid": 12.5}])
def test_a_bad_settlement_is_422_before_logistics_is_asked(client, inner, open_claim, make_account, body):
    finance = make_account("qian_finance", "finance")
    response = client.post("/api/staff/claims/3/settle", json=body, headers=bearer(finance))
    assert response.status_code == 422 and "logistics.settle_claim" not in inner.calls


def test_staff_of_a_unit_customers_and_couriers_do_not_handle_claims(client, inner, open_claim, make_account, customer):
    _, token = customer
    for who in (token, make_account("chen_tea", "staff", unit="DS-TEA"), make_account("ma_courier", "courier")):
        assert client.get("/api/staff/claims", headers=bearer(who)).status_code == 403
        assert client.post("/api/staff/claims/3/settle", json={"paid": "1.00"}, headers=bearer(who)).status_code == 403
    assert open_claim["status"] == "open"


def test_an_unknown_claim_is_404(client, inner, make_account):
    finance = make_account("qian_finance", "finance")
    assert (
        client.post("/api/staff/claims/404/settle", json={"paid": "1.00"}, headers=bearer(finance)).status_code == 404
    )
