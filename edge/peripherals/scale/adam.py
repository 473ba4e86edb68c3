"""Adam Equipment serial command protocol (MDW series, "S.F. 3") — sans I/O, never raises.

Where the format comes from: Adam Equipment MDW-250L/MDW-300L user manual, Rev C5 (January
2012), §8.5 "When parameter S.F. is set to 3" with §8.5.1–8.5.3 (field layout, symbols, commands
and responses) and Table 1 "The status bits definition".

Host → scale: an ASCII letter and CR — ``W`` weight, ``S`` status, ``Z`` zero, ``T`` tare.

Scale → host, every reply framed ``LF … CR ETX``:

* weight: ``LF`` *field* *unit* ``CR LF`` H1 H2 H3 ``CR ETX``. The field is 9 characters:
  polarity (``-`` or space), 7 digits with leading zeros suppressed and a decimal point where
  the scale's setting puts it (or none). Over capacity fills it with ``^``, under capacity with
  ``_``, a zero-point error with ``-``. The unit is two lower-case characters (``kg``, ``lb``).
* status: ``LF`` H1 H2 H3 ``CR ETX``; an unknown command: ``LF ? CR ETX``.
* H1: bit 0 not stable, bit 1 at zero, bit 3 EEPROM error; bits 4–5 set, bit 6 clear.
  H2: bit 0 under capacity, bit 1 over capacity; bits 4–6 set.
  H3: bits 0–1 mode (01 normal, 10 hold), bit 2 net; bits 4–5 set, bit 6 clear.
  Bit 7 of each is parity and masked off here.

Unlike Toledo 8217, the weight comes with a stability flag (H1 bit 0) and in motion too.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, ClassVar

from edge.peripherals.scale.reading import Reading, ScaleState, SubGram, Unit, WeightError, to_grams

LF, CR, ETX = 0x0A, 0x0D, 0x03
MAX_FRAME = 32

H1_MOTION, H1_AT_ZERO, H1_EEPROM = 1, 2, 8
H2_UNDER, H2_OVER = 1, 2
H3_NET = 4

_FIELD = re.compile(rb" *(-?) *([0-9]*\.?[0-9]+|[0-9]+\.)")
_UNITS = {b"kg": Unit.KG, b"g ": Unit.G, b" g": Unit.G}


class Adam:
    """The codec: command bytes out, :class:`Reading` values in."""

    name = "adam"
    serial_defaults: ClassVar[Mapping[str, Any]] = MappingProxyType(
        {"baudrate": 9600, "bytesize": 8, "parity": "N", "stopbits": 1}
    )
    has_tare = True
    reports_stability = True

    def __init__(self, sub_gram: SubGram = SubGram.REJECT) -> None:
        self.sub_gram = sub_gram

    def request_weight(self) -> bytes:
        return b"W\r"

    def request_zero(self) -> bytes:
        return b"Z\r"

    def request_tare(self) -> bytes | None:
        return b"T\r"

    def decoder(self) -> AdamDecoder:
        return AdamDecoder(self)


def _status(h: bytes) -> tuple[int, int, int] | None:
    h1, h2, h3 = (b & 0x7F for b in h)
    if (h1 & 0x70, h2 & 0x70, h3 & 0x70) != (0x30, 0x70, 0x30):
        return None
    return h1, h2, h3


class AdamDecoder:
    """Streaming decoder: bytes outside ``LF … ETX`` and malformed replies are counted."""

    def __init__(self, codec: Adam) -> None:
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
            if not self._in_frame:
                if b == LF:
                    self._in_frame, self._buf = True, bytearray()
                else:
                    self.counters["garbage"] += 1
            elif b == ETX:
                self._in_frame = False
                reading = self._reply(bytes(self._buf))
                if reading is not None:
                    out.append(reading)
                else:
                    self.counters["bad_reply"] += 1
            elif len(self._buf) >= MAX_FRAME:
                self.counters["too_long"] += 1
                self._in_frame = False
            else:
                self._buf.append(b)
        return out

    def _reply(self, body: bytes) -> Reading | None:
        if not body.endswith(b"\r"):
            return None
        lines = body[:-1].split(b"\r\n")
        if lines == [b"?"]:
            return Reading(ScaleState.ERROR, detail="the scale refused the command")
        if len(lines) not in (1, 2) or len(lines[-1]) != 3:
            return None
        status = _status(lines[-1])
        if status is None:
            return None
        h1, h2, h3 = status
        net = bool(h3 & H3_NET)
        if len(lines) == 1:
            return self._state(h1, h2, None, net)
        line = lines[0]
        if len(line) != 11:
            return None
        field, unit_text = line[:9], line[9:]
        if field == b"^" * 9:
            return Reading(ScaleState.OVER_CAPACITY, net=net)
        if field == b"_" * 9:
            return Reading(ScaleState.UNDER_ZERO, net=net)
        if field == b"-" * 9:
            return Reading(ScaleState.ERROR, net=net, detail="zero-point error")
        m = _FIELD.fullmatch(field)
        if m is None:
            return None
        unit = _UNITS.get(unit_text)
        if unit is None:
            detail = f"the scale weighs in {unit_text.decode('ascii', 'replace').strip()!r}"
            return Reading(ScaleState.ERROR, detail=detail + ", set it to kg or g")
        try:
            grams = to_grams((m[1] + m[2]).decode("ascii"), unit, self._codec.sub_gram)
        except WeightError as exc:
            return Reading(ScaleState.ERROR, detail=str(exc), net=net)
        return self._state(h1, h2, grams, net)

    @staticmethod
    def _state(h1: int, h2: int, grams: int | None, net: bool) -> Reading:
        if h2 & H2_OVER:
            return Reading(ScaleState.OVER_CAPACITY, grams, net)
        if h2 & H2_UNDER or (grams is not None and grams < 0):
            return Reading(ScaleState.UNDER_ZERO, grams, net)
        if h1 & H1_EEPROM:
            return Reading(ScaleState.ERROR, grams, net, "scale EEPROM error")
        if h1 & H1_MOTION:
            return Reading(ScaleState.MOTION, grams, net)
        return Reading(ScaleState.STABLE, grams, net)
