"""The Redis broker: kombu's Redis transport, keeping one client per channel instead of one per command.

kombu's Redis channel builds a new `redis.Redis` client for every publish, ack and requeue. Building one
copies redis-py's table of ~170 response callbacks, which cost about 50 µs: two or three times per
message, more than the command itself. The client does not own connections (the channel's pool does,
and it is safe across threads and checks the process id after a fork), so one per channel is enough.
Everything else, including the pool, reconnection and visibility timeout, is kombu's own.
"""

from __future__ import annotations

from contextlib import contextmanager
from functools import cached_property

from kombu.transport import TRANSPORT_ALIASES, redis


class Channel(redis.Channel):
    @cached_property
    def _commands_client(self):
        return self._create_client()

    @contextmanager
    def conn_or_acquire(self, client=None):
        yield client or self._commands_client


class Transport(redis.Transport):
    Channel = Channel


TRANSPORT_ALIASES.setdefault("mallredis", "shared.redis_broker:Transport")
