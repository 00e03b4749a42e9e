"""Fixtures every test shares: a private var/ folder, a fresh database per service under test."""

from __future__ import annotations

import os
import tempfile

import pytest

# Before any service module reads its settings: the embedded broker and SQLite files of the tests
# live in a private folder, never in the developer's var/.
os.environ.setdefault("MALL_VAR_DIR", tempfile.mkdtemp(prefix="mall-tests-"))
os.environ.setdefault("MALL_HOME_CITY", "Nanning")


@pytest.fixture
def use_db(tmp_path):
    """`use_db(runtime)`: that service on a fresh SQLite database of its own, tables from its models."""
    from shared.testing import fresh_database

    used = []

    def _use(runtime):
        fresh_database(runtime, f"sqlite:///{tmp_path / (runtime.name + '.db')}")
        used.append(runtime)
        return runtime

    yield _use
    for runtime in used:
        runtime.reset()
