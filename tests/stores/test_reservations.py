from shared.testing import deliver, envelope, payloads, sent

from .helpers import check, release, stock_of


def test_a_unit_with_the_stock_reserves_every_line_and_replies(stores, units, stock_in):
    stock_in("DS-COSMETICS", "LIPSTICK-RED-01", 3)
    stock_in("DS-COSMETICS", "PERFUME-ROSE-50ML", 1)
    command = check(lines=[("LIPSTICK-RED-01", 2), ("PERFUME-ROSE-50ML", 1)])
    assert deliver(stores, "stores.check_stock", command) == "handled"
    assert payloads(stores, "stock.reserved") == [{"order": "M100001", "fulfilment_id": 1, "unit": "DS-COSMETICS"}]
    assert stock_of(stores, "DS-COSMETICS", "LIPSTICK-RED-01") == (3, 2)
    assert stock_of(stores, "DS-COSMETICS", "PERFUME-ROSE-50ML") == (1, 1)
    [reply] = sent(stores, "stock.reserved")
    assert reply["_queue"] == "orders" and reply["correlation_id"] == "M100001"


def test_a_short_line_reserves_nothing_and_says_what_is_available(stores, units, stock_in):
    stock_in("DS-COSMETICS", "LIPSTICK-RED-01", 3)
    stock_in("DS-COSMETICS", "PERFUME-ROSE-50ML", 1)
    command = check(lines=[("LIPSTICK-RED-01", 2), ("PERFUME-ROSE-50ML", 2), ("EYELINER-BLACK", 1)])
    assert deliver(stores, "stores.check_stock", command) == "handled"
    [short] = payloads(stores, "stock.short")
    assert short["short"] == [
        {"sku": "EYELINER-BLACK", "requested": 1, "available": 0},
        {"sku": "PERFUME-ROSE-50ML", "requested": 2, "available": 1},
    ]
    assert short["purchase_notice"] is None
    # All or none: the lipstick line that fitted was rolled back with the rest.
    assert stock_of(stores, "DS-COSMETICS", "LIPSTICK-RED-01") == (3, 0)
    assert payloads(stores, "stock.reserved") == []


def test_a_shortage_raises_a_purchase_notice_only_when_orders_asks_for_one(stores, units, stock_in, client):
    stock_in("SM-GUOMAO", "RICE-5KG", 1)
    deliver(stores, "stores.check_stock", check(1, "SM-GUOMAO", [("RICE-5KG", 3)]))
    assert client.get("/internal/purchase-notices").json["items"] == []

    deliver(stores, "stores.check_stock", check(2, "SM-GUOMAO", [("RICE-5KG", 3)], notify_purchasing=True))
    [notice] = client.get("/internal/purchase-notices?unit=SM-GUOMAO").json["items"]
    assert (notice["sku"], notice["quantity"], notice["order"], notice["status"]) == ("RICE-5KG", 2, "M100001", "open")
    assert payloads(stores, "stock.short")[-1]["purchase_notice"] == str(notice["id"])


def test_a_redelivered_check_is_a_duplicate_and_reserves_once(stores, units, stock_in):
    stock_in("DS-COSMETICS", "LIPSTICK-RED-01", 5)
    body = envelope("stores.check_stock", check(lines=[("LIPSTICK-RED-01", 2)]), correlation_id="M100001")
    assert stores.consume("stores.check_stock", body) == "handled"
    assert stores.consume("stores.check_stock", body) == "duplicate"
    assert stock_of(stores, "DS-COSMETICS", "LIPSTICK-RED-01") == (5, 2)
    assert len(payloads(stores, "stock.reserved")) == 1


def test_a_check_sent_again_by_the_saga_reserves_once_and_answers_twice(stores, units, stock_in):
    stock_in("DS-COSMETICS", "LIPSTICK-RED-01", 5)
    deliver(stores, "stores.check_stock", check(lines=[("LIPSTICK-RED-01", 2)]))
    deliver(stores, "stores.check_stock", check(lines=[("LIPSTICK-RED-01", 2)]))
    assert stock_of(stores, "DS-COSMETICS", "LIPSTICK-RED-01") == (5, 2)
    assert len(payloads(stores, "stock.reserved")) == 2


def test_two_fulfilments_wanting_the_last_lipstick_get_it_once(stores, units, stock_in):
    stock_in("DS-COSMETICS", "LIPSTICK-RED-01", 1)
    deliver(stores, "stores.check_stock", check(1, order="M100001"))
    deliver(stores, "stores.check_stock", check(2, order="M100002"))
    assert [p["order"] for p in payloads(stores, "stock.reserved")] == ["M100001"]
    assert [p["order"] for p in payloads(stores, "stock.short")] == ["M100002"]
    assert stock_of(stores, "DS-COSMETICS", "LIPSTICK-RED-01") == (1, 1)


def test_a_check_for_an_unknown_unit_is_dead_lettered(stores, units):
    from sqlalchemy import select

    assert deliver(stores, "stores.check_stock", check(unit="DS-NOWHERE")) == "dead_lettered"
    with stores.db.session() as session:
        [row] = session.execute(select(stores.tables.dead_letters)).all()
    assert row.queue == "stores.DS-NOWHERE" and "DS-NOWHERE" in row.error
    assert sent(stores) == []


def test_releasing_gives_held_stock_back_and_a_second_release_changes_nothing(stores, units, stock_in):
    stock_in("DS-COSMETICS", "LIPSTICK-RED-01", 3)
    deliver(stores, "stores.check_stock", check(lines=[("LIPSTICK-RED-01", 2)]))
    deliver(stores, "stores.release_stock", release())
    assert stock_of(stores, "DS-COSMETICS", "LIPSTICK-RED-01") == (3, 0)
    deliver(stores, "stores.release_stock", release())
    assert stock_of(stores, "DS-COSMETICS", "LIPSTICK-RED-01") == (3, 0)
    assert payloads(stores, "stock.released") == [{"order": "M100001", "fulfilment_id": 1, "unit": "DS-COSMETICS"}] * 2


def test_releasing_a_packed_fulfilment_puts_the_goods_back_on_the_shelf(stores, units, stock_in):
    from .helpers import pack

    stock_in("EL-WAREHOUSE", "FRIDGE-HAIER-310L", 2)
    deliver(stores, "stores.check_stock", check(1, "EL-WAREHOUSE", [("FRIDGE-HAIER-310L", 1)]))
    deliver(stores, "stores.pack_parcel", pack(1, "EL-WAREHOUSE", [("FRIDGE-HAIER-310L", "Haier fridge 310 L", 1)]))
    assert stock_of(stores, "EL-WAREHOUSE", "FRIDGE-HAIER-310L") == (1, 0)
    deliver(stores, "stores.release_stock", release(1, "EL-WAREHOUSE"))
    assert stock_of(stores, "EL-WAREHOUSE", "FRIDGE-HAIER-310L") == (2, 0)


def test_a_check_arriving_after_the_release_holds_nothing(stores, units, stock_in):
    stock_in("DS-COSMETICS", "LIPSTICK-RED-01", 3)
    deliver(stores, "stores.check_stock", check())
    deliver(stores, "stores.release_stock", release())
    deliver(stores, "stores.check_stock", check())
    assert stock_of(stores, "DS-COSMETICS", "LIPSTICK-RED-01") == (3, 0)
    assert len(payloads(stores, "stock.released")) == 2
