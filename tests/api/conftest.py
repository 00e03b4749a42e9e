"""API fuzzing runs against a real mall of its own, stopped when this package is done.

It used to import the end-to-end package's fixtures. A package-scoped fixture imported into another
package's conftest is not torn down when that package ends (pytest ties it to where it was defined), so
the fuzzed mall, with a worker for every unit the fuzzer created, kept running through the end-to-end
tests: two malls on one Redis database and one set of database names, and PostgreSQL out of connections.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from mall.harness import postgres_available, redis_available, start


@pytest.fixture(scope="package")
def mall():
    """The mall on Redis + PostgreSQL where the machine has them, else on the embedded default."""
    mode = "servers" if redis_available() and postgres_available() else "embedded"
    if os.environ.get("MALL_E2E_REQUIRE_SERVERS") and mode != "servers":
        pytest.fail("MALL_E2E_REQUIRE_SERVERS is set but Redis or PostgreSQL is not reachable")
    instance = start(mode, Path(tempfile.mkdtemp(prefix="mall-api-")), name="api")
    yield instance
    instance.stop()
