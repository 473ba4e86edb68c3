"""Cheaper MQTT 5 properties for received PUBLISHes, for the receiver process only.

paho decodes every PUBLISH into a fresh ``Properties`` object, whose constructor rebuilds two
27-entry lookup tables and then probes and deletes each of 27 attribute names on the new, empty
object — and ``unpack`` probes all 27 again (``clear``): measured, a third of the CPU paho
spends per received message (the receiver's loop is otherwise paho's own). The tables never
change, so :class:`SharedTableProperties` points each new object at one copy of them, and
clears by deleting what the object actually holds (paho keeps property values in the instance
dict, beside its four private names) instead of probing every name; the object is otherwise
paho's class, unpacked by paho's code. :func:`install` swaps it into paho's packet decoder —
only there, and only if paho still has the shape this was written for (else paho is left
alone, slower but right). ``tests/fleet/test_lean_properties.py`` checks that both decode alike.
"""

from __future__ import annotations

import paho.mqtt._packet as paho_packet
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

_TABLES = ("types", "names", "properties")
_PRIVATE = frozenset(("packetType", *_TABLES))


class SharedTableProperties(Properties):
    """paho's ``Properties``, sharing its (read-only) lookup tables instead of rebuilding them."""

    _template = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]

    def __init__(self, packetType: int) -> None:  # noqa: N803 (paho's parameter name)
        template = SharedTableProperties._template
        object.__setattr__(self, "packetType", packetType)
        for name in _TABLES:
            object.__setattr__(self, name, getattr(template, name))

    def clear(self) -> None:
        """paho's ``clear``: forget every property value (not the tables)."""
        held = self.__dict__
        for name in [n for n in held if n not in _PRIVATE]:
            del held[name]


def install() -> bool:
    """Make paho's PUBLISH decoder use :class:`SharedTableProperties`; False if paho has
    changed where or how it builds them, in which case nothing is touched."""
    if getattr(paho_packet, "Properties", None) is not Properties:
        return False
    if not all(
        isinstance(getattr(SharedTableProperties._template, n, None), list | dict) for n in _TABLES
    ):
        return False
    paho_packet.Properties = SharedTableProperties  # type: ignore[attr-defined]
    return True
