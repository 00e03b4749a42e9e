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


@runtime.handles("billing.refund_after_sale")
def refund_after_sale(uow, payload):
    services.refund_after_sale(uow, payload)


@runtime.handles("billing.expire_payment")
def expire_payment(uow, payload):
    services.expire_payment(uow, payload)


@runtime.handles("auction.sold")
def handle_auction_sold(uow, payload):
    services.settle_auction(uow, payload)


@runtime.handles("order.completed")
def handle_order_completed(uow, payload):
    services.complete_sale(uow, payload)


@runtime.periodic("billing.run_statements")
def run_last_months_statements():
    """Beat sends this every hour; from the 15th of each month (mall time zone) the month before is settled
    (结算) once: built by the first run that succeeds on or after the 15th. A run that failed (logistics
    down), or a beat message the broker lost, is made good by the next hour's; a month finance ran by hand
    before the 15th is built again then, with what was recorded since."""
    timezone = runtime.settings.timezone
    month = previous_month(now(), timezone)
    with runtime.db.session() as session, session.begin():
        due = services.settlement_due(session, month, now(), timezone)
    if not due:
        return {"month": month, "units": None}
    statements = services.run_statements(runtime.db, month, logistics_costs, timezone=timezone)
    return {"month": month, "units": len(statements)}
