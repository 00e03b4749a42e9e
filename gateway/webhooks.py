"""Partner callbacks: each is verified by its signature before anything else, then forwarded to logistics."""

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
