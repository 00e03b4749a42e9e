"""Alipay's notifications: verified with Alipay's public key (RSA2) before anything else, then sent to billing."""

import dataclasses

import pytest

from mall.partners import AlipaySigner

OUT_TRADE_NO = "M20261125000001-1a2b3c4d"


@pytest.fixture(scope="module")
def alipay():
    """Alipay's side: its private key signs; the mall holds the public half."""
    return AlipaySigner.new()


@pytest.fixture
def configured(gateway, alipay, tmp_path, monkeypatch):
    key = alipay.write_public_key(tmp_path / "alipay-public.pem")
    settings = dataclasses.replace(gateway.settings, alipay_public_key=str(key))
    monkeypatch.setitem(gateway.__dict__, "settings", settings)
    return settings


@pytest.fixture
def payment(inner):
    inner.payments["M20261125000001"] = {
        "order": "M20261125000001",
        "method": "online",
        "status": "pending",
        "amount_cents": 2500,
        "out_trade_no": OUT_TRADE_NO,
    }


def notice(**changes):
    return AlipaySigner.trade_notice(OUT_TRADE_NO, "25.00", **changes)


def test_a_signed_notification_reaches_billing_and_gets_success(client, inner, configured, payment, alipay):
    response = client.post("/webhooks/alipay", data=alipay.sign(notice()))
    assert response.status_code == 200
    assert response.mimetype == "text/plain" and response.get_data(as_text=True) == "success"
    assert inner.notices == [
        {
            "out_trade_no": OUT_TRADE_NO,
            "trade_no": notice()["trade_no"],
            "amount": "25.00",
            "trade_status": "TRADE_SUCCESS",
            "paid_at": "2026-11-25T10:00:01+08:00",  # Alipay's clock is Beijing time
        }
    ]


def test_a_notification_signed_by_another_key_is_401_and_changes_nothing(client, inner, configured, payment):
    forged = AlipaySigner.new().sign(notice())
    response = client.post("/webhooks/alipay", data=forged)
    assert response.status_code == 401 and response.json["error"]["code"] == "invalid_signature"
    assert inner.calls == [] and inner.notices == []


def test_a_field_changed_after_signing_is_401(client, inner, configured, payment, alipay):
    signed = alipay.sign(notice()) | {"total_amount": "0.01"}
    assert client.post("/webhooks/alipay", data=signed).status_code == 401
    assert inner.notices == []


@pytest.mark.parametrize("sign", [None, "", "not base64!", "QUJD"])
def test_a_missing_or_garbled_signature_is_401(client, inner, configured, payment, alipay, sign):
    fields = alipay.sign(notice())
    fields.pop("sign")
    if sign is not None:
        fields["sign"] = sign
    assert client.post("/webhooks/alipay", data=fields).status_code == 401
    assert inner.calls == []


def test_only_rsa2_is_accepted(client, inner, configured, payment, alipay):
    fields = alipay.sign(notice()) | {"sign_type": "RSA"}
    assert client.post("/webhooks/alipay", data=fields).status_code == 401


def test_empty_fields_are_left_out_of_the_signed_text_as_alipay_does(client, inner, configured, payment, alipay):
    fields = alipay.sign(notice(passback_params=""))
    assert client.post("/webhooks/alipay", data=fields).get_data(as_text=True) == "success"


def test_an_amount_that_does_not_match_is_400_fail(client, inner, configured, payment, alipay):
    fields = alipay.sign(AlipaySigner.trade_notice(OUT_TRADE_NO, "2.50"))
    response = client.post("/webhooks/alipay", data=fields)
    assert response.status_code == 400 and response.get_data(as_text=True) == "fail"
    assert inner.notices == []


def test_a_notification_for_another_app_is_400_fail(client, inner, configured, payment, alipay, gateway, monkeypatch):
    monkeypatch.setitem(gateway.__dict__, "settings", dataclasses.replace(configured, alipay_app_id="2021999999999999"))
    response = client.post("/webhooks/alipay", data=alipay.sign(notice()))
    assert response.status_code == 400 and response.get_data(as_text=True) == "fail"
    assert inner.calls == []


