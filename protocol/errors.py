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


class MessageError(ProtocolError):
    """A wire message that does not decode into the schema it claims.

    ``path`` points at the offending field in JSONPath style (``$.body.lines[3].qty``) so a dead
    letter says exactly what was wrong; ``$`` when the message as a whole is at fault.
    """

    def __init__(self, reason: str, path: str = "$") -> None:
        super().__init__(f"{reason} (at {path})" if path != "$" else reason)
        self.reason = reason
        self.path = path
