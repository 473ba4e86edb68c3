"""What a receipt is before it becomes bytes: lines of text with a style, and a barcode.

The layout produces this and the ESC/POS encoder consumes it, so the layout can be checked
(every line fits the paper) without a printer, and the encoder without a sale. A document
refuses, when built, a line wider than its paper: an overlong line would wrap on the printer and
push every amount out of its column.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

MIN_WIDTH = 24
"""Narrowest paper we lay out for (in characters): a label and the longest amount must fit."""
MAX_WIDTH = 64

DOTS_PER_COLUMN = 12
"""Font A is 12 dots wide, so a 42-column line is 504 dots and a 32-column one 384."""


class Align(StrEnum):
    LEFT = "left"
    CENTER = "center"
    RIGHT = "right"


@dataclass(frozen=True, slots=True)
class Text:
    """One printed line; ``double`` is double width and height, two columns per character."""

    text: str
    align: Align = Align.LEFT
    bold: bool = False
    double: bool = False

    @property
    def columns(self) -> int:
        return len(self.text) * (2 if self.double else 1)


@dataclass(frozen=True, slots=True)
class Barcode:
    """A CODE128 (code set B) barcode, ``module`` dots per narrow bar, ``height`` dots tall."""

    data: str
    module: int
    height: int = 64

    @property
    def dots(self) -> int:
        return code128_modules(self.data) * self.module


Block = Text | Barcode


@dataclass(frozen=True, slots=True)
class Document:
    """A laid-out receipt for paper ``width`` characters wide."""

    width: int
    blocks: tuple[Block, ...]

    def __post_init__(self) -> None:
        if not MIN_WIDTH <= self.width <= MAX_WIDTH:
            raise ValueError(f"paper width must be {MIN_WIDTH}..{MAX_WIDTH} characters")
        for block in self.blocks:
            if isinstance(block, Text) and block.columns > self.width:
                raise ValueError(f"line wider than {self.width} columns: {block.text!r}")
            if isinstance(block, Barcode) and block.dots > self.width * DOTS_PER_COLUMN:
                raise ValueError(f"barcode {block.data!r} is wider than the paper")

    @property
    def lines(self) -> list[str]:
        """The text of every line, in order (for logs, the simulated printer and tests)."""
        return [b.text for b in self.blocks if isinstance(b, Text)]


def code128_modules(data: str) -> int:
    """Width in modules of ``data`` in code set B: start, one symbol per character, check, stop."""
    return 11 * (len(data) + 2) + 13
