"""After-sales refunds in billing: money back once per case, the way it came, in the ledger, the statement
and the sales report of the month it was paid out."""

from __future__ import annotations

from datetime import UTC, datetime

from shared.testing import deliver, envelope, payloads

from .test_finance import LIPSTICK, NOVEMBER, OCTOBER, by_unit, money, pay, run, top_up

DELIVERED = datetime(2026, 10, 22, 3, 0, tzinfo=UTC)


def refund(case=1, amount=1250, quantity=1, order="M1", delivered_at=DELIVERED):
    return {
        "order": order,
        "case": case,
        "unit": "DS-COSMETICS",
        "amount_cents": amount,
        "lines": [{"sku": "LIPSTICK-RED-01", "name": "Red lipstick", "quantity": quantity, "amount_cents": amount}],
        "reason": f"after-sales #{case}: cracked",
        "delivered_at": delivered_at.isoformat() if delivered_at else None,
    }


def balance(client):
    return client.get("/internal/wallets/7").json["balance"]


def test_a_case_is_refunded_to_the_wallet_once_however_often_it_is_asked(billing, client, clock):
    top_up(client, amount="100.00")
    pay(billing, "M1", LIPSTICK)
    assert balance(client) == "75.00"
    body = envelope("billing.refund_after_sale", refund(), correlation_id="M1")
    assert billing.consume("billing.refund_after_sale", body) == "handled"
    assert billing.consume("billing.refund_after_sale", body) == "duplicate"
    assert deliver(billing, "billing.refund_after_sale", refund()) == "handled"  # re-sent by the sweep
    assert balance(client) == "87.50"
    assert payloads(billing, "after_sale.refunded") == [{"order": "M1", "case": 1, "amount_cents": 1250}] * 2
    payment = client.get("/internal/payments/M1").json
    assert payment["status"] == "captured" and payment["refunded_cents"] == 1250


def test_two_cases_of_one_unit_are_two_refunds_and_never_more_than_was_paid(billing, client, clock):
    top_up(client, amount="100.00")
    pay(billing, "M1", LIPSTICK)
    deliver(billing, "billing.refund_after_sale", refund(case=1, amount=1250))
    deliver(billing, "billing.refund_after_sale", refund(case=2, amount=1250))
    deliver(billing, "billing.refund_after_sale", refund(case=3, amount=1250))  # nothing is left
    assert balance(client) == "100.00"
    assert [p["amount_cents"] for p in payloads(billing, "after_sale.refunded")] == [1250, 1250, 0]
    assert client.get("/internal/payments/M1").json["status"] == "refunded"


def test_an_online_payment_is_refunded_in_the_books_not_to_the_wallet(billing, client, clock):
    pay(billing, "M1", LIPSTICK, method="online")
    from services.billing import services

    trade = client.get("/internal/payments/M1").json["out_trade_no"]
    with billing.unit_of_work("M1") as uow:
        services.payment_notified(
            uow,
            {
                "out_trade_no": trade,
                "trade_no": "2026102222001",
                "amount_cents": 2500,
                "trade_status": "TRADE_SUCCESS",
                "paid_at": OCTOBER,
            },
        )
    deliver(billing, "billing.refund_after_sale", refund())
    assert balance(client) == "0.00"
    assert client.get("/internal/payments/M1").json["refunded_cents"] == 1250


def test_cash_on_delivery_not_final_yet_is_collected_then_refunded_to_the_wallet(billing, client, clock):
    pay(billing, "M1", LIPSTICK, method="cod")
    clock.at = NOVEMBER
    deliver(billing, "billing.refund_after_sale", refund(amount=1250))
    assert balance(client) == "12.50"  # cash cannot go back in cash: it goes to the account balance
    october, november = by_unit(run(billing, "2026-10")), by_unit(run(billing, "2026-11"))
    assert money(october["DS-COSMETICS"])[:3] == (1, "25.00", "0.00")  # collected on delivery, in October
    assert money(november["DS-COSMETICS"])[:3] == (0, "0.00", "12.50")  # paid back in November
    # The order's completion later does not enter the sale a second time.
    completed = {
        "order": "M1",
        "member_id": 7,
        "completed_at": NOVEMBER.isoformat(),
        "delivered_at": DELIVERED.isoformat(),
        "lines": [LIPSTICK],
    }
    deliver(billing, "order.completed", completed)
    assert money(by_unit(run(billing, "2026-10"))["DS-COSMETICS"])[:2] == (1, "25.00")


