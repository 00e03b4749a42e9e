from shared.testing import assert_text_refused, deliver, payloads

GUILIN = {
    "name": "Li Na",
    "phone": "13900000000",
    "city": "Guilin",
    "line": "8 Zhongshan Road",
    "lat": 25.3,
    "lon": 110.3,
}


def booked(logistics, client, order="M100001", fulfilment_id=1):
    """An out-of-town parcel booked with the courier; returns its waybill."""
    deliver(
        logistics,
        "logistics.arrange_delivery",
        {
            "order": order,
            "fulfilment_id": fulfilment_id,
            "unit": "DS-COSMETICS",
            "delivery": "courier",
            "address": GUILIN,
            "declared_value_cents": 12900,
            "cod_amount_cents": 0,
        },
    )
    return client.get(f"/internal/shipments/{order}").json["items"][0]["waybill"]


def report(client, waybill, *events, source="kuaidi100"):
    return client.post(
        "/internal/tracking",
        json={
            "source": source,
            "waybill": waybill,
            "events": [{"state": state, "detail": detail, "at": at} for state, detail, at in events],
        },
    )


def status(client, order="M100001"):
    return client.get(f"/internal/shipments/{order}").json["items"][0]["status"]


PICKED = (1, "Collected at Guomao Department Store", "2026-11-24T10:00:00+08:00")
MOVING = (0, "Arrived at Guilin sorting centre", "2026-11-24T18:00:00+08:00")
OUT = (5, "Out for delivery in Guilin", "2026-11-25T08:00:00+08:00")
SIGNED = (3, "Signed for by Li Na", "2026-11-25T11:00:00+08:00")


def test_each_new_event_joins_the_timeline(logistics, client):
    waybill = booked(logistics, client)
    response = report(client, waybill, PICKED, MOVING)
    assert response.status_code == 200 and response.json == {"accepted": 2, "duplicates": 0}
    tracked = payloads(logistics, "shipment.tracked")
    assert [t["detail"] for t in tracked] == [PICKED[1], MOVING[1]]
    assert tracked[0] == {
        "order": "M100001",
        "fulfilment_id": 1,
        "waybill": waybill,
        "at": "2026-11-24T02:00:00+00:00",
        "detail": PICKED[1],
    }
    events = client.get("/internal/shipments/M100001").json["items"][0]["events"]
    assert [(e["source"], e["state"]) for e in events] == [("kuaidi100", 1), ("kuaidi100", 0)]


def test_a_repeated_event_adds_nothing_at_all(logistics, client):
    waybill = booked(logistics, client)
    report(client, waybill, PICKED, MOVING)
    sent_before = len(payloads(logistics, "shipment.tracked")), len(payloads(logistics, "shipment.shipped"))
    again = report(client, waybill, PICKED, MOVING, source="aftership")
    assert again.json == {"accepted": 0, "duplicates": 2}
    assert (len(payloads(logistics, "shipment.tracked")), len(payloads(logistics, "shipment.shipped"))) == sent_before
    assert len(client.get("/internal/shipments/M100001").json["items"][0]["events"]) == 2


def test_the_same_event_twice_in_one_report_counts_once(logistics, client):
    waybill = booked(logistics, client)
    assert report(client, waybill, MOVING, MOVING).json == {"accepted": 1, "duplicates": 1}


def test_the_same_moment_in_another_time_zone_is_the_same_event(logistics, client):
    waybill = booked(logistics, client)
    report(client, waybill, PICKED)
    utc = (PICKED[0], PICKED[1], "2026-11-24T02:00:00Z")
    assert report(client, waybill, utc).json == {"accepted": 0, "duplicates": 1}


def test_a_time_without_a_zone_is_the_malls_local_time(logistics, client):
    waybill = booked(logistics, client)
    report(client, waybill, (0, "Left Nanning", "2026-11-24 10:00:00"))
    assert payloads(logistics, "shipment.tracked")[0]["at"] == "2026-11-24T02:00:00+00:00"


def test_the_first_movement_ships_the_parcel_once(logistics, client):
    waybill = booked(logistics, client)
    report(client, waybill, PICKED)
    report(client, waybill, MOVING, OUT)
    assert status(client) == "in_transit"
    (shipped,) = payloads(logistics, "shipment.shipped")
    assert shipped["detail"] == PICKED[1] and shipped["waybill"] == waybill


def test_a_signature_delivers_the_parcel_once(logistics, client):
    waybill = booked(logistics, client)
    report(client, waybill, PICKED, MOVING, OUT, SIGNED)
    report(client, waybill, (3, "Signed for by Li Na (copy)", "2026-11-25T11:05:00+08:00"))
    assert status(client) == "delivered"
    (delivered,) = payloads(logistics, "shipment.delivered")
    assert delivered["detail"] == SIGNED[1] and delivered["at"] == "2026-11-25T03:00:00+00:00"


def test_a_signature_reported_first_also_tells_orders_the_parcel_shipped(logistics, client):
    waybill = booked(logistics, client)
    report(client, waybill, SIGNED)
    assert len(payloads(logistics, "shipment.shipped")) == 1
    assert len(payloads(logistics, "shipment.delivered")) == 1


