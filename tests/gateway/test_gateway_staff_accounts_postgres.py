"""On PostgreSQL, where two administrators really act at once: two super administrators disabling each other at
the same moment leave one of them active, without a deadlock."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import func, select, text


@pytest.fixture
def gateway_on_postgres(monkeypatch):
    from tests.infra import fresh_postgres_database, postgres_available

    if not postgres_available():
        pytest.skip("PostgreSQL is not reachable")
    from gateway.config import runtime
    from shared.testing import fresh_database

    url = fresh_postgres_database("mall_test_gateway_staff")
    monkeypatch.setenv("MALL_DATABASE_URL_GATEWAY", url)  # put back after the test
    fresh_database(runtime, url)
    yield runtime
    runtime.reset()


def test_two_super_administrators_disabling_each_other_at_once_leave_one(gateway_on_postgres, monkeypatch):
    from argon2 import PasswordHasher

    from gateway import services, staff_services
    from gateway.models import User
    from gateway.services import Identity
    from shared.web import ApiError

    monkeypatch.setattr(services, "hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    gateway = gateway_on_postgres
    with gateway.db.session() as session, session.begin():
        ids = [
            services._new_user(session, username=name, password="Root-Pass-2026", role="superadmin").id
            for name in ("root", "qian_root")
        ]
    root, qian = (Identity(i, name, "superadmin", None) for i, name in zip(ids, ("root", "qian_root"), strict=True))
    results: list = [None, None]

    def disable(i, actor, target_id):
        try:
            with gateway.db.session() as session, session.begin():
                results[i] = staff_services.disable_staff(session, actor, target_id).id
        except Exception as exc:  # noqa: BLE001  (the test looks at what each one raised)
            results[i] = exc

    # Hold the first super administrator's row, so that both requests are waiting when it is let go.
    with gateway.db.session() as holder, holder.begin():
        holder.execute(text("SELECT id FROM users WHERE id = :id FOR UPDATE"), {"id": ids[0]})
        threads = [
            threading.Thread(target=disable, args=(0, root, ids[1])),
            threading.Thread(target=disable, args=(1, qian, ids[0])),
        ]
        for thread in threads:
            thread.start()
        waiting = text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        deadline = time.monotonic() + 30
        with gateway.db.engine.connect() as watcher:
            while any(t.is_alive() for t in threads) and watcher.execute(waiting).scalar_one() < 2:
                watcher.commit()
                assert time.monotonic() < deadline, f"not both waiting for the row: {results}"
                time.sleep(0.01)
    for thread in threads:
        thread.join(timeout=30)

    refused = [r for r in results if isinstance(r, ApiError)]
    assert len(refused) == 1 and (refused[0].status, refused[0].code) == (409, "last_superadmin"), results
    assert len([r for r in results if isinstance(r, int)]) == 1, results
    with gateway.db.session() as session:
        active = select(func.count()).where(User.role == "superadmin", User.disabled_at.is_(None))
        assert session.scalar(active) == 1
