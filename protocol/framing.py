"""Wire framing of the serial link between a till and its keypad/customer-display I/O board.

This module is the specification of that link's byte format. The I/O board (an RP2040 running
MicroPython) implements the same contract, so everything below is written to be mirrored there:

* mirrored by the firmware, function for function, in the same plain subset of Python
  (``bytes``/``bytearray``, ints, loops, ``bytes.find``): :func:`crc16_ccitt_false`,
  :func:`cobs_encode`, :func:`cobs_decode`, :func:`encode_frame` and :func:`decode_frame`;
* mirrored in behaviour (the same delimiter/resynchronisation rules and buffer bound):
  :class:`FrameDecoder`. The named tuple :class:`Frame` and the counters in
  :class:`DecoderStats` are conveniences of this side.

CRC
    CRC-16/CCITT-FALSE (also catalogued as CRC-16/IBM-3740 and CRC-16/AUTOSAR): width 16,
    polynomial 0x1021, initial value 0xFFFF, input and output not reflected, final XOR 0x0000.
    Check value: the CRC of ASCII ``123456789`` is 0x29B1.

COBS
    Consistent Overhead Byte Stuffing (Cheshire & Baker, IEEE/ACM ToN 1999), in the common form
    whose examples Wikipedia tabulates: the data is cut at each zero byte and after every run of
    254 non-zero bytes; each block is sent as a code byte ``n`` (1..255) followed by its ``n - 1``
    non-zero bytes, and a code below 0xFF stands for a zero after its block unless it is the last
    block. When the data ends exactly after a full 254-byte block nothing more is sent (no
    trailing ``01``). Examples: ``00`` -> ``01 01``; ``11 22 00 33`` -> ``03 11 22 02 33``;
    ``01 02 .. FE`` (254 bytes) -> ``FF 01 02 .. FE``; ``01 02 .. FF`` (255 bytes) ->
    ``FF 01 .. FE 02 FF``. The empty string encodes as ``01``. The encoded form never contains
    0x00 and is at most ``n + 1 + n // 254`` bytes long. Decoding is strict, so every byte string
    has exactly one valid encoding: a zero byte, a code byte that points past the end, an empty
    input and the one non-canonical spelling (a full ``FF`` block followed by a final ``01``) are
    all rejected.

Frame (before COBS)::

    type:u8 | seq:u8 | len:u8 | payload[len] | crc:u16 big-endian

    crc = CRC-16/CCITT-FALSE over type, seq, len and payload.
    type  DATA = 0x01 carries 0..MAX_PAYLOAD (250) payload bytes and a sequence number;
          ACK  = 0x02 has no payload; its seq is the DATA seq being acknowledged;
          NAK  = 0x03 has no payload; its seq is the DATA seq the receiver still expects.
    Any other type, a ``len`` that disagrees with the frame's actual size, a payload longer than
    250 bytes or an ACK/NAK with a payload is invalid.

Wire
    ``COBS(frame)`` followed by one 0x00 delimiter. A sender may also send a 0x00 before a frame
    so that line noise received since the last delimiter is cut off and cannot merge with it; the
    receiver ignores empty frames (two zeros in a row). A whole frame is at most
    :data:`MAX_FRAME` = 255 bytes, :data:`MAX_ENCODED` = 257 bytes encoded and
    :data:`MAX_WIRE` = 258 bytes on the wire. A receiver buffers at most :data:`MAX_ENCODED`
    bytes: a longer run without a delimiter is discarded up to and including the next 0x00, and
    decoding resumes after it.

Error detection — what is and is not guaranteed
    Let one bit flip anywhere in a frame's wire bytes: a data byte, a code byte, its delimiter
    or the sender's optional 0x00 before it. Then, with certainty, **that frame is not
    delivered**: strict COBS decoding is one-to-one, so no other chunk of bytes decodes to the
    same frame, and the pieces a flip can make all fail a check —

    * a flip that leaves a data byte non-zero changes exactly one bit of the frame, and the CRC
      detects every single-bit error;
    * a flip that turns a byte into 0x00 cuts the frame in two. The first part fails COBS (its
      last block is cut short) or, when the byte was a code byte, decodes to a strict prefix of
      the frame, whose ``len`` byte then cannot match;
    * a flip of the delimiter merges the frame with what follows up to the next 0x00; that
      fails COBS or decodes to the whole frame plus at least one byte, so ``len`` cannot match
      (one reason decoding is strict: a lenient decoder would read a final ``FF`` block + ``01``
      as the frame itself). The following frame is lost with it unless its sender put a 0x00
      in front of it;
    * a flip of the sender's leading 0x00 puts a byte in front of the frame's chunk, so the
      chunk differs from the frame's encoding.

    What is *not* certain is that nothing else is delivered instead. Two residual cases rest on
    the ``len`` byte, the type byte and the CRC alone, so their odds depend on the data:

    * **The second part of a cut frame** is delivered if it happens to decode to a well-formed
      frame: matching ``len`` (~2^-8), known type (3/256) and matching CRC (2^-16), about
      2^-24 x 3/256 ~ 1e-9 for data that looks random (measured: about 1 in 10^4 such
      fragments even gets past COBS, ``len`` and type). But a payload that embeds ``01 00``
      and a complete frame with a crafted CRC makes it certain (tests/protocol/test_framing.py
      has one), so the framing is no defence against an adversary choosing payload bytes.
    * **A code byte changed to another non-zero value** moves the implied zeros. The chunk is
      often still valid COBS — more often the more zero bytes the frame has — usually of the
      same length, so ``len`` still matches, and it differs from the frame in several places.
      Among same-length changes the CRC catches with certainty those of at most 3 bits, of odd
      weight or within 16 consecutive bits; the rest pass with odds 2^-16. Measured over random
      frames (all single-bit flips of code bytes): with 5 % of payload bytes zero, 1.4 % of the
      flips are of that kind, with 25 % zeros 7.7 %, with 50 % zeros 16 % — a residual of about
      2e-7, 1.2e-6 and 2.5e-6 per code-byte flip. One such case is pinned in the tests.

    Summed over every bit of the wire bytes, a single-bit error delivers a wrong frame with odds
    of about 1e-6 when half the payload bytes are zero, 3e-7 at a quarter, 1e-8 at 5 % and far
    less without zeros (none of 150 000 such flips even got past COBS, ``len`` and type) — and
    never delivers the frame that was hit. Errors of more than one bit — bursts, lost or
    inserted bytes — meet the same checks with odds of the same order but no certainty. The
    link layer (:mod:`protocol.link`) adds no check of its own: an application message whose
    corruption would be costly (an amount, a PIN-pad command) carries its own integrity check.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, NamedTuple

from protocol.errors import FrameError

__all__ = [
    "ACK",
    "DATA",
    "FRAME_TYPES",
    "MAX_ENCODED",
    "MAX_FRAME",
    "MAX_PAYLOAD",
    "MAX_WIRE",
    "NAK",
    "DecoderStats",
    "Frame",
    "FrameDecoder",
    "cobs_decode",
    "cobs_encode",
    "crc16_ccitt_false",
    "decode_frame",
    "encode_frame",
]

DATA: Final = 0x01
"""Frame type of a payload-carrying frame; its seq numbers the payload for the link layer."""
ACK: Final = 0x02
"""Frame type acknowledging the DATA frame whose seq it carries; never has a payload."""
NAK: Final = 0x03
"""Frame type telling the peer which DATA seq the receiver still expects; never has a payload."""
FRAME_TYPES: Final = (DATA, ACK, NAK)
"""Every frame type a decoder accepts; anything else is counted as ``unknown_type``."""

MAX_PAYLOAD: Final = 250
"""Largest DATA payload in bytes, chosen so a whole wire frame fits the board's 258-byte buffers."""
MAX_FRAME: Final = 3 + MAX_PAYLOAD + 2
"""Largest frame before COBS: header (type, seq, len), payload and CRC — 255 bytes."""
MAX_ENCODED: Final = MAX_FRAME + 2
"""Largest COBS-encoded frame (255 bytes encode to at most 257); the receiver's buffer bound."""
MAX_WIRE: Final = MAX_ENCODED + 1
"""Largest frame on the wire: encoded frame and its 0x00 delimiter — 258 bytes."""

