"""The gateway's Flask application factory: the public API, partner webhooks, the OpenAPI document."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from flask import Flask

from shared.http import ServiceUnavailable
from shared.web import IdConverter, SafeJSON, error_body, install_error_handlers

from . import services
from .api import admin, finance, people, shop, staff
from .auction_api import auctions
from .cart_api import addresses, cart
from .catalogue_api import catalogue, categories
from .clients import PRODUCT_CACHE_SECONDS, InnerServices, ProductCache
from .config import runtime
from .inquiry_api import inquiries
from .members_api import members
from .openapi import docs
from .services import RateLimited
from .staff_admin_api import staff_admin
from .webhooks import webhooks

log = logging.getLogger("mall.gateway")

#: How often each gateway web process checks that orders has the orders it placed (confirm_or_resend).
CONFIRM_INTERVAL_SECONDS = 5.0

_confirmer: threading.Thread | None = None
_confirmer_lock = threading.Lock()


#: At most this many batches a round: enough to keep up with thousands of orders a second.
CONFIRM_MAX_BATCHES = 50


def confirm_placed_orders(inner: Any) -> None:
    """One round of services.confirm_or_resend, batch after batch while batches come back full (a busy
    mall places more than one batch between two rounds); a failure (the database away, say) is logged,
    never raised."""
    try:
        if runtime.is_behind("orders"):  # placed orders may be waiting in that queue: late, not lost
            return
        for _ in range(CONFIRM_MAX_BATCHES):
            confirmed, resent = services.confirm_or_resend(runtime, inner)
            if confirmed + resent < services.CONFIRM_BATCH:
                return
    except Exception:
        log.warning("checking that orders has the placed orders failed; will try again", exc_info=True)


def start_order_confirmer(inner: Any, interval: float = CONFIRM_INTERVAL_SECONDS) -> None:
    """Every `interval`, in a daemon thread, re-send the placed orders orders does not have after their
    deadline; idempotent to call twice in one process, like the outbox sweeper."""
    global _confirmer
    with _confirmer_lock:
        if _confirmer is not None:
            return

        def loop():
            while True:
                time.sleep(interval)
                confirm_placed_orders(inner)

        _confirmer = threading.Thread(target=loop, name="gateway-order-confirmer", daemon=True)
        _confirmer.start()


def create_app(test_config: dict[str, Any] | None = None, inner: Any = None) -> Flask:
    """The gateway app; `inner` replaces the inner services' client (tests pass a fake)."""
    app = Flask("gateway", static_folder=None)
    app.json = SafeJSON(app)
    app.config.update(
        ALIPAY_GATEWAY_URL="https://openapi.alipay.com/gateway.do",
        MAX_CONTENT_LENGTH=1024 * 1024,
        BOOTSTRAP_ADMIN=runtime.settings.bootstrap_admin,
        START_OUTBOX_SWEEPER=True,
        START_ORDER_CONFIRMER=True,
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

    blueprints = (
        people,
        admin,
        catalogue,
        members,
        staff_admin,
        shop,
        categories,
        addresses,
        cart,
        auctions,
        inquiries,
        staff,
        finance,
        webhooks,
        docs,
    )
    for blueprint in blueprints:
        app.register_blueprint(blueprint)

    if app.config["BOOTSTRAP_ADMIN"]:
        with runtime.db.session() as session, session.begin():
            if services.bootstrap_admin(session, app.config["BOOTSTRAP_ADMIN"]):
                log.info("created the super administrator from MALL_BOOTSTRAP_ADMIN")
    if app.config["START_OUTBOX_SWEEPER"] and not app.testing:
        # Orders accepted while the broker was away wait in the outbox; this publishes them later.
        runtime.start_outbox_sweeper()
    if app.config["START_ORDER_CONFIRMER"] and not app.testing:
        # An orders.place_order the broker lost (a worker killed between taking it and recording it) is
        # sent again once its deadline passes and orders says it does not have the order.
        start_order_confirmer(app.extensions["inner"])
    return app
