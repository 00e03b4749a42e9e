"""The real mall for end-to-end tests: `mall run` as a subprocess, driven over HTTP only.

On Redis + PostgreSQL when this machine has them (fresh databases, a private Redis database), else
on the embedded default; `embedded_mall` is always the embedded default, for the smoke journey.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path

import pytest

from mall.harness import ADMIN, HOME_CITY, TERMINAL_OR_WAITING, Mall, postgres_available, redis_available, start

__all__ = ["ADMIN", "HOME_CITY", "TERMINAL_OR_WAITING", "Mall"]


# Package scope, not session: a mall keeps a worker per unit its tests created, and their database
# connections, so it stops when its package's tests are done instead of lasting the whole run
# (two malls alive at once left PostgreSQL's max_connections short for the race tests after them).
@pytest.fixture(scope="package")
def e2e_root() -> Path:
    return Path(tempfile.mkdtemp(prefix="mall-e2e-"))


@pytest.fixture(scope="session")
def servers_available() -> bool:
    return redis_available() and postgres_available()


@pytest.fixture(scope="package")
def mall(e2e_root, servers_available, request):
    """The mall on Redis + PostgreSQL where the machine has them, else on the embedded default."""
    mode = "servers" if servers_available else "embedded"
    if os.environ.get("MALL_E2E_REQUIRE_SERVERS") and mode != "servers":
        pytest.fail("MALL_E2E_REQUIRE_SERVERS is set but Redis or PostgreSQL is not reachable")
    instance = start(mode, e2e_root)
    request.config._mall_e2e = instance  # noqa: SLF001  (lets `embedded_mall` reuse an embedded one)
    yield instance
    instance.stop()
    if mode == "servers":
        # Every statement a service marks `direct` ran directly, with the parameters the journeys really
        # passed (tests/shared/test_direct.py can only compile them without).
        log = instance.log_path.read_text(errors="replace").splitlines()
        fell_back = [line for line in log if "takes SQLAlchemy's path" in line]
        assert not fell_back, "\n".join(fell_back)


@pytest.fixture(scope="package")
def embedded_mall(e2e_root, servers_available):
    """Always the embedded default (file broker, SQLite): the two-command promise of the README."""
    instance = start("embedded", e2e_root)
    yield instance
    instance.stop()


@pytest.fixture
def sku_prefix() -> str:
    """Every test builds its own world inside the shared mall: unique unit codes and SKUs."""
    return uuid.uuid4().hex[:6].upper()
