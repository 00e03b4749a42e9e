"""Finance: the three order copies, the monthly statements and the monthly sales report, in integer cents."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.testing import deliver

OCTOBER = datetime(2026, 10, 20, 2, 0, tzinfo=UTC)
NOVEMBER = datetime(2026, 11, 3, 2, 0, tzinfo=UTC)
#: 00:30 on 1 November in Asia/Shanghai, still 31 October in UTC.
JUST_INTO_NOVEMBER_IN_SHANGHAI = datetime(2026, 10, 31, 16, 30, tzinfo=UTC)

LIPSTICK = {
    "sku": "LIPSTICK-RED-01",
    "name": "Red lipstick",
    "unit": "DS-COSMETICS",
    "quantity": 2,
    "amount_cents": 2500,
}
TEA = {"sku": "TEA-LONGJING-250G", "name": "Longjing tea 250 g", "unit": "DS-TEA", "quantity": 1, "amount_cents": 1250}
RICE = {"sku": "RICE-5KG", "name": "Rice 5 kg", "unit": "SM-GUOMAO", "quantity": 3, "amount_cents": 13770}


@pytest.fixture
def costs():
    """Logistics' costs per month as billing would read them (`costs["2026-10"] = [...]`)."""
    return {}


def lookup(costs):
    return lambda month: costs.get(month, [])


def top_up(client, member_id=7, amount="10000.00"):
    assert (
        client.post(f"/internal/wallets/{member_id}/adjust", json={"delta": amount, "reason": "top-up"}).status_code
        == 200
    )


def take(order, *lines, method="balance", member_id=7):
    units: dict[str, int] = {}
    for line in lines:
        units[line["unit"]] = units.get(line["unit"], 0) + line["amount_cents"]
    return {
        "order": order,
        "member_id": member_id,
        "method": method,
        "total_cents": sum(units.values()),
        "units": [{"unit": unit, "amount_cents": amount} for unit, amount in sorted(units.items())],
        "lines": list(lines),
    }


def pay(billing, order, *lines, method="balance"):
    assert deliver(billing, "billing.take_payment", take(order, *lines, method=method)) == "handled"


def refund(billing, order):
    assert deliver(billing, "billing.refund_payment", {"order": order, "reason": "customer cancelled"}) == "handled"


def run(billing, month, costs=None, timezone="Asia/Shanghai", progress=None):
    from services.billing import services

    return services.run_statements(billing.db, month, lookup(costs or {}), timezone=timezone, progress=progress)


def by_unit(statements):
    return {s["unit"]: s for s in statements}


def money(statement):
    keys = ("orders", "gross", "refunds", "logistics_cost", "insurance", "net_payable")
    return tuple(statement[k] for k in keys)


# --- the three copies -----------------------------------------------------------------------------


def test_an_order_has_a_website_copy_a_copy_per_department_and_a_finance_copy(billing, client, clock):
    top_up(client)
    pay(billing, "M20261020AAAA", LIPSTICK, TEA)
    response = client.get("/internal/orders/M20261020AAAA/copies")
    assert response.status_code == 200
    copies = response.json["copies"]
    assert [(c["kind"], c["unit"], c["total"]) for c in copies] == [
        ("website", None, "37.50"),
        ("department", "DS-COSMETICS", "25.00"),
        ("department", "DS-TEA", "12.50"),
        ("finance", None, "37.50"),
    ]
    assert copies[1]["lines"] == [{"sku": "LIPSTICK-RED-01", "name": "Red lipstick", "quantity": 2, "amount": "25.00"}]
    assert copies[0]["lines"] == copies[3]["lines"] and len(copies[0]["lines"]) == 2


def test_a_cash_on_delivery_order_has_its_copies_before_the_cash_is_collected(billing, client, clock):
    pay(billing, "M20261020CCCC", RICE, method="cod")
    copies = client.get("/internal/orders/M20261020CCCC/copies").json["copies"]
    assert [c["kind"] for c in copies] == ["website", "department", "finance"]
    assert copies[1]["unit"] == "SM-GUOMAO" and copies[1]["total"] == "137.70"


