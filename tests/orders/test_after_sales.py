"""After-sales (售后) in orders: cases opened on delivered orders, agreed, answered, refunded, restocked."""

from datetime import UTC, datetime, timedelta

import pytest
from saga_samples import GUILIN, LIPSTICK, TV
from test_saga import deliver_the_parcel, fulfilment_ids, order_view, place, reply, reserve_all

from shared.testing import deliver, payloads

NUMBER = "M20261124AAAAAA"


def signed(days_ago: float = 0.1) -> str:
    return (datetime.now(UTC) - timedelta(days=days_ago)).isoformat()


def delivered(orders, client, method="balance", days_ago=0.1):
    place(orders, method=method)
    reserve_all(orders, client)
    if method == "cod":
        reply(orders, "payment.pending", method="cod")
        assert client.post(f"/internal/orders/{NUMBER}/check").status_code == 200
    else:
        reply(orders, "payment.captured", method="balance", amount_cents=2500)
    deliver_the_parcel(orders, signed(days_ago))
    assert order_view(client)["status"] == "delivered"


def open_case(client, number=NUMBER, **body):
    request = {"member_id": 7, "kind": "return", "problem": "quality", "reason": "the lid is cracked"}
    request |= {"lines": [{"sku": "LIPSTICK-RED-01", "quantity": 1}]} | body
    return client.post(f"/internal/orders/{number}/after-sales", json=request)


def act(client, case_id, action, **body):
    return client.post(f"/internal/after-sales/{case_id}/{action}", json={"by": "cs_wang"} | body)


def test_a_return_is_agreed_received_refunded_and_restocked(orders, client):
    delivered(orders, client)
    opened = open_case(client)
    assert opened.status_code == 201, opened.json
    case = opened.json
    assert (case["status"], case["unit"], case["claimed"]) == ("requested", "DS-COSMETICS", "12.50")
    assert case["items"] == [{"sku": "LIPSTICK-RED-01", "name": "Red lipstick", "quantity": 1, "amount": "12.50"}]

    agreed = act(client, case["id"], "agree", resolution="return")
    assert agreed.status_code == 200 and agreed.json["status"] == "awaiting_return"
    assert payloads(orders, "billing.refund_after_sale") == []  # the goods come back first

    received = act(client, case["id"], "received", restock=True)
    assert received.json["status"] == "refunding" and received.json["restock"] is True
    [refund] = payloads(orders, "billing.refund_after_sale")
    assert refund["case"] == case["id"] and refund["unit"] == "DS-COSMETICS" and refund["amount_cents"] == 1250
    assert refund["lines"] == [{"sku": "LIPSTICK-RED-01", "name": "Red lipstick", "quantity": 1, "amount_cents": 1250}]
    assert refund["delivered_at"] is not None
    [restock] = payloads(orders, "stores.restock_return")
    assert restock == {
        "order": NUMBER,
        "case": case["id"],
        "unit": "DS-COSMETICS",
        "lines": [{"sku": "LIPSTICK-RED-01", "quantity": 1}],
    }

    reply(orders, "after_sale.refunded", case=case["id"], amount_cents=1250)
    reply(orders, "after_sale.refunded", case=case["id"], amount_cents=1250)  # a repeat changes nothing
    reply(orders, "stock.returned", case=case["id"], unit="DS-COSMETICS")
    [done] = client.get(f"/internal/orders/{NUMBER}/after-sales").json["items"]
    assert done["status"] == "refunded" and done["refund"] == "12.50" and done["closed_at"]
    view = order_view(client)
    assert view["payment"] == {"method": "balance", "status": "captured", "refunded": "12.50"}
    events = [e["event"] for e in view["timeline"]]
    assert f"after-sales #{case['id']} refunded 12.50" in events
    assert sum("refunded 12.50" in e for e in events) == 1
    assert f"after-sales #{case['id']}: returned goods back in stock at DS-COSMETICS" in events


