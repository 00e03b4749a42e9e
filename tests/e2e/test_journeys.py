"""The user journeys of issue #2, end to end through the gateway, on the real processes."""

from __future__ import annotations

import hashlib
import json
import threading
import time

import pytest

from tests.e2e.conftest import HOME_CITY

pytestmark = pytest.mark.e2e

KUAIDI100_SALT = "mall-dev-kuaidi100-salt"


def kuaidi100_push(mall, waybill: str, state: int, events: list[tuple[str, str]], salt: str = KUAIDI100_SALT):
    param = json.dumps(
        {
            "status": "polling",
            "message": "",
            "lastResult": {
                "state": str(state),
                "ischeck": "1" if state == 3 else "0",
                "com": "shunfeng",
                "nu": waybill,
                "data": [{"context": c, "time": t, "ftime": t} for t, c in events],
            },
        },
        ensure_ascii=False,
    )
    sign = hashlib.md5((param + salt).encode()).hexdigest().upper()
    return mall.call("POST", "/webhooks/kuaidi100", form={"param": param, "sign": sign})


def wallet(mall, token) -> str:
    return mall.ok("GET", "/api/wallet", token=token)["balance"]


def available(mall, product_id: int) -> int:
    return mall.ok("GET", f"/api/products/{product_id}")["availability"]["available"]


def refunded_and_back_in_stock(mall, number: str, token: str, product_id: int, stock: int, seconds: float = 30) -> dict:
    """The order once its payment is refunded and the product's stock is back to `stock` (or at the deadline)."""
    deadline = time.monotonic() + seconds
    while True:
        order = mall.order(number, token)
        settled = order["payment"]["status"] == "refunded" and available(mall, product_id) == stock
        if settled or time.monotonic() > deadline:
            return order
        time.sleep(0.2)


def test_a_local_order_goes_from_placed_to_completed(mall, sku_prefix):
    unit = mall.unit(f"DS-{sku_prefix}", auto_pack=True)
    product = mall.product(f"LIPSTICK-{sku_prefix}", "12.50", unit)
    mall.stock_in(unit, product["sku"], 5)
    token, _ = mall.customer("100.00")
    status, placed = mall.place(token, [(product["sku"], 2)])
    assert status == 202 and placed["status"] == "placed"
    number = placed["number"]

    order = mall.wait_for(number, token, "ready_to_ship")
    assert order["total"] == "25.00" and order["payment"] == {"method": "balance", "status": "captured"} | {
        k: v for k, v in order["payment"].items() if k not in ("method", "status")
    }
    [f] = order["fulfilments"]
    assert f["unit"] == unit and f["delivery"] == "local" and f["slip_no"].startswith("XS-")
    assert wallet(mall, token) == "75.00"
    assert available(mall, product["id"]) == 3

    service = mall.staff("customer_service")
    courier = mall.staff("courier")
    closed = mall.ok("POST", "/api/staff/batches/close", {}, service)
    assert closed["deliveries"] >= 1
    deliveries = mall.ok("GET", "/api/staff/deliveries", token=courier)
    rows = deliveries["items"] if isinstance(deliveries, dict) else deliveries
    [mine] = [d for d in rows if d["order"] == number]
    mall.ok("POST", f"/api/staff/deliveries/{mine['id']}/picked-up", {"signature": "Wang"}, courier)
    mall.wait_for(number, token, "shipping")
    mall.ok("POST", f"/api/staff/deliveries/{mine['id']}/delivered", {"signed_by": "Li Ming"}, courier)
    mall.wait_for(number, token, "delivered")
    mall.ok("POST", f"/api/orders/{number}/receipt", {}, token)
    order = mall.wait_for(number, token, "completed")
    events = [e["event"] for e in order["timeline"]]
    assert events[0].startswith("placed") and any("receipt" in e for e in events)

    # Received: the customer may now review it (once catalog has heard the order completed), once.
    body = {"rating": 5, "text": "Lovely colour.", "photos": ["https://img.example.com/lipstick.jpg"]}
    for _ in range(100):
        status, review = mall.call("POST", f"/api/products/{product['id']}/reviews", body, token)
        if status != 409 or review["error"]["code"] != "not_purchased":
            break
        time.sleep(0.1)
    assert status == 201, review
    status, again = mall.call("POST", f"/api/products/{product['id']}/reviews", body, token)
    assert status == 409 and again["error"]["code"] == "already_reviewed"
    listed = mall.ok("GET", f"/api/products/{product['id']}/reviews?with_photos=true")
    assert [r["id"] for r in listed["items"]] == [review["id"]] and listed["rating"]["average"] == 5
    assert "***" in listed["items"][0]["author"]
    assert mall.ok("GET", f"/api/products/{product['id']}")["rating"]["count"] == 1


