"""Online payments: captured, failed or left alone by the provider's notifications (verified by the gateway)."""

from sqlalchemy import select

from shared.testing import deliver, payloads

ORDER = "M200001"
UNIT_SHARE = {"unit": "DS-TEA", "amount_cents": 2500}


def take_online(billing, client, total=2500, order=ORDER):
    command = {
        "order": order,
        "member_id": 7,
        "method": "online",
        "total_cents": total,
        "units": [{"unit": "DS-TEA", "amount_cents": 1500}, {"unit": "SM-GUOMAO", "amount_cents": total - 1500}],
    }
    assert deliver(billing, "billing.take_payment", command) == "handled"
    return client.get(f"/internal/payments/{order}").json["out_trade_no"]


def notify(client, out_trade_no, status="TRADE_SUCCESS", amount="25.00", trade_no="2026112522001400001", **extra):
    body = {"out_trade_no": out_trade_no, "trade_no": trade_no, "amount": amount, "trade_status": status} | extra
    return client.post("/internal/payments/notify", json=body)


def entries(billing):
    from services.billing.models import LedgerEntry

    with billing.db.session() as session:
        rows = session.scalars(select(LedgerEntry).order_by(LedgerEntry.unit, LedgerEntry.kind)).all()
        return [(e.unit, e.kind, e.amount_cents) for e in rows]


def test_an_online_payment_waits_for_the_provider_and_writes_no_entry_yet(billing, client):
    out_trade_no = take_online(billing, client)
    assert out_trade_no.startswith(ORDER + "-")
    assert payloads(billing, "payment.pending") == [{"order": ORDER, "method": "online"}]
    assert entries(billing) == []


def test_a_paid_notice_captures_the_payment_once_however_often_it_comes(billing, client):
    out_trade_no = take_online(billing, client)
    first = notify(client, out_trade_no, paid_at="2026-11-25T10:00:00+08:00")
    again = notify(client, out_trade_no, status="TRADE_FINISHED")
    assert first.status_code == 200 and first.json == {"order": ORDER, "status": "captured", "changed": True}
    assert again.status_code == 200 and again.json["changed"] is False
    assert payloads(billing, "payment.captured") == [{"order": ORDER, "method": "online", "amount_cents": 2500}]
    assert entries(billing) == [("DS-TEA", "sale", 1500), ("SM-GUOMAO", "sale", 1000)]
    payment = client.get(f"/internal/payments/{ORDER}").json
    assert payment["status"] == "captured" and payment["trade_no"] == "2026112522001400001"
    assert payment["captured_at"].startswith("2026-11-25T02:00:00")  # the provider's time of payment


def test_a_notice_whose_amount_does_not_match_changes_nothing(billing, client):
    out_trade_no = take_online(billing, client)
    response = notify(client, out_trade_no, amount="2.50")
    assert response.status_code == 400 and response.json["error"]["code"] == "amount_mismatch"
    assert client.get(f"/internal/payments/{ORDER}").json["status"] == "pending"
    assert payloads(billing, "payment.captured") == [] and entries(billing) == []


def test_a_notice_of_another_trade_for_a_paid_order_changes_nothing(billing, client):
    out_trade_no = take_online(billing, client)
    notify(client, out_trade_no)
    response = notify(client, out_trade_no, trade_no="2026112522009999999")
    assert response.status_code == 400 and response.json["error"]["code"] == "trade_mismatch"
    assert client.get(f"/internal/payments/{ORDER}").json["trade_no"] == "2026112522001400001"


def test_a_notice_for_an_unknown_trade_is_404(billing, client):
    response = notify(client, "M999999-deadbeef")
    assert response.status_code == 404 and response.json["error"]["code"] == "not_found"


def test_a_notice_cannot_reach_a_payment_that_is_not_online(billing, client):
    client.post("/internal/wallets/7/adjust", json={"delta": "100.00", "reason": "top-up"})
    deliver(
        billing,
        "billing.take_payment",
        {"order": ORDER, "member_id": 7, "method": "balance", "total_cents": 2500, "units": [UNIT_SHARE]},
    )
    assert client.get(f"/internal/payments/{ORDER}").json["out_trade_no"] is None
    assert notify(client, ORDER).status_code == 404
    assert client.get("/internal/wallets/7").json["balance"] == "75.00"


def test_a_closed_trade_fails_a_pending_payment_and_orders_is_told(billing, client):
    out_trade_no = take_online(billing, client)
    response = notify(client, out_trade_no, status="TRADE_CLOSED")
    assert response.json == {"order": ORDER, "status": "failed", "changed": True}
    assert payloads(billing, "payment.failed") == [{"order": ORDER, "reason": "trade closed unpaid"}]
    assert entries(billing) == []


