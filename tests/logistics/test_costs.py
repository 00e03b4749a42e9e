"""What deliveries cost: the fee each shipment records when booked, and the month's costs per unit for finance."""

from datetime import UTC, datetime

import pytest

from shared.testing import deliver
from tests.logistics.test_deliveries import arrange


def booked_at(logistics, fulfilment_id, at):
    """Move a booking in time (the month it counts in is the point of these tests)."""
    from sqlalchemy import update

    from services.logistics.models import Shipment

    with logistics.db.session() as session, session.begin():
        session.execute(update(Shipment).where(Shipment.fulfilment_id == fulfilment_id).values(created_at=at))


def costs(client, month):
    response = client.get(f"/internal/costs?month={month}")
    assert response.status_code == 200, response.json
    assert response.json["month"] == month
    return {row["unit"]: row for row in response.json["items"]}


def test_a_courier_parcel_records_the_courier_fee_and_a_local_one_the_local_fee(logistics, client, monkeypatch):
    monkeypatch.setenv("MALL_COURIER_FEE", "15.50")
    monkeypatch.setenv("MALL_LOCAL_DELIVERY_FEE", "3.00")
    logistics.__dict__.pop("settings", None)
    deliver(logistics, "logistics.arrange_delivery", arrange(1, "courier", order="M100001"))
    deliver(logistics, "logistics.arrange_delivery", arrange(2, "local", order="M100002"))
    courier = client.get("/internal/shipments/M100001").json["items"][0]
    local = client.get("/internal/shipments/M100002").json["items"][0]
    assert (courier["delivery_fee"], local["delivery_fee"]) == ("15.50", "3.00")


def test_the_fees_default_to_twelve_yuan_a_courier_parcel_and_nothing_for_our_own_couriers(logistics, client):
    deliver(logistics, "logistics.arrange_delivery", arrange(1, "courier", order="M100001"))
    deliver(logistics, "logistics.arrange_delivery", arrange(2, "local", order="M100002"))
    assert client.get("/internal/shipments/M100001").json["items"][0]["delivery_fee"] == "12.00"
    assert client.get("/internal/shipments/M100002").json["items"][0]["delivery_fee"] == "0.00"


def test_a_fee_that_is_not_money_stops_the_settings_naming_it(monkeypatch):
    from shared.config import Settings

    monkeypatch.setenv("MALL_COURIER_FEE", "twelve")
    with pytest.raises(ValueError, match="MALL_COURIER_FEE"):
        Settings.from_env()


def test_the_costs_of_a_month_are_the_fees_and_premiums_of_each_units_parcels_booked_in_it(logistics, client):
    # Two courier parcels of the warehouse (2999.00 and 100.00 declared: 9.00 and 0.30 premium), one
    # local parcel of the tea counter; one courier parcel in the next month.
    deliver(logistics, "logistics.arrange_delivery", arrange(1, "courier", order="M1", declared=299900))
    deliver(logistics, "logistics.arrange_delivery", arrange(2, "courier", order="M2", declared=10000))
    deliver(logistics, "logistics.arrange_delivery", arrange(3, "local", order="M3", unit="DS-TEA"))
    deliver(logistics, "logistics.arrange_delivery", arrange(4, "courier", order="M4", declared=10000))
    for fulfilment_id in (1, 2, 3):
        booked_at(logistics, fulfilment_id, datetime(2026, 10, 20, 2, 0, tzinfo=UTC))
    booked_at(logistics, 4, datetime(2026, 11, 2, 2, 0, tzinfo=UTC))
    october = costs(client, "2026-10")
    assert october == {
        "EL-WAREHOUSE": {
            "unit": "EL-WAREHOUSE",
            "parcels": 2,
            "logistics_cost_cents": 2400,
            "insurance_cents": 930,
            "claims_cents": 0,
        },
        "DS-TEA": {"unit": "DS-TEA", "parcels": 1, "logistics_cost_cents": 0, "insurance_cents": 0, "claims_cents": 0},
    }
    assert costs(client, "2026-11")["EL-WAREHOUSE"]["parcels"] == 1


def test_a_parcel_booked_just_after_midnight_on_the_first_counts_in_the_new_month_of_the_mall(logistics, client):
    deliver(logistics, "logistics.arrange_delivery", arrange(1, "courier", order="M1"))
    # 2026-10-31 16:30 UTC is 00:30 on 1 November in Asia/Shanghai.
    booked_at(logistics, 1, datetime(2026, 10, 31, 16, 30, tzinfo=UTC))
    assert costs(client, "2026-10") == {}
    assert costs(client, "2026-11")["EL-WAREHOUSE"]["parcels"] == 1


def test_a_parcel_withdrawn_before_hand_over_costs_nothing(logistics, client):
    deliver(logistics, "logistics.arrange_delivery", arrange(1, "courier", order="M1"))
    deliver(logistics, "logistics.cancel_delivery", {"order": "M1", "fulfilment_id": 1})
    booked_at(logistics, 1, datetime(2026, 10, 20, tzinfo=UTC))
    assert costs(client, "2026-10") == {}


@pytest.mark.parametrize("month", ["", "2026-13", "2026-1", "26-10", "2026-10-01", "0000-01"])
def test_a_month_that_is_not_yyyy_mm_is_refused(client, month):
    response = client.get("/internal/costs", query_string={"month": month} if month else None)
    assert response.status_code == 422
    assert response.json["error"]["code"] == "validation_error" and "month" in response.json["error"]["fields"]
