"""Calendar months in the mall's time zone ("2026-10"): what statements, reports and costs are counted by."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from marshmallow import fields, validate

#: A month as the API writes it: "2026-10" (years 1970 to 2999; beyond that is a typo).
MONTH_PATTERN = r"^(19[7-9][0-9]|2[0-9]{3})-(0[1-9]|1[0-2])$"


def month_field(**kwargs) -> fields.String:
    """Marshmallow field for a month "YYYY-MM"; anything else is a 422 naming the field."""
    kwargs.setdefault("metadata", {}).setdefault("example", "2026-10")
    return fields.String(validate=validate.Regexp(MONTH_PATTERN, error='A month such as "2026-10".'), **kwargs)


def month_bounds(month: str, timezone: str) -> tuple[datetime, datetime]:
    """The month's first instant and the next month's first instant, in the mall's time zone, as aware UTC.

    "2026-10" in Asia/Shanghai is 2026-09-30T16:00Z up to (not including) 2026-10-31T16:00Z: an order
    paid at 2026-10-31T17:00Z (01:00 on 1 November in the mall) belongs to November.
    """
    year, number = (int(part) for part in month.split("-"))
    zone = ZoneInfo(timezone)
    start = datetime(year, number, 1, tzinfo=zone)
    end = datetime(year + number // 12, number % 12 + 1, 1, tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def previous_month(at: datetime, timezone: str) -> str:
    """The month before the one `at` falls in, in the mall's time zone: what the 15th settles."""
    local = at.astimezone(ZoneInfo(timezone))
    year, number = (local.year, local.month - 1) if local.month > 1 else (local.year - 1, 12)
    return f"{year:04d}-{number:02d}"
