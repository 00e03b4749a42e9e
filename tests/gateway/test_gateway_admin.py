"""Administration: staff accounts, units, products, stock, balances, and the administrator log."""

from datetime import timedelta

import pytest
from gateway_helpers import bearer
from sqlalchemy import select

TEA_COUNTER = {
    "code": "DS-TEA",
    "name": "Tea counter",
    "kind": "counter",
    "division": "department_store",
    "city": "Nanning",
    "lat": 22.82,
    "lon": 108.32,
    "auto_pack": True,
}
LONGJING = {
    "sku": "TEA-LONGJING-250G",
    "name": "Longjing green tea 250 g",
    "price": "12.50",
    "category": "Tea",
    "manufacturer": "West Lake",
    "supplier": "Hangzhou Tea",
    "division": "department_store",
    "unit": "DS-TEA",
}


def log_of(client, root, **filters):
    return client.get("/api/admin/log", query_string=filters, headers=bearer(root)).json["items"]


def test_a_customer_cannot_create_units(client, customer, inner):
    _, token = customer
    response = client.post("/api/admin/units", json=TEA_COUNTER, headers=bearer(token))
    assert response.status_code == 403
    assert response.json["error"]["code"] == "forbidden"
    assert inner.units == {}


def test_an_administrator_creates_a_unit_a_product_and_a_stock_in(client, admin, inner):
    unit = client.post("/api/admin/units", json=TEA_COUNTER, headers=bearer(admin))
    assert unit.status_code == 201 and unit.json["code"] == "DS-TEA"
    product = client.post("/api/admin/products", json=LONGJING, headers=bearer(admin))
    assert product.status_code == 201 and product.json["sku"] == "TEA-LONGJING-250G" and "id" in product.json
    stock = client.post(
        "/api/admin/stock", json={"unit": "DS-TEA", "sku": "TEA-LONGJING-250G", "quantity": 5}, headers=bearer(admin)
    )
    assert stock.status_code == 201 and stock.json["available"] == 5
    assert client.get("/api/units").json["items"][0]["code"] == "DS-TEA"


def test_a_unit_with_bad_fields_is_refused_before_stores_hears_of_it(client, admin, inner):
    bad = TEA_COUNTER | {"kind": "kiosk", "lat": 123.0}
    bad.pop("city")
    response = client.post("/api/admin/units", json=bad, headers=bearer(admin))
    assert response.status_code == 422
    assert set(response.json["error"]["fields"]) == {"kind", "lat", "city"}
    assert inner.calls == []


def test_a_unit_that_exists_is_a_409_from_stores(client, admin):
    client.post("/api/admin/units", json=TEA_COUNTER, headers=bearer(admin))
    response = client.post("/api/admin/units", json=TEA_COUNTER, headers=bearer(admin))
    assert response.status_code == 409
    assert response.json["error"]["code"] == "unit_exists"


def test_a_counter_product_needs_its_unit_and_a_real_price(client, admin):
    response = client.post(
        "/api/admin/products", json=LONGJING | {"unit": None, "price": "12.505"}, headers=bearer(admin)
    )
    assert response.status_code == 422
    assert set(response.json["error"]["fields"]) == {"unit", "price"}


def test_a_supermarket_product_needs_no_unit(client, admin, inner):
    rice = LONGJING | {"sku": "RICE-JASMINE-5KG", "name": "Jasmine rice 5 kg", "division": "supermarket"}
    rice.pop("unit")
    response = client.post("/api/admin/products", json=rice, headers=bearer(admin))
    assert response.status_code == 201
    assert response.json["price"] == "12.50"


def test_a_stock_in_of_no_goods_is_refused(client, admin):
    response = client.post(
        "/api/admin/stock", json={"unit": "DS-TEA", "sku": "TEA-LONGJING-250G", "quantity": 0}, headers=bearer(admin)
    )
    assert response.status_code == 422
    assert "quantity" in response.json["error"]["fields"]


