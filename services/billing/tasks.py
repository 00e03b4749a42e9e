"""Billing's message consumers and periodic jobs: envelope in, use case, done."""

from shared.calendar import previous_month
from shared.messaging import now

from . import services
from .config import logistics_costs, runtime


@runtime.handles("billing.take_payment")
def take_payment(uow, payload):
    services.take_payment(uow, payload)


@runtime.handles("billing.refund_payment")
def refund_payment(uow, payload):
    services.refund_payment(uow, payload)


@runtime.handles("order.completed")
def handle_order_completed(uow, payload):
    services.complete_sale(uow, payload)


@runtime.periodic("billing.run_statements")
def run_last_months_statements():
    """Beat sends this on the 15th of each month (mall time zone): the month before is settled (结算)."""
    month = previous_month(now(), runtime.settings.timezone)
    statements = services.run_statements(runtime.db, month, logistics_costs, timezone=runtime.settings.timezone)
    return {"month": month, "units": len(statements)}
