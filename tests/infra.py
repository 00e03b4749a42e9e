"""Which real servers this machine has for the tests: Redis and PostgreSQL, found or skipped, never faked."""

from mall.harness import (  # noqa: F401  (the tests' names for the harness's helpers)
    POSTGRES_URL,
    REDIS_URL,
    free_port,
    fresh_postgres_database,
    postgres_available,
    redis_available,
)
