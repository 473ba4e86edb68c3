"""Run one thing from several threads at once and collect what went wrong."""

from __future__ import annotations

import threading
from collections.abc import Callable


def errors_running_together(fn: Callable[[], object], threads: int) -> list[BaseException]:
    """Start ``threads`` threads running ``fn`` together; the exceptions they raised."""
    errors: list[BaseException] = []
    go = threading.Barrier(threads)

    def run() -> None:
        go.wait()  # all start at once: the point is to collide
        try:
            fn()
        except BaseException as exc:
            errors.append(exc)

    started = [threading.Thread(target=run) for _ in range(threads)]
    for t in started:
        t.start()
    for t in started:
        t.join()
    return errors
