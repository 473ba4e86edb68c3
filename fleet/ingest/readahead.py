"""paho's client, reading the broker socket in large chunks instead of a few bytes at a time.

paho reads each packet with at least four ``recv`` calls — the type byte, each byte of the
remaining length, then the rest — and returns to the caller's ``select`` after every packet
(``loop_read`` reads one unless QoS 2 flows are open). At thousands of PUBLISHes a second that
is five system calls per message, each a few microseconds on a virtual machine. Here one
``recv`` of up to :data:`READ_SIZE` bytes serves paho's small reads from memory, and the
receiver calls ``loop_read`` again while :meth:`ReadAheadClient.buffered` says whole packets may
be waiting, without a ``select`` in between.

Only ``_sock_recv`` is overridden — paho's single point of reading since 1.6 — so parsing,
keepalive bookkeeping and error handling stay paho's. Should a paho release read another way,
the override is simply not called: :meth:`~ReadAheadClient.buffered` stays 0 and the receiver
works as with plain paho. Over TLS one ``recv`` returns one record — one packet, as Mosquitto
writes them — so there it reads on until the socket has nothing more at once.
"""

from __future__ import annotations

import ssl
from typing import Any

import paho.mqtt.client as mqtt

READ_SIZE = 256 * 1024
"""Bytes asked of the socket at once: about a hundred sales (the kernel returns what it has)."""


class ReadAheadClient(mqtt.Client):
    """:class:`paho.mqtt.client.Client` with read-ahead (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._ahead = b""
        self._ahead_at = 0
        self._ahead_of: object = None
        """The socket the buffered bytes came from: a new connection must not read them."""

    def _sock_recv(self, bufsize: int) -> bytes:
        sock = self._sock
        if sock is not self._ahead_of:
            self._ahead, self._ahead_at, self._ahead_of = b"", 0, sock
        at = self._ahead_at
        if at >= len(self._ahead):
            data = super()._sock_recv(READ_SIZE)  # BlockingIOError when nothing is there
            if not data:
                return data  # end of stream: paho reports the connection lost
            if isinstance(sock, ssl.SSLSocket):
                data = self._more_records(data)
            self._ahead, at = data, 0
        end = at + bufsize
        self._ahead_at = end
        return self._ahead[at:end]

    def _more_records(self, data: bytes) -> bytes:
        """TLS hands over one record per ``recv`` (Mosquitto writes a record per packet), so
        read on until the socket has nothing more at once; an end of stream met here is met
        again by the next read, after these bytes."""
        parts = [data]
        size = len(data)
        while size < READ_SIZE:
            try:
                more = super()._sock_recv(READ_SIZE - size)
            except BlockingIOError:
                break
            if not more:
                break
            parts.append(more)
            size += len(more)
        return b"".join(parts)

    def buffered(self) -> int:
        """Bytes read from the current connection that paho has not taken yet."""
        if self._sock is None or self._sock is not self._ahead_of:
            return 0
        return max(0, len(self._ahead) - self._ahead_at)