def test_an_order_billing_does_not_know_has_no_copies(client):
    response = client.get("/internal/orders/M404404/copies")
    assert response.status_code == 404
    assert response.json["error"]["code"] == "not_found"


def test_an_order_paid_by_a_command_without_lines_has_no_copies_but_is_still_charged(billing, client, clock):
    top_up(client)
    earlier = take("M20261020OLD1", LIPSTICK)
    del earlier["lines"]
    assert deliver(billing, "billing.take_payment", earlier) == "handled"
    assert client.get("/internal/orders/M20261020OLD1/copies").status_code == 404
    assert by_unit(run(billing, "2026-10"))["DS-COSMETICS"]["gross"] == "25.00"


# --- statements -----------------------------------------------------------------------------------


def test_a_units_statement_is_its_sales_less_refunds_courier_fees_and_premiums(billing, client, clock):
    top_up(client)
    pay(billing, "M20261020AAAA", LIPSTICK, TEA)
    pay(billing, "M20261020BBBB", LIPSTICK)
    costs = {
        "2026-10": [
            {"unit": "DS-COSMETICS", "parcels": 2, "logistics_cost_cents": 2400, "insurance_cents": 15},
            {"unit": "DS-TEA", "parcels": 1, "logistics_cost_cents": 0, "insurance_cents": 0},
        ]
    }
    statements = by_unit(run(billing, "2026-10", costs))
    assert money(statements["DS-COSMETICS"]) == (2, "50.00", "0.00", "24.00", "0.15", "25.85")
    assert money(statements["DS-TEA"]) == (1, "12.50", "0.00", "0.00", "0.00", "12.50")
    assert statements["DS-COSMETICS"]["parcels"] == 2


def test_a_sale_just_after_midnight_on_the_first_counts_in_the_new_month_of_the_mall(billing, client, clock):
    top_up(client)
    clock.at = JUST_INTO_NOVEMBER_IN_SHANGHAI
    pay(billing, "M20261101AAAA", LIPSTICK)
    assert run(billing, "2026-10") == []
    assert money(by_unit(run(billing, "2026-11"))["DS-COSMETICS"])[:2] == (1, "25.00")


def test_a_mall_in_utc_counts_the_same_sale_in_the_old_month(billing, client, clock):
    top_up(client)
    clock.at = JUST_INTO_NOVEMBER_IN_SHANGHAI
    pay(billing, "M20261101AAAA", LIPSTICK)
    assert money(by_unit(run(billing, "2026-10", timezone="UTC"))["DS-COSMETICS"])[:2] == (1, "25.00")


def test_cash_on_delivery_counts_in_the_month_the_cash_was_collected(billing, client, clock):
    clock.at = OCTOBER
    pay(billing, "M20261020CCCC", RICE, method="cod")
    clock.at = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)  # the message is handled a month after the collection
    completed = {"order": "M20261020CCCC", "member_id": 7, "completed_at": NOVEMBER.isoformat(), "lines": [RICE]}
    assert deliver(billing, "order.completed", completed) == "handled"
    assert run(billing, "2026-10") == []
    assert money(by_unit(run(billing, "2026-11"))["SM-GUOMAO"]) == (1, "137.70", "0.00", "0.00", "0.00", "137.70")


def test_cash_on_delivery_counts_when_the_parcel_was_signed_for_not_when_receipt_was_confirmed(billing, client, clock):
    """Delivered on 31 October (Shanghai), receipt confirmed (by the customer or automatically) in November:
    the cash was collected at the door in October."""
    clock.at = OCTOBER
    pay(billing, "M20261020CCCC", RICE, method="cod")
    clock.at = NOVEMBER
    completed = {
        "order": "M20261020CCCC",
        "member_id": 7,
        "completed_at": NOVEMBER.isoformat(),
        "delivered_at": "2026-10-31T20:00:00+08:00",
        "lines": [RICE],
    }
    assert deliver(billing, "order.completed", completed) == "handled"
    assert money(by_unit(run(billing, "2026-10"))["SM-GUOMAO"])[:2] == (1, "137.70")
    assert run(billing, "2026-11") == []
    assert client.get("/internal/payments/M20261020CCCC").json["captured_at"].startswith("2026-10-31T12:00:00")