def test_staff_must_belong_to_a_unit(client, root):
    response = client.post(
        "/api/admin/staff",
        json={"username": "wang_fang", "password": "Staff-Pass-2026", "role": "staff"},
        headers=bearer(root),
    )
    assert response.status_code == 422
    assert "unit" in response.json["error"]["fields"]


def test_an_administrator_adds_staff_but_not_other_administrators(client, admin):
    staff = {"username": "wang_fang", "password": "Staff-Pass-2026", "role": "staff", "unit": "DS-TEA"}
    assert client.post("/api/admin/staff", json=staff, headers=bearer(admin)).status_code == 201
    another = {"username": "qian_admin", "password": "Admin-Pass-2026", "role": "admin"}
    response = client.post("/api/admin/staff", json=another, headers=bearer(admin))
    assert response.status_code == 403


def test_the_super_administrator_adds_administrators(client, root):
    another = {"username": "qian_admin", "password": "Admin-Pass-2026", "role": "admin"}
    response = client.post("/api/admin/staff", json=another, headers=bearer(root))
    assert response.status_code == 201
    assert response.json["role"] == "admin"


def test_every_administrator_action_is_logged_and_only_the_super_administrator_reads_it(client, root, admin):
    client.post("/api/admin/units", json=TEA_COUNTER, headers=bearer(admin))
    client.post("/api/admin/products", json=LONGJING, headers=bearer(admin))
    client.post(
        "/api/admin/stock", json={"unit": "DS-TEA", "sku": LONGJING["sku"], "quantity": 5}, headers=bearer(admin)
    )
    client.post("/api/staff/batches/close", json={}, headers=bearer(admin))
    items = log_of(client, root, actor="zhao_admin")
    assert [i["action"] for i in items] == ["batch.close", "stock.in", "product.create", "unit.create"]
    assert items[-1]["target"] == "unit:DS-TEA" and items[-1]["detail"]["name"] == "Tea counter"
    assert all(set(i) == {"id", "actor", "action", "target", "detail", "at"} for i in items)
    assert [i["actor"] for i in log_of(client, root, action="staff.create")] == ["root"]
    denied = client.get("/api/admin/log", headers=bearer(admin))
    assert denied.status_code == 403


def test_a_refused_action_leaves_no_log_row(client, root, admin):
    client.post("/api/admin/units", json=TEA_COUNTER | {"kind": "kiosk"}, headers=bearer(admin))
    assert log_of(client, root, action="unit.create") == []


def test_an_administrator_adjusts_a_members_balance_and_it_is_logged(client, root, admin, customer, inner):
    member_id, token = customer
    response = client.post(
        f"/api/admin/members/{member_id}/balance",
        json={"delta": "100.00", "reason": "goodwill for a late parcel"},
        headers=bearer(admin) | {"Idempotency-Key": "adj-li-ming-1"},
    )
    assert response.status_code == 200
    assert response.json == {"member_id": member_id, "balance": "100.00"}
    assert client.get("/api/wallet", headers=bearer(token)).json == {"balance": "100.00"}
    [entry] = log_of(client, root, action="member.balance_adjust")
    assert entry["target"] == f"member:{member_id}" and entry["detail"]["key"] == "adj-li-ming-1"


def test_the_idempotency_key_of_an_adjustment_reaches_billing(client, admin, customer, inner, monkeypatch):
    member_id, _ = customer
    seen = []
    monkeypatch.setattr(inner, "adjust_wallet", lambda m, d, r, k: seen.append((m, d, r, k)) or {"balance": "5.00"})
    client.post(
        f"/api/admin/members/{member_id}/balance",
        json={"delta": "5", "reason": "top-up"},
        headers=bearer(admin) | {"Idempotency-Key": "adj-7"},
    )
    assert seen == [(member_id, "5.00", "top-up", "adj-7")]


def test_adjusting_the_balance_of_no_member_is_404(client, admin, inner):
    response = client.post(
        "/api/admin/members/999/balance", json={"delta": "1.00", "reason": "x"}, headers=bearer(admin)
    )
    assert response.status_code == 404
    assert inner.wallets == {}


