"""`make demo`: a whole store and its HQ on one machine, with a shopper who never tires.

What runs, all on loopback:

* a private Mosquitto;
* HQ: a fleet database (SQLite), a signing key, the catalog loaded and published (signed price
  book, promotions, member cache, till config) and a `fleet ingest` worker;
* a till: `till run` as its own process, its devices on real serial lines — pseudo-terminals to
  byte-accurate emulators of a barcode scanner, a Toledo scale, an ESC/POS printer, an Epson
  pole display and the keypad/display I/O board running its real firmware logic; the cash drawer
  is simulated;
* a shopper: scans goods on the scanner, puts loose apples on the scale and keys their PLU on
  the keypad, pays cash with the keypad's CASH key — like a person at the counter.

Each sale is printed as it happens: what the customer's pole display shows, the receipt, and how
many sales HQ has stored. The demo treats the till as a black box (only serial lines, its command
socket and HQ's database), which is why it lives in `hil`.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import click

from hil.devices.escpos_printer import EscPosPrinter
from hil.devices.ioboard_emulator import IoBoardEmulator
from hil.devices.pole_display_emulator import PoleDisplayEmulator
from hil.devices.pty_cable import PtyCable
from hil.devices.scale_emulator import ScaleEmulator
from hil.devices.scanner_emulator import ScannerEmulator
from hil.services.mosquitto import Mosquitto

TENANT, STORE, DEVICE = "demo", "s1", "till-1"
CASHIER, PIN = "c1", "1234"


def ean13(body: str) -> str:
    """``body`` (12 digits) with its GS1 check digit."""
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body))
    return body + str(-total % 10)


# (sku, name, price in cents, EAN-13 as printed on the pack)
GOODS = [
    ("MILK", "Whole milk 1l", 119, ean13("400638133393")),
    ("COLA", "Cola 0.5l", 200, ean13("590123412345")),
    ("TEA", "Green tea 20 bags", 349, ean13("400123456789")),
    ("PASTA", "Spaghetti 500g", 189, ean13("800123456789")),
    ("COFFEE", "Coffee beans 1kg", 1299, ean13("401234567890")),
]
APPLES_PLU, APPLES_PER_KG = "4131", 299


def _item(sku: str, name: str, price: int, **kw: Any) -> dict[str, Any]:
    return {
        "sku": sku,
        "name": name,
        "short_name": name[:20],
        "gtins": [],
        "plu": None,
        "category": "grocery",
        "tax_class": "red",
        "unit_price": price,
        "price_per": 1,
        "uom": "ea",
        "open_price": False,
        "weighed": False,
        "min_age": None,
        "active": True,
        **kw,
    }


def catalog() -> dict[str, Any]:
    """The demo store's catalog, promotions and loyalty rules, as `fleet catalog load` reads."""
    items = [_item(sku, name, price, gtins=["0" + gtin]) for sku, name, price, gtin in GOODS]
    items.append(
        _item(
            "APPLES",
            "Apples, loose",
            APPLES_PER_KG,
            plu=APPLES_PLU,
            price_per=1000,
            uom="g",
            weighed=True,
            category="fruit",
        )
    )
    cola3 = {
        "id": "COLA3",
        "version": 1,
        "name": "3 colas for 5.00",
        "level": "item",
        "target": {"skus": ["COLA"], "categories": [], "all_items": False},
        "reward": {"type": "multi_buy", "quantity": 3, "price": 500},
        "conditions": {
            "valid_from": None,
            "valid_to": None,
            "windows": [],
            "min_spend": None,
            "min_qty": None,
            "member_only": False,
            "tiers": [],
            "coupon": "none",
            "coupon_code": None,
            "stores": [],
        },
        "priority": 0,
        "exclusive": False,
        "stack_group": None,
        "max_applications": None,
    }
    return {
        "stores": [
            {
                "store": STORE,
                "name": "Corner Shop Demo",
                "currency": "EUR",
                "prices_include_tax": True,
                "timezone": "Europe/Berlin",
                "country_code": "49",
            }
        ],
        "tax_classes": [{"id": "red", "name": "Reduced", "rate_ppm": 70_000}],
        "items": items,
        "promotions": [cola3],
        "settings": [
            {
                "store": STORE,
                "settings": {
                    "loyalty": {
                        "points_per_unit": 1,
                        "category_multipliers_pct": {},
                        "redeem_minor_per_point": 1,
                        "tiers": [],
                        "rolling_window_days": 365,
                        "default_offline_redeem_limit": 500,
                    },
                    "store_address": ["1 Demo Street", "Berlin"],
                    "receipt_footer": ["Thank you for shopping with us"],
                    "cash_rounding": None,
                    "status_interval_s": 30,
                },
            }
        ],
    }