def test_a_refund_paid_out_in_a_later_month_counts_in_that_month(billing, client, clock):
    top_up(client)
    pay(billing, "M20261020AAAA", LIPSTICK)
    clock.at = NOVEMBER
    refund(billing, "M20261020AAAA")
    assert money(by_unit(run(billing, "2026-10"))["DS-COSMETICS"]) == (1, "25.00", "0.00", "0.00", "0.00", "25.00")
    assert money(by_unit(run(billing, "2026-11"))["DS-COSMETICS"]) == (0, "0.00", "25.00", "0.00", "0.00", "-25.00")


def test_a_refund_in_the_month_of_the_sale_cancels_it_out(billing, client, clock):
    top_up(client)
    pay(billing, "M20261020AAAA", LIPSTICK)
    refund(billing, "M20261020AAAA")
    assert money(by_unit(run(billing, "2026-10"))["DS-COSMETICS"]) == (1, "25.00", "25.00", "0.00", "0.00", "0.00")


def test_a_unit_with_only_courier_costs_still_gets_a_statement(billing):
    costs = {"2026-10": [{"unit": "EL-WAREHOUSE", "parcels": 1, "logistics_cost_cents": 1200, "insurance_cents": 900}]}
    [statement] = run(billing, "2026-10", costs)
    assert statement["unit"] == "EL-WAREHOUSE"
    assert money(statement) == (0, "0.00", "0.00", "12.00", "9.00", "-21.00")


def test_building_a_month_again_replaces_its_statements(billing, client, clock):
    from services.billing.models import Statement

    top_up(client)
    pay(billing, "M20261020AAAA", LIPSTICK)
    costs = {"2026-10": [{"unit": "DS-TEA", "parcels": 1, "logistics_cost_cents": 500, "insurance_cents": 0}]}
    first = run(billing, "2026-10", costs)
    again = run(billing, "2026-10", costs)
    strip = [{k: v for k, v in s.items() if k != "built_at"} for s in first]
    assert [{k: v for k, v in s.items() if k != "built_at"} for s in again] == strip
    pay(billing, "M20261021BBBB", LIPSTICK)  # a late sale of the month, and logistics withdrew its only parcel
    rebuilt = by_unit(run(billing, "2026-10"))
    assert set(rebuilt) == {"DS-COSMETICS"} and rebuilt["DS-COSMETICS"]["gross"] == "50.00"
    with billing.db.session() as session:
        assert session.query(Statement).count() == 1


def test_statements_of_one_month_leave_the_others_alone(billing, client, clock):
    top_up(client)
    pay(billing, "M20261020AAAA", LIPSTICK)
    clock.at = NOVEMBER
    pay(billing, "M20261103AAAA", TEA)
    run(billing, "2026-10")
    run(billing, "2026-11")
    run(billing, "2026-11")
    october = client.get("/internal/statements?month=2026-10").json
    november = client.get("/internal/statements?month=2026-11").json
    assert [s["unit"] for s in october["items"]] == ["DS-COSMETICS"]
    assert [s["unit"] for s in november["items"]] == ["DS-TEA"]


def test_the_run_tells_its_progress_unit_by_unit(billing, client, clock, caplog):
    top_up(client)
    pay(billing, "M20261020AAAA", LIPSTICK, TEA, RICE)
    told = []
    with caplog.at_level("INFO", logger="mall.billing"):
        run(billing, "2026-10", progress=lambda month, done, total: told.append((month, done, total)))
    assert told == [("2026-10", 1, 3), ("2026-10", 2, 3), ("2026-10", 3, 3)]
    assert "statements 2026-10: 2/3 units" in caplog.messages


def test_the_run_over_http_reads_logistics_costs_and_answers_the_statements(billing, client, clock, monkeypatch):
    from services.billing import api

    asked = []
    costs = [{"unit": "DS-COSMETICS", "parcels": 1, "logistics_cost_cents": 1200, "insurance_cents": 8}]
    monkeypatch.setattr(api, "logistics_costs", lambda month: asked.append(month) or costs)
    top_up(client)
    pay(billing, "M20261020AAAA", LIPSTICK)
    assert client.get("/internal/statements?month=2026-10").json == {"month": "2026-10", "items": []}
    response = client.post("/internal/statements/run", json={"month": "2026-10"})
    assert response.status_code == 200 and asked == ["2026-10"]
    assert money(response.json["items"][0]) == (1, "25.00", "0.00", "12.00", "0.08", "12.92")
    assert client.get("/internal/statements?month=2026-10").json["items"] == response.json["items"]


