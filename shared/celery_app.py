"""The Celery app factory: one app per service, with the delivery settings the mall relies on."""

from __future__ import annotations

from celery import Celery

from shared import embedded_broker, redis_broker  # noqa: F401  (register the "mallfs" and "mallredis" aliases)
from shared.config import Settings


def broker_folder(settings: Settings):
    return settings.var_dir / "broker"


def make_celery(name: str, settings: Settings) -> Celery:
    """A Celery app for one service (or the gateway, which only sends) on the configured broker."""
    app = Celery(f"mall.{name}")
    if settings.embedded:
        folder = broker_folder(settings)
        (folder / "messages").mkdir(parents=True, exist_ok=True)
        broker_url = "mallfs://localhost//"
        transport_options = {
            "data_folder_in": str(folder / "messages"),
            "data_folder_out": str(folder / "messages"),
            "control_folder": str(folder / "control"),
            # The file transport polls; 20 ms keeps a saga hop well under a human's notice.
            "polling_interval": 0.02,
        }
        transport = None
    else:
        broker_url = settings.broker_url
        # kombu's Redis transport with one client per channel (see shared/redis_broker.py).
        transport = "mallredis" if broker_url.startswith("redis://") else None
        transport_options = {
            # A message taken but not acked within this time is given to another worker: it must be
            # longer than any handler runs, and handlers are idempotent for when it is not.
            "visibility_timeout": settings.visibility_timeout,
            # Restore messages of killed workers promptly rather than every few minutes.
            "unacked_restore_interval": 5,
            "unacked_restore_throttle": 1,
        }
    app.conf.update(
        broker_url=broker_url,
        broker_transport=transport,
        broker_transport_options=transport_options,
        # Ack after the handler committed, so a worker that dies mid-task loses nothing ...
        task_acks_late=True,
        # ... and a worker killed by a signal gives the message back instead of acking it.
        task_reject_on_worker_lost=True,
        # Take one message at a time: a long handler never sits on messages another worker could run.
        worker_prefetch_multiplier=1,
        # JSON only: a message from outside can never make a worker unpickle code.
        accept_content=["json"],
        task_serializer="json",
        # Replies are messages of their own; nothing ever waits on a result.
        task_ignore_result=True,
        result_backend=None,
        # Keep trying to reach the broker at start and after losing it, for ever: the outbox holds
        # what could not be sent meanwhile.
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,
        task_default_queue=name,
        task_create_missing_queues=True,
        worker_hijack_root_logger=False,
        # Task events cost three extra publishes per message, so they start off; Flower switches them on
        # over remote control when it starts (`celery control enable_events` does too). The file broker
        # has no broadcast, so remote control is on Redis only.
        worker_send_task_events=False,
        worker_enable_remote_control=not settings.embedded,
        # Celery 6 default: a task cut off from the broker is cancelled and redelivered (handlers are idempotent).
        worker_cancel_long_running_tasks_on_connection_loss=True,
        enable_utc=True,
        timezone="UTC",
    )
    return app
