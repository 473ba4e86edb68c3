"""The buzzer: a piezo on a PWM pin, beeping without blocking the loop.

:meth:`Buzzer.beep` starts the tone and notes when it must end; :meth:`Buzzer.service`, called
from the main loop, silences it then. A new beep replaces one still sounding (the till asks for
beeps as feedback; a queue of old beeps would only confuse the cashier).
"""

from machine import PWM
from ticks import add, diff

HALF_DUTY = 32768


class Buzzer:
    """A piezo on ``pwm``: a square wave at half duty while sounding, silent otherwise."""

    def __init__(self, pwm: PWM) -> None:
        self.pwm = pwm
        self.sounding = False
        self.beeps = 0
        self._until = 0
        pwm.duty_u16(0)

    def beep(self, freq_hz: int, ms: int, now: int) -> None:
        self.pwm.freq(freq_hz)
        self.pwm.duty_u16(HALF_DUTY)
        self.sounding = True
        self.beeps += 1
        self._until = add(now, ms)

    def service(self, now: int) -> None:
        if self.sounding and diff(now, self._until) >= 0:
            self.pwm.duty_u16(0)
            self.sounding = False

    def off(self) -> None:
        self.pwm.duty_u16(0)
        self.sounding = False