_HEADER: Final = 3
_OVERHEAD: Final = _HEADER + 2


def _make_crc_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
        table.append(crc & 0xFFFF)
    return table


_CRC_TABLE: Final = _make_crc_table()


def crc16_ccitt_false(data: bytes | bytearray, crc: int = 0xFFFF) -> int:
    """Return the CRC-16/CCITT-FALSE of ``data`` (poly 0x1021, init 0xFFFF, unreflected, xorout 0).

    Passing the result of a previous call as ``crc`` continues the computation, so
    ``crc16_ccitt_false(b, crc16_ccitt_false(a)) == crc16_ccitt_false(a + b)``. Table-driven,
    one table lookup per byte; ``crc16_ccitt_false(b"123456789") == 0x29B1``.
    """
    table = _CRC_TABLE
    for byte in data:
        crc = ((crc << 8) & 0xFFFF) ^ table[((crc >> 8) ^ byte) & 0xFF]
    return crc


def cobs_encode(data: bytes | bytearray) -> bytes:
    """Return the COBS encoding of ``data``: no 0x00 byte in it, at most ``n + 1 + n // 254`` long.

    The encoding is the canonical one described in the module docstring (no trailing ``01``
    after a final full block), the only one :func:`cobs_decode` accepts. The delimiter is not
    included.
    """
    out = bytearray()
    n = len(data)
    start = 0
    while True:
        zero = data.find(b"\x00", start, start + 254)
        if zero >= 0:
            out.append(zero - start + 1)
            out += data[start:zero]
            start = zero + 1
            continue
        end = min(start + 254, n)
        out.append(end - start + 1)
        out += data[start:end]
        if end - start < 254 or end == n:
            return bytes(out)
        start = end


