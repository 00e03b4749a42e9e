"""`make bench`: orders through the real mall against raw Celery round trips on the same broker, in one run.

Steps (each prints what it measured):
1. start the mall (`mall run`, Redis + PostgreSQL, or the embedded default with --embedded) and build a
   world of auto-packing units with plenty of stock;
2. baseline: raw Celery round trips (ping -> pong) on the same broker, with the same worker settings
   and as many worker processes as the mall runs;
3. load: N orders from concurrent storefront clients through the gateway, each to ready_to_ship;
   throughput, latency from POST /api/orders to paid and to ready_to_ship, messages per order, CPU per
   order summed over every mall process, peak memory per process;
4. paced: 10 orders/s, the latency a shopper sees when the mall is not saturated;
5. catalogue search latency with 100,000 products;
6. scale: the load again with one more worker process per service.
The last line is `bench: orders_per_s=<x> ratio=<r> p99_ms=<y> cpu_ms_per_order=<c>`.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import requests
import sqlalchemy as sa

from mall.harness import Mall, postgres_available, redis_available, start

SERVICES = ("gateway", "catalog", "orders", "stores", "logistics", "billing")
CLK_TCK = os.sysconf("SC_CLK_TCK")


def say(text: str) -> None:
    print(text, flush=True)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def engine(mall: Mall, service: str) -> sa.Engine:
    url = mall.env.get(f"MALL_DATABASE_URL_{service.upper()}") or f"sqlite:///{mall.env['MALL_VAR_DIR']}/{service}.db"
    return sa.create_engine(url)


def mall_pids(mall: Mall) -> list[int]:
    out = subprocess.run(["pgrep", "-s", str(mall.process.pid)], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


def cpu_by_process(pids: list[int]) -> dict[int, float]:
    """CPU seconds (user + system) each process has used so far."""
    out: dict[int, float] = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            out[pid] = (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime
        except (OSError, IndexError):
            pass
    return out


def cpu_seconds(pids: list[int]) -> float:
    return sum(cpu_by_process(pids).values())


def process_name(pid: int) -> str:
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return str(pid)
    return cmd.split(" -m mall ", 1)[-1] if " -m mall " in cmd else cmd[-40:]


def peak_memory(pids: list[int]) -> dict[str, float]:
    """Peak resident memory (VmHWM) per process, named by its mall command line."""
    out: dict[str, float] = {}
    for pid in pids:
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        hwm = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM")), 0)
        name = cmd.split(" -m mall ", 1)[-1] if " -m mall " in cmd else cmd[-60:]
        out[f"{name} [{pid}]"] = hwm / 1024
    return out


def build_world(mall: Mall, units: int) -> list[str]:
    prefix = uuid.uuid4().hex[:5].upper()
    skus = []
    for i in range(units):
        unit = mall.unit(f"BENCH-{prefix}-{i}", auto_pack=True)
        sku = mall.product(f"BENCH-{prefix}-SKU{i}", "9.90", unit)["sku"]
        mall.stock_in(unit, sku, 1_000_000)
        skus.append(sku)
    return skus


def customers(mall: Mall, count: int) -> list[str]:
    return [mall.customer("1000000.00")[0] for _ in range(count)]


def place_orders(
    mall: Mall, tokens: list[str], skus: list[str], count: int, clients: int, rate: float | None = None
) -> dict[str, float]:
    """Place `count` orders from `clients` threads (or at `rate` per second); returns number -> time posted."""
    posted: dict[str, float] = {}
    lock = threading.Lock()
    body_address = {
        "name": "Li Ming",
        "phone": "13800000000",
        "city": "Nanning",
        "line": "1 Minzu Ave",
        "lat": 22.82,
        "lon": 108.33,
    }
    started = time.monotonic()

    def client(index: int) -> None:
        session = requests.Session()
        rng = random.Random(index)
        for k in range(index, count, clients):
            if rate:
                wait = started + k / rate - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
            token = tokens[k % len(tokens)]
            body = {
                "items": [{"sku": rng.choice(skus), "quantity": 1}],
                "address": body_address,
                "payment_method": "balance",
            }
            t0 = time.time()
            response = session.post(
                mall.base + "/api/orders",
                json=body,
                timeout=60,
                headers={"Authorization": "Bearer " + token, "Idempotency-Key": uuid.uuid4().hex},
            )
            if response.status_code != 202:
                raise RuntimeError(f"order refused: {response.status_code} {response.text[:200]}")
            with lock:
                posted[response.json()["number"]] = t0

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return posted


def wait_ready(mall: Mall, numbers: list[str], timeout: float) -> float:
    orders = engine(mall, "orders")
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            with orders.connect() as conn:
                ready = conn.execute(sa.text("SELECT count(*) FROM orders WHERE status = 'ready_to_ship'")).scalar()
            if ready >= len(numbers):
                return time.time()
            time.sleep(0.1)
    finally:
        orders.dispose()
    raise RuntimeError(f"only {ready} of {len(numbers)} orders became ready to ship in {timeout}s")


def wait_quiet(mall: Mall, timeout: float = 120) -> None:
    """Until no service has received a message for a second: the last load's trailing replies are done."""
    engines = [engine(mall, service) for service in SERVICES]
    deadline = time.monotonic() + timeout
    last = None
    try:
        while time.monotonic() < deadline:
            seen = 0
            for e in engines:
                with e.connect() as conn:
                    seen += conn.execute(sa.text("SELECT count(*) FROM inbox")).scalar()
            if seen == last:
                return
            last = seen
            time.sleep(1.0)
    finally:
        for e in engines:
            e.dispose()


