"""Demo data, loaded through the gateway's public API exactly as an administrator would (idempotent)."""

from __future__ import annotations

import time
from typing import Any

from shared.config import Settings

from . import http

CITY = "Nanning"

UNITS = [
    # code, name, kind, division, lat, lon, channel, auto_pack
    (
        "DS-COSMETICS",
        "Guomao department store, cosmetics counter",
        "counter",
        "department_store",
        22.8170,
        108.3240,
        "queue",
        False,
    ),
    (
        "DS-MENSWEAR",
        "Guomao department store, menswear counter",
        "counter",
        "department_store",
        22.8172,
        108.3243,
        "queue",
        True,
    ),
    (
        "EL-SMALL",
        "Electronics division, small appliances counter",
        "counter",
        "electronics",
        22.8190,
        108.3300,
        "queue",
        True,
    ),
    (
        "EL-WAREHOUSE",
        "Electronics division, big-appliance warehouse",
        "warehouse",
        "electronics",
        22.7900,
        108.2900,
        "queue",
        True,
    ),
    ("SM-GUOMAO", "Supermarket, Guomao branch", "branch", "supermarket", 22.8165, 108.3235, "queue", True),
    ("SM-BAISHENG", "Supermarket, Baisheng branch", "branch", "supermarket", 22.8200, 108.3500, "queue", True),
    ("SM-MINZU", "Supermarket, Minzu Avenue branch", "branch", "supermarket", 22.8140, 108.3900, "queue", True),
    ("SM-WUXU", "Supermarket, Wuxu township branch (by fax)", "branch", "supermarket", 22.6300, 108.1700, "fax", False),
]

PRODUCTS = [
    # sku, name, price, category, manufacturer, supplier, division, unit
    *[
        (
            f"COS-{i:02d}",
            name,
            price,
            "Cosmetics",
            maker,
            "Guangzhou Beauty Trading",
            "department_store",
            "DS-COSMETICS",
        )
        for i, (name, price, maker) in enumerate(
            [
                ("Red lipstick", "129.00", "Maogeping"),
                ("Moisturising cream 50 ml", "239.00", "Pechoin"),
                ("Sunscreen SPF50", "98.00", "Herborist"),
                ("Rose toner 200 ml", "76.00", "Pechoin"),
                ("Eye shadow palette", "188.00", "Maogeping"),
                ("Hand cream", "35.50", "Herborist"),
                ("Cleansing foam", "59.90", "Pechoin"),
                ("Night serum 30 ml", "320.00", "Herborist"),
            ],
            1,
        )
    ],
    *[
        (f"MEN-{i:02d}", name, price, "Menswear", maker, "Nanning Garment Supply", "department_store", "DS-MENSWEAR")
        for i, (name, price, maker) in enumerate(
            [
                ("Wool suit jacket", "1280.00", "Youngor"),
                ("Cotton shirt, white", "299.00", "Youngor"),
                ("Leather belt", "199.00", "Septwolves"),
                ("Silk tie", "159.00", "Septwolves"),
                ("Down jacket", "899.00", "Bosideng"),
                ("Chino trousers", "359.00", "Septwolves"),
                ("Cashmere scarf", "420.00", "Bosideng"),
                ("Polo shirt", "239.00", "Youngor"),
            ],
            1,
        )
    ],
    *[
        (f"SMA-{i:02d}", name, price, "Small appliances", maker, "Guangxi Electric Supply", "electronics", "EL-SMALL")
        for i, (name, price, maker) in enumerate(
            [
                ("Rice cooker 4 L", "399.00", "Midea"),
                ("Electric kettle 1.7 L", "129.00", "Supor"),
                ("Soymilk maker", "459.00", "Joyoung"),
                ("Hair dryer", "219.00", "Flyco"),
                ("Electric shaver", "329.00", "Flyco"),
                ("Induction cooker", "299.00", "Midea"),
                ("Steam iron", "189.00", "Supor"),
                ("Blender", "269.00", "Joyoung"),
            ],
            1,
        )
    ],
    *[
        (f"BIG-{i:02d}", name, price, "Big appliances", maker, "Guangxi Electric Supply", "electronics", "EL-WAREHOUSE")
        for i, (name, price, maker) in enumerate(
            [
                ("55 inch 4K television", "3299.00", "Skyworth"),
                ("65 inch 4K television", "4999.00", "Hisense"),
                ("Double-door refrigerator", "2899.00", "Haier"),
                ("Front-load washing machine", "2499.00", "Little Swan"),
                ("Split air conditioner 1.5 hp", "2799.00", "Gree"),
                ("Dishwasher", "3599.00", "Midea"),
                ("Water heater 60 L", "1299.00", "Haier"),
                ("Range hood", "1899.00", "Fotile"),
            ],
            1,
        )
    ],
    *[
        (f"SUP-{i:02d}", name, price, category, maker, "Guangxi Foods Distribution", "supermarket", None)
        for i, (name, price, category, maker) in enumerate(
            [
                ("Rice 5 kg", "45.90", "Grain and oil", "Golden Dragon Fish"),
                ("Peanut oil 5 L", "139.00", "Grain and oil", "Luhua"),
                ("Soy sauce 500 ml", "12.80", "Condiments", "Haitian"),
                ("Rice noodles 1 kg", "16.50", "Grain and oil", "Guilin Sanhua"),
                ("Green tea 250 g", "68.00", "Tea", "Guangxi Tea"),
                ("Whole milk 12 x 250 ml", "59.90", "Dairy", "Yili"),
                ("Yoghurt 6 pack", "23.80", "Dairy", "Mengniu"),
                ("Mineral water 24 x 550 ml", "29.90", "Drinks", "Nongfu Spring"),
                ("Orange juice 1 L", "15.90", "Drinks", "Huiyuan"),
                ("Instant noodles 5 pack", "13.50", "Snacks", "Master Kong"),
                ("Sugar 1 kg", "9.90", "Condiments", "Guangxi Sugar"),
                ("Laundry detergent 3 kg", "49.90", "Household", "Blue Moon"),
                ("Toilet paper 10 rolls", "32.90", "Household", "Vinda"),
                ("Toothpaste", "14.90", "Household", "Yunnan Baiyao"),
                ("Dried longan 500 g", "39.00", "Snacks", "Guangxi Orchards"),
                ("Mango 2 kg", "35.00", "Fresh fruit", "Baise Farms"),
                ("Eggs 30", "27.00", "Fresh", "Guangxi Farms"),
                ("Luosifen rice noodle soup", "19.90", "Snacks", "Liuzhou Luosifen"),
            ],
            1,
        )
    ],
]