def test_an_out_of_town_order_is_moved_by_kuaidi100_pushes(mall, sku_prefix):
    unit = mall.unit(f"EL-{sku_prefix}", kind="warehouse", division="electronics")
    tv = mall.product(f"TV-55-{sku_prefix}", "3299.00", unit, division="electronics", category="Big appliances")
    mall.stock_in(unit, tv["sku"], 2)
    token, _ = mall.customer("5000.00")
    _, placed = mall.place(token, [(tv["sku"], 1)], city="Guilin", lat=25.27, lon=110.29)
    number = placed["number"]
    order = mall.wait_for(number, token, "ready_to_ship")
    [f] = order["fulfilments"]
    assert f["delivery"] == "courier"
    for _ in range(50):
        f = mall.order(number, token)["fulfilments"][0]
        if f["waybill"]:
            break
        time.sleep(0.2)
    waybill = f["waybill"]
    assert waybill

    status, answer = kuaidi100_push(
        mall, waybill, 0, [("2026-11-24 10:00:00", "Picked up in Nanning")], salt="wrong-salt"
    )
    assert status == 401
    assert mall.order(number, token)["status"] == "ready_to_ship"

    status, answer = kuaidi100_push(mall, waybill, 0, [("2026-11-24 10:00:00", "Picked up in Nanning")])
    assert status == 200 and answer == {"result": True, "returnCode": "200", "message": "成功"}
    mall.wait_for(number, token, "shipping")
    before = len(mall.order(number, token)["timeline"])
    kuaidi100_push(mall, waybill, 0, [("2026-11-24 10:00:00", "Picked up in Nanning")])
    events = [("2026-11-25 09:00:00", "Signed for by Li Ming"), ("2026-11-24 10:00:00", "Picked up in Nanning")]
    status, _ = kuaidi100_push(mall, waybill, 3, events)
    assert status == 200
    order = mall.wait_for(number, token, "delivered")
    assert len(order["timeline"]) > before
    assert sum("Picked up in Nanning" in e["event"] for e in order["timeline"]) == 1

    status, _ = kuaidi100_push(mall, "SB000000000000", 0, [("2026-11-24 10:00:00", "?")])
    assert status == 404


def test_a_cancelled_paid_order_is_refunded_and_its_stock_released(mall, sku_prefix):
    unit = mall.unit(f"DS-{sku_prefix}", auto_pack=False)
    product = mall.product(f"CREAM-{sku_prefix}", "40.00", unit)
    mall.stock_in(unit, product["sku"], 3)
    token, _ = mall.customer("100.00")
    _, placed = mall.place(token, [(product["sku"], 2)])
    number = placed["number"]
    mall.wait_for(number, token, "packing")
    assert wallet(mall, token) == "20.00"
    assert available(mall, product["id"]) == 1
    status, _ = mall.call("POST", f"/api/orders/{number}/cancel", {}, token)
    assert status == 202
    mall.wait_for(number, token, "cancelled")
    order = refunded_and_back_in_stock(mall, number, token, product["id"], 3)
    assert order["payment"]["status"] == "refunded"
    assert wallet(mall, token) == "100.00"
    assert available(mall, product["id"]) == 3


