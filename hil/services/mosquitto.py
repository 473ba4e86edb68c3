"""A private Mosquitto broker on a loopback port, for tests, HIL rigs and the demo.

Nothing here uses a broker that happens to be running on the machine: each :class:`Mosquitto`
gets its own config, data directory and free port, so runs never see each other's retained
messages and a test may stop and restart "the network" at will.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

READY_MARKER = "running"
"""Mosquitto logs "mosquitto version X running" once its listeners are open."""


class BrokerError(RuntimeError):
    """The broker could not be found or did not start; the message says what to do."""


def find_binary() -> str:
    """Path of the mosquitto executable, or :class:`BrokerError` naming the package to install."""
    found = shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if os.access("/usr/sbin/mosquitto", os.X_OK) else None
    )
    if found is None:
        raise BrokerError(
            "mosquitto is not installed; `make test` installs it as root, otherwise run "
            "`sudo apt-get install mosquitto`"
        )
    return found


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Mosquitto:
    """One broker process bound to 127.0.0.1 on its own port, with its own persistence.

    ``extra_config`` lines are appended to the generated config (ACL files, TLS listeners). The
    broker keeps its persistence file across :meth:`stop`/:meth:`start`, as a real one does, so
    a restart test sees retained messages and queued QoS 1 messages survive.
    """

    def __init__(self, workdir: Path, *, port: int | None = None, extra_config: str = "") -> None:
        self.workdir = workdir
        self.port = port or free_port()
        self.host = "127.0.0.1"
        self.extra_config = extra_config
        self.log_path = workdir / "mosquitto.log"
        self._proc: subprocess.Popen[str] | None = None
        self._log_thread: threading.Thread | None = None

    @property
    def config_path(self) -> Path:
        return self.workdir / "mosquitto.conf"

    def write_config(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(
            "\n".join(
                [
                    f"listener {self.port} {self.host}",
                    "allow_anonymous true",
                    "persistence true",
                    f"persistence_location {self.workdir}/",
                    "log_dest stderr",
                    "log_type error",
                    "log_type warning",
                    "log_type notice",
                    "log_type information",
                    "log_timestamp_format %Y-%m-%dT%H:%M:%S",
                    "max_queued_messages 100000",
                    self.extra_config,
                    "",
                ]
            )
        )

    def start(self, timeout: float = 20.0) -> None:
        """Start the broker and return once it logs that it is running."""
        if self.running:
            return
        self.write_config()
        proc = subprocess.Popen(
            [find_binary(), "-c", str(self.config_path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        ready = threading.Event()
        assert proc.stderr is not None
        stderr = proc.stderr

        def pump() -> None:
            with self.log_path.open("a") as log:
                for line in stderr:
                    log.write(line)
                    log.flush()
                    if READY_MARKER in line and "version" in line:
                        ready.set()
            ready.set()  # process ended: wake the waiter, which then reports the failure

        self._log_thread = threading.Thread(target=pump, name="mosquitto-log", daemon=True)
        self._log_thread.start()
        self._proc = proc
        if not ready.wait(timeout) or proc.poll() is not None:
            self.stop()
            raise BrokerError(f"mosquitto did not start on port {self.port}:\n{self.log_tail()}")

    def stop(self) -> None:
        """Stop the broker (SIGTERM, so it writes its persistence file) and wait for it."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._log_thread is not None:
            self._log_thread.join(timeout=5)
            self._log_thread = None
        if proc.stderr is not None:
            proc.stderr.close()

    def kill(self) -> None:
        """Kill the broker without letting it save anything (a power cut of the broker box)."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self.stop()

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def log_tail(self, lines: int = 20) -> str:
        if not self.log_path.exists():
            return "(no log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


@contextmanager
def running_broker(workdir: Path, **kwargs: object) -> Iterator[Mosquitto]:
    """A started broker, stopped on exit."""
    broker = Mosquitto(workdir, **kwargs)  # type: ignore[arg-type]
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