def latencies(mall: Mall, posted: dict[str, float]) -> tuple[list[float], list[float], float]:
    """(post -> paid, post -> ready_to_ship) in ms per order, from the orders' timelines; and the last ready time."""
    paid: dict[str, float] = {}
    ready: dict[str, float] = {}
    orders = engine(mall, "orders")
    with orders.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT order_number, at, event FROM timeline "
                "WHERE event LIKE 'payment captured%' OR event = 'ready to ship'"
            )
        ).all()
    orders.dispose()
    for number, at, event in rows:
        (paid if event.startswith("payment") else ready)[number] = at.timestamp()
    to_paid = [(paid[n] - t) * 1000 for n, t in posted.items() if n in paid]
    to_ready = [(ready[n] - t) * 1000 for n, t in posted.items() if n in ready]
    return to_paid, to_ready, max(ready[n] for n in posted if n in ready)


def messages_per_order(mall: Mall, numbers: list[str]) -> float:
    """Outbox rows (one per message and consumer) of these orders, across every service, per order."""
    query = sa.text("SELECT count(*) FROM outbox WHERE correlation_id IN :n").bindparams(
        sa.bindparam("n", expanding=True)
    )
    total = 0
    for service in SERVICES:
        e = engine(mall, service)
        with e.connect() as conn:
            for i in range(0, len(numbers), 500):
                total += conn.execute(query, {"n": numbers[i : i + 500]}).scalar()
        e.dispose()
    return total / len(numbers)


