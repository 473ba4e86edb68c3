"""Throughput of the wire codecs and of document signing (reported, never pass/fail)."""

from __future__ import annotations

import datetime as dt

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pytest_benchmark.fixture import BenchmarkFixture

from protocol.ids import uuid7
from protocol.messages import DocScope, Document, decode_event, encode_event, make_document
from protocol.messages.downlink import PriceBook
from protocol.signing import DeviceIdentity, Keyring, sign_document, verify_document
from tests.factories import NOW, price_book, sale_completed

KEY = Ed25519PrivateKey.from_private_bytes(bytes(32))
RING = Keyring({"hq-1": KEY.public_key()})
ME = DeviceIdentity("acme", "s-001", "till-1")


def test_encode_sale_20_lines(benchmark: BenchmarkFixture) -> None:
    ev = sale_completed(20)
    data = benchmark(encode_event, ev)
    benchmark.extra_info["bytes"] = len(data)


def test_decode_sale_20_lines(benchmark: BenchmarkFixture) -> None:
    data = encode_event(sale_completed(20))
    benchmark(decode_event, data)
    benchmark.extra_info["bytes"] = len(data)


def _document(items: int) -> Document[PriceBook]:
    return make_document(
        price_book(items),
        doc_id=uuid7(1, b"\x00" * 10),
        scope=DocScope(tenant="acme", store=None, device=None),
        version=5,
        issued_at=NOW,
        expires_at=NOW + dt.timedelta(days=7),
    )


def test_sign_price_book_1000_items(benchmark: BenchmarkFixture) -> None:
    data = benchmark(sign_document, _document(1000), KEY, "hq-1")
    benchmark.extra_info["bytes"] = len(data)


def test_verify_price_book_1000_items(benchmark: BenchmarkFixture) -> None:
    data = sign_document(_document(1000), KEY, "hq-1")

    def verify() -> object:
        return verify_document(
            data, keyring=RING, identity=ME, now=NOW, running_version=lambda k, s: 4
        )

    benchmark(verify)
    benchmark.extra_info["bytes"] = len(data)
