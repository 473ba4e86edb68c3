"""The keypad/display I/O board, seen from the till.

The board (an RP2040 running ``edge/firmware``) sends key presses and drawer-sense changes and
shows two lines of text and beeps when asked. :class:`IoBoard` is the device the checkout loop
holds: it delivers keys (``on_key``) and drawer changes (``on_drawer``) to subscribers while
enabled, and takes :meth:`IoBoard.show` and :meth:`IoBoard.beep`, which never block and never
raise because the board is away — a sale goes on without its keypad board.

Two backends sit behind it. :class:`SerialIoBoard` is the real one: a
:class:`~edge.peripherals.serial_port.SerialConnection` carrying :mod:`protocol.link` frames of
:mod:`protocol.ioboard` messages, with a pump thread for retransmissions and heartbeats. It
keeps what the till *wants* on the display and sends it whenever the board may not have it — at
start, after the port comes back, and after the board restarts (a HELLO, or its uptime going
backwards), when it also drops the commands meant for the board's previous life and lets the
link resynchronise. Only one message is handed to the link at a time, so display updates made
while the board is away coalesce into the latest text and nothing piles up. The board is
*online* while it answers: a valid frame within ``offline_ms`` and a link that is not down.

:class:`SimulatedIoBoard` is an in-memory board for the demo and tests: a person (or the demo's
shopper) presses its keys and opens its drawer, and reads its display and beeps.
"""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from edge.peripherals.base import Device, DeviceError, DeviceState, PowerState
from edge.peripherals.serial_port import Backoff, SerialConnection, SerialSettings
from protocol.errors import MessageError
from protocol.ioboard import (
    DISPLAY_LINES,
    MAX_BEEP_HZ,
    MAX_BEEP_MS,
    MIN_BEEP_HZ,
    PROTOCOL_VERSION,
    STANDARD_KEYS,
    Beep,
    BoardHeartbeat,
    BoardMessage,
    DisplayWrite,
    DrawerEvent,
    Hello,
    HelloRequest,
    KeyEvent,
    KeyKind,
    ResetCause,
    TillHeartbeat,
    TillMessage,
    decode_board,
    encode,
    fit_line,
)
from protocol.link import Link

log = logging.getLogger(__name__)

KeyListener = Callable[[str, KeyKind], None]
DrawerListener = Callable[[bool], None]
MessageSink = Callable[[BoardMessage], None]
PowerSink = Callable[[PowerState, str], None]
Lines = tuple[str, str]


@dataclass(frozen=True, slots=True)
class BoardInfo:
    """What the board said about itself in its last HELLO."""

    firmware: str
    board_id: str
    reset_cause: ResetCause
    protocol: int
    display_cols: int
    display_lines: int


class IoBoardBackend(ABC):
    """What :class:`IoBoard` needs from the hardware side; the backends implement only this.

    ``start`` begins delivering the board's messages and power changes (on any thread; the
    sinks only hand over); ``stop`` ends that and returns once no sink call is running.
    """

    @abstractmethod
    def start(self, on_message: MessageSink, on_power: PowerSink) -> None: ...

    @abstractmethod
    def stop(self) -> None: ...

    @abstractmethod
    def show(self, lines: Lines) -> None:
        """Make the display show ``lines`` (already fitted), now or as soon as it can."""

    @abstractmethod
    def beep(self, freq_hz: int, ms: int) -> bool:
        """Sound the buzzer; False (and counted) if the board cannot take it now."""

    def counters(self) -> Mapping[str, int]:
        return {}


