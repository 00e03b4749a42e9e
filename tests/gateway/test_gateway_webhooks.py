"""Partner callbacks: verified first, then handed to logistics as tracking events."""

import base64
import hashlib
import hmac
import json

SALT = "mall-dev-kuaidi100-salt"
SECRET = "mall-dev-aftership-secret"


def kuaidi100_param(waybill="SF1234567890", state="3"):
    return json.dumps(
        {
            "status": "polling",
            "lastResult": {
                "state": state,
                "ischeck": "1",
                "com": "shunfeng",
                "nu": waybill,
                "data": [
                    {"context": "Signed for by Li Ming", "time": "2026-11-24 16:30:00", "ftime": "2026-11-24 16:30:00"},
                    {"context": "Out for delivery", "time": "2026-11-24 09:00:00", "ftime": "2026-11-24 09:00:00"},
                ],
            },
        },
        ensure_ascii=False,
    )


def sign(param, salt=SALT):
    return hashlib.md5((param + salt).encode()).hexdigest().upper()


def test_a_kuaidi100_push_with_a_wrong_signature_is_401_and_changes_nothing(client, inner):
    inner.waybills.add("SF1234567890")
    param = kuaidi100_param()
    response = client.post("/webhooks/kuaidi100", data={"param": param, "sign": sign(param, salt="guessed")})
    assert response.status_code == 401
    assert response.json["error"]["code"] == "invalid_signature"
    assert inner.calls == [] and inner.tracked == []


def test_a_kuaidi100_push_without_a_signature_is_401(client, inner):
    response = client.post("/webhooks/kuaidi100", data={"param": kuaidi100_param()})
    assert response.status_code == 401
    assert inner.calls == []


def test_a_signed_kuaidi100_push_reaches_logistics_with_its_events_in_order(client, inner):
    inner.waybills.add("SF1234567890")
    param = kuaidi100_param()
    response = client.post("/webhooks/kuaidi100", data={"param": param, "sign": sign(param)})
    assert response.status_code == 200
    assert response.get_json() == {"result": True, "returnCode": "200", "message": "成功"}
    assert inner.tracked == [
        {
            "source": "kuaidi100",
            "waybill": "SF1234567890",
            "events": [
                {"state": 0, "detail": "Out for delivery", "at": "2026-11-24T09:00:00+08:00"},
                {"state": 3, "detail": "Signed for by Li Ming", "at": "2026-11-24T16:30:00+08:00"},
            ],
        }
    ]


def test_a_kuaidi100_push_for_an_unknown_waybill_is_404(client, inner):
    param = kuaidi100_param(waybill="YT0000000000")
    response = client.post("/webhooks/kuaidi100", data={"param": param, "sign": sign(param)})
    assert response.status_code == 404


def test_a_signed_but_malformed_kuaidi100_push_is_400(client, inner):
    for param in ("not json", json.dumps({"lastResult": {"state": "x", "nu": ""}}), "[]"):
        response = client.post("/webhooks/kuaidi100", data={"param": param, "sign": sign(param)})
        assert response.status_code == 400, param
        assert response.json["error"]["code"] == "invalid_payload"
    assert inner.calls == []


def aftership_body(tag="Delivered", waybill="SF1234567890"):
    return json.dumps(
        {
            "event": "tracking_update",
            "event_id": "0b1c2d3e-aaaa-4bbb-8ccc-123456789abc",
            "msg": {
                "tracking_number": waybill,
                "slug": "sf-express",
                "tag": tag,
                "subtag_message": "Delivered to the recipient",
                "checkpoints": [{"checkpoint_time": "2026-11-24T16:30:00+08:00", "message": "Signed", "tag": tag}],
            },
        }
    ).encode()


def aftership_sign(raw, secret=SECRET):
    return base64.b64encode(hmac.new(secret.encode(), raw, hashlib.sha256).digest()).decode()


def test_a_signed_aftership_webhook_reaches_logistics_as_a_kuaidi100_state(client, inner):
    inner.waybills.add("SF1234567890")
    raw = aftership_body()
    response = client.post(
        "/webhooks/aftership",
        data=raw,
        content_type="application/json",
        headers={"aftership-hmac-sha256": aftership_sign(raw)},
    )
    assert response.status_code == 200
    assert inner.tracked == [
        {
            "source": "aftership",
            "waybill": "SF1234567890",
            "events": [{"state": 3, "detail": "Delivered to the recipient", "at": "2026-11-24T16:30:00+08:00"}],
        }
    ]


def test_an_aftership_webhook_with_a_wrong_signature_is_401(client, inner):
    raw = aftership_body()
    response = client.post(
        "/webhooks/aftership",
        data=raw,
        content_type="application/json",
        headers={"aftership-hmac-sha256": aftership_sign(raw, secret="guessed")},
    )
    assert response.status_code == 401
    assert inner.calls == []


def test_an_aftership_info_received_carries_no_news(client, inner):
    raw = aftership_body(tag="InfoReceived")
    response = client.post(
        "/webhooks/aftership",
        data=raw,
        content_type="application/json",
        headers={"aftership-hmac-sha256": aftership_sign(raw)},
    )
    assert response.status_code == 200
    assert inner.calls == []


def test_an_extended_kuaidi100_state_arrives_as_its_basic_state(client, inner):
    inner.waybills.add("SF1234567890")
    param = kuaidi100_param(state="301")
    client.post("/webhooks/kuaidi100", data={"param": param, "sign": sign(param)})
    assert [e["state"] for e in inner.tracked[0]["events"]] == [0, 3]


def test_a_push_while_logistics_is_down_is_503_so_the_partner_sends_it_again(client, inner):
    inner.down.add("logistics")
    param = kuaidi100_param()
    response = client.post("/webhooks/kuaidi100", data={"param": param, "sign": sign(param)})
    assert response.status_code == 503
