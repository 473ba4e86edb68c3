"""Till latency and memory: an add-item with its durable commit, and a 50,000-item catalog.

Reported, never pass/fail. Goals (issue "checkout"): add-item latency reported as median and
p99; peak RSS of a till process holding a 50,000-item catalog under 80 MB.
"""

from __future__ import annotations

import datetime as dt
import statistics
import subprocess
import sys
import time
from pathlib import Path

from pytest_benchmark.fixture import BenchmarkFixture

from edge.checkout import commands as cmd
from edge.command_socket import CommandClient
from edge.store.db import open_store
from edge.store.documents import apply_price_book
from protocol.messages.downlink import PriceBook, TaxClass
from tests.edge.tillkit import item, ok, open_till, ready


def test_add_item_latency_with_durable_commit(benchmark: BenchmarkFixture, tmp_path: Path) -> None:
    till = ready(open_till(tmp_path / "till.db"))
    samples: list[int] = []

    def run() -> None:
        for n in range(400):
            start = time.perf_counter_ns()
            reply = till.handle(cmd.AddItem(sku=("MILK", "BREAD", "COLA", "WINE")[n % 4]))
            samples.append(time.perf_counter_ns() - start)
            assert reply.ok, reply.reason
            if n % 20 == 19:
                ok(till, cmd.Tender(kind="cash", amount=1_000_000))

    benchmark.pedantic(run, rounds=1, iterations=1)  # type: ignore[no-untyped-call]
    samples.sort()
    benchmark.extra_info["add_item_median_ms"] = round(statistics.median(samples) / 1e6, 3)
    benchmark.extra_info["add_item_p99_ms"] = round(samples[int(len(samples) * 0.99)] / 1e6, 3)


def test_peak_rss_with_50000_item_catalog(benchmark: BenchmarkFixture, tmp_path: Path) -> None:
    store = tmp_path / "till.db"
    ready(open_till(store)).conn.close()
    conn = open_store(store)
    apply_price_book(
        conn,
        PriceBook(
            mode="snapshot",
            base_version=None,
            currency="EUR",
            prices_include_tax=True,
            tax_classes=[TaxClass(id="std", name="Standard", rate_ppm=190_000)],
            items=[
                item(f"SKU{i:06d}", 100 + i % 900, gtins=[f"{40000000000000 + i:014d}"])
                for i in range(50_000)
            ],
            removed=[],
        ),
        version=2,
        doc_id="pb-2",
        at=dt.datetime.now(dt.UTC),
    )
    conn.close()
    config = tmp_path / "till.toml"
    config.write_text(
        f'[till]\ntenant = "acme"\nstore = "s1"\ndevice = "t1"\ndata_dir = "{tmp_path}"\n'
        f'socket = "{tmp_path / "till.sock"}"\n'
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "edge.cli", "run", "--config", str(config)],
        stdout=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        assert b"ready" in proc.stdout.readline()

        def shop() -> None:
            with CommandClient(tmp_path / "till.sock") as client:
                for i in range(0, 50_000, 500):
                    reply = client.send(cmd.AddItem(sku=f"SKU{i:06d}"))
                    assert reply["ok"], reply
                client.send(cmd.Tender(kind="cash", amount=10_000_000))

        benchmark.pedantic(shop, rounds=1, iterations=1)  # type: ignore[no-untyped-call]
        status = Path(f"/proc/{proc.pid}/status").read_text()
        peak_kb = int(
            next(line for line in status.splitlines() if line.startswith("VmHWM")).split()[1]
        )
        benchmark.extra_info["peak_rss_mb"] = round(peak_kb / 1024, 1)
    finally:
        proc.terminate()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