class IoBoard(Device):
    """The keypad/display I/O board: keys and drawer-sense in, display lines and beeps out."""

    kind = "ioboard"

    def __init__(self, name: str, backend: IoBoardBackend, *, beep_hz: int = 2000) -> None:
        super().__init__(name)
        if not MIN_BEEP_HZ <= beep_hz <= MAX_BEEP_HZ:
            raise ValueError(f"beep_hz must be {MIN_BEEP_HZ}..{MAX_BEEP_HZ}, got {beep_hz}")
        self.backend = backend
        self.beep_hz = beep_hz
        self._key_listeners: list[KeyListener] = []
        self._drawer_listeners: list[DrawerListener] = []
        self._lines: Lines = ("", "")
        self._drawer_open: bool | None = None
        self._info: BoardInfo | None = None
        self._heartbeat: BoardHeartbeat | None = None
        self._keys_delivered = 0
        self._keys_ignored = 0

    # -- subscribers ---------------------------------------------------------------------------

    def on_key(self, listener: KeyListener) -> Callable[[], None]:
        """Call ``listener(key, kind)`` for every key event while enabled; returns unsubscribe.

        Runs on the device's reader thread: the listener must only enqueue.
        """
        return self._add(self._key_listeners, listener)

    def on_drawer(self, listener: DrawerListener) -> Callable[[], None]:
        """Call ``listener(open)`` when the drawer-sense switch changes; returns unsubscribe."""
        return self._add(self._drawer_listeners, listener)

    def _add(self, listeners: list[Any], listener: Any) -> Callable[[], None]:
        with self._lock:
            listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in listeners:
                    listeners.remove(listener)

        return unsubscribe

    # -- output --------------------------------------------------------------------------------

    def show(self, line1: str, line2: str = "") -> None:
        """Show two lines (fitted to 20 displayable columns); never waits for the board."""
        self._require_enabled()
        lines = (fit_line(line1), fit_line(line2))
        with self._lock:
            self._lines = lines
        self.backend.show(lines)

    def beep(self, ms: int = 100, freq_hz: int | None = None) -> bool:
        """Beep for ``ms``; False if the board is away (a late beep would only confuse)."""
        self._require_enabled()
        freq = self.beep_hz if freq_hz is None else freq_hz
        if not 1 <= ms <= MAX_BEEP_MS or not MIN_BEEP_HZ <= freq <= MAX_BEEP_HZ:
            raise DeviceError(f"cannot beep {ms} ms at {freq} Hz")
        return self.backend.beep(freq, ms)

    # -- state -----------------------------------------------------------------------------

    @property
    def lines(self) -> Lines:
        """What the till last asked the display to show (fitted)."""
        return self._lines

    @property
    def drawer_open(self) -> bool | None:
        """The drawer as the board last reported it (None: not known yet)."""
        return self._drawer_open

    @property
    def info(self) -> BoardInfo | None:
        return self._info

    # -- lifecycle -------------------------------------------------------------------------

    def open(self) -> None:
        # The backend starts after the lifecycle step and stops before it, outside the
        # lifecycle lock: its threads report status (which takes that lock), so they must be
        # started and joined without it held — and a status reported during start must find
        # the device already open.
        super().open()
        try:
            self.backend.start(self._message, self._set_power)
        except BaseException:
            super().close()
            raise

    def close(self) -> None:
        if self.state is not DeviceState.CLOSED:
            self.backend.stop()
        super().close()

    def _counters(self) -> Mapping[str, int]:
        counters = dict(self.backend.counters())
        counters["keys_delivered"] = self._keys_delivered
        counters["keys_ignored"] = self._keys_ignored
        hb = self._heartbeat
        if hb is not None:
            counters["board_events_dropped"] = hb.events_dropped
            counters["board_line_errors"] = hb.line_errors
            counters["board_uptime_s"] = hb.uptime_s
        return counters

    # -- from the backend ------------------------------------------------------------------

    def _message(self, msg: BoardMessage) -> None:
        if isinstance(msg, KeyEvent):
            with self._lock:
                enabled = self._enabled
                listeners = list(self._key_listeners)
            if not enabled:
                self._keys_ignored += 1
                return
            self._keys_delivered += 1
            for key_listener in listeners:
                self._call(key_listener, msg.key, msg.kind)
        elif isinstance(msg, DrawerEvent):
            self._drawer(msg.open)
        elif isinstance(msg, BoardHeartbeat):
            self._heartbeat = msg
            self._drawer(msg.drawer_open)
        elif isinstance(msg, Hello):
            self._info = BoardInfo(
                firmware=msg.firmware_version,
                board_id=msg.board_id.hex(),
                reset_cause=msg.reset_cause,
                protocol=msg.protocol,
                display_cols=msg.display_cols,
                display_lines=msg.display_lines,
            )
            log.info(
                "I/O board %s: firmware %s, id %s, reset cause %s",
                self.name,
                msg.firmware_version,
                msg.board_id.hex(),
                msg.reset_cause.value,
            )

    def _drawer(self, is_open: bool) -> None:
        with self._lock:
            changed = is_open != self._drawer_open
            self._drawer_open = is_open
            listeners = list(self._drawer_listeners) if changed else []
        for drawer_listener in listeners:
            self._call(drawer_listener, is_open)

    def _call(self, listener: Callable[..., None], *args: object) -> None:
        try:
            listener(*args)
        except Exception:  # a broken subscriber must not take the board down
            log.exception("listener of %s failed", self.name)


