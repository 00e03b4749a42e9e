"""The no-oversell rule under real concurrency: workers racing on PostgreSQL for the last piece."""

import threading

import pytest

from mall.harness import DATABASE_PREFIX
from shared.testing import deliver, payloads

from .helpers import check, stock_of

SERVER = "postgresql://postgres@127.0.0.1:5432"
DATABASE = DATABASE_PREFIX + "mall_test_stores_race"


@pytest.fixture
def stores_on_postgres(monkeypatch):
    psycopg = pytest.importorskip("psycopg")
    try:
        admin = psycopg.connect(f"{SERVER}/postgres", autocommit=True, connect_timeout=3)
    except psycopg.OperationalError:
        pytest.skip("PostgreSQL is not reachable")
    with admin:
        admin.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {DATABASE}")

    from services.stores import tasks  # noqa: F401  (registers the consumers)
    from services.stores.config import runtime
    from shared.testing import fresh_database

    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{DATABASE}"
    monkeypatch.setenv("MALL_DATABASE_URL_STORES", url)  # put back after the test
    fresh_database(runtime, url)
    yield runtime
    runtime.reset()
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True, connect_timeout=3) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")


def counter_with_stock(stores, stock: dict[str, int]) -> None:
    """The cosmetics counter holding `stock` (SKU -> pieces); the relay built before any thread uses it."""
    from services.stores import services

    with stores.db.session() as session, session.begin():
        services.add_unit(
            session,
            {
                "code": "DS-COSMETICS",
                "name": "Cosmetics counter",
                "kind": "counter",
                "division": "department_store",
                "city": "Nanning",
                "lat": 22.817,
                "lon": 108.366,
            },
        )
    for sku, quantity in stock.items():
        with stores.unit_of_work("stock-in:DS-COSMETICS") as uow:
            services.stock_in(uow, "DS-COSMETICS", sku, quantity)
    stores.relay  # noqa: B018  (built once here, not by six threads at the same moment)


def race(stores, workers: int, lines: list[tuple[str, int]] | None = None) -> list[str]:
    """`workers` threads deliver a check of `lines` each (one fulfilment each) at the same moment."""
    start = threading.Barrier(workers)
    outcomes: list[str] = []

    def worker(fulfilment_id: int) -> None:
        start.wait()
        command = check(fulfilment_id, lines=lines, order=f"M2000{fulfilment_id:02d}")
        outcomes.append(deliver(stores, "stores.check_stock", command))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(1, workers + 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


@pytest.mark.integration
def test_six_workers_racing_for_the_last_lipstick_reserve_it_exactly_once(stores_on_postgres):
    stores = stores_on_postgres
    counter_with_stock(stores, {"LIPSTICK-RED-01": 1})
    workers = 6
    assert race(stores, workers) == ["handled"] * workers
    assert len(payloads(stores, "stock.reserved")) == 1
    assert len(payloads(stores, "stock.short")) == workers - 1
    assert all(
        s["short"] == [{"sku": "LIPSTICK-RED-01", "requested": 1, "available": 0}]
        for s in payloads(stores, "stock.short")
    )
    on_hand, reserved = stock_of(stores, "DS-COSMETICS", "LIPSTICK-RED-01")
    assert (on_hand, reserved) == (1, 1)


@pytest.mark.integration
def test_workers_short_of_one_line_give_back_the_line_that_fitted(stores_on_postgres):
    stores = stores_on_postgres
    counter_with_stock(stores, {"LIPSTICK-RED-01": 2, "PERFUME-ROSE-50ML": 1})
    workers = 6
    lines = [("LIPSTICK-RED-01", 1), ("PERFUME-ROSE-50ML", 1)]
    assert race(stores, workers, lines) == ["handled"] * workers
    assert len(payloads(stores, "stock.reserved")) == 1
    # All or none: a worker that got a lipstick but no perfume put the lipstick back.
    assert all(
        s["short"] == [{"sku": "PERFUME-ROSE-50ML", "requested": 1, "available": 0}]
        for s in payloads(stores, "stock.short")
    )
    assert stock_of(stores, "DS-COSMETICS", "LIPSTICK-RED-01") == (2, 1)
    assert stock_of(stores, "DS-COSMETICS", "PERFUME-ROSE-50ML") == (1, 1)