def baseline(mall: Mall, processes: int, round_trips: int, stock_transport: bool = False) -> float:
    """Raw Celery round trips per second on the mall's broker, `processes` solo workers.

    With `stock_transport` the workers use kombu's own Redis transport instead of the mall's
    (`shared/redis_broker.py`), which the ratio's baseline shares with the mall: a figure for scale,
    showing how much of the baseline is the mall's own transport work.
    """
    counter = Path(mall.env["MALL_VAR_DIR"]) / f"bench-pongs-{uuid.uuid4().hex[:6]}"
    env = dict(mall.env, MALL_BENCH_COUNTER=str(counter))
    if stock_transport:
        env["MALL_BENCH_STOCK_TRANSPORT"] = "1"
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "bench.baseline",
                "worker",
                "-Q",
                "bench.ping,bench.pong",
                "--pool",
                "solo",
                "--concurrency",
                "1",
                "-n",
                f"bench{i}@%h",
                "--without-gossip",
                "--without-mingle",
                "--loglevel",
                "WARNING",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for i in range(processes)
    ]
    try:
        saved = dict(os.environ)
        os.environ.update(env)
        try:
            from bench import baseline as raw

            raw.app.send_task("bench.ping", args=[0], queue="bench.ping")  # warm up: workers connected
            deadline = time.monotonic() + 60
            while not counter.exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            counter.unlink()
            started = time.monotonic()
            with raw.app.producer_or_acquire() as producer:
                for n in range(round_trips):
                    raw.app.send_task("bench.ping", args=[n], queue="bench.ping", producer=producer)
            while (counter.stat().st_size if counter.exists() else 0) < round_trips:
                if time.monotonic() - started > 300:
                    raise RuntimeError("baseline did not finish")
                time.sleep(0.02)
            return round_trips / (time.monotonic() - started)
        finally:
            os.environ.clear()
            os.environ.update(saved)
    finally:
        for w in workers:
            w.terminate()
        for w in workers:
            w.wait(timeout=30)


def search_latency(mall: Mall, products: int) -> tuple[float, float]:
    """Fill the catalogue to `products` rows straight into its database, then time searches via the gateway."""
    e = engine(mall, "catalog")
    with e.begin() as conn:
        have = conn.execute(sa.text("SELECT count(*) FROM products")).scalar()
        category = conn.execute(sa.text("SELECT id FROM categories ORDER BY id LIMIT 1")).scalar()
        maker = conn.execute(sa.text("SELECT id FROM manufacturers ORDER BY id LIMIT 1")).scalar()
        supplier = conn.execute(sa.text("SELECT id FROM suppliers ORDER BY id LIMIT 1")).scalar()
        columns = [c["name"] for c in sa.inspect(conn).get_columns("products")]
    say(f"search: filling the catalogue to {products:,} products (columns: {', '.join(columns)})")
    words = ["rice", "tea", "lipstick", "scarf", "kettle", "television", "noodles", "shirt", "cream", "mango"]
    rows = []
    now = datetime.now(UTC)
    for i in range(have, products):
        rows.append(
            {
                "sku": f"FILL-{i:07d}",
                "name": f"{random.choice(words).title()} no. {i}",
                "price_cents": 100 + (i * 37) % 100_000,
                "category_id": category,
                "manufacturer_id": maker,
                "supplier_id": supplier,
                "division": "department_store",
                "unit": "BENCH",
                "views": i % 97,
                "units_sold": 0,
                "created_at": now,
            }
        )
    table = sa.Table("products", sa.MetaData(), autoload_with=e)
    usable = [{k: v for k, v in r.items() if k in table.c} for r in rows]
    with e.begin() as conn:
        for chunk in range(0, len(usable), 5000):
            conn.execute(table.insert(), usable[chunk : chunk + 5000])
            if chunk and chunk % 25000 == 0:
                say(f"search: {have + chunk:,} products")
        if e.dialect.name == "postgresql":
            conn.execute(sa.text("ANALYZE products"))
    e.dispose()
    session = requests.Session()
    queries = [
        "?q=tea",
        "?q=lipstick&sort=price",
        "?category=Cosmetics&sort=-price",
        "?min_price=10&max_price=20",
        "?sort=hot",
        "?sort=newest&page=3",
        "?q=no.%2012345",
        "?manufacturer=Maogeping&sort=price",
    ]
    times = []
    for _ in range(5):
        for q in queries:
            t0 = time.perf_counter()
            response = session.get(mall.base + "/api/products" + q, timeout=30)
            times.append((time.perf_counter() - t0) * 1000)
            assert response.status_code == 200, response.text[:200]
    return pct(times, 50), pct(times, 95)


def server_pids() -> dict[str, list[int]]:
    """The machine's PostgreSQL and Redis processes (shared with anything else using them)."""
    found = {}
    for name in ("postgres", "redis-server"):
        out = subprocess.run(["pgrep", "-x", name], capture_output=True, text=True)
        found[name] = [int(p) for p in out.stdout.split()]
    return found


