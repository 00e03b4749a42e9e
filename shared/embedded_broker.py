"""The embedded broker: kombu's filesystem transport, made safe for several processes on one machine.

kombu's own transport creates the message file and then writes into it, so a consumer polling the
folder can take a half-written file. This one writes under a hidden temporary name and renames the
finished file into place (atomic on POSIX), so a consumer only ever sees whole messages. It is the
default when `MALL_BROKER_URL` is unset: no server, same Celery code paths as Redis.
"""

from __future__ import annotations

import os
import uuid
from time import monotonic

from kombu.exceptions import ChannelError
from kombu.transport import TRANSPORT_ALIASES, filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps


class Channel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs):
        name = f"{int(round(monotonic() * 1000)):015d}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        temp = os.path.join(self.data_folder_out, "." + name + ".tmp")
        try:
            with open(temp, "wb") as f:
                f.write(str_to_bytes(dumps(payload)))
            os.replace(temp, final)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc

    def _get(self, queue):
        # Only whole messages: hidden temporary files never match a queue name.
        return super()._get(queue)


class Transport(filesystem.Transport):
    Channel = Channel


TRANSPORT_ALIASES.setdefault("mallfs", "shared.embedded_broker:Transport")
