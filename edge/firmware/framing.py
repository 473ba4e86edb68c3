"""The serial frame format of the till link, as the board runs it.

A function-for-function mirror of ``protocol/framing.py`` (the specification; read its
docstring for the byte format and the error-detection argument): ``crc16_ccitt_false``,
``cobs_encode``, ``cobs_decode``, ``encode_frame``, ``decode_frame`` and ``FrameDecoder`` with
the same counters. It cannot import ``protocol`` — only MicroPython built-ins exist on the
board — so host tests check the two byte for byte. Decoding errors raise ``ValueError`` here
(MicroPython has no ``FrameError``); ``FrameDecoder`` never raises.
"""

from micropython import const

DATA = const(0x01)
ACK = const(0x02)
NAK = const(0x03)

MAX_PAYLOAD = const(250)
MAX_FRAME = const(255)
MAX_ENCODED = const(257)
MAX_WIRE = const(258)

HEADER = const(3)
OVERHEAD = const(5)

# Why a chunk was rejected, as FrameDecoder counts it.
OK = const(0)
BAD_COBS = const(1)
BAD_LENGTH = const(2)
BAD_CRC = const(3)
BAD_TYPE = const(4)


def _make_crc_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
        table.append(crc & 0xFFFF)
    return table


CRC_TABLE = _make_crc_table()


def crc16_ccitt_false(data: bytes | bytearray, crc: int = 0xFFFF) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF); ``b"123456789"`` gives 0x29B1."""
    table = CRC_TABLE
    for byte in data:
        crc = ((crc << 8) & 0xFFFF) ^ table[((crc >> 8) ^ byte) & 0xFF]
    return crc


def cobs_encode(data: bytes | bytearray) -> bytes:
    """Canonical COBS (no trailing 01 after a final full block); no delimiter."""
    out = bytearray()
    n = len(data)
    start = 0
    while True:
        limit = min(start + 254, n)
        end = start
        while end < limit and data[end] != 0:
            end += 1
        out.append(end - start + 1)
        out += data[start:end]
        if end < limit:  # stopped at a zero: it is implied by this block's code
            start = end + 1
            continue
        if end - start < 254 or end == n:
            return bytes(out)
        start = end


def cobs_decode(data: bytes | bytearray) -> bytes:
    """Strict COBS decoding; raises ValueError exactly where ``protocol`` raises FrameError."""
    n = len(data)
    if n == 0:
        raise ValueError("empty COBS block")
    out = bytearray()
    pos = 0
    code = 0
    while pos < n:
        previous = code
        code = data[pos]
        if code == 0:
            raise ValueError("0x00 inside a COBS block")
        end = pos + code
        if end > n:
            raise ValueError("COBS code points past the end")
        i = pos + 1
        while i < end:
            if data[i] == 0:
                raise ValueError("0x00 inside a COBS block")
            i += 1
        out += data[pos + 1 : end]
        pos = end
        if pos < n:
            if code != 0xFF:
                out.append(0)
        elif code == 1 and previous == 0xFF:
            raise ValueError("non-canonical COBS")
    return bytes(out)


def encode_frame(type: int, seq: int, payload: bytes = b"") -> bytes:
    """Wire bytes of one frame: ``COBS(type|seq|len|payload|crc16)`` and a 0x00."""
    if type not in (DATA, ACK, NAK):
        raise ValueError("bad frame type")
    if seq < 0 or seq > 0xFF:
        raise ValueError("bad seq")
    n = len(payload)
    if n > MAX_PAYLOAD:
        raise ValueError("payload too long")
    if n and type != DATA:
        raise ValueError("payload on ACK/NAK")
    raw = bytearray((type, seq, n))
    raw += payload
    crc = crc16_ccitt_false(raw)
    raw.append(crc >> 8)
    raw.append(crc & 0xFF)
    return cobs_encode(raw) + b"\x00"


def parse(chunk: bytes | bytearray) -> tuple[int, int, int, bytes]:
    """Decode one delimited chunk: ``(reason, type, seq, payload)``, reason OK if valid.

    The checks run in the specification's order — COBS, ``len``, CRC, type, no payload on
    ACK/NAK — so both ends count a given bad chunk under the same heading.
    """
    try:
        raw = cobs_decode(chunk)
    except ValueError:
        return BAD_COBS, 0, 0, b""
    n = len(raw) - OVERHEAD
    if n < 0 or raw[2] != n or n > MAX_PAYLOAD:
        return BAD_LENGTH, 0, 0, b""
    if crc16_ccitt_false(raw[: HEADER + n]) != (raw[-2] << 8) | raw[-1]:
        return BAD_CRC, 0, 0, b""
    kind = raw[0]
    if kind not in (DATA, ACK, NAK):
        return BAD_TYPE, 0, 0, b""
    if n and kind != DATA:
        return BAD_LENGTH, 0, 0, b""
    return OK, kind, raw[1], raw[HEADER : HEADER + n]


def decode_frame(chunk: bytes | bytearray) -> tuple[int, int, bytes]:
    """Decode one encoded frame (with or without its 0x00) to ``(type, seq, payload)``."""
    if len(chunk) and chunk[-1] == 0:
        chunk = chunk[:-1]
    reason, kind, seq, payload = parse(chunk)
    if reason != OK:
        raise ValueError("bad frame")
    return kind, seq, payload


class FrameDecoder:
    """Streaming decoder with the specification's delimiter, resync and buffer-bound rules.

    ``feed`` never raises; garbage is skipped and counted in the same counters as
    ``protocol.framing.DecoderStats`` (``frames``, ``crc_errors``, ``cobs_errors``,
    ``length_errors``, ``oversize``, ``unknown_type``, ``bytes_discarded``).
    """

    def __init__(self) -> None:
        self.frames = 0
        self.crc_errors = 0
        self.cobs_errors = 0
        self.length_errors = 0
        self.oversize = 0
        self.unknown_type = 0
        self.bytes_discarded = 0
        self._buf = bytearray()
        self._discarding = False

    @property
    def pending(self) -> int:
        return len(self._buf)

    def errors(self) -> int:
        return (
            self.crc_errors
            + self.cobs_errors
            + self.length_errors
            + self.oversize
            + self.unknown_type
        )

    def feed(self, data: bytes | bytearray) -> list[tuple[int, int, bytes]]:
        """Consume bytes in any chunking; return the ``(type, seq, payload)`` they complete."""
        frames: list[tuple[int, int, bytes]] = []
        for byte in data:
            if byte:
                if self._discarding:
                    self.bytes_discarded += 1
                elif len(self._buf) < MAX_ENCODED:
                    self._buf.append(byte)
                else:
                    self.oversize += 1
                    self.bytes_discarded += len(self._buf) + 1
                    self._buf = bytearray()
                    self._discarding = True
                continue
            if self._discarding:
                self._discarding = False
                continue
            if not self._buf:
                continue
            reason, kind, seq, payload = parse(self._buf)
            if reason == OK:
                self.frames += 1
                frames.append((kind, seq, payload))
            else:
                self.bytes_discarded += len(self._buf)
                if reason == BAD_COBS:
                    self.cobs_errors += 1
                elif reason == BAD_LENGTH:
                    self.length_errors += 1
                elif reason == BAD_CRC:
                    self.crc_errors += 1
                else:
                    self.unknown_type += 1
            self._buf = bytearray()
        return frames

    def reset(self) -> None:
        """Drop any partial frame; the counters are kept."""
        self._buf = bytearray()
        self._discarding = False
