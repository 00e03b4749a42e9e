"""Calls from one service to another's internal HTTP API, with the service token."""

from __future__ import annotations

import threading
from typing import Any

import requests

from shared.config import Settings
from shared.web import ApiError

_local = threading.local()


def _session() -> requests.Session:
    session = getattr(_local, "session", None)
    if session is None:
        session = _local.session = requests.Session()
    return session


class ServiceUnavailable(Exception):
    """The other service did not answer; callers retry (messages) or answer 503 (HTTP)."""


class ServiceClient:
    """A small JSON client for one inner service (`catalog`, `orders`, ...)."""

    def __init__(self, service: str, settings: Settings, timeout: float = 10.0):
        self.service = service
        self.base = settings.service_url(service).rstrip("/")
        self.token = settings.service_token
        self.timeout = timeout

    def request(self, method: str, path: str, *, json: Any = None, params: Any = None) -> tuple[int, Any]:
        try:
            response = _session().request(
                method,
                self.base + path,
                json=json,
                params=params,
                headers={"X-Service-Token": self.token},
                timeout=self.timeout,
            )
        except requests.RequestException as exc:
            raise ServiceUnavailable(f"{self.service} did not answer: {exc}") from exc
        if response.status_code >= 500:
            raise ServiceUnavailable(f"{self.service} failed: {response.status_code}")
        try:
            body = response.json() if response.content else None
        except ValueError:
            body = None
        return response.status_code, body

    def call(self, method: str, path: str, **kwargs) -> Any:
        """Like request, but a 4xx becomes an ApiError carrying the service's own error."""
        status, body = self.request(method, path, **kwargs)
        if status >= 400:
            error = (body or {}).get("error", {}) if isinstance(body, dict) else {}
            raise ApiError(
                status,
                error.get("code", "error"),
                error.get("message", "Request failed."),
                error.get("fields"),
            )
        return body

    def get(self, path: str, **kwargs) -> Any:
        return self.call("GET", path, **kwargs)

    def post(self, path: str, **kwargs) -> Any:
        return self.call("POST", path, **kwargs)