def test_a_refund_of_everything_leaves_the_order_refunded(orders, client):
    delivered(orders, client)
    case = open_case(client, kind="refund", lines=[{"sku": "LIPSTICK-RED-01", "quantity": 2}]).json
    agreed = act(client, case["id"], "agree", resolution="refund")
    assert agreed.json["status"] == "refunding" and agreed.json["refund"] == "25.00"
    [refund] = payloads(orders, "billing.refund_after_sale")
    assert refund["lines"][0]["quantity"] == 0  # a refund without a return: the customer keeps the goods
    assert payloads(orders, "stores.restock_return") == []
    reply(orders, "after_sale.refunded", case=case["id"], amount_cents=2500)
    assert order_view(client)["payment"]["status"] == "refunded"


#: Three more of the cosmetics counter's goods, priced so that shares of a partial refund round.
COUNTER = [
    LIPSTICK | {"sku": sku, "name": sku, "quantity": 1, "unit_price_cents": price}
    for sku, price in (("KOHL-01", 333), ("KOHL-02", 333), ("KOHL-03", 333), ("SWAB-01", 1))
]


def test_a_partial_refund_is_spread_over_the_goods_to_the_cent_none_above_its_price(orders, client):
    place(orders, *COUNTER)
    reserve_all(orders, client)
    reply(orders, "payment.captured", method="balance", amount_cents=1000)
    deliver_the_parcel(orders, signed())
    lines = [{"sku": line["sku"], "quantity": 1} for line in COUNTER]
    case = open_case(client, kind="refund", lines=lines).json
    assert case["claimed"] == "10.00"
    act(client, case["id"], "agree", resolution="refund", refund_cents=999)
    [refund] = payloads(orders, "billing.refund_after_sale")
    shares = {line["sku"]: line["amount_cents"] for line in refund["lines"]}
    assert sum(shares.values()) == refund["amount_cents"] == 999
    assert all(shares[line["sku"]] <= line["unit_price_cents"] for line in COUNTER), shares


def test_a_stale_payment_captured_after_everything_was_refunded_does_not_start_packing_again(orders, client):
    delivered(orders, client)
    case = open_case(client, kind="refund", lines=[{"sku": "LIPSTICK-RED-01", "quantity": 2}]).json
    act(client, case["id"], "agree", resolution="refund")
    reply(orders, "after_sale.refunded", case=case["id"], amount_cents=2500)
    packing_asked = len(payloads(orders, "stores.pack_parcel"))
    reply(orders, "payment.captured", method="balance", amount_cents=2500)  # a replayed dead letter, say
    view = order_view(client)
    assert view["status"] == "delivered" and view["payment"]["status"] == "refunded"
    assert len(payloads(orders, "stores.pack_parcel")) == packing_asked


def test_cash_on_delivery_lost_on_the_way_was_never_paid_so_nothing_is_refunded(orders, client):
    place(orders, method="cod")
    reserve_all(orders, client)
    reply(orders, "payment.pending", method="cod")
    assert client.post(f"/internal/orders/{NUMBER}/check").status_code == 200
    [pack] = payloads(orders, "stores.pack_parcel")
    fid = pack["fulfilment_id"]
    reply(orders, "parcel.packed", fulfilment_id=fid, slip_no="XS-1", packed_at=signed(), unit="DS-COSMETICS")
    reply(orders, "shipment.shipped", fulfilment_id=fid, waybill="SF1", at=signed(), detail="picked up")
    refused = open_case(client, kind="refund", problem="lost")
    assert refused.status_code == 409 and refused.json["error"]["code"] == "nothing_paid"


def test_a_case_id_no_database_holds_is_404_not_a_server_error(orders, client):
    assert client.get("/internal/after-sales/99999999999999999999").status_code == 404
    assert act(client, 99999999999999999999, "reply", reply="?").status_code == 404


