"""Throughput of the serial-link framing on this machine: encode, decode and CRC.

The line runs at 115 200 baud (about 11.5 kB/s), so framing must stay far above that even on
the till's Raspberry Pi; these numbers show the margin. Throughput is recorded in
``benchmark.extra_info["bytes_per_s"]`` (payload bytes per second, or input bytes for the CRC).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from protocol.framing import DATA, MAX_PAYLOAD, Frame, FrameDecoder, crc16_ccitt_false, encode_frame

T = TypeVar("T")

FRAMES_PER_ROUND = 20
# A payload with zeros in it, so COBS has several blocks to handle, like real binary messages.
PAYLOAD = bytes((i * 7) & 0xFF if i % 9 else 0 for i in range(MAX_PAYLOAD))


class Benchmark(Protocol):
    """The parts of pytest-benchmark's ``benchmark`` fixture used here (it is untyped)."""

    extra_info: dict[str, Any]
    stats: Any

    def __call__(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T: ...


def _record_throughput(benchmark: Benchmark, nbytes: int) -> None:
    """Store bytes per second from the mean round time (absent with --benchmark-disable)."""
    benchmark.extra_info["bytes_per_round"] = nbytes
    if benchmark.stats is not None:
        mean = benchmark.stats.stats.mean
        benchmark.extra_info["bytes_per_s"] = round(nbytes / mean) if mean else None


def test_encode_250_byte_frames(benchmark: Benchmark) -> None:
    def encode() -> list[bytes]:
        return [encode_frame(DATA, seq, PAYLOAD) for seq in range(FRAMES_PER_ROUND)]

    wires = benchmark(encode)
    assert len(wires) == FRAMES_PER_ROUND
    _record_throughput(benchmark, FRAMES_PER_ROUND * MAX_PAYLOAD)


def test_decode_250_byte_frames(benchmark: Benchmark) -> None:
    stream = b"".join(encode_frame(DATA, seq, PAYLOAD) for seq in range(FRAMES_PER_ROUND))

    def decode() -> list[Frame]:
        return FrameDecoder().feed(stream)

    frames = benchmark(decode)
    assert frames == [Frame(DATA, seq, PAYLOAD) for seq in range(FRAMES_PER_ROUND)]
    _record_throughput(benchmark, FRAMES_PER_ROUND * MAX_PAYLOAD)


def test_crc_1kib(benchmark: Benchmark) -> None:
    data = bytes(range(256)) * 4
    crc = benchmark(crc16_ccitt_false, data)
    assert 0 <= crc <= 0xFFFF
    _record_throughput(benchmark, len(data))
