"""The no-oversell rule under real concurrency: workers racing on PostgreSQL for the last piece."""

import threading

import pytest

from shared.testing import deliver, payloads

from .helpers import check, stock_of

SERVER = "postgresql://postgres@127.0.0.1:5432"
DATABASE = "mall_test_stores_race"


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


@pytest.mark.integration
def test_six_workers_racing_for_the_last_lipstick_reserve_it_exactly_once(stores_on_postgres):
    from services.stores import services

    stores = stores_on_postgres
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
    with stores.unit_of_work("stock-in:DS-COSMETICS") as uow:
        services.stock_in(uow, "DS-COSMETICS", "LIPSTICK-RED-01", 1)
    stores.relay  # noqa: B018  (built once here, not by six threads at the same moment)

    workers = 6
    start = threading.Barrier(workers)
    outcomes: list[str] = []

    def worker(fulfilment_id: int) -> None:
        start.wait()
        command = check(fulfilment_id, order=f"M2000{fulfilment_id:02d}")
        outcomes.append(deliver(stores, "stores.check_stock", command))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(1, workers + 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert outcomes == ["handled"] * workers
    assert len(payloads(stores, "stock.reserved")) == 1
    assert len(payloads(stores, "stock.short")) == workers - 1
    assert all(
        s["short"] == [{"sku": "LIPSTICK-RED-01", "requested": 1, "available": 0}]
        for s in payloads(stores, "stock.short")
    )
    on_hand, reserved = stock_of(stores, "DS-COSMETICS", "LIPSTICK-RED-01")
    assert (on_hand, reserved) == (1, 1)