# -- the real board over a serial port -----------------------------------------------------------


def _monotonic_ms() -> int:
    return time.monotonic_ns() // 1_000_000


class SerialIoBoard(IoBoardBackend):
    """The board on a serial port: link frames, heartbeats, resync after restarts and re-plugs.

    Threads: the connection's reader feeds received bytes to the link and answers at once (so
    the next message follows an ACK without waiting); a pump thread, woken every ``tick_ms``
    or by new output, handles retransmissions, heartbeats and the online/offline verdict. Both
    take one lock around the link.
    """

    def __init__(
        self,
        settings: SerialSettings,
        *,
        heartbeat_ms: int = 1000,
        offline_ms: int = 3500,
        link_timeout_ms: int = 100,
        link_retries: int = 5,
        link_probe_ms: int = 1000,
        tick_ms: int = 10,
        backoff: Backoff | None = None,
        clock: Callable[[], int] = _monotonic_ms,
    ) -> None:
        if heartbeat_ms <= 0 or offline_ms <= heartbeat_ms or tick_ms <= 0:
            raise ValueError("expected 0 < heartbeat_ms < offline_ms and tick_ms > 0")
        self.settings = settings
        self.heartbeat_ms = heartbeat_ms
        self.offline_ms = offline_ms
        self.tick_ms = tick_ms
        self._clock = clock
        self._link = Link(
            timeout_ms=link_timeout_ms, max_retries=link_retries, probe_ms=link_probe_ms
        )
        self._conn = SerialConnection(
            settings, self._on_data, self._on_port, backoff=backoff, name=f"ioboard {settings.port}"
        )
        self._lock = threading.RLock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._on_message: MessageSink = lambda _m: None
        self._on_power: PowerSink = lambda _p, _d: None
        self._power = PowerState.UNKNOWN
        self._want: Lines = ("", "")
        self._sent: list[str | None] = [None] * DISPLAY_LINES
        self._beeps: deque[Beep] = deque()
        self._hello_due = True
        self._port_online_ms: int | None = None
        self._last_tx_ms = 0
        self._uptime_s: int | None = None
        self._reported: tuple[PowerState, str] = (PowerState.UNKNOWN, "")
        self._protocol_ok = True
        self._restarts_seen = 0
        self._stats = {"hellos": 0, "missed_restarts": 0, "bad_messages": 0, "beeps_dropped": 0}

    # -- IoBoardBackend --------------------------------------------------------------------

    def start(self, on_message: MessageSink, on_power: PowerSink) -> None:
        self._on_message, self._on_power = on_message, on_power
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="ioboard pump", daemon=True)
        self._thread.start()
        self._conn.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._conn.stop()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def show(self, lines: Lines) -> None:
        with self._lock:
            self._want = lines
        self._wake.set()

    def beep(self, freq_hz: int, ms: int) -> bool:
        with self._lock:
            if self._power is not PowerState.ONLINE or len(self._beeps) >= 2:
                self._stats["beeps_dropped"] += 1
                return False
            self._beeps.append(Beep(freq_hz=freq_hz, ms=ms))
        self._wake.set()
        return True

    def counters(self) -> Mapping[str, int]:
        with self._lock:
            counters = dict(self._stats)
            counters.update(asdict(self._link.stats))
            counters.update(asdict(self._link.decoder.stats))
            counters["reconnects"] = self._conn.reconnects
            counters["bytes_in"] = self._conn.bytes_in
            counters["bytes_out"] = self._conn.bytes_out
        return counters

    # -- threads ---------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.tick_ms / 1000)
            self._wake.clear()
            if self._stop.is_set():
                return
            with self._lock:
                now = self._clock()
                self._transmit(now)
                self._report(self._judge(now))

    def _on_data(self, data: bytes) -> None:
        messages: list[BoardMessage] = []
        with self._lock:
            now = self._clock()
            for payload in self._link.receive(data, now):
                try:
                    msg = decode_board(payload)
                except MessageError as exc:
                    self._stats["bad_messages"] += 1
                    log.warning("I/O board %s: bad message skipped: %s", self.settings.port, exc)
                    continue
                self._track(msg)
                messages.append(msg)
            self._transmit(now)
            self._report(self._judge(now))
        for msg in messages:
            self._on_message(msg)

    def _on_port(self, power: PowerState, detail: str) -> None:
        with self._lock:
            if power is PowerState.ONLINE:
                # Whatever the board did while we could not hear it: ask, and show again.
                self._link.decoder.reset()
                self._port_online_ms = self._clock()
                self._hello_due = True
                self._sent = [None] * DISPLAY_LINES
            else:
                self._port_online_ms = None
                self._report((PowerState.OFFLINE, detail or "serial port offline"))
        self._wake.set()

    # -- with the lock held ----------------------------------------------------------------

    def _track(self, msg: BoardMessage) -> None:
        """Update our idea of the board from one of its messages."""
        if isinstance(msg, Hello):
            self._stats["hellos"] += 1
            self._protocol_ok = msg.protocol == PROTOCOL_VERSION
            self._hello_due = False
            self._uptime_s = None
            restarts = self._link.stats.peer_restarts
            if restarts != self._restarts_seen:  # it opened a new link session: it rebooted
                self._restarts_seen = restarts
                self._resync()
        elif isinstance(msg, BoardHeartbeat):
            if self._uptime_s is not None and msg.uptime_s < self._uptime_s:
                # It restarted and we missed its HELLO (see protocol.link's known limit).
                self._stats["missed_restarts"] += 1
                self._resync()
                self._hello_due = True
            elif (
                msg.awaiting_display
                and self._link.pending == 0
                and any(s is not None for s in self._sent)
            ):
                # Our lines were acknowledged, yet it has none: a board we did not see restart.
                self._stats["missed_restarts"] += 1
                self._sent = [None] * DISPLAY_LINES
                self._hello_due = True
            self._uptime_s = msg.uptime_s

    def _resync(self) -> None:
        """The board is (or may be) new: drop what was meant for its past, resend the display."""
        dropped = self._link.reset()
        if dropped:
            log.info("I/O board %s: %d stale commands dropped", self.settings.port, len(dropped))
        self._beeps.clear()
        self._sent = [None] * DISPLAY_LINES

    def _next_message(self, now: int) -> TillMessage | None:
        if self._hello_due:
            self._hello_due = False
            return HelloRequest()
        for i, text in enumerate(self._want):
            if self._sent[i] != text:
                self._sent[i] = text
                return DisplayWrite(line=i, text=text)
        if self._beeps:
            return self._beeps.popleft()
        if now - self._last_tx_ms >= self.heartbeat_ms:
            return TillHeartbeat()
        return None

    def _transmit(self, now: int) -> None:
        if not self._conn.online:
            return
        if self._link.pending == 0:
            msg = self._next_message(now)
            if msg is not None:
                self._link.send(encode(msg))
                self._last_tx_ms = now
        out = self._link.poll(now)
        if out:
            try:
                self._conn.write(out)
            except Exception as exc:  # the reader thread reports the loss
                # DeviceError as documented, but also termios.error from pyserial's flush()
                # (tcdrain) on a vanished port, which SerialConnection.write lets through.
                log.debug("I/O board %s: write failed: %s", self.settings.port, exc)

    def _judge(self, now: int) -> tuple[PowerState, str] | None:
        """Online, offline (and why), or None: no verdict beyond what the port reported."""
        opened = self._port_online_ms
        if not self._conn.online or opened is None:
            return None
        if self._link.link_down:
            return PowerState.OFFLINE, "the board does not acknowledge (link down)"
        heard = self._link.last_rx_ms
        if now - max(opened, -1 if heard is None else heard) > self.offline_ms:
            return PowerState.OFFLINE, f"no answer from the board for over {self.offline_ms} ms"
        if heard is None or heard < opened:
            return None  # not heard from since the port opened, not for long yet either
        if not self._protocol_ok:
            return PowerState.OFFLINE, "the board speaks an unsupported protocol version"
        return PowerState.ONLINE, ""

    def _report(self, verdict: tuple[PowerState, str] | None) -> None:
        # Called with the lock held, so verdicts reach the device in the order they were made
        # (the device's status listeners only enqueue, and never call back into this lock).
        if verdict is None or verdict == self._reported:
            return
        self._reported = verdict
        self._power = verdict[0]
        self._on_power(*verdict)


