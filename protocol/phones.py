"""Phone numbers as loyalty keys: normalised to E.164, stored on tills only as keyed hashes.

A customer keys in "0151 234 5678" at one till and "+49 151 2345678" at another; both must find
the same member. HQ and every till normalise the same way (this module) and hash with the same
HMAC key, so the till's member cache can match a keyed-in number without holding any number in
clear — a stolen till does not leak the store's customer list.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from protocol.errors import ProtocolError

_SEPARATORS = re.compile(r"[\s().\-/]")
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")


class PhoneError(ProtocolError):
    """Text that is not a phone number we can normalise."""


def normalise_phone(text: str, country_code: str) -> str:
    """Normalise a keyed-in number to E.164 (``+491512345678``).

    Accepted: ``+<cc><number>``, ``00<cc><number>``, a national number with its trunk ``0``
    (``0151…``) or without it, with spaces, dots, dashes, slashes and parentheses anywhere.
    ``country_code`` is the store's calling code without ``+`` (``"49"``).
    """
    if not re.fullmatch(r"[1-9][0-9]{0,2}", country_code):
        raise PhoneError(f"country code must be 1-3 digits, got {country_code!r}")
    if not isinstance(text, str) or len(text) > 40:
        raise PhoneError("a phone number is at most 40 characters")
    compact = _SEPARATORS.sub("", text)
    if compact.startswith("+"):
        number = compact
    elif compact.startswith("00"):
        number = "+" + compact[2:]
    elif compact.startswith("0"):
        number = f"+{country_code}{compact[1:]}"
    else:
        number = f"+{country_code}{compact}"
    if not number.isascii() or not _E164.fullmatch(number):
        raise PhoneError(f"{text!r} is not a phone number (expected 7-15 digits)")
    return number


def phone_hash(key: bytes, e164: str) -> str:
    """HMAC-SHA256 of an E.164 number under ``key``, as 64 lowercase hex digits."""
    if not _E164.fullmatch(e164):
        raise PhoneError(f"{e164!r} is not an E.164 number")
    if len(key) < 16:
        raise PhoneError("the phone hash key must be at least 16 bytes")
    return hmac.new(key, e164.encode("ascii"), hashlib.sha256).hexdigest()
