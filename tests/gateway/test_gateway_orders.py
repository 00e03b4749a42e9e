"""Placing orders (validated, idempotent, through the outbox) and following them."""

import pytest
from gateway_helpers import bearer, login, order_body

from shared.messaging import validate_message
from shared.testing import sent

TEA = "TEA-LONGJING-250G"
RICE = "RICE-JASMINE-5KG"


def place(client, token, body, key=None):
    headers = bearer(token) | ({"Idempotency-Key": key} if key else {})
    return client.post("/api/orders", json=body, headers=headers)


def known_to_orders(inner, number, member_id, status="awaiting_payment", method="online"):
    """The orders service has taken the order in (as its GET /internal/orders/<number> shows it)."""
    inner.orders[number] = {
        "number": number,
        "member_id": member_id,
        "status": status,
        "total": "25.00",
        "items": [{"sku": TEA, "name": "Longjing green tea 250 g", "quantity": 2, "price": "12.50"}],
        "payment": {"method": method, "status": "pending"},
        "fulfilments": [
            {"unit": "DS-TEA", "status": "reserved", "slip_no": None, "delivery": "local", "waybill": None}
        ],
        "timeline": [{"at": "2026-11-24T10:00:00+08:00", "event": "placed"}],
    }


def test_a_customer_places_an_order_and_the_command_goes_out_through_the_outbox(client, customer, catalogue, gateway):
    member_id, token = customer
    response = place(client, token, order_body((TEA, 2), (RICE, 1)), key="li-ming-order-1")
    assert response.status_code == 202
    number = response.json["number"]
    assert response.json == {"number": number, "status": "placed"}
    assert number.startswith("M") and len(number) <= 32
    [message] = sent(gateway, "orders.place_order")
    envelope, payload = validate_message("orders.place_order", {k: v for k, v in message.items() if k[0] != "_"})
    assert message["_queue"] == "orders" and message["_task"] == "orders.place_order"
    assert envelope.correlation_id == number and envelope.sender == "gateway"
    assert payload["number"] == number and payload["member_id"] == member_id
    assert payload["payment_method"] == "balance" and payload["address"]["city"] == "Nanning"
    assert payload["lines"] == [
        {
            "sku": TEA,
            "name": "Longjing green tea 250 g",
            "quantity": 2,
            "unit_price_cents": 1250,
            "division": "department_store",
            "unit": "DS-TEA",
        },
        {
            "sku": RICE,
            "name": "Jasmine rice 5 kg",
            "quantity": 1,
            "unit_price_cents": 3990,
            "division": "supermarket",
            "unit": None,
        },
    ]


def test_the_same_key_and_body_again_returns_the_same_order_and_sends_nothing_more(
    client, customer, catalogue, gateway
):
    _, token = customer
    first = place(client, token, order_body((TEA, 2)), key="li-ming-order-1")
    again = place(client, token, order_body((TEA, 2)), key="li-ming-order-1")
    assert again.status_code == 202
    assert again.json["number"] == first.json["number"]
    assert len(sent(gateway, "orders.place_order")) == 1


def test_the_same_key_with_another_body_is_409(client, customer, catalogue, gateway):
    _, token = customer
    place(client, token, order_body((TEA, 2)), key="li-ming-order-1")
    response = place(client, token, order_body((TEA, 3)), key="li-ming-order-1")
    assert response.status_code == 409
    assert response.json["error"]["code"] == "idempotency_key_reused"
    assert len(sent(gateway, "orders.place_order")) == 1


def test_placing_an_order_reads_the_database_once_and_writes_in_one_transaction(client, customer, catalogue, gateway):
    from sqlalchemy import event

    _, token = customer
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if not statement.startswith("BEGIN"):
            statements.append(" ".join(statement.split()[:3]))

    event.listen(gateway.db.engine, "before_cursor_execute", record)
    try:
        place(client, token, order_body((TEA, 1)), key="li-ming-order-1")
        # Who calls and what they placed under the key: one statement; then the order and its command (the
        # publish mark after them is written by the outbox sweeper in a running gateway).
        assert statements[:3] == ["SELECT users.username, users.role,", "INSERT INTO order_refs", "INSERT INTO outbox"]
        assert statements[3:] in ([], ["UPDATE outbox SET"])
        statements.clear()
        assert place(client, token, order_body((TEA, 1)), key="li-ming-order-1").status_code == 202
        assert statements == ["SELECT users.username, users.role,"]
    finally:
        event.remove(gateway.db.engine, "before_cursor_execute", record)


