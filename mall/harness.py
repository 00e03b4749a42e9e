"""A whole mall in a subprocess, driven over HTTP: used by the end-to-end tests, the fault suite and the benchmark.

`start(mode, root)` runs `mall run --no-seed` on Redis + PostgreSQL (mode "servers": fresh databases,
a private Redis database) or on the embedded default (mode "embedded"), on free ports, and returns a
`Mall` that knows how to call the gateway like a storefront, staff and partners do.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from mall import http

REDIS_URL = os.environ.get("MALL_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
POSTGRES_URL = os.environ.get("MALL_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
#: Put before every test database's name, so that two checkouts can run their suites on one server at once
#: (with MALL_TEST_REDIS_URL naming another Redis database too).
DATABASE_PREFIX = os.environ.get("MALL_TEST_DB_PREFIX", "")


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def redis_available() -> bool:
    from urllib.parse import urlparse

    u = urlparse(REDIS_URL)
    return _reachable(u.hostname or "127.0.0.1", u.port or 6379)


def postgres_available() -> bool:
    import sqlalchemy as sa

    u = sa.engine.make_url(POSTGRES_URL)
    if not _reachable(u.host or "127.0.0.1", u.port or 5432):
        return False
    try:
        engine = sa.create_engine(u)
        with engine.connect():
            pass
        engine.dispose()
        return True
    except Exception:
        return False


def fresh_postgres_database(name: str) -> str:
    """Drop and create database `name` (after MALL_TEST_DB_PREFIX); returns its URL."""
    import sqlalchemy as sa

    name = DATABASE_PREFIX + name

    base = sa.engine.make_url(POSTGRES_URL)
    engine = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


def free_port() -> int:
    """A port nobody listens on, below the kernel's range of ephemeral ports.

    A port the kernel hands out (bind to 0) is ephemeral: between choosing it and the server binding
    it, an outgoing connection (a client's, PostgreSQL's, Redis') can be given the same number as its
    local end, and the server fails with "Address already in use" (seen in CI, two malls running).
    Below that range the kernel never picks one by itself.
    """
    first_ephemeral = 32768
    try:
        first_ephemeral = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        pass
    low, high = 15000, max(15001, first_ephemeral - 1)
    for _ in range(200):
        port = random.randint(low, high)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port between {low} and {high}")


ADMIN = ("e2e_admin", "E2e-Admin-Pass-1")
HOME_CITY = "Nanning"
SERVICES = ("gateway", "catalog", "orders", "stores", "logistics", "billing")
TERMINAL_OR_WAITING = {
    "completed",
    "cancelled",
    "delivered",
    "awaiting_stock",
    "awaiting_payment",
    "awaiting_check",
    "ready_to_ship",
    "packing",
    "shipping",
}


class Mall:
    """One running mall and the calls a storefront, staff and partners make to it."""

    def __init__(self, mode: str, env: dict[str, str], log_path: Path):
        self.mode = mode
        self.env = env
        self.log_path = log_path
        self.base = env["MALL_GATEWAY_URL"]
        self.process: subprocess.Popen | None = None
        self._admin: str | None = None

    # --- process --------------------------------------------------------------------------------
    def start(self, timeout: float = 120.0) -> None:
        self.log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mall", "run", "--no-seed"],
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mall exited early:\n{self.tail()}")
            if self.call("GET", "/api/health")[0] == 200:
                return
            time.sleep(0.5)
        raise RuntimeError(f"mall not healthy after {timeout}s:\n{self.tail()}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.log.close()

    def tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def pids(self, pattern: str) -> list[int]:
        """Processes of this mall whose command line contains `pattern` (e.g. 'worker --service orders')."""
        out = subprocess.run(["pgrep", "-f", "-s", str(self.process.pid), pattern], capture_output=True, text=True)
        return [int(p) for p in out.stdout.split()]

    # --- HTTP -----------------------------------------------------------------------------------
    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        token: str | None = None,
        headers: dict[str, str] | None = None,
        form: dict[str, str] | None = None,
        raw: bytes | None = None,
    ) -> tuple[int, Any]:
        return http.call(method, self.base + path, body, token=token, headers=headers, form=form, raw=raw)

    def alipay(self, out_trade_no: str, amount: str, status: str = "TRADE_SUCCESS", **extra: str) -> tuple[int, Any]:
        """Alipay's notification of a trade, signed with this mall's test key pair, posted to its webhook."""
        from mall.partners import AlipaySigner

        signer = AlipaySigner.in_folder(Path(self.env["MALL_VAR_DIR"]))
        fields = signer.sign(AlipaySigner.trade_notice(out_trade_no, amount, status, **extra))
        return self.call("POST", "/webhooks/alipay", form=fields)

    def ok(self, method: str, path: str, body: Any = None, token: str | None = None, **kw) -> Any:
        status, answer = self.call(method, path, body, token, **kw)
        assert 200 <= status < 300, f"{method} {path} -> {status} {answer}"
        return answer

    def login(self, username: str, password: str) -> str:
        return self.ok("POST", "/api/auth/login", {"username": username, "password": password})["access_token"]

    @property
    def admin(self) -> str:
        if self._admin is None:
            self._admin = self.login(*ADMIN)
        return self._admin

    # --- world building (through the admin API) -------------------------------------------------
    def unit(
        self,
        code: str,
        kind: str = "counter",
        division: str = "department_store",
        city: str = HOME_CITY,
        lat: float = 22.817,
        lon: float = 108.324,
        auto_pack: bool = True,
        **extra,
    ) -> str:
        self.ok(
            "POST",
            "/api/admin/units",
            {
                "code": code,
                "name": f"{code} unit",
                "kind": kind,
                "division": division,
                "city": city,
                "lat": lat,
                "lon": lon,
                "auto_pack": auto_pack,
                **extra,
            },
            self.admin,
        )
        return code

    def product(
        self,
        sku: str,
        price: str,
        unit: str | None,
        division: str = "department_store",
        name: str | None = None,
        category: str = "Cosmetics",
    ) -> dict:
        body = {
            "sku": sku,
            "name": name or sku.replace("-", " ").title(),
            "price": price,
            "category": category,
            "manufacturer": "Maogeping",
            "supplier": "Guangzhou Beauty Trading",
            "division": division,
        }
        if unit:
            body["unit"] = unit
        return self.ok("POST", "/api/admin/products", body, self.admin)

    def stock_in(self, unit: str, sku: str, quantity: int) -> dict:
        return self.ok("POST", "/api/admin/stock", {"unit": unit, "sku": sku, "quantity": quantity}, self.admin)

    def customer(self, balance: str = "1000.00", name: str | None = None) -> tuple[str, int]:
        username = name or f"shopper_{uuid.uuid4().hex[:8]}"
        registered = self.ok("POST", "/api/auth/register", {"username": username, "password": "Shopper-Pass-1"})
        if balance != "0.00":
            self.ok(
                "POST",
                f"/api/admin/members/{registered['id']}/balance",
                {"delta": balance, "reason": "e2e"},
                self.admin,
            )
        return self.login(username, "Shopper-Pass-1"), registered["id"]

    def staff(self, role: str, unit: str | None = None) -> str:
        username = f"{role}_{uuid.uuid4().hex[:8]}"
        body = {"username": username, "password": "Staff-Pass-12", "role": role}
        if unit:
            body["unit"] = unit
        self.ok("POST", "/api/admin/staff", body, self.admin)
        return self.login(username, "Staff-Pass-12")

    # --- shopping -------------------------------------------------------------------------------
    def place(
        self,
        token: str,
        items: list[tuple[str, int]],
        city: str = HOME_CITY,
        method: str = "balance",
        key: str | None = None,
        lat: float = 22.82,
        lon: float = 108.33,
        invoice: dict[str, Any] | None = None,
    ) -> tuple[int, Any]:
        body = {
            "items": [{"sku": s, "quantity": q} for s, q in items],
            "address": {
                "name": "Li Ming",
                "phone": "13800000000",
                "city": city,
                "line": "1 Minzu Ave",
                "lat": lat,
                "lon": lon,
            },
            "payment_method": method,
        } | ({"invoice": invoice} if invoice else {})
        return self.call("POST", "/api/orders", body, token, headers={"Idempotency-Key": key or uuid.uuid4().hex})

    def order(self, number: str, token: str) -> dict:
        return self.ok("GET", f"/api/orders/{number}", token=token)

    def wait_for(self, number: str, token: str, statuses: set[str] | str, timeout: float = 60.0) -> dict:
        wanted = {statuses} if isinstance(statuses, str) else set(statuses)
        deadline = time.monotonic() + timeout
        order: dict = {}
        while time.monotonic() < deadline:
            order = self.order(number, token)
            if order["status"] in wanted:
                return order
            time.sleep(0.2)
        raise AssertionError(
            f"order {number} stayed {order.get('status')} (wanted {wanted}); "
            f"timeline {order.get('timeline')}\n{self.tail(30)}"
        )


def environment(mode: str, var_dir: Path, extra: dict[str, str] | None = None, name: str = "e2e") -> dict[str, str]:
    """The environment of a mall of its own: free ports, fresh databases `mall_<name>_<service>`."""
    extra = extra or {}
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALL_")}
    env.update(
        {
            "MALL_VAR_DIR": str(var_dir),
            "MALL_BOOTSTRAP_ADMIN": ":".join(ADMIN),
            "MALL_HOME_CITY": HOME_CITY,
            "MALL_REPLY_DEADLINE_SECONDS": "4",
            "MALL_VISIBILITY_TIMEOUT": "10",
            "MALL_LOGIN_ATTEMPTS_PER_MINUTE": "1000",
            # Auctions may end seconds after they are listed, so a journey sees one close without waiting.
            "MALL_AUCTION_MIN_SECONDS": "2",
            "PYTHONUNBUFFERED": "1",
        }
    )
    # The tests' own Alipay key pair: the mall verifies with its public half, Mall.alipay signs with the other.
    from mall.partners import AlipaySigner

    AlipaySigner.in_folder(var_dir)
    env["MALL_ALIPAY_PUBLIC_KEY"] = str(var_dir / "alipay-public.pem")
    port = free_port()
    env["MALL_PORT"] = str(port)
    env["MALL_GATEWAY_URL"] = f"http://127.0.0.1:{port}"
    for service in SERVICES[1:]:
        env[f"MALL_{service.upper()}_URL"] = f"http://127.0.0.1:{free_port()}"
    if mode == "servers":
        import redis

        broker = extra.get("MALL_BROKER_URL", REDIS_URL)
        redis.Redis.from_url(broker).flushdb()
        env["MALL_BROKER_URL"] = broker
        for service in SERVICES:
            env[f"MALL_DATABASE_URL_{service.upper()}"] = fresh_postgres_database(f"mall_{name}_{service}")
    env.update(extra)
    return env


def start(mode: str, tmp_root: Path, extra: dict[str, str] | None = None, name: str = "e2e") -> Mall:
    var_dir = tmp_root / f"var-{name}-{mode}"
    var_dir.mkdir(parents=True, exist_ok=True)
    mall = Mall(mode, environment(mode, var_dir, extra, name), tmp_root / f"mall-{name}-{mode}.log")
    mall.start()
    return mall