def test_a_packed_order_cancelled_is_refunded_once_logistics_has_withdrawn_its_parcel(mall, sku_prefix):
    unit = mall.unit(f"DS-{sku_prefix}", auto_pack=True)
    product = mall.product(f"SCARF-{sku_prefix}", "30.00", unit)
    mall.stock_in(unit, product["sku"], 2)
    token, _ = mall.customer("100.00")
    _, placed = mall.place(token, [(product["sku"], 1)])
    number = placed["number"]
    mall.wait_for(number, token, "ready_to_ship")  # packed; its local delivery waits for the next batch
    assert wallet(mall, token) == "70.00" and available(mall, product["id"]) == 1
    status, _ = mall.call("POST", f"/api/orders/{number}/cancel", {}, token)
    assert status == 202
    order = refunded_and_back_in_stock(mall, number, token, product["id"], 2)
    events = [e["event"] for e in order["timeline"]]
    # The stock and the money came back only after logistics withdrew the parcel from the batch.
    withdrawn = events.index(f"delivery from {unit} withdrawn")
    assert events.index("refund waits for logistics to withdraw the packed parcel(s)") < withdrawn
    assert withdrawn < events.index("refund requested")
    assert order["status"] == "cancelled" and order["payment"]["status"] == "refunded"
    assert wallet(mall, token) == "100.00" and available(mall, product["id"]) == 2


def test_an_online_order_is_paid_by_alipays_signed_notification(mall, sku_prefix):
    unit = mall.unit(f"DS-{sku_prefix}", auto_pack=True)
    product = mall.product(f"SILK-{sku_prefix}", "88.00", unit)
    mall.stock_in(unit, product["sku"], 3)
    token, _ = mall.customer("0.00")
    _, placed = mall.place(token, [(product["sku"], 2)], method="online")
    number = placed["number"]
    mall.wait_for(number, token, "awaiting_payment")
    pay = mall.ok("POST", f"/api/orders/{number}/pay", {}, token)
    assert pay["out_trade_no"].startswith(number) and "176.00" in pay["pay_url"]

    # A forged notification and one for another amount change nothing.
    forged = {"out_trade_no": pay["out_trade_no"], "trade_no": "1", "total_amount": "176.00"}
    forged |= {"trade_status": "TRADE_SUCCESS", "sign_type": "RSA2", "sign": "Zm9yZ2Vk"}
    assert mall.call("POST", "/webhooks/alipay", form=forged)[0] == 401
    assert mall.alipay(pay["out_trade_no"], "1.76") == (400, "fail")
    assert mall.alipay("M19990101000000-00000000", "176.00")[0] == 404

    assert mall.alipay(pay["out_trade_no"], "176.00") == (200, "success")
    assert mall.alipay(pay["out_trade_no"], "176.00") == (200, "success")  # Alipay repeats itself
    order = mall.wait_for(number, token, "ready_to_ship")
    assert order["payment"]["method"] == "online" and order["payment"]["status"] == "captured"
    events = [e["event"] for e in order["timeline"]]
    assert events.count("payment captured: 176.00 (online)") == 1
    assert available(mall, product["id"]) == 1


def test_an_online_order_whose_trade_closes_unpaid_is_cancelled_and_its_stock_released(mall, sku_prefix):
    unit = mall.unit(f"DS-{sku_prefix}")
    product = mall.product(f"FAN-{sku_prefix}", "59.00", unit)
    mall.stock_in(unit, product["sku"], 1)
    token, _ = mall.customer("0.00")
    _, placed = mall.place(token, [(product["sku"], 1)], method="online")
    number = placed["number"]
    mall.wait_for(number, token, "awaiting_payment")
    out_trade_no = mall.ok("POST", f"/api/orders/{number}/pay", {}, token)["out_trade_no"]
    assert mall.alipay(out_trade_no, "59.00", "TRADE_CLOSED") == (200, "success")
    order = mall.wait_for(number, token, "cancelled")
    assert order["payment"]["status"] == "failed"
    for _ in range(100):
        if available(mall, product["id"]) == 1:
            break
        time.sleep(0.2)
    assert available(mall, product["id"]) == 1


