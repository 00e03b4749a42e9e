from datetime import UTC, datetime, timedelta

from saga_samples import GUILIN, LIPSTICK, NANNING, RICE, TV

from shared.testing import assert_text_refused, deliver, payloads, sent


def place(orders, *lines, number="M20261124AAAAAA", address=NANNING, method="balance"):
    deliver(
        orders,
        "orders.place_order",
        {
            "number": number,
            "member_id": 7,
            "payment_method": method,
            "address": address,
            "lines": list(lines) or [LIPSTICK],
        },
        correlation_id=number,
    )
    return number


PACKED_AT = "2026-11-24T10:00:00+08:00"


def order_view(client, number="M20261124AAAAAA"):
    return client.get(f"/internal/orders/{number}").json


def fulfilment_ids(client, number="M20261124AAAAAA"):
    return {f["unit"]: f["id"] for f in order_view(client, number)["fulfilments"]}


def reply(orders, type_, **payload):
    payload.setdefault("order", "M20261124AAAAAA")
    return deliver(orders, type_, payload)


def reserve_all(orders, client, number="M20261124AAAAAA"):
    for unit, fid in fulfilment_ids(client, number).items():
        reply(orders, "stock.reserved", order=number, fulfilment_id=fid, unit=unit)


def test_a_placed_order_asks_the_owning_counter_to_reserve(orders, client):
    place(orders)
    [check] = sent(orders, "stores.check_stock")
    assert check["_queue"] == "stores.DS-COSMETICS"
    assert check["correlation_id"] == "M20261124AAAAAA"
    assert check["payload"]["lines"] == [{"sku": "LIPSTICK-RED-01", "quantity": 2}]
    assert check["payload"]["notify_purchasing"] is True
    view = order_view(client)
    assert view["status"] == "placed" and view["total"] == "25.00"
    assert view["fulfilments"][0]["delivery"] == "local"


def test_an_order_for_two_units_is_paid_once_when_both_have_reserved(orders, client):
    place(orders, LIPSTICK, TV, address=GUILIN)
    assert {f["delivery"] for f in order_view(client)["fulfilments"]} == {"courier"}
    ids = fulfilment_ids(client)
    reply(orders, "stock.reserved", fulfilment_id=ids["DS-COSMETICS"], unit="DS-COSMETICS")
    assert payloads(orders, "billing.take_payment") == []
    reply(orders, "stock.reserved", fulfilment_id=ids["EL-WAREHOUSE"], unit="EL-WAREHOUSE")
    reply(orders, "stock.reserved", fulfilment_id=ids["EL-WAREHOUSE"], unit="EL-WAREHOUSE")
    [take] = payloads(orders, "billing.take_payment")
    assert take["total_cents"] == 332400
    assert take["units"] == [
        {"unit": "DS-COSMETICS", "amount_cents": 2500},
        {"unit": "EL-WAREHOUSE", "amount_cents": 329900},
    ]
    assert take["lines"] == [
        {"sku": "LIPSTICK-RED-01", "name": "Red lipstick", "unit": "DS-COSMETICS", "quantity": 2, "amount_cents": 2500},
        {"sku": "TV-55-SKYWORTH", "name": "55 inch TV", "unit": "EL-WAREHOUSE", "quantity": 1, "amount_cents": 329900},
    ]


def test_billing_is_told_the_same_lines_when_paid_and_when_completed(orders, client):
    place(orders)
    reserve_all(orders, client)
    [take] = payloads(orders, "billing.take_payment")
    reply(orders, "payment.captured", method="balance", amount_cents=2500)
    fid = fulfilment_ids(client)["DS-COSMETICS"]
    reply(orders, "parcel.packed", fulfilment_id=fid, unit="DS-COSMETICS", slip_no="XS-1", packed_at=PACKED_AT)
    progress = {"fulfilment_id": fid, "waybill": None, "at": "2026-11-24T11:00:00+08:00"}
    reply(orders, "shipment.shipped", detail="picked up", **progress)
    reply(orders, "shipment.delivered", detail="signed", **progress)
    assert client.post("/internal/orders/M20261124AAAAAA/receipt").status_code == 200
    [completed, _] = payloads(orders, "order.completed")
    assert take["lines"] == completed["lines"] != []


def test_a_local_order_travels_from_placed_to_completed(orders, client):
    place(orders)
    reserve_all(orders, client)
    reply(orders, "payment.captured", method="balance", amount_cents=2500)
    assert order_view(client)["status"] == "packing"
    [pack] = payloads(orders, "stores.pack_parcel")
    fid = pack["fulfilment_id"]
    reply(
        orders,
        "parcel.packed",
        fulfilment_id=fid,
        unit="DS-COSMETICS",
        slip_no="XS-DS-COSMETICS-000001",
        packed_at="2026-11-24T10:00:00+08:00",
    )
    view = order_view(client)
    assert view["status"] == "ready_to_ship" and view["fulfilments"][0]["slip_no"] == "XS-DS-COSMETICS-000001"
    [arrange] = payloads(orders, "logistics.arrange_delivery")
    assert arrange["delivery"] == "local" and arrange["declared_value_cents"] == 2500
    reply(orders, "shipment.booked", fulfilment_id=fid, delivery="local", waybill=None, carrier=None)
    progress = {"fulfilment_id": fid, "waybill": None, "at": "2026-11-24T11:00:00+08:00"}
    reply(orders, "shipment.shipped", detail="picked up by courier Wang", **progress)
    assert order_view(client)["status"] == "shipping"
    reply(orders, "shipment.delivered", detail="signed by Li Ming", **progress)
    assert order_view(client)["status"] == "delivered"
    assert client.post("/internal/orders/M20261124AAAAAA/receipt").status_code == 200
    view = order_view(client)
    assert view["status"] == "completed" and view["payment"]["status"] == "captured"
    [completed] = sent(orders, "order.completed")[:1]
    assert {m["_queue"] for m in sent(orders, "order.completed")} == {"billing", "catalog"}
    assert completed["payload"]["lines"][0]["unit"] == "DS-COSMETICS"
    events = [e["event"] for e in view["timeline"]]
    assert events[0].startswith("placed") and events[-1].startswith("customer confirmed receipt")


