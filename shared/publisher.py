"""Publishes Celery task messages (protocol 2) around JSON the outbox already holds, without `send_task`'s costs.

To use `celery.send_task` the relay had to decode each envelope, and Celery then routed it, copied and
declared the queue entity and encoded the envelope again, for every message: more CPU than the publish
itself. This module writes the same message Celery would (the same
headers and properties as `app.amqp.as_task_v2` and `send_task_message`, see `tests/shared/
test_publisher.py`, which compares the two), with the body built by string concatenation around the
arguments' JSON text. A worker cannot tell the difference; retries, acks and everything on the
consuming side stay Celery's.

Each thread keeps its own connection and producer (neither is thread-safe), made in the process that
uses them (never one inherited through a fork), declares each queue once, and retries a publish with
the app's `task_publish_retry_policy`, reconnecting as kombu's `ensure` does. A publish that still fails
raises, and the thread's next publish starts on a new connection.
"""

from __future__ import annotations

import os
import threading
import uuid

from celery import Celery
from celery.utils.nodenames import anon_nodename
from kombu import Producer
from kombu.entity import maybe_delivery_mode

#: The second and third items of the body (kwargs, embed), as kombu's JSON writes them.
_BODY_END = ', {}, {"callbacks": null, "errbacks": null, "chain": null, "chord": null}]'


class _Link:
    """One thread's connection and producer, and the queues it has declared."""

    def __init__(self, app: Celery):
        self.pid = os.getpid()
        self.connection = app.connection_for_write()
        self.producer = Producer(self.connection, auto_declare=False)
        self.declared: set[str] = set()
        self.origin = anon_nodename()  # what `send_task` puts in the origin header (it has the pid in it)
        self.reply_to = app.thread_oid  # `send_task` says reply_to its thread's id

    def close(self) -> None:
        try:
            self.connection.release()
        except Exception:  # pragma: no cover - a connection that is already broken
            pass


class TaskPublisher:
    """Sends task messages by name for one Celery app, as `app.send_task(name, args, queue=...)` would."""

    def __init__(self, app: Celery):
        self.app = app
        self._local = threading.local()
        self._links: list[_Link] = []  # every thread's, so `close` can close them all
        self._lock = threading.Lock()
        self._settings: tuple[bool, dict, int] | None = None

    def publish(self, task: str, queue: str, args_json: str, argsrepr: str, kwargsrepr: str = "{}") -> str:
        """Send task `task` to `queue` with positional arguments given as JSON text (`'[...]'`); returns its id.

        `argsrepr`/`kwargsrepr` are the summaries Flower shows. Raises when the broker cannot be reached
        within the app's publish retry policy.
        """
        retry, retry_policy, delivery_mode = self._settings or self._read_settings()
        link = self._link()
        task_id = str(uuid.uuid4())
        root_id, parent_id = task_id, None
        parent = self.app.current_worker_task
        if parent is not None:  # sent while a worker runs a task: Flower shows it as that task's child
            root_id, parent_id = parent.request.root_id or parent.request.id, parent.request.id
        # Exactly the headers `app.amqp.as_task_v2` writes for `send_task(task, args, queue=...)`.
        headers = {
            "lang": "py",
            "task": task,
            "id": task_id,
            "shadow": None,
            "eta": None,
            "expires": None,
            "group": None,
            "group_index": None,
            "retries": 0,
            "timelimit": [None, None],
            "root_id": root_id,
            "parent_id": parent_id,
            "argsrepr": argsrepr,
            "kwargsrepr": kwargsrepr,
            "origin": link.origin,
            "ignore_result": None,  # the task's own setting decides, as for any `send_task`
            "replaced_task_nesting": 0,
            "stamped_headers": None,
            "stamps": {},
        }
        declare = None
        if queue not in link.declared:
            # The entity Celery declares for a queue it was not configured with (task_create_missing_queues).
            declare = [self.app.amqp.queues[queue]]
        try:
            link.producer.publish(
                "[" + args_json + _BODY_END,
                exchange="",
                routing_key=queue,
                content_type="application/json",
                content_encoding="utf-8",
                headers=headers,
                delivery_mode=delivery_mode,
                declare=declare,
                retry=retry,
                retry_policy=retry_policy,
                # `send_task_message` puts the remaining options among the properties: these two included.
                correlation_id=task_id,
                reply_to=link.reply_to,
                argsrepr=argsrepr,
                kwargsrepr=kwargsrepr,
            )
        except Exception:
            self._drop(link)  # this thread's next publish starts on a new connection
            raise
        if declare:
            link.declared.add(queue)
        return task_id

    def close(self) -> None:
        """Close every thread's connection made in this process (shutdown and tests)."""
        with self._lock:
            links, self._links = self._links, []
        self._local = threading.local()
        for link in links:
            if link.pid == os.getpid():
                link.close()

    def _read_settings(self) -> tuple[bool, dict, int]:
        conf = self.app.conf
        self._settings = (
            bool(conf.task_publish_retry),
            dict(conf.task_publish_retry_policy),
            maybe_delivery_mode(conf.task_default_delivery_mode),
        )
        return self._settings

    def _link(self) -> _Link:
        link = getattr(self._local, "link", None)
        if link is not None and link.pid == os.getpid():
            return link
        if link is not None:  # made before a fork: the parent owns its socket; leave it alone
            with self._lock:
                self._links = [other for other in self._links if other.pid == os.getpid()]
        link = self._local.link = _Link(self.app)
        with self._lock:
            self._links.append(link)
        return link

    def _drop(self, link: _Link) -> None:
        if getattr(self._local, "link", None) is link:
            del self._local.link
        with self._lock:
            if link in self._links:
                self._links.remove(link)
        link.close()
