"""The order path keeps the products the catalogue found for a few seconds, and only those."""

import threading

import pytest
from gateway_helpers import bearer, order_body

from gateway.clients import PRODUCT_CACHE_SECONDS, ProductCache
from shared.testing import payloads

TEA = "TEA-LONGJING-250G"
RICE = "RICE-JASMINE-5KG"


class Clock:
    """Monotonic seconds that move only when a test says so."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock(app):
    clock = Clock()
    app.extensions["products"].clock = clock
    return clock


def place(client, token, *items):
    return client.post("/api/orders", json=order_body(*items), headers=bearer(token))


def lookups(inner):
    return inner.calls.count("catalog.lookup_products")


def test_a_product_found_is_served_from_the_cache_within_its_time(client, customer, catalogue, inner, gateway, clock):
    _, token = customer
    assert place(client, token, (TEA, 1)).status_code == 202
    clock.now += PRODUCT_CACHE_SECONDS - 0.5
    assert place(client, token, (TEA, 2)).status_code == 202
    assert lookups(inner) == 1
    prices = [
        line["unit_price_cents"] for payload in payloads(gateway, "orders.place_order") for line in payload["lines"]
    ]
    assert prices == [1250, 1250]


def test_after_its_time_a_product_is_asked_for_again(client, customer, catalogue, inner, clock):
    _, token = customer
    place(client, token, (TEA, 1))
    clock.now += PRODUCT_CACHE_SECONDS
    assert place(client, token, (TEA, 1)).status_code == 202
    assert lookups(inner) == 2


def test_only_the_skus_not_kept_are_asked_for(client, customer, catalogue, inner, clock, monkeypatch):
    _, token = customer
    place(client, token, (TEA, 1))
    asked = []
    lookup = inner.lookup_products
    monkeypatch.setattr(inner, "lookup_products", lambda skus: asked.append(skus) or lookup(skus))
    assert place(client, token, (TEA, 1), (RICE, 1)).status_code == 202
    assert asked == [[RICE]]


def test_an_unknown_sku_is_not_remembered(client, customer, catalogue, inner, clock):
    _, token = customer
    assert place(client, token, ("TEA-PUER-CAKE", 1)).status_code == 422
    inner.create_product(catalogue["tea"] | {"sku": "TEA-PUER-CAKE", "name": "Pu'er cake 357 g"})
    assert place(client, token, ("TEA-PUER-CAKE", 1)).status_code == 202
    assert lookups(inner) == 2


def test_the_callers_connection_is_given_back_before_the_catalogue_is_asked(
    client, customer, catalogue, inner, gateway, monkeypatch
):
    _, token = customer
    held = []
    lookup = inner.lookup_products
    monkeypatch.setattr(
        inner, "lookup_products", lambda skus: held.append(gateway.db.engine.pool.checkedout()) or lookup(skus)
    )
    response = client.post("/api/orders", json=order_body((TEA, 1)), headers=bearer(token) | {"Idempotency-Key": "k-1"})
    assert response.status_code == 202
    assert held == [0]


class Catalogue:
    def __init__(self, *products):
        self.products = {p["sku"]: p for p in products}
        self.asked = []

    def lookup_products(self, skus):
        self.asked.append(list(skus))
        return {"items": [self.products[s] for s in skus if s in self.products]}


TEA_PRODUCT = {"sku": TEA, "name": "Longjing", "price": "12.50", "division": "department_store", "unit": "DS-TEA"}


def test_a_time_of_zero_keeps_nothing():
    catalogue = Catalogue(TEA_PRODUCT)
    cache = ProductCache(catalogue, seconds=0)
    assert cache.lookup([TEA]) == cache.lookup([TEA]) == {TEA: TEA_PRODUCT}
    assert catalogue.asked == [[TEA], [TEA]]


def test_products_past_their_time_are_dropped():
    clock = Clock()
    catalogue = Catalogue(TEA_PRODUCT, TEA_PRODUCT | {"sku": RICE})
    cache = ProductCache(catalogue, seconds=5, clock=clock)
    cache.lookup([TEA])
    clock.now += 6
    cache.lookup([RICE])
    assert set(cache._kept) == {RICE}


def test_threads_share_the_cache_safely():
    catalogue = Catalogue(*({"sku": f"SKU-{i}", "price": "1.00"} for i in range(50)))
    cache = ProductCache(catalogue, seconds=60)
    skus = [f"SKU-{i}" for i in range(50)] + ["NOT-SOLD"]
    answers = []

    def shop():
        for _ in range(20):
            answers.append(cache.lookup(skus))

    threads = [threading.Thread(target=shop) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(answers) == 160 and all(set(a) == set(skus[:-1]) for a in answers)
    full = [asked for asked in catalogue.asked if asked == skus]
    assert len(catalogue.asked) == 160 and len(full) <= 8  # at most each thread's first look misses the products
    assert all(asked == ["NOT-SOLD"] for asked in catalogue.asked if asked != skus)  # then only the unknown is asked
