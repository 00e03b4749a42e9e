"""Which real servers this machine has for the tests: Redis and PostgreSQL, found or skipped, never faked."""

from __future__ import annotations

import os
import socket

REDIS_URL = os.environ.get("MALL_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
POSTGRES_URL = os.environ.get("MALL_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def redis_available() -> bool:
    from urllib.parse import urlparse

    u = urlparse(REDIS_URL)
    return _reachable(u.hostname or "127.0.0.1", u.port or 6379)


def postgres_available() -> bool:
    import sqlalchemy as sa

    u = sa.engine.make_url(POSTGRES_URL)
    if not _reachable(u.host or "127.0.0.1", u.port or 5432):
        return False
    try:
        engine = sa.create_engine(u)
        with engine.connect():
            pass
        engine.dispose()
        return True
    except Exception:
        return False


def fresh_postgres_database(name: str) -> str:
    """Drop and create database `name`; returns its URL."""
    import sqlalchemy as sa

    base = sa.engine.make_url(POSTGRES_URL)
    engine = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