def test_a_short_branch_hands_the_order_to_the_next_branch(orders, client, stock):
    stock += [
        {"unit": "SM-MINZU", "sku": "RICE-5KG", "kind": "branch", "available": 5, "lat": 22.82, "lon": 108.37},
        {"unit": "SM-GUOMAO", "sku": "RICE-5KG", "kind": "branch", "available": 5, "lat": 22.9, "lon": 108.5},
    ]
    place(orders, RICE)
    ids = fulfilment_ids(client)
    assert list(ids) == ["SM-MINZU"]
    reply(
        orders,
        "stock.short",
        fulfilment_id=ids["SM-MINZU"],
        unit="SM-MINZU",
        short=[{"sku": "RICE-5KG", "requested": 1, "available": 0}],
        purchase_notice=None,
    )
    checks = payloads(orders, "stores.check_stock")
    assert [c["unit"] for c in checks] == ["SM-MINZU", "SM-GUOMAO"]
    assert checks[-1]["notify_purchasing"] is True


def test_when_no_unit_has_stock_the_order_waits_and_a_stock_in_resumes_it(orders, client):
    place(orders)
    fid = fulfilment_ids(client)["DS-COSMETICS"]
    reply(
        orders,
        "stock.short",
        fulfilment_id=fid,
        unit="DS-COSMETICS",
        short=[{"sku": "LIPSTICK-RED-01", "requested": 2, "available": 0}],
        purchase_notice="17",
    )
    view = order_view(client)
    assert view["status"] == "awaiting_stock"
    assert "external purchase notice 17" in view["timeline"][-1]["event"]
    deliver(
        orders,
        "stock.replenished",
        {"unit": "DS-COSMETICS", "sku": "LIPSTICK-RED-01", "available": 10},
        correlation_id="stock-in:DS-COSMETICS",
    )
    checks = payloads(orders, "stores.check_stock")
    assert len(checks) == 2 and checks[-1]["notify_purchasing"] is False
    reply(orders, "stock.reserved", fulfilment_id=fid, unit="DS-COSMETICS")
    assert len(payloads(orders, "billing.take_payment")) == 1


def test_a_balance_too_small_cancels_the_order_and_releases_its_stock(orders, client):
    place(orders)
    reserve_all(orders, client)
    reply(orders, "payment.failed", reason="insufficient_balance")
    view = order_view(client)
    assert view["status"] == "cancelled" and view["payment"]["status"] == "failed"
    assert [r["unit"] for r in payloads(orders, "stores.release_stock")] == ["DS-COSMETICS"]
    assert payloads(orders, "billing.refund_payment") == []


def test_cancelling_a_paid_order_releases_stock_and_refunds(orders, client):
    place(orders)
    reserve_all(orders, client)
    reply(orders, "payment.captured", method="balance", amount_cents=2500)
    response = client.post("/internal/orders/M20261124AAAAAA/cancel", json={"reason": "changed my mind"})
    assert response.status_code == 202 and response.json["status"] == "cancelled"
    assert payloads(orders, "billing.refund_payment") == [{"order": "M20261124AAAAAA", "reason": "changed my mind"}]
    assert len(payloads(orders, "stores.release_stock")) == 1
    reply(orders, "payment.refunded", amount_cents=2500)
    assert order_view(client)["payment"]["status"] == "refunded"


def test_an_order_handed_over_cannot_be_cancelled(orders, client):
    place(orders)
    reserve_all(orders, client)
    reply(orders, "payment.captured", method="balance", amount_cents=2500)
    fid = fulfilment_ids(client)["DS-COSMETICS"]
    reply(
        orders,
        "parcel.packed",
        fulfilment_id=fid,
        unit="DS-COSMETICS",
        slip_no="XS-1",
        packed_at="2026-11-24T10:00:00+08:00",
    )
    reply(
        orders, "shipment.shipped", fulfilment_id=fid, waybill=None, at="2026-11-24T11:00:00+08:00", detail="picked up"
    )
    response = client.post("/internal/orders/M20261124AAAAAA/cancel", json={})
    assert response.status_code == 409 and response.json["error"]["code"] == "not_cancellable"


def packed_then_cancelled(orders, client, method="balance"):
    place(orders, method=method)
    reserve_all(orders, client)
    if method == "cod":
        reply(orders, "payment.pending", method="cod")
        assert client.post("/internal/orders/M20261124AAAAAA/check").status_code == 200
    else:
        reply(orders, "payment.captured", method="balance", amount_cents=2500)
    fid = fulfilment_ids(client)["DS-COSMETICS"]
    packed = {"slip_no": "XS-1", "packed_at": "2026-11-24T10:00:00+08:00"}
    reply(orders, "parcel.packed", fulfilment_id=fid, unit="DS-COSMETICS", **packed)
    reply(orders, "shipment.booked", fulfilment_id=fid, delivery="local", waybill=None, carrier=None)
    assert client.post("/internal/orders/M20261124AAAAAA/cancel", json={}).status_code == 202
    return fid


