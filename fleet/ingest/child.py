"""The ingest worker's helper processes: ``python -m fleet.ingest ROLE``, over socket pairs.

Why not ``multiprocessing``'s spawn: it re-imports the parent's main script in the child (the
``fleet`` CLI with every command, or pytest), which costs a second of CPU per start and makes a
child depend on how its parent was launched. Here a child imports only its own module; it gets
one end of a socket pair as a file descriptor and its settings as the first message, and reads
end-of-file when the parent dies, however it dies (so a SIGKILLed worker leaves no child
holding its broker session or database lock).

A child says :func:`ready` once it has imported and attached — a few tenths of a second of CPU
each — and the worker starts the receiver, which takes messages from the broker, only when the
validator and projector are ready: messages are not taken before they can be checked and
stored, and the start-up of three processes on a small machine does not compete with the first
of them.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from multiprocessing.connection import Connection
from typing import Any

from fleet.ingest import gcpolicy

ROLES = ("receiver", "validator", "projector")


def start(
    role: str, settings: object, name: str, link: socket.socket | None = None
) -> tuple[subprocess.Popen[bytes], Connection]:
    """Run ``python -m fleet.ingest ROLE`` with a pipe to it; its first message is ``settings``
    (``name`` only labels the process in ``ps``). ``link``, one end of a socket pair, is
    handed to the child as well (see :func:`linked`): two children talking directly."""
    if role not in ROLES:
        raise ValueError(f"no such helper: {role}")
    mine, theirs = socket.socketpair()
    fds = [theirs.fileno()] if link is None else [theirs.fileno(), link.fileno()]
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "fleet.ingest", role, name, *map(str, fds)],
            pass_fds=fds,
            stdin=subprocess.DEVNULL,
        )
    except BaseException:
        mine.close()
        raise
    finally:
        theirs.close()
    pipe = Connection(os.dup(mine.fileno()))
    mine.close()
    try:
        pipe.send(settings)
    except BaseException:
        pipe.close()  # the child reads end-of-file and ends
        end(proc, 5.0)
        raise
    return proc, pipe


def attach() -> tuple[Connection, Any]:
    """In the child: the pipe to the parent and the settings it sent.

    Ctrl-C reaches the whole process group and SIGTERM may reach it from a service manager;
    only the parent decides when a child stops, so both are ignored here.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    pipe = Connection(int(sys.argv[3]))
    try:
        settings = pipe.recv()
    except (EOFError, OSError):
        os._exit(0)
    gcpolicy.tune()  # the child's module and everything it needs are imported by now
    return pipe, settings


def ready(pipe: Connection) -> None:
    """In the child: tell the parent this process has imported and attached, so work sent to
    it now is taken at once (see :func:`wait_ready`)."""
    try:
        pipe.send(("ready",))
    except OSError:
        os._exit(0)


def wait_ready(pipe: Connection, timeout: float, stop: threading.Event | None = None) -> bool:
    """In the parent: True once the child said :func:`ready`; False if it ended, took longer
    than ``timeout`` seconds, or ``stop`` was set meanwhile (a worker told to stop while its
    helpers start must not sit out their start-up timeout)."""
    deadline = time.monotonic() + timeout
    try:
        while True:
            if stop is not None and stop.is_set():
                return False
            if pipe.poll(_STOP_CHECK_S if stop is not None else timeout):
                return bool(pipe.recv() == ("ready",))
            if time.monotonic() >= deadline:
                return False
    except (EOFError, OSError):
        return False


_STOP_CHECK_S = 0.1
"""How often a wait for readiness looks at its stop flag."""


def linked() -> Connection:
    """In the child: the pipe to the other child it was started with a ``link`` to."""
    return Connection(int(sys.argv[4]))


def end(proc: subprocess.Popen[bytes], timeout: float) -> None:
    """Wait for a child told to stop; kill it if it does not within ``timeout``."""
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