def test_the_order_requests_end_their_transactions_with_commit_not_rollback(client, customer, catalogue, gateway):
    """psycopg forgets a connection's prepared statements at every ROLLBACK (see `Database.session`): the
    requests a shopper makes all the time must not roll back, or their statements are never prepared."""
    from sqlalchemy import event

    _, token = customer
    ends: list[str] = []

    def ended(how):
        return lambda conn: ends.append(how)

    listeners = [("commit", ended("commit")), ("rollback", ended("rollback"))]
    for name, fn in listeners:
        event.listen(gateway.db.engine, name, fn)
    try:
        number = place(client, token, order_body((TEA, 1)), key="li-ming-order-1").json["number"]
        assert place(client, token, order_body((TEA, 1)), key="li-ming-order-1").json["number"] == number
        assert client.get(f"/api/orders/{number}", headers=bearer(token)).status_code == 200
        assert client.get("/api/orders", headers=bearer(token)).status_code == 200
        assert ends and set(ends) == {"commit"}, ends
    finally:
        for name, fn in listeners:
            event.remove(gateway.db.engine, name, fn)


def test_a_key_used_before_a_password_change_still_returns_its_order(client, customer, catalogue):
    _, token = customer
    first = place(client, token, order_body((TEA, 2)), key="li-ming-order-1").json["number"]
    change = {"old_password": "Jasmine-Tea-88", "new_password": "Oolong-Tea-99"}
    assert client.post("/api/auth/password", json=change, headers=bearer(token)).status_code == 204
    assert place(client, token, order_body((TEA, 2)), key="li-ming-order-1").status_code == 401
    fresh = login(client, "li_ming", "Oolong-Tea-99")
    assert place(client, fresh, order_body((TEA, 2)), key="li-ming-order-1").json["number"] == first


def test_two_members_may_use_the_same_key(client, make_customer, catalogue, gateway):
    _, li = make_customer("li_ming")
    _, wang = make_customer("wang_fang")
    a = place(client, li, order_body((TEA, 1)), key="order-1").json["number"]
    b = place(client, wang, order_body((TEA, 1)), key="order-1").json["number"]
    assert a != b


def test_without_a_key_every_request_is_a_new_order(client, customer, catalogue, gateway):
    _, token = customer
    numbers = {place(client, token, order_body((TEA, 1))).json["number"] for _ in range(3)}
    assert len(numbers) == 3


def test_a_retry_that_lost_the_race_gets_the_winners_number(gateway, customer, catalogue):
    from gateway import services

    member_id, _ = customer
    body = order_body((TEA, 1))
    lines = services.order_lines(body["items"], {TEA: catalogue["tea"]})
    number, placed = services.place_order(gateway, member_id, "race-key", body, lines)
    assert placed
    # The second request checked before the first committed; only the unique index stops it now.
    assert services.place_order(gateway, member_id, "race-key", body, lines) == (number, False)
    assert len(sent(gateway, "orders.place_order")) == 1


def test_duplicate_skus_are_merged_into_one_line(client, customer, catalogue, gateway):
    _, token = customer
    place(client, token, order_body((TEA, 1), (TEA, 2)))
    [payload] = [m["payload"] for m in sent(gateway, "orders.place_order")]
    assert [(line["sku"], line["quantity"]) for line in payload["lines"]] == [(TEA, 3)]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda b: b.update(items=[]), "items"),
        (lambda b: b["items"][0].update(quantity=0), "items.0.quantity"),
        (lambda b: b["items"][0].update(quantity=1.5), "items.0.quantity"),
        (lambda b: b["items"][0].update(quantity="2"), "items.0.quantity"),
        (lambda b: b["items"][0].update(quantity=True), "items.0.quantity"),
        (lambda b: b["items"][0].update(quantity=-3), "items.0.quantity"),
        (lambda b: b.pop("address"), "address"),
        (lambda b: b["address"].pop("city"), "address.city"),
        (lambda b: b["address"].update(lat=95), "address.lat"),
        (lambda b: b.update(payment_method="credit"), "payment_method"),
    ],
)
def test_a_bad_order_is_422_at_once_with_the_field_named(client, customer, catalogue, gateway, inner, change, field):
    _, token = customer
    body = order_body((TEA, 2))
    change(body)
    response = place(client, token, body, key="bad-order")
    assert response.status_code == 422
    error = response.json["error"]
    assert error["code"] == "validation_error" and error["message"]
    assert field in error["fields"]
    assert sent(gateway, "orders.place_order") == []
    assert inner.calls == []


def test_an_unknown_sku_is_422_naming_the_item(client, customer, catalogue, gateway):
    _, token = customer
    response = place(client, token, order_body((TEA, 1), ("TEA-PUER-CAKE", 1)))
    assert response.status_code == 422
    assert list(response.json["error"]["fields"]) == ["items.1.sku"]
    assert sent(gateway, "orders.place_order") == []


