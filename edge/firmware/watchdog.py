"""Feed the hardware watchdog only while the loop is healthy.

The main loop reports each vital task that completed (:meth:`Health.ok`); :meth:`Health.service`
feeds ``machine.WDT`` only when every vital task completed within ``stall_ms``. So a loop that
hangs stops feeding because it never gets here, and a loop that keeps running but whose UART or
keypad scan fails every time stops feeding too — and the watchdog resets the board, which then
reports ``watchdog`` as its reset cause in HELLO. A silent till is *not* a fault: the board stays
up in its safe state, it does not reboot in a loop.
"""

from machine import WDT
from ticks import diff


class Health:
    """When each vital task last succeeded, and the watchdog fed only while all did lately."""

    def __init__(self, wdt: WDT | None, now: int, vital: tuple[str, ...], stall_ms: int) -> None:
        self.wdt = wdt
        self.stall_ms = stall_ms
        self.feeds = 0
        self._last: dict[str, int] = {}
        for name in vital:
            self._last[name] = now

    def ok(self, name: str, now: int) -> None:
        if name in self._last:
            self._last[name] = now

    def healthy(self, now: int) -> bool:
        return all(diff(now, last) < self.stall_ms for last in self._last.values())

    def stalled(self, now: int) -> list[str]:
        return [n for n, last in self._last.items() if diff(now, last) >= self.stall_ms]

    def service(self, now: int) -> bool:
        """Feed the watchdog if healthy; True if fed."""
        if not self.healthy(now):
            return False
        if self.wdt is not None:
            self.wdt.feed()
        self.feeds += 1
        return True
