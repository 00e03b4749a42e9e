"""Flask helpers every web process shares: the API error shape, body validation, the service token."""

from __future__ import annotations

import hmac
import logging
from typing import Any

from flask import Flask, current_app, jsonify, request
from flask.json.provider import DefaultJSONProvider
from marshmallow import Schema, ValidationError
from werkzeug.exceptions import HTTPException

log = logging.getLogger("mall.web")


class ApiError(Exception):
    """An error a caller can act on; rendered as {"error": {"code", "message", "fields"}}."""

    def __init__(self, status: int, code: str, message: str, fields: dict[str, list[str]] | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields or {}


def not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", f"{what} was not found.")


def conflict(code: str, message: str) -> ApiError:
    return ApiError(409, code, message)


class SafeJSON(DefaultJSONProvider):
    """Flask's JSON, where a body nested too deeply to parse is invalid JSON (a 400), not a RecursionError (500)."""

    ensure_ascii = False

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            return super().loads(s, **kwargs)
        except RecursionError as exc:
            raise ValueError("JSON nested too deeply") from exc


def error_body(code: str, message: str, fields: dict | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message}
    if fields:
        body["fields"] = fields
    return {"error": body}


def _flatten(messages: Any) -> dict[str, list[str]]:
    """marshmallow's nested errors as {"items.0.quantity": ["..."]}."""
    out: dict[str, list[str]] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), inner)
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            out.setdefault(prefix or "_schema", []).extend(value)
        elif isinstance(value, list):
            for i, inner in enumerate(value):
                walk(f"{prefix}.{i}", inner)
        else:
            out.setdefault(prefix or "_schema", []).append(str(value))

    walk("", messages)
    return out


def load_body(schema: Schema, data: Any = None) -> Any:
    """Validate a JSON body (or `data`) with a marshmallow schema; 422 with per-field reasons if wrong."""
    if data is None:
        data = request.get_json(silent=True)
        if data is None:
            if request.get_data(cache=True):
                raise ApiError(400, "invalid_json", "The request body is not valid JSON.")
            data = {}
    if not isinstance(data, dict) and not schema.many:
        raise ApiError(422, "validation_error", "The request body must be a JSON object.")
    try:
        return schema.load(data)
    except ValidationError as exc:
        raise ApiError(422, "validation_error", "Some fields are not valid.", _flatten(exc.messages)) from exc


def install_error_handlers(app: Flask) -> None:
    """Every error, ours or Werkzeug's, leaves as the API error shape; never a stack trace."""

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError):
        return jsonify(error_body(exc.code, exc.message, exc.fields)), exc.status

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        code = (exc.name or "error").lower().replace(" ", "_").replace("'", "")
        return jsonify(error_body(code, exc.description or exc.name)), exc.code

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        return jsonify(error_body("internal_error", "Something went wrong on our side.")), 500


def require_service_token(app: Flask) -> None:
    """Internal service APIs answer only callers that present the mall's service token."""

    @app.before_request
    def _check_token():
        if request.endpoint == "health":
            return None
        presented = request.headers.get("X-Service-Token", "")
        expected = current_app.config["SERVICE_TOKEN"]
        if not hmac.compare_digest(presented.encode(), expected.encode()):
            raise ApiError(401, "unauthorized", "A valid service token is required.")
        return None


def service_app(name: str, runtime, blueprint, test_config: dict | None = None) -> Flask:
    """The Flask app of an inner service: its blueprint, the service token, the error shape, /health."""
    app = Flask(name)
    app.json = SafeJSON(app)
    app.config["MAX_CONTENT_LENGTH"] = 1024 * 1024
    app.config["SERVICE_TOKEN"] = runtime.settings.service_token
    app.config.update(test_config or {})
    app.extensions["runtime"] = runtime
    install_error_handlers(app)
    require_service_token(app)
    app.register_blueprint(blueprint)

    @app.get("/health")
    def health():
        """200 when the database answers and at least one worker of this service beat recently."""
        workers = runtime.live_workers()
        ok = bool(workers) or app.config.get("HEALTH_WITHOUT_WORKERS", False)
        return {"service": name, "status": "ok" if ok else "starting", "workers": workers}, 200 if ok else 503

    return app