def load(mall: Mall, tokens: list[str], skus: list[str], orders: int, clients: int) -> dict:
    pids = mall_pids(mall)
    servers = server_pids()
    outside = [os.getpid()] + [p for group in servers.values() for p in group]
    before = cpu_by_process(pids)
    before_outside = cpu_by_process(outside)
    t0 = time.time()
    posted = place_orders(mall, tokens, skus, orders, clients)
    wait_ready(mall, list(posted), timeout=max(120, orders / 2))
    after = cpu_by_process(pids)
    after_outside = cpu_by_process(outside)
    outside_seconds = 0.0
    for name, group in [*servers.items(), ("bench clients (this process)", [os.getpid()])]:
        seconds = sum(after_outside.get(p, 0.0) - before_outside.get(p, 0.0) for p in group)
        outside_seconds += seconds
        say(f"cpu: {seconds * 1000 / orders:6.1f} ms per order  {name} (not counted in the mall's figure)")
    spent = {pid: after.get(pid, 0.0) - before.get(pid, 0.0) for pid in pids}
    cpu = sum(spent.values())
    by_kind: dict[str, float] = defaultdict(float)
    for pid, seconds in spent.items():
        name = process_name(pid)
        by_kind["worker --unit (all units)" if name.startswith("worker --unit") else name] += seconds
    for name, seconds in sorted(by_kind.items(), key=lambda kv: -kv[1])[:8]:
        say(f"cpu: {seconds * 1000 / orders:6.1f} ms per order  {name}")
    to_paid, to_ready, last = latencies(mall, posted)
    return {
        "orders": orders,
        "seconds": last - t0,
        "orders_per_s": orders / (last - t0),
        "to_paid": to_paid,
        "to_ready": to_ready,
        "cpu_ms_per_order": cpu * 1000 / orders,
        "all_cpu_ms_per_order": (cpu + outside_seconds) * 1000 / orders,
        "numbers": list(posted),
        "pids": pids,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench", description=__doc__.splitlines()[0])
    parser.add_argument("--embedded", action="store_true", help="on the embedded default instead of Redis + PostgreSQL")
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--units", type=int, default=4)
    parser.add_argument("--round-trips", type=int, default=4000)
    parser.add_argument("--paced-seconds", type=float, default=20.0)
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--skip-scale", action="store_true", help="skip the run with one more worker per service")
    args = parser.parse_args(argv)

    mode = "embedded" if args.embedded else "servers"
    if mode == "servers" and not (redis_available() and postgres_available()):
        say("bench: Redis and PostgreSQL are not reachable; use --embedded")
        return 2
    root = Path(tempfile.mkdtemp(prefix="mall-bench-"))
    # Production's reply deadline and visibility timeout, not the tests' short ones.
    extra = {"MALL_REPLY_DEADLINE_SECONDS": "30", "MALL_VISIBILITY_TIMEOUT": "60", "MALL_LOG_LEVEL": "INFO"}
    if mode == "servers":
        extra["MALL_BROKER_URL"] = "redis://127.0.0.1:6379/14"
    say(f"bench: {mode}, {args.orders} orders from {args.clients} clients, {os.cpu_count()} cores; logs in {root}")

    mall = start(mode, root, extra=extra, name="bench")
    try:
        skus = build_world(mall, args.units)
        tokens = customers(mall, args.clients)
        time.sleep(2)  # the new units' workers start
        workers = len(mall.pids("mall worker"))
        raw = baseline(mall, workers, args.round_trips)
        say(f"baseline: {raw:,.0f} raw Celery round trips/s = {2 * raw:,.0f} messages/s ({workers} solo workers)")
        stock = baseline(mall, workers, args.round_trips, stock_transport=True)
        say(
            f"baseline: {stock:,.0f} round trips/s on kombu's own Redis transport, for scale "
            "(the ratio uses the line above: the mall's transport, as its workers do)"
        )

        place_orders(mall, tokens, skus, 50, args.clients)  # warm up connections and caches
        time.sleep(3)
        result = load(mall, tokens, skus, args.orders, args.clients)
        per_order = messages_per_order(mall, result["numbers"])
        ratio = result["orders_per_s"] * per_order / (2 * raw)
        say(
            f"load: {result['orders']} orders in {result['seconds']:.1f}s = {result['orders_per_s']:.1f} orders/s; "
            f"{per_order:.1f} messages/order; ratio to raw broker {ratio:.2f} "
            f"(to kombu's own transport, for scale: {result['orders_per_s'] * per_order / (2 * stock):.2f})"
        )
        say(
            f"load: post->paid p50 {pct(result['to_paid'], 50):.0f} ms p95 {pct(result['to_paid'], 95):.0f} ms "
            f"p99 {pct(result['to_paid'], 99):.0f} ms; post->ready_to_ship p50 {pct(result['to_ready'], 50):.0f} ms "
            f"p95 {pct(result['to_ready'], 95):.0f} ms p99 {pct(result['to_ready'], 99):.0f} ms"
        )
        say(
            f"load: CPU {result['cpu_ms_per_order']:.1f} ms per order across {len(result['pids'])} mall processes "
            "(Redis and PostgreSQL not counted)"
        )
        # What the cores allow: with every process's CPU per order counted (the servers' and the clients'
        # too), this many orders per second would keep all cores busy. Near it, the mall is CPU-bound and
        # only less CPU per order helps; far below it, it is waiting (round trips, a narrow process).
        cores = os.cpu_count() or 1
        say(
            f"load: {result['all_cpu_ms_per_order']:.1f} ms of CPU per order with PostgreSQL, Redis and the clients: "
            f"{cores} cores allow at most {cores * 1000 / result['all_cpu_ms_per_order']:.1f} orders/s"
        )
        grouped: dict[str, float] = defaultdict(float)
        for name, mb in sorted(peak_memory(result["pids"]).items()):
            say(f"memory: {mb:6.1f} MB peak  {name}")
            grouped[name.split(" [")[0]] = max(grouped[name.split(" [")[0]], mb)

        wait_quiet(mall)  # replies after ready_to_ship (bookings) must not queue ahead of the paced orders
        paced_count = int(10 * args.paced_seconds)
        posted = place_orders(mall, tokens, skus, paced_count, 4, rate=10.0)
        wait_ready(mall, list(posted) + result["numbers"], timeout=120)
        to_paid, to_ready, _ = latencies(mall, posted)
        say(
            f"paced 10/s: {paced_count} orders; "
            f"post->paid p50 {pct(to_paid, 50):.0f} ms p99 {pct(to_paid, 99):.0f} ms; "
            f"post->ready_to_ship p50 {pct(to_ready, 50):.0f} ms p99 {pct(to_ready, 99):.0f} ms"
        )
        paced_p99 = pct(to_paid, 99)

        if args.products:
            p50, p95 = search_latency(mall, args.products)
            say(f"search: {args.products:,} products, gateway search p50 {p50:.0f} ms p95 {p95:.0f} ms")
    finally:
        mall.stop()

    if not args.skip_scale:
        mall = start(mode, root, extra=extra | {"MALL_WORKERS_PER_SERVICE": "2"}, name="bench")
        try:
            skus = build_world(mall, args.units)
            tokens = customers(mall, args.clients)
            time.sleep(2)
            place_orders(mall, tokens, skus, 50, args.clients)
            time.sleep(3)
            more = load(mall, tokens, skus, args.orders // 2, args.clients)
            say(
                f"scale: 2 workers per service: {more['orders_per_s']:.1f} orders/s "
                f"({more['orders_per_s'] / result['orders_per_s']:.2f}x of 1 per service), "
                f"CPU {more['cpu_ms_per_order']:.1f} ms per order"
            )
        finally:
            mall.stop()

    say(
        f"bench: orders_per_s={result['orders_per_s']:.1f} ratio={ratio:.2f} p99_ms={paced_p99:.0f} "
        f"cpu_ms_per_order={result['cpu_ms_per_order']:.1f}"
    )
    return 0
