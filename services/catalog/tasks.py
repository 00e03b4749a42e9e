"""Catalog's message consumers: envelope in, use case, done."""

from . import services
from .config import runtime


@runtime.handles("order.completed")
def handle_order_completed(uow, payload):
    services.count_sales(uow, payload)
