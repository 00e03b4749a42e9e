"""Orders' message consumers and periodic jobs: envelope in, saga step, done."""

from __future__ import annotations

from typing import Any

from shared.http import ServiceClient

from . import after_sales, services
from .config import runtime


def stock_snapshot(skus: list[str]) -> list[dict[str, Any]]:
    """Which units hold these SKUs right now (stores' read API); routing picks from it."""
    client = ServiceClient("stores", runtime.settings)
    return client.get("/internal/availability", params={"sku": skus})["items"]


@runtime.handles("orders.place_order")
def place_order(uow, payload):
    services.place_order(uow, payload, runtime.settings, stock_snapshot)


@runtime.handles("stock.reserved")
def handle_stock_reserved(uow, payload):
    services.stock_reserved(uow, payload, runtime.settings)


@runtime.handles("stock.short")
def handle_stock_short(uow, payload):
    services.stock_short(uow, payload, runtime.settings)


@runtime.handles("stock.released")
def handle_stock_released(uow, payload):
    services.stock_released(uow, payload)


@runtime.handles("stock.replenished")
def handle_stock_replenished(uow, payload):
    services.stock_replenished(uow, payload, runtime.settings)


@runtime.handles("payment.captured")
def handle_payment_captured(uow, payload):
    services.payment_captured(uow, payload, runtime.settings)


@runtime.handles("payment.pending")
def handle_payment_pending(uow, payload):
    services.payment_pending(uow, payload, runtime.settings)


@runtime.handles("payment.failed")
def handle_payment_failed(uow, payload):
    services.payment_failed(uow, payload, runtime.settings)


@runtime.handles("payment.refunded")
def handle_payment_refunded(uow, payload):
    services.payment_refunded(uow, payload)


@runtime.handles("parcel.packed")
def handle_parcel_packed(uow, payload):
    services.parcel_packed(uow, payload, runtime.settings)


@runtime.handles("shipment.booked")
def handle_shipment_booked(uow, payload):
    services.shipment_booked(uow, payload, runtime.settings)


@runtime.handles("shipment.shipped")
def handle_shipment_shipped(uow, payload):
    services.shipment_shipped(uow, payload)


@runtime.handles("shipment.delivered")
def handle_shipment_delivered(uow, payload):
    services.shipment_delivered(uow, payload)


@runtime.handles("shipment.failed")
def handle_shipment_failed(uow, payload):
    services.shipment_noted(uow, payload, "delivery problem")


@runtime.handles("shipment.tracked")
def handle_shipment_tracked(uow, payload):
    services.shipment_noted(uow, payload, f"tracking {payload['waybill'] or ''}".strip())


@runtime.handles("shipment.cancelled")
def handle_shipment_cancelled(uow, payload):
    services.shipment_cancelled(uow, payload, runtime.settings)


@runtime.handles("after_sale.refunded")
def handle_after_sale_refunded(uow, payload):
    after_sales.refunded(uow, payload, runtime.settings)


@runtime.handles("loss.claimed")
def handle_loss_claimed(uow, payload):
    after_sales.loss_claimed(uow, payload)


@runtime.handles("stock.returned")
def handle_stock_returned(uow, payload):
    after_sales.stock_returned(uow, payload)


@runtime.periodic("orders.sweep_deadlines")
def sweep_deadlines():
    """Beat sends this every few seconds: overdue commands are sent again, unless orders' own queue is
    long (replies waiting in it are late, not lost; re-sending under a backlog only deepens it)."""
    if runtime.is_behind():
        return 0
    with runtime.unit_of_work("sweep") as uow:
        return services.sweep_deadlines(uow, runtime.settings)
