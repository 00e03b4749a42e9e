"""Catalog's message consumers and periodic job: envelope in, use case, done."""

from . import auctions, services
from .config import runtime


@runtime.handles("order.completed")
def handle_order_completed(uow, payload):
    services.count_sales(uow, payload)


@runtime.handles("auction.paid")
def handle_auction_paid(uow, payload):
    auctions.paid(uow, payload)


@runtime.handles("auction.payment_failed")
def handle_auction_payment_failed(uow, payload):
    auctions.payment_failed(uow, payload)


@runtime.periodic("catalog.close_auctions")
def close_auctions():
    """Beat sends this every few seconds: auctions whose end has come are sold or failed, and billing is
    asked again about sold ones it has not answered (two rounds at once each take other auctions)."""
    with runtime.unit_of_work("close-auctions") as uow:
        return auctions.close_due(uow, runtime.settings)
