"""A pole display on a serial port (9600 8N1 is usual), speaking one of the command sets.

The port is a :class:`~edge.peripherals.serial_port.SerialConnection`, which reconnects on its
own after a pulled cable and tells the device, which then re-sends everything. A display has
nothing to say back; whatever arrives (line noise, a display's power-on banner) is counted and
dropped, never interpreted.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

from edge.peripherals.base import DeviceError
from edge.peripherals.pole_display.codepage import CodePage, encode
from edge.peripherals.pole_display.commands import CommandSet
from edge.peripherals.pole_display.device import PowerHandler
from edge.peripherals.serial_port import Backoff, SerialConnection, SerialSettings


class SerialDisplayBackend:
    """Encodes rows with ``commands`` and ``code_page`` and writes them to the port."""

    def __init__(
        self,
        settings: SerialSettings,
        commands: CommandSet,
        code_page: CodePage,
        *,
        backoff: Backoff | None = None,
    ) -> None:
        self.settings = settings
        self.commands = commands
        self._code_page = code_page
        self._backoff = backoff
        self._conn: SerialConnection | None = None
        self._rx = threading.Condition()
        self._ignored = 0

    @property
    def code_page(self) -> CodePage:
        return self._code_page

    def start(self, on_power: PowerHandler) -> None:
        self._conn = SerialConnection(
            self.settings, self._received, on_power, backoff=self._backoff, name="pole display"
        )
        self._conn.start()

    def stop(self) -> None:
        if self._conn is not None:
            self._conn.stop()

    def write(self, rows: Mapping[int, str], *, reset: bool) -> None:
        conn = self._conn
        if conn is None:
            raise DeviceError("pole display port is not open")
        data = self.commands.init(self._code_page) if reset else b""
        for row in sorted(rows):
            data += self.commands.line(row, encode(rows[row], self._code_page))
        try:
            conn.write(data)
        except DeviceError:
            raise
        except Exception as exc:
            # pyserial's flush() raises termios.error (not an OSError) when the cable is
            # pulled mid-write; SerialConnection lets it through, the device must not.
            raise DeviceError(f"pole display write failed: {exc!r}") from exc

    def wait_ignored(self, count: int, timeout: float) -> bool:
        """True once ``count`` bytes from the display have been dropped (for fault tests)."""
        with self._rx:
            return self._rx.wait_for(lambda: self._ignored >= count, timeout)

    def counters(self) -> Mapping[str, int]:
        conn = self._conn
        with self._rx:
            ignored = self._ignored
        return {
            "bytes_ignored": ignored,
            "bytes_out": conn.bytes_out if conn else 0,
            "reconnects": conn.reconnects if conn else 0,
        }

    def _received(self, data: bytes) -> None:
        with self._rx:
            self._ignored += len(data)
            self._rx.notify_all()