def sweep_after(orders, deadlines):
    from services.orders import services
    from shared.messaging import now

    later = now() + timedelta(seconds=orders.settings.reply_deadline_seconds * deadlines)
    with orders.unit_of_work("sweep") as uow:
        return services.sweep_deadlines(uow, orders.settings, at=later)


def test_a_withdrawal_logistics_never_confirms_is_asked_for_again(orders, client):
    fid = packed_then_cancelled(orders, client)
    assert len(payloads(orders, "logistics.cancel_delivery")) == 1
    sweep_after(orders, 1.5)
    assert payloads(orders, "logistics.cancel_delivery") == [{"order": "M20261124AAAAAA", "fulfilment_id": fid}] * 2
    reply(orders, "shipment.cancelled", fulfilment_id=fid)
    sweep_after(orders, 100)
    assert len(payloads(orders, "logistics.cancel_delivery")) == 2  # confirmed: not asked again
    assert "delivery from DS-COSMETICS withdrawn" in [e["event"] for e in order_view(client)["timeline"]]


def test_a_cancel_after_packing_gives_the_stock_and_money_back_once_logistics_has_withdrawn_the_parcel(orders, client):
    fid = packed_then_cancelled(orders, client)
    # The parcel could be handed to a courier before logistics hears of the cancel: nothing goes back yet.
    assert payloads(orders, "stores.release_stock") == [] and payloads(orders, "billing.refund_payment") == []
    view = order_view(client)
    assert view["status"] == "cancelled" and view["payment"]["status"] == "captured"
    assert "refund waits for logistics to withdraw the packed parcel(s)" in [e["event"] for e in view["timeline"]]
    reply(orders, "shipment.cancelled", fulfilment_id=fid)
    reply(orders, "shipment.cancelled", fulfilment_id=fid)  # answered twice: released and refunded once
    assert payloads(orders, "stores.release_stock") == [
        {
            "order": "M20261124AAAAAA",
            "fulfilment_id": fid,
            "unit": "DS-COSMETICS",
            "reason": "cancelled by the customer",
        }
    ]
    assert [p["order"] for p in payloads(orders, "billing.refund_payment")] == ["M20261124AAAAAA"]
    reply(orders, "stock.released", fulfilment_id=fid, unit="DS-COSMETICS")
    reply(orders, "payment.refunded", amount_cents=2500)
    view = order_view(client)
    assert view["fulfilments"][0]["status"] == "cancelled" and view["payment"]["status"] == "refunded"


def test_a_late_copy_of_the_payment_does_not_refund_before_the_parcel_is_withdrawn(orders, client):
    """Found by the saga's state machine: payment.captured again (a new id) took the refund's old path."""
    fid = packed_then_cancelled(orders, client)
    reply(orders, "payment.captured", method="balance", amount_cents=2500)
    assert payloads(orders, "billing.refund_payment") == []
    reply(orders, "shipment.cancelled", fulfilment_id=fid)
    assert len(payloads(orders, "billing.refund_payment")) == 1
    reply(orders, "payment.captured", method="balance", amount_cents=2500)
    assert len(payloads(orders, "billing.refund_payment")) == 1


def test_a_late_copy_of_the_reservation_does_not_release_a_parcel_being_withdrawn_or_gone(orders, client):
    """Found by the saga's state machine: stock.reserved again (a new id) released a handed-over parcel's stock."""
    fid = packed_then_cancelled(orders, client)
    reply(orders, "stock.reserved", fulfilment_id=fid, unit="DS-COSMETICS")
    assert payloads(orders, "stores.release_stock") == []
    progress = {"fulfilment_id": fid, "waybill": None, "at": "2026-11-24T11:00:00+08:00", "detail": "picked up"}
    reply(orders, "shipment.shipped", **progress)
    reply(orders, "stock.reserved", fulfilment_id=fid, unit="DS-COSMETICS")
    assert payloads(orders, "stores.release_stock") == []
    assert order_view(client)["fulfilments"][0]["status"] == "shipping"


def test_a_cancel_between_packing_and_booking_no_longer_waits_for_the_booking(orders, client):
    """Found in review: the saga kept asking logistics to book a cancelled order's parcel, and alerted."""
    place(orders)
    reserve_all(orders, client)
    reply(orders, "payment.captured", method="balance", amount_cents=2500)
    fid = fulfilment_ids(client)["DS-COSMETICS"]
    packed = {"slip_no": "XS-1", "packed_at": "2026-11-24T10:00:00+08:00"}
    reply(orders, "parcel.packed", fulfilment_id=fid, unit="DS-COSMETICS", **packed)
    assert client.post("/internal/orders/M20261124AAAAAA/cancel", json={}).status_code == 202
    for deadlines in (1.5, 5, 12):
        sweep_after(orders, deadlines)
    assert len(payloads(orders, "logistics.arrange_delivery")) == 1
    assert not any("has not answered" in e["event"] for e in order_view(client)["timeline"])
    # Waiting for the withdrawal instead: asked again until answered, and the answer settles it.
    assert len(payloads(orders, "logistics.cancel_delivery")) > 1
    reply(orders, "shipment.cancelled", fulfilment_id=fid)
    assert len(payloads(orders, "billing.refund_payment")) == 1


def test_the_refund_waits_once_in_the_timeline_however_often_it_is_asked(orders, client):
    fid = packed_then_cancelled(orders, client)
    reply(orders, "payment.captured", method="balance", amount_cents=2500)
    reply(orders, "payment.captured", method="balance", amount_cents=2500)
    events = [e["event"] for e in order_view(client)["timeline"]]
    assert events.count("refund waits for logistics to withdraw the packed parcel(s)") == 1
    reply(orders, "shipment.cancelled", fulfilment_id=fid)
    assert len(payloads(orders, "billing.refund_payment")) == 1


