"""Fleet simulation: 2,000 tills selling for 5 minutes into two ingest workers, zero loss.

Reported, never pass/fail on speed; zero loss is asserted: at the end every sale of every
simulated till is in the fleet database exactly once (per-device seqs 1..n, nothing missing,
nothing twice) and every till has had it acknowledged by a signed ack.

* ``FLEET_SIM_TILLS`` (2,000) tills, four per store, each its own MQTT connection with a
  persistent session, run by ``FLEET_SIM_PROCESSES`` (2) ``bench/simtill.py`` processes of one
  thread each (a selector over the sockets; see that module for the till's side of the
  protocol). One connection per till is what a real fleet gives the broker; the connections
  need file descriptors, so the open-file limit is raised to the hard limit before the broker
  starts (Mosquitto inherits it) and the listener's ``max_connections`` is set to fit.
* Each till sells every ``uniform(30, 60)`` s (``FLEET_SIM_SALE_INTERVAL``; mean 45 s, so
  2,000 tills offer about 44 sales/s) for ``FLEET_SIM_SECONDS`` (300), then the run waits until
  every sale is acked (at most 180 s).
* HQ: two ``fleet ingest`` processes in one share group, production defaults, on PostgreSQL
  (``FLEET_SIM_DB=sqlite`` for the default database) — PostgreSQL is the at-scale database.

Lag is measured where it matters, at the till: from a sale's ``occurred_at`` to the arrival of
the first signed ack covering it (after which the till deletes it). p99 in the first and in the
last fifth of the run shows whether lag stays bounded or grows.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from benchkit import (
    ROOT,
    WAIT,
    fleet_database,
    ingest_workers,
    percentile,
    raise_fd_limit,
    run_once,
    wait_caught_up,
    write_fleet_config,
)
from pytest_benchmark.fixture import BenchmarkFixture

from fleet.db import connect
from fleet.keys import Signer, generate_key
from hil.services.mosquitto import running_broker

SECONDS = float(os.environ.get("FLEET_SIM_SECONDS", "300"))
TILLS = int(os.environ.get("FLEET_SIM_TILLS", "2000"))
PROCESSES = int(os.environ.get("FLEET_SIM_PROCESSES", "2"))
INTERVAL = os.environ.get("FLEET_SIM_SALE_INTERVAL", "30,60")
DIALECT = os.environ.get("FLEET_SIM_DB", "postgres")
WORKERS = 2
DRAIN_TIMEOUT_S = 180.0
SIMTILL = Path(__file__).resolve().parent / "simtill.py"

# pytest-timeout's 300 s default (pyproject) is shorter than the run: allow selling, draining
# and the set-up (2,000 connections, the database) on top.
pytestmark = [pytest.mark.mqtt, pytest.mark.slow, pytest.mark.timeout(SECONDS + 900)]
if DIALECT == "postgres":
    pytestmark.append(pytest.mark.postgres)


class SimProcess:
    """One ``simtill.py`` process: JSON lines from its stdout, ``go`` on its stdin."""

    def __init__(self, args: list[str], log_path: Path) -> None:
        self.log_path = log_path
        self.lines: queue.Queue[dict[str, Any]] = queue.Queue()
        self.last: dict[str, Any] = {}
        with log_path.open("w") as log:
            self.proc = subprocess.Popen(
                [sys.executable, str(SIMTILL), *args],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                cwd=ROOT,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
            )
        self._pump_thread = threading.Thread(target=self._pump, daemon=True)
        self._pump_thread.start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(json.loads(line))
        self.lines.put({"msg": "exited"})

    def wait_for(self, msg: str, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(
                    f"no {msg!r} from a simulated-till process within {timeout:.0f}s "
                    f"(last: {self.last}); see {self.log_path}"
                )
            try:
                line = self.lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line["msg"] == msg:
                return line
            if line["msg"] == "exited":
                raise AssertionError(f"a simulated-till process died; see {self.log_path}")
            self.last = line

    def go(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def close(self) -> int:
        """Wait for the process to exit (killing it only if it hangs); its exit code."""
        try:
            code = self.proc.wait(WAIT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait(WAIT)
        self._pump_thread.join(WAIT)
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()
        return code


def _spawn(broker_addr: str, signer: Signer, logdir: Path) -> list[SimProcess]:
    per = -(-TILLS // PROCESSES)
    sims = []
    for n in range(PROCESSES):
        first, count = n * per, min(per, TILLS - n * per)
        args = [
            f"--broker={broker_addr}",
            f"--hq-key={signer.key_id}:{signer.public_key_text}",
            f"--first={first}",
            f"--count={count}",
            f"--seconds={SECONDS}",
            f"--interval={INTERVAL}",
            f"--drain-timeout={DRAIN_TIMEOUT_S}",
            f"--seed={n}",
        ]
        sims.append(SimProcess(args, logdir / f"simtill-{n}.log"))
    return sims


def test_fleet_of_simulated_tills_zero_loss_and_lag(
    benchmark: BenchmarkFixture, tmp_path: Path
) -> None:
    fd_limit = raise_fd_limit()
    assert fd_limit >= TILLS + 200, f"open-file limit {fd_limit} cannot hold {TILLS} connections"
    key_dir = tmp_path / "keys"
    generate_key(key_dir, "hq-1")
    signer = Signer.from_dir(key_dir, "hq-1")
    lo, hi = (float(x) for x in INTERVAL.split(","))
    done: list[dict[str, Any]] = []
    timing: dict[str, float] = {}
    cpu: list[list[float]] = []  # each ingest worker's CPU seconds at go and at done
    with (
        running_broker(
            tmp_path / "mosquitto", extra_config=f"max_connections {TILLS + 100}"
        ) as broker,
        fleet_database(DIALECT, tmp_path) as db_url,
    ):
        config = write_fleet_config(
            tmp_path / "fleet.toml", broker, db_url, key_dir, metrics_interval_s=10
        )
        with ingest_workers(config, WORKERS, tmp_path) as workers:
            sims = _spawn(f"{broker.host}:{broker.port}", signer, tmp_path)
            try:
                for sim in sims:
                    sim.wait_for("ready", 180)

                def run() -> None:
                    timing["go"] = time.time()
                    cpu.append([sum(w.cpu_seconds().values()) for w in workers])
                    for sim in sims:
                        sim.go()
                    for sim in sims:
                        done.append(sim.wait_for("done", SECONDS + DRAIN_TIMEOUT_S + WAIT))
                    timing["done"] = time.time()
                    cpu.append([sum(w.cpu_seconds().values()) for w in workers])

                run_once(benchmark, run)
            finally:
                codes = [sim.close() for sim in sims]
            made_now = sum(n for result in done for _s, _d, n, _a in result["tills"])
            timing["projected"] = wait_caught_up(workers, made_now, WAIT)
            stopped = [w.stop() for w in workers]
        assert codes == [0] * len(sims)
        with connect(db_url) as db:
            rows = db.execute(
                "SELECT store, device, count(*) AS n, count(DISTINCT seq) AS d,"
                " min(seq) AS lo, max(seq) AS hi FROM events GROUP BY store, device"
            )
            stored = {(r["store"], r["device"]): (r["n"], r["d"], r["lo"], r["hi"]) for r in rows}
            total_events = db.scalar("SELECT count(*) AS n FROM events")
            total_sales = db.scalar("SELECT count(*) AS n FROM sales")
            dead = db.scalar("SELECT count(*) AS n FROM dead_letters")
            failed = db.scalar(
                "SELECT count(*) AS n FROM events WHERE projection_error IS NOT NULL"
            )
            receipt = [
                (r["received_at"] - r["occurred_at"]).total_seconds()
                for r in db.execute("SELECT occurred_at, received_at FROM events")
            ]

    # -- zero loss, asserted ---------------------------------------------------------------------
    made = {(s, d): n for result in done for s, d, n, _acked in result["tills"]}
    acked = {(s, d): a for result in done for s, d, _n, a in result["tills"]}
    sales = sum(made.values())
    assert len(made) == TILLS
    assert sum(r["unacked"] for r in done) == 0, "sales left unacked at the tills"
    assert acked == made
    assert stored == {key: (n, n, 1, n) for key, n in made.items() if n > 0}, "loss or doubles"
    assert total_events == total_sales == sales
    assert dead == failed == 0
    assert sum(r["rejected_documents"] for r in done) == 0
    assert sum(int(s["applied"]) for s in stopped) == sales

    # -- reported ----------------------------------------------------------------------------------
    lags = [(at, lag) for result in done for at, lag in result["lags"]]
    assert len(lags) == sales
    start = timing["go"]
    fifth = SECONDS / 5
    first = [lag for at, lag in lags if at < start + fifth]
    last = [lag for at, lag in lags if at >= start + SECONDS - fifth]
    all_lags = [lag for _at, lag in lags]
    benchmark.extra_info.update(
        {
            "db": DIALECT,
            "tills": TILLS,
            "connections": TILLS,
            "sim_processes": PROCESSES,
            "ingest_workers": WORKERS,
            "seconds": SECONDS,
            "sale_every_s": f"uniform({lo:g}, {hi:g})",
            "offered_sales_per_s": round(TILLS / ((lo + hi) / 2), 1),
            "sales": sales,
            "sales_per_s": round(sales / SECONDS, 1),
            "lost": 0,
            "lag_p50_ms": round(percentile(all_lags, 50) * 1000),
            "lag_p99_ms": round(percentile(all_lags, 99) * 1000),
            "lag_max_ms": round(max(all_lags) * 1000),
            "lag_p99_first_fifth_ms": round(percentile(first, 99) * 1000),
            "lag_p99_last_fifth_ms": round(percentile(last, 99) * 1000),
            "hq_receipt_lag_p50_ms": round(percentile(receipt, 50) * 1000),
            "hq_receipt_lag_p99_ms": round(percentile(receipt, 99) * 1000),
            "drain_after_selling_s": round(timing["done"] - start - SECONDS, 1),
            "projected_after_selling_s": round(timing["projected"] - start - SECONDS, 1),
            "republished": sum(r["republished"] for r in done),
            "ack_timeouts": sum(r["ack_timeouts"] for r in done),
            "resend_commands": sum(r["resend_commands"] for r in done),
            "disconnects": sum(r["disconnects"] for r in done),
            "hq_duplicates": sum(int(s["duplicates"]) for s in stopped),
            "per_worker_messages": [int(s["messages"]) for s in stopped],
            "per_worker_cpu_pct": [
                round(100 * (b - a) / (timing["done"] - start)) for a, b in zip(*cpu, strict=True)
            ],
            "fd_limit": fd_limit,
        }
    )