def test_an_unknown_trade_is_404(client, inner, configured, alipay):
    response = client.post("/webhooks/alipay", data=alipay.sign(notice()))
    assert response.status_code == 404 and response.json["error"]["code"] == "not_found"


def test_a_signed_form_that_is_not_a_trade_notification_is_400(client, inner, configured, payment, alipay):
    fields = alipay.sign({"out_trade_no": OUT_TRADE_NO, "trade_status": "PAID", "total_amount": "lots"})
    response = client.post("/webhooks/alipay", data=fields)
    assert response.status_code == 400 and response.json["error"]["code"] == "invalid_payload"
    assert inner.calls == []


def test_without_a_configured_key_nothing_is_accepted(client, inner, payment, alipay):
    response = client.post("/webhooks/alipay", data=alipay.sign(notice()))
    assert response.status_code == 503 and response.json["error"]["code"] == "not_configured"
    assert inner.calls == []


def test_the_key_may_be_the_bare_base64_alipays_console_shows(client, payment, alipay, gateway, tmp_path, monkeypatch):
    bare = "".join(line for line in alipay.public_pem().decode().splitlines() if not line.startswith("-----"))
    (tmp_path / "bare.txt").write_text(bare)
    settings = dataclasses.replace(gateway.settings, alipay_public_key=str(tmp_path / "bare.txt"))
    monkeypatch.setitem(gateway.__dict__, "settings", settings)
    assert client.post("/webhooks/alipay", data=alipay.sign(notice())).get_data(as_text=True) == "success"


def test_a_notification_for_another_seller_is_400_fail(
    client, inner, configured, payment, alipay, gateway, monkeypatch
):
    monkeypatch.setitem(gateway.__dict__, "settings", dataclasses.replace(configured, alipay_seller_id="2088999"))
    response = client.post("/webhooks/alipay", data=alipay.sign(notice()))
    assert response.status_code == 400 and response.get_data(as_text=True) == "fail"
    assert inner.calls == []


#: Written out by hand from Alipay's rule, not by the code under test: what is signed for this form.
FORM = {
    "trade_status": "TRADE_SUCCESS",
    "app_id": "2021000000000000",
    "total_amount": "25.00",
    "out_trade_no": "M1-1a2b3c4d",
    "body": "",
    "subject": "商城订单 & more",
    "sign_type": "RSA2",
    "sign": "x",
}
SIGNED = (
    "app_id=2021000000000000&out_trade_no=M1-1a2b3c4d&subject=商城订单 & more"
    "&total_amount=25.00&trade_status=TRADE_SUCCESS"
)


def test_the_signed_text_is_alipays():
    from gateway.services import alipay_signed_text

    assert alipay_signed_text(FORM) == SIGNED


def test_a_signature_over_alipays_text_verifies_and_one_over_another_does_not(alipay):
    import base64

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    from gateway.services import alipay_signature_valid

    def signed(text):
        signature = alipay.private_key.sign(text.encode(), padding.PKCS1v15(), hashes.SHA256())
        return FORM | {"sign": base64.b64encode(signature).decode()}

    public = alipay.private_key.public_key()
    assert alipay_signature_valid(signed(SIGNED), public)
    assert not alipay_signature_valid(signed("body=&" + SIGNED), public)  # empty values are left out
    assert not alipay_signature_valid(signed(SIGNED + "&sign_type=RSA2"), public)  # so is sign_type


def test_our_app_and_sellers_notification_is_taken(client, inner, configured, payment, alipay, gateway, monkeypatch):
    ours = dataclasses.replace(configured, alipay_app_id="2021000000000000", alipay_seller_id="2088101106499364")
    monkeypatch.setitem(gateway.__dict__, "settings", ours)
    response = client.post("/webhooks/alipay", data=alipay.sign(notice()))
    assert response.get_data(as_text=True) == "success" and len(inner.notices) == 1