def test_a_cash_on_delivery_order_cancelled_after_packing_is_voided_once_its_parcel_is_withdrawn(orders, client):
    """Found in review: the cash to collect was voided at once, while the courier might still collect it."""
    fid = packed_then_cancelled(orders, client, method="cod")
    assert payloads(orders, "billing.refund_payment") == []
    reply(orders, "shipment.cancelled", fulfilment_id=fid)
    assert [p["order"] for p in payloads(orders, "billing.refund_payment")] == ["M20261124AAAAAA"]


def test_a_cash_on_delivery_parcel_that_left_anyway_keeps_its_cash_to_collect(orders, client):
    fid = packed_then_cancelled(orders, client, method="cod")
    progress = {"fulfilment_id": fid, "waybill": None, "at": "2026-11-24T11:00:00+08:00", "detail": "picked up"}
    reply(orders, "shipment.shipped", **progress)
    assert payloads(orders, "billing.refund_payment") == []
    assert order_view(client)["payment"]["status"] == "cod"


def test_a_lost_void_of_an_unpaid_order_is_sent_again_until_billing_answers(orders, client):
    """The void (a refund of nothing) had no deadline, unlike a refund: if Redis lost it, billing kept the
    payment pending for ever."""
    place(orders, method="online")
    reserve_all(orders, client)
    reply(orders, "payment.pending", method="online")
    assert client.post("/internal/orders/M20261124AAAAAA/cancel", json={}).status_code == 202
    assert len(payloads(orders, "billing.refund_payment")) == 1
    reply(orders, "payment.pending", method="online")  # a late copy of the first answer: still waits
    sweep_after(orders, 1.5)
    assert len(payloads(orders, "billing.refund_payment")) == 2
    reply(orders, "payment.refunded", amount_cents=0)
    sweep_after(orders, 100)
    assert len(payloads(orders, "billing.refund_payment")) == 2
    assert order_view(client)["payment"]["status"] == "failed"


def sweep_minutes_later(orders, minutes):
    from services.orders import services
    from shared.messaging import now

    with orders.unit_of_work("sweep") as uow:
        return services.sweep_deadlines(uow, orders.settings, at=now() + timedelta(minutes=minutes))


def test_an_online_order_not_paid_in_time_is_cancelled_once_billing_has_closed_its_payment(orders, client):
    place(orders, method="online")
    reserve_all(orders, client)
    reply(orders, "payment.pending", method="online")
    timeout = orders.settings.payment_timeout_minutes
    sweep_minutes_later(orders, timeout - 1)
    assert payloads(orders, "billing.expire_payment") == []
    reply(orders, "payment.pending", method="online")  # a repeated answer does not restart the clock
    sweep_minutes_later(orders, timeout + 1)
    # Orders does not cancel on its own clock: billing decides, under the payment's lock.
    assert payloads(orders, "billing.expire_payment") == [
        {"order": "M20261124AAAAAA", "reason": f"not paid within {timeout} minutes"}
    ]
    assert order_view(client)["status"] == "awaiting_payment"
    sweep_minutes_later(orders, timeout + 2)  # billing has not answered: asked again
    assert len(payloads(orders, "billing.expire_payment")) == 2
    reply(orders, "payment.failed", reason=f"not paid within {timeout} minutes")
    view = order_view(client)
    assert view["status"] == "cancelled" and view["payment"]["status"] == "failed"
    assert any(e["event"] == f"cancelled: payment failed: not paid within {timeout} minutes" for e in view["timeline"])
    assert len(payloads(orders, "stores.release_stock")) == 1
    assert payloads(orders, "billing.refund_payment") == []  # billing closed it: nothing to void
    sweep_minutes_later(orders, timeout + 60)
    assert len(payloads(orders, "billing.expire_payment")) == 2  # answered: never asked again


def test_a_payment_captured_just_before_the_timeout_is_not_cancelled(orders, client):
    """Billing captured at 29:59 and its payment.captured was lost (or is still queued) at 30:00."""
    place(orders, method="online")
    reserve_all(orders, client)
    reply(orders, "payment.pending", method="online")
    sweep_minutes_later(orders, orders.settings.payment_timeout_minutes + 1)
    assert len(payloads(orders, "billing.expire_payment")) == 1
    reply(orders, "payment.captured", method="online", amount_cents=2500)  # billing's answer: it is paid
    view = order_view(client)
    assert view["status"] == "packing" and view["payment"]["status"] == "captured"
    assert payloads(orders, "stores.release_stock") == []


def test_money_that_arrives_after_the_payment_timed_out_is_refunded(orders, client):
    place(orders, method="online")
    reserve_all(orders, client)
    reply(orders, "payment.pending", method="online")
    sweep_minutes_later(orders, orders.settings.payment_timeout_minutes + 1)
    reply(orders, "payment.failed", reason="not paid within 30 minutes")
    reply(orders, "payment.captured", method="online", amount_cents=2500)  # Alipay's notice came after all
    assert len(payloads(orders, "billing.refund_payment")) == 1
    assert order_view(client)["payment"]["status"] == "captured"  # until billing confirms the refund
    reply(orders, "payment.refunded", amount_cents=2500)
    view = order_view(client)
    assert view["status"] == "cancelled" and view["payment"]["status"] == "refunded"


def expired_then_paid(orders, client):
    place(orders, method="online")
    reserve_all(orders, client)
    reply(orders, "payment.pending", method="online")
    sweep_minutes_later(orders, orders.settings.payment_timeout_minutes + 1)  # expire_payment sent
    reply(orders, "payment.captured", method="online", amount_cents=2500)  # the notification's answer, first
    assert order_view(client)["status"] == "packing"


