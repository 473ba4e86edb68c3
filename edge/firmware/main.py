"""Boot the I/O board: build the parts from the pins in ``config`` and run the loop forever.

MicroPython runs this file after ``boot.py``. The loop is cooperative — one :class:`Board` step,
then a millisecond's sleep that lets the UART's interrupt fill its buffer — and the watchdog
started here resets the board if the loop ever stops feeding it (see ``watchdog.py``). Holding
CLEAR while powering up skips both and leaves the REPL to a technician.
"""

import machine
from board import Board
from config import (
    BAUDRATE,
    BUZZER_PIN,
    COL_PINS,
    DRAWER_PIN,
    I2C_FREQ,
    I2C_ID,
    I2C_SCL,
    I2C_SDA,
    LOOP_MS,
    MAINTENANCE_KEY,
    ROW_PINS,
    UART_ID,
    UART_RX,
    UART_TX,
    WDT_TIMEOUT_MS,
    Settings,
)
from machine import I2C, PWM, UART, WDT, Pin
from ticks import MASK
from wire import RESET_HARD, RESET_POWER_ON, RESET_SOFT, RESET_UNKNOWN, RESET_WATCHDOG

try:
    from time import sleep_ms, ticks_diff, ticks_ms
except ImportError:  # CPython host tests: the utime shim stands in
    from utime import sleep_ms, ticks_diff, ticks_ms


def now_ms() -> int:
    """The tick counter as a plain int in 0..ticks.MASK (what every timer compares)."""
    return ticks_diff(ticks_ms(), 0) & MASK


def reset_cause() -> int:
    """``machine.reset_cause()`` as the wire's code (constants differ between ports)."""
    cause = machine.reset_cause()
    if cause == machine.PWRON_RESET:
        return RESET_POWER_ON
    if cause == machine.WDT_RESET:
        return RESET_WATCHDOG
    if cause == getattr(machine, "SOFT_RESET", None):
        return RESET_SOFT
    if cause == getattr(machine, "HARD_RESET", None):
        return RESET_HARD
    return RESET_UNKNOWN


def maintenance_requested(rows: list[Pin], cols: list[Pin]) -> bool:
    row, col = MAINTENANCE_KEY
    rows[row].value(0)
    held = not cols[col].value()
    rows[row].value(1)
    return held


def build(settings: Settings | None = None, watchdog: bool = True) -> Board | None:
    """Make the parts and the board; None when the technician asked for maintenance."""
    rows = [Pin(n, Pin.OUT, value=1) for n in ROW_PINS]
    cols = [Pin(n, Pin.IN, Pin.PULL_UP) for n in COL_PINS]
    if maintenance_requested(rows, cols):
        print("I/O board: maintenance mode, loop and watchdog not started")
        return None
    uart = UART(UART_ID, baudrate=BAUDRATE, tx=Pin(UART_TX), rx=Pin(UART_RX), rxbuf=1024, timeout=0)
    i2c = I2C(I2C_ID, scl=Pin(I2C_SCL), sda=Pin(I2C_SDA), freq=I2C_FREQ)
    pwm = PWM(Pin(BUZZER_PIN), freq=2000, duty_u16=0)
    drawer = Pin(DRAWER_PIN, Pin.IN, Pin.PULL_UP)
    cause = reset_cause()
    wdt = WDT(timeout=WDT_TIMEOUT_MS) if watchdog else None
    return Board(
        uart=uart,
        rows=rows,
        cols=cols,
        i2c=i2c,
        pwm=pwm,
        drawer=drawer,
        wdt=wdt,
        board_id=machine.unique_id(),
        reset_cause=cause,
        now=now_ms(),
        settings=settings,
    )


def run() -> None:
    board = build()
    if board is None:
        return
    while True:
        board.step(now_ms())
        sleep_ms(LOOP_MS)


if __name__ == "__main__":
    run()
