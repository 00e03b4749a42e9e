"""Logging with the order number as correlation id on every line a message handler writes."""

from __future__ import annotations

import contextvars
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

_correlation: contextvars.ContextVar[str] = contextvars.ContextVar("correlation_id", default="-")


class CorrelationFilter(logging.Filter):
    """Adds `record.order` (the correlation id in force) so the format can print it."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.order = _correlation.get()
        return True


@contextmanager
def correlation(order_number: str | None) -> Iterator[None]:
    """Everything logged inside carries this order number."""
    token = _correlation.set(order_number or "-")
    try:
        yield
    finally:
        _correlation.reset(token)


def setup_logging(process_name: str, level: str | None = None) -> None:
    """One line per event: time, process, level, order number, message. Idempotent."""
    root = logging.getLogger()
    if any(getattr(h, "_mall", False) for h in root.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler._mall = True  # type: ignore[attr-defined]
    handler.addFilter(CorrelationFilter())
    handler.setFormatter(
        logging.Formatter(f"%(asctime)s {process_name} %(levelname)s order=%(order)s %(name)s: %(message)s")
    )
    root.addHandler(handler)
    root.setLevel(level or os.environ.get("MALL_LOG_LEVEL", "INFO"))
    for noisy in ("waitress", "urllib3", "sqlalchemy.engine"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # Celery's own "received" and "succeeded" lines repeat the consumer's one line per message (which
    # carries the order number and the outcome), and formatting them (a repr of every argument) was a
    # visible share of a worker's CPU. Its warnings and errors still show.
    for chatty in ("celery.worker.strategy", "celery.app.trace"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
