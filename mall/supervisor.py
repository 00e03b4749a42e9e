"""`mall run`: every process of the mall on one machine, in the foreground, stopped together.

It migrates every database, starts each service's web process and worker, a worker for the units'
queues (and one more for each unit added while it runs, so a new department is served at once),
beat, and the gateway; restarts a process that dies; loads the demo data through the gateway's API;
and on Ctrl-C or SIGTERM stops everything it started.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from shared.config import Settings

from . import http, registry

DEMO_ADMIN = "admin:Mall-Admin-2026"


@dataclass
class Child:
    name: str
    argv: list[str]
    process: subprocess.Popen | None = None
    restarts: list[float] = field(default_factory=list)

    def start(self, env: dict[str, str]) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "mall", *self.argv], env=env)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    return http.call("GET", url, headers=headers, timeout=2.0)


class Supervisor:
    def __init__(self, settings: Settings, env: dict[str, str]):
        self.settings = settings
        self.env = env
        self.children: list[Child] = []
        self.units_served: set[str] = set()
        self.stopping = False

    def add(self, name: str, *argv: str) -> Child:
        child = Child(name, list(argv))
        child.start(self.env)
        self.children.append(child)
        return child

    def known_units(self) -> list[str] | None:
        status, body = _get(
            self.settings.service_url("stores") + "/internal/units", {"X-Service-Token": self.settings.service_token}
        )
        if status != 200:
            return None
        return sorted(u["code"] for u in body.get("items", []))

    def start_all(self) -> None:
        for service in registry.INNER:
            self.add(f"web.{service}", "web", "--service", service)
        self.add("web.gateway", "web", "--service", "gateway")
        # More worker processes per service is how the mall scales (MALL_WORKERS_PER_SERVICE).
        copies = int(self.env.get("MALL_WORKERS_PER_SERVICE", "1"))
        for service in ("catalog", "orders", "logistics", "billing"):
            for copy in range(copies):
                self.add(f"worker.{service}.{copy}", "worker", "--service", service)
        units = self.wait_for_units_list()
        argv = ["worker", "--service", "stores"]
        for unit in units:
            argv += ["--also-unit", unit]
        for copy in range(copies):
            self.add(f"worker.stores.{copy}", *argv)
        self.units_served = set(units)
        self.add("beat", "beat")

    def wait_for_units_list(self, timeout: float = 60.0) -> list[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            units = self.known_units()
            if units is not None:
                return units
            time.sleep(0.3)
        raise SystemExit("stores' web process did not start")

    def watch_units(self) -> None:
        """A unit created while the mall runs gets a worker of its own right away."""
        units = self.known_units()
        if units is None:
            return
        for unit in units:
            if unit not in self.units_served:
                self.units_served.add(unit)
                self.add(f"worker.stores.{unit}", "worker", "--unit", unit)
                print(f"mall: unit {unit} registered; started its worker", flush=True)

    def keep_alive(self) -> None:
        for child in self.children:
            if child.alive() or self.stopping:
                continue
            now = time.monotonic()
            child.restarts = [t for t in child.restarts if now - t < 60] + [now]
            if len(child.restarts) > 10:
                print(f"mall: {child.name} keeps dying; stopping the mall", flush=True)
                raise SystemExit(1)
            print(f"mall: {child.name} exited ({child.process.returncode}); restarting", flush=True)
            child.start(self.env)

    def stop(self) -> None:
        self.stopping = True
        for child in self.children:
            if child.alive():
                child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for child in self.children:
            if child.process is None:
                continue
            try:
                child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.process.kill()
                child.process.wait()

    def healthy(self) -> bool:
        status, _ = _get(self.settings.service_url("gateway") + "/api/health")
        return status == 200


def run(seed_demo: bool = True, units_worker: bool = True) -> int:
    env = dict(os.environ)
    if seed_demo:
        env.setdefault("MALL_BOOTSTRAP_ADMIN", DEMO_ADMIN)
    os.environ.update(env)
    settings = Settings.from_env()
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    env["MALL_VAR_DIR"] = str(settings.var_dir)
    env.setdefault("PYTHONUNBUFFERED", "1")

    where = "embedded broker and SQLite under " + str(settings.var_dir) if settings.embedded else settings.broker_url
    print(f"mall: starting on {where}", flush=True)
    if seed_demo:
        from .partners import sandbox_alipay_key

        if sandbox_alipay_key(settings, env):
            print("mall: online payments use an Alipay sandbox key (demo only): `mall alipay-pay --help`", flush=True)
    subprocess.run([sys.executable, "-m", "mall", "migrate"], env=env, check=True)

    supervisor = Supervisor(settings, env)

    def _terminate(signum, _frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _terminate)
    started = time.monotonic()
    try:
        supervisor.start_all()
        if seed_demo:
            from .seed import seed

            seed(settings.service_url("gateway"), env["MALL_BOOTSTRAP_ADMIN"], wait=True)
        announced = False
        while True:
            supervisor.keep_alive()
            supervisor.watch_units()
            if not announced and supervisor.healthy():
                announced = True
                print(
                    f"mall: up in {time.monotonic() - started:.1f}s at {settings.service_url('gateway')} "
                    "(Ctrl-C stops it)",
                    flush=True,
                )
            time.sleep(1.0)
    except KeyboardInterrupt:
        print("mall: stopping", flush=True)
    finally:
        supervisor.stop()
        print("mall: stopped", flush=True)
    return 0