def test_no_statement_is_built_while_logistics_does_not_answer(billing, client, clock, monkeypatch):
    from services.billing import api
    from shared.http import ServiceUnavailable

    def down(month):
        raise ServiceUnavailable("logistics did not answer")

    monkeypatch.setattr(api, "logistics_costs", down)
    top_up(client)
    pay(billing, "M20261020AAAA", LIPSTICK)
    response = client.post("/internal/statements/run", json={"month": "2026-10"})
    assert response.status_code == 503 and response.json["error"]["code"] == "service_unavailable"
    assert client.get("/internal/statements?month=2026-10").json["items"] == []


@pytest.mark.parametrize("month", ["2026-13", "2026-1", "october", "1969-12"])
def test_a_month_that_is_not_yyyy_mm_is_refused(client, month):
    assert client.get(f"/internal/statements?month={month}").status_code == 422
    assert client.get(f"/internal/reports/sales?month={month}").status_code == 422
    assert client.post("/internal/statements/run", json={"month": month}).status_code == 422


def test_billing_asks_logistics_for_the_costs_with_the_service_token(billing, monkeypatch):
    from services.billing.config import logistics_costs
    from shared import http

    seen = {}

    class Answer:
        status_code, content = 200, b"{}"

        def json(self):
            return {"month": "2026-10", "items": [{"unit": "DS-TEA", "parcels": 1}]}

    class Session:
        def request(self, method, url, **kwargs):
            seen.update(method=method, url=url, **kwargs)
            return Answer()

    monkeypatch.setattr(http, "_session", Session)
    assert logistics_costs("2026-10") == [{"unit": "DS-TEA", "parcels": 1}]
    assert seen["method"] == "GET" and seen["url"].endswith("/internal/costs")
    assert seen["params"] == {"month": "2026-10"}
    assert seen["headers"] == {"X-Service-Token": billing.settings.service_token}


def test_from_the_15th_the_month_before_is_settled_once_in_the_malls_time_zone(billing, client, clock, monkeypatch):
    from services.billing import tasks

    top_up(client)
    pay(billing, "M20261020AAAA", LIPSTICK)
    calls = []
    monkeypatch.setattr(tasks, "logistics_costs", lambda month: calls.append(month) or [])

    def at(when):
        monkeypatch.setattr(tasks, "now", lambda: when)
        monkeypatch.setattr(services, "now", lambda: when)
        return tasks.run_last_months_statements()

    from services.billing import services

    # Settled from 02:00 on the 15th in the mall: 17:30 UTC on 14 November is 01:30 on the 15th in Shanghai
    # (not yet: the last automatic receipts may still be on their way), 18:30 UTC is 02:30 there.
    assert at(datetime(2026, 11, 14, 17, 30, tzinfo=UTC)) == {"month": "2026-10", "units": None}
    assert at(datetime(2026, 11, 14, 18, 30, tzinfo=UTC)) == {"month": "2026-10", "units": 1}
    assert client.get("/internal/statements?month=2026-10").json["items"][0]["gross"] == "25.00"
    assert at(datetime(2026, 11, 14, 19, 30, tzinfo=UTC)) == {"month": "2026-10", "units": None}  # once
    assert calls == ["2026-10"]


