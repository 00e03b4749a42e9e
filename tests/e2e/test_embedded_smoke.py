"""The embedded default (no servers) carries a whole order, and the shared contract smoke passes on it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import ADMIN, HOME_CITY

pytestmark = pytest.mark.e2e

SMOKE = Path(__file__).resolve().parents[3] / "shared" / "tools" / "contract_smoke.py"


def test_a_local_order_completes_on_the_embedded_default(embedded_mall, sku_prefix):
    from tests.e2e.test_journeys import test_a_local_order_goes_from_placed_to_completed

    test_a_local_order_goes_from_placed_to_completed(embedded_mall, sku_prefix)


@pytest.mark.skipif(not SMOKE.exists(), reason="../shared/tools/contract_smoke.py is not beside this checkout")
def test_the_contract_smoke_passes_on_the_embedded_default(embedded_mall):
    result = subprocess.run(
        [sys.executable, str(SMOKE), "--url", embedded_mall.base, "--admin", ":".join(ADMIN), "--home-city", HOME_CITY],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert " 0 failed" in result.stdout.strip().splitlines()[-1]
