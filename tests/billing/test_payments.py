from shared.testing import assert_text_refused, deliver, envelope, payloads, sent


def top_up(client, member_id, amount, key=None):
    return client.post(
        f"/internal/wallets/{member_id}/adjust",
        json={"delta": amount, "reason": "top-up", "idempotency_key": key},
    )


def take(order="M100001", member_id=7, total=2500, method="balance"):
    return {
        "order": order,
        "member_id": member_id,
        "method": method,
        "total_cents": total,
        "units": [{"unit": "DS-COSMETICS", "amount_cents": total}],
    }


def test_a_balance_payment_debits_the_wallet_and_writes_an_entry_per_unit(billing, client):
    top_up(client, 7, "100.00")
    assert deliver(billing, "billing.take_payment", take()) == "handled"
    assert payloads(billing, "payment.captured") == [{"order": "M100001", "method": "balance", "amount_cents": 2500}]
    assert client.get("/internal/wallets/7").json["balance"] == "75.00"


def test_a_balance_too_small_fails_the_payment_and_takes_nothing(billing, client):
    top_up(client, 7, "10.00")
    deliver(billing, "billing.take_payment", take(total=2500))
    assert payloads(billing, "payment.failed") == [{"order": "M100001", "reason": "insufficient_balance"}]
    assert client.get("/internal/wallets/7").json["balance"] == "10.00"


def test_a_redelivered_payment_is_taken_once(billing, client):
    top_up(client, 7, "100.00")
    body = envelope("billing.take_payment", take(), correlation_id="M100001")
    assert billing.consume("billing.take_payment", body) == "handled"
    assert billing.consume("billing.take_payment", body) == "duplicate"
    assert client.get("/internal/wallets/7").json["balance"] == "75.00"


def test_the_same_command_sent_again_gets_the_same_answer_without_a_second_charge(billing, client):
    top_up(client, 7, "100.00")
    deliver(billing, "billing.take_payment", take())
    deliver(billing, "billing.take_payment", take())
    assert len(payloads(billing, "payment.captured")) == 2
    assert client.get("/internal/wallets/7").json["balance"] == "75.00"


def test_a_refund_gives_the_balance_back_once(billing, client):
    top_up(client, 7, "100.00")
    deliver(billing, "billing.take_payment", take())
    deliver(billing, "billing.refund_payment", {"order": "M100001", "reason": "customer cancelled"})
    deliver(billing, "billing.refund_payment", {"order": "M100001", "reason": "customer cancelled"})
    assert client.get("/internal/wallets/7").json["balance"] == "100.00"
    assert [p["amount_cents"] for p in payloads(billing, "payment.refunded")] == [2500, 2500]


def test_an_invalid_message_is_dead_lettered_not_handled(billing):
    from sqlalchemy import select

    assert billing.consume("billing.take_payment", {"not": "an envelope"}) == "dead_lettered"
    with billing.db.session() as s:
        rows = s.execute(select(billing.tables.dead_letters)).all()
    assert len(rows) == 1 and "id" in rows[0].error
    assert sent(billing) == []


def test_an_adjustment_with_the_same_key_moves_money_once(client):
    assert top_up(client, 9, "50.00", key="adj-1").json["balance"] == "50.00"
    assert top_up(client, 9, "50.00", key="adj-1").json["balance"] == "50.00"


def test_an_adjustment_below_zero_is_refused(client):
    response = client.post("/internal/wallets/9/adjust", json={"delta": "-1.00", "reason": "fix"})
    assert response.status_code == 409
    assert response.json["error"]["code"] == "insufficient_balance"


def test_internal_calls_need_the_service_token(billing):
    from services.billing.app import create_app

    response = create_app().test_client().get("/internal/wallets/7")
    assert response.status_code == 401


def test_a_lone_surrogate_in_a_wallet_adjustment_is_422_and_changes_nothing(billing, client):
    top_up(client, 7, "100.00")
    messages = sent(billing)
    response = client.post(
        "/internal/wallets/7/adjust",
        data=b'{"delta": "50.00", "reason": "top-up \\udbff", "idempotency_key": "k-1"}',
        content_type="application/json",
    )
    assert_text_refused(response, "reason")
    assert client.get("/internal/wallets/7").json["balance"] == "100.00"
    assert sent(billing) == messages
