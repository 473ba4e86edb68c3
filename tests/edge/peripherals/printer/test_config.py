"""``[devices.printer]`` tables: each backend built, each mistake refused with its key named."""

from __future__ import annotations

from typing import Any

import pytest

from edge.peripherals.printer import (
    NetworkTransport,
    SerialTransport,
    SimulatedTransport,
    UsbTransport,
    build,
)


def test_serial_with_defaults() -> None:
    printer = build("printer", {"backend": "serial", "port": "/dev/ttyUSB0"})
    assert isinstance(printer.transport, SerialTransport)
    assert printer.transport.settings.port == "/dev/ttyUSB0"
    assert printer.transport.settings.baudrate == 9600
    assert (printer.width, printer.page.name, printer.cut, printer.feed_lines) == (
        42,
        "cp858",
        "partial",
        3,
    )
    assert printer.status_timeout == 0.5
    assert printer.name == "printer"
    assert printer.kind == "printer"


def test_every_option() -> None:
    printer = build(
        "receipt",
        {
            "backend": "serial",
            "port": "/dev/ttyS0",
            "baudrate": 38400,
            "parity": "E",
            "bytesize": 7,
            "stopbits": 2,
            "width": 32,
            "codepage": "cp1252",
            "status_timeout_ms": 250,
            "feed_lines": 5,
            "cut": "full",
            "drawer_pin": 5,
            "drawer_on_ms": 120,
            "drawer_off_ms": 240,
        },
    )
    assert isinstance(printer.transport, SerialTransport)
    s = printer.transport.settings
    assert (s.baudrate, s.parity, s.bytesize, s.stopbits) == (38400, "E", 7, 2)
    assert (printer.width, printer.page.name, printer.cut, printer.feed_lines) == (
        32,
        "wpc1252",
        "full",
        5,
    )
    assert printer.status_timeout == 0.25


def test_network_usb_and_simulated() -> None:
    net = build("p", {"backend": "network", "host": "10.0.0.9"})
    assert isinstance(net.transport, NetworkTransport)
    assert (net.transport.host, net.transport.port) == ("10.0.0.9", 9100)
    usb = build("p", {"backend": "usb"})
    assert isinstance(usb.transport, UsbTransport)
    assert usb.transport.path == "/dev/usb/lp0"
    assert isinstance(build("p", {"backend": "simulated"}).transport, SimulatedTransport)


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({}, "needs 'backend'"),
        ({"backend": "bluetooth"}, "backend must be one of"),
        ({"backend": "serial"}, r"\[devices.printer\] needs 'port'"),
        ({"backend": "serial", "port": "/dev/x", "baud": 9600}, r"unknown key\(s\).*'baud'"),
        ({"backend": "network", "host": "h", "device": "/dev/usb/lp0"}, "'device'"),
        ({"backend": "network"}, "needs 'host'"),
        ({"backend": "serial", "port": "/dev/x", "baudrate": "9600"}, "baudrate must be an int"),
        ({"backend": "serial", "port": "/dev/x", "baudrate": 12345}, "unsupported baud rate"),
        ({"backend": "serial", "port": "/dev/x", "parity": "NE"}, "parity must be one of"),
        ({"backend": "simulated", "width": 100}, "width must be 24..64"),
        ({"backend": "simulated", "width": True}, "width must be an integer"),
        ({"backend": "simulated", "codepage": "utf8"}, "codepage: unknown code page"),
        ({"backend": "simulated", "drawer_pin": 3}, "drawer_pin must be 2 or 5"),
        ({"backend": "simulated", "cut": "half"}, "cut must be one of"),
        ({"backend": "simulated", "paper": "wet"}, "paper must be one of"),
        ({"backend": "network", "host": "h", "port": 70000}, "port must be 1..65535"),
        ({"backend": "simulated", "drawer_on_ms": 1000}, "drawer_on_ms must be 2..510"),
    ],
)
def test_bad_config_is_refused_naming_the_key(section: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build("printer", section)
