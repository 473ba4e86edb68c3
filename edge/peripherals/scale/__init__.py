"""Scales: Toledo 8217 and Adam serial protocols, and a simulated scale.

Weights are integer grams. :meth:`Scale.wait_stable` is how the till takes a weight for a sale.
"""

from edge.peripherals.scale.config import build
from edge.peripherals.scale.protocols import PROTOCOLS, ScaleCodec, codec
from edge.peripherals.scale.reading import Reading, ScaleState, SubGram, Unit, WeightError, to_grams
from edge.peripherals.scale.scale import Scale, ScaleError, SerialScale, Settling
from edge.peripherals.scale.simulated import SimulatedScale

__all__ = [
    "PROTOCOLS",
    "Reading",
    "Scale",
    "ScaleCodec",
    "ScaleError",
    "ScaleState",
    "SerialScale",
    "Settling",
    "SimulatedScale",
    "SubGram",
    "Unit",
    "WeightError",
    "build",
    "codec",
    "to_grams",
]
