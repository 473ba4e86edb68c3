"""The scale the till weighs with: one reading, or wait for a settled one.

A weighed line is sold only on a stable weight (legal-for-trade rules, and the customer's trust):
:meth:`Scale.wait_stable` keeps asking until the scale reports a stable, positive weight within
its range — and, if the protocol carries no stability flag or the store wants more certainty,
the same weight ``equal_readings`` times in a row. Otherwise it gives up at its deadline with a
:class:`ScaleError` the cashier can act on: "scale not settling", "scale over capacity",
"scale offline"... It never blocks longer than asked; the till decides to retry or key the
weight in.

:class:`SerialScale` asks a real scale over a
:class:`~edge.peripherals.serial_port.SerialConnection` (one request in flight at a time,
replies decoded on the reader thread and handed over through a queue).
:class:`~edge.peripherals.scale.simulated.SimulatedScale` answers from state set by the demo or
a test.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from edge.peripherals.base import Device, DeviceError, PowerState
from edge.peripherals.scale.protocols import ScaleCodec
from edge.peripherals.scale.reading import Reading, ScaleState
from edge.peripherals.serial_port import Backoff, SerialConnection, SerialSettings

log = logging.getLogger(__name__)

Request = Literal["weight", "zero", "tare"]


class ScaleError(DeviceError):
    """No acceptable weight; :attr:`state` says what the scale last reported."""

    def __init__(self, message: str, state: ScaleState, last: Reading | None = None) -> None:
        super().__init__(message)
        self.state = state
        self.last = last


@dataclass(frozen=True, slots=True)
class Settling:
    """When a weight counts as settled, and how often to ask."""

    equal_readings: int = 1
    """Consecutive stable readings of the same weight required."""
    min_grams: int = 1
    """Below this a stable weight is "nothing on the scale" (legal minimum load, e.g. 20 e)."""
    capacity_grams: int | None = None
    """Above this the weight is refused even if the scale does not flag it."""
    poll: float = 0.1
    """Pause between requests while waiting."""
    answer_timeout: float = 0.5
    """How long one request waits for its reply."""

    def __post_init__(self) -> None:
        if self.equal_readings < 1 or self.min_grams < 1:
            raise ValueError("equal_readings and min_grams must be at least 1")
        if self.capacity_grams is not None and self.capacity_grams < self.min_grams:
            raise ValueError("capacity_grams must not be below min_grams")
        if self.poll < 0 or self.answer_timeout <= 0:
            raise ValueError("poll and answer_timeout must be positive")


class Scale(Device):
    """Base of the serial and simulated scales. Subclasses implement :meth:`_request`."""

    kind = "scale"

    def __init__(self, name: str, settling: Settling | None = None) -> None:
        super().__init__(name)
        self.settling = settling or Settling()
        self._closed = threading.Event()
        self._closed.set()

    def read(self) -> Reading:
        """One reading as it is now (for a live weight display); never raises for the scale's
        state — an unanswered request is a ``NO_ANSWER`` reading."""
        self._require_enabled()
        return self._request("weight", self.settling.answer_timeout)

    def zero(self) -> Reading:
        """Ask the scale to zero itself; returns the status it answered with."""
        self._require_enabled()
        return self._request("zero", self.settling.answer_timeout)

    def tare(self) -> Reading:
        """Ask the scale to tare; :class:`DeviceError` if its protocol has no tare."""
        self._require_enabled()
        return self._request("tare", self.settling.answer_timeout)

    def wait_stable(self, timeout: float) -> Reading:
        """The settled weight, or :class:`ScaleError` within ``timeout`` seconds."""
        self._require_enabled()
        s = self.settling
        deadline = time.monotonic() + timeout
        last: Reading | None = None
        last_grams: int | None = None
        run = 0
        while (remaining := deadline - time.monotonic()) > 0:
            wait = min(s.answer_timeout, remaining)
            reading = self._request("weight", wait)
            silent = reading.state is ScaleState.NO_ANSWER
            if not (silent and wait < s.answer_timeout and last is not None):
                last = reading  # (a request cut short by the deadline proves no silence)
            if silent and self.power is PowerState.OFFLINE:  # no point waiting out the deadline
                raise ScaleError("scale offline", ScaleState.NO_ANSWER, reading)
            if self._acceptable(reading):
                run = run + 1 if run and last_grams == reading.grams else 1
                last_grams = reading.grams
                if run >= s.equal_readings:
                    return reading
            else:
                run, last_grams = 0, None
            pause = min(s.poll, deadline - time.monotonic())
            if pause > 0 and self._closed.wait(pause):
                raise DeviceError(f"{self.name} was closed while weighing")
        raise self._why_not(last)

    def _acceptable(self, reading: Reading) -> bool:
        cap = self.settling.capacity_grams
        return (
            reading.state is ScaleState.STABLE
            and reading.grams is not None
            and reading.grams >= self.settling.min_grams
            and (cap is None or reading.grams <= cap)
        )

    def _why_not(self, last: Reading | None) -> ScaleError:
        if last is None:
            return ScaleError("scale offline: no reading in time", ScaleState.NO_ANSWER)
        state, cap = last.state, self.settling.capacity_grams
        if state is ScaleState.STABLE:
            if last.grams is None:
                return ScaleError("scale sent no weight", state, last)
            if cap is not None and last.grams > cap:
                return ScaleError("scale over capacity", ScaleState.OVER_CAPACITY, last)
            if last.grams < self.settling.min_grams:
                return ScaleError("no weight on the scale", state, last)
            return ScaleError("scale not settling", ScaleState.MOTION, last)  # kept changing
        message = {
            ScaleState.MOTION: "scale not settling",
            ScaleState.OVER_CAPACITY: "scale over capacity",
            ScaleState.UNDER_ZERO: "scale under zero",
            ScaleState.NO_ANSWER: "scale offline",
        }.get(state, f"scale error: {last.detail}")
        return ScaleError(message, state, last)

    def _on_open(self) -> None:
        self._closed.clear()

    def _on_close(self) -> None:
        self._closed.set()

    def _request(self, request: Request, timeout: float) -> Reading:
        raise NotImplementedError


class SerialScale(Scale):
    """A scale on a serial line, speaking one :class:`ScaleCodec`.

    ``silent_after`` unanswered requests in a row mark the scale offline even though the port
    is open (a scale switched off behind a USB-serial adapter); its next answer brings it back.
    """

    def __init__(
        self,
        name: str,
        settings: SerialSettings,
        codec: ScaleCodec,
        *,
        settling: Settling | None = None,
        silent_after: int = 3,
        backoff: Backoff | None = None,
    ) -> None:
        super().__init__(name, settling)
        self.settings = settings
        self.codec = codec
        self.silent_after = silent_after
        self._backoff = backoff
        self._io_lock = threading.Lock()
        self._decoder_lock = threading.Lock()
        self._decoder = codec.decoder()
        self._replies: queue.Queue[Reading] = queue.Queue()
        self._conn: SerialConnection | None = None
        self._silent = 0
        self._closing = False
        self._counts: Counter[str] = Counter()

    def _on_open(self) -> None:
        super()._on_open()
        self._closing = False
        self._silent = 0
        self._decoder = self.codec.decoder()
        self._conn = SerialConnection(
            self.settings, self._on_data, self._on_power, backoff=self._backoff, name=self.name
        )
        self._conn.start()

    def _on_close(self) -> None:
        super()._on_close()
        self._closing = True
        if self._conn is not None:
            self._conn.stop()

    def wait_online(self, timeout: float) -> bool:
        """True once the port is open (start-up and tests; the till never blocks on it)."""
        if self._conn is None:
            raise DeviceError(f"{self.name} is not open")
        return self._conn.wait_online(timeout)

    def _request(self, request: Request, timeout: float) -> Reading:
        command = {
            "weight": self.codec.request_weight,
            "zero": self.codec.request_zero,
            "tare": self.codec.request_tare,
        }[request]()
        if command is None:
            raise DeviceError(f"{self.name}: the {self.codec.name} protocol has no {request}")
        conn = self._conn
        if conn is None:
            raise DeviceError(f"{self.name} is not open")
        with self._io_lock:
            with self._decoder_lock:
                self._decoder.reset()  # a half reply left over from a glitch is worthless
            while not self._replies.empty():  # late or unsolicited replies
                self._replies.get_nowait()
                self._count("stale_replies")
            try:
                conn.write(command)
            except DeviceError as exc:
                return Reading(ScaleState.NO_ANSWER, detail=str(exc))
            try:
                reply = self._replies.get(timeout=timeout)
            except queue.Empty:
                return self._no_answer()
            if self._silent >= self.silent_after and conn.online:
                self._set_power(PowerState.ONLINE, "")
            self._silent = 0
            return reply

    def _no_answer(self) -> Reading:
        self._count("no_answer")
        self._silent += 1
        if self._silent == self.silent_after:
            log.warning("scale %s not answering", self.name)
            self._set_power(PowerState.OFFLINE, "scale not answering")
        return Reading(ScaleState.NO_ANSWER, detail="no answer")

    # -- the reader thread -----------------------------------------------------------------

    def _on_data(self, data: bytes) -> None:
        with self._decoder_lock:
            replies = self._decoder.feed(data)
        for reply in replies:
            self._replies.put(reply)

    def _on_power(self, power: PowerState, detail: str) -> None:
        if power is PowerState.ONLINE:
            self._silent = 0
        if not self._closing:
            self._set_power(power, detail)

    def _count(self, what: str) -> None:
        with self._decoder_lock:
            self._counts[what] += 1

    def _counters(self) -> Mapping[str, int]:
        with self._decoder_lock:
            counters = dict(self._decoder.counters)
            counters.update(self._counts)
        if self._conn is not None:
            counters["reconnects"] = self._conn.reconnects
            counters["bytes_in"] = self._conn.bytes_in
        return counters