def test_a_settlement_that_failed_on_the_15th_is_made_good_by_a_later_run(billing, client, clock, monkeypatch):
    from services.billing import services, tasks
    from shared.http import ServiceUnavailable

    top_up(client)
    pay(billing, "M20261020AAAA", LIPSTICK)
    fifteenth = datetime(2026, 11, 15, 2, 5, tzinfo=UTC)
    monkeypatch.setattr(tasks, "now", lambda: fifteenth)

    def down(month):
        raise ServiceUnavailable("logistics did not answer")

    monkeypatch.setattr(tasks, "logistics_costs", down)
    with pytest.raises(ServiceUnavailable):
        tasks.run_last_months_statements()
    monkeypatch.setattr(tasks, "logistics_costs", lambda month: [])
    monkeypatch.setattr(tasks, "now", lambda: fifteenth + timedelta(hours=1))
    monkeypatch.setattr(services, "now", lambda: fifteenth + timedelta(hours=1))
    assert tasks.run_last_months_statements() == {"month": "2026-10", "units": 1}
    monkeypatch.setattr(tasks, "now", lambda: fifteenth + timedelta(hours=2))
    assert tasks.run_last_months_statements()["units"] is None  # made good once, then done


def test_a_month_run_by_hand_before_the_15th_is_built_again_on_the_15th(billing, client, clock, monkeypatch):
    from services.billing import services, tasks

    top_up(client)
    pay(billing, "M20261020AAAA", LIPSTICK)
    monkeypatch.setattr(tasks, "logistics_costs", lambda month: [])
    clock.at = datetime(2026, 11, 3, 2, 0, tzinfo=UTC)
    run(billing, "2026-10")  # by hand, early
    fifteenth = datetime(2026, 11, 15, 2, 5, tzinfo=UTC)
    monkeypatch.setattr(tasks, "now", lambda: fifteenth)
    monkeypatch.setattr(services, "now", lambda: fifteenth)
    assert tasks.run_last_months_statements()["units"] == 1
    monkeypatch.setattr(tasks, "now", lambda: fifteenth + timedelta(hours=1))
    assert tasks.run_last_months_statements()["units"] is None


def test_a_month_with_nothing_to_settle_is_settled_once_too(billing, monkeypatch):
    from services.billing import services, tasks

    asked = []
    monkeypatch.setattr(tasks, "logistics_costs", lambda month: asked.append(month) or [])
    fifteenth = datetime(2026, 11, 15, 2, 5, tzinfo=UTC)
    for hour in range(48):
        monkeypatch.setattr(tasks, "now", lambda hour=hour: fifteenth + timedelta(hours=hour))
        monkeypatch.setattr(services, "now", lambda hour=hour: fifteenth + timedelta(hours=hour))
        tasks.run_last_months_statements()
    assert asked == ["2026-10"]  # not every hour until the month ends


def test_the_month_before_and_a_months_bounds_are_the_malls():
    from shared.calendar import month_bounds, previous_month

    # 00:30 on 1 November in Shanghai is 31 October in UTC.
    assert previous_month(datetime(2026, 10, 31, 16, 30, tzinfo=UTC), "Asia/Shanghai") == "2026-10"
    assert previous_month(datetime(2026, 10, 31, 16, 30, tzinfo=UTC), "UTC") == "2026-09"
    assert previous_month(datetime(2027, 1, 1, 0, 0, tzinfo=UTC), "UTC") == "2026-12"
    assert month_bounds("2026-12", "Asia/Shanghai") == (
        datetime(2026, 11, 30, 16, 0, tzinfo=UTC),
        datetime(2026, 12, 31, 16, 0, tzinfo=UTC),
    )


# --- the sales report -----------------------------------------------------------------------------


def test_the_sales_report_gives_each_products_units_orders_and_revenue_highest_first(billing, client, clock):
    top_up(client)
    pay(billing, "M20261020AAAA", LIPSTICK, TEA)
    pay(billing, "M20261020BBBB", LIPSTICK, RICE)
    clock.at = NOVEMBER
    pay(billing, "M20261103AAAA", TEA)
    report = client.get("/internal/reports/sales?month=2026-10").json
    assert report == {
        "month": "2026-10",
        "items": [
            {"sku": "RICE-5KG", "name": "Rice 5 kg", "units": 3, "orders": 1, "revenue": "137.70"},
            {"sku": "LIPSTICK-RED-01", "name": "Red lipstick", "units": 4, "orders": 2, "revenue": "50.00"},
            {"sku": "TEA-LONGJING-250G", "name": "Longjing tea 250 g", "units": 1, "orders": 1, "revenue": "12.50"},
        ],
    }