def test_a_closed_trade_after_payment_changes_nothing(billing, client):
    """Alipay closes a trade when it is refunded in full: the payment stays as billing recorded it."""
    out_trade_no = take_online(billing, client)
    notify(client, out_trade_no)
    response = notify(client, out_trade_no, status="TRADE_CLOSED")
    assert response.json["changed"] is False
    assert client.get(f"/internal/payments/{ORDER}").json["status"] == "captured"
    assert payloads(billing, "payment.failed") == []


def test_a_waiting_trade_changes_nothing(billing, client):
    out_trade_no = take_online(billing, client)
    assert notify(client, out_trade_no, status="WAIT_BUYER_PAY").json["changed"] is False
    assert client.get(f"/internal/payments/{ORDER}").json["status"] == "pending"


def test_money_that_arrives_after_the_cancel_is_captured_and_then_refunded(billing, client):
    out_trade_no = take_online(billing, client)
    # The order was cancelled before payment: orders voided the payment.
    deliver(billing, "billing.refund_payment", {"order": ORDER, "reason": "customer cancelled"})
    assert client.get(f"/internal/payments/{ORDER}").json["status"] == "failed"
    # The customer paid anyway: the money is recorded, and orders (the order is cancelled) asks for it back.
    assert notify(client, out_trade_no).json["status"] == "captured"
    assert payloads(billing, "payment.captured") == [{"order": ORDER, "method": "online", "amount_cents": 2500}]
    deliver(billing, "billing.refund_payment", {"order": ORDER, "reason": "customer cancelled"})
    payment = client.get(f"/internal/payments/{ORDER}").json
    assert payment["status"] == "refunded" and payment["refunded_cents"] == 2500
    assert entries(billing) == [("DS-TEA", "refund", -1500), ("DS-TEA", "sale", 1500)] + [
        ("SM-GUOMAO", "refund", -1000),
        ("SM-GUOMAO", "sale", 1000),
    ]


def test_a_malformed_notice_is_422(billing, client):
    out_trade_no = take_online(billing, client)
    response = notify(client, out_trade_no, status="PAID", amount="lots")
    assert response.status_code == 422
    assert set(response.json["error"]["fields"]) == {"trade_status", "amount"}


def test_the_end_of_the_time_to_pay_fails_a_pending_payment_and_tells_orders(billing, client):
    out_trade_no = take_online(billing, client)
    expire = {"order": ORDER, "reason": "not paid within 30 minutes"}
    assert deliver(billing, "billing.expire_payment", expire) == "handled"
    assert payloads(billing, "payment.failed") == [{"order": ORDER, "reason": "not paid within 30 minutes"}]
    # Money that comes after the close is captured all the same (orders then refunds it).
    assert notify(client, out_trade_no).json["status"] == "captured"
    assert payloads(billing, "payment.captured") == [{"order": ORDER, "method": "online", "amount_cents": 2500}]


def test_the_end_of_the_time_to_pay_answers_a_captured_payment_with_its_capture(billing, client):
    """Captured a moment before orders' deadline, and payment.captured was lost: orders learns it here."""
    out_trade_no = take_online(billing, client)
    notify(client, out_trade_no)
    deliver(billing, "billing.expire_payment", {"order": ORDER, "reason": "not paid within 30 minutes"})
    assert client.get(f"/internal/payments/{ORDER}").json["status"] == "captured"
    assert len(payloads(billing, "payment.captured")) == 2 and payloads(billing, "payment.failed") == []


def test_the_end_of_the_time_to_pay_of_a_payment_billing_never_took_fails_it(billing):
    deliver(billing, "billing.expire_payment", {"order": "M404", "reason": "not paid within 30 minutes"})
    assert payloads(billing, "payment.failed") == [{"order": "M404", "reason": "not paid within 30 minutes"}]


def test_a_payment_taken_before_billing_kept_shares_is_entered_from_its_lines_or_unallocated(billing, client):
    from sqlalchemy import update

    from services.billing.models import Payment

    out_trade_no = take_online(billing, client)
    with billing.db.session() as session, session.begin():
        session.execute(update(Payment).values(shares=None))  # as migration 0003 leaves a pending payment
    notify(client, out_trade_no)
    assert entries(billing) == [("UNALLOCATED", "sale", 2500)]  # in the books, for finance to allocate


def test_a_payment_without_shares_is_entered_by_its_order_lines_when_billing_has_them(billing, client):
    from sqlalchemy import update

    from services.billing.models import Payment

    command = {
        "order": ORDER,
        "member_id": 7,
        "method": "online",
        "total_cents": 2500,
        "units": [UNIT_SHARE],
        "lines": [{"sku": "TEA", "name": "Tea", "unit": "DS-TEA", "quantity": 2, "amount_cents": 2500}],
    }
    deliver(billing, "billing.take_payment", command)
    with billing.db.session() as session, session.begin():
        session.execute(update(Payment).values(shares=None))
    notify(client, client.get(f"/internal/payments/{ORDER}").json["out_trade_no"])
    assert entries(billing) == [("DS-TEA", "sale", 2500)]
