"""Flask helpers every web process shares: the API error shape, body validation, the service token."""

from __future__ import annotations

import hmac
import logging
import re
from functools import cache
from typing import Any, TypeVar

from flask import Flask, current_app, jsonify, request
from flask.json.provider import DefaultJSONProvider
from marshmallow import Schema, ValidationError
from werkzeug.exceptions import HTTPException
from werkzeug.routing import IntegerConverter

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


_BAD_CHARACTER = re.compile("[\x00\ud800-\udfff]")
_NUL = "Text must not contain NUL characters."
_SURROGATE = "Text must be valid Unicode (no lone surrogates)."


def _reason(text: str) -> str:
    return _NUL if "\x00" in text else _SURROGATE


def _printable(key: Any) -> str:
    """A key fit to name in an answer: its NUL and lone surrogates written as `\\uXXXX` escapes."""
    return _BAD_CHARACTER.sub(lambda m: f"\\u{ord(m[0]):04x}", str(key))


def bad_text(value: Any) -> tuple[str, str] | None:
    """Where some string in a loaded JSON value (keys included) cannot be stored, and why; None if all can.

    NUL is refused by PostgreSQL; a lone surrogate ("\\ud800", valid JSON) cannot be encoded as UTF-8 by
    any database or inner call. The place is written as error fields are ("items.0.sku"; "_schema" for the
    value itself). Walked without recursion: JSON may nest as deep as the parser allows.
    """
    search = _BAD_CHARACTER.search
    stack = [value]
    while stack:  # the common case, all text fine, without building a path for every value
        item = stack.pop()
        if isinstance(item, str):
            if search(item):
                return _place_of_bad_text(value)
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return None


def _place_of_bad_text(value: Any) -> tuple[str, str]:
    search = _BAD_CHARACTER.search
    stack: list[tuple[Any, tuple[str, ...]]] = [(value, ())]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str):
            if search(item):
                return ".".join(path) or "_schema", _reason(item)
        elif isinstance(item, dict):
            for key, inner in item.items():
                if isinstance(key, str) and search(key):
                    return ".".join((*path, _printable(key))), _reason(key)
                stack.append((inner, (*path, str(key))))
        elif isinstance(item, list | tuple):
            stack.extend((inner, (*path, str(i))) for i, inner in enumerate(item))
    return "_schema", _SURROGATE  # pragma: no cover  (bad_text found some, so the walk above returned)


def refuse_bad_text(data: Any) -> None:
    """422 `validation_error` naming the place if some text in `data` cannot be stored (see `bad_text`)."""
    found = bad_text(data)
    if found:
        where, reason = found
        raise ApiError(422, "validation_error", "Some fields are not valid.", {where: [reason]})


S = TypeVar("S", bound=Schema)


@cache
def schema_instance(schema: type[S]) -> S:
    """The one instance of a schema class that every request validates (or dumps) with.

    Building a marshmallow schema costs more than using it, and an instance keeps nothing of the data
    it loads or dumps, so one serves every request on every thread.
    """
    return schema()


def load_body(schema: type[Schema], data: Any = None) -> Any:
    """Validate the JSON body (or `data`, such as `request.args.to_dict()`) with the shared instance of a
    marshmallow schema class; 422 with per-field reasons if wrong, or if some text in it cannot be stored."""
    if data is None:
        data = request.get_json(silent=True)
        if data is None:
            if request.get_data(cache=True):
                raise ApiError(400, "invalid_json", "The request body is not valid JSON.")
            data = {}
    if not isinstance(data, dict):
        raise ApiError(422, "validation_error", "The request body must be a JSON object.")
    refuse_bad_text(data)
    try:
        return schema_instance(schema).load(data)
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


class IdConverter(IntegerConverter):
    """`<id:name>`: a database id; a number too large for one is simply not found (never a 500)."""

    def __init__(self, map, *args, **kwargs):
        super().__init__(map, min=1, max=2**31 - 1)


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
    app.url_map.converters["id"] = IdConverter
    app.register_blueprint(blueprint)

    @app.get("/health")
    def health():
        """200 when the database answers and at least one worker of this service beat recently."""
        workers = runtime.live_workers()
        ok = bool(workers) or app.config.get("HEALTH_WITHOUT_WORKERS", False)
        return {"service": name, "status": "ok" if ok else "starting", "workers": workers}, 200 if ok else 503

    return app
