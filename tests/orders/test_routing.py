import pytest

from services.orders.routing import NoUnitSells, distance_km, route

HOME = {"lat": 22.817, "lon": 108.366}


def branch(unit, sku, available, lat, lon):
    return {"unit": unit, "sku": sku, "kind": "branch", "available": available, "lat": lat, "lon": lon}


def rice(quantity=1):
    return {"sku": "RICE-5KG", "quantity": quantity, "division": "supermarket", "unit": None}


def test_distance_is_straight_line_kilometres():
    assert 110 < distance_km(22.0, 108.0, 23.0, 108.0) < 112


def test_a_counter_product_goes_to_the_counter_that_owns_it():
    lipstick = {"sku": "LIPSTICK-RED-01", "quantity": 1, "division": "department_store", "unit": "DS-COSMETICS"}
    [r] = route([lipstick], [], HOME, local=True)
    assert r.unit == "DS-COSMETICS" and r.candidates == []


def test_a_local_supermarket_order_goes_to_the_nearest_branch_with_stock():
    stock = [
        branch("SM-FAR", "RICE-5KG", 9, 23.5, 109.0),
        branch("SM-NEAR", "RICE-5KG", 9, 22.82, 108.37),
        branch("SM-NEAREST-EMPTY", "RICE-5KG", 0, 22.817, 108.366),
    ]
    [r] = route([rice()], stock, HOME, local=True)
    assert r.unit == "SM-NEAR"
    assert r.candidates == ["SM-FAR"]


def test_an_out_of_town_supermarket_order_goes_to_the_branch_with_most_stock():
    stock = [branch("SM-GUOMAO", "RICE-5KG", 3, 22.82, 108.37), branch("SM-BAISHENG", "RICE-5KG", 40, 22.9, 108.4)]
    [r] = route([rice()], stock, HOME, local=False)
    assert r.unit == "SM-BAISHENG" and r.candidates == ["SM-GUOMAO"]


def test_a_line_nobody_has_goes_to_the_nearest_branch_stocking_it_for_a_purchase_notice():
    stock = [branch("SM-FAR", "RICE-5KG", 0, 23.5, 109.0), branch("SM-NEAR", "RICE-5KG", 0, 22.82, 108.37)]
    [r] = route([rice(2)], stock, HOME, local=True)
    assert r.unit == "SM-NEAR" and r.candidates == []


def test_a_product_no_branch_stocks_cannot_be_routed():
    with pytest.raises(NoUnitSells):
        route([rice()], [], HOME, local=True)