# -- the simulated board -------------------------------------------------------------------------


class SimulatedIoBoard(IoBoardBackend):
    """An I/O board in memory: press its keys, open its drawer, read its display and beeps.

    Events are delivered at once on the caller's thread, exactly as the serial backend would
    deliver the board's messages. :meth:`reset` restarts it (a new HELLO), :meth:`unplug` and
    :meth:`plug` take it off-line and back.
    """

    def __init__(
        self,
        *,
        keys: Iterable[str] = STANDARD_KEYS,
        board_id: bytes = b"\x51\x4d\x00\x01",
        firmware: tuple[int, int, int] = (1, 0, 0),
    ) -> None:
        self.keys = tuple(keys)
        self.board_id = board_id
        self.firmware = firmware
        self.lines: Lines = ("", "")
        """What its display shows."""
        self.beeps: list[tuple[int, int]] = []
        self.drawer_open = False
        self.plugged = True
        self._want: Lines = ("", "")
        self._on_message: MessageSink | None = None
        self._on_power: PowerSink | None = None
        self._uptime_s = 0

    def start(self, on_message: MessageSink, on_power: PowerSink) -> None:
        self._on_message, self._on_power = on_message, on_power
        self._boot(ResetCause.POWER_ON)

    def stop(self) -> None:
        self._on_message = self._on_power = None

    def show(self, lines: Lines) -> None:
        self._want = lines
        if self.plugged:
            self.lines = lines

    def beep(self, freq_hz: int, ms: int) -> bool:
        if not self.plugged:
            return False
        self.beeps.append((freq_hz, ms))
        return True

    # -- what a person does ----------------------------------------------------------------

    def press(self, key: str) -> None:
        self._key(key, KeyKind.DOWN)

    def repeat(self, key: str) -> None:
        self._key(key, KeyKind.REPEAT)

    def release(self, key: str) -> None:
        self._key(key, KeyKind.UP)

    def tap(self, key: str) -> None:
        """Press and release ``key``."""
        self.press(key)
        self.release(key)

    def type(self, keys: Iterable[str]) -> None:
        """Tap each key in turn: ``type(["1", "2", "ENTER"])``."""
        for key in keys:
            self.tap(key)

    def set_drawer(self, is_open: bool) -> None:
        if is_open != self.drawer_open:
            self.drawer_open = is_open
            self._send(DrawerEvent(open=is_open))

    def heartbeat(self) -> None:
        self._uptime_s += 1
        self._send(
            BoardHeartbeat(
                uptime_s=self._uptime_s,
                events_dropped=0,
                line_errors=0,
                drawer_open=self.drawer_open,
                safe_state=False,
                awaiting_display=False,
            )
        )

    def reset(self) -> None:
        """Restart the board: a new HELLO, after which the till's lines are shown again."""
        self._boot(ResetCause.SOFT)

    def unplug(self) -> None:
        self.plugged = False
        if self._on_power is not None:
            self._on_power(PowerState.OFFLINE, "simulated board unplugged")

    def plug(self) -> None:
        self.plugged = True
        self._boot(ResetCause.POWER_ON)

    def _key(self, key: str, kind: KeyKind) -> None:
        if key not in self.keys:
            raise KeyError(f"no key {key!r} on this keypad")
        self._send(KeyEvent(key=key, kind=kind))

    def _boot(self, cause: ResetCause) -> None:
        self._uptime_s = 0
        if self._on_power is not None:
            self._on_power(PowerState.ONLINE, "")
        self._send(
            Hello(
                protocol=PROTOCOL_VERSION,
                firmware=self.firmware,
                reset_cause=cause,
                display_cols=20,
                display_lines=DISPLAY_LINES,
                board_id=self.board_id,
            )
        )
        self._send(DrawerEvent(open=self.drawer_open))
        self.lines = self._want  # as the serial backend resends them after a HELLO

    def _send(self, msg: BoardMessage) -> None:
        if self.plugged and self._on_message is not None:
            self._on_message(msg)


