"""paho's client, reading the broker socket in large chunks instead of a few bytes at a time.

paho reads each packet with at least four ``recv`` calls — the type byte, each byte of the
remaining length, then the rest — and returns to the caller's ``select`` after every packet
(``loop_read`` reads one unless flows of its own are open). At thousands of PUBLISHes a second
that is five system calls per message, each a few microseconds on a virtual machine. Here one
``recv`` of up to :data:`READ_SIZE` bytes serves paho's small reads from memory, and
:meth:`ReadAheadClient.fill` reads ahead on request — after a packet's first bytes, so
``fleet.ingest.fastpublish`` sees whole packets — keeping an end of stream or a socket error
for paho's next read to meet, after the bytes before it.

Only ``_sock_recv`` is overridden — paho's single point of reading since 1.6 — so keepalive
bookkeeping and error handling stay paho's. Over TLS one ``recv`` returns one record — one
packet, as Mosquitto writes them — so there it reads on until the socket has nothing more at
once.
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
        self._ended: Exception | None = None
        """How the stream ended when :meth:`fill` met the end (an ``OSError``, or ``EOFError``
        for an orderly end): paho's next read, after the buffered bytes, meets it instead."""

    def _sock_recv(self, bufsize: int) -> bytes:
        if self._sock is not self._ahead_of:
            self._forget()
        at = self._ahead_at
        if at >= len(self._ahead):
            ended = self._ended
            if ended is not None:
                self._ended = None  # met once, as the socket would have been
                if isinstance(ended, EOFError):
                    return b""
                raise ended
            if not self._recv_ahead():  # BlockingIOError when nothing is there
                return b""  # end of stream: paho reports the connection lost
            at = 0
        end = at + bufsize
        self._ahead_at = end
        return self._ahead[at:end]

    def fill(self) -> bool:
        """Read what the socket has now, after the bytes already buffered: True if any came.
        An end of stream or a socket error is kept for paho's next read to meet and report,
        after the buffered bytes."""
        if self._sock is None:
            return False
        if self._sock is not self._ahead_of:
            self._forget()
        if self._ended is not None:
            return False
        try:
            if self._recv_ahead():
                with self._msgtime_mutex:  # as paho's own reads do: the broker is alive
                    self._last_bytes_received = mqtt.time_func()
                return True
            self._ended = EOFError()
        except BlockingIOError:
            pass
        except OSError as exc:
            self._ended = exc
        return False

    def ended(self) -> bool:
        """:meth:`fill` met the end of the stream (or an error) that paho has not read yet."""
        return self._ended is not None and self._sock is self._ahead_of

    def _recv_ahead(self) -> bool:
        """One read of up to :data:`READ_SIZE` bytes, after what is buffered; False at the
        end of the stream. Raises what the socket raises."""
        data = super()._sock_recv(READ_SIZE)
        if not data:
            return False
        if isinstance(self._sock, ssl.SSLSocket):
            data = self._more_records(data)
        if self._ahead_at < len(self._ahead):  # the start of a packet, read before
            data = self._ahead[self._ahead_at :] + data
        self._ahead, self._ahead_at = data, 0
        return True

    def _forget(self) -> None:
        self._ahead, self._ahead_at, self._ahead_of, self._ended = b"", 0, self._sock, None

    def _more_records(self, data: bytes) -> bytes:
        """TLS hands over one record per ``recv`` (Mosquitto writes a record per packet), so
        read on until the socket has nothing more at once. An end of stream or error met here
        is kept, like :meth:`fill`'s, for paho to meet after these bytes — a DISCONNECT with
        its reason, say, followed by the connection's end."""
        parts = [data]
        size = len(data)
        while size < READ_SIZE:
            try:
                more = super()._sock_recv(READ_SIZE - size)
            except BlockingIOError:
                break
            except OSError as exc:
                self._ended = exc
                break
            if not more:
                self._ended = EOFError()
                break
            parts.append(more)
            size += len(more)
        return b"".join(parts)

    def buffered(self) -> int:
        """Bytes read from the current connection that paho has not taken yet."""
        if self._sock is None or self._sock is not self._ahead_of:
            return 0
        return max(0, len(self._ahead) - self._ahead_at)