def test_a_stale_payment_failed_from_expire_does_not_cancel_an_order_already_paid(orders, client):
    """Billing failed the payment at expire, then Alipay's notification captured it: orders hears the
    capture first. The expire's payment.failed, late, must not cancel a paid order and keep the money."""
    expired_then_paid(orders, client)
    reply(orders, "payment.failed", reason="not paid within 30 minutes")
    view = order_view(client)
    assert view["status"] == "packing" and view["payment"]["status"] == "captured"
    assert payloads(orders, "stores.release_stock") == []


def test_a_stale_payment_failed_does_not_cancel_an_order_already_delivered(orders, client):
    expired_then_paid(orders, client)
    deliver_the_parcel(orders)
    assert order_view(client)["status"] == "delivered"
    reply(orders, "payment.failed", reason="not paid within 30 minutes")
    assert order_view(client)["status"] == "delivered"


def test_a_late_payment_captured_does_not_drop_the_deadline_of_a_refund_in_flight(orders, client):
    expired_then_paid(orders, client)
    assert client.post("/internal/orders/M20261124AAAAAA/cancel", json={}).status_code == 202
    assert len(payloads(orders, "billing.refund_payment")) == 1  # ... and Redis loses it
    reply(orders, "payment.captured", method="online", amount_cents=2500)  # expire's answer, late
    sweep_after(orders, 1.5)
    assert len(payloads(orders, "billing.refund_payment")) == 2  # the refund is asked for again


def test_a_late_answer_to_a_void_does_not_drop_the_refund_of_money_that_came_after_it(orders, client):
    place(orders, method="online")
    reserve_all(orders, client)
    reply(orders, "payment.pending", method="online")
    assert client.post("/internal/orders/M20261124AAAAAA/cancel", json={}).status_code == 202  # void sent
    reply(orders, "payment.captured", method="online", amount_cents=2500)  # the money came anyway: refund
    assert len(payloads(orders, "billing.refund_payment")) == 2
    reply(orders, "payment.refunded", amount_cents=0)  # the void's late answer
    assert order_view(client)["payment"]["status"] == "captured"
    sweep_after(orders, 1.5)  # the refund was lost: it is asked for again
    assert len(payloads(orders, "billing.refund_payment")) == 3
    reply(orders, "payment.refunded", amount_cents=2500)
    assert order_view(client)["payment"]["status"] == "refunded"


def test_a_late_payment_failed_does_not_drop_the_refund_of_a_cancelled_order(orders, client):
    place(orders, method="balance")
    reserve_all(orders, client)
    assert client.post("/internal/orders/M20261124AAAAAA/cancel", json={}).status_code == 202
    reply(orders, "payment.captured", method="balance", amount_cents=2500)  # captured after the cancel
    assert len(payloads(orders, "billing.refund_payment")) == 2  # the cancel's void, then the refund
    reply(orders, "payment.failed", reason="insufficient_balance")  # a stale copy of an older answer
    sweep_after(orders, 1.5)
    assert len(payloads(orders, "billing.refund_payment")) == 3  # the refund still has its deadline


def test_cash_on_delivery_waits_for_customer_service_however_long(orders, client):
    place(orders, method="cod")
    reserve_all(orders, client)
    reply(orders, "payment.pending", method="cod")
    sweep_minutes_later(orders, 7 * 24 * 60)
    assert order_view(client)["status"] == "awaiting_check"


def test_a_lost_void_of_cash_on_delivery_is_sent_again_too(orders, client):
    fid = packed_then_cancelled(orders, client, method="cod")
    reply(orders, "shipment.cancelled", fulfilment_id=fid)
    sweep_after(orders, 1.5)
    assert len(payloads(orders, "billing.refund_payment")) == 2
    reply(orders, "payment.refunded", amount_cents=0)
    sweep_after(orders, 100)
    assert len(payloads(orders, "billing.refund_payment")) == 2


def test_the_refund_waits_for_the_packed_parcel_while_the_unpacked_one_is_released_at_once(orders, client):
    place(orders, LIPSTICK, TV, address=GUILIN)
    reserve_all(orders, client)
    reply(orders, "payment.captured", method="balance", amount_cents=2500 + 329900)
    ids = fulfilment_ids(client)
    packed = {"slip_no": "XS-1", "packed_at": "2026-11-24T10:00:00+08:00"}
    reply(orders, "parcel.packed", fulfilment_id=ids["DS-COSMETICS"], unit="DS-COSMETICS", **packed)
    assert client.post("/internal/orders/M20261124AAAAAA/cancel", json={}).status_code == 202
    # The television was still being packed: its task is cancelled and its stock released at once.
    assert [p["unit"] for p in payloads(orders, "stores.release_stock")] == ["EL-WAREHOUSE"]
    assert payloads(orders, "billing.refund_payment") == []
    reply(orders, "shipment.cancelled", fulfilment_id=ids["DS-COSMETICS"])
    assert [p["unit"] for p in payloads(orders, "stores.release_stock")] == ["EL-WAREHOUSE", "DS-COSMETICS"]
    assert len(payloads(orders, "billing.refund_payment")) == 1


