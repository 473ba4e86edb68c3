"""HQ's Ed25519 signing keys: one PEM file per key id in a key directory.

Rotation is several keys side by side: the config names the active one (what HQ signs with),
and the tills' keyring trusts every key HQ still lists in ``device_config.trusted_keys``. So a
rotation is: generate the new key, push it as trusted, switch ``active``, later retire the old.

A private key file is created ``0600`` with ``O_EXCL`` (never overwritten: losing a key that
tills trust would force a re-enrolment) and refused when group or others could read it, as ssh
does — a readable signing key means anyone on the box could shrink a till's outbox.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from protocol.messages import Document
from protocol.messages.base import ID_PATTERN
from protocol.signing import public_key_to_text, sign_document

_KEY_ID = re.compile(ID_PATTERN)


class KeyStoreError(Exception):
    """A key cannot be made, found or trusted; the message says which and why."""


def _valid_key_id(key_id: str) -> bool:
    return _KEY_ID.fullmatch(key_id) is not None


def key_path(key_dir: Path, key_id: str) -> Path:
    """Where the private key ``key_id`` lives."""
    if not _valid_key_id(key_id):
        raise KeyStoreError(f"key id must match {ID_PATTERN}, got {key_id!r}")
    return key_dir / f"{key_id}.pem"


def generate_key(key_dir: Path, key_id: str) -> Path:
    """Make a new private key ``key_id`` in ``key_dir`` (created ``0700`` if missing)."""
    path = key_path(key_dir, key_id)
    key_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeyStoreError(f"{path} exists; a key is never overwritten") from None
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
        f.flush()
        os.fsync(f.fileno())
    return path


def load_key(key_dir: Path, key_id: str) -> Ed25519PrivateKey:
    """Read the private key ``key_id``; refused if missing, not Ed25519 or readable by others."""
    path = key_path(key_dir, key_id)
    try:
        mode = path.stat().st_mode
        data = path.read_bytes()
    except FileNotFoundError:
        raise KeyStoreError(
            f"no key {key_id!r} in {key_dir} (make one with `fleet keygen {key_id}`)"
        ) from None
    except OSError as exc:
        raise KeyStoreError(f"cannot read {path}: {exc.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyStoreError(f"{path} is accessible by group or others; chmod 600 it")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise KeyStoreError(f"{path} is not an unencrypted PEM private key: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyStoreError(f"{path} holds a {type(key).__name__}, not an Ed25519 key")
    return key


def public_keys(key_dir: Path) -> dict[str, Ed25519PublicKey]:
    """Every key in ``key_dir`` by id, public half: what tills should trust."""
    found: dict[str, Ed25519PublicKey] = {}
    for path in sorted(key_dir.glob("*.pem")):
        if _valid_key_id(path.stem):
            found[path.stem] = load_key(key_dir, path.stem).public_key()
    return found


class Signer:
    """Signs downlink documents with HQ's active key."""

    def __init__(self, private_key: Ed25519PrivateKey, key_id: str) -> None:
        if not _valid_key_id(key_id):
            raise KeyStoreError(f"key id must match {ID_PATTERN}, got {key_id!r}")
        self.key_id = key_id
        self._key = private_key

    @classmethod
    def from_dir(cls, key_dir: Path, key_id: str) -> Signer:
        """The signer for key ``key_id`` of ``key_dir`` (the config's active key)."""
        return cls(load_key(key_dir, key_id), key_id)

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self._key.public_key()

    @property
    def public_key_text(self) -> str:
        """The base64url form a ``TrustedKey`` carries."""
        return public_key_to_text(self.public_key)

    def sign(self, document: Document[Any]) -> bytes:
        """The signed wire form of ``document`` (see ``protocol.signing``)."""
        return sign_document(document, self._key, self.key_id)