# -- processes ----------------------------------------------------------------------------


class Process:
    """A child process whose combined output goes to a log file and is watched for a line."""

    def __init__(self, name: str, args: list[str], log: Path, env: dict[str, str]) -> None:
        self.name = name
        self.log_path = log
        self._lines: list[str] = []
        self._cond = threading.Condition()
        self.proc = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        )
        self._log: IO[str] = log.open("w")
        threading.Thread(target=self._pump, name=f"log {name}", daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._log.write(line)
            self._log.flush()
            with self._cond:
                self._lines.append(line)
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def wait_for(self, text: str, timeout: float) -> None:
        with self._cond:
            ok = self._cond.wait_for(
                lambda: any(text in line for line in self._lines) or self.proc.poll() is not None,
                timeout,
            )
            if not ok or not any(text in line for line in self._lines):
                tail = "".join(self._lines[-15:])
                raise click.ClickException(f"{self.name} did not say {text!r}:\n{tail}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


def _run(args: list[str], env: dict[str, str]) -> str:
    result = subprocess.run(args, capture_output=True, text=True, env=env, check=False)
    if result.returncode != 0:
        raise click.ClickException(f"{' '.join(args[:3])} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


class TillSocket:
    """The till's command socket (JSON lines), as the operator screen uses it."""

    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(str(path))
        self.reader = self.sock.makefile("rb")

    def send(self, command: dict[str, Any]) -> dict[str, Any]:
        self.sock.sendall(json.dumps(command).encode() + b"\n")
        reply: dict[str, Any] = json.loads(self.reader.readline())
        return reply

    def close(self) -> None:
        self.reader.close()
        self.sock.close()


# -- the store ----------------------------------------------------------------------------


class Demo:
    def __init__(self, work: Path) -> None:
        self.work = work
        self.bin = Path(sys.executable).parent
        self.env = {**os.environ, "TILL_CASHIER_PIN": PIN, "PYTHONUNBUFFERED": "1"}
        self.procs: list[Process] = []
        self.broker = Mosquitto(work / "broker")
        self.hq_db = work / "hq" / "fleet.db"

    def tool(self, name: str) -> str:
        return str(self.bin / name)

    @contextlib.contextmanager
    def running(self) -> Iterator[Demo]:
        try:
            yield self
        finally:
            for proc in reversed(self.procs):
                proc.stop()
            self.broker.stop()

    def start_hq(self) -> str:
        hq = self.work / "hq"
        hq.mkdir(parents=True)
        self.broker.start()
        self.fleet_toml = hq / "fleet.toml"
        self.fleet_toml.write_text(
            f'[fleet]\ntenant = "{TENANT}"\ndb_url = "sqlite://{self.hq_db}"\n'
            f'[keys]\ndir = "{hq / "keys"}"\nactive = "hq-1"\n'
            f'[broker]\nhost = "{self.broker.host}"\nport = {self.broker.port}\n'
            "[ingest]\nbatch_wait_ms = 20\n"
        )
        key_line = _run(
            [self.tool("fleet"), "keygen", "hq-1", "--config", str(self.fleet_toml)], self.env
        )
        public_key = key_line.split()[-1]
        catalog_path = hq / "catalog.json"
        catalog_path.write_text(json.dumps(catalog(), indent=2))
        fleet = [self.tool("fleet")]
        cfg = ["--config", str(self.fleet_toml)]
        _run([*fleet, "catalog", "load", str(catalog_path), *cfg], self.env)
        _run([*fleet, "catalog", "hash-key", "p1", *cfg], self.env)
        ingest = Process("fleet ingest", [*fleet, "ingest", *cfg], hq / "ingest.log", self.env)
        self.procs.append(ingest)
        ingest.wait_for("subscribed", 30)
        return public_key

    def publish(self) -> list[str]:
        fleet = [self.tool("fleet"), "publish"]
        cfg = ["--config", str(self.fleet_toml), "--store", STORE]
        out = []
        for kind in (["config"], ["price-book", "--full"], ["promotions"], ["members", "--full"]):
            out.append(_run([*fleet, *kind, *cfg], self.env).strip())
        return out

    def start_devices(self) -> None:
        dev = self.work / "dev"
        dev.mkdir()
        self.scanner = ScannerEmulator(PtyCable(dev / "scanner"))
        self.scale = ScaleEmulator(PtyCable(dev / "scale"), "toledo8217")
        self.scale.start()
        self.printer = EscPosPrinter(PtyCable(dev / "printer"))
        self.printer.start()
        self.display = PoleDisplayEmulator(PtyCable(dev / "display"), command_set="epson")
        self.display.start()
        self.board = IoBoardEmulator(PtyCable(dev / "ioboard"))
        self.board.start()

    def start_till(self, public_key: str) -> None:
        till = self.work / "till"
        till.mkdir()
        dev = self.work / "dev"
        self.till_toml = till / "till.toml"
        self.till_toml.write_text(
            f'[till]\ntenant = "{TENANT}"\nstore = "{STORE}"\ndevice = "{DEVICE}"\n'
            f'data_dir = "{till / "data"}"\nsocket = "{till / "till.sock"}"\n'
            '[checkout]\ncurrency = "EUR"\ntimezone = "Europe/Berlin"\n'
            f'[sync]\nbroker = "{self.broker.host}:{self.broker.port}"\n'
            f'trusted_keys = [{{ key_id = "hq-1", public_key = "{public_key}" }}]\n'
            "ack_timeout_s = 5\n"
            f'[devices.scanner]\nbackend = "serial"\nport = "{dev / "scanner"}"\n'
            f'[devices.scale]\nbackend = "serial"\nprotocol = "toledo8217"\n'
            f'port = "{dev / "scale"}"\n'
            f'[devices.printer]\nbackend = "serial"\nport = "{dev / "printer"}"\n'
            f'[devices.pole_display]\nbackend = "serial"\nport = "{dev / "display"}"\n'
            'command_set = "epson"\nmarquee_ms = 0\n'
            f'[devices.ioboard]\nbackend = "serial"\nport = "{dev / "ioboard"}"\n'
            '[devices.drawer]\nbackend = "simulated"\n'
        )
        cfg = ["--config", str(self.till_toml)]
        _run(
            [self.tool("till"), "cashier-add", *cfg, "--id", CASHIER, "--name", "Demo Cashier"],
            self.env,
        )
        proc = Process("till run", [self.tool("till"), "run", *cfg], till / "till.log", self.env)
        self.procs.append(proc)
        proc.wait_for("ready on", 60)
        self.socket = TillSocket(till / "till.sock")

    def hq_sales(self) -> int:
        with contextlib.closing(sqlite3.connect(self.hq_db, timeout=10)) as db:
            return int(db.execute("SELECT COUNT(*) FROM sales").fetchone()[0])

    def hq_price_book(self) -> int | None:
        with contextlib.closing(sqlite3.connect(self.hq_db, timeout=10)) as db:
            row = db.execute(
                "SELECT price_book_version FROM devices WHERE device = ?", (DEVICE,)
            ).fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def wait(self, what: str, check: Any, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise click.ClickException(f"timed out waiting for {what}")
            time.sleep(0.1)

    # -- the shopper ----------------------------------------------------------------------

    def open_till(self) -> None:
        for command in (
            {"cmd": "login", "cashier_id": CASHIER, "pin": PIN},
            {"cmd": "open_shift", "opening_float": 10_000},
        ):
            reply = self.socket.send(command)
            if not reply["ok"]:
                raise click.ClickException(f"{command['cmd']}: {reply['reason']}")

    def view(self) -> dict[str, Any]:
        view: dict[str, Any] = self.socket.send({"cmd": "status"})["view"]
        return view

    def lines_in_sale(self) -> int:
        sale = self.view()["sale"]
        return 0 if sale is None else len(sale["lines"])

    def key(self, *keys: str) -> None:
        for k in keys:
            self.board.tap(k)
            time.sleep(0.12)  # a person's finger: key up before the next key down

    def one_sale(self, rng: random.Random) -> dict[str, Any]:
        printed_before = len(self.printer.printed)
        basket = rng.sample(GOODS, rng.randint(1, 3))
        if rng.random() < 0.3:
            basket.append(GOODS[1])  # more cola: the 3-for-5.00 offer kicks in sometimes
        for n, (_sku, _name, _price, gtin) in enumerate(basket, start=1):
            self.scanner.scan(gtin)
            self.wait("the scan to reach the basket", lambda n=n: self.lines_in_sale() >= n, 15)
        if rng.random() < 0.5:
            grams = rng.randrange(300, 1800, 5)
            self.scale.set_weight(grams)
            lines = self.lines_in_sale()
            self.key(*APPLES_PLU, "PLU")
            self.wait("the apples", lambda: self.lines_in_sale() > lines, 20)
        sale = self.view()["sale"]
        pole = " | ".join(line.rstrip() for line in self.display.lines)
        self.key("CASH")  # no amount keyed: exactly what is due
        self.wait("the payment", lambda: self.view()["sale"] is None, 15)
        view = self.view()
        self.wait("the receipt", lambda: len(self.printer.printed) > printed_before, 15)
        return {"total": sale["total"] if sale else 0, "view": view, "pole": pole}


def _money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def run(work: Path, sales: int | None, seed: int) -> int:
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    demo = Demo(work)
    rng = random.Random(seed)
    with demo.running():
        click.echo(f"HQ: broker on {demo.broker.host}:{demo.broker.port}, database {demo.hq_db}")
        public_key = demo.start_hq()
        demo.start_devices()
        demo.start_till(public_key)
        for line in demo.publish():
            click.echo(f"HQ: {line}")
        demo.wait("the till to run HQ's price book", lambda: demo.hq_price_book() is not None, 60)
        click.echo(f"till {STORE}/{DEVICE} runs price book v{demo.hq_price_book()}; logs in {work}")
        demo.open_till()
        done = 0
        while sales is None or done < sales:
            result = demo.one_sale(rng)
            done += 1
            view = result["view"]
            click.echo(
                f"sale {done}: receipt {view['last_receipt']}  total {_money(result['total'])}"
                f"  pole display [{result['pole']}]  HQ has {demo.hq_sales()} sales"
            )
            if sales is None:
                time.sleep(rng.uniform(0.5, 2.0))
        demo.wait(f"HQ to store all {done} sales", lambda: demo.hq_sales() >= done, 60)
        click.echo(f"HQ has {demo.hq_sales()} of {done} sales. Logs and databases: {work}")
    return 0


@click.command("demo")
@click.option("--sales", type=int, default=None, help="stop after this many sales (default: run)")
@click.option("--workdir", type=click.Path(path_type=Path), default=Path(".demo"))
@click.option("--seed", type=int, default=1)
def demo_command(sales: int | None, workdir: Path, seed: int) -> None:
    """Run a store and its HQ on this machine, with a shopper (Ctrl-C stops it)."""
    try:
        run(workdir.resolve(), sales, seed)
    except KeyboardInterrupt:
        click.echo("stopped")
