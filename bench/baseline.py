"""The baseline: raw Celery round trips on the mall's broker with the mall's worker settings.

A `bench.ping` task sends a `bench.pong` task (a reply), whose handler counts itself by appending
one byte to a file. Nothing else: no database, no validation. The mall's saga can at best move as
many messages per second as this does.
"""

from __future__ import annotations

import os

from shared.celery_app import make_celery
from shared.config import Settings

settings = Settings.from_env()
app = make_celery("bench", settings)
if os.environ.get("MALL_BENCH_STOCK_TRANSPORT"):
    # For scale only: kombu's own Redis transport, without shared/redis_broker.py's cheaper bookkeeping.
    app.conf.broker_transport = None
COUNTER = os.environ.get("MALL_BENCH_COUNTER", str(settings.var_dir / "bench-pongs"))


@app.task(name="bench.ping", shared=False)
def ping(n: int) -> None:
    app.send_task("bench.pong", args=[n], queue="bench.pong")


@app.task(name="bench.pong", shared=False)
def pong(n: int) -> None:
    fd = os.open(COUNTER, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, b".")
    finally:
        os.close(fd)