def cobs_decode(data: bytes | bytearray) -> bytes:
    """Return the bytes whose COBS encoding is ``data`` (without its delimiter).

    Raises :class:`FrameError` — and nothing else, whatever the input — if ``data`` is empty,
    contains a 0x00, has a code byte pointing past its end or is the non-canonical spelling of
    a full final block (``FF`` block followed by a final ``01``). So whenever this returns,
    ``cobs_encode(result) == data``.
    """
    n = len(data)
    if n == 0:
        raise FrameError("expected a COBS block, got no bytes")
    zero = data.find(b"\x00")
    if zero >= 0:
        raise FrameError(f"expected no 0x00 inside a COBS block, got one at offset {zero}")
    out = bytearray()
    pos = 0
    code = 0
    while pos < n:
        previous = code
        code = data[pos]
        end = pos + code
        if end > n:
            raise FrameError(f"COBS code 0x{code:02X} at {pos} points past the end ({n} bytes)")
        out += data[pos + 1 : end]
        pos = end
        if pos < n:
            if code != 0xFF:
                out.append(0)
        elif code == 1 and previous == 0xFF:
            raise FrameError("non-canonical COBS: a final 01 block after a full FF block")
    return bytes(out)


class Frame(NamedTuple):
    """One decoded frame: its type (:data:`DATA`, :data:`ACK`, :data:`NAK`), seq and payload."""

    type: int
    seq: int
    payload: bytes = b""


def encode_frame(type: int, seq: int, payload: bytes = b"") -> bytes:
    """Return the wire bytes of one frame: ``COBS(type|seq|len|payload|crc16)`` and a 0x00.

    Raises :class:`FrameError` for a type other than DATA/ACK/NAK, a seq outside 0..255, a
    DATA payload longer than :data:`MAX_PAYLOAD` or an ACK/NAK with a payload.
    """
    if type not in FRAME_TYPES:
        raise FrameError(f"expected frame type DATA, ACK or NAK (1..3), got {type!r}")
    if not 0 <= seq <= 0xFF:
        raise FrameError(f"expected seq 0..255, got {seq!r}")
    n = len(payload)
    if n > MAX_PAYLOAD:
        raise FrameError(f"expected a payload of at most {MAX_PAYLOAD} bytes, got {n}")
    if n and type != DATA:
        raise FrameError(f"expected no payload on an ACK/NAK frame, got {n} bytes")
    raw = bytearray((type, seq, n))
    raw += payload
    crc = crc16_ccitt_false(raw)
    raw.append(crc >> 8)
    raw.append(crc & 0xFF)
    return cobs_encode(raw) + b"\x00"


# Why a chunk was rejected: indexes into _REASONS, shared by decode_frame and FrameDecoder.
_COBS, _LENGTH, _CRC, _TYPE = 0, 1, 2, 3
_REASONS: Final = ("bad COBS", "length mismatch", "CRC mismatch", "unknown type")


def _parse(chunk: bytes) -> Frame | int:
    """Decode one delimited chunk into a Frame, or return why not (an index into _REASONS)."""
    try:
        raw = cobs_decode(chunk)
    except FrameError:
        return _COBS
    n = len(raw) - _OVERHEAD
    if n < 0 or raw[2] != n or n > MAX_PAYLOAD:
        return _LENGTH
    if crc16_ccitt_false(raw[: _HEADER + n]) != (raw[-2] << 8) | raw[-1]:
        return _CRC
    if raw[0] not in FRAME_TYPES:
        return _TYPE
    if n and raw[0] != DATA:
        return _LENGTH
    return Frame(raw[0], raw[1], raw[_HEADER : _HEADER + n])


