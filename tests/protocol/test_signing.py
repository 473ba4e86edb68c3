"""Signed downlink documents: every way a document can be wrong is its own rejection reason."""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from protocol.canonical import canonical_json
from protocol.ids import uuid7
from protocol.messages import DocScope, make_document
from protocol.messages.downlink import Ack, Command, PrintTestPage
from protocol.signing import (
    DOMAIN,
    DeviceIdentity,
    DocumentRejectedError,
    Keyring,
    Reason,
    public_key_from_text,
    public_key_to_text,
    sign_document,
    verify_document,
)

NOW = dt.datetime(2026, 11, 22, 12, 0, tzinfo=dt.UTC)
HQ_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
OTHER_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
KEYRING = Keyring({"hq-1": HQ_KEY.public_key()})
ME = DeviceIdentity(tenant="acme", store="s-001", device="till-1")


def doc(
    *,
    scope: DocScope | None = None,
    version: int = 7,
    issued_at: dt.datetime = NOW - dt.timedelta(hours=1),
    expires_at: dt.datetime = NOW + dt.timedelta(days=1),
    body: Any = None,
) -> Any:
    return make_document(
        body if body is not None else Command(command=PrintTestPage()),
        doc_id=uuid7(1_700_000_000_000, b"\x05" * 10),
        scope=scope or DocScope(tenant="acme", store="s-001", device=None),
        version=version,
        issued_at=issued_at,
        expires_at=expires_at,
    )


def verify(data: bytes, running: int | None = None, keyring: Keyring = KEYRING) -> Any:
    return verify_document(
        data, keyring=keyring, identity=ME, now=NOW, running_version=lambda k, s: running
    )


def reason_of(data: bytes, **kw: Any) -> Reason:
    with pytest.raises(DocumentRejectedError) as err:
        verify(data, **kw)
    return err.value.reason


def test_a_good_document_verifies_and_decodes() -> None:
    d = doc()
    assert verify(sign_document(d, HQ_KEY, "hq-1"), running=6) == d
    assert verify(sign_document(d, HQ_KEY, "hq-1"), running=None) == d


def test_signature_survives_reserialisation() -> None:
    """Key order and whitespace added by a bridge or a debugging tool do not matter."""
    wire = json.loads(sign_document(doc(), HQ_KEY, "hq-1"))
    pretty = json.dumps(
        {"sig": wire["sig"], "key_id": wire["key_id"], "payload": wire["payload"]}, indent=2
    )
    assert verify(pretty.encode()) == doc()


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda: sign_document(doc(), OTHER_KEY, "hq-1"), Reason.BAD_SIGNATURE),
        (lambda: sign_document(doc(), HQ_KEY, "hq-9"), Reason.UNKNOWN_KEY),
        (
            lambda: sign_document(
                doc(scope=DocScope(tenant="acme", store="s-002", device=None)), HQ_KEY, "hq-1"
            ),
            Reason.WRONG_SCOPE,
        ),
        (
            lambda: sign_document(
                doc(scope=DocScope(tenant="acme", store="s-001", device="t2")), HQ_KEY, "hq-1"
            ),
            Reason.WRONG_SCOPE,
        ),
        (
            lambda: sign_document(
                doc(scope=DocScope(tenant="evil", store=None, device=None)), HQ_KEY, "hq-1"
            ),
            Reason.WRONG_SCOPE,
        ),
        (
            lambda: sign_document(
                doc(expires_at=NOW, issued_at=NOW - dt.timedelta(days=2)), HQ_KEY, "hq-1"
            ),
            Reason.EXPIRED,
        ),
        (
            lambda: sign_document(
                doc(issued_at=NOW + dt.timedelta(hours=1), expires_at=NOW + dt.timedelta(days=2)),
                HQ_KEY,
                "hq-1",
            ),
            Reason.NOT_YET_VALID,
        ),
        (lambda: b"not json", Reason.MALFORMED),
        (lambda: b'{"payload": {"kind": 1.5}, "key_id": "hq-1", "sig": ""}', Reason.MALFORMED),
    ],
)
def test_each_failure_has_its_own_reason(make: Any, reason: Reason) -> None:
    assert reason_of(make()) is reason


