"""A timer that fires once the serial line has been quiet for a while after some activity.

A scanner with no suffix ends each code with silence; a scanner with a suffix that goes quiet
in the middle of a code has sent half a code. Either way the driver learns it from the gap.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


class IdleTimer:
    """Call ``callback``, on the timer's thread, ``idle`` seconds after the last :meth:`touch`."""

    def __init__(self, idle: float, callback: Callable[[], None], *, name: str) -> None:
        self.idle = idle
        self._callback = callback
        self._cond = threading.Condition()
        self._deadline: float | None = None
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name=f"idle {name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def touch(self) -> None:
        with self._cond:
            self._deadline = time.monotonic() + self.idle
            self._cond.notify()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        with self._cond:
            while not self._stopped:
                if self._deadline is None:
                    self._cond.wait()
                    continue
                remaining = self._deadline - time.monotonic()
                if remaining > 0:
                    self._cond.wait(remaining)
                    continue
                self._deadline = None
                self._cond.release()
                try:
                    self._callback()
                except Exception:  # the timer must outlive a bad callback
                    log.exception("idle callback failed")
                finally:
                    self._cond.acquire()
