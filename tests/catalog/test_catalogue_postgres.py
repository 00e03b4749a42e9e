"""On PostgreSQL, where administrators and product creation really run at once: a category is never removed
under a product being created in it, and the catalogue's counting queries run as they do on SQLite."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import select

from shared.web import ApiError

TEA = {
    "sku": "TEA-LONGJING-250G",
    "name": "Longjing green tea 250 g",
    "price": 1250,
    "category": "Tea",
    "manufacturer": "West Lake",
    "supplier": "Hangzhou Tea",
    "division": "department_store",
    "unit": "DS-TEA",
}


@pytest.fixture
def catalog_on_postgres(monkeypatch):
    from tests.infra import fresh_postgres_database, postgres_available

    if not postgres_available():
        pytest.skip("PostgreSQL is not reachable")
    from services.catalog.config import runtime
    from shared.testing import fresh_database

    url = fresh_postgres_database("mall_test_catalog_admin")
    monkeypatch.setenv("MALL_DATABASE_URL_CATALOG", url)
    fresh_database(runtime, url)
    yield runtime
    runtime.reset()


def test_a_category_removed_while_a_product_is_created_in_it_is_kept(catalog_on_postgres):
    from services.catalog import services
    from services.catalog.models import Category

    db = catalog_on_postgres.db
    with db.session() as session, session.begin():
        tea = services.create_category(session, "Tea")
        session.flush()
        tea_id = tea.id
    created, outcome = threading.Event(), {}

    def create_and_linger():
        with db.session() as session, session.begin():
            services.create_product(session, TEA)
            session.flush()
            created.set()
            time.sleep(0.5)  # the product's transaction is still open when the removal comes

    def remove():
        created.wait(5)
        try:
            with db.session() as session, session.begin():
                services.delete_category(session, tea_id)
            outcome["removed"] = True
        except ApiError as exc:
            outcome["refused"] = exc.code

    threads = [threading.Thread(target=create_and_linger), threading.Thread(target=remove)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert outcome == {"refused": "category_in_use"}
    with db.session() as session:
        assert session.scalars(select(Category.name)).all() == ["Tea"]


def test_counts_changes_and_withdrawals_run_on_postgresql(catalog_on_postgres):
    from services.catalog import services

    db = catalog_on_postgres.db
    with db.session() as session, session.begin():
        product = services.create_product(session, TEA)
        services.create_product(session, TEA | {"sku": "TEA-PUER-357G", "manufacturer": "Menghai"})
        session.flush()
        tea_id = product.id
    with db.session() as session, session.begin():
        _, changed = services.change_product(session, tea_id, {"price": 990, "category": "Green tea"})
        services.withdraw_product(session, tea_id)
    assert changed == {"price": ["12.50", "9.90"], "category": ["Tea", "Green tea"]}
    with db.session() as session, session.begin():
        categories = [(c["name"], c["products"], c["withdrawn"]) for c in services.list_categories(session)]
        makers = [(m["name"], m["products"], m["withdrawn"]) for m in services.list_manufacturers(session)]
        found, total = services.search_products(session, {"supplier": "hangzhou tea", "status": "withdrawn"})
    assert categories == [("Green tea", 0, 1), ("Tea", 1, 0)]
    assert makers == [("Menghai", 1, 0), ("West Lake", 0, 1)]
    assert [p.sku for p in found] == ["TEA-LONGJING-250G"] and total == 1
