"""A serial barcode scanner, byte for byte, at the far end of a :class:`PtyCable`.

It sends what a real scanner set to the same options puts on the wire — ``[prefix] [AIM
identifier] data suffix`` in one burst — and can misbehave on demand: garbage bytes, half codes,
a pulled cable (through the cable itself). The suffix and prefix tables are written out here
again rather than imported from the till, so a test checks the till against an independent
statement of the wire format.
"""

from __future__ import annotations

from collections.abc import Mapping

from hil.devices.pty_cable import PtyCable

WIRE_SUFFIXES: Mapping[str, bytes] = {
    "CR": b"\x0d",
    "LF": b"\x0a",
    "CRLF": b"\x0d\x0a",
    "TAB": b"\x09",
    "ETX": b"\x03",
    "none": b"",
}
WIRE_PREFIXES: Mapping[str, bytes] = {"none": b"", "STX": b"\x02", "SOH": b"\x01"}


class ScannerEmulator:
    """The scanner's side of the cable; ``aim`` sends an AIM identifier before every code."""

    def __init__(
        self, cable: PtyCable, *, suffix: str = "CR", prefix: str = "none", aim: bool = False
    ) -> None:
        self.cable = cable
        self.suffix = WIRE_SUFFIXES[suffix]
        self.prefix = WIRE_PREFIXES[prefix]
        self.aim = aim
        self.sent: list[bytes] = []

    def frame(self, code: str, symbology: str = "]E0") -> bytes:
        """The exact bytes one scan of ``code`` puts on the wire."""
        ident = symbology.encode("ascii") if self.aim else b""
        return self.prefix + ident + code.encode("ascii") + self.suffix

    def scan(self, code: str, symbology: str = "]E0") -> None:
        """Scan one symbol (``symbology`` is sent only when AIM identifiers are on)."""
        self._send(self.frame(code, symbology))

    def scan_many(self, codes: list[str], symbology: str = "]E0") -> None:
        """Several codes back to back in one write, as a fast presentation scanner does."""
        self._send(b"".join(self.frame(code, symbology) for code in codes))

    def send_half(self, code: str, symbology: str = "]E0") -> None:
        """The first half of a scan, then silence (a reader reset or a glitch mid-code)."""
        whole = self.frame(code, symbology)[: -len(self.suffix) or None]
        self._send(whole[: max(1, len(whole) // 2)])

    def send_garbage(self, data: bytes) -> None:
        """Noise on the line (wrong baud rate, a ground loop, a scanner booting)."""
        self._send(data)

    def _send(self, data: bytes) -> None:
        self.sent.append(data)
        self.cable.write(data)