def test_goods_of_two_units_need_two_cases(orders, client):
    place(orders, LIPSTICK, TV, address=GUILIN)
    reserve_all(orders, client)
    reply(orders, "payment.captured", method="balance", amount_cents=332400)
    for unit, fid in fulfilment_ids(client).items():
        reply(orders, "parcel.packed", fulfilment_id=fid, slip_no="XS", packed_at=signed(), unit=unit)
        progress = {"fulfilment_id": fid, "waybill": None, "at": signed()}
        reply(orders, "shipment.shipped", detail="picked up", **progress)
        reply(orders, "shipment.delivered", detail="signed", **progress)
    both = [{"sku": "LIPSTICK-RED-01", "quantity": 1}, {"sku": "TV-55-SKYWORTH", "quantity": 1}]
    refused = open_case(client, lines=both)
    assert refused.status_code == 422 and "lines" in refused.json["error"]["fields"]
    assert client.get(f"/internal/orders/{NUMBER}/after-sales").json["items"] == []


def test_each_piece_is_claimed_once(orders, client):
    delivered(orders, client)
    assert open_case(client, lines=[{"sku": "LIPSTICK-RED-01", "quantity": 1}]).status_code == 201
    second = open_case(client, lines=[{"sku": "LIPSTICK-RED-01", "quantity": 2}])
    assert second.status_code == 409 and second.json["error"]["code"] == "already_claimed"
    assert open_case(client, lines=[{"sku": "LIPSTICK-RED-01", "quantity": 1}]).status_code == 201
    # A case answered without money gives its goods back to claim.
    first = client.get(f"/internal/orders/{NUMBER}/after-sales").json["items"][0]
    assert act(client, first["id"], "reply", reply="The crack is in the design.").status_code == 200
    assert open_case(client, lines=[{"sku": "LIPSTICK-RED-01", "quantity": 1}]).status_code == 201


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"lines": [{"sku": "NOT-IN-ORDER", "quantity": 1}]}, 422, "validation_error"),
        ({"lines": []}, 422, "validation_error"),
        ({"kind": "return", "problem": "lost"}, 422, "validation_error"),
        ({"kind": "swap"}, 422, "validation_error"),
        ({"lines": [{"sku": "LIPSTICK-RED-01", "quantity": 0}]}, 422, "validation_error"),
        ({"member_id": 8}, 404, "not_found"),
    ],
)
def test_a_bad_case_is_refused_and_changes_nothing(orders, client, body, status, code):
    delivered(orders, client)
    answer = open_case(client, **body)
    assert answer.status_code == status and answer.json["error"]["code"] == code
    assert client.get(f"/internal/orders/{NUMBER}/after-sales").json["items"] == []
    assert not any("after-sales" in e["event"] for e in order_view(client)["timeline"])


def test_after_sales_opens_on_delivery_and_closes_days_later(orders, client):
    place(orders)
    reserve_all(orders, client)
    reply(orders, "payment.captured", method="balance", amount_cents=2500)
    early = open_case(client)
    assert early.status_code == 409 and early.json["error"]["code"] == "not_after_sales"
    deliver_the_parcel(orders, signed(days_ago=orders.settings.after_sales_days + 1))
    late = open_case(client)
    assert late.status_code == 409 and late.json["error"]["code"] == "after_sales_closed"


def test_a_parcel_lost_on_the_way_can_be_refunded_but_not_returned(orders, client):
    place(orders)
    reserve_all(orders, client)
    reply(orders, "payment.captured", method="balance", amount_cents=2500)
    [pack] = payloads(orders, "stores.pack_parcel")
    fid = pack["fulfilment_id"]
    reply(orders, "parcel.packed", fulfilment_id=fid, slip_no="XS-1", packed_at=signed(), unit="DS-COSMETICS")
    reply(orders, "shipment.shipped", fulfilment_id=fid, waybill="SF1", at=signed(), detail="picked up")
    assert open_case(client, kind="refund", problem="quality").status_code == 409  # not delivered, not lost
    case = open_case(client, kind="refund", problem="lost", lines=[{"sku": "LIPSTICK-RED-01", "quantity": 2}]).json
    refused = act(client, case["id"], "agree", resolution="return")
    assert refused.status_code == 409 and refused.json["error"]["code"] == "no_goods"
    assert act(client, case["id"], "agree", resolution="refund").json["status"] == "refunding"
    assert payloads(orders, "billing.refund_after_sale")[0]["delivered_at"] is None