def decode_frame(chunk: bytes) -> Frame:
    """Decode one encoded frame (the bytes between two delimiters, or with its trailing 0x00).

    Checks, in this order: COBS, ``len`` against the frame size (and the payload bound), CRC,
    known type, no payload on ACK/NAK. Raises :class:`FrameError` naming the first that fails.
    """
    if chunk.endswith(b"\x00"):
        chunk = chunk[:-1]
    result = _parse(chunk)
    if isinstance(result, int):
        raise FrameError(f"expected a valid frame, got one with {_REASONS[result]}")
    return result


@dataclass(slots=True)
class DecoderStats:
    """Line-quality counters of a :class:`FrameDecoder`, for the driver to report.

    Every non-empty chunk that a 0x00 terminates adds one to exactly one of ``frames``,
    ``cobs_errors``, ``length_errors``, ``crc_errors`` and ``unknown_type``; a run longer than
    :data:`MAX_ENCODED` without a delimiter adds one to ``oversize`` instead (when it crosses
    the limit). ``bytes_discarded`` counts the non-zero bytes of every rejected chunk and
    over-long run, so the bytes fed always add up to: zero bytes + wire bytes of delivered
    frames without their delimiter + ``bytes_discarded`` + :attr:`FrameDecoder.pending`.
    """

    frames: int = 0
    crc_errors: int = 0
    cobs_errors: int = 0
    length_errors: int = 0
    oversize: int = 0
    unknown_type: int = 0
    bytes_discarded: int = 0

    def errors(self) -> int:
        """Return the number of rejected chunks and over-long runs of every kind."""
        return (
            self.crc_errors
            + self.cobs_errors
            + self.length_errors
            + self.oversize
            + self.unknown_type
        )


class FrameDecoder:
    """Streaming decoder: feed it the received bytes in any chunking, get back whole valid frames.

    It never raises on any input. Bytes are buffered up to the next 0x00; each non-empty chunk
    is then decoded with the checks of :func:`decode_frame` and either returned as a
    :class:`Frame` or skipped and counted in :attr:`stats`. A run of more than
    :data:`MAX_ENCODED` bytes without a 0x00 cannot be a frame: it is dropped (counted in
    ``oversize``) and everything up to and including the next 0x00 is discarded, after which
    decoding resumes. Memory use is bounded by :data:`MAX_ENCODED` bytes.
    """

    def __init__(self) -> None:
        self.stats = DecoderStats()
        """Counters of delivered frames and of every kind of rejected input."""
        self._buf = bytearray()
        self._discarding = False

    @property
    def pending(self) -> int:
        """Bytes received since the last delimiter and kept for the next frame."""
        return len(self._buf)

    def feed(self, data: bytes | bytearray) -> list[Frame]:
        """Consume ``data`` and return the frames it completes, in order (often none)."""
        frames: list[Frame] = []
        stats = self.stats
        buf = self._buf
        n = len(data)
        pos = 0
        while pos < n:
            zero = data.find(b"\x00", pos)
            end = n if zero < 0 else zero
            if self._discarding:
                stats.bytes_discarded += end - pos
            else:
                # Never copy more than one byte past the bound, whatever the size of ``data``.
                take = min(end, pos + MAX_ENCODED + 1 - len(buf))
                buf += data[pos:take]
                if len(buf) > MAX_ENCODED:
                    stats.oversize += 1
                    stats.bytes_discarded += len(buf) + end - take
                    buf.clear()
                    self._discarding = True
            if zero < 0:
                break
            pos = zero + 1
            if self._discarding:
                self._discarding = False
                continue
            if not buf:
                continue
            result = _parse(bytes(buf))
            if isinstance(result, Frame):
                stats.frames += 1
                frames.append(result)
            else:
                stats.bytes_discarded += len(buf)
                if result == _COBS:
                    stats.cobs_errors += 1
                elif result == _LENGTH:
                    stats.length_errors += 1
                elif result == _CRC:
                    stats.crc_errors += 1
                else:
                    stats.unknown_type += 1
            buf.clear()
        return frames

    def reset(self) -> None:
        """Drop any partial frame (e.g. after reopening the port); the counters are kept."""
        self._buf.clear()
        self._discarding = False