# -- configuration -------------------------------------------------------------------------------

_COMMON_KEYS = {"backend", "beep_hz"}
_SERIAL_INTS = {
    "baudrate": 115_200,
    "heartbeat_ms": 1000,
    "offline_ms": 3500,
    "link_timeout_ms": 100,
    "link_retries": 5,
    "link_probe_ms": 1000,
}


def _int(name: str, section: Mapping[str, Any], key: str, default: int, low: int = 1) -> int:
    value = section.get(key, default)
    if type(value) is not int or value < low:
        raise ValueError(f"devices.{name}.{key}: expected an integer >= {low}, got {value!r}")
    return value


def build(name: str, section: Mapping[str, Any]) -> IoBoard:
    """Make the I/O board device from its TOML table (``[devices.<name>]``).

    ``backend = "serial"`` needs ``port`` and takes ``baudrate`` (115200), ``heartbeat_ms``,
    ``offline_ms``, ``link_timeout_ms``, ``link_retries``, ``link_probe_ms``;
    ``backend = "simulated"`` takes nothing more. Both take ``beep_hz`` (2000). A missing or
    bad value or an unknown key raises ValueError naming the key.
    """
    backend_name = section.get("backend", "serial")
    beep_hz = _int(name, section, "beep_hz", 2000, MIN_BEEP_HZ)
    if beep_hz > MAX_BEEP_HZ:
        raise ValueError(f"devices.{name}.beep_hz: expected at most {MAX_BEEP_HZ}, got {beep_hz}")
    if backend_name == "simulated":
        allowed = _COMMON_KEYS
    elif backend_name == "serial":
        allowed = _COMMON_KEYS | {"port"} | set(_SERIAL_INTS)
    else:
        raise ValueError(
            f"devices.{name}.backend: expected 'serial' or 'simulated', got {backend_name!r}"
        )
    unknown = sorted(set(section) - allowed)
    if unknown:
        raise ValueError(f"devices.{name}.{unknown[0]}: unknown key for backend {backend_name!r}")
    if backend_name == "simulated":
        return IoBoard(name, SimulatedIoBoard(), beep_hz=beep_hz)
    port = section.get("port")
    if not isinstance(port, str) or not port:
        raise ValueError(f"devices.{name}.port: expected a serial port path, got {port!r}")
    ints = {
        key: _int(name, section, key, default, 0 if key == "link_retries" else 1)
        for key, default in _SERIAL_INTS.items()
    }
    if ints["offline_ms"] <= ints["heartbeat_ms"]:
        raise ValueError(
            f"devices.{name}.offline_ms: expected more than heartbeat_ms ({ints['heartbeat_ms']})"
        )
    try:
        settings = SerialSettings(port, baudrate=ints.pop("baudrate"))
    except ValueError as exc:
        raise ValueError(f"devices.{name}.baudrate: {exc}") from None
    backend = SerialIoBoard(
        settings,
        heartbeat_ms=ints["heartbeat_ms"],
        offline_ms=ints["offline_ms"],
        link_timeout_ms=ints["link_timeout_ms"],
        link_retries=ints["link_retries"],
        link_probe_ms=ints["link_probe_ms"],
    )
    return IoBoard(name, backend, beep_hz=beep_hz)
