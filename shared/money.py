"""Money as exact integer cents inside the mall and as two-place decimal strings ("12.50") at the edges."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from marshmallow import ValidationError, fields

CENT = Decimal("0.01")
#: What an amount of money looks like at the edge: "12.50", "-3", "1250.5"; no exponents, spaces or other digits.
AMOUNT = re.compile(r"[+-]?[0-9]{1,13}(\.[0-9]{1,2})?")
#: Ten trillion yuan: far beyond any order or balance, and well inside a 64-bit count of cents.
LIMIT_CENTS = 10**15


def to_cents(value: str | Decimal | int) -> int:
    """Parse a decimal amount ("12.5", Decimal("12.50")) into integer cents; refuse floats and sub-cents."""
    if isinstance(value, bool) or isinstance(value, float):
        raise ValueError("money must be a decimal string, never a float")
    if isinstance(value, str) and not AMOUNT.fullmatch(value):
        raise ValueError(f'not an amount of money such as "12.50": {value!r}')
    try:
        amount = Decimal(str(value))
        if not amount.is_finite() or amount != amount.quantize(CENT):
            raise ValueError(f"money has at most two decimal places: {value!r}")
        cents = int(amount.quantize(CENT) * 100)
    except InvalidOperation as exc:  # "1e999999" and the like cannot be put in cents
        raise ValueError(f"not an amount of money: {value!r}") from exc
    if abs(cents) >= LIMIT_CENTS:
        raise ValueError(f"amount out of range: {value!r}")
    return cents


def format_cents(cents: int) -> str:
    """Integer cents as the API's decimal string: 1250 -> "12.50", -5 -> "-0.05"."""
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(int(cents)), 100)
    return f"{sign}{whole}.{part:02d}"


def rate_of(cents: int, rate: str | Decimal) -> int:
    """A fraction of an amount, rounded half up to the cent (premiums, commissions)."""
    return int((Decimal(cents) * Decimal(str(rate))).quantize(Decimal(1), rounding=ROUND_HALF_UP))


class Money(fields.Field):
    """Marshmallow field: loads "12.50" into 1250 cents, dumps cents as "12.50"."""

    default_error_messages = {"invalid": 'Must be an amount of money such as "12.50".'}

    def __init__(self, *, positive: bool = False, **kwargs):
        self.positive = positive
        kwargs.setdefault("metadata", {}).setdefault("pattern", r"^-?[0-9]{1,13}(\.[0-9]{1,2})?$")
        super().__init__(**kwargs)

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else format_cents(value)

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str | int) or isinstance(value, bool):
            raise self.make_error("invalid")
        try:
            cents = to_cents(value)
        except ValueError as exc:
            raise self.make_error("invalid") from exc
        if self.positive and cents <= 0:
            raise ValidationError("Must be greater than zero.")
        return cents
