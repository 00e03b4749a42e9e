"""Logistics' Flask application factory."""

from flask import Flask

from shared.web import service_app

from .api import bp
from .config import runtime


def create_app(test_config: dict | None = None) -> Flask:
    return service_app("logistics", runtime, bp, test_config)