def test_a_parcel_handed_over_after_the_cancel_keeps_its_stock_issued_and_the_refund_held(orders, client):
    fid = packed_then_cancelled(orders, client)
    progress = {"fulfilment_id": fid, "waybill": None, "at": "2026-11-24T11:00:00+08:00", "detail": "picked up"}
    reply(orders, "shipment.shipped", **progress)
    sweep_after(orders, 100)
    # The goods left with the courier: giving their stock back would sell them twice, refunding them
    # would give them away. Customer service recovers the parcel and refunds by hand.
    assert payloads(orders, "stores.release_stock") == [] and payloads(orders, "billing.refund_payment") == []
    view = order_view(client)
    assert view["status"] == "cancelled" and view["payment"]["status"] == "captured"
    assert view["fulfilments"][0]["status"] == "shipping"
    alert = "parcel from DS-COSMETICS shipped after the cancel: customer service alerted to recover it; "
    assert alert + "the refund waits for it (refund by hand once it is back)" in [e["event"] for e in view["timeline"]]
    reply(orders, "shipment.delivered", **(progress | {"detail": "signed for"}))
    assert order_view(client)["fulfilments"][0]["status"] == "delivered"
    assert payloads(orders, "billing.refund_payment") == []


def test_a_parcel_handed_over_after_the_cancel_is_not_withdrawn_again(orders, client):
    fid = packed_then_cancelled(orders, client)
    progress = {"fulfilment_id": fid, "waybill": None, "at": "2026-11-24T11:00:00+08:00", "detail": "picked up"}
    reply(orders, "shipment.shipped", **progress)
    sweep_after(orders, 100)
    assert len(payloads(orders, "logistics.cancel_delivery")) == 1
    assert any("after the cancel" in e["event"] for e in order_view(client)["timeline"])


def test_a_packing_command_or_its_answer_lost_is_sent_again_three_times_then_left_to_the_staff(orders, client):
    place(orders)
    reserve_all(orders, client)
    reply(orders, "payment.captured", method="balance", amount_cents=2500)
    assert len(payloads(orders, "stores.pack_parcel")) == 1
    for deadlines in (1.5, 3, 6, 12, 24, 48):
        sweep_after(orders, deadlines)
    assert len(payloads(orders, "stores.pack_parcel")) == 4  # the first and three re-sends, then quiet
    events = [e["event"] for e in order_view(client)["timeline"]]
    assert not any("customer service alerted" in e for e in events)  # a slow packer is not a silent unit


def test_a_reservation_arriving_after_the_cancel_is_given_back(orders, client):
    place(orders)
    client.post("/internal/orders/M20261124AAAAAA/cancel", json={})
    fid = fulfilment_ids(client)["DS-COSMETICS"]
    reply(orders, "stock.reserved", fulfilment_id=fid, unit="DS-COSMETICS")
    assert len(payloads(orders, "stores.release_stock")) == 2
    assert payloads(orders, "billing.take_payment") == []


def delivered_order(orders, client, method="balance", signed_at="2026-11-24T11:00:00+08:00"):
    place(orders, method=method)
    reserve_all(orders, client)
    if method == "cod":
        reply(orders, "payment.pending", method="cod")
        assert client.post("/internal/orders/M20261124AAAAAA/check").status_code == 200
    else:
        reply(orders, "payment.captured", method="balance", amount_cents=2500)
    deliver_the_parcel(orders, signed_at)
    assert order_view(client)["status"] == "delivered"


def deliver_the_parcel(orders, signed_at="2026-11-24T11:00:00+08:00"):
    """The order's one parcel, as packing asked for it: packed, booked, picked up, signed for."""
    [pack] = payloads(orders, "stores.pack_parcel")
    fid = pack["fulfilment_id"]
    packed = {"slip_no": "XS-1", "packed_at": "2026-11-24T10:00:00+08:00", "unit": "DS-COSMETICS"}
    reply(orders, "parcel.packed", fulfilment_id=fid, **packed)
    reply(orders, "shipment.booked", fulfilment_id=fid, delivery="local", waybill=None, carrier=None)
    progress = {"fulfilment_id": fid, "waybill": None, "at": signed_at}
    reply(orders, "shipment.shipped", detail="picked up", **progress)
    reply(orders, "shipment.delivered", detail="signed by Li Ming", **progress)


def test_a_receipt_nobody_confirms_is_confirmed_automatically_days_after_delivery(orders, client):
    from services.orders import services

    delivered_order(orders, client, method="cod")
    signed = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)
    days = orders.settings.auto_receipt_days
    with orders.unit_of_work("sweep") as uow:
        services.sweep_deadlines(uow, orders.settings, at=signed + timedelta(days=days, minutes=-1))
    assert order_view(client)["status"] == "delivered"
    with orders.unit_of_work("sweep") as uow:
        services.sweep_deadlines(uow, orders.settings, at=signed + timedelta(days=days, minutes=1))
    view = order_view(client)
    assert view["status"] == "completed"
    assert view["timeline"][-1]["event"] == f"receipt confirmed automatically {days} days after delivery: completed"
    [completed] = payloads(orders, "order.completed")[:1]
    assert completed["delivered_at"] == "2026-11-24T03:00:00+00:00"  # billing dates the cash collected then
    with orders.unit_of_work("sweep") as uow:  # once
        services.sweep_deadlines(uow, orders.settings, at=signed + timedelta(days=days * 3))
    assert len(payloads(orders, "order.completed")) == 2  # (one for billing, one for catalog)
    assert client.post("/internal/orders/M20261124AAAAAA/receipt").status_code == 200  # the customer, late


