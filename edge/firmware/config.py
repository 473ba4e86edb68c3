"""What this board is: its pins, its keypad layout and its timings, in one place.

Pins are GPIO numbers of a Raspberry Pi Pico (RP2040). :class:`Settings` holds every tunable
value with its default; the emulator and host tests pass overrides by keyword (an unknown
name is an error, so a typo cannot silently keep a default).
"""

from micropython import const

FIRMWARE_VERSION = (1, 0, 0)

UART_ID = const(0)
UART_TX = const(0)
UART_RX = const(1)
BAUDRATE = const(115200)
I2C_ID = const(0)
I2C_SDA = const(4)
I2C_SCL = const(5)
I2C_FREQ = const(100000)
ROW_PINS = (6, 7, 8, 9)
COL_PINS = (10, 11, 12, 13, 14)
BUZZER_PIN = const(15)
DRAWER_PIN = const(16)
LOOP_MS = const(1)
WDT_TIMEOUT_MS = const(2000)

# Key legends by matrix position (row, column); the till maps names to actions.
KEYMAP = (
    ("7", "8", "9", "CLEAR", "VOID"),
    ("4", "5", "6", "QTY", "PLU"),
    ("1", "2", "3", "MEMBER", "NOSALE"),
    ("0", "00", "ENTER", "TOTAL", "CASH"),
)
MAINTENANCE_KEY = (0, 3)
"""Held at power-up (CLEAR), the board starts neither its watchdog nor its loop: a REPL for
the technician, since an RP2040 watchdog cannot be stopped once started."""


class Settings:
    """Timings and layout of one board; keyword overrides must name an existing setting."""

    def __init__(self, **overrides: object) -> None:
        self.firmware = FIRMWARE_VERSION
        self.keymap = KEYMAP
        self.scan_ms = 5
        self.debounce_ms = 20
        self.repeat_delay_ms = 500
        self.repeat_rate_ms = 100
        self.drawer_debounce_ms = 30
        self.drawer_open_level = 1  # the sense switch opens (pull-up reads 1) with the drawer
        self.heartbeat_ms = 1000
        self.silence_ms = 5000  # no frame from the till for this long: safe state
        self.outbox_max = 16  # events kept while the till does not take them
        self.stall_ms = 1000  # a vital task failing this long stops feeding the watchdog
        self.link_timeout_ms = 100
        self.link_retries = 5
        self.link_probe_ms = 1000
        self.lcd_addr = 0x27
        self.cols = 20
        self.lines = 2
        self.boot_lines = (
            f"tillfleet I/O {FIRMWARE_VERSION[0]}.{FIRMWARE_VERSION[1]}.{FIRMWARE_VERSION[2]}",
            "waiting for till",
        )
        self.safe_lines = ("Till closed", "")
        for name, value in overrides.items():
            if not hasattr(self, name):
                raise ValueError("unknown setting " + name)
            setattr(self, name, value)
