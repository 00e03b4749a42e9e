"""Goods returned under an after-sales case go back on the unit's shelf, once per case."""

from shared.testing import deliver, envelope, payloads

from .helpers import stock_of


def restock(case=7, unit="DS-COSMETICS", lines=(("LIPSTICK-RED-01", 2), ("EYELINER-01", 1))):
    return {"order": "M100001", "case": case, "unit": unit, "lines": [{"sku": s, "quantity": q} for s, q in lines]}


def test_returned_goods_go_back_on_the_shelf_once_however_often_they_are_sent(stores, units):
    body = envelope("stores.restock_return", restock(), correlation_id="M100001")
    assert stores.consume("stores.restock_return", body) == "handled"
    assert stores.consume("stores.restock_return", body) == "duplicate"
    assert deliver(stores, "stores.restock_return", restock()) == "handled"  # re-sent by orders' sweep
    assert stock_of(stores, "DS-COSMETICS", "LIPSTICK-RED-01") == (2, 0)
    assert stock_of(stores, "DS-COSMETICS", "EYELINER-01") == (1, 0)
    assert payloads(stores, "stock.returned") == [{"order": "M100001", "case": 7, "unit": "DS-COSMETICS"}] * 2
    # Orders waiting for the SKU at this unit hear of it as of any stock-in.
    assert {p["sku"] for p in payloads(stores, "stock.replenished")} == {"LIPSTICK-RED-01", "EYELINER-01"}


def test_another_case_of_the_same_goods_is_restocked_too(stores, units):
    deliver(stores, "stores.restock_return", restock(case=7, lines=(("LIPSTICK-RED-01", 1),)))
    deliver(stores, "stores.restock_return", restock(case=8, lines=(("LIPSTICK-RED-01", 1),)))
    assert stock_of(stores, "DS-COSMETICS", "LIPSTICK-RED-01") == (2, 0)


def test_a_return_to_a_unit_that_does_not_exist_is_dead_lettered(stores, units):
    assert deliver(stores, "stores.restock_return", restock(unit="NOWHERE")) == "dead_lettered"
    assert payloads(stores, "stock.returned") == []
