"""Billing's message consumers: envelope in, use case, done."""

from . import services
from .config import runtime


@runtime.handles("billing.take_payment")
def take_payment(uow, payload):
    services.take_payment(uow, payload)


@runtime.handles("billing.refund_payment")
def refund_payment(uow, payload):
    services.refund_payment(uow, payload)


@runtime.handles("order.completed")
def handle_order_completed(uow, payload):
    services.complete_sale(uow, payload)