def test_a_complaint_is_answered_without_money(orders, client):
    delivered(orders, client)
    case = open_case(client, kind="complaint", problem="service", lines=[], reason="the courier was rude").json
    assert case["unit"] is None and case["claimed"] == "0.00"
    assert act(client, case["id"], "agree", resolution="refund").json["error"]["code"] == "no_goods"
    answered = act(client, case["id"], "reply", reply="We are sorry; the courier has been spoken to.")
    assert answered.json["status"] == "closed" and answered.json["reply"].startswith("We are sorry")
    again = act(client, case["id"], "reply", reply="We are sorry; the courier has been spoken to.")
    assert again.status_code == 200  # the same answer twice: idempotent
    assert act(client, case["id"], "reply", reply="Something else").status_code == 409
    assert payloads(orders, "billing.refund_after_sale") == []


def test_staff_actions_are_idempotent_and_in_order(orders, client):
    delivered(orders, client)
    case = open_case(client).json
    assert act(client, case["id"], "received", restock=True).status_code == 409  # nothing agreed yet
    assert act(client, case["id"], "agree", resolution="return", refund_cents=1000).status_code == 200
    assert act(client, case["id"], "agree", resolution="return", refund_cents=1000).status_code == 200
    assert act(client, case["id"], "agree", resolution="refund").status_code == 409
    assert act(client, case["id"], "received", restock=False).status_code == 200
    assert act(client, case["id"], "received", restock=False).status_code == 200
    assert len(payloads(orders, "billing.refund_after_sale")) == 1
    assert payloads(orders, "stores.restock_return") == []  # faulty goods are kept aside


def test_more_than_the_goods_cost_is_refused(orders, client):
    delivered(orders, client)
    case = open_case(client).json
    answer = act(client, case["id"], "agree", resolution="refund", refund_cents=1251)
    assert answer.status_code == 422 and "refund" in answer.json["error"]["fields"]
    assert client.get(f"/internal/after-sales/{case['id']}").json["status"] == "requested"


def test_the_same_idempotency_key_opens_one_case(orders, client):
    delivered(orders, client)
    first = open_case(client, idempotency_key="k-1")
    again = open_case(client, idempotency_key="k-1")
    assert first.status_code == 201 and again.status_code == 200 and again.json["id"] == first.json["id"]
    assert len(client.get(f"/internal/orders/{NUMBER}/after-sales").json["items"]) == 1


def test_a_refund_or_restock_billing_or_the_unit_never_answers_is_sent_again(orders, client):
    from services.orders import services
    from shared.messaging import now

    delivered(orders, client)
    case = open_case(client).json
    act(client, case["id"], "agree", resolution="return")
    act(client, case["id"], "received", restock=True)
    later = now() + timedelta(seconds=orders.settings.reply_deadline_seconds * 1.5)
    with orders.unit_of_work("sweep") as uow:
        assert services.sweep_deadlines(uow, orders.settings, at=later) == 2
    assert len(payloads(orders, "billing.refund_after_sale")) == 2
    assert len(payloads(orders, "stores.restock_return")) == 2
    reply(orders, "after_sale.refunded", case=case["id"], amount_cents=1250)
    reply(orders, "stock.returned", case=case["id"], unit="DS-COSMETICS")
    with orders.unit_of_work("sweep") as uow:
        assert services.sweep_deadlines(uow, orders.settings, at=later + timedelta(hours=1)) == 0


