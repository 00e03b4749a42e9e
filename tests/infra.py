"""Which real servers this machine has for the tests: Redis and PostgreSQL, found or skipped, never faked."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from mall.harness import (  # noqa: F401  (the tests' names for the harness's helpers)
    POSTGRES_URL,
    REDIS_URL,
    free_port,
    fresh_postgres_database,
    postgres_available,
    redis_available,
)


class PrivateRedis:
    """A redis-server of a test's own on a free port, which the test stops and starts again.

    Durable (`appendonly yes`, as production runs it) keeps its messages across a restart, for the fault
    suite; otherwise a stopped server comes back empty.
    """

    def __init__(self, root: Path, *, durable: bool):
        self.port = free_port()
        self.dir = root / "redis"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.durable = durable
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        argv = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir), "--save", ""]
        if self.durable:
            argv += ["--appendonly", "yes", "--appendfsync", "always", "--maxmemory-policy", "noeviction"]
        else:
            argv += ["--appendonly", "no"]
        self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        import redis

        client = redis.Redis(port=self.port)
        for _ in range(100):
            try:
                client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def restart(self) -> None:
        """SHUTDOWN writes the append-only file out; the new server reads it back in."""
        import redis

        try:
            redis.Redis(port=self.port).shutdown(nosave=False)
        except redis.ConnectionError:
            pass
        self.process.wait(timeout=10)
        time.sleep(0.5)
        self.start()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