def test_a_body_that_is_not_an_object_is_422(client, customer, catalogue):
    _, token = customer
    response = client.post("/api/orders", json=[1, 2], headers=bearer(token))
    assert response.status_code == 422


def test_only_customers_place_orders(client, admin, catalogue):
    assert place(client, admin, order_body((TEA, 1))).status_code == 403


def test_who_places_an_order_is_checked_before_its_body_and_key(client, admin, customer, catalogue):
    _, token = customer
    bad = {"items": []}
    assert place(client, token, order_body((TEA, 1)), key="\x01").json["error"]["fields"] == {
        "Idempotency-Key": ["At most 100 printable characters."]
    }
    assert place(client, admin, bad, key="\x01").status_code == 403
    assert place(client, "not-a-token", bad, key="\x01").status_code == 401
    change = {"old_password": "Jasmine-Tea-88", "new_password": "Oolong-Tea-99"}
    assert client.post("/api/auth/password", json=change, headers=bearer(token)).status_code == 204
    response = place(client, token, bad, key="\x01")
    assert response.status_code == 401 and response.json["error"]["code"] == "invalid_token"


def test_an_order_shows_as_placed_until_the_orders_service_knows_it(client, customer, catalogue):
    _, token = customer
    number = place(client, token, order_body((TEA, 2)), key="k1").json["number"]
    view = client.get(f"/api/orders/{number}", headers=bearer(token)).json
    assert view["number"] == number and view["status"] == "placed" and view["total"] == "25.00"
    assert view["payment"] == {"method": "balance", "status": "pending"}
    assert view["fulfilments"] == []
    assert [e["event"] for e in view["timeline"]] == ["placed"]
    assert view["items"][0]["sku"] == TEA and view["items"][0]["quantity"] == 2


def test_once_the_orders_service_knows_the_order_its_view_is_shown_without_the_member(
    client, customer, catalogue, inner
):
    member_id, token = customer
    number = place(client, token, order_body((TEA, 2))).json["number"]
    known_to_orders(inner, number, member_id, status="paid", method="balance")
    view = client.get(f"/api/orders/{number}", headers=bearer(token)).json
    assert view["status"] == "paid" and "member_id" not in view
    assert set(view) >= {"number", "status", "total", "items", "payment", "fulfilments", "timeline"}


def test_a_customer_cannot_see_another_members_order(client, make_customer, catalogue, inner):
    li_id, li = make_customer("li_ming")
    _, wang = make_customer("wang_fang")
    placed = place(client, li, order_body((TEA, 1))).json["number"]
    assert client.get(f"/api/orders/{placed}", headers=bearer(wang)).status_code == 404
    known_to_orders(inner, placed, li_id)
    assert client.get(f"/api/orders/{placed}", headers=bearer(wang)).status_code == 404
    assert client.post(f"/api/orders/{placed}/cancel", json={}, headers=bearer(wang)).status_code == 404
    assert client.get("/api/orders", headers=bearer(wang)).json == {"items": []}


def test_customer_service_sees_any_order(client, customer, catalogue, make_account):
    _, token = customer
    number = place(client, token, order_body((TEA, 1))).json["number"]
    service = make_account("chen_service", "customer_service")
    assert client.get(f"/api/orders/{number}", headers=bearer(service)).status_code == 200


def test_a_strange_order_number_is_404(client, customer):
    _, token = customer
    assert client.get("/api/orders/..%2F..%2Fwallets%2F1", headers=bearer(token)).status_code == 404


def test_a_customer_lists_own_orders_newest_first(client, customer, catalogue, inner):
    member_id, token = customer
    first = place(client, token, order_body((TEA, 1))).json["number"]
    known_to_orders(inner, first, member_id)
    second = place(client, token, order_body((TEA, 2))).json["number"]
    items = client.get("/api/orders", headers=bearer(token)).json["items"]
    assert {o["number"] for o in items} == {first, second}
    assert [o["status"] for o in items if o["number"] == second] == ["placed"]
    assert all("member_id" not in o for o in items)


def test_a_customer_cancels_an_order(client, customer, catalogue, inner):
    member_id, token = customer
    number = place(client, token, order_body((TEA, 1))).json["number"]
    known_to_orders(inner, number, member_id)
    response = client.post(f"/api/orders/{number}/cancel", json={}, headers=bearer(token))
    assert response.status_code == 202 and response.json["status"] == "cancelled"
    again = client.post(f"/api/orders/{number}/cancel", json={}, headers=bearer(token))
    assert again.status_code == 409 and again.json["error"]["code"] == "not_cancellable"


def test_receipt_of_a_delivered_order_completes_it(client, customer, catalogue, inner):
    member_id, token = customer
    number = place(client, token, order_body((TEA, 1))).json["number"]
    known_to_orders(inner, number, member_id, status="delivered")
    response = client.post(f"/api/orders/{number}/receipt", json={}, headers=bearer(token))
    assert response.status_code == 200 and response.json["status"] == "completed"