def test_a_stale_event_joins_the_timeline_but_changes_no_status(logistics, client):
    waybill = booked(logistics, client)
    report(client, waybill, SIGNED)
    response = report(client, waybill, MOVING, (2, "Address unclear", "2026-11-24T20:00:00+08:00"))
    assert response.json == {"accepted": 2, "duplicates": 0}
    assert status(client) == "delivered"
    assert len(payloads(logistics, "shipment.tracked")) == 3
    assert payloads(logistics, "shipment.failed") == []


def test_events_in_one_report_apply_oldest_first(logistics, client):
    waybill = booked(logistics, client)
    report(client, waybill, SIGNED, OUT, PICKED)  # a partner's history, newest first
    assert status(client) == "delivered"
    assert [t["detail"] for t in payloads(logistics, "shipment.tracked")] == [PICKED[1], OUT[1], SIGNED[1]]


def test_a_problem_is_reported_as_a_failed_delivery(logistics, client):
    waybill = booked(logistics, client)
    report(client, waybill, PICKED, (2, "Customer unreachable", "2026-11-25T09:00:00+08:00"))
    assert status(client) == "problem"
    (failed,) = payloads(logistics, "shipment.failed")
    assert failed["detail"] == "Customer unreachable"


def test_refused_and_returning_parcels_are_failed_deliveries(logistics, client):
    waybill = booked(logistics, client)
    report(client, waybill, PICKED, (6, "Returning to sender", "2026-11-25T09:00:00+08:00"))
    assert status(client) == "returning"
    report(client, waybill, (4, "Returned, signed by sender", "2026-11-26T09:00:00+08:00"))
    assert status(client) == "returned"
    assert len(payloads(logistics, "shipment.failed")) == 2


def test_a_problem_or_return_reported_first_means_the_courier_has_the_parcel(logistics, client):
    """Found in review: with no pickup scan first (or one that came late, older than what was known), the
    parcel counted as never handed over, and a cancel withdrew it, refunding goods the courier held."""
    waybill = booked(logistics, client)
    report(client, waybill, (6, "Returning to sender", "2026-11-24T12:00:00+08:00"))
    report(client, waybill, PICKED)  # the pickup scan, older than the return: no new status
    (shipped,) = payloads(logistics, "shipment.shipped")
    assert shipped["at"] == "2026-11-24T04:00:00+00:00" and shipped["detail"] == "Returning to sender"
    deliver(logistics, "logistics.cancel_delivery", {"order": "M100001", "fulfilment_id": 1})
    assert status(client) == "returning" and payloads(logistics, "shipment.cancelled") == []
    assert payloads(logistics, "shipment.shipped")[-1]["detail"] == "handed over before the cancel"


def test_a_parcel_moving_again_after_a_problem_is_back_in_transit_without_shipping_twice(logistics, client):
    waybill = booked(logistics, client)
    report(client, waybill, PICKED, (2, "Customer unreachable", "2026-11-24T12:00:00+08:00"), MOVING)
    assert status(client) == "in_transit"
    assert len(payloads(logistics, "shipment.shipped")) == 1


def test_an_empty_detail_is_named_after_its_state(logistics, client):
    waybill = booked(logistics, client)
    report(client, waybill, (5, "", "2026-11-25T08:00:00+08:00"))
    assert payloads(logistics, "shipment.tracked")[0]["detail"] == "out for delivery"


def test_tracking_for_a_cancelled_parcel_changes_no_status(logistics, client):
    waybill = booked(logistics, client)
    deliver(logistics, "logistics.cancel_delivery", {"order": "M100001", "fulfilment_id": 1})
    report(client, waybill, PICKED)
    assert status(client) == "cancelled"
    assert payloads(logistics, "shipment.shipped") == []


def test_an_unknown_waybill_is_not_found(logistics, client):
    response = report(client, "SB000000000000", PICKED)
    assert response.status_code == 404 and response.json["error"]["code"] == "not_found"


def test_a_bad_report_is_refused_with_a_reason_for_each_field(logistics, client):
    waybill = booked(logistics, client)
    response = client.post(
        "/internal/tracking",
        json={"source": "kuaidi100", "waybill": waybill, "events": [{"state": 7, "detail": "?", "at": "yesterday"}]},
    )
    assert response.status_code == 422
    assert response.json["error"]["code"] == "validation_error"
    assert set(response.json["error"]["fields"]) == {"events.0.state", "events.0.at"}
    assert report(client, waybill).status_code == 422  # no events at all
    assert payloads(logistics, "shipment.tracked") == []


def test_a_lone_surrogate_in_a_tracking_report_is_422_and_changes_nothing(logistics, client):
    waybill = booked(logistics, client)
    before = client.get("/internal/shipments/M100001").json
    body = (
        f'{{"source": "kuaidi100", "waybill": "{waybill}", "events": ['
        '{"state": 1, "detail": "Collected", "at": "2026-11-24T10:00:00+08:00"}, '
        '{"state": 0, "detail": "Arrived \\ud83d", "at": "2026-11-24T18:00:00+08:00"}]}'
    )
    response = client.post("/internal/tracking", data=body.encode(), content_type="application/json")
    assert_text_refused(response, "events.1.detail")
    assert client.get("/internal/shipments/M100001").json == before
    assert payloads(logistics, "shipment.tracked") == []


def test_the_sandbox_courier_issues_distinct_waybills(logistics, client):
    waybills = {booked(logistics, client, f"M10000{n}", n) for n in range(1, 6)}
    assert len(waybills) == 5 and all(w.startswith("SB") and len(w) == 14 for w in waybills)