def test_a_refund_paid_out_in_the_month_takes_its_units_and_revenue_off_that_months_report(billing, client, clock):
    top_up(client)
    pay(billing, "M20261020AAAA", LIPSTICK)
    clock.at = NOVEMBER
    pay(billing, "M20261103AAAA", LIPSTICK, TEA)
    refund(billing, "M20261020AAAA")
    october = client.get("/internal/reports/sales?month=2026-10").json["items"]
    november = {row["sku"]: row for row in client.get("/internal/reports/sales?month=2026-11").json["items"]}
    assert october == [{"sku": "LIPSTICK-RED-01", "name": "Red lipstick", "units": 2, "orders": 1, "revenue": "25.00"}]
    assert november["LIPSTICK-RED-01"] == {
        "sku": "LIPSTICK-RED-01",
        "name": "Red lipstick",
        "units": 0,
        "orders": 1,
        "revenue": "0.00",
    }


def test_a_cash_on_delivery_sale_is_in_the_report_of_the_month_it_was_collected(billing, client, clock):
    pay(billing, "M20261020CCCC", RICE, method="cod")
    assert client.get("/internal/reports/sales?month=2026-10").json["items"] == []
    completed = {"order": "M20261020CCCC", "member_id": 7, "completed_at": NOVEMBER.isoformat(), "lines": [RICE]}
    deliver(billing, "order.completed", completed)
    [rice] = client.get("/internal/reports/sales?month=2026-11").json["items"]
    assert (rice["sku"], rice["units"], rice["revenue"]) == ("RICE-5KG", 3, "137.70")


# --- running it: beat and `mall statements` -------------------------------------------------------


def test_beat_builds_the_statements_on_the_15th_in_the_malls_time_zone():
    from celery.schedules import crontab

    from mall.cli import beat_schedule
    from shared.config import Settings

    entry = beat_schedule(Settings.from_env())["billing-run-statements"]
    assert entry["task"] == "billing.run_statements" and entry["options"] == {"queue": "billing"}
    assert entry["schedule"] == crontab(minute=5)  # every hour; the job knows whether the month is due


def test_mall_statements_builds_a_month_and_prints_a_line_per_unit(billing, client, clock, capsys, monkeypatch):
    from mall import cli
    from services.billing import config

    costs = [{"unit": "EL-WAREHOUSE", "parcels": 1, "logistics_cost_cents": 1200, "insurance_cents": 900}]
    monkeypatch.setattr(config, "logistics_costs", lambda month: costs if month == "2026-10" else [])
    top_up(client)
    pay(billing, "M20261020AAAA", LIPSTICK, TEA)
    assert cli.main(["statements", "--month", "2026-10"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[:3] == [
        "statements 2026-10: 1/3 units",
        "statements 2026-10: 2/3 units",
        "statements 2026-10: 3/3 units",
    ]
    assert out[3].startswith("statements 2026-10: 3 units, net payable 16.50 in ")
    assert [s["unit"] for s in client.get("/internal/statements?month=2026-10").json["items"]] == [
        "DS-COSMETICS",
        "DS-TEA",
        "EL-WAREHOUSE",
    ]


def test_mall_statements_refuses_a_month_that_is_not_one(capsys):
    from mall import cli

    with pytest.raises(SystemExit):
        cli.main(["statements", "--month", "2026-13"])
    assert "a month such as 2026-10" in capsys.readouterr().err


def test_finance_s_copy_carries_the_invoice_to_issue(billing, client, clock):
    top_up(client)
    invoice = {"kind": "company", "title": "南宁国贸有限公司", "tax_id": "91450100MA5K3X8Y1Q"}
    assert deliver(billing, "billing.take_payment", take("M1", LIPSTICK) | {"invoice": invoice}) == "handled"
    pay(billing, "M2", LIPSTICK)
    copies = client.get("/internal/orders/M1/copies").json["copies"]
    assert copies[-1]["kind"] == "finance" and copies[-1]["invoice"] == invoice
    assert all("invoice" not in c for c in copies[:-1])
    assert client.get("/internal/orders/M2/copies").json["copies"][-1]["invoice"] is None
