"""Contract tests: every message type round-trips through its schema, is consumed, and is documented."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from marshmallow import ValidationError

from mall.catalogue import render
from shared.contracts import CATALOGUE, message_type, queue_for
from shared.envelope import Envelope
from shared.messaging import validate_message

DOCS = Path(__file__).resolve().parents[2] / "docs" / "messages.md"

EXAMPLES = {
    "orders.place_order": {
        "number": "M20261124AAAAAA",
        "member_id": 7,
        "payment_method": "balance",
        "invoice": {"kind": "company", "title": "Nanning Guomao Trading Co., Ltd.", "tax_id": "91450100MA5K3X8Y1Q"},
        "address": {
            "name": "Li Ming",
            "phone": "138",
            "city": "Nanning",
            "line": "1 Minzu Ave",
            "lat": 22.8,
            "lon": 108.3,
        },
        "lines": [
            {
                "sku": "LIPSTICK-RED-01",
                "name": "Red lipstick",
                "quantity": 1,
                "unit_price_cents": 12900,
                "division": "department_store",
                "unit": "DS-COSMETICS",
            }
        ],
    },
    "stores.check_stock": {
        "order": "M1",
        "fulfilment_id": 1,
        "unit": "DS-COSMETICS",
        "lines": [{"sku": "LIPSTICK-RED-01", "quantity": 1}],
        "notify_purchasing": False,
    },
    "stores.release_stock": {"order": "M1", "fulfilment_id": 1, "unit": "DS-COSMETICS", "reason": "cancelled"},
    "stores.pack_parcel": {
        "order": "M1",
        "fulfilment_id": 1,
        "unit": "DS-COSMETICS",
        "delivery": "local",
        "lines": [{"sku": "LIPSTICK-RED-01", "name": "Red lipstick", "quantity": 1}],
    },
    "billing.take_payment": {
        "order": "M1",
        "member_id": 7,
        "method": "balance",
        "invoice": {"kind": "personal", "title": "Li Ming", "tax_id": None},
        "total_cents": 12900,
        "units": [{"unit": "DS-COSMETICS", "amount_cents": 12900}],
        "lines": [
            {
                "sku": "LIPSTICK-RED-01",
                "name": "Red lipstick",
                "unit": "DS-COSMETICS",
                "quantity": 1,
                "amount_cents": 12900,
            }
        ],
    },
    "billing.refund_payment": {"order": "M1", "reason": "cancelled"},
    "billing.expire_payment": {"order": "M1", "reason": "not paid within 30 minutes"},
    "billing.refund_after_sale": {
        "order": "M1",
        "case": 7,
        "unit": "DS-COSMETICS",
        "amount_cents": 10000,
        "lines": [{"sku": "LIP-01", "name": "Lipstick", "quantity": 1, "amount_cents": 10000}],
        "reason": "after-sales #7: the lid was broken",
        "delivered_at": "2026-11-24T09:30:00+00:00",
    },
    "logistics.claim_loss": {
        "order": "M1",
        "fulfilment_id": 1,
        "case": 7,
        "unit": "DS-COSMETICS",
        "amount_cents": 10000,
        "problem": "lost",
    },
    "stores.restock_return": {
        "order": "M1",
        "case": 7,
        "unit": "DS-COSMETICS",
        "lines": [{"sku": "LIP-01", "quantity": 1}],
    },
    "logistics.arrange_delivery": {
        "order": "M1",
        "fulfilment_id": 1,
        "unit": "DS-COSMETICS",
        "delivery": "courier",
        "address": {"name": "Li", "phone": "138", "city": "Guilin", "line": "2 Road", "lat": 25.2, "lon": 110.2},
        "declared_value_cents": 12900,
        "cod_amount_cents": 0,
    },
    "logistics.cancel_delivery": {"order": "M1", "fulfilment_id": 1},
    "stock.reserved": {"order": "M1", "fulfilment_id": 1, "unit": "DS-COSMETICS"},
    "stock.short": {
        "order": "M1",
        "fulfilment_id": 1,
        "unit": "DS-COSMETICS",
        "short": [{"sku": "LIPSTICK-RED-01", "requested": 2, "available": 1}],
        "purchase_notice": None,
    },
    "stock.released": {"order": "M1", "fulfilment_id": 1, "unit": "DS-COSMETICS"},
    "stock.replenished": {"unit": "DS-COSMETICS", "sku": "LIPSTICK-RED-01", "available": 4},
    "parcel.packed": {
        "order": "M1",
        "fulfilment_id": 1,
        "unit": "DS-COSMETICS",
        "slip_no": "XS-DS-COSMETICS-000001",
        "packed_at": "2026-11-24T10:00:00+08:00",
    },
    "payment.captured": {"order": "M1", "method": "balance", "amount_cents": 12900},
    "payment.pending": {"order": "M1", "method": "online"},
    "payment.failed": {"order": "M1", "reason": "insufficient_balance"},
    "payment.refunded": {"order": "M1", "amount_cents": 12900},
    "after_sale.refunded": {"order": "M1", "case": 7, "amount_cents": 10000},
    "stock.returned": {"order": "M1", "case": 7, "unit": "DS-COSMETICS"},
    "loss.claimed": {"order": "M1", "case": 7, "claim": 3, "claimed_cents": 10000},
    "shipment.booked": {
        "order": "M1",
        "fulfilment_id": 1,
        "delivery": "courier",
        "waybill": "SB123456789012",
        "carrier": "sandbox",
    },
    "shipment.cancelled": {"order": "M1", "fulfilment_id": 1},
    "order.completed": {
        "order": "M1",
        "member_id": 7,
        "completed_at": "2026-11-24T10:00:00+08:00",
        "delivered_at": "2026-11-21T16:30:00+08:00",
        "lines": [
            {
                "sku": "LIPSTICK-RED-01",
                "name": "Red lipstick",
                "unit": "DS-COSMETICS",
                "quantity": 1,
                "amount_cents": 12900,
            }
        ],
    },
    "auction.sold": {
        "auction": 41,
        "seller_id": 7,
        "buyer_id": 8,
        "amount_cents": 15100,
        "title": "Hand-painted Nixing teapot",
        "sold_at": "2026-11-27T10:00:00+08:00",
    },
    "auction.paid": {"auction": 41, "amount_cents": 15100, "paid_at": "2026-11-27T10:00:01+08:00"},
    "auction.payment_failed": {"auction": 41, "reason": "insufficient_balance"},
}
PROGRESS = {"order": "M1", "fulfilment_id": 1, "waybill": None, "at": "2026-11-24T10:00:00+08:00", "detail": "x"}
for _type in ("shipment.shipped", "shipment.delivered", "shipment.failed", "shipment.tracked"):
    EXAMPLES[_type] = PROGRESS

PACKAGES = {
    "orders": "services.orders",
    "stores": "services.stores",
    "billing": "services.billing",
    "catalog": "services.catalog",
    "logistics": "services.logistics",
}


def test_every_message_type_has_an_example_here():
    assert set(EXAMPLES) == set(CATALOGUE)


@pytest.mark.parametrize("type_", sorted(CATALOGUE))
def test_a_valid_message_round_trips_through_the_envelope_and_its_schema(type_):
    body = Envelope(type=type_, payload=EXAMPLES[type_], sender=CATALOGUE[type_].producer, correlation_id="M1").dump()
    envelope, payload = validate_message(type_, body)
    assert envelope.type == type_ and envelope.version == 1
    assert set(payload) == set(EXAMPLES[type_])


@pytest.mark.parametrize("type_", sorted(CATALOGUE))
def test_the_envelope_is_written_out_exactly_as_its_schema_dumps_it(type_):
    from shared.envelope import EnvelopeSchema

    envelope = Envelope(type=type_, payload=EXAMPLES[type_], sender="x", correlation_id="M1", causation_id="c")
    assert envelope.dump() == EnvelopeSchema().dump(envelope)
    assert Envelope.load(envelope.dump()) == envelope


@pytest.mark.parametrize("type_", sorted(CATALOGUE))
def test_a_payload_with_an_unknown_field_is_refused(type_):
    body = Envelope(type=type_, payload=EXAMPLES[type_] | {"surprise": 1}, sender="x", correlation_id="M1").dump()
    with pytest.raises(ValidationError):
        validate_message(type_, body)


@pytest.mark.parametrize("type_", sorted(CATALOGUE))
def test_every_consumer_named_in_the_catalogue_really_handles_the_message(type_):
    for consumer in CATALOGUE[type_].consumers:
        importlib.import_module(PACKAGES[consumer] + ".tasks")
        runtime = importlib.import_module(PACKAGES[consumer] + ".config").runtime
        assert type_ in runtime.handlers, f"{consumer} does not handle {type_}"
        assert message_type(type_).task_name(consumer) in runtime.celery.tasks


def test_a_take_payment_sent_before_it_carried_lines_still_validates_with_none():
    earlier = {k: v for k, v in EXAMPLES["billing.take_payment"].items() if k != "lines"}
    body = Envelope(type="billing.take_payment", payload=earlier, sender="orders", correlation_id="M1").dump()
    _, payload = validate_message("billing.take_payment", body)
    assert payload["lines"] == []


def test_an_order_completed_sent_before_it_carried_delivered_at_still_validates_with_none():
    earlier = {k: v for k, v in EXAMPLES["order.completed"].items() if k != "delivered_at"}
    body = Envelope(type="order.completed", payload=earlier, sender="orders", correlation_id="M1").dump()
    _, payload = validate_message("order.completed", body)
    assert payload["delivered_at"] is None


def test_a_take_payment_line_without_its_unit_is_refused():
    line = {k: v for k, v in EXAMPLES["billing.take_payment"]["lines"][0].items() if k != "unit"}
    payload = EXAMPLES["billing.take_payment"] | {"lines": [line]}
    body = Envelope(type="billing.take_payment", payload=payload, sender="orders", correlation_id="M1").dump()
    with pytest.raises(ValidationError):
        validate_message("billing.take_payment", body)


def test_an_auction_sold_for_nothing_is_refused():
    payload = EXAMPLES["auction.sold"] | {"amount_cents": 0}
    body = Envelope(type="auction.sold", payload=payload, sender="catalog", correlation_id="auction-41").dump()
    with pytest.raises(ValidationError):
        validate_message("auction.sold", body)


def test_stores_work_goes_to_the_units_own_queue():
    assert queue_for("stores", {"unit": "SM-GUOMAO"}) == "stores.SM-GUOMAO"
    assert queue_for("billing", {"unit": "SM-GUOMAO"}) == "billing"


def test_an_envelope_without_an_id_is_refused():
    body = Envelope(
        type="stock.reserved", payload=EXAMPLES["stock.reserved"], sender="stores", correlation_id="M1"
    ).dump()
    del body["id"]
    with pytest.raises(ValidationError):
        validate_message("stock.reserved", body)


def test_docs_messages_md_is_the_catalogue_in_shared_contracts():
    assert render() in DOCS.read_text(), "run `mall catalogue --write`"


@pytest.mark.parametrize("type_", ["orders.place_order", "billing.take_payment"])
def test_a_command_written_before_invoices_existed_still_loads_without_one(type_):
    written_before = {k: v for k, v in EXAMPLES[type_].items() if k != "invoice"}
    body = Envelope(type=type_, payload=written_before, sender=CATALOGUE[type_].producer, correlation_id="M1").dump()
    assert validate_message(type_, body)[1]["invoice"] is None


def test_an_invoice_with_a_tax_id_that_is_not_one_is_refused():
    payload = EXAMPLES["orders.place_order"] | {"invoice": {"kind": "company", "title": "X", "tax_id": "12345"}}
    body = Envelope(type="orders.place_order", payload=payload, sender="gateway", correlation_id="M1").dump()
    with pytest.raises(ValidationError):
        validate_message("orders.place_order", body)
