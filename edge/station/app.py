"""One till process: checkout, command socket, devices, effects and sync, started together.

``till run`` is this plus signal handling; tests and the demo build it in-process. The order
matters: devices and the store come up first; the checkout's command loop next (everything
else feeds it); the effects runner and device input after it; the sync client last, so the first
documents it applies find a running checkout to tell. Stopping goes the other way round.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import datetime
from typing import Any

from edge.checkout.till import Till
from edge.command_socket import CommandServer
from edge.peripherals.base import DeviceState, PowerState, Status
from edge.settings import Settings
from edge.station.devices import Devices, build_devices
from edge.station.effects import EffectsRunner
from edge.station.inputs import InputRouter, show_customer
from edge.store.db import open_store
from edge.store.outbox import Origin
from edge.sync.client import SyncClient
from protocol import __version__


class Station:
    """Everything ``till run`` runs; :meth:`start` and :meth:`stop` it."""

    def __init__(
        self,
        settings: Settings,
        *,
        devices: Devices | None = None,
        clock: Callable[[], datetime] | None = None,
        **till_options: Any,
    ) -> None:
        self.settings = settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.conn: sqlite3.Connection = open_store(settings.store_path)
        self.devices = devices if devices is not None else build_devices(settings.devices)
        self.sync: SyncClient | None = None
        if settings.sync is not None:
            c = settings.config
            self.sync = SyncClient(
                settings.store_path,
                Origin(c.tenant, c.store, c.device),
                settings.sync,
                software_version=__version__,
                peripherals=self.devices.health,
            )
        sync = self.sync
        self.till = Till(
            self.conn,
            settings.config,
            clock=clock,
            online=(lambda: sync.online) if sync is not None else (lambda: False),
            **till_options,
        )
        if sync is not None:
            sync.on_documents = self.till.documents_changed
        self.server = CommandServer(self.till, settings.socket)
        self.effects = EffectsRunner(
            settings.store_path, self.devices, store_name=settings.config.store
        )
        self.inputs = InputRouter(self.devices, self.server.submit)
        for device in self.devices.all:
            device.subscribe(self._device_status)
        self.server.on_reply(lambda reply: show_customer(self.devices, reply))
        self.server.on_reply(lambda _reply: self.effects.wake())

    def _device_status(self, status: Status) -> None:
        """A device that is offline or in error tells the cashier why, on the operator screen;
        the checkout goes on (a receipt waits in its queue, the drawer opens by key)."""
        if status.state is DeviceState.ERROR or status.power is PowerState.OFFLINE:
            why = status.detail or status.power.value
            named = why.lower().startswith(status.device.lower())
            self.till.notice(status.device, why if named else f"{status.device}: {why}")
        else:
            self.till.notice(status.device, None)

    def start(self) -> None:
        self.devices.start(self.settings.store_path)
        self.server.start()
        self.effects.start()
        self.inputs.start()
        if self.sync is not None:
            self.sync.start()

    def stop(self) -> None:
        self.inputs.stop()
        self.server.stop()
        self.effects.stop()
        if self.sync is not None:
            self.sync.stop()
        self.devices.stop()
        self.conn.close()
