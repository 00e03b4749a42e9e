"""Addresses and order lines the saga's tests share."""

NANNING = {
    "name": "Li Ming",
    "phone": "13800000000",
    "city": "Nanning",
    "line": "1 Minzu Ave",
    "lat": 22.817,
    "lon": 108.366,
}
GUILIN = NANNING | {"city": "Guilin", "lat": 25.27, "lon": 110.29}
LIPSTICK = {
    "sku": "LIPSTICK-RED-01",
    "name": "Red lipstick",
    "quantity": 2,
    "unit_price_cents": 1250,
    "division": "department_store",
    "unit": "DS-COSMETICS",
}
TV = {
    "sku": "TV-55-SKYWORTH",
    "name": "55 inch TV",
    "quantity": 1,
    "unit_price_cents": 329900,
    "division": "electronics",
    "unit": "EL-WAREHOUSE",
}
RICE = {
    "sku": "RICE-5KG",
    "name": "Rice 5 kg",
    "quantity": 1,
    "unit_price_cents": 4590,
    "division": "supermarket",
    "unit": None,
}