def test_a_balance_cannot_go_below_zero(client, admin, customer):
    member_id, _ = customer
    response = client.post(
        f"/api/admin/members/{member_id}/balance", json={"delta": "-1.00", "reason": "fix"}, headers=bearer(admin)
    )
    assert response.status_code == 409
    assert response.json["error"]["code"] == "insufficient_balance"


def test_a_float_amount_is_refused(client, admin, customer):
    member_id, _ = customer
    response = client.post(
        f"/api/admin/members/{member_id}/balance", json={"delta": 10.5, "reason": "top-up"}, headers=bearer(admin)
    )
    assert response.status_code == 422
    assert "delta" in response.json["error"]["fields"]


# --- searching the administrator log -------------------------------------------------------------


def search(client, root, **filters):
    response = client.get("/api/admin/log", query_string=filters, headers=bearer(root))
    assert response.status_code == 200, response.json
    return response.json


def test_the_super_administrator_searches_the_log_by_target_action_family_and_time(client, root, admin, gateway):
    from gateway.models import AdminLogEntry

    client.post("/api/admin/units", json=TEA_COUNTER, headers=bearer(admin))
    client.post("/api/admin/products", json=LONGJING, headers=bearer(admin))
    client.post(
        "/api/admin/stock", json={"unit": "DS-TEA", "sku": LONGJING["sku"], "quantity": 5}, headers=bearer(admin)
    )
    client.post("/api/admin/units", json={"code": "DS-SILK"}, headers=bearer(admin))  # refused: not logged
    assert [e["action"] for e in search(client, root, target="unit:DS-TEA")["items"]] == ["stock.in", "unit.create"]
    assert [e["action"] for e in search(client, root, action="product.*")["items"]] == ["product.create"]
    assert [e["action"] for e in search(client, root, action="unit.*", actor="root")["items"]] == []
    with gateway.db.session() as session:
        times = dict(session.execute(select(AdminLogEntry.action, AdminLogEntry.at)).all())
    product_at, just_after = (
        (times["product.create"] + timedelta(microseconds=micro)).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
        for micro in (0, 1)
    )
    since = search(client, root, since=product_at, actor="zhao_admin")["items"]
    assert [e["action"] for e in since] == ["stock.in", "product.create"]
    until = search(client, root, until=product_at, actor="zhao_admin")["items"]
    assert [e["action"] for e in until] == ["unit.create"]
    between = search(client, root, since=product_at, until=just_after)["items"]
    assert [e["action"] for e in between] == ["product.create"]


def test_the_log_reads_page_by_page_with_next_before(client, root, make_account):
    for name in ("wang_fang", "chen_jing", "li_na", "zhou_lei"):
        make_account(name, "courier")
    everything = search(client, root)
    assert everything["next_before"] is None and len(everything["items"]) == 5  # the bootstrap and 4 added
    pages, before = [], None
    while True:
        page = search(client, root, limit=2, **({"before": before} if before else {}))
        pages.append([e["id"] for e in page["items"]])
        before = page["next_before"]
        if before is None:
            break
    assert [len(p) for p in pages] == [2, 2, 1]
    assert sum(pages, []) == [e["id"] for e in everything["items"]]


def test_a_time_with_its_plus_sign_left_unencoded_is_read_as_meant(client, root):
    response = client.get("/api/admin/log?since=2000-01-01T08:00:00+08:00", headers=bearer(root))
    assert response.status_code == 200
    assert [e["action"] for e in response.json["items"]] == ["superadmin.bootstrap"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("since=2026-11-25T09:00:00", "since"),  # no offset: which time would that be?
        ("until=yesterday", "until"),
        ("since=9999-12-31T23:59:59-05:00", "since"),
        ("since=2026-11-25T10:00:00Z&until=2026-11-25T09:00:00Z", "until"),
        ("before=0", "before"),
        ("limit=0", "limit"),
        (f"target={'x' * 201}", "target"),
    ],
)
def test_a_bad_log_search_is_422(client, root, query, field):
    response = client.get(f"/api/admin/log?{query}", headers=bearer(root))
    assert response.status_code == 422, response.json
    assert set(response.json["error"]["fields"]) == {field}