def test_an_online_order_awaiting_payment_gets_a_payment_link(client, customer, catalogue, inner):
    member_id, token = customer
    number = place(client, token, order_body((TEA, 2), payment_method="online")).json["number"]
    known_to_orders(inner, number, member_id)
    inner.payments[number] = {
        "order": number,
        "method": "online",
        "status": "pending",
        "amount_cents": 2500,
        "refunded_cents": 0,
        "out_trade_no": f"{number}-1a2b3c4d",
        "captured_at": None,
    }
    response = client.post(f"/api/orders/{number}/pay", json={}, headers=bearer(token))
    assert response.status_code == 200
    assert response.json["out_trade_no"] == f"{number}-1a2b3c4d"
    assert "total_amount=25.00" in response.json["pay_url"]


def test_paying_an_order_that_is_not_paid_online_is_409(client, customer, catalogue, inner):
    member_id, token = customer
    number = place(client, token, order_body((TEA, 2))).json["number"]
    known_to_orders(inner, number, member_id, method="balance")
    response = client.post(f"/api/orders/{number}/pay", json={}, headers=bearer(token))
    assert response.status_code == 409


def test_a_customer_changes_the_contact_details_before_packing_and_not_after(client, customer, catalogue, inner):
    member_id, token = customer
    number = place(client, token, order_body((TEA, 1))).json["number"]
    known_to_orders(inner, number, member_id, status="packing")
    changed = client.post(f"/api/orders/{number}/contact", json={"phone": "13900000000"}, headers=bearer(token))
    assert changed.status_code == 200 and changed.json["address"]["phone"] == "13900000000"
    assert "member_id" not in changed.json
    for body in ({}, {"city": "Guilin"}, {"phone": ""}, {"name": "x" * 101}):
        assert client.post(f"/api/orders/{number}/contact", json=body, headers=bearer(token)).status_code == 422, body
    inner.orders[number]["status"] = "ready_to_ship"
    locked = client.post(f"/api/orders/{number}/contact", json={"name": "Wang"}, headers=bearer(token))
    assert locked.status_code == 409 and locked.json["error"]["code"] == "contact_locked"


def test_another_members_order_contact_cannot_be_changed(client, customer, catalogue, inner, make_customer):
    member_id, token = customer
    number = place(client, token, order_body((TEA, 1))).json["number"]
    known_to_orders(inner, number, member_id, status="packing")
    _, stranger = make_customer("wang_wei")
    assert client.post(f"/api/orders/{number}/contact", json={"name": "X"}, headers=bearer(stranger)).status_code == 404
    assert "orders.change_contact" not in inner.calls


def test_a_customer_reads_their_spending_records(client, customer, inner):
    member_id, token = customer
    inner.payments["M1"] = {
        "order": "M1",
        "member_id": member_id,
        "method": "balance",
        "amount_cents": 2500,
        "refunded_cents": 1250,
        "captured_at": "2026-11-25T10:00:00+00:00",
    }
    records = client.get("/api/spending", headers=bearer(token)).json
    assert records["spent"] == "12.50" and [r["order"] for r in records["items"]] == ["M1"]


COMPANY = {"kind": "company", "title": "Nanning Guomao Trading Co., Ltd.", "tax_id": "91450100MA5K3X8Y1Q"}


def test_the_invoice_asked_for_goes_to_orders_with_the_order(client, customer, catalogue, gateway):
    _, token = customer
    assert place(client, token, order_body((TEA, 1)) | {"invoice": COMPANY}).status_code == 202
    assert place(client, token, order_body((TEA, 2))).status_code == 202
    with_invoice, without = (m["payload"] for m in sent(gateway, "orders.place_order"))
    assert with_invoice["invoice"] == COMPANY and "invoice" not in without


@pytest.mark.parametrize(
    "invoice",
    [
        {"kind": "company", "title": "Guomao"},  # a company's needs its code
        {"kind": "personal", "title": "Li Ming", "tax_id": "91450100MA5K3X8Y1Q"},
        COMPANY | {"tax_id": "12345"},
        COMPANY | {"tax_id": "91450100MA5K3X8Y1I"},  # I is never in a code
        {"kind": "receipt", "title": "Li Ming"},
        {"kind": "personal", "title": ""},
    ],
)
def test_an_invoice_that_is_not_one_is_422_and_places_nothing(client, customer, catalogue, gateway, invoice):
    _, token = customer
    response = place(client, token, order_body((TEA, 1)) | {"invoice": invoice})
    assert response.status_code == 422 and any(f.startswith("invoice") for f in response.json["error"]["fields"])
    assert sent(gateway, "orders.place_order") == []
