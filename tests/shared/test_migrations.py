"""Each service's migrations build exactly the tables its models describe (no drift), on SQLite and PostgreSQL."""

from __future__ import annotations

import importlib

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from shared.migrations import upgrade
from tests.infra import fresh_postgres_database, postgres_available

SERVICES = {
    "gateway": "gateway",
    "catalog": "services.catalog",
    "orders": "services.orders",
    "stores": "services.stores",
    "logistics": "services.logistics",
    "billing": "services.billing",
}


def drift(service: str, url: str) -> list:
    upgrade(service, url)
    metadata = importlib.import_module(SERVICES[service] + ".models").Base.metadata
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    finally:
        engine.dispose()


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_the_migrations_match_the_models_on_sqlite(service, tmp_path):
    assert drift(service, f"sqlite:///{tmp_path / (service + '.db')}") == []


@pytest.mark.skipif(not postgres_available(), reason="PostgreSQL is not reachable")
@pytest.mark.parametrize("service", sorted(SERVICES))
def test_the_migrations_match_the_models_on_postgresql(service):
    assert drift(service, fresh_postgres_database(f"mall_test_migrate_{service}")) == []
