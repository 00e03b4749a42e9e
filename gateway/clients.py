"""The inner services as the gateway sees them: one object, one method per internal call (docs/internal-api.md).

Tests replace it with an in-memory fake of the same methods (see tests/gateway/gateway_fakes.py). A 4xx from a
service arrives as shared.web.ApiError (its own code and message pass through); a service that does
not answer, or fails, raises shared.http.ServiceUnavailable (the gateway answers 503).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from shared.config import Settings
from shared.http import ServiceClient, ServiceUnavailable
from shared.web import ApiError

INNER = ("catalog", "orders", "stores", "logistics", "billing")

#: How long the order path keeps a product the catalogue found (see ProductCache); 0 keeps none.
PRODUCT_CACHE_SECONDS = 5.0


class _Client(ServiceClient):
    def request(self, method: str, path: str, *, json: Any = None, params: Any = None) -> tuple[int, Any]:
        status, body = super().request(method, path, json=json, params=params)
        if status in (401, 403):
            # The service refused our service token: a deployment fault, not the caller's.
            raise ServiceUnavailable(f"{self.service} refused the gateway's service token ({status})")
        return status, body

    def get_or_none(self, path: str, **kwargs) -> Any:
        """GET that answers None for 404 (things that do not exist yet), raising for other errors."""
        status, body = self.request("GET", path, **kwargs)
        if status == 404:
            return None
        if status >= 400:
            error = (body or {}).get("error", {}) if isinstance(body, dict) else {}
            raise ApiError(
                status, error.get("code", "error"), error.get("message", "Request failed."), error.get("fields")
            )
        return body


class InnerServices:
    """Calls to catalog, orders, stores, logistics and billing, with the service token."""

    def __init__(self, settings: Settings, timeout: float = 10.0):
        self.settings = settings
        self.catalog = _Client("catalog", settings, timeout)
        self.orders = _Client("orders", settings, timeout)
        self.stores = _Client("stores", settings, timeout)
        self.logistics = _Client("logistics", settings, timeout)
        self.billing = _Client("billing", settings, timeout)

    # --- catalog ---------------------------------------------------------------------------------

    def create_product(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.catalog.post("/internal/products", json=body)

    def search_products(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.catalog.get("/internal/products", params=params)

    def get_product(self, product_id: int, *, count_view: bool = False) -> dict[str, Any] | None:
        return self.catalog.get_or_none(f"/internal/products/{product_id}", params={"view": 1} if count_view else None)

    def lookup_products(self, skus: list[str]) -> dict[str, Any]:
        """`{items: [product], missing: [sku]}`; a withdrawn product is an item with `on_sale` false."""
        return self.catalog.post("/internal/products/lookup", json={"skus": skus})

    def change_product(self, product_id: int, body: dict[str, Any]) -> dict[str, Any]:
        """The product with `changed: {field: [before, after]}`; 404 / 422 as ApiError."""
        return self.catalog.call("PATCH", f"/internal/products/{product_id}", json=body)

    def withdraw_product(self, product_id: int) -> dict[str, Any]:
        return self.catalog.post(f"/internal/products/{product_id}/withdraw")

    def restore_product(self, product_id: int) -> dict[str, Any]:
        return self.catalog.post(f"/internal/products/{product_id}/restore")

    def categories(self) -> dict[str, Any]:
        """`{items: [{id, name, products, withdrawn}]}`."""
        return self.catalog.get("/internal/categories")

    def create_category(self, name: str) -> dict[str, Any]:
        return self.catalog.post("/internal/categories", json={"name": name})

    def delete_category(self, category_id: int) -> None:
        """404, 409 `category_in_use` as ApiError."""
        self.catalog.call("DELETE", f"/internal/categories/{category_id}")

    def manufacturers(self) -> dict[str, Any]:
        return self.catalog.get("/internal/manufacturers")

    def suppliers(self) -> dict[str, Any]:
        return self.catalog.get("/internal/suppliers")

    def reviews(self, product_id: int, params: dict[str, Any]) -> dict[str, Any] | None:
        """`{items, total, page, per_page, rating}`; None for an unknown product."""
        return self.catalog.get_or_none(f"/internal/products/{product_id}/reviews", params=params)

    def write_review(self, product_id: int, body: dict[str, Any]) -> dict[str, Any]:
        """201 review; 404 unknown product, 409 `not_purchased` / `already_reviewed` (ApiError)."""
        return self.catalog.post(f"/internal/products/{product_id}/reviews", json=body)

    def ask(self, product_id: int, body: dict[str, Any]) -> dict[str, Any]:
        """201 inquiry; 404, 409 `product_withdrawn` / `too_many_open_inquiries` / `idempotency_key_reused`."""
        return self.catalog.post(f"/internal/products/{product_id}/inquiries", json=body)

    def product_inquiries(self, product_id: int, params: dict[str, Any]) -> dict[str, Any] | None:
        """The product's answered public inquiries `{items, total, page, per_page}`; None for an unknown product."""
        return self.catalog.get_or_none(f"/internal/products/{product_id}/inquiries", params=params)

    def inquiries(self, params: dict[str, Any]) -> dict[str, Any]:
        """`{items, total, page, per_page}` by member, status, what a unit sells (`unit`, `branch`)."""
        return self.catalog.get("/internal/inquiries", params=params)

    def inquiry(self, inquiry_id: int) -> dict[str, Any] | None:
        return self.catalog.get_or_none(f"/internal/inquiries/{inquiry_id}")

    def answer_inquiry(self, inquiry_id: int, body: dict[str, Any]) -> dict[str, Any]:
        """The inquiry with `changed`; 404, 409 `already_answered` (ApiError)."""
        return self.catalog.post(f"/internal/inquiries/{inquiry_id}/answer", json=body)

    def create_auction(self, body: dict[str, Any]) -> dict[str, Any]:
        """201 auction (the same `idempotency_key` again: the same one); 422, 409 (ApiError)."""
        return self.catalog.post("/internal/auctions", json=body)

    def auctions(self, params: dict[str, Any]) -> dict[str, Any]:
        """`{items, total, page, per_page}`."""
        return self.catalog.get("/internal/auctions", params=params)

    def auction(self, auction_id: int) -> dict[str, Any] | None:
        """The auction with its `bid_history`; None for an unknown one."""
        return self.catalog.get_or_none(f"/internal/auctions/{auction_id}")

    def place_bid(self, auction_id: int, body: dict[str, Any]) -> dict[str, Any]:
        """`{bid, auction}`; 404, 409 `own_auction` / `auction_closed` / `bid_too_low` (ApiError)."""
        return self.catalog.post(f"/internal/auctions/{auction_id}/bids", json=body)

    def cancel_auction(self, auction_id: int, seller_id: int) -> dict[str, Any]:
        """The auction, cancelled; 404, 403 `not_seller`, 409 `has_bids` / `auction_closed` (ApiError)."""
        return self.catalog.post(f"/internal/auctions/{auction_id}/cancel", json={"seller_id": seller_id})

    # --- stores ----------------------------------------------------------------------------------

    def create_unit(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.stores.post("/internal/units", json=body)

    def list_units(self) -> dict[str, Any]:
        return self.stores.get("/internal/units")

    def stock_in(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.stores.post("/internal/stock", json=body)

    def create_purchase_order(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.stores.post("/internal/purchase-orders", json=body)

    def purchase_orders(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.stores.get("/internal/purchase-orders", params=params)

    def purchase_order(self, order_id: int) -> dict[str, Any] | None:
        return self.stores.get_or_none(f"/internal/purchase-orders/{order_id}")

    def move_purchase_order(self, order_id: int, action: str) -> dict[str, Any]:
        """`action`: confirm, receive, settle or cancel; 404 / 409 as ApiError."""
        return self.stores.post(f"/internal/purchase-orders/{order_id}/{action}")

    def purchase_notices(self, unit: str | None) -> dict[str, Any]:
        return self.stores.get("/internal/purchase-notices", params={"unit": unit} if unit else None)

    def availability(self, skus: list[str]) -> list[dict[str, Any]]:
        if not skus:
            return []
        return self.stores.get("/internal/availability", params=[("sku", s) for s in skus])["items"]

    def tasks(self, unit: str, status: str) -> dict[str, Any]:
        return self.stores.get("/internal/tasks", params={"unit": unit, "status": status})

    def task_done(self, task_id: int, unit: str, slip_no: str | None) -> dict[str, Any]:
        body = {"unit": unit} | ({"slip_no": slip_no} if slip_no else {})
        return self.stores.post(f"/internal/tasks/{task_id}/done", json=body)

    # --- orders ----------------------------------------------------------------------------------

    def get_order(self, number: str) -> dict[str, Any] | None:
        return self.orders.get_or_none(f"/internal/orders/{number}")

    def list_orders(self, member_id: int) -> list[dict[str, Any]]:
        return self.orders.get("/internal/orders", params={"member_id": member_id})["items"]

    def known_orders(self, numbers: list[str]) -> list[str]:
        """The numbers among `numbers` (at most 500) that orders has taken in, in one call."""
        return self.orders.post("/internal/orders/known", json={"numbers": numbers})["known"]

    def cancel_order(self, number: str, reason: str) -> dict[str, Any]:
        return self.orders.post(f"/internal/orders/{number}/cancel", json={"reason": reason})

    def change_contact(self, number: str, contact: dict[str, Any], by: str) -> dict[str, Any]:
        return self.orders.post(f"/internal/orders/{number}/contact", json=contact | {"by": by})

    def confirm_receipt(self, number: str) -> dict[str, Any]:
        return self.orders.post(f"/internal/orders/{number}/receipt", json={})

    def open_after_sale(self, number: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.orders.post(f"/internal/orders/{number}/after-sales", json=body)

    def order_after_sales(self, number: str) -> dict[str, Any]:
        return self.orders.get(f"/internal/orders/{number}/after-sales")

    def after_sales(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.orders.get("/internal/after-sales", params=params)

    def after_sale(self, case_id: int) -> dict[str, Any] | None:
        return self.orders.get_or_none(f"/internal/after-sales/{case_id}")

    def move_after_sale(self, case_id: int, action: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.orders.post(f"/internal/after-sales/{case_id}/{action}", json=body)

    def check_order(self, number: str) -> dict[str, Any]:
        return self.orders.post(f"/internal/orders/{number}/check", json={})

    # --- billing ---------------------------------------------------------------------------------

    def wallet(self, member_id: int) -> dict[str, Any]:
        return self.billing.get(f"/internal/wallets/{member_id}")

    def adjust_wallet(self, member_id: int, delta: str, reason: str, key: str | None) -> dict[str, Any]:
        body = {"delta": delta, "reason": reason} | ({"idempotency_key": key} if key else {})
        return self.billing.post(f"/internal/wallets/{member_id}/adjust", json=body)

    def spending(self, member_id: int) -> dict[str, Any]:
        return self.billing.get(f"/internal/members/{member_id}/spending")

    def payment(self, number: str) -> dict[str, Any] | None:
        return self.billing.get_or_none(f"/internal/payments/{number}")

    def payment_notified(self, notice: dict[str, Any]) -> dict[str, Any]:
        """A verified provider notification; 404 (ApiError) for an unknown trade, 400 when it does not match."""
        return self.billing.post("/internal/payments/notify", json=notice)

    # --- finance (billing) ----------------------------------------------------------------------

    def order_copies(self, number: str) -> dict[str, Any]:
        """`{copies: [...]}`; 404 (ApiError) for an order billing does not know."""
        return self.billing.get(f"/internal/orders/{number}/copies")

    def run_statements(self, month: str) -> dict[str, Any]:
        return self.billing.post("/internal/statements/run", json={"month": month})

    def statements(self, month: str) -> dict[str, Any]:
        return self.billing.get("/internal/statements", params={"month": month})

    def sales_report(self, month: str) -> dict[str, Any]:
        return self.billing.get("/internal/reports/sales", params={"month": month})

    # --- logistics -------------------------------------------------------------------------------

    def claims(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.logistics.get("/internal/claims", params=params)

    def settle_claim(self, claim_id: int, paid_cents: int, by: str) -> dict[str, Any]:
        return self.logistics.post(f"/internal/claims/{claim_id}/settle", json={"paid_cents": paid_cents, "by": by})

    def reject_claim(self, claim_id: int, note: str, by: str) -> dict[str, Any]:
        return self.logistics.post(f"/internal/claims/{claim_id}/reject", json={"note": note, "by": by})

    def close_batch(self, closed_by: str) -> dict[str, Any]:
        return self.logistics.post("/internal/batches/close", json={"closed_by": closed_by})

    def deliveries(self, status: str | None = None) -> dict[str, Any]:
        return self.logistics.get("/internal/deliveries", params={"status": status} if status else None)

    def picked_up(self, delivery_id: int, signature: str, courier: str) -> dict[str, Any]:
        return self.logistics.post(
            f"/internal/deliveries/{delivery_id}/picked-up", json={"signature": signature, "courier": courier}
        )

    def delivered(self, delivery_id: int, signed_by: str, courier: str) -> dict[str, Any]:
        return self.logistics.post(
            f"/internal/deliveries/{delivery_id}/delivered", json={"signed_by": signed_by, "courier": courier}
        )

    def track(self, body: dict[str, Any]) -> dict[str, Any]:
        """Partner tracking events for one waybill; 404 (ApiError) when logistics does not know it."""
        return self.logistics.post("/internal/tracking", json=body)

    # --- health ----------------------------------------------------------------------------------

    def health(self) -> dict[str, tuple[bool, Any]]:
        """Each inner service's own /health, asked at once: {name: (up, what it said)}."""
        quick = {name: _Client(name, self.settings, timeout=3.0) for name in INNER}

        def ask(name: str) -> tuple[bool, Any]:
            try:
                status, body = quick[name].request("GET", "/health")
            except (ServiceUnavailable, ApiError) as exc:
                return False, str(exc)
            return status == 200, body

        with ThreadPoolExecutor(max_workers=len(INNER)) as pool:
            answers = dict(zip(INNER, pool.map(ask, INNER), strict=True))
        return answers


class ProductCache:
    """The catalogue's products by SKU for placing orders, each kept `seconds` after the catalogue gave it.

    Every order needs the name, price, division and unit of its SKUs, and whether it is on sale; asking
    the catalogue over HTTP each time cost a good share of the gateway's CPU per order (and the
    catalogue's). A product may therefore be up to `seconds` old when an order is priced.

    Administrators change prices and withdraw products (gateway/catalogue_api.py). The gateway process
    that handled the change `forget`s the product at once; every other gateway process keeps what it
    had for at most `seconds` more. So for up to 5 s after a price change an order placed through
    another process may be priced at the old price (the price its customer was shown a moment before;
    the order keeps whichever price it was placed at), and an order for a product just withdrawn may
    still be accepted. docs/architecture.md ("Catalogue administration") says why that is accepted;
    PRODUCT_CACHE_SECONDS = 0 keeps nothing.

    Only products the catalogue found are kept: a SKU it did not know is asked again on the next
    order, so a product created a moment ago is never hidden by a remembered miss.

    Safe across the web server's threads: the lock guards the dictionary only, never the HTTP call,
    so two threads missing the same SKU at once both ask the catalogue (and either answer is right).
    Entries past their time are dropped at most once per `seconds`, so the cache holds about the
    SKUs ordered in the last few seconds. A lookup that was asking the catalogue while a product was
    forgotten keeps nothing of what it fetched (it may predate the change), so `forget` is never undone
    by an answer already on its way.
    """

    def __init__(self, inner: Any, seconds: float = PRODUCT_CACHE_SECONDS, clock: Callable[[], float] = time.monotonic):
        self.inner = inner
        self.seconds = seconds
        self.clock = clock
        self._lock = threading.Lock()
        self._kept: dict[str, tuple[float, dict[str, Any]]] = {}  # sku -> (expires at, product)
        self._next_sweep = 0.0
        #: Bumped by every `forget`: a lookup that started under another generation keeps nothing.
        self._generation = 0

    def lookup(self, skus: list[str]) -> dict[str, dict[str, Any]]:
        """{sku: product} for the SKUs the catalogue knows; unknown SKUs are simply absent.

        The products are shared with other requests: read them, never change them.
        """
        now = self.clock()
        with self._lock:
            found = {sku: entry[1] for sku in skus if (entry := self._kept.get(sku)) and entry[0] > now}
            generation = self._generation
        missing = [sku for sku in skus if sku not in found]
        if not missing:
            return found
        fetched = {p["sku"]: p for p in self.inner.lookup_products(missing).get("items", [])}
        if self.seconds > 0 and fetched:
            self._keep(fetched, generation, asked_at=now)
        return found | fetched

    def forget(self, skus: list[str]) -> None:
        """Drop these products now: the catalogue changed them (a price, a withdrawal) through this process."""
        with self._lock:
            for sku in skus:
                self._kept.pop(sku, None)
            self._generation += 1

    def _keep(self, products: dict[str, dict[str, Any]], generation: int, asked_at: float) -> None:
        now = self.clock()
        # From when the catalogue was asked, not when it answered: a slow answer is kept no longer for it.
        expires = asked_at + self.seconds
        with self._lock:
            if generation != self._generation:  # something was forgotten while we asked: this may be older
                return
            if now >= self._next_sweep:
                self._kept = {sku: entry for sku, entry in self._kept.items() if entry[0] > now}
                self._next_sweep = now + self.seconds
            self._kept.update((sku, (expires, product)) for sku, product in products.items())
