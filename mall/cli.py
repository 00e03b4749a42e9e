"""`mall`: run the whole mall, or one web process, worker or beat of it; migrate, seed, inspect dead letters,
build a month's statements."""

from __future__ import annotations

import argparse
import json
import logging
import os
import socket
import sys
import time
from datetime import UTC, datetime
from urllib.parse import urlparse

from shared.config import Settings
from shared.logs import setup_logging
from shared.money import format_cents, to_cents

from . import registry


def _days(value: str) -> int:
    from shared.config import retention_days

    try:
        return retention_days(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _month(value: str) -> str:
    import re

    from shared.calendar import MONTH_PATTERN

    if not re.match(MONTH_PATTERN, value):
        raise argparse.ArgumentTypeError(f"a month such as 2026-10 (not {value!r})")
    return value


def _port_of(url: str) -> int:
    return urlparse(url).port or 80


def ensure_database(url: str) -> None:
    """Create a PostgreSQL database named in `url` if it is missing, or the folder of a SQLite file."""
    import sqlalchemy as sa

    if url.startswith("sqlite"):
        database = sa.engine.make_url(url).database
        if database and database != ":memory:":
            from pathlib import Path

            Path(database).parent.mkdir(parents=True, exist_ok=True)
        return
    if not url.startswith("postgresql"):
        return

    name = sa.engine.make_url(url).database
    admin = sa.engine.make_url(url).set(database="postgres")
    engine = sa.create_engine(admin, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            if not conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first():
                conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()


def cmd_migrate(args) -> int:
    from shared.migrations import upgrade

    settings = Settings.from_env()
    for service in args.service or registry.ALL:
        url = settings.database_url(service)
        ensure_database(url)
        upgrade(service, url)
        print(f"migrate: {service} is at head", flush=True)
    return 0


#: Threads of a web process that use the database besides waitress' own: the outbox sweeper, and the
#: gateway's order confirmer.
WEB_BACKGROUND_THREADS = 2
#: Threads of a worker process that use the database besides its tasks: the outbox sweeper, the heartbeat.
WORKER_BACKGROUND_THREADS = 2
#: Task threads of a service's worker on a server database, where `--pool` is not given (others: one, solo).
#: The orders worker handles five of an order's nine messages and, for each, waits for PostgreSQL to
#: write its commit to disk; a second thread runs while the first waits. Measured with the bench (1,000
#: orders, one worker of each, runs alternated on one machine): 38.2 and 31.2 orders/s with one
#: thread, 45.4 and 48.1 with two, and less CPU per order. Two messages of one order are applied one
#: after the other all the same: each step locks the order's row.
WORKER_THREADS = {"orders": 2}


def cmd_web(args) -> int:
    setup_logging(f"web.{args.service}")
    # waitress warns "Task queue depth is N" whenever a request waits for a free thread: under load,
    # a line for almost every request (0.15 ms of CPU an order, measured under 16 clients).
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    from waitress import serve

    settings = Settings.from_env()
    runtime = registry.runtime(args.service)
    runtime.db.size_pool(args.threads + WEB_BACKGROUND_THREADS)
    app = registry.create_app(args.service)
    runtime.start_outbox_sweeper()
    port = args.port or _port_of(settings.service_url(args.service))
    serve(
        app,
        host=args.host,
        port=port,
        threads=args.threads,
        ident=f"mall-{args.service}",
        channel_timeout=30,
        connection_limit=500,
    )
    return 0


def cmd_worker(args) -> int:
    if args.unit:
        service, queues = "stores", [f"stores.{u}" for u in args.unit]
        name = "stores-" + "-".join(args.unit)[:60]
    elif args.service:
        service = args.service
        queues = [service] + [f"stores.{u}" for u in args.also_unit or []]
        name = service
    else:
        raise SystemExit("say which: --service NAME or --unit CODE")
    setup_logging(f"worker.{name}")
    runtime = registry.worker_runtime(service)
    pool, concurrency = args.pool, args.concurrency or 1
    if pool is None:
        threads = 1 if runtime.settings.embedded else WORKER_THREADS.get(service, 1)
        pool, concurrency = ("threads", threads) if threads > 1 else ("solo", 1)
    # No ping before each use (a round trip and about 80 us of CPU a message): a message whose
    # connection the server dropped fails once and is retried by Celery, and that failure makes the
    # pool replace all its connections. A web process pings: there a failure would be a caller's error.
    runtime.db.size_pool(concurrency + WORKER_BACKGROUND_THREADS, ping=False)
    app = runtime.celery

    from celery.signals import worker_process_init

    @worker_process_init.connect(weak=False)
    def _after_fork(**_):
        # A forked pool process must not share the parent's database connections.
        runtime.db.dispose()

    hostname = f"{name}@{socket.gethostname()}"
    runtime.start_heartbeat(hostname, queues)
    runtime.start_outbox_sweeper()
    argv = [
        "worker",
        "-Q",
        ",".join(queues),
        "-n",
        hostname,
        "--pool",
        pool,
        "--concurrency",
        str(concurrency),
        "--loglevel",
        args.loglevel,
        "--without-gossip",
        "--without-mingle",
    ]
    if runtime.settings.embedded:
        argv.append("--without-heartbeat")
    app.worker_main(argv)
    return 0


def beat_schedule(settings: Settings) -> dict:
    from celery.schedules import crontab

    schedule = {
        "orders-sweep-deadlines": {"task": "orders.sweep_deadlines", "schedule": 5.0, "options": {"queue": "orders"}},
        # Auctions close within seconds of their end (one indexed scan of open auctions past it), and
        # billing is asked again about sold ones it has not answered.
        "catalog-close-auctions": {"task": "catalog.close_auctions", "schedule": 5.0, "options": {"queue": "catalog"}},
    }
    for cutoff in settings.batch_cutoffs:
        hour, minute = (int(x) for x in cutoff.split(":"))
        schedule[f"logistics-close-batch-{hour:02d}{minute:02d}"] = {
            "task": "logistics.close_batch",
            "schedule": crontab(hour=hour, minute=minute),
            "options": {"queue": "logistics"},
        }
    # Settlement (结算): on the 15th the month before is reconciled and settled to each department. Every
    # hour, the job builds it if it is due (from the 15th, once): a failed or lost run is made good an hour on.
    schedule["billing-run-statements"] = {
        "task": "billing.run_statements",
        "schedule": crontab(minute=5),
        "options": {"queue": "billing"},
    }
    return schedule


def cmd_beat(args) -> int:
    setup_logging("beat")
    from shared.celery_app import make_celery

    settings = Settings.from_env()
    app = make_celery("beat", settings)
    # Cut-offs and the 15th's statements are wall-clock times in the mall's own time zone.
    app.conf.update(timezone=settings.timezone, enable_utc=False, beat_schedule=beat_schedule(settings))
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    app.start(["beat", "--loglevel", "INFO", "-s", str(settings.var_dir / "beat-schedule")])
    return 0


def cmd_dlq(args) -> int:
    from sqlalchemy import select, update

    services = [args.service] if args.service else list(registry.ALL)
    if args.action == "list":
        rows_out = []
        for service in services:
            runtime = registry.runtime(service)
            table = runtime.tables.dead_letters
            with runtime.db.session() as session:
                for row in session.execute(select(table).order_by(table.c.id)).all():
                    rows_out.append(
                        {
                            "service": service,
                            "id": row.id,
                            "type": row.type,
                            "task": row.task,
                            "sender": row.sender,
                            "attempts": row.attempts,
                            "error": row.error[:200],
                            "at": row.created_at.isoformat(),
                            "replayed_at": row.replayed_at.isoformat() if row.replayed_at else None,
                        }
                    )
        if args.json:
            print(json.dumps(rows_out, indent=2))
        else:
            for r in rows_out:
                print(
                    f"{r['service']:9} #{r['id']:<5} {r['type'] or '?':22} tries={r['attempts']} "
                    f"{'replayed ' if r['replayed_at'] else ''}{r['error']}"
                )
            print(f"{len(rows_out)} dead letter(s)")
        return 0
    if not args.service or args.id is None:
        raise SystemExit("usage: mall dlq replay ID --service NAME")
    runtime = registry.worker_runtime(args.service)
    table = runtime.tables.dead_letters
    with runtime.db.session() as session, session.begin():
        row = session.execute(select(table).where(table.c.id == args.id)).first()
        if row is None:
            raise SystemExit(f"no dead letter #{args.id} in {args.service}")
        queue = row.queue
        if queue.endswith("?"):
            body = json.loads(row.body)
            queue = f"stores.{(body.get('payload') or {}).get('unit', '')}"
        runtime.celery.send_task(row.task, args=[json.loads(row.body)], queue=queue)
        session.execute(update(table).where(table.c.id == args.id).values(replayed_at=datetime.now(UTC)))
    print(f"replayed dead letter #{args.id} to {row.task} on {queue}")
    return 0


def cmd_prune(args) -> int:
    """Delete expired messages of each service now, with a progress line every ten batches."""
    from shared.messaging import PRUNE_BATCH

    services = [args.service] if args.service else list(registry.ALL)
    for service in services:
        runtime = registry.runtime(service)
        days = args.days or runtime.settings.message_retention_days
        started = time.monotonic()

        def progress(table: str, deleted: int, service=service) -> None:
            if deleted and deleted % (10 * PRUNE_BATCH) == 0:
                print(f"prune: {service} {table}: {deleted:,} rows deleted so far", flush=True)

        deleted = runtime.prune_messages(days, progress=progress)
        print(
            f"prune: {service}: {deleted['outbox']:,} published outbox rows and {deleted['inbox']:,} inbox rows"
            f" older than {days} days deleted"
            f" in {time.monotonic() - started:.1f}s",
            flush=True,
        )
    return 0


def cmd_statements(args) -> int:
    """Build (or build again) one month's statements now, a line per unit as it goes."""
    from services.billing import services
    from services.billing.config import logistics_costs, runtime

    def progress(month: str, done: int, total: int) -> None:
        print(f"statements {month}: {done}/{total} units", flush=True)

    started = time.monotonic()
    statements = services.run_statements(
        runtime.db, args.month, logistics_costs, timezone=runtime.settings.timezone, progress=progress
    )
    net = sum(to_cents(s["net_payable"]) for s in statements)
    print(
        f"statements {args.month}: {len(statements)} units, net payable {format_cents(net)}"
        f" in {time.monotonic() - started:.1f}s",
        flush=True,
    )
    return 0


def cmd_alipay_pay(args) -> int:
    """Notify the running demo mall of a paid (or closed) trade, signed as Alipay with the sandbox key."""
    from . import http
    from .partners import SANDBOX_FOLDER, AlipaySigner

    settings = Settings.from_env()
    folder = settings.var_dir / SANDBOX_FOLDER
    if not (folder / "alipay-private.pem").exists():
        print(f"alipay-pay: no sandbox key under {folder}: only `mall run`'s embedded demo has one", flush=True)
        return 2
    signer = AlipaySigner.in_folder(folder)
    notice = AlipaySigner.trade_notice(args.out_trade_no, args.amount, args.status, at=datetime.now(UTC))
    fields = signer.sign(notice)  # paid now: the sale counts in today's month
    url = (args.url or settings.service_url("gateway")).rstrip("/") + "/webhooks/alipay"
    status, answer = http.call("POST", url, form=fields)
    print(f"alipay-pay: {status} {answer}", flush=True)
    return 0 if status == 200 else 1


def cmd_seed(args) -> int:
    from .seed import seed

    return seed(args.url, args.admin)


def cmd_catalogue(args) -> int:
    from pathlib import Path

    from .catalogue import render, replace_block

    if args.write:
        path = Path(__file__).resolve().parent.parent / "docs" / "messages.md"
        path.write_text(replace_block(path.read_text()))
        print(f"wrote {path}")
    else:
        print(render())
    return 0


def cmd_run(args) -> int:
    from .supervisor import run

    return run(seed_demo=not args.no_seed, units_worker=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mall", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="the whole mall in the foreground: migrate, start every process, seed demo data")
    p.add_argument("--no-seed", action="store_true", help="start empty (tests)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("migrate", help="upgrade each service's own database to its latest migration")
    p.add_argument("--service", action="append", choices=registry.ALL)
    p.set_defaults(func=cmd_migrate)

    p = sub.add_parser("web", help="one service's HTTP API")
    p.add_argument("--service", required=True, choices=registry.ALL)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int)
    p.add_argument("--threads", type=int, default=8)
    p.set_defaults(func=cmd_web)

    p = sub.add_parser("worker", help="a Celery worker: one service's queue, or one department's own queue")
    p.add_argument("--service", choices=registry.INNER)
    p.add_argument("--unit", action="append", help="a unit code: consume stores.<unit> (repeatable)")
    p.add_argument("--also-unit", action="append", help=argparse.SUPPRESS)
    p.add_argument(
        "--pool", choices=["solo", "prefork", "threads"], help="default: solo, or threads for orders on a server"
    )
    p.add_argument("--concurrency", type=int)
    p.add_argument("--loglevel", default=os.environ.get("MALL_LOG_LEVEL", "INFO"))
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser(
        "beat", help="the scheduler: saga deadlines, closing auctions, delivery batch cut-offs, statements on the 15th"
    )
    p.set_defaults(func=cmd_beat)

    p = sub.add_parser(
        "alipay-pay",
        help="the embedded demo only: tell the mall an online order was paid, as Alipay would (sandbox key)",
    )
    p.add_argument("--out-trade-no", required=True, help="from POST /api/orders/<number>/pay")
    p.add_argument("--amount", required=True, help='the order\'s total, e.g. "25.00"')
    p.add_argument("--status", default="TRADE_SUCCESS", choices=["TRADE_SUCCESS", "TRADE_FINISHED", "TRADE_CLOSED"])
    p.add_argument("--url", default=None, help="the gateway (default: this mall's)")
    p.set_defaults(func=cmd_alipay_pay)

    p = sub.add_parser("seed", help="load the demo data through the gateway's API")
    p.add_argument("--url", default=None)
    p.add_argument("--admin", default=None, help="username:password of an administrator")
    p.set_defaults(func=cmd_seed)

    p = sub.add_parser("dlq", help="dead letters: list them, or replay one")
    p.add_argument("action", choices=["list", "replay"])
    p.add_argument("id", nargs="?", type=int)
    p.add_argument("--service", choices=registry.ALL)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_dlq)

    p = sub.add_parser("prune", help="delete published outbox rows and inbox rows older than the retention, now")
    p.add_argument("--service", choices=registry.ALL)
    p.add_argument("--days", type=_days, help="the retention in days (default MALL_MESSAGE_RETENTION_DAYS, 14)")
    p.set_defaults(func=cmd_prune)

    p = sub.add_parser("statements", help="build a month's statements now (beat does it on the 15th)")
    p.add_argument("--month", required=True, type=_month, help="the month, YYYY-MM (mall time zone)")
    p.set_defaults(func=cmd_statements)

    p = sub.add_parser("catalogue", help="print the message catalogue (docs/messages.md) from shared/contracts.py")
    p.add_argument("--write", action="store_true")
    p.set_defaults(func=cmd_catalogue)

    args = parser.parse_args(argv)
    return args.func(args) or 0


if __name__ == "__main__":
    sys.exit(main())
