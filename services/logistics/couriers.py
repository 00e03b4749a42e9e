"""Courier companies behind one interface: book a pickup (a waybill) and cancel it."""

from __future__ import annotations

import secrets
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy import Row


@dataclass(frozen=True)
class Booking:
    waybill: str
    carrier: str


class CourierAdapter(ABC):
    """A third-party logistics company (F in the procedure): it collects parcels against a waybill."""

    @abstractmethod
    def book(self, shipment: Row) -> Booking:
        """Request a pickup for this parcel (its row of the shipments table) and return the waybill issued."""

    @abstractmethod
    def cancel(self, waybill: str) -> None:
        """Withdraw a pickup that has not happened yet."""


class SandboxCourier(CourierAdapter):
    """A stand-in courier for development and tests: waybills "SB" + 12 digits, nothing leaves the machine."""

    carrier = "sandbox"

    def __init__(self) -> None:
        self.cancelled: list[str] = []

    def book(self, shipment: Row) -> Booking:
        # Random, not sequential: several workers book at once without sharing a counter; the
        # shipments table's unique waybill turns the rare clash into a retry.
        return Booking(waybill=f"SB{secrets.randbelow(10**12):012d}", carrier=self.carrier)

    def cancel(self, waybill: str) -> None:
        self.cancelled.append(waybill)


def default_courier() -> CourierAdapter:
    """The courier the mall books with (only the sandbox until a real partner's adapter is written)."""
    return SandboxCourier()
