"""Where the operator's tool finds each service's runtime, Flask app and worker (the one place that knows them all)."""

from __future__ import annotations

import importlib

INNER = ("catalog", "orders", "stores", "logistics", "billing")
ALL = ("gateway", *INNER)


def _package(service: str) -> str:
    if service not in ALL:
        raise SystemExit(f"unknown service {service!r}; one of: {', '.join(ALL)}")
    return "gateway" if service == "gateway" else f"services.{service}"


def runtime(service: str):
    return importlib.import_module(_package(service) + ".config").runtime


def create_app(service: str):
    return importlib.import_module(_package(service) + ".app").create_app()


def worker_runtime(service: str):
    """The runtime with its consumers registered (importing the worker module registers them)."""
    importlib.import_module(_package(service) + ".worker")
    return runtime(service)