def test_an_order_is_delivered_when_its_last_parcel_was_signed_for_whatever_order_the_reports_came_in(orders, client):
    place(orders, LIPSTICK, TV, address=GUILIN, method="cod")
    reserve_all(orders, client)
    reply(orders, "payment.pending", method="cod")
    assert client.post("/internal/orders/M20261124AAAAAA/check").status_code == 200
    signed = {"DS-COSMETICS": "2026-11-01T00:30:00+08:00", "EL-WAREHOUSE": "2026-10-30T10:00:00+08:00"}
    for pack in payloads(orders, "stores.pack_parcel"):
        fid, unit = pack["fulfilment_id"], pack["unit"]
        reply(orders, "parcel.packed", fulfilment_id=fid, unit=unit, slip_no=f"XS-{fid}", packed_at=signed[unit])
        reply(orders, "shipment.booked", fulfilment_id=fid, delivery="courier", waybill=f"SF{fid}", carrier="sf")
    ids = fulfilment_ids(client)
    for unit in ("DS-COSMETICS", "EL-WAREHOUSE"):  # the later signing is reported first
        progress = {"fulfilment_id": ids[unit], "waybill": f"SF{ids[unit]}", "at": signed[unit]}
        reply(orders, "shipment.delivered", detail="signed", **progress)
    assert client.post("/internal/orders/M20261124AAAAAA/receipt").status_code == 200
    [completed] = payloads(orders, "order.completed")[:1]
    assert completed["delivered_at"] == "2026-10-31T16:30:00+00:00"  # November in the mall: cash counts then


def test_a_receipt_the_customer_confirms_carries_when_the_order_was_delivered(orders, client):
    delivered_order(orders, client)
    assert client.post("/internal/orders/M20261124AAAAAA/receipt").status_code == 200
    [completed] = payloads(orders, "order.completed")[:1]
    assert completed["delivered_at"] == "2026-11-24T03:00:00+00:00"


def test_receipt_before_delivery_is_refused(orders, client):
    place(orders)
    response = client.post("/internal/orders/M20261124AAAAAA/receipt")
    assert response.status_code == 409 and response.json["error"]["code"] == "not_delivered"


def test_a_cash_on_delivery_order_waits_for_customer_service(orders, client):
    place(orders, method="cod")
    reserve_all(orders, client)
    reply(orders, "payment.pending", method="cod")
    assert order_view(client)["status"] == "awaiting_check"
    assert order_view(client)["payment"]["status"] == "cod"
    assert client.post("/internal/orders/M20261124AAAAAA/check").status_code == 200
    assert order_view(client)["status"] == "packing"
    assert len(payloads(orders, "stores.pack_parcel")) == 1


def test_the_same_order_placed_twice_is_created_once(orders, client):
    place(orders)
    place(orders)
    assert len(payloads(orders, "stores.check_stock")) == 1


def test_a_reply_for_an_unknown_order_is_dead_lettered(orders):
    assert reply(orders, "stock.reserved", order="M-NOPE", fulfilment_id=1, unit="DS-COSMETICS") == "dead_lettered"


def test_a_unit_that_never_answers_is_asked_again_after_the_deadline(orders, client):
    from services.orders import services
    from shared.messaging import now

    place(orders)
    later = now() + timedelta(seconds=orders.settings.reply_deadline_seconds + 1)
    with orders.unit_of_work("sweep") as uow:
        assert services.sweep_deadlines(uow, orders.settings, at=later) == 1
    with orders.unit_of_work("sweep") as uow:
        assert services.sweep_deadlines(uow, orders.settings, at=later) == 0  # backed off
    assert len(payloads(orders, "stores.check_stock")) == 2


def test_no_command_is_sent_again_while_orders_own_queue_is_behind(orders, client, monkeypatch):
    from services.orders import services, tasks
    from shared import runtime as runtime_module
    from shared.messaging import now

    place(orders)
    later = now() + timedelta(seconds=orders.settings.reply_deadline_seconds + 1)
    monkeypatch.setattr(services, "now", lambda: later)
    monkeypatch.setattr(orders, "backlog", lambda queue=None: runtime_module.BEHIND_AT + 1)
    assert tasks.sweep_deadlines() == 0  # the reply may be waiting in the queue: late, not lost
    assert len(payloads(orders, "stores.check_stock")) == 1
    monkeypatch.setattr(orders, "backlog", lambda queue=None: 0)
    assert tasks.sweep_deadlines() == 1
    assert len(payloads(orders, "stores.check_stock")) == 2


def test_an_invalid_cancel_body_gets_422(orders, client):
    place(orders)
    response = client.post("/internal/orders/M20261124AAAAAA/cancel", json={"reason": ""})
    assert response.status_code == 422 and "reason" in response.json["error"]["fields"]


def test_a_lone_surrogate_in_a_cancel_reason_is_422_and_changes_nothing(orders, client):
    place(orders)
    before, messages = order_view(client), sent(orders)
    response = client.post(
        "/internal/orders/M20261124AAAAAA/cancel",
        data=b'{"reason": "changed my mind \\ud800"}',
        content_type="application/json",
    )
    assert_text_refused(response, "reason")
    assert order_view(client) == before
    assert sent(orders) == messages


def rerouted_then_late(orders, client, stock) -> int:
    """SM-MINZU is short, the order moves to SM-GUOMAO, which reserves; then SM-MINZU reserves after all."""
    stock += [
        {"unit": "SM-MINZU", "sku": "RICE-5KG", "kind": "branch", "available": 5, "lat": 22.82, "lon": 108.37},
        {"unit": "SM-GUOMAO", "sku": "RICE-5KG", "kind": "branch", "available": 5, "lat": 22.9, "lon": 108.5},
    ]
    place(orders, RICE)
    fid = fulfilment_ids(client)["SM-MINZU"]
    short = [{"sku": "RICE-5KG", "requested": 1, "available": 0}]
    reply(orders, "stock.short", fulfilment_id=fid, unit="SM-MINZU", short=short, purchase_notice=None)
    reply(orders, "stock.reserved", fulfilment_id=fid, unit="SM-GUOMAO")
    reply(orders, "stock.reserved", fulfilment_id=fid, unit="SM-MINZU")  # a late, repeated answer
    return fid