def test_an_order_short_of_stock_resumes_when_purchasing_receives_the_goods(mall, sku_prefix):
    from datetime import date, timedelta

    unit = mall.unit(f"DS-{sku_prefix}", auto_pack=True)
    product = mall.product(f"KETTLE-{sku_prefix}", "199.00", unit)
    token, _ = mall.customer("500.00")
    _, placed = mall.place(token, [(product["sku"], 2)])
    number = placed["number"]
    mall.wait_for(number, token, "awaiting_stock")
    [notice] = mall.ok("GET", f"/api/admin/purchase-notices?unit={unit}", token=mall.admin)["items"]
    assert notice["sku"] == product["sku"] and notice["status"] == "open"

    body = {
        "unit": unit,
        "supplier": "Foshan Kettles",
        "delivery_method": "supplier_delivers",
        "settlement_method": "monthly",
        "deliver_by": (date.today() + timedelta(days=3)).isoformat(),
        "lines": [{"sku": product["sku"], "quantity": 5, "unit_cost": "120.00"}],
    }
    po = mall.ok("POST", "/api/admin/purchase-orders", body, mall.admin)
    assert po["status"] == "draft" and po["total"] == "600.00"
    mall.ok("POST", f"/api/admin/purchase-orders/{po['id']}/confirm", {}, mall.admin)
    received = mall.ok("POST", f"/api/admin/purchase-orders/{po['id']}/receive", {}, mall.admin)
    assert received["status"] == "received"
    order = mall.wait_for(number, token, "ready_to_ship")
    assert available(mall, product["id"]) == 3
    assert any("stock-in" in e["event"] for e in order["timeline"])
    [notice] = mall.ok("GET", f"/api/admin/purchase-notices?unit={unit}", token=mall.admin)["items"]
    assert notice["status"] == "fulfilled"
    assert mall.ok("POST", f"/api/admin/purchase-orders/{po['id']}/settle", {}, mall.admin)["status"] == "settled"


def test_a_balance_too_small_cancels_the_order_and_charges_nothing(mall, sku_prefix):
    unit = mall.unit(f"DS-{sku_prefix}")
    product = mall.product(f"SUIT-{sku_prefix}", "1280.00", unit)
    mall.stock_in(unit, product["sku"], 2)
    token, _ = mall.customer("100.00")
    _, placed = mall.place(token, [(product["sku"], 1)])
    order = mall.wait_for(placed["number"], token, "cancelled")
    assert order["payment"]["status"] == "failed"
    assert wallet(mall, token) == "100.00"
    for _ in range(100):
        if available(mall, product["id"]) == 2:
            break
        time.sleep(0.2)
    assert available(mall, product["id"]) == 2


def test_placing_the_same_order_twice_with_one_key_creates_one_order(mall, sku_prefix):
    unit = mall.unit(f"DS-{sku_prefix}")
    product = mall.product(f"TONER-{sku_prefix}", "76.00", unit)
    mall.stock_in(unit, product["sku"], 5)
    token, _ = mall.customer("500.00")
    first = mall.place(token, [(product["sku"], 1)], key=f"key-{sku_prefix}")
    second = mall.place(token, [(product["sku"], 1)], key=f"key-{sku_prefix}")
    assert first[0] == second[0] == 202
    assert first[1]["number"] == second[1]["number"]
    mall.wait_for(first[1]["number"], token, "ready_to_ship")
    listed = mall.ok("GET", "/api/orders", token=token)
    rows = listed["items"] if isinstance(listed, dict) else listed
    assert [o["number"] for o in rows] == [first[1]["number"]]
    assert wallet(mall, token) == "424.00"
    status, answer = mall.place(token, [(product["sku"], 2)], key=f"key-{sku_prefix}")
    assert status == 409 and answer["error"]["code"]