STAFF = [
    ("staff_cosmetics", "Staff-Pass-2026", "staff", "DS-COSMETICS"),
    ("staff_wuxu", "Staff-Pass-2026", "staff", "SM-WUXU"),
    ("courier_wang", "Courier-Pass-2026", "courier", None),
    ("cs_li", "Service-Pass-2026", "customer_service", None),
    ("finance_zhao", "Finance-Pass-2026", "finance", None),
]
CUSTOMER = ("demo", "Demo-Pass-2026")


def _call(base: str, method: str, path: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
    return http.call(method, base + path, body, token=token)


def _ok(status: int, body: Any, what: str) -> None:
    if status not in (200, 201, 202, 409):
        raise SystemExit(f"seed: {what} failed: {status} {body}")


def seed(url: str | None, admin: str | None, wait: bool = False) -> int:
    """Create the demo world; anything that already exists is left as it is."""
    settings = Settings.from_env()
    base = (url or settings.service_url("gateway")).rstrip("/")
    user, password = (admin or settings.bootstrap_admin or "admin:Mall-Admin-2026").split(":", 1)
    deadline = time.monotonic() + (90 if wait else 5)
    while True:
        status, body = _call(base, "POST", "/api/auth/login", {"username": user, "password": password})
        if status == 200:
            break
        if time.monotonic() > deadline:
            raise SystemExit(f"seed: cannot log in as {user} at {base}: {status} {body}")
        time.sleep(0.5)
    token = body["access_token"]
    total = len(UNITS) + len(PRODUCTS)
    done = 0
    for code, name, kind, division, lat, lon, channel, auto_pack in UNITS:
        status, body = _call(
            base,
            "POST",
            "/api/admin/units",
            {
                "code": code,
                "name": name,
                "kind": kind,
                "division": division,
                "city": CITY,
                "lat": lat,
                "lon": lon,
                "channel": channel,
                "auto_pack": auto_pack,
            },
            token,
        )
        _ok(status, body, f"unit {code}")
        done += 1
    fresh = True
    for i, (sku, name, price, category, maker, supplier, division, unit) in enumerate(PRODUCTS):
        product = {
            "sku": sku,
            "name": name,
            "price": price,
            "category": category,
            "manufacturer": maker,
            "supplier": supplier,
            "division": division,
        }
        if unit:
            product["unit"] = unit
        status, body = _call(base, "POST", "/api/admin/products", product, token)
        _ok(status, body, f"product {sku}")
        if status == 409:
            fresh = False
            continue
        holders = [unit] if unit else [u[0] for u in UNITS if u[3] == "supermarket"]
        for n, holder in enumerate(holders):
            quantity = 20 + (i * 7 + n * 13) % 60
            if holder == "SM-MINZU" and i % 3 == 0:
                continue  # the Minzu branch does not stock everything: routing has to look elsewhere
            status, body = _call(
                base, "POST", "/api/admin/stock", {"unit": holder, "sku": sku, "quantity": quantity}, token
            )
            _ok(status, body, f"stock of {sku} at {holder}")
        done += 1
        if done % 10 == 0:
            print(f"seed: {done}/{total} units and products", flush=True)
    for username, pw, role, unit in STAFF:
        body = {"username": username, "password": pw, "role": role}
        if unit:
            body["unit"] = unit
        status, answer = _call(base, "POST", "/api/admin/staff", body, token)
        _ok(status, answer, f"staff {username}")
    status, body = _call(base, "POST", "/api/auth/register", {"username": CUSTOMER[0], "password": CUSTOMER[1]})
    _ok(status, body, "demo customer")
    if status == 201:
        status, answer = _call(
            base,
            "POST",
            f"/api/admin/members/{body['id']}/balance",
            {"delta": "5000.00", "reason": "demo opening balance"},
            token,
        )
        _ok(status, answer, "demo balance")
    print("seed: demo data " + ("loaded" if fresh else "was already there"), flush=True)
    print(
        "\n".join(
            [
                "",
                "  Log-ins (POST /api/auth/login):",
                f"    administrator     {user} / {password}",
                f"    customer          {CUSTOMER[0]} / {CUSTOMER[1]}  (balance 5000.00, city {CITY})",
                *[
                    f"    {role:17} {name} / {pw}" + (f"  (unit {unit})" if unit else "")
                    for name, pw, role, unit in STAFF
                ],
                "",
            ]
        ),
        flush=True,
    )
    return 0