def test_the_lists_filter_by_status_and_unit(orders, client):
    delivered(orders, client)
    case = open_case(client).json
    open_case(client, kind="complaint", problem="service", lines=[], reason="slow")
    assert len(client.get("/internal/after-sales").json["items"]) == 2
    [mine] = client.get("/internal/after-sales", query_string={"unit": "DS-COSMETICS"}).json["items"]
    assert mine["id"] == case["id"]
    assert client.get("/internal/after-sales", query_string={"status": "refunded"}).json["items"] == []
    assert client.get("/internal/after-sales", query_string={"status": "nonsense"}).status_code == 422
    assert client.get("/internal/after-sales/99999").status_code == 404


def test_a_reply_for_a_case_orders_does_not_have_changes_nothing(orders, client):
    delivered(orders, client)
    assert deliver(orders, "after_sale.refunded", {"order": NUMBER, "case": 404, "amount_cents": 1}) == "handled"
    assert order_view(client)["payment"]["refunded"] == "0.00"


def shipped_by_courier(orders, client, *lines):
    """An order to Guilin (out of town: courier parcels), paid, every parcel packed and handed to the courier."""
    place(orders, *(lines or [LIPSTICK]), address=GUILIN)
    reserve_all(orders, client)
    total = sum(line["quantity"] * line["unit_price_cents"] for line in (lines or [LIPSTICK]))
    reply(orders, "payment.captured", method="balance", amount_cents=total)
    ids = fulfilment_ids(client)
    for unit, fid in ids.items():
        reply(orders, "parcel.packed", fulfilment_id=fid, slip_no=f"XS-{fid}", packed_at=signed(), unit=unit)
        reply(orders, "shipment.booked", fulfilment_id=fid, delivery="courier", waybill=f"SF{fid}", carrier="sf")
        reply(orders, "shipment.shipped", fulfilment_id=fid, waybill=f"SF{fid}", at=signed(), detail="picked up")
    return ids


def refund_lost(orders, client, sku="LIPSTICK-RED-01", quantity=2, amount=2500):
    case = open_case(client, kind="refund", problem="lost", lines=[{"sku": sku, "quantity": quantity}]).json
    act(client, case["id"], "agree", resolution="refund")
    reply(orders, "after_sale.refunded", case=case["id"], amount_cents=amount)
    return case


def test_a_lost_courier_parcel_refunded_is_lost_its_order_completes_and_the_courier_is_claimed(orders, client):
    ids = shipped_by_courier(orders, client)
    case = refund_lost(orders, client)
    view = order_view(client)
    assert view["fulfilments"][0]["status"] == "lost" and view["status"] == "completed"
    [claim] = payloads(orders, "logistics.claim_loss")
    assert claim == {
        "order": NUMBER,
        "fulfilment_id": ids["DS-COSMETICS"],
        "case": case["id"],
        "unit": "DS-COSMETICS",
        "amount_cents": 2500,
        "problem": "lost",
    }
    reply(orders, "loss.claimed", case=case["id"], claim=3, claimed_cents=2500)
    reply(orders, "loss.claimed", case=case["id"], claim=3, claimed_cents=2500)
    events = [e["event"] for e in order_view(client)["timeline"]]
    noted = f"after-sales #{case['id']}: loss claimed from the courier under the insurance: 25.00 (claim #3)"
    assert events.count(noted) == 1
    assert client.get(f"/internal/after-sales/{case['id']}").json["claim"] == 3


def test_one_parcel_lost_of_two_leaves_the_order_delivered_by_the_other(orders, client):
    ids = shipped_by_courier(orders, client, LIPSTICK, TV)
    progress = {"fulfilment_id": ids["EL-WAREHOUSE"], "waybill": "SF", "at": signed(), "detail": "signed"}
    reply(orders, "shipment.delivered", **progress)
    assert order_view(client)["status"] == "shipping"
    refund_lost(orders, client)
    view = order_view(client)
    assert view["status"] == "delivered"
    assert {f["unit"]: f["status"] for f in view["fulfilments"]} == {
        "DS-COSMETICS": "lost",
        "EL-WAREHOUSE": "delivered",
    }


