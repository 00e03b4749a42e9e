"""Which unit serves which line: DOMAIN.md's routing rules, as pure functions over a stock snapshot."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

SUPERMARKET = "supermarket"


@dataclass
class Route:
    """The unit chosen for some lines, and the units to try next if it turns out to be short."""

    unit: str
    lines: list[dict[str, Any]] = field(default_factory=list)
    candidates: list[str] = field(default_factory=list)


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Straight-line (great-circle) distance between two points."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 6371.0 * 2 * math.asin(math.sqrt(a))


class NoUnitSells(Exception):
    """No unit stocks this SKU at all: nobody can be asked for it."""


def _branch_order(branches: list[dict[str, Any]], address: dict[str, Any], local: bool) -> list[dict[str, Any]]:
    """Local customers: nearest branch first. Out of town: the branch with most stock first."""

    def dist(b):
        return distance_km(address["lat"], address["lon"], b["lat"], b["lon"])

    if local:
        return sorted(branches, key=lambda b: (dist(b), b["unit"]))
    return sorted(branches, key=lambda b: (-b["available"], dist(b), b["unit"]))


def route(
    lines: list[dict[str, Any]], availability: list[dict[str, Any]], address: dict[str, Any], local: bool
) -> list[Route]:
    """Group an order's lines by the unit that will serve them.

    Counter, warehouse and small-appliance products go to the unit that owns them. Supermarket
    products go to a branch: for a local address the nearest branch that has every supermarket line
    in stock, else line by line the nearest that has it; out of town the branch that has the most.
    A branch that has none still gets the line (it raises the external purchase notice).
    """
    routes: dict[str, Route] = {}
    market = [line for line in lines if line["division"] == SUPERMARKET]
    for line in lines:
        if line["division"] != SUPERMARKET:
            routes.setdefault(line["unit"], Route(line["unit"])).lines.append(line)
    if not market:
        return list(routes.values())

    stock: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)  # sku -> unit -> row
    for row in availability:
        if row.get("kind") == "branch":
            stock[row["sku"]][row["unit"]] = row

    # One branch for all supermarket lines if one has everything: one parcel, one slip.
    whole = [stock[market[0]["sku"]][unit] for unit in _branches_having(stock, market)]
    if whole:
        best = _branch_order(whole, address, local)[0]["unit"]
        routes.setdefault(best, Route(best)).lines.extend(market)
    else:
        for line in market:
            rows = list(stock[line["sku"]].values())
            if not rows:
                raise NoUnitSells(line["sku"])
            having = [b for b in rows if b["available"] >= line["quantity"]]
            best = (_branch_order(having, address, local) or _branch_order(rows, address, local))[0]["unit"]
            routes.setdefault(best, Route(best)).lines.append(line)

    # If the chosen branch turns out short (someone was faster), these can take the whole parcel.
    for r in routes.values():
        if r.lines and r.lines[0]["division"] == SUPERMARKET:
            others = [stock[r.lines[0]["sku"]][u] for u in _branches_having(stock, r.lines) if u != r.unit]
            r.candidates = [b["unit"] for b in _branch_order(others, address, local)]
    return list(routes.values())


def _branches_having(stock: dict[str, dict[str, dict[str, Any]]], lines: list[dict[str, Any]]) -> set[str]:
    """Branches that have every one of these lines in stock right now."""
    units = set.intersection(*(set(stock[line["sku"]]) for line in lines))
    return {u for u in units if all(stock[line["sku"]][u]["available"] >= line["quantity"] for line in lines)}
