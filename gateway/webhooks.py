"""Partner callbacks: each is verified by its signature before anything else, then forwarded: tracking to
logistics, payment notifications to billing."""

from __future__ import annotations

import json

from flask import Blueprint, Response, current_app, request
from marshmallow import ValidationError

from shared.web import ApiError, schema_instance

from . import schemas, services
from .config import runtime

webhooks = Blueprint("webhooks", __name__, url_prefix="/webhooks")

KUAIDI100_OK = {"result": True, "returnCode": "200", "message": "成功"}


def _bad_payload(reason: str) -> ApiError:
    return ApiError(400, "invalid_payload", reason)


@webhooks.post("/kuaidi100")
def kuaidi100():
    """Kuaidi100's subscription push: form fields `param` (JSON) and `sign` = MD5(param + salt), upper-case hex."""
    param = request.form.get("param", "")
    expected = services.kuaidi100_sign(param, runtime.settings.kuaidi100_salt)
    if not services.signature_matches(request.form.get("sign"), expected):
        raise ApiError(401, "invalid_signature", "The signature does not match.")
    try:
        push = schema_instance(schemas.Kuaidi100Push).load(current_app.json.loads(param))
        tracking = services.kuaidi100_tracking(push, runtime.settings.timezone)
    except (ValueError, TypeError, ValidationError) as exc:  # JSONDecodeError is a ValueError
        raise _bad_payload("param is not a Kuaidi100 push.") from exc
    current_app.extensions["inner"].track(tracking)
    return Response(json.dumps(KUAIDI100_OK, ensure_ascii=False), mimetype="application/json")


@webhooks.post("/aftership")
def aftership():
    """AfterShip's tracking webhook; header `aftership-hmac-sha256` = base64 HMAC-SHA256 of the raw body."""
    raw = request.get_data(cache=True)
    expected = services.aftership_sign(raw, runtime.settings.aftership_secret)
    if not services.signature_matches(request.headers.get("aftership-hmac-sha256"), expected):
        raise ApiError(401, "invalid_signature", "The signature does not match.")
    try:
        push = schema_instance(schemas.AfterShipPush).load(current_app.json.loads(raw))
        tracking = services.aftership_tracking(push)
    except (ValueError, TypeError, ValidationError) as exc:
        raise _bad_payload("The body is not an AfterShip tracking webhook.") from exc
    if tracking is None:
        return {"accepted": 0, "duplicates": 0}
    return current_app.extensions["inner"].track(tracking)


@webhooks.post("/alipay")
def alipay():
    """Alipay's asynchronous notification (form fields, RSA2-signed); replies the plain text `success`.

    Verified with the public key `MALL_ALIPAY_PUBLIC_KEY` names before anything else (401 if the signature
    is wrong, 503 while no key is configured: Alipay keeps notifying for a day). An unknown trade is 404; a
    notification whose amount, trade or app does not match the order is 400 with the text `fail`; neither
    changes anything. A repeated notification changes nothing again and still gets `success`.
    """
    key = services.alipay_public_key(runtime.settings.alipay_public_key)
    if key is None:
        raise ApiError(503, "not_configured", "No Alipay public key is configured (MALL_ALIPAY_PUBLIC_KEY).")
    form = request.form.to_dict()
    if not services.alipay_signature_valid(form, key):
        raise ApiError(401, "invalid_signature", "The signature does not match.")
    try:
        notice = schema_instance(schemas.AlipayNotice).load(form)
        forwarded = services.alipay_notice(notice)
    except (ValueError, ValidationError) as exc:
        raise _bad_payload("The form is not an Alipay trade notification.") from exc
    # Alipay's advice after the signature: the notification must be for this app and this seller (a key
    # may sign for several of a group's apps). Checked when configured (MALL_ALIPAY_APP_ID, _SELLER_ID).
    settings = runtime.settings
    if (settings.alipay_app_id and notice["app_id"] != settings.alipay_app_id) or (
        settings.alipay_seller_id and notice["seller_id"] != settings.alipay_seller_id
    ):
        return _alipay_fail()
    try:
        current_app.extensions["inner"].payment_notified(forwarded)
    except ApiError as exc:
        if exc.status == 400:
            return _alipay_fail()
        raise
    return Response("success", mimetype="text/plain")


def _alipay_fail() -> Response:
    """Alipay's word for a notification the merchant does not accept (it tries again later)."""
    return Response("fail", status=400, mimetype="text/plain")
