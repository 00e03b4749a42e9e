"""The gateway's Flask application factory: the public API, partner webhooks, the OpenAPI document."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask
from werkzeug.routing import IntegerConverter

from shared.http import ServiceUnavailable
from shared.web import SafeJSON, error_body, install_error_handlers

from . import services
from .api import admin, people, shop, staff
from .clients import PRODUCT_CACHE_SECONDS, InnerServices, ProductCache
from .config import runtime
from .openapi import docs
from .services import RateLimited
from .webhooks import webhooks

log = logging.getLogger("mall.gateway")


class IdConverter(IntegerConverter):
    """`<id:name>`: a database id; a number too large for one is simply not found (never a 500)."""

    def __init__(self, map, *args, **kwargs):
        super().__init__(map, min=1, max=2**31 - 1)


def create_app(test_config: dict[str, Any] | None = None, inner: Any = None) -> Flask:
    """The gateway app; `inner` replaces the inner services' client (tests pass a fake)."""
    app = Flask("gateway", static_folder=None)
    app.json = SafeJSON(app)
    app.config.update(
        ALIPAY_GATEWAY_URL="https://openapi.alipay.com/gateway.do",
        MAX_CONTENT_LENGTH=1024 * 1024,
        BOOTSTRAP_ADMIN=runtime.settings.bootstrap_admin,
        START_OUTBOX_SWEEPER=True,
        PRODUCT_CACHE_SECONDS=PRODUCT_CACHE_SECONDS,
    )
    app.config.update(test_config or {})
    app.json.ensure_ascii = False
    app.extensions["runtime"] = runtime
    app.extensions["inner"] = inner if inner is not None else InnerServices(runtime.settings)
    app.extensions["products"] = ProductCache(app.extensions["inner"], app.config["PRODUCT_CACHE_SECONDS"])
    app.url_map.converters["id"] = IdConverter
    install_error_handlers(app)

    @app.errorhandler(RateLimited)
    def _rate_limited(exc: RateLimited):
        return error_body(exc.code, exc.message), 429, {"Retry-After": str(exc.retry_after)}

    @app.errorhandler(ServiceUnavailable)
    def _service_unavailable(exc: ServiceUnavailable):
        log.warning("inner service unavailable: %s", exc)
        return error_body("service_unavailable", "A part of the mall is not answering; try again shortly."), 503

    for blueprint in (people, admin, shop, staff, webhooks, docs):
        app.register_blueprint(blueprint)

    if app.config["BOOTSTRAP_ADMIN"]:
        with runtime.db.session() as session, session.begin():
            if services.bootstrap_admin(session, app.config["BOOTSTRAP_ADMIN"]):
                log.info("created the super administrator from MALL_BOOTSTRAP_ADMIN")
    if app.config["START_OUTBOX_SWEEPER"] and not app.testing:
        # Orders accepted while the broker was away wait in the outbox; this publishes them later.
        runtime.start_outbox_sweeper()
    return app
