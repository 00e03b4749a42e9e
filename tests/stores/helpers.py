"""Commands as orders would send them to a unit, and the stock a unit holds."""

from __future__ import annotations

from typing import Any


def check(
    fulfilment_id: int = 1,
    unit: str = "DS-COSMETICS",
    lines: list[tuple[str, int]] | None = None,
    *,
    order: str = "M100001",
    notify_purchasing: bool = False,
) -> dict[str, Any]:
    return {
        "order": order,
        "fulfilment_id": fulfilment_id,
        "unit": unit,
        "lines": [{"sku": sku, "quantity": q} for sku, q in (lines or [("LIPSTICK-RED-01", 1)])],
        "notify_purchasing": notify_purchasing,
    }


def release(fulfilment_id: int = 1, unit: str = "DS-COSMETICS", order: str = "M100001") -> dict[str, Any]:
    return {"order": order, "fulfilment_id": fulfilment_id, "unit": unit, "reason": "customer cancelled"}


def pack(
    fulfilment_id: int = 1,
    unit: str = "DS-COSMETICS",
    lines: list[tuple[str, str, int]] | None = None,
    *,
    order: str = "M100001",
    delivery: str = "local",
) -> dict[str, Any]:
    return {
        "order": order,
        "fulfilment_id": fulfilment_id,
        "unit": unit,
        "delivery": delivery,
        "lines": [
            {"sku": sku, "name": name, "quantity": q}
            for sku, name, q in (lines or [("LIPSTICK-RED-01", "Red lipstick", 1)])
        ],
    }


def stock_of(runtime, unit: str, sku: str) -> tuple[int, int]:
    """(on_hand, reserved) straight from the unit's stock row."""
    from services.stores.models import Stock

    with runtime.db.session() as session:
        row = session.get(Stock, (unit, sku))
        return (row.on_hand, row.reserved) if row else (0, 0)
