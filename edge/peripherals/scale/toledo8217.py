"""Mettler Toledo 8217 ("8213/8217 weight-only ECR") protocol — sans I/O, never raises on input.

Where the format comes from: the 8213/SCP-03 and 8217 command tables in Salter Brecknell's
67xxU service manual (§7.6.3: ``W`` → ``<STX>weight<CR>`` or ``<STX>?<status><CR>``, ``Z``
zeroes and answers with the status record), Transcell's PC-150 manual (Toledo 8213 "demand"
format, status byte table B-4), Rice Lake's BenchPro manual (same status table) and Mettler
Toledo's Viva/Ariva-S service manual as cited by the Odoo POS driver (9600 baud, 7 data bits,
even parity, one stop bit; weight matched as ``<STX> *[0-9.]+N?<CR>``).

Host → scale: single ASCII characters, no terminator: ``W`` weight, ``Z`` zero.

Scale → host:

* weight record ``STX`` *weight* ``CR``: the displayed weight with its decimal point and no
  unit (the unit is the scale's setting, configured on the till too), optionally space-padded
  and followed by ``N`` for a net weight. Only sent when the weight is valid: stable, not below
  zero, within capacity.
* status record ``STX ? S CR``, where S is the status byte: bit 0 in motion, bit 1 over capacity,
  bit 2 under zero, bit 3 outside zero-capture range, bit 4 centre of zero, bit 7 parity. Bits 5
  and 6 are "always 1" in the Brecknell, Transcell and Rice Lake tables, but Odoo's reading of
  the Mettler manual names them "net weight" and "bad command" and quotes ``?D`` (0x44) as a
  real reply; so they are not checked, and any printable status byte is accepted.

Every byte is 7-bit data; bit 7 is masked off, so the decoder works whether the UART strips
parity (7E1) or hands it over (8N1 on a 7E1 line).

The protocol has no tare command and no stability flag on a weight record: a weight record *is*
the stable weight.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, ClassVar

from edge.peripherals.scale.reading import Reading, ScaleState, SubGram, Unit, WeightError, to_grams

STX, CR = 0x02, 0x0D
MAX_FRAME = 16
"""Longest body between STX and CR: a 6-digit display, point, padding and the N flag fit."""

MOTION, OVER_CAPACITY, UNDER_ZERO, ZERO_RANGE, CENTER_OF_ZERO = 1, 2, 4, 8, 16

_WEIGHT = re.compile(rb" *([0-9]*\.?[0-9]+|[0-9]+\.)(N?)")


class Toledo8217:
    """The codec: command bytes out, :class:`Reading` values in."""

    name = "toledo8217"
    serial_defaults: ClassVar[Mapping[str, Any]] = MappingProxyType(
        {"baudrate": 9600, "bytesize": 7, "parity": "E", "stopbits": 1}
    )
    has_tare = False
    reports_stability = True
    """A weight record is only sent for a stable weight."""

    def __init__(self, unit: Unit = Unit.KG, sub_gram: SubGram = SubGram.REJECT) -> None:
        self.unit = unit
        self.sub_gram = sub_gram

    def request_weight(self) -> bytes:
        return b"W"

    def request_zero(self) -> bytes:
        return b"Z"

    def request_tare(self) -> bytes | None:
        return None

    def decoder(self) -> Toledo8217Decoder:
        return Toledo8217Decoder(self)


def status_reading(status: int) -> Reading:
    """The state a status byte reports, worst condition first."""
    if status & OVER_CAPACITY:
        return Reading(ScaleState.OVER_CAPACITY)
    if status & UNDER_ZERO:
        return Reading(ScaleState.UNDER_ZERO)
    if status & ZERO_RANGE:
        return Reading(ScaleState.ERROR, detail="zero outside the capture range")
    if status & MOTION:
        return Reading(ScaleState.MOTION)
    return Reading(ScaleState.STABLE)


class Toledo8217Decoder:
    """Streaming decoder: bytes outside ``STX … CR`` and malformed records are counted."""

    def __init__(self, codec: Toledo8217) -> None:
        self._codec = codec
        self._buf = bytearray()
        self._in_frame = False
        self.counters: Counter[str] = Counter()

    def reset(self) -> None:
        """Forget a half reply (before a new request: its answer cannot be in it)."""
        if self._in_frame:
            self.counters["truncated"] += 1
        self._in_frame, self._buf = False, bytearray()

    def feed(self, data: bytes) -> list[Reading]:
        out: list[Reading] = []
        for raw in data:
            b = raw & 0x7F
            if b == STX:
                if self._in_frame:
                    self.counters["truncated"] += 1
                self._in_frame, self._buf = True, bytearray()
            elif not self._in_frame:
                self.counters["garbage"] += 1
            elif b == CR:
                self._in_frame = False
                reading = self._record(bytes(self._buf))
                if reading is not None:
                    out.append(reading)
            elif len(self._buf) >= MAX_FRAME:
                self.counters["too_long"] += 1
                self._in_frame = False
            else:
                self._buf.append(b)
        return out

    def _record(self, body: bytes) -> Reading | None:
        if body[:1] == b"?":
            if len(body) != 2 or body[1] < 0x20:
                self.counters["bad_status"] += 1
                return None
            return status_reading(body[1])
        m = _WEIGHT.fullmatch(body)
        if m is None:
            self.counters["bad_record"] += 1
            return None
        try:
            grams = to_grams(m[1].decode("ascii"), self._codec.unit, self._codec.sub_gram)
        except WeightError as exc:
            return Reading(ScaleState.ERROR, detail=str(exc))
        return Reading(ScaleState.STABLE, grams, net=m[2] == b"N")
