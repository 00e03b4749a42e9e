"""Loss claims on the courier: one per after-sales case, for what the customer was refunded up to the declared
value; settled or refused by customer service or finance; what the courier paid credited in its month."""

from datetime import UTC, datetime

from shared.testing import deliver, envelope, payloads
from tests.logistics.test_costs import costs
from tests.logistics.test_deliveries import arrange


def claim(case=7, fulfilment_id=1, order="M100001", amount=329900, problem="lost"):
    return {
        "order": order,
        "fulfilment_id": fulfilment_id,
        "case": case,
        "unit": "EL-WAREHOUSE",
        "amount_cents": amount,
        "problem": problem,
    }


def claims(client, status=None):
    query = {"status": status} if status else {}
    return client.get("/internal/claims", query_string=query).json["items"]


def test_a_lost_courier_parcel_is_claimed_once_up_to_its_declared_value(logistics, client):
    deliver(logistics, "logistics.arrange_delivery", arrange(1, "courier", declared=299900))
    body = envelope("logistics.claim_loss", claim(amount=329900), correlation_id="M100001")
    assert logistics.consume("logistics.claim_loss", body) == "handled"
    assert logistics.consume("logistics.claim_loss", body) == "duplicate"
    assert deliver(logistics, "logistics.claim_loss", claim(amount=329900)) == "handled"  # re-sent by orders
    [opened] = claims(client)
    assert (opened["status"], opened["claimed"], opened["premium"]) == ("open", "2999.00", "9.00")
    assert opened["waybill"] and opened["carrier"] and opened["case"] == 7
    answer = {"order": "M100001", "case": 7, "claim": opened["id"], "claimed_cents": 299900}
    assert payloads(logistics, "loss.claimed") == [answer, answer]


def test_a_parcel_of_our_own_couriers_is_not_insured_so_nothing_is_claimed(logistics, client):
    deliver(logistics, "logistics.arrange_delivery", arrange(1, "local"))
    deliver(logistics, "logistics.claim_loss", claim())
    [recorded] = claims(client)
    assert recorded["status"] == "not_insured" and recorded["claimed"] == "0.00"
    assert payloads(logistics, "loss.claimed")[0]["claimed_cents"] == 0
    refused = client.post(f"/internal/claims/{recorded['id']}/settle", json={"paid_cents": 1, "by": "cs"})
    assert refused.status_code == 409


def test_what_the_courier_paid_is_credited_to_the_unit_in_the_month_it_paid(logistics, client, monkeypatch):
    from services.logistics import services

    deliver(logistics, "logistics.arrange_delivery", arrange(1, "courier", declared=10000))
    deliver(logistics, "logistics.claim_loss", claim(amount=8000, problem="damaged"))
    [opened] = claims(client, "open")
    monkeypatch.setattr(services, "now", lambda: datetime(2026, 12, 3, 2, 0, tzinfo=UTC))
    too_much = client.post(f"/internal/claims/{opened['id']}/settle", json={"paid_cents": 8001, "by": "cs"})
    assert too_much.status_code == 422 and claims(client, "open") != []
    paid = client.post(f"/internal/claims/{opened['id']}/settle", json={"paid_cents": 6000, "by": "zhao"})
    assert paid.status_code == 200 and paid.json["status"] == "paid" and paid.json["paid"] == "60.00"
    again = client.post(f"/internal/claims/{opened['id']}/settle", json={"paid_cents": 6000, "by": "zhao"})
    assert again.status_code == 200  # a repeated click
    assert client.post(f"/internal/claims/{opened['id']}/reject", json={"note": "no", "by": "zhao"}).status_code == 409
    assert costs(client, "2026-12")["EL-WAREHOUSE"]["claims_cents"] == 6000
    assert costs(client, "2026-12")["EL-WAREHOUSE"]["parcels"] == 0  # (the parcel itself was booked earlier)


def test_a_claim_the_courier_refuses_credits_nothing(logistics, client):
    deliver(logistics, "logistics.arrange_delivery", arrange(1, "courier"))
    deliver(logistics, "logistics.claim_loss", claim())
    [opened] = claims(client)
    refused = client.post(f"/internal/claims/{opened['id']}/reject", json={"note": "Packed too thinly.", "by": "cs"})
    assert refused.json["status"] == "rejected" and refused.json["note"] == "Packed too thinly."
    month = datetime.now(UTC).strftime("%Y-%m")
    assert costs(client, month)["EL-WAREHOUSE"]["claims_cents"] == 0


def test_bad_claims_and_settlements_change_nothing(logistics, client):
    assert deliver(logistics, "logistics.claim_loss", claim(fulfilment_id=404)) == "dead_lettered"
    assert claims(client) == []
    assert client.post("/internal/claims/99999999999/settle", json={"paid_cents": 1, "by": "cs"}).status_code == 404
    assert client.post("/internal/claims/1/settle", json={"paid_cents": 1, "by": "cs"}).status_code == 404
    assert client.get("/internal/claims", query_string={"status": "lost"}).status_code == 422


def test_a_lost_parcel_signed_for_after_all_withdraws_its_claim(logistics, client):
    deliver(logistics, "logistics.arrange_delivery", arrange(1, "courier"))
    deliver(logistics, "logistics.claim_loss", claim())
    [opened] = claims(client)
    waybill = opened["waybill"]
    report = {
        "source": "kuaidi100",
        "waybill": waybill,
        "events": [{"state": 3, "detail": "signed", "at": "2026-11-25T10:00:00+08:00"}],
    }
    assert client.post("/internal/tracking", json=report).status_code == 200
    [withdrawn] = claims(client)
    assert withdrawn["status"] == "withdrawn"
    assert client.post(f"/internal/claims/{opened['id']}/settle", json={"paid_cents": 1, "by": "cs"}).status_code == 409
    # A claim that arrives after the signing is withdrawn at once.
    assert deliver(logistics, "logistics.claim_loss", claim(case=8)) == "handled"
    assert {c["case"]: c["status"] for c in claims(client)} == {7: "withdrawn", 8: "withdrawn"}
