"""Cashier PINs, stored only as salted scrypt hashes.

A till's store file can be copied off a stolen SD card; four- to six-digit PINs are guessable
from a fast hash in seconds, so they are stretched with scrypt. The cost parameters live in the
stored string, so tests can use a cheap cost and production a strong one without a migration.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

DEFAULT_COST = 14  # n = 2**14: about 50 ms on a Pi 4, 16 MiB of memory


def hash_pin(pin: str, salt: bytes, *, cost: int = DEFAULT_COST) -> str:
    """``scrypt$<log2 n>$<salt b64>$<hash b64>`` for ``pin``; ``salt`` must be random."""
    if not pin.isdigit() or not 4 <= len(pin) <= 12:
        raise ValueError("a PIN is 4 to 12 digits")
    digest = hashlib.scrypt(pin.encode(), salt=salt, n=2**cost, r=8, p=1, dklen=32)
    return f"scrypt${cost}${_b64(salt)}${_b64(digest)}"


def check_pin(pin: str, stored: str) -> bool:
    """True if ``pin`` matches ``stored``; compares in constant time."""
    try:
        scheme, cost_text, salt_text, digest_text = stored.split("$")
        cost = int(cost_text)
        salt = base64.b64decode(salt_text)
        digest = base64.b64decode(digest_text)
    except ValueError:
        return False
    if scheme != "scrypt" or not 1 <= cost <= 20:
        return False
    candidate = hashlib.scrypt(pin.encode(), salt=salt, n=2**cost, r=8, p=1, dklen=len(digest))
    return hmac.compare_digest(candidate, digest)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