def test_six_customers_racing_for_the_last_unit_one_wins_and_nobody_else_pays(mall, sku_prefix):
    unit = mall.unit(f"DS-{sku_prefix}")
    product = mall.product(f"LAST-BAG-{sku_prefix}", "300.00", unit)
    mall.stock_in(unit, product["sku"], 1)
    customers = [mall.customer("500.00") for _ in range(6)]
    numbers: list[tuple[str, str]] = []
    lock = threading.Lock()

    def shop(token):
        status, placed = mall.place(token, [(product["sku"], 1)])
        assert status == 202
        with lock:
            numbers.append((token, placed["number"]))

    threads = [threading.Thread(target=shop, args=(t,)) for t, _ in customers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    finals = [mall.wait_for(n, t, {"ready_to_ship", "awaiting_stock", "cancelled"}) for t, n in numbers]
    winners = [o for o in finals if o["status"] == "ready_to_ship"]
    assert len(winners) == 1
    assert sorted(wallet(mall, t) for t, _ in customers) == ["200.00"] + ["500.00"] * 5
    assert available(mall, product["id"]) == 0
    assert all(o["payment"]["status"] != "captured" for o in finals if o["status"] != "ready_to_ship")


def test_bad_orders_get_422_with_the_error_shape_and_change_nothing(mall, sku_prefix):
    token, _ = mall.customer("10.00")
    for body in (
        {"items": []},
        {"items": [{"sku": "NOPE", "quantity": 1}]},
        {"items": [{"sku": "X", "quantity": 0}], "payment_method": "balance"},
        "not json",
    ):
        raw = body.encode() if isinstance(body, str) else None
        status, answer = mall.call(
            "POST",
            "/api/orders",
            None if raw else body,
            token,
            raw=raw,
            headers={"Content-Type": "application/json"} if raw else None,
        )
        assert 400 <= status < 500, (body, status, answer)
        assert set(answer["error"]) >= {"code", "message"}
    listed = mall.ok("GET", "/api/orders", token=token)
    assert (listed["items"] if isinstance(listed, dict) else listed) == []


def test_the_home_city_decides_local_delivery(mall, sku_prefix):
    unit = mall.unit(f"DS-{sku_prefix}")
    product = mall.product(f"SCARF-{sku_prefix}", "42.00", unit)
    mall.stock_in(unit, product["sku"], 5)
    token, _ = mall.customer("100.00")
    _, placed = mall.place(token, [(product["sku"], 1)], city=HOME_CITY.upper())
    order = mall.wait_for(placed["number"], token, {"ready_to_ship", "packing", "paid", "placed"})
    assert order["fulfilments"] == [] or order["fulfilments"][0]["delivery"] == "local"


def test_finance_sees_a_paid_courier_order_in_its_copies_and_the_months_statement(mall, sku_prefix):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    unit = mall.unit(f"EL-FIN-{sku_prefix}", kind="warehouse", division="electronics")
    tv = mall.product(f"TV-FIN-{sku_prefix}", "3299.00", unit, division="electronics", category="Big appliances")
    mall.stock_in(unit, tv["sku"], 1)
    token, _ = mall.customer("5000.00")
    invoice = {"kind": "company", "title": "Guilin Hotel Co., Ltd.", "tax_id": "91450300MA5K3X8Y1Q"}
    _, placed = mall.place(token, [(tv["sku"], 1)], city="Guilin", lat=25.27, lon=110.29, invoice=invoice)
    number = placed["number"]
    assert mall.wait_for(number, token, "ready_to_ship")["invoice"] == invoice
    for _ in range(100):  # booked: the courier fee and the premium are recorded
        if mall.order(number, token)["fulfilments"][0]["waybill"]:
            break
        time.sleep(0.2)
    accountant = mall.staff("finance")

    copies = mall.ok("GET", f"/api/finance/orders/{number}/copies", token=accountant)["copies"]
    assert [(c["kind"], c["unit"], c["total"]) for c in copies] == [
        ("website", None, "3299.00"),
        ("department", unit, "3299.00"),
        ("finance", None, "3299.00"),
    ]
    assert copies[1]["lines"] == [{"sku": tv["sku"], "name": tv["name"], "quantity": 1, "amount": "3299.00"}]
    assert copies[2]["invoice"] == invoice  # finance issues it

    month = datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")
    built = mall.ok("POST", "/api/finance/statements/run", {"month": month}, accountant)
    [mine] = [s for s in built["items"] if s["unit"] == unit]
    # 3‰ of 3299.00 is 9.897: 9.90; the courier's fee is MALL_COURIER_FEE's default, 12.00.
    assert (mine["orders"], mine["gross"], mine["refunds"], mine["logistics_cost"], mine["insurance"]) == (
        1,
        "3299.00",
        "0.00",
        "12.00",
        "9.90",
    )
    assert mine["net_payable"] == "3277.10"
    listed = mall.ok("GET", f"/api/finance/statements?month={month}", token=accountant)["items"]
    assert [s for s in listed if s["unit"] == unit] == [mine]
    report = mall.ok("GET", f"/api/finance/reports/sales?month={month}", token=accountant)["items"]
    assert [r for r in report if r["sku"] == tv["sku"]] == [
        {"sku": tv["sku"], "name": tv["name"], "units": 1, "orders": 1, "revenue": "3299.00"}
    ]


def delivered_locally(mall, number: str, token: str) -> dict:
    """The order's parcel goes out in a closed batch with the mall's own courier and is signed for."""
    service, courier = mall.staff("customer_service"), mall.staff("courier")
    mall.ok("POST", "/api/staff/batches/close", {}, service)
    rows = mall.ok("GET", "/api/staff/deliveries", token=courier)
    [mine] = [d for d in (rows["items"] if isinstance(rows, dict) else rows) if d["order"] == number]
    mall.ok("POST", f"/api/staff/deliveries/{mine['id']}/picked-up", {"signature": "Wang"}, courier)
    mall.ok("POST", f"/api/staff/deliveries/{mine['id']}/delivered", {"signed_by": "Li Ming"}, courier)
    return mall.wait_for(number, token, "delivered")


def case_settles(mall, number: str, token: str, case_id: int, seconds: float = 30) -> dict:
    deadline = time.monotonic() + seconds
    while True:
        [case] = [
            c for c in mall.ok("GET", f"/api/orders/{number}/after-sales", token=token)["items"] if c["id"] == case_id
        ]
        if case["status"] in ("refunded", "closed") or time.monotonic() > deadline:
            return case
        time.sleep(0.2)


def test_a_faulty_item_is_returned_refunded_and_back_on_sale_and_a_complaint_is_answered(mall, sku_prefix):
    unit = mall.unit(f"DS-{sku_prefix}", auto_pack=True)
    product = mall.product(f"VASE-{sku_prefix}", "12.50", unit)
    mall.stock_in(unit, product["sku"], 5)
    token, _ = mall.customer("100.00")
    _, placed = mall.place(token, [(product["sku"], 2)])
    number = placed["number"]
    mall.wait_for(number, token, "ready_to_ship")
    delivered_locally(mall, number, token)
    assert wallet(mall, token) == "75.00" and available(mall, product["id"]) == 3

    body = {
        "kind": "return",
        "problem": "quality",
        "reason": "A crack down the side.",
        "items": [{"sku": product["sku"], "quantity": 1}],
    }
    status, case = mall.call(
        "POST", f"/api/orders/{number}/after-sales", body, token, headers={"Idempotency-Key": "vase-1"}
    )
    assert status == 201 and case["status"] == "requested" and case["unit"] == unit, case
    status, again = mall.call(
        "POST", f"/api/orders/{number}/after-sales", body, token, headers={"Idempotency-Key": "vase-1"}
    )
    assert again["id"] == case["id"]
    status, over = mall.call(
        "POST", f"/api/orders/{number}/after-sales", body | {"items": [{"sku": product["sku"], "quantity": 2}]}, token
    )
    assert status == 409 and over["error"]["code"] == "already_claimed"

    counter = mall.staff("staff", unit=unit)
    assert [c["id"] for c in mall.ok("GET", "/api/staff/after-sales?status=requested", token=counter)["items"]] == [
        case["id"]
    ]
    agreed = mall.ok("POST", f"/api/staff/after-sales/{case['id']}/agree", {"resolution": "return"}, counter)
    assert agreed["status"] == "awaiting_return" and agreed["refund"] == "12.50"
    mall.ok("POST", f"/api/staff/after-sales/{case['id']}/received", {"restock": True}, counter)
    done = case_settles(mall, number, token, case["id"])
    assert done["status"] == "refunded" and done["refund"] == "12.50"
    assert wallet(mall, token) == "87.50"
    deadline = time.monotonic() + 30
    while available(mall, product["id"]) != 4 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert available(mall, product["id"]) == 4
    order = mall.order(number, token)
    assert order["payment"]["refunded"] == "12.50" and order["status"] == "delivered"
    assert any(e["event"] == f"after-sales #{case['id']} refunded 12.50" for e in order["timeline"])

    complaint = {"kind": "complaint", "problem": "service", "reason": "Nobody answered the phone."}
    _, complained = mall.call("POST", f"/api/orders/{number}/after-sales", complaint, token)
    service = mall.staff("customer_service")
    answered = mall.ok(
        "POST", f"/api/staff/after-sales/{complained['id']}/reply", {"reply": "Sorry: we have more staff now."}, service
    )
    assert answered["status"] == "closed" and wallet(mall, token) == "87.50"


def test_a_parcel_lost_in_transit_is_refunded_claimed_from_the_courier_and_credited_to_the_unit(mall, sku_prefix):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    unit = mall.unit(f"EL-LOST-{sku_prefix}", kind="warehouse", division="electronics")
    tv = mall.product(f"TV-LOST-{sku_prefix}", "3299.00", unit, division="electronics", category="Big appliances")
    mall.stock_in(unit, tv["sku"], 1)
    token, _ = mall.customer("5000.00")
    _, placed = mall.place(token, [(tv["sku"], 1)], city="Guilin", lat=25.27, lon=110.29)
    number = placed["number"]
    mall.wait_for(number, token, "ready_to_ship")
    for _ in range(100):
        waybill = mall.order(number, token)["fulfilments"][0]["waybill"]
        if waybill:
            break
        time.sleep(0.2)
    kuaidi100_push(mall, waybill, 1, [("2026-11-24 10:00:00", "Picked up in Nanning")])
    mall.wait_for(number, token, "shipping")
    assert wallet(mall, token) == "1701.00"

    lost = {
        "kind": "refund",
        "problem": "lost",
        "reason": "Never arrived.",
        "items": [{"sku": tv["sku"], "quantity": 1}],
    }
    status, case = mall.call("POST", f"/api/orders/{number}/after-sales", lost, token)
    assert status == 201, case
    service = mall.staff("customer_service")
    mall.ok("POST", f"/api/staff/after-sales/{case['id']}/agree", {"resolution": "refund"}, service)
    assert case_settles(mall, number, token, case["id"])["status"] == "refunded"
    assert wallet(mall, token) == "5000.00"
    order = mall.wait_for(number, token, "completed")
    assert order["fulfilments"][0]["status"] == "lost"

    accountant = mall.staff("finance")
    for _ in range(150):
        claims = [c for c in mall.ok("GET", "/api/staff/claims", token=accountant)["items"] if c["order"] == number]
        if claims:
            break
        time.sleep(0.2)
    [claim] = claims
    assert (claim["status"], claim["claimed"], claim["premium"], claim["waybill"]) == (
        "open",
        "3299.00",
        "9.90",
        waybill,
    )
    mall.ok("POST", f"/api/staff/claims/{claim['id']}/settle", {"paid": "3000.00"}, accountant)

    month = datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")
    built = mall.ok("POST", "/api/finance/statements/run", {"month": month}, accountant)
    [mine] = [s for s in built["items"] if s["unit"] == unit]
    assert (mine["gross"], mine["refunds"], mine["logistics_cost"], mine["insurance"], mine["claims"]) == (
        "3299.00",
        "3299.00",
        "12.00",
        "9.90",
        "3000.00",
    )
    assert mine["net_payable"] == "2978.10"  # the unit bears the fee, the premium, and what the courier did not pay


def test_a_customer_changes_the_contact_before_packing_reads_their_spending_and_logs_out(mall, sku_prefix):
    unit = mall.unit(f"DS-CT-{sku_prefix}", auto_pack=False)
    product = mall.product(f"SHAWL-{sku_prefix}", "30.00", unit)
    mall.stock_in(unit, product["sku"], 2)
    token, _ = mall.customer("100.00")
    _, placed = mall.place(token, [(product["sku"], 1)])
    number = placed["number"]
    mall.wait_for(number, token, "packing")
    changed = mall.ok("POST", f"/api/orders/{number}/contact", {"name": "Wang Fang", "phone": "13900000000"}, token)
    assert changed["address"]["name"] == "Wang Fang" and changed["address"]["city"] == HOME_CITY

    counter = mall.staff("staff", unit=unit)
    [task] = [t for t in mall.ok("GET", "/api/staff/tasks", token=counter)["items"] if t["order"] == number]
    mall.ok("POST", f"/api/staff/tasks/{task['id']}/done", {}, counter)
    mall.wait_for(number, token, "ready_to_ship")
    status, locked = mall.call("POST", f"/api/orders/{number}/contact", {"phone": "13700000000"}, token)
    assert status == 409 and locked["error"]["code"] == "contact_locked"

    spending = mall.ok("GET", "/api/spending", token=token)
    [record] = [r for r in spending["items"] if r["order"] == number]
    assert record["paid"] == "30.00" and record["items"][0]["sku"] == product["sku"]
    assert mall.call("POST", "/api/auth/logout", {}, token)[0] == 204
    assert mall.call("GET", "/api/spending", token=token)[0] == 401
