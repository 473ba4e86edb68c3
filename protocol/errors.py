"""The error types of the wire contracts.

Every decoder and parser in ``protocol`` raises only the error type documented for it, all of them
subclasses of :class:`ProtocolError` (itself a :class:`ValueError`), so a caller at a trust
boundary — a serial reader, the MQTT ingest, a CSV import — can catch exactly one type and be sure
no malformed input escapes as an ``IndexError`` or ``UnicodeDecodeError`` from deep inside.
Messages say what was expected and what arrived.
"""

from __future__ import annotations


class ProtocolError(ValueError):
    """Base of every error raised by ``protocol`` on bad input."""


class MoneyError(ProtocolError):
    """An amount that cannot be parsed, formatted, rounded or split as asked."""


class BarcodeError(ProtocolError):
    """A scanned code that is not a valid barcode of a format we read."""


class TopicError(ProtocolError):
    """An MQTT topic or identifier that does not follow the tillfleet topic scheme."""


class FrameError(ProtocolError):
    """A serial-link frame that cannot be encoded (the decoder never raises: it skips garbage)."""