def test_the_sales_report_takes_off_the_money_and_the_pieces_that_came_back(billing, client, clock):
    top_up(client)
    pay(billing, "M1", LIPSTICK)
    pay(billing, "M2", LIPSTICK)
    clock.at = NOVEMBER
    deliver(billing, "billing.refund_after_sale", refund(case=1, amount=1250, quantity=1, order="M1"))
    deliver(billing, "billing.refund_after_sale", refund(case=2, amount=300, quantity=0, order="M2"))  # kept
    [october] = client.get("/internal/reports/sales?month=2026-10").json["items"]
    assert (october["units"], october["orders"], october["revenue"]) == (4, 2, "50.00")
    [november] = client.get("/internal/reports/sales?month=2026-11").json["items"]
    assert (november["units"], november["orders"], november["revenue"]) == (-1, 0, "-15.50")
    statement = by_unit(run(billing, "2026-11"))["DS-COSMETICS"]
    assert statement["refunds"] == "15.50"


def test_lines_that_do_not_add_up_are_dead_lettered_and_change_nothing(billing, client, clock):
    top_up(client, amount="100.00")
    pay(billing, "M1", LIPSTICK)
    wrong = refund() | {"amount_cents": 2000}
    assert deliver(billing, "billing.refund_after_sale", wrong) == "dead_lettered"
    assert balance(client) == "75.00"
    assert payloads(billing, "after_sale.refunded") == []


def test_an_order_that_was_never_paid_has_nothing_to_refund(billing, client, clock):
    assert deliver(billing, "billing.refund_after_sale", refund(order="M404")) == "dead_lettered"


def test_cash_on_delivery_never_collected_is_never_refunded(billing, client, clock):
    pay(billing, "M1", LIPSTICK, method="cod")
    assert deliver(billing, "billing.refund_after_sale", refund(delivered_at=None)) == "dead_lettered"
    assert balance(client) == "0.00"
    assert client.get("/internal/payments/M1").json["status"] == "cod"


def test_what_a_courier_paid_on_a_loss_claim_is_credited_in_the_units_statement(billing, client, clock):
    top_up(client)
    pay(billing, "M1", LIPSTICK)
    deliver(billing, "billing.refund_after_sale", refund(amount=2500, quantity=0))  # lost: nothing came back
    costs = {
        "2026-10": [
            {
                "unit": "DS-COSMETICS",
                "parcels": 1,
                "logistics_cost_cents": 1200,
                "insurance_cents": 8,
                "claims_cents": 2000,
            }
        ]
    }
    [statement] = run(billing, "2026-10", costs)
    assert (statement["refunds"], statement["claims"]) == ("25.00", "20.00")
    assert statement["net_payable"] == "7.92"  # 25.00 - 25.00 - 12.00 - 0.08 + 20.00


def test_a_members_spending_records_are_what_they_paid_less_what_came_back(billing, client, clock):
    top_up(client)
    pay(billing, "M1", LIPSTICK)
    clock.at = NOVEMBER
    pay(billing, "M2", LIPSTICK, method="online")  # not paid yet: not spending
    pay(billing, "M3", LIPSTICK)
    deliver(billing, "billing.refund_after_sale", refund(order="M3", amount=1250))
    records = client.get("/internal/members/7/spending").json
    assert records["spent"] == "37.50"
    assert [(r["order"], r["paid"], r["refunded"]) for r in records["items"]] == [
        ("M3", "25.00", "12.50"),
        ("M1", "25.00", "0.00"),
    ]
    assert records["items"][0]["items"] == [
        {"sku": "LIPSTICK-RED-01", "name": "Red lipstick", "quantity": 2, "amount": "25.00"}
    ]
    assert client.get("/internal/members/8/spending").json == {"spent": "0.00", "items": []}
