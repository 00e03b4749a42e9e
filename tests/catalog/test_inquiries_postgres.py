"""Inquiries under real concurrency on PostgreSQL: one member's asks racing past the limit, two answers racing."""

from __future__ import annotations

import functools

import pytest

from .test_auctions_postgres import at_once, catalog_on_postgres  # noqa: F401  (the fixture)

pytestmark = pytest.mark.integration

LI = 7


def tea(catalog) -> int:
    from services.catalog import services

    body = {
        "sku": "TEA-LONGJING",
        "name": "Longjing green tea 250 g",
        "price": 1250,
        "category": "Tea",
        "manufacturer": "West Lake",
        "supplier": "Hangzhou Tea",
        "division": "department_store",
        "unit": "DS-TEA",
    }
    with catalog.db.session() as session, session.begin():
        product = services.create_product(session, body)
        session.flush()
        return product.id


def ask(catalog, product_id, question):
    from services.catalog import inquiries
    from shared.web import ApiError

    try:
        with catalog.db.session() as session, session.begin():
            inquiry, _ = inquiries.ask(session, product_id, {"member_id": LI, "question": question})
            session.flush()
            return inquiry.id
    except ApiError as exc:
        return exc.status, exc.code


def answer(catalog, inquiry_id, text):
    from services.catalog import inquiries
    from shared.web import ApiError

    try:
        with catalog.db.session() as session, session.begin():
            inquiries.answer(session, inquiry_id, {"answer": text, "available": 5, "by": "zhou_staff"})
        return 200
    except ApiError as exc:
        return exc.status, exc.code


def test_six_asks_at_once_by_one_member_keep_to_three_open_about_the_product(catalog_on_postgres):  # noqa: F811
    catalog = catalog_on_postgres
    product_id = tea(catalog)
    outcomes = at_once(*(functools.partial(ask, catalog, product_id, f"Question {n}?") for n in range(6)))
    assert sum(isinstance(o, int) for o in outcomes) == 3
    assert [o for o in outcomes if not isinstance(o, int)] == [(409, "too_many_open_inquiries")] * 3


def test_two_different_answers_at_once_keep_one_and_refuse_the_other(catalog_on_postgres):  # noqa: F811
    from services.catalog.models import Inquiry

    catalog = catalog_on_postgres
    inquiry_id = ask(catalog, tea(catalog), "Is it in stock?")
    outcomes = at_once(
        functools.partial(answer, catalog, inquiry_id, "Yes, five tins."),
        functools.partial(answer, catalog, inquiry_id, "Five tins left, come soon."),
    )
    assert sorted(outcomes, key=lambda o: o != 200) == [200, (409, "already_answered")]
    with catalog.db.session() as session:
        assert session.get(Inquiry, inquiry_id).status == "answered"
