"""Power cuts: SIGKILL the real till process at random instants, restart it, check the books.

The till runs as `till run` in a subprocess, driven over its command socket by a scripted
shopper. A killer thread sends SIGKILL after a random delay, so kills land anywhere: between
commands, inside a handler, in the middle of a COMMIT. After every restart we check, from the
store file itself, that nothing acknowledged was lost and nothing was applied twice.

``CRASH_KILLS`` (default 200) sets how many kills a run makes; turn it up for a soak.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from edge.checkout import commands as cmd
from edge.checkout.events import SaleCompleted
from edge.checkout.state import fold
from edge.command_socket import CommandClient
from edge.store import journal
from protocol.messages import decode_event
from protocol.messages.uplink import RefundCompleted
from tests.edge.tillkit import MANAGER, seed_store

KILLS = int(os.environ.get("CRASH_KILLS", "200"))
SKUS = ["MILK", "BREAD", "COLA", "WINE"]

pytestmark = pytest.mark.slow


@dataclass
class Ledger:
    """What the shopper saw acknowledged: the till must never forget any of it."""

    receipts: set[str] = field(default_factory=set)
    refund_receipts: set[str] = field(default_factory=set)
    open_lines: list[str] = field(default_factory=list)
    open_sale: str | None = None


class TillProcess:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.config = workdir / "till.toml"
        self.socket = workdir / "till.sock"
        self.config.write_text(
            "\n".join(
                [
                    "[till]",
                    'tenant = "acme"',
                    'store = "s1"',
                    'device = "t1"',
                    f'data_dir = "{workdir}"',
                    f'socket = "{self.socket}"',
                    "[checkout]",
                    'receipt_prefix = "S1T1"',
                    "cash_coin = 5",
                    "",
                ]
            )
        )
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "edge.cli", "run", "--config", str(self.config)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # the till prints "ready" once it serves
        assert b"ready" in line, line + self.proc.stdout.read()

    def kill(self) -> None:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def _drive(client: CommandClient, rng: random.Random, ledger: Ledger) -> None:
    """Shop until the connection dies (the kill). Records only what was acknowledged."""
    while True:
        status = client.send(cmd.Status())
        if status["view"]["cashier"] is None:
            client.send(cmd.Login(cashier_id="c1", pin="1234"))
            continue
        if status["view"]["shift_id"] is None:
            client.send(cmd.OpenShift(opening_float=5000))
            continue
        roll = rng.random()
        if roll < 0.6:
            reply = client.send(cmd.AddItem(sku=rng.choice(SKUS), qty=rng.randint(1, 3)))
            if reply["ok"]:
                sale = reply["view"]["sale"]
                ledger.open_sale = sale["sale_id"]
                ledger.open_lines = [str(line["line_no"]) for line in sale["lines"]]
        elif roll < 0.85:
            reply = client.send(cmd.Tender(kind="cash", amount=100_000))
            if reply["ok"] and reply["data"]:
                ledger.receipts.add(reply["data"]["receipt_no"])
                ledger.open_sale, ledger.open_lines = None, []
        elif roll < 0.95 and ledger.receipts:
            receipt = rng.choice(sorted(ledger.receipts))
            reply = client.send(
                cmd.Refund(receipt_no=receipt, reason="crash test", approval=MANAGER)
            )
            if reply["ok"]:
                ledger.refund_receipts.add(reply["data"]["receipt_no"])
        else:
            reply = client.send(cmd.XReport())


def _check_books(store: Path, ledger: Ledger) -> None:
    conn = sqlite3.connect(store)
    try:
        receipts = Counter(
            r for (r,) in conn.execute("SELECT receipt_no FROM sales WHERE status='completed'")
        )
        assert all(n == 1 for n in receipts.values())
        missing = ledger.receipts - set(receipts)
        assert not missing, f"acknowledged sales lost: {missing}"
        outbox = conn.execute("SELECT seq, type, payload FROM outbox ORDER BY seq").fetchall()
        assert [row[0] for row in outbox] == list(range(1, len(outbox) + 1)), "seq has a gap"
        types = Counter(row[1] for row in outbox)
        assert types["sale.completed"] == len(receipts)
        refunds = [decode_event(row[2]).body for row in outbox if row[1] == "refund.completed"]
        assert {r.receipt_no for r in refunds if isinstance(r, RefundCompleted)} >= (
            ledger.refund_receipts
        )
        # stock and the journal agree: every completed sale and refund moved stock exactly once
        expected: Counter[str] = Counter()
        for stream, event in journal.read_all(conn):
            if isinstance(event, SaleCompleted):
                for line in event.record.lines:
                    expected[line.sku] -= line.qty
            elif stream == "till" and type(event).__name__ == "RefundCompleted":
                for rline in event.record.lines:  # type: ignore[union-attr]
                    expected[rline.sku] += rline.qty
        stock = dict(conn.execute("SELECT sku, qty FROM stock").fetchall())
        assert {k: v for k, v in stock.items() if v} == {k: v for k, v in expected.items() if v}
        # the open sale is exactly its journal, with every acknowledged line; a sale whose
        # completing tender committed just before the kill (reply lost) is completed instead
        if ledger.open_sale is not None:
            row = conn.execute(
                "SELECT status FROM sales WHERE sale_id = ?", (ledger.open_sale,)
            ).fetchone()
            assert row is not None, "the open sale was lost"
            if row[0] == "completed":
                ledger.open_sale, ledger.open_lines = None, []
            else:
                assert row[0] == "open"
                sale = fold(journal.read_stream(conn, ledger.open_sale))
                assert sale is not None
                restored = [str(line.line_no) for line in sale.lines]
                assert restored[: len(ledger.open_lines)] == ledger.open_lines
    finally:
        conn.close()


@pytest.mark.timeout(900)  # 200 process starts; slow on a loaded machine, bounded all the same
def test_sigkill_at_random_points_loses_and_doubles_nothing(tmp_path: Path) -> None:
    rng = random.Random(int(os.environ.get("CRASH_SEED", "20261122")))
    seed_store(tmp_path / "till.db")
    till = TillProcess(tmp_path)
    ledger = Ledger()
    for _ in range(KILLS):
        till.start()
        killer = threading.Timer(rng.uniform(0.005, 0.25), till.kill)
        killer.start()
        try:
            with CommandClient(till.socket, timeout=10) as client:
                _drive(client, rng, ledger)
        except (OSError, ConnectionError, ValueError):
            pass  # the kill landed
        killer.join()
        till.kill()
        _check_books(tmp_path / "till.db", ledger)
    assert len(ledger.receipts) > KILLS // 10, "the workload barely completed any sale"