def test_a_unit_that_answers_after_the_saga_moved_on_gets_its_reservation_released(orders, client, stock):
    rerouted_then_late(orders, client, stock)
    [release] = payloads(orders, "stores.release_stock")
    assert release["unit"] == "SM-MINZU"
    assert len(payloads(orders, "billing.take_payment")) == 1
    assert order_view(client)["fulfilments"][0]["unit"] == "SM-GUOMAO"


def test_a_release_to_the_unit_left_behind_is_asked_again_until_it_answers(orders, client, stock):
    fid = rerouted_then_late(orders, client, stock)  # and the release to SM-MINZU is lost
    sweep_after(orders, 1.5)  # the check at SM-GUOMAO was answered; only the stray release is overdue
    releases = payloads(orders, "stores.release_stock")
    assert [r["unit"] for r in releases] == ["SM-MINZU", "SM-MINZU"]
    reply(orders, "stock.released", fulfilment_id=fid, unit="SM-MINZU")
    sweep_after(orders, 100)
    assert len(payloads(orders, "stores.release_stock")) == 2  # answered: not asked again
    assert order_view(client)["fulfilments"][0]["unit"] == "SM-GUOMAO"


def test_a_command_re_sent_by_the_sweep_carries_the_order_number(orders, client):
    from services.orders import services
    from shared.messaging import now

    place(orders)
    later = now() + timedelta(seconds=orders.settings.reply_deadline_seconds + 1)
    with orders.unit_of_work("sweep") as uow:
        services.sweep_deadlines(uow, orders.settings, at=later)
    assert {m["correlation_id"] for m in sent(orders, "stores.check_stock")} == {"M20261124AAAAAA"}


def test_a_refund_billing_never_confirms_is_asked_for_again(orders, client):
    from services.orders import services
    from shared.messaging import now

    place(orders)
    reserve_all(orders, client)
    reply(orders, "payment.captured", method="balance", amount_cents=2500)
    client.post("/internal/orders/M20261124AAAAAA/cancel", json={"reason": "changed my mind"})
    later = now() + timedelta(seconds=orders.settings.reply_deadline_seconds + 1)
    with orders.unit_of_work("sweep") as uow:
        services.sweep_deadlines(uow, orders.settings, at=later)
    assert len(payloads(orders, "billing.refund_payment")) == 2
    reply(orders, "payment.refunded", amount_cents=2500)
    much_later = later + timedelta(seconds=orders.settings.reply_deadline_seconds * 40)
    with orders.unit_of_work("sweep") as uow:
        services.sweep_deadlines(uow, orders.settings, at=much_later)
    assert len(payloads(orders, "billing.refund_payment")) == 2
    assert order_view(client)["payment"]["status"] == "refunded"


def test_contact_details_change_before_packing_and_reach_the_booking(orders, client):
    place(orders)
    reserve_all(orders, client)
    reply(orders, "payment.captured", method="balance", amount_cents=2500)
    change = {"name": "Wang Fang", "phone": "13900000000", "by": "li_ming"}
    response = client.post("/internal/orders/M20261124AAAAAA/contact", json=change)
    assert response.status_code == 200
    assert response.json["address"]["name"] == "Wang Fang" and response.json["address"]["city"] == "Nanning"
    assert client.post("/internal/orders/M20261124AAAAAA/contact", json=change).status_code == 200  # the same again
    events = [e["event"] for e in order_view(client)["timeline"]]
    assert events.count("contact details changed before shipment by li_ming: name, phone") == 1
    [pack] = payloads(orders, "stores.pack_parcel")
    fid = pack["fulfilment_id"]
    reply(orders, "parcel.packed", fulfilment_id=fid, unit="DS-COSMETICS", slip_no="XS-1", packed_at=PACKED_AT)
    [arrange] = payloads(orders, "logistics.arrange_delivery")
    assert arrange["address"]["name"] == "Wang Fang" and arrange["address"]["phone"] == "13900000000"
    locked = client.post("/internal/orders/M20261124AAAAAA/contact", json={"phone": "1", "by": "li_ming"})
    assert locked.status_code == 409 and locked.json["error"]["code"] == "contact_locked"


def test_a_contact_change_must_say_what_changes_and_never_the_city(orders, client):
    place(orders)
    for body in ({"by": "x"}, {"city": "Guilin", "by": "x"}, {"name": "", "by": "x"}):
        assert client.post("/internal/orders/M20261124AAAAAA/contact", json=body).status_code == 422, body
    assert order_view(client)["address"]["city"] == "Nanning"


def test_the_invoice_asked_for_is_kept_and_goes_to_billing_with_the_payment(orders, client):
    invoice = {"kind": "personal", "title": "Li Ming", "tax_id": None}
    deliver(
        orders,
        "orders.place_order",
        {
            "number": "M20261124AAAAAA",
            "member_id": 7,
            "payment_method": "balance",
            "address": NANNING,
            "lines": [LIPSTICK],
            "invoice": invoice,
        },
    )
    assert order_view(client)["invoice"] == invoice
    reserve_all(orders, client)
    [take] = payloads(orders, "billing.take_payment")
    assert take["invoice"] == invoice


def test_an_order_without_an_invoice_asks_billing_for_none(orders, client):
    place(orders)
    reserve_all(orders, client)
    assert order_view(client)["invoice"] is None
    assert "invoice" not in payloads(orders, "billing.take_payment")[0]
