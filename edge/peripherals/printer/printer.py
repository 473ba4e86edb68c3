"""The receipt printer as a device: print bytes, check status, kick the drawer.

The device knows nothing of sales or queues; the print queue decides what to print and when.
It turns each status check into the device's power and state — ``offline`` when the link is down
or the printer does not answer, ``error`` with the reason while paper is out, the cover is open
or the cutter is jammed, ``idle`` (with "paper low" as a warning) otherwise — so the cashier's
screen and HQ's ``device.health`` say why receipts are waiting. One lock serialises whole
exchanges (a job's bytes, a status query and its reply), so a drawer kick from the checkout
loop never lands in the middle of a receipt and a reply is never read by the wrong asker.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Literal

from edge.peripherals.base import Device, DeviceError, DeviceState, PowerState
from edge.peripherals.printer import escpos_encode
from edge.peripherals.printer.codepages import CodePage, code_page
from edge.peripherals.printer.document import Document
from edge.peripherals.printer.status import (
    PrinterStatus,
    is_status_byte,
    needs_error_detail,
    no_answer,
    parse,
)
from edge.peripherals.printer.transport import Transport

log = logging.getLogger(__name__)


class ReceiptPrinter(Device):
    """An ESC/POS receipt printer behind any :class:`Transport`."""

    kind = "printer"

    def __init__(
        self,
        name: str,
        transport: Transport,
        *,
        width: int = 42,
        page: CodePage | None = None,
        status_timeout: float = 0.5,
        feed_lines: int = 3,
        cut: escpos_encode.Cut = "partial",
        drawer_pin: Literal[2, 5] = 2,
        drawer_on_ms: int = 100,
        drawer_off_ms: int = 100,
    ) -> None:
        super().__init__(name)
        self.transport = transport
        self.width = width
        self.page = page or code_page("cp858")
        self.status_timeout = status_timeout
        self.feed_lines = feed_lines
        self.cut = cut
        self._kick = escpos_encode.drawer_kick(drawer_pin, drawer_on_ms, drawer_off_ms)
        self._io = threading.Lock()
        self._last = no_answer("not checked yet")
        self._link_detail = ""
        self.status_checks = 0
        self.no_replies = 0
        self.jobs_written = 0
        self.kicks = 0

    # -- what the queue and the checkout use ------------------------------------------------

    def encode(self, doc: Document) -> bytes:
        """The print job for ``doc`` on this printer (its code page, feed and cut)."""
        return escpos_encode.encode_document(
            doc, self.page, feed_lines=self.feed_lines, cut_kind=self.cut
        )

    @property
    def last_status(self) -> PrinterStatus:
        return self._last

    def check(self) -> PrinterStatus:
        """Ask the printer how it is (``DLE EOT 1, 2, [3,] 4``) and update the device status."""
        self._require_open()
        with self._io:
            status = self._query()
        self._apply(status)
        return status

    def print_job(self, data: bytes) -> PrinterStatus:
        """Send a whole job, then ask for the status over the same connection.

        The answer confirms the job only if the link was not re-established in between: a
        network printer that dropped the connection mid-job (its bytes lost) and was reconnected
        at once would otherwise answer "fine" for a receipt it never got. Raises
        :class:`DeviceError` if the link fails while the bytes go out.
        """
        self._require_enabled()
        self._set_state(DeviceState.BUSY, "printing")
        try:
            with self._io:
                generation = self.transport.generation
                self.transport.write(data)
                self.jobs_written += 1
                status = self._query()
                if self.transport.generation != generation:
                    status = no_answer("the connection was lost while printing")
        except Exception as exc:
            self._set_state(DeviceState.IDLE, f"print interrupted: {exc}")
            raise
        self._apply(status)
        return status

    def _apply(self, status: PrinterStatus) -> None:
        """Make the device's power, state and detail say what ``status`` says."""
        self._last = status
        self.status_checks += 1
        if not status.answered:
            self.no_replies += 1
            self._set_power(PowerState.OFFLINE, status.reason)
            self._set_state(DeviceState.IDLE, status.reason)
        else:
            self._set_power(PowerState.ONLINE, status.reason)
            state = DeviceState.IDLE if status.ready else DeviceState.ERROR
            self._set_state(state, status.reason)

    def print_bytes(self, data: bytes) -> None:
        """Send bytes unconfirmed (a test page, a logo upload); the queue uses :meth:`print_job`.

        Raises :class:`DeviceError` if the link fails on the way.
        """
        self._require_enabled()
        self._set_state(DeviceState.BUSY, "printing")
        try:
            with self._io:
                self.transport.write(data)
            self.jobs_written += 1
        finally:
            self._set_state(DeviceState.IDLE, self._last.reason if self._last.answered else "")

    def kick_drawer(self) -> None:
        """Pulse the drawer connector (a drawer wired to the printer opens)."""
        self._require_enabled()
        with self._io:
            self.transport.write(self._kick)
        self.kicks += 1

    # -- lifecycle ---------------------------------------------------------------------------

    def open(self) -> None:
        super().open()
        # Started only once the device is open: a transport that connects at once (USB,
        # simulated) reports its power during start(), and a closed device ignores reports.
        self.transport.start(self._link_changed)

    def close(self) -> None:
        # Stop the link before the base class takes the device lock: the link's reader thread
        # reports power through that lock, and close() would otherwise wait for it to time out.
        if self.state is not DeviceState.CLOSED:
            self.transport.stop()
        super().close()

    def _counters(self) -> Mapping[str, int]:
        return {
            **self.transport.counters(),
            "status_checks": self.status_checks,
            "no_replies": self.no_replies,
            "jobs_written": self.jobs_written,
            "drawer_kicks": self.kicks,
        }

    # -- inside ------------------------------------------------------------------------------

    def _link_changed(self, power: PowerState, detail: str) -> None:
        """Called by the transport (often on its reader thread): only record and notify."""
        self._link_detail = detail
        if power is PowerState.OFFLINE:
            self._last = no_answer(detail)
            self._set_power(power, f"printer offline: {detail}")
            self._set_state(DeviceState.IDLE, f"printer offline: {detail}")
        else:
            self._set_power(power, "")

    def _query(self) -> PrinterStatus:
        replies: dict[int, int] = {}
        try:
            for n in (1, 2, 3, 4):
                if n == 3 and not needs_error_detail(replies[2]):
                    continue
                value = self.transport.ask(
                    escpos_encode.status_query(n), is_status_byte, self.status_timeout
                )
                if value is None:
                    return no_answer("no reply to a status query")
                replies[n] = value
        except DeviceError as exc:
            link_down = not self.transport.online and self._link_detail
            return no_answer(self._link_detail if link_down else str(exc))
        return parse(replies)
