"""The retained ``status`` message of a till: online, or offline by its Last Will.

A till counts its broker connections. Its Will (``offline``) and its ``online`` announcement
carry the number of the connection they belong to, as Sparkplug's ``bdSeq`` does: a Will
delivered late, from a connection that was already replaced, has a smaller number than the
``online`` HQ saw last and is ignored — so a flapping network cannot show a live till as down.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from protocol.errors import MessageError
from protocol.messages.base import Timestamp, Wire, validation_error


class DeviceStatus(Wire, frozen=True):
    """``online`` when a connection is up; ``offline`` when its Will fires or the till stops."""

    state: Literal["online", "offline"]
    connection: Annotated[int, msgspec.Meta(ge=1, le=2**53 - 1)]
    at: Timestamp | None


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(DeviceStatus)

STATUS_MAX_BYTES = 512


def encode_status(status: DeviceStatus) -> bytes:
    return _encoder.encode(status)


def decode_status(data: bytes | bytearray) -> DeviceStatus:
    """Strictly decode a status message; raises :class:`MessageError`."""
    if len(data) > STATUS_MAX_BYTES:
        raise MessageError(f"status message of {len(data)} bytes is over {STATUS_MAX_BYTES}")
    try:
        return _decoder.decode(data)
    except (msgspec.MsgspecError, UnicodeDecodeError) as exc:
        raise validation_error(exc) from None


def supersedes(new: DeviceStatus, old: DeviceStatus | None) -> bool:
    """True if ``new`` should replace ``old`` in HQ's view of the device.

    A later connection always wins; within one connection ``offline`` (its Will, or a clean
    stop) wins over ``online``.
    """
    if old is None:
        return True
    if new.connection != old.connection:
        return new.connection > old.connection
    return new.state == "offline" or old.state == "online"
