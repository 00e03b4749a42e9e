"""API fuzzing runs against the same real mall as the end-to-end tests."""

from tests.e2e.conftest import e2e_root, embedded_mall, mall, servers_available, sku_prefix  # noqa: F401
