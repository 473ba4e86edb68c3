"""Ending a test's own paho client without leaving its sockets to the garbage collector."""

from __future__ import annotations

import paho.mqtt.client as mqtt


def stop(client: mqtt.Client) -> None:
    """Disconnect, stop the network thread and close every socket of ``client`` now.

    paho closes its wake-up socket pair (a loopback TCP pair, ``_socketpair_compat``) only in
    ``__del__``, and a test's client sits in a reference cycle (its callbacks hold the object
    that holds it), so that waited for a GC pass during some later test — or at the end of the
    session — and failed it with a ResourceWarning naming two loopback sockets. Closing them
    here takes one paho internal; paho has no public way.
    """
    client.disconnect()
    client.loop_stop()
    client._reset_sockets()