def test_a_lost_parcel_that_turns_up_after_its_refund_alerts_customer_service_and_moves_nothing(orders, client):
    ids = shipped_by_courier(orders, client)
    refund_lost(orders, client)
    progress = {"fulfilment_id": ids["DS-COSMETICS"], "waybill": "SF", "at": signed(), "detail": "signed"}
    reply(orders, "shipment.delivered", **progress)
    view = order_view(client)
    assert view["status"] == "completed"
    assert "reported lost was delivered after its refund: customer service alerted" in view["timeline"][-1]["event"]


def test_a_damaged_parcel_delivered_by_our_own_couriers_is_not_claimed_from_anyone(orders, client):
    delivered(orders, client)  # a local order: the mall's own courier, no insurance
    case = open_case(client, kind="refund", problem="damaged").json
    act(client, case["id"], "agree", resolution="refund")
    reply(orders, "after_sale.refunded", case=case["id"], amount_cents=1250)
    assert payloads(orders, "logistics.claim_loss") == []


def test_a_claim_logistics_never_answers_is_sent_again(orders, client):
    from services.orders import services
    from shared.messaging import now

    shipped_by_courier(orders, client)
    refund_lost(orders, client)
    later = now() + timedelta(seconds=orders.settings.reply_deadline_seconds * 1.5)
    with orders.unit_of_work("sweep") as uow:
        assert services.sweep_deadlines(uow, orders.settings, at=later) == 1
    assert len(payloads(orders, "logistics.claim_loss")) == 2


def test_a_parcel_lost_before_the_other_is_delivered_leaves_the_order_delivered_then(orders, client):
    ids = shipped_by_courier(orders, client, LIPSTICK, TV)
    refund_lost(orders, client)
    assert order_view(client)["status"] == "shipping"  # the TV is still on its way
    progress = {"fulfilment_id": ids["EL-WAREHOUSE"], "waybill": "SF", "at": signed(), "detail": "signed"}
    reply(orders, "shipment.delivered", **progress)
    assert order_view(client)["status"] == "delivered"


def test_a_lost_case_claims_the_whole_parcel(orders, client):
    shipped_by_courier(orders, client)
    part = open_case(client, kind="refund", problem="lost", lines=[{"sku": "LIPSTICK-RED-01", "quantity": 1}])
    assert part.status_code == 422 and "lines" in part.json["error"]["fields"]


def test_a_lost_parcel_signed_for_before_its_refund_is_neither_lost_nor_claimed(orders, client):
    ids = shipped_by_courier(orders, client)
    case = open_case(client, kind="refund", problem="lost", lines=[{"sku": "LIPSTICK-RED-01", "quantity": 2}]).json
    progress = {"fulfilment_id": ids["DS-COSMETICS"], "waybill": "SF", "at": signed(), "detail": "signed"}
    reply(orders, "shipment.delivered", **progress)
    act(client, case["id"], "agree", resolution="refund")  # customer service agreed it anyway
    reply(orders, "after_sale.refunded", case=case["id"], amount_cents=2500)
    view = order_view(client)
    assert view["fulfilments"][0]["status"] == "delivered" and view["status"] == "delivered"
    assert payloads(orders, "logistics.claim_loss") == []


@pytest.mark.parametrize(("restock", "claimed"), [(True, False), (False, True)])
def test_damaged_goods_are_claimed_unless_they_came_back_and_are_on_sale_again(orders, client, restock, claimed):
    ids = shipped_by_courier(orders, client)
    progress = {"fulfilment_id": ids["DS-COSMETICS"], "waybill": "SF", "at": signed(), "detail": "signed"}
    reply(orders, "shipment.delivered", **progress)
    case = open_case(client, kind="return", problem="damaged").json
    act(client, case["id"], "agree", resolution="return")
    act(client, case["id"], "received", restock=restock)
    reply(orders, "after_sale.refunded", case=case["id"], amount_cents=1250)
    assert bool(payloads(orders, "logistics.claim_loss")) is claimed