def test_rollback_and_duplicate_are_refused() -> None:
    data = sign_document(doc(version=7), HQ_KEY, "hq-1")
    assert reason_of(data, running=8) is Reason.ROLLBACK
    assert reason_of(data, running=7) is Reason.DUPLICATE


def test_scope_levels_cover_the_right_devices() -> None:
    fleet = DocScope(tenant="acme", store=None, device=None)
    mine = DocScope(tenant="acme", store="s-001", device="till-1")
    assert fleet.covers("acme", "s-001", "till-1")
    assert mine.covers("acme", "s-001", "till-1")
    assert not mine.covers("acme", "s-001", "till-2")
    assert (fleet.level, mine.level) == ("fleet", "device")


def test_unsupported_kind_is_told_apart_from_garbage() -> None:
    d = doc()
    payload = json.loads(canonical_json(json.loads(sign_document(d, HQ_KEY, "hq-1"))["payload"]))
    payload["kind"] = "firmware_blob"
    sig = HQ_KEY.sign(DOMAIN + b"hq-1\n" + canonical_json(payload))
    data = json.dumps(
        {
            "payload": payload,
            "key_id": "hq-1",
            "sig": base64.urlsafe_b64encode(sig).decode().rstrip("="),
        }
    ).encode()
    assert reason_of(data) is Reason.UNSUPPORTED


def test_key_rotation_both_keys_trusted_during_the_switch() -> None:
    ring = Keyring({"hq-1": HQ_KEY.public_key(), "hq-2": OTHER_KEY.public_key()})
    assert verify(sign_document(doc(), HQ_KEY, "hq-1"), keyring=ring) == doc()
    assert verify(sign_document(doc(), OTHER_KEY, "hq-2"), keyring=ring) == doc()
    retired = Keyring({"hq-2": OTHER_KEY.public_key()})
    assert reason_of(sign_document(doc(), HQ_KEY, "hq-1"), keyring=retired) is Reason.UNKNOWN_KEY


def test_public_keys_round_trip_as_text() -> None:
    text = public_key_to_text(HQ_KEY.public_key())
    assert len(text) == 43
    ring = Keyring.from_text([("hq-1", text)])
    assert verify(sign_document(doc(), HQ_KEY, "hq-1"), keyring=ring) == doc()


SIGNED = sign_document(doc(body=Ack(up_to_seq=41)), HQ_KEY, "hq-1")


def test_every_flipped_bit_is_rejected() -> None:
    """Exhaustively: each of the document's bits flipped alone makes it rejected."""
    accepted = []
    for bit in range(len(SIGNED) * 8):
        data = bytearray(SIGNED)
        data[bit // 8] ^= 1 << (bit % 8)
        try:
            verify(bytes(data))
        except DocumentRejectedError:
            continue
        accepted.append(bit)
    assert accepted == []


def _paths(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*path, i))
    return out


@given(st.data())
def test_every_changed_field_is_rejected(data: st.DataObject) -> None:
    """Change any value in the signed payload (keeping it well-formed): the signature fails."""
    wire = json.loads(SIGNED)
    path = data.draw(st.sampled_from(_paths(wire["payload"])[1:]))
    target = wire["payload"]
    for p in path[:-1]:
        target = target[p]
    old = target[path[-1]]
    new = data.draw(
        st.one_of(st.integers(), st.text(max_size=5), st.booleans(), st.none()).filter(
            lambda v: v != old or type(v) is not type(old)
        )
    )
    target[path[-1]] = new
    with pytest.raises(DocumentRejectedError) as err:
        verify(json.dumps(wire).encode())
    assert err.value.reason in (Reason.BAD_SIGNATURE, Reason.MALFORMED)


@given(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=+/!"))
def test_any_other_signature_text_is_rejected(sig: str) -> None:
    wire = json.loads(SIGNED)
    if sig == wire["sig"]:
        return
    wire["sig"] = sig
    with pytest.raises(DocumentRejectedError) as err:
        verify(json.dumps(wire).encode())
    assert err.value.reason is Reason.BAD_SIGNATURE


@given(st.binary(max_size=500))
def test_arbitrary_bytes_raise_only_document_rejected(data: bytes) -> None:
    with pytest.raises(DocumentRejectedError):
        verify(data)


def test_public_key_text_is_validated() -> None:
    from protocol.errors import ProtocolError

    with pytest.raises(ProtocolError):
        public_key_from_text("short")
