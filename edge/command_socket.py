"""The till's command interface: JSON lines over a local Unix socket.

One thread owns the :class:`~edge.checkout.till.Till` (the loop); every client connection gets a
thread that only parses lines and queues them for the loop, then writes the reply back. So the
cashier UI, ``till`` sub-commands, the HIL rig and the demo shopper are all just clients, none of
them touches SQLite, and a crashed UI never takes a sale with it.

Wire: each request is one JSON object (a command, ``{"cmd": "add_item", "code": "..."}``);
each reply is one JSON object ``{"ok", "reason", "view", "data"}``. A client that sends
``{"cmd": "watch"}`` then receives a ``{"view": ...}`` line after every accepted command: what
the operator screen shows.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import socket
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import msgspec

from edge.checkout import commands as cmd
from edge.checkout.till import Reply, Till

MAX_LINE = 64 * 1024
_reply_encoder = msgspec.json.Encoder()


log = logging.getLogger(__name__)


class CommandServer:
    """Serve a till on a Unix socket until :meth:`stop`."""

    def __init__(self, till: Till, path: Path) -> None:
        self.till = till
        self.path = path
        self._queue: queue.Queue[tuple[cmd.Command, Future[Reply]] | None] = queue.Queue()
        self._watchers: list[socket.socket] = []
        self._watch_lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._listeners: list[Callable[[Reply], None]] = []

    def on_reply(self, listener: Callable[[Reply], None]) -> None:
        """Call ``listener`` on the loop thread after every accepted command (in-process
        watchers: the customer displays). It must only hand the view over, never block."""
        self._listeners.append(listener)

    def start(self) -> None:
        """Bind the socket (replacing a stale one) and start the loop and accept threads."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(str(self.path))
        os.chmod(self.path, 0o660)
        sock.listen(16)
        self._sock = sock
        for target, name in ((self._loop, "till-loop"), (self._accept, "till-accept")):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        self._stopping.set()
        self._queue.put(None)
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)
            self._sock.close()
        for t in self._threads:
            t.join(timeout=5)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def submit(self, command: cmd.Command) -> Reply:
        """Run a command on the loop thread and wait for its reply (for in-process callers)."""
        future: Future[Reply] = Future()
        self._queue.put((command, future))
        return future.result()

    # --- threads ------------------------------------------------------------------------------

    def _loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            command, future = item
            try:
                reply = self.till.handle(command)
            except Exception as exc:  # a bug must not kill the till; report it to the client
                future.set_exception(exc)
                continue
            future.set_result(reply)
            if reply.ok and not isinstance(command, cmd.Status):
                self._broadcast(reply)

    def _broadcast(self, reply: Reply) -> None:
        for listener in self._listeners:
            try:
                listener(reply)
            except Exception:  # a display bug must not stop the checkout
                log.exception("reply listener failed")
        line = _reply_encoder.encode({"view": reply.view}) + b"\n"
        with self._watch_lock:
            alive = []
            for w in self._watchers:
                try:
                    w.sendall(line)
                    alive.append(w)
                except OSError:
                    w.close()
            self._watchers = alive

    def _accept(self) -> None:
        assert self._sock is not None
        while not self._stopping.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn, conn.makefile("rb") as reader:
            for raw in _lines(reader):
                if raw is None:
                    _send(conn, {"ok": False, "reason": f"line longer than {MAX_LINE} bytes"})
                    return
                if _is_watch(raw):
                    with self._watch_lock:
                        self._watchers.append(conn)
                    _send(
                        conn, {"ok": True, "reason": None, "view": self.submit(cmd.Status()).view}
                    )
                    continue
                try:
                    command = cmd.decode(raw)
                except (msgspec.DecodeError, UnicodeDecodeError) as exc:
                    _send(conn, {"ok": False, "reason": f"not a command: {exc}"})
                    continue
                try:
                    reply = self.submit(command)
                except Exception as exc:
                    _send(conn, {"ok": False, "reason": f"internal error: {exc}"})
                    continue
                try:
                    conn.sendall(_reply_encoder.encode(reply) + b"\n")
                except OSError:
                    return


def _is_watch(raw: bytes) -> bool:
    try:
        data = json.loads(raw)
    except ValueError:
        return False
    return isinstance(data, dict) and data.get("cmd") == "watch" and len(data) == 1


def _lines(reader: Any) -> Iterator[bytes | None]:
    while True:
        line = reader.readline(MAX_LINE + 1)
        if not line:
            return
        if len(line) > MAX_LINE:
            yield None
            return
        if line.strip():
            yield line


def _send(conn: socket.socket, obj: dict[str, Any]) -> None:
    with contextlib.suppress(OSError):
        conn.sendall(_reply_encoder.encode(obj) + b"\n")


class CommandClient:
    """A blocking client: one request, one reply."""

    def __init__(self, path: Path, timeout: float = 30.0) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(str(path))
        self.reader = self.sock.makefile("rb")

    def send(self, command: cmd.Command | dict[str, Any]) -> dict[str, Any]:
        data = (
            msgspec.json.encode(command)
            if isinstance(command, cmd.Command)
            else json.dumps(command).encode()
        )
        self.sock.sendall(data + b"\n")
        line = self.reader.readline()
        if not line:
            raise ConnectionError("the till closed the connection")
        reply = json.loads(line)
        assert isinstance(reply, dict)
        return reply

    def close(self) -> None:
        self.reader.close()
        self.sock.close()

    def __enter__(self) -> CommandClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
