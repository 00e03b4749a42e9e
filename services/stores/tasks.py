"""Stores' message consumers, on each unit's own queue: envelope in, use case, done."""

from typing import Any

from shared.messaging import UnitOfWork

from . import services
from .config import runtime


@runtime.handles("stores.check_stock")
def check_stock(uow: UnitOfWork, payload: dict[str, Any]) -> None:
    services.check_stock(uow, payload)


@runtime.handles("stores.release_stock")
def release_stock(uow: UnitOfWork, payload: dict[str, Any]) -> None:
    services.release_stock(uow, payload)


@runtime.handles("stores.pack_parcel")
def pack_parcel(uow: UnitOfWork, payload: dict[str, Any]) -> None:
    services.pack_parcel(uow, payload)


@runtime.handles("stores.restock_return")
def restock_return(uow: UnitOfWork, payload: dict[str, Any]) -> None:
    services.restock_return(uow, payload)
