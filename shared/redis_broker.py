"""The Redis broker: kombu's Redis transport, with its per-message Redis bookkeeping made cheaper.

Two changes, both to what a worker does for every message; everything else (the pool, reconnection,
the visibility timeout and the restore of unacked messages) is kombu's own.

- One client per channel. kombu's Redis channel builds a new `redis.Redis` client for every publish,
  ack and requeue. Building one copies redis-py's table of ~170 response callbacks, which cost about
  50 µs: two or three times per message, more than the command itself. The client does not own
  connections (the channel's pool does, and it is safe across threads and checks the process id
  after a fork), so one per channel is enough.
- The unacked bookkeeping as two plain pipelined commands (`QoS` below).

On upgrading kombu or redis-py, re-check against `kombu.transport.redis.QoS.append`, `.ack` and
`._remove_from_indices` (the keys and values written must stay what `restore_by_tag` and
`restore_visible` read) and that redis-py's `Connection` still has `pack_commands`,
`send_packed_command`, `read_response` and `retry`. tests/shared/test_redis_broker.py checks both.
"""

from __future__ import annotations

from contextlib import contextmanager
from functools import cached_property
from time import time

from kombu.transport import TRANSPORT_ALIASES, redis, virtual
from kombu.utils.json import dumps


class QoS(redis.QoS):
    """kombu's ack emulation, with the same keys and values, sent for less CPU.

    For every message kombu records it as unacked when it takes it (ZADD to the index with the time,
    HSET of the message) and forgets it on ack (ZREM, HDEL); a message left there longer than the
    visibility timeout, by a worker that died, is put back in its queue by `restore_visible`. kombu
    sends each pair as a redis-py MULTI/EXEC pipeline: about 100 µs of CPU for each, most of it in
    redis-py's pipeline machinery and in parsing the four replies of MULTI, QUEUED, QUEUED, EXEC.
    Here each pair is one write of two commands and two replies, on a connection from the same pool,
    with the same retry on a dropped connection: 60 to 90 µs less CPU per message.

    Dropping MULTI loses nothing. Redis runs a connection's commands in order, so the index entry is
    always written before the message and removed before it; if a command fails between them:
    - on take, an index entry without its message is only removed by the restore (and the message,
      already popped from its queue, would have been lost with MULTI too: the known gap between
      BRPOP and this record, which the mall's deadlines cover);
    - on ack, a message without its index entry is never restored (it had been handled); it only
      stays in the hash, a few hundred bytes.
    No other worker restores a message taken less than the visibility timeout ago, so nothing sees a
    half-written pair in between.
    """

    def append(self, message, delivery_tag):
        if self.channel.global_keyprefix:  # kombu's prefixing client adds the prefix; this path would not
            return super().append(message, delivery_tag)
        delivery = message.delivery_info
        restorable = dumps([message._raw, delivery["exchange"], delivery["routing_key"]])
        self._send(
            ("ZADD", self.unacked_index_key, time(), delivery_tag),
            ("HSET", self.unacked_key, delivery_tag, restorable),
        )
        virtual.QoS.append(self, message, delivery_tag)

    def ack(self, delivery_tag):
        if self.channel.global_keyprefix:
            return super().ack(delivery_tag)
        self._send(("ZREM", self.unacked_index_key, delivery_tag), ("HDEL", self.unacked_key, delivery_tag))
        virtual.QoS.ack(self, delivery_tag)

    def _send(self, *commands) -> None:
        """Send `commands` in one write and read all their replies; raise the first error."""
        with self.channel.conn_or_acquire() as client:
            pool = client.connection_pool
            connection = pool.get_connection()
            try:

                def send_and_read():
                    connection.send_packed_command(connection.pack_commands(commands))
                    for _ in commands:
                        connection.read_response()

                # As redis-py's pipelines do: on a dropped connection, reconnect and send again (the
                # commands are idempotent).
                connection.retry.call_with_retry(send_and_read, lambda _error: connection.disconnect())
            except BaseException:
                # A reply may be left unread (an error reply to the first command): never give the
                # connection back to the pool in that state.
                connection.disconnect()
                raise
            finally:
                pool.release(connection)


class Channel(redis.Channel):
    QoS = QoS

    @cached_property
    def _commands_client(self):
        return self._create_client()

    @contextmanager
    def conn_or_acquire(self, client=None):
        yield client or self._commands_client


class Transport(redis.Transport):
    Channel = Channel


TRANSPORT_ALIASES.setdefault("mallredis", "shared.redis_broker:Transport")
