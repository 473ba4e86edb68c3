"""What the scanner read: GTINs, GS1 variable-measure codes and GS1 element strings.

The till's scanner hands us one string per scan. :func:`parse_scan` says what it was, so the
checkout can look the item up:

* :class:`Gtin` — an EAN-13, EAN-8, UPC-A, UPC-E or GTIN-14, normalised by :func:`to_gtin14` to
  one 14-digit catalog key whatever form it was printed or transmitted in;
* :class:`VariableMeasure` — a restricted-circulation EAN-13/UPC-A that carries a weight, price
  or count (the label a deli scale prints), decoded by a country's
  :class:`VariableMeasureLayout` into an item lookup key and an ``int`` value;
* :class:`ElementString` — GS1 Application Identifier data from GS1-128, GS1 DataBar, GS1
  DataMatrix or GS1 QR Code, in raw form (FNC1 sent as ASCII GS, 0x1D) or in the bracketed
  human-readable form ``(01)09506000134352(10)ABC123``.

Every value comes out as an ``int`` of a stated unit — grams, minor currency units (cents, öre),
pieces — computed exactly; a value that cannot be expressed exactly in that unit is refused rather
than rounded. No ``float`` touches a weight or an amount anywhere in this module.

Everything here is pure (no clock: dates are resolved against a ``reference_year`` the caller
passes), and every bad input raises :class:`~protocol.errors.BarcodeError` and nothing else, with
a message that names what is wrong — scanner data is untrusted input at a serial boundary.

Standards followed (GS1 General Specifications unless said otherwise):

* check digits: the mod-10 check digit with weights 3,1,3,… from the right (7.9.1), and the
  price/weight verifier digit for 4- and 5-digit value fields (7.9.2–7.9.4);
* UPC-E zero suppression and its expansion to UPC-A for number systems 0 and 1;
* AIM symbology identifiers (ISO/IEC 15424) as scanners transmit them: ``]E0`` is the 13-digit
  EAN/UPC packet — EAN-13, UPC-A with a leading 0, and UPC-E already expanded to 13 digits —
  ``]E3`` that packet plus a 2- or 5-digit add-on, ``]E4`` EAN-8, and ``]C1`` GS1-128, ``]e0``
  GS1 DataBar, ``]d2`` GS1 DataMatrix, ``]Q3`` GS1 QR Code for element strings;
* restricted circulation numbers: GS1 prefixes 02 and 04 and 20–29 in a 13-digit code (U.P.C.
  prefixes 2 and 4 in a 12-digit one), and GS1-8 prefixes 0 and 2 for EAN-8;
* element strings: the table of AI prefixes whose element strings have a predefined length,
  the AI encodable character set 82, and the century rule for YYMMDD dates (7.12).
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from types import MappingProxyType
from typing import TypeAlias

from protocol.errors import BarcodeError
from protocol.money import MAX_ABS_MINOR

__all__ = [
    "DEFAULT_REFERENCE_YEAR",
    "GS",
    "LAYOUTS",
    "LAYOUT_SETS",
    "MAX_SCAN_LENGTH",
    "ElementString",
    "Gtin",
    "MeasureKind",
    "Scan",
    "Symbology",
    "VariableMeasure",
    "VariableMeasureLayout",
    "encode_variable_measure",
    "expand_upce",
    "gs1_check_digit",
    "parse_element_string",
    "parse_scan",
    "parse_variable_measure",
    "price_check_digit",
    "to_gtin14",
]

GS = "\x1d"
"""ASCII Group Separator: how a scanner transmits the FNC1 that ends a variable-length field."""

MAX_SCAN_LENGTH = 128
"""The longest scan accepted, in characters, symbology identifier included.

GS1-128 holds at most 48 data characters; a GS1 DataMatrix on a medicine pack (GTIN, expiry,
batch, serial, national reimbursement number) stays under 100. Anything longer is not a product
scan, and bounding it keeps a jammed or hostile reader from making the till parse megabytes.
"""

DEFAULT_REFERENCE_YEAR = 2000
"""The year two-digit GS1 dates are resolved against when the caller passes none.

GS1's rule (General Specifications 7.12) puts a date within 49 years before and 50 years after
the reference year, so the default reads ``YY`` as 1951–2050. A till should pass its own current
year; the default only exists so that resolution never depends on a clock read in here.
"""

_MIN_REFERENCE_YEAR = 1900
_MAX_REFERENCE_YEAR = 2999
_MAX_EXPONENT = 4  # the largest ISO 4217 exponent (CLF); protocol.money bounds it the same way
_POW10: tuple[int, ...] = tuple(10**n for n in range(20))
_BAD_SCAN_CHAR = re.compile(r"[^\x1d\x20-\x7e]")
_AIM_ID = re.compile(r"\][A-Za-z][0-9A-Za-z]")
# GS1 AI encodable character set 82.
_CSET82 = re.compile(r"[!\"%&'()*+,\-./0-9:;<=>?A-Z_a-z]*")


# --------------------------------------------------------------------------- small helpers


def _show(value: object) -> str:
    """A short, safe rendering of bad input for an error message (``repr`` shows control chars)."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_digits(text: str) -> bool:
    """ASCII ``0``-``9`` only (``str.isdigit`` alone would also accept ``²`` and ``٣``)."""
    return text.isascii() and text.isdigit()


def _require_digits(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise BarcodeError(f"{what} must be a str of digits, got {type(value).__name__}")
    if not _is_digits(value):
        raise BarcodeError(f"{what} must be digits only, got {_show(value)}")
    return value


def _require_int(value: object, what: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise BarcodeError(f"{what} must be an int, got {type(value).__name__} {_show(value)}")
    if not low <= value <= high:
        raise BarcodeError(f"{what} must be {low}..{high}, got {value}")
    return value


def _require_exponent(value: object) -> int:
    return _require_int(value, "currency exponent", 0, _MAX_EXPONENT)


def _require_reference_year(value: object) -> int:
    return _require_int(value, "reference year", _MIN_REFERENCE_YEAR, _MAX_REFERENCE_YEAR)


def _check_scan_text(text: object) -> str:
    """Refuse what no scanner of ours sends: empty, over-long, non-ASCII or control characters.

    The one control character allowed is GS (0x1D), the transmitted FNC1 of GS1 symbols.
    """
    if not isinstance(text, str):
        raise BarcodeError(f"a scan must be a str, got {type(text).__name__}")
    if not text:
        raise BarcodeError("empty scan")
    if len(text) > MAX_SCAN_LENGTH:
        raise BarcodeError(
            f"scan is {len(text)} characters, longer than the {MAX_SCAN_LENGTH} accepted"
        )
    bad = _BAD_SCAN_CHAR.search(text)
    if bad is not None:
        kind = "non-ASCII" if ord(bad.group()) > 0x7F else "control"
        raise BarcodeError(
            f"scan contains {kind} character {bad.group()!r} at position {bad.start()}: "
            f"{_show(text)}"
        )
    return text


def _scale_exact(value: int, decimals: int, exponent: int, what: str, unit: str) -> int:
    """``value × 10**(exponent − decimals)`` exactly, or BarcodeError if that is not an integer.

    Converts a field with ``decimals`` implied decimal places into ``unit``, which is
    ``10**-exponent`` of the field's unit: minor units for a currency exponent, grams for
    exponent 3 of a kilogram field. Never rounds.
    """
    if decimals <= exponent:
        return value * _POW10[exponent - decimals]
    quotient, remainder = divmod(value, _POW10[decimals - exponent])
    if remainder:
        raise BarcodeError(f"{what} ({decimals} decimals) is not a whole number of {unit}")
    return quotient


def _unscale_exact(value: int, decimals: int, exponent: int, what: str) -> int:
    """The inverse of :func:`_scale_exact`: units of ``10**-exponent`` back to the field digits."""
    if decimals >= exponent:
        return value * _POW10[decimals - exponent]
    quotient, remainder = divmod(value, _POW10[exponent - decimals])
    if remainder:
        raise BarcodeError(f"{what} cannot be written with {decimals} decimals")
    return quotient


# --------------------------------------------------------------------------- check digits


def gs1_check_digit(body: str) -> int:
    """The GS1 mod-10 check digit for ``body`` (all digits of a GS1 key but the check digit).

    Weights 3 and 1 alternate starting with 3 at the rightmost body digit, so leading zeros do
    not change the result — which is why a GTIN keeps its check digit when padded to 14 digits.
    It catches every single-digit error and every transposition of adjacent digits except those
    that differ by 5 (0↔5, 1↔6, …). Used for GTIN-8/12/13/14, SSCC and GLN alike.
    """
    digits = _require_digits(body, "GS1 check digit body")
    if not 1 <= len(digits) <= MAX_SCAN_LENGTH:
        raise BarcodeError(f"GS1 check digit body must be 1..{MAX_SCAN_LENGTH} digits")
    # bytes slices summed in C: the digits at odd positions from the right weigh 3, the others 1
    raw = digits.encode("ascii")
    weighted_3, weighted_1 = raw[-1::-2], raw[-2::-2]
    total = 3 * (sum(weighted_3) - 48 * len(weighted_3)) + sum(weighted_1) - 48 * len(weighted_1)
    return (10 - total % 10) % 10


def _weighted(digit: int, factor: int, sign: int) -> int:
    """One GS1 price/weight weighting factor (7.9.3): the units digit of ``digit × factor``,
    with its tens digit added (``sign`` +1, factor "5+"), subtracted (−1, "2-" and "5-") or
    ignored (0, factor "3"), modulo 10."""
    product = digit * factor
    return (product % 10 + sign * (product // 10)) % 10


_W2_MINUS = tuple(_weighted(d, 2, -1) for d in range(10))
_W3 = tuple(_weighted(d, 3, 0) for d in range(10))
_W5_PLUS = tuple(_weighted(d, 5, 1) for d in range(10))
_W5_MINUS = tuple(_weighted(d, 5, -1) for d in range(10))
_W5_MINUS_INVERSE = tuple(_W5_MINUS.index(p) for p in range(10))


def price_check_digit(value: str) -> int:
    """The GS1 price/weight verifier digit of a 4- or 5-digit value field (7.9.2–7.9.4).

    Variable-measure codes may carry this extra digit over the price or weight alone, so that a
    misread value is caught even when the misread happens to keep the code's overall check digit
    right. Four digits use weighting factors 2-, 2-, 3, 5- and the units digit of 3 × the sum;
    five digits use 5+, 2-, 5-, 5+, 2-, and the digit whose 5- product brings the sum to a
    multiple of 10.
    """
    digits = _require_digits(value, "price/weight field")
    d = [ord(char) - 48 for char in digits]
    if len(d) == 4:
        return (_W2_MINUS[d[0]] + _W2_MINUS[d[1]] + _W3[d[2]] + _W5_MINUS[d[3]]) * 3 % 10
    if len(d) == 5:
        total = (
            _W5_PLUS[d[0]] + _W2_MINUS[d[1]] + _W5_MINUS[d[2]] + _W5_PLUS[d[3]] + _W2_MINUS[d[4]]
        )
        return _W5_MINUS_INVERSE[(10 - total % 10) % 10]
    raise BarcodeError(f"price/weight check digit needs a 4- or 5-digit field, got {_show(value)}")


def _verify_check_digit(code: str, name: str) -> None:
    expected = gs1_check_digit(code[:-1])
    given = ord(code[-1]) - 48
    if given != expected:
        raise BarcodeError(f"{name} check digit is {given}, expected {expected} in {code!r}")


# --------------------------------------------------------------------------- GTINs


class Symbology(StrEnum):
    """The barcode type a scan came from — or, for plain digits, the form the number came in.

    ``EAN13`` also stands for the 13-digit ``]E0`` packet, which is how scanners send UPC-A and
    UPC-E too; ``GTIN14`` is 14 digits with nothing said about the bars (e.g. ITF-14 or keyed).
    """

    EAN13 = "ean-13"
    EAN8 = "ean-8"
    UPCA = "upc-a"
    UPCE = "upc-e"
    GTIN14 = "gtin-14"
    GS1_128 = "gs1-128"
    GS1_DATABAR = "gs1-databar"
    GS1_DATAMATRIX = "gs1-datamatrix"
    GS1_QR = "gs1-qr"


_GTIN_LENGTH = {Symbology.EAN8: 8, Symbology.UPCA: 12, Symbology.EAN13: 13, Symbology.GTIN14: 14}
_GTIN_BY_LENGTH = {length: symbology for symbology, length in _GTIN_LENGTH.items()}
_GTIN_NAMES = {8: "EAN-8", 12: "UPC-A", 13: "EAN-13", 14: "GTIN-14"}
_ELEMENT_SYMBOLOGIES = frozenset(
    {Symbology.GS1_128, Symbology.GS1_DATABAR, Symbology.GS1_DATAMATRIX, Symbology.GS1_QR}
)
_ELEMENT_AIM_IDS = {
    "]C1": Symbology.GS1_128,
    "]e0": Symbology.GS1_DATABAR,
    "]d2": Symbology.GS1_DATAMATRIX,
    "]Q3": Symbology.GS1_QR,
}


def _coerce_symbology(value: object) -> Symbology | None:
    if value is None or isinstance(value, Symbology):
        return value
    if isinstance(value, str):
        try:
            return Symbology(value)
        except ValueError:
            pass
    raise BarcodeError(
        f"symbology must be a Symbology ({', '.join(s.value for s in Symbology)}), "
        f"got {_show(value)}"
    )


def expand_upce(code: str) -> str:
    """The 12-digit UPC-A that a zero-suppressed UPC-E stands for, check digit included.

    ``code`` is 8 digits (number system, six data digits, check digit — the check digit is
    verified), 7 digits (number system and six data digits) or 6 digits (data digits only,
    number system 0). The 6- and 7-digit forms, which scanners send when told to drop digits,
    carry no check digit, so a misread cannot be detected: accept them only from a reader you
    trust. The last data digit ``d6`` says where the zeros go:

    * 0–2: manufacturer ``d1 d2 d6 0 0``, item ``0 0 d3 d4 d5``
    * 3: manufacturer ``d1 d2 d3 0 0``, item ``0 0 0 d4 d5``
    * 4: manufacturer ``d1 d2 d3 d4 0``, item ``0 0 0 0 d5``
    * 5–9: manufacturer ``d1 … d5``, item ``0 0 0 0 d6``

    The number system must be 0 or 1, the only ones UPC-E can encode.
    """
    digits = _require_digits(code, "UPC-E")
    if len(digits) == 6:
        system, body, given = "0", digits, None
    elif len(digits) == 7:
        system, body, given = digits[0], digits[1:], None
    elif len(digits) == 8:
        system, body, given = digits[0], digits[1:7], digits[7]
    else:
        raise BarcodeError(f"UPC-E must be 6, 7 or 8 digits, got {len(digits)} in {_show(code)}")
    if system not in ("0", "1"):
        raise BarcodeError(f"UPC-E number system must be 0 or 1, got {system} in {code!r}")
    last = body[5]
    if last in "012":
        manufacturer, item = body[0:2] + last + "00", "00" + body[2:5]
    elif last == "3":
        manufacturer, item = body[0:3] + "00", "000" + body[3:5]
    elif last == "4":
        manufacturer, item = body[0:4] + "0", "0000" + body[4]
    else:
        manufacturer, item = body[0:5], "0000" + last
    upca = system + manufacturer + item
    check = gs1_check_digit(upca)
    if given is not None and ord(given) - 48 != check:
        raise BarcodeError(f"UPC-E check digit is {given}, expected {check} in {code!r}")
    return upca + str(check)


def to_gtin14(code: str, *, symbology: Symbology | None = None) -> str:
    """The canonical 14-digit catalog key of a GTIN in any of its printed forms.

    EAN-8 (8 digits), UPC-A (12), EAN-13 (13) and GTIN-14 (14) are validated by their check
    digit and left-padded with zeros, so UPC-A ``036000291452``, EAN-13 ``0036000291452`` and
    GTIN-14 ``00036000291452`` are one key. Eight digits are EAN-8 unless ``symbology`` is
    :attr:`Symbology.UPCE`, in which case 6, 7 or 8 digits are a UPC-E and are expanded first
    (:func:`expand_upce`). Any other ``symbology`` must agree with the length. Idempotent:
    ``to_gtin14(to_gtin14(x)) == to_gtin14(x)``.
    """
    hint = _coerce_symbology(symbology)
    digits = _require_digits(code, "GTIN")
    if hint is Symbology.UPCE:
        return "00" + expand_upce(digits)
    if hint is not None:
        expected = _GTIN_LENGTH.get(hint)
        if expected is None:
            raise BarcodeError(f"{hint.value} does not carry a bare GTIN")
        if len(digits) != expected:
            raise BarcodeError(
                f"{hint.value} must be {expected} digits, got {len(digits)} in {_show(code)}"
            )
    name = _GTIN_NAMES.get(len(digits))
    if name is None:
        raise BarcodeError(
            f"GTIN must be 8, 12, 13 or 14 digits, got {len(digits)} in {_show(code)}"
        )
    _verify_check_digit(digits, name)
    return digits.zfill(14)


def _is_restricted(gtin14: str) -> bool:
    """Whether a GTIN-14 key holds a restricted circulation number (valid only in one store
    chain or one country): GS1 prefixes 02, 04 and 20–29, or an RCN-8 (EAN-8 prefix 0 or 2)."""
    if gtin14[0] != "0":
        return False
    gtin13 = gtin14[1:]
    if gtin13.startswith("00000"):  # a GTIN-8 in a longer field
        return gtin13[5] in "02"
    return gtin13[0] == "2" or gtin13[:2] in ("02", "04")


@dataclass(frozen=True, slots=True)
class Gtin:
    """A scanned trade item number, ready for catalog lookup by ``gtin14``.

    ``restricted`` is true for restricted circulation numbers (GS1 prefixes 02, 04, 20–29 and
    RCN-8): they are assigned by the store chain or the country, so look them up in the local
    catalog only. A restricted number that matched none of the configured variable-measure
    layouts arrives here, its digits untouched — no value is guessed from it. ``addon`` is the
    2- or 5-digit supplement of a ``]E3`` scan (periodical issue, book price), else ``None``.
    """

    gtin14: str
    symbology: Symbology
    restricted: bool = False
    addon: str | None = None


# --------------------------------------------------------------------------- variable measure


class MeasureKind(StrEnum):
    """What the value field of a variable-measure code holds, and so the unit of its value."""

    WEIGHT = "weight"
    """Net weight; the field is kilograms with ``value_decimals`` decimals, the value grams."""
    PRICE = "price"
    """Price; the field has ``value_decimals`` decimals, the value is in minor currency units."""
    COUNT = "count"
    """A number of pieces; the field has no decimals."""


@dataclass(frozen=True, slots=True)
class VariableMeasureLayout:
    """Where a country (or a store chain) puts item, value and check digits in a
    variable-measure code: configuration as data, one layout per prefix family.

    ``pattern`` has one letter per digit of the code — 13 for EAN-13, 12 for UPC-A:

    * ``P`` the prefix, a leading run whose digits must be one of ``prefixes``;
    * ``I`` the item reference (any positions; together they identify the article);
    * ``V`` the value field, one contiguous run;
    * ``C`` optionally, the price/weight verifier digit over a 4- or 5-digit ``V`` field;
    * ``K`` the GS1 check digit, last.

    E.g. ``"PPIIIIICVVVVK"`` with prefixes ``("20", "28")``. Prefixes must lie in the restricted
    circulation range (02 and 20–29 for EAN-13, 2 for UPC-A). ``value_kind`` and
    ``value_decimals`` say what the field means (see :class:`MeasureKind`): a weight field with 3
    decimals is grams, a price field with 2 decimals is cents of a 2-decimal currency.
    """

    name: str
    prefixes: tuple[str, ...]
    pattern: str
    value_kind: MeasureKind
    value_decimals: int
    _item_positions: tuple[int, ...] = field(init=False, repr=False, compare=False)
    _value_start: int = field(init=False, repr=False, compare=False)
    _value_end: int = field(init=False, repr=False, compare=False)
    _verifier: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        name: object = self.name
        if not isinstance(name, str) or not name:
            raise BarcodeError(f"layout name must be a non-empty str, got {_show(name)}")
        pattern: object = self.pattern
        if not isinstance(pattern, str) or len(pattern) not in (12, 13):
            raise BarcodeError(
                f"layout {name}: pattern must be 12 or 13 letters, got {_show(pattern)}"
            )
        if set(pattern) - set("PIVCK"):
            raise BarcodeError(f"layout {name}: pattern may use only P, I, V, C, K: {pattern!r}")
        prefix_length = len(pattern) - len(pattern.lstrip("P"))
        if prefix_length == 0 or "P" in pattern[prefix_length:]:
            raise BarcodeError(f"layout {name}: pattern must start with its P run: {pattern!r}")
        if pattern.count("K") != 1 or pattern[-1] != "K":
            raise BarcodeError(f"layout {name}: pattern must end in one K: {pattern!r}")
        value_start, value_end = pattern.find("V"), pattern.rfind("V") + 1
        if value_start < 0 or pattern[value_start:value_end] != "V" * (value_end - value_start):
            raise BarcodeError(f"layout {name}: pattern needs one run of V: {pattern!r}")
        if "I" not in pattern:
            raise BarcodeError(f"layout {name}: pattern has no item reference I: {pattern!r}")
        verifier = pattern.find("C")
        if pattern.count("C") > 1 or (verifier >= 0 and value_end - value_start not in (4, 5)):
            raise BarcodeError(
                f"layout {name}: a C verifier digit needs exactly one 4- or 5-digit V field: "
                f"{pattern!r}"
            )
        prefixes: object = self.prefixes
        if isinstance(prefixes, str) or not isinstance(prefixes, Iterable):
            raise BarcodeError(
                f"layout {name}: prefixes must be a tuple of str, got {_show(prefixes)}"
            )
        prefix_tuple = tuple(prefixes)
        if not prefix_tuple or len(set(prefix_tuple)) != len(prefix_tuple):
            raise BarcodeError(f"layout {name}: prefixes must be non-empty and distinct")
        for prefix in prefix_tuple:
            if not (isinstance(prefix, str) and _is_digits(prefix)) or len(prefix) != prefix_length:
                raise BarcodeError(
                    f"layout {name}: prefix {_show(prefix)} must be {prefix_length} digits"
                )
            as_13 = prefix if len(pattern) == 13 else "0" + prefix
            if not as_13.startswith(("2", "02")):
                raise BarcodeError(
                    f"layout {name}: prefix {prefix} is outside the restricted circulation range"
                )
        kind: object = self.value_kind
        if not isinstance(kind, MeasureKind):
            try:
                kind = MeasureKind(str(kind))
            except ValueError:
                raise BarcodeError(f"layout {name}: unknown value kind {_show(kind)}") from None
        decimals = _require_int(self.value_decimals, f"layout {name}: value_decimals", 0, 9)
        if kind is MeasureKind.COUNT and decimals:
            raise BarcodeError(f"layout {name}: a count has no decimals")
        object.__setattr__(self, "prefixes", prefix_tuple)
        object.__setattr__(self, "value_kind", kind)
        object.__setattr__(
            self, "_item_positions", tuple(i for i, c in enumerate(pattern) if c == "I")
        )
        object.__setattr__(self, "_value_start", value_start)
        object.__setattr__(self, "_value_end", value_end)
        object.__setattr__(self, "_verifier", verifier)

    @property
    def item_digits(self) -> int:
        """How many digits the item reference has."""
        return len(self._item_positions)

    @property
    def value_digits(self) -> int:
        """How many digits the value field has."""
        return self._value_end - self._value_start


@dataclass(frozen=True, slots=True)
class VariableMeasure:
    """A variable-measure code decoded by a layout.

    ``lookup_key`` is the catalog key of the article: the code with its value field (and
    verifier digit) set to zeros and its check digit recomputed, as 14 digits like
    :func:`to_gtin14` — so one article has one key whatever it weighs. ``value`` is an ``int``
    in the unit of ``kind``: grams, minor currency units or pieces. ``raw`` is the code as
    matched (12 or 13 digits), ``item_reference`` its ``I`` digits.
    """

    lookup_key: str
    kind: MeasureKind
    value: int
    layout_name: str
    raw: str
    item_reference: str
    symbology: Symbology


def _require_layouts(layouts: object) -> tuple[VariableMeasureLayout, ...]:
    if isinstance(layouts, str) or not isinstance(layouts, Iterable):
        raise BarcodeError(
            f"layouts must be a sequence of VariableMeasureLayout, got {_show(layouts)}"
        )
    result = tuple(layouts)
    for layout in result:
        if not isinstance(layout, VariableMeasureLayout):
            raise BarcodeError(f"layouts must hold VariableMeasureLayout, got {_show(layout)}")
    return result


def _decode_field(layout: VariableMeasureLayout, field_value: int, exponent: int) -> int:
    what = f"{layout.value_kind.value} field {field_value} of layout {layout.name}"
    if layout.value_kind is MeasureKind.WEIGHT:
        return _scale_exact(field_value, layout.value_decimals, 3, what, "grams")
    if layout.value_kind is MeasureKind.PRICE:
        minor = _scale_exact(field_value, layout.value_decimals, exponent, what, "minor units")
        if minor > MAX_ABS_MINOR:
            raise BarcodeError(f"{what} exceeds {MAX_ABS_MINOR} minor units")
        return minor
    return field_value


def _match_layouts(
    gtin13: str,
    layouts: tuple[VariableMeasureLayout, ...],
    exponent: int,
    symbology: Symbology,
) -> VariableMeasure | None:
    """Decode a check-digit-valid 13-digit code with the first layout whose prefix it has."""
    for layout in layouts:
        if len(layout.pattern) == 13:
            code = gtin13
        elif gtin13[0] == "0":
            code = gtin13[1:]
        else:
            continue
        if code[: len(layout.prefixes[0])] not in layout.prefixes:
            continue
        value_text = code[layout._value_start : layout._value_end]
        if layout._verifier >= 0:
            expected = price_check_digit(value_text)
            given = ord(code[layout._verifier]) - 48
            if given != expected:
                raise BarcodeError(
                    f"price/weight check digit is {given}, expected {expected} for value field "
                    f"{value_text} in {code!r} (layout {layout.name})"
                )
        zeroed = list(code)
        for position in range(layout._value_start, layout._value_end):
            zeroed[position] = "0"
        if layout._verifier >= 0:
            zeroed[layout._verifier] = "0"
        body = "".join(zeroed[:-1])
        return VariableMeasure(
            lookup_key=(body + str(gs1_check_digit(body))).zfill(14),
            kind=layout.value_kind,
            value=_decode_field(layout, int(value_text), exponent),
            layout_name=layout.name,
            raw=code,
            item_reference="".join(code[i] for i in layout._item_positions),
            symbology=symbology,
        )
    return None


def parse_variable_measure(
    code: str,
    *,
    layouts: Sequence[VariableMeasureLayout],
    currency_exponent: int = 2,
) -> VariableMeasure | None:
    """Decode a 12- or 13-digit variable-measure code with the first matching layout.

    The code's GS1 check digit (and a layout's verifier digit) must be right. Returns ``None``
    when no layout's prefix matches — the caller then has a plain (possibly restricted) GTIN.
    A price field is converted to minor units of a currency with ``currency_exponent`` decimals;
    a field with more decimals than that which is not exact is refused, never rounded.
    """
    layout_tuple = _require_layouts(layouts)
    exponent = _require_exponent(currency_exponent)
    digits = _require_digits(code, "variable-measure code")
    if len(digits) not in (12, 13):
        raise BarcodeError(
            f"variable-measure code must be 12 or 13 digits, got {len(digits)} in {_show(code)}"
        )
    gtin14 = to_gtin14(digits)
    symbology = Symbology.UPCA if len(digits) == 12 else Symbology.EAN13
    return _match_layouts(gtin14[1:], layout_tuple, exponent, symbology)


def encode_variable_measure(
    layout: VariableMeasureLayout,
    item: str,
    value: int,
    *,
    prefix: str | None = None,
    currency_exponent: int = 2,
) -> str:
    """Build the digits of a variable-measure code: what a label scale prints.

    ``item`` fills the ``I`` positions, ``value`` (grams, minor units or pieces, per the
    layout's kind) the ``V`` field, and the verifier and check digits are computed. ``prefix``
    defaults to the layout's first. A value the field cannot hold exactly (too large, negative,
    or finer than its decimals) is refused.
    """
    if not isinstance(layout, VariableMeasureLayout):
        raise BarcodeError(f"layout must be a VariableMeasureLayout, got {_show(layout)}")
    exponent = _require_exponent(currency_exponent)
    chosen = layout.prefixes[0] if prefix is None else prefix
    if chosen not in layout.prefixes:
        raise BarcodeError(f"prefix {_show(prefix)} is not one of layout {layout.name}'s")
    item_digits = _require_digits(item, "item reference")
    if len(item_digits) != layout.item_digits:
        raise BarcodeError(
            f"layout {layout.name} needs a {layout.item_digits}-digit item reference, "
            f"got {_show(item)}"
        )
    amount = _require_int(value, "value", 0, MAX_ABS_MINOR)
    what = f"{layout.value_kind.value} {amount}"
    if layout.value_kind is MeasureKind.WEIGHT:
        field_value = _unscale_exact(amount, layout.value_decimals, 3, what + " g")
    elif layout.value_kind is MeasureKind.PRICE:
        field_value = _unscale_exact(amount, layout.value_decimals, exponent, what)
    else:
        field_value = amount
    if field_value >= _POW10[layout.value_digits]:
        raise BarcodeError(f"{what} does not fit the {layout.value_digits}-digit field")
    value_text = str(field_value).zfill(layout.value_digits)
    code = list(chosen) + ["0"] * (len(layout.pattern) - len(chosen))
    for position, digit in zip(layout._item_positions, item_digits, strict=True):
        code[position] = digit
    code[layout._value_start : layout._value_end] = list(value_text)
    if layout._verifier >= 0:
        code[layout._verifier] = str(price_check_digit(value_text))
    body = "".join(code[:-1])
    return body + str(gs1_check_digit(body))


def _ean13_prefixes(first: int, last: int) -> tuple[str, ...]:
    return tuple(str(p) for p in range(first, last + 1))


_LAYOUT_LIST = (
    # GS1 Sweden, "How do I create my variable weight numbers?" (gs1.se support pages, English
    # and Swedish "Hur skapar jag mina viktvarunummer?"): 13 digits = a 5–6 digit variable
    # weight prefix starting 2X, a 3–2 digit sequence number (together 6 item digits after 2X),
    # a 4-digit price in kronor or weight in kilograms, and the check digit; no verifier digit.
    # X = 0/1/2: price with 2/1/0 decimals; X = 3/4/5: weight with 3/2/1 decimals.
    VariableMeasureLayout("gs1-se-price-2dp", ("20",), "PPIIIIIIVVVVK", MeasureKind.PRICE, 2),
    VariableMeasureLayout("gs1-se-price-1dp", ("21",), "PPIIIIIIVVVVK", MeasureKind.PRICE, 1),
    VariableMeasureLayout("gs1-se-price-0dp", ("22",), "PPIIIIIIVVVVK", MeasureKind.PRICE, 0),
    VariableMeasureLayout("gs1-se-weight-3dp", ("23",), "PPIIIIIIVVVVK", MeasureKind.WEIGHT, 3),
    VariableMeasureLayout("gs1-se-weight-2dp", ("24",), "PPIIIIIIVVVVK", MeasureKind.WEIGHT, 2),
    VariableMeasureLayout("gs1-se-weight-1dp", ("25",), "PPIIIIIIVVVVK", MeasureKind.WEIGHT, 1),
    # GS1 UK, "How to barcode variable measure items" (gs1uk.org knowledge hub), branded
    # variable measure: 5-digit prefix 20XXX or 28XXX licensed to a manufacturer, 2-digit item
    # reference, price verifier digit, 4-digit price in sterling, check digit. The page does not
    # state the decimal point; we read the 4 digits as pence (£00.00–£99.99).
    VariableMeasureLayout(
        "gs1-uk-branded-price", ("20", "28"), "PPIIIIICVVVVK", MeasureKind.PRICE, 2
    ),
    # Generic templates after the alternative structures of GS1 General Specifications Figure
    # 2.1.14.2-2 (item reference + price verifier + price; item reference + price): which
    # structure, prefixes and decimal point apply is for the trading partners or the national
    # GS1 organisation to say, so configure a copy rather than relying on these as they are.
    VariableMeasureLayout(
        "generic-ean13-price-verifier",
        _ean13_prefixes(20, 29),
        "PPIIIIICVVVVK",
        MeasureKind.PRICE,
        2,
    ),
    VariableMeasureLayout(
        "generic-ean13-weight", _ean13_prefixes(20, 29), "PPIIIIIVVVVVK", MeasureKind.WEIGHT, 3
    ),
    # UPC-A with U.P.C. prefix 2 (the US/Canada random-weight form): 5-digit item reference,
    # then a verifier digit and 4-digit price, or a 5-digit price; cents.
    VariableMeasureLayout(
        "generic-upca-price-verifier", ("2",), "PIIIIICVVVVK", MeasureKind.PRICE, 2
    ),
    VariableMeasureLayout("generic-upca-price", ("2",), "PIIIIIVVVVVK", MeasureKind.PRICE, 2),
)

LAYOUTS: Mapping[str, VariableMeasureLayout] = MappingProxyType(
    {layout.name: layout for layout in _LAYOUT_LIST}
)
"""Every shipped layout by name (read-only). Pass the ones a store uses to :func:`parse_scan`;
order matters there, as the first layout whose prefix matches decodes the code."""

LAYOUT_SETS: Mapping[str, tuple[VariableMeasureLayout, ...]] = MappingProxyType(
    {
        "gs1-se": tuple(layout for layout in _LAYOUT_LIST if layout.name.startswith("gs1-se-")),
        "gs1-uk": (LAYOUTS["gs1-uk-branded-price"],),
    }
)
"""A country's whole scheme as one ``layouts`` argument, e.g. ``LAYOUT_SETS["gs1-se"]``."""


# --------------------------------------------------------------------------- element strings


@dataclass(frozen=True, slots=True)
class _AiSpec:
    """How one Application Identifier's data is checked and read."""

    numeric: bool
    min_length: int
    max_length: int
    kind: str = "text"  # text, key (GS1 check digit), date, weight, price, price_iso, count
    known: bool = True


# AI prefixes whose element string has a predefined length, and so needs no FNC1 after it:
# prefix -> (AI digits, data digits), as tabled in the GS1 General Specifications; 03, 04, 14,
# 18 and 19 are reserved there, which is why they are listed although no AI of ours uses them.
_PREDEFINED: dict[str, tuple[int, int]] = {
    "00": (2, 18),
    "01": (2, 14),
    "02": (2, 14),
    "03": (2, 14),
    "04": (2, 16),
    **{str(p): (2, 6) for p in range(11, 20)},
    "20": (2, 2),
    **{str(p): (4, 6) for p in range(31, 37)},
    "41": (3, 13),
}

_KNOWN_AIS: dict[str, _AiSpec] = {
    "00": _AiSpec(True, 18, 18, "key"),  # SSCC
    "01": _AiSpec(True, 14, 14, "key"),  # GTIN
    "02": _AiSpec(True, 14, 14, "key"),  # GTIN of contained trade items
    "10": _AiSpec(False, 1, 20),  # batch or lot number
    **{ai: _AiSpec(True, 6, 6, "date") for ai in ("11", "12", "13", "15", "16", "17")},
    "20": _AiSpec(True, 2, 2),  # internal product variant
    "21": _AiSpec(False, 1, 20),  # serial number
    "22": _AiSpec(False, 1, 20),  # consumer product variant
    "30": _AiSpec(True, 1, 8, "count"),  # variable count of items
    "37": _AiSpec(True, 1, 8),  # count of trade items in a logistic unit
    **{f"310{n}": _AiSpec(True, 6, 6, "weight") for n in range(6)},  # net weight, kg
    **{f"392{n}": _AiSpec(True, 1, 15, "price") for n in range(10)},  # price, single currency
    **{f"393{n}": _AiSpec(True, 4, 18, "price_iso") for n in range(10)},  # ISO 4217 + price
    **{ai: _AiSpec(False, 1, 30) for ai in ("240", "241", "250", "251", "400", "401", "403")},
    **{f"41{n}": _AiSpec(True, 13, 13, "key") for n in range(8)},  # GLNs
    "422": _AiSpec(True, 3, 3),  # country of origin, ISO 3166 numeric
    "7003": _AiSpec(True, 10, 10),  # expiration date and time
    "90": _AiSpec(False, 1, 30),  # mutually agreed between trading partners
    **{str(ai): _AiSpec(False, 1, 90) for ai in range(91, 100)},  # company internal
}


def _ai_spec(ai: str) -> _AiSpec:
    """The spec of an AI: ours, or a raw numeric one of the predefined-length table."""
    spec = _KNOWN_AIS.get(ai)
    if spec is not None:
        return spec
    predefined = _PREDEFINED.get(ai[:2])
    if predefined is not None and len(ai) == predefined[0] and _is_digits(ai):
        return _AiSpec(True, predefined[1], predefined[1], known=False)
    raise BarcodeError(f"unknown Application Identifier ({ai})")


def _resolve_date(yymmdd: str, reference_year: int, ai: str) -> date:
    """A GS1 YYMMDD date: century by the rule of General Specifications 7.12 (a year 51–99
    years ahead of the reference is in the previous century, 50–99 years behind it in the
    next), and a day of 00 meaning the last day of the month."""
    yy, month, day = int(yymmdd[0:2]), int(yymmdd[2:4]), int(yymmdd[4:6])
    century = reference_year - reference_year % 100
    difference = yy - reference_year % 100
    if difference >= 51:
        century -= 100
    elif difference <= -50:
        century += 100
    year = century + yy
    if not 1 <= month <= 12:
        raise BarcodeError(f"AI ({ai}) date {yymmdd} has month {month:02d}")
    last_day = calendar.monthrange(year, month)[1]
    if day > last_day:
        raise BarcodeError(f"AI ({ai}) date {yymmdd}: {year}-{month:02d} has no day {day}")
    return date(year, month, day or last_day)


def _validate_element(ai: object, value: object, reference_year: int) -> _AiSpec:
    if not isinstance(ai, str) or not isinstance(value, str):
        raise BarcodeError(f"an element must be a pair of str, got {_show((ai, value))}")
    spec = _ai_spec(ai)
    if not spec.min_length <= len(value) <= spec.max_length:
        size = (
            str(spec.max_length)
            if spec.min_length == spec.max_length
            else f"{spec.min_length}..{spec.max_length}"
        )
        raise BarcodeError(f"AI ({ai}) needs {size} characters, got {len(value)}: {_show(value)}")
    if spec.numeric:
        if not _is_digits(value):
            raise BarcodeError(f"AI ({ai}) must be digits only, got {_show(value)}")
    elif _CSET82.fullmatch(value) is None:
        raise BarcodeError(
            f"AI ({ai}) may hold only GS1 character set 82 (letters, digits and "
            f"!\"%&'()*+,-./:;<=>?_), got {_show(value)}"
        )
    if spec.kind == "key":
        _verify_check_digit(value, f"AI ({ai})")
    elif spec.kind == "date":
        _resolve_date(value, reference_year, ai)
    return spec


def _family(ai: str) -> str:
    """AIs of which an element string may hold only one (their ``ex=`` pairings)."""
    if ai.startswith("310"):
        return "net weight (310n)"
    if ai.startswith(("392", "393")):
        return "price (392n/393n)"
    if ai in ("01", "02"):
        return "GTIN (01/02)"
    return ai


@dataclass(frozen=True, slots=True)
class ElementString:
    """GS1 Application Identifier data, as ``(AI, value)`` pairs in scan order.

    Construction validates every element — AI known (or raw numeric data of an AI in the
    predefined-length table), length, character set, check digit of keys, date — so reading a
    property never fails on malformed data. An AI may appear once, and at most one of each of
    these families: net weight 310n, price 392n/393n, and GTIN 01/02. Two-digit years are
    resolved against ``reference_year`` (see :data:`DEFAULT_REFERENCE_YEAR`).
    """

    elements: tuple[tuple[str, str], ...]
    symbology: Symbology | None = None
    reference_year: int = DEFAULT_REFERENCE_YEAR

    def __post_init__(self) -> None:
        year = _require_reference_year(self.reference_year)
        elements: object = self.elements
        if not isinstance(elements, tuple) or not elements:
            raise BarcodeError(f"elements must be a non-empty tuple, got {_show(elements)}")
        symbology: object = self.symbology
        if symbology is not None and not (
            isinstance(symbology, Symbology) and symbology in _ELEMENT_SYMBOLOGIES
        ):
            raise BarcodeError(f"{_show(self.symbology)} does not carry GS1 element strings")
        seen: dict[str, str] = {}
        for element in elements:
            if not isinstance(element, tuple) or len(element) != 2:
                raise BarcodeError(f"an element must be an (AI, value) pair, got {_show(element)}")
            ai, value = element
            _validate_element(ai, value, year)
            family = _family(ai)
            if family in seen:
                if family == ai:
                    raise BarcodeError(f"AI ({ai}) appears twice")
                raise BarcodeError(f"AI ({ai}) cannot go with ({seen[family]}): only one {family}")
            seen[family] = ai

    def get(self, ai: str) -> str | None:
        """The raw value of ``ai`` as scanned, or ``None`` if it is absent."""
        for key, value in self.elements:
            if key == ai:
                return value
        return None

    def _first(self, *kinds: str) -> tuple[str, str] | None:
        """The first element whose AI is one of ours of one of ``kinds``.

        (Looking at known AIs only matters: ``3106`` starts like a net weight but is merely
        skipped over raw, as a predefined-length AI we do not interpret.)
        """
        for key, value in self.elements:
            spec = _KNOWN_AIS.get(key)
            if spec is not None and spec.kind in kinds:
                return key, value
        return None

    @property
    def gtin(self) -> str | None:
        """AI (01) — a 14-digit key directly comparable with :func:`to_gtin14` results."""
        return self.get("01")

    @property
    def sscc(self) -> str | None:
        """AI (00), the serial shipping container code of a logistic unit."""
        return self.get("00")

    @property
    def batch(self) -> str | None:
        """AI (10), batch or lot number."""
        return self.get("10")

    @property
    def serial(self) -> str | None:
        """AI (21), serial number."""
        return self.get("21")

    def date_of(self, ai: str) -> date | None:
        """The date in a YYMMDD AI (11, 12, 13, 15, 16 or 17), resolved against the
        reference year, with day 00 read as the month's last day; ``None`` if absent."""
        spec = _KNOWN_AIS.get(ai) if isinstance(ai, str) else None
        if spec is None or spec.kind != "date":
            raise BarcodeError(f"AI {_show(ai)} is not a YYMMDD date")
        value = self.get(ai)
        return None if value is None else _resolve_date(value, self.reference_year, ai)

    @property
    def expiry(self) -> date | None:
        """AI (17), use-by or expiry date."""
        return self.date_of("17")

    @property
    def best_before(self) -> date | None:
        """AI (15), best-before date."""
        return self.date_of("15")

    @property
    def count(self) -> int | None:
        """AI (30), variable count of items."""
        value = self.get("30")
        return None if value is None else int(value)

    @property
    def net_weight_mg(self) -> int | None:
        """AI (310n), net weight in kilograms with n ≤ 5 decimals, as exact milligrams."""
        found = self._first("weight")
        if found is None:
            return None
        ai, value = found
        return int(value) * _POW10[6 - int(ai[3])]

    @property
    def net_weight_g(self) -> int | None:
        """AI (310n) in grams. Exact for n ≤ 3; with 4 or 5 decimals a weight that is not a
        whole number of grams raises BarcodeError (use :attr:`net_weight_mg`) — never rounded."""
        found = self._first("weight")
        if found is None:
            return None
        ai, value = found
        return _scale_exact(int(value), int(ai[3]), 3, f"net weight ({ai}) {value}", "grams")

    @property
    def price_currency(self) -> str | None:
        """The ISO 4217 numeric currency code of AI (393n), e.g. ``"978"`` for EUR."""
        found = self._first("price_iso")
        return None if found is None else found[1][:3]

    def price_minor(self, exponent: int) -> int | None:
        """The price of AI (392n) or (393n), in minor units of a currency with ``exponent``
        decimals (the caller knows the currency: its own for 392n, :attr:`price_currency` for
        393n). The n implied decimals are rescaled exactly; if n > exponent and the extra
        digits are not zero, or the amount exceeds ``MAX_ABS_MINOR``, BarcodeError."""
        scale = _require_exponent(exponent)
        found = self._first("price", "price_iso")
        if found is None:
            return None
        ai, value = found
        digits = value[3:] if ai.startswith("393") else value
        minor = _scale_exact(int(digits), int(ai[3]), scale, f"price ({ai}) {value}", "minor units")
        if minor > MAX_ABS_MINOR:
            raise BarcodeError(f"price ({ai}) {value} exceeds {MAX_ABS_MINOR} minor units")
        return minor

    def encode(self, *, bracketed: bool = False) -> str:
        """The element string as text: raw (a GS after each element whose AI has no
        predefined length, except the last) or bracketed ``(AI)value…``. The bracketed form
        cannot show a value containing ``(``, which would read as the start of the next AI."""
        parts: list[str] = []
        for index, (ai, value) in enumerate(self.elements):
            if bracketed:
                if "(" in value:
                    raise BarcodeError(f"AI ({ai}) value {value!r} cannot be bracketed: has '('")
                parts.append(f"({ai}){value}")
            else:
                last = index == len(self.elements) - 1
                separator = "" if last or ai[:2] in _PREDEFINED else GS
                parts.append(ai + value + separator)
        return "".join(parts)


def _read_ai(data: str, position: int) -> tuple[str, _AiSpec]:
    """The AI at ``position`` of raw element data, told apart by its first two digits."""
    head = data[position : position + 2]
    if len(head) < 2 or not _is_digits(head):
        raise BarcodeError(
            f"expected an Application Identifier at position {position}, "
            f"got {_show(data[position : position + 4])}"
        )
    predefined = _PREDEFINED.get(head)
    if predefined is not None:
        ai = data[position : position + predefined[0]]
        if len(ai) < predefined[0] or not _is_digits(ai):
            raise BarcodeError(
                f"truncated Application Identifier {_show(ai)} at position {position}"
            )
        return ai, _ai_spec(ai)
    for length in (2, 3, 4):
        ai = data[position : position + length]
        spec = _KNOWN_AIS.get(ai)
        if spec is not None:
            return ai, spec
    raise BarcodeError(
        f"unknown Application Identifier starting {_show(data[position : position + 4])} at "
        f"position {position}: its length is unknown, so the data cannot be split"
    )


def _split_raw(data: str) -> list[tuple[str, str]]:
    elements: list[tuple[str, str]] = []
    position = 0
    separator_allowed = True  # a leading FNC1, or one after a predefined-length element
    while position < len(data):
        if data[position] == GS:
            if not separator_allowed:
                raise BarcodeError(f"empty element: separator GS at position {position}")
            position += 1
            separator_allowed = False
            continue
        ai, spec = _read_ai(data, position)
        position += len(ai)
        if ai[:2] in _PREDEFINED:
            value = data[position : position + spec.max_length]
            if len(value) < spec.max_length:
                raise BarcodeError(
                    f"AI ({ai}) needs {spec.max_length} digits, got only {len(value)}: "
                    f"{_show(value)}"
                )
            position += spec.max_length
            separator_allowed = True
        else:
            end = data.find(GS, position)
            end = len(data) if end < 0 else end
            value = data[position:end]
            position = end + 1
            separator_allowed = False
        elements.append((ai, value))
    return elements


def _split_bracketed(data: str) -> list[tuple[str, str]]:
    elements: list[tuple[str, str]] = []
    position = 0
    while position < len(data):
        if data[position] != "(":
            raise BarcodeError(f"expected '(' at position {position} of {_show(data)}")
        close = data.find(")", position + 1)
        if close < 0:
            raise BarcodeError(f"unclosed '(' at position {position} of {_show(data)}")
        ai = data[position + 1 : close]
        if not 2 <= len(ai) <= 4 or not _is_digits(ai):
            raise BarcodeError(f"Application Identifier must be 2 to 4 digits, got {_show(ai)}")
        following = data.find("(", close + 1)
        following = len(data) if following < 0 else following
        elements.append((ai, data[close + 1 : following]))
        position = following
    return elements


def _parse_elements(data: str, symbology: Symbology | None, reference_year: int) -> ElementString:
    if not data:
        raise BarcodeError("element string has no data")
    pairs = _split_bracketed(data) if data.startswith("(") else _split_raw(data)
    if not pairs:
        raise BarcodeError("element string has no data")
    return ElementString(tuple(pairs), symbology, reference_year)


def parse_element_string(
    text: str, *, reference_year: int = DEFAULT_REFERENCE_YEAR
) -> ElementString:
    """Parse GS1 element strings, raw or bracketed, optionally after a symbology identifier.

    Raw: predefined-length AIs (00–04, 11–20, 31–36, 41 by their first two digits) are split by
    length, any other AI ends at GS or at the end; an AI that is neither ours nor in that table
    is an error because its end cannot be found. Bracketed: ``(01)09506000134352(10)ABC``, where
    a value cannot contain ``(``. ``]C1``, ``]e0``, ``]d2`` and ``]Q3`` are accepted in front.
    """
    scan = _check_scan_text(text)
    year = _require_reference_year(reference_year)
    symbology = None
    if scan.startswith("]"):
        identifier = scan[:3]
        symbology = _ELEMENT_AIM_IDS.get(identifier)
        if symbology is None:
            raise BarcodeError(f"symbology identifier {identifier!r} is not a GS1 element string")
        scan = scan[3:]
    return _parse_elements(scan, symbology, year)


# --------------------------------------------------------------------------- parse_scan

Scan: TypeAlias = Gtin | VariableMeasure | ElementString
"""What :func:`parse_scan` returns; tell the cases apart with ``isinstance`` or ``match``."""


def _gtin_scan(
    digits: str,
    symbology: Symbology,
    layouts: tuple[VariableMeasureLayout, ...],
    exponent: int,
) -> Gtin | VariableMeasure:
    gtin14 = to_gtin14(digits, symbology=symbology)
    if symbology in (Symbology.EAN13, Symbology.UPCA):
        found = _match_layouts(gtin14[1:], layouts, exponent, symbology)
        if found is not None:
            return found
    return Gtin(gtin14, symbology, _is_restricted(gtin14))


def parse_scan(
    text: str,
    *,
    layouts: Sequence[VariableMeasureLayout] = (),
    currency_exponent: int = 2,
    symbology: Symbology | None = None,
    reference_year: int = DEFAULT_REFERENCE_YEAR,
) -> Scan:
    """Tell the checkout what one scan is: a :class:`Gtin`, a :class:`VariableMeasure` or an
    :class:`ElementString`.

    ``text`` is the scanner's output for one symbol: printable ASCII plus GS, at most
    :data:`MAX_SCAN_LENGTH` characters, optionally starting with an AIM symbology identifier.
    How it is read:

    * ``]E0`` + 13 digits — EAN-13, or UPC-A/UPC-E as the scanner expanded them; ``]E4`` +
      8 digits — EAN-8; ``]E3`` + 13 digits + a 2- or 5-digit add-on — a GTIN with ``addon``.
      An add-on alone (``]E1``, ``]E2``) identifies nothing and is refused.
    * ``]C1``, ``]e0``, ``]d2``, ``]Q3`` — GS1 element strings; any other identifier is refused.
    * No identifier: the caller's ``symbology`` hint is used if given (only way to read 6, 7 or
      8 digits as UPC-E); otherwise text starting with ``(`` or containing GS is an element
      string, 8/12/13/14 digits are EAN-8/UPC-A/EAN-13/GTIN-14, and anything else is tried as a
      raw element string (GS1 DataBar from a scanner that sends no identifiers). An identifier
      in the data wins over the hint: it is what the scanner actually decoded.

    An EAN-13 or UPC-A whose prefix matches one of ``layouts`` (first match wins) becomes a
    :class:`VariableMeasure` with its value in grams, minor units of a currency with
    ``currency_exponent`` decimals, or pieces. There are no layouts by default, because the
    layout of a restricted code is national or store-chain configuration: a restricted code that
    no layout matches comes back as a :class:`Gtin` with ``restricted=True`` and its digits
    intact, and no value is guessed. ``reference_year`` resolves two-digit years of dates.
    """
    scan = _check_scan_text(text)
    layout_tuple = _require_layouts(layouts)
    exponent = _require_exponent(currency_exponent)
    hint = _coerce_symbology(symbology)
    year = _require_reference_year(reference_year)
    if scan.startswith("]"):
        identifier, data = scan[:3], scan[3:]
        if _AIM_ID.fullmatch(identifier) is None:
            raise BarcodeError(f"malformed symbology identifier {_show(identifier)}")
        element_symbology = _ELEMENT_AIM_IDS.get(identifier)
        if element_symbology is not None:
            return _parse_elements(data, element_symbology, year)
        if identifier in ("]E0", "]E4"):
            sym = Symbology.EAN13 if identifier == "]E0" else Symbology.EAN8
            if not _is_digits(data) or len(data) != _GTIN_LENGTH[sym]:
                raise BarcodeError(
                    f"{identifier} must be followed by {_GTIN_LENGTH[sym]} digits, "
                    f"got {_show(data)}"
                )
            return _gtin_scan(data, sym, layout_tuple, exponent)
        if identifier == "]E3":
            if not _is_digits(data) or len(data) not in (15, 18):
                raise BarcodeError(
                    "]E3 must be followed by 13 digits and a 2- or 5-digit add-on, "
                    f"got {_show(data)}"
                )
            gtin14 = to_gtin14(data[:13])
            return Gtin(gtin14, Symbology.EAN13, _is_restricted(gtin14), data[13:])
        if identifier in ("]E1", "]E2"):
            raise BarcodeError(f"{identifier} is an EAN/UPC add-on alone, which names no item")
        raise BarcodeError(f"symbology identifier {identifier} is not a symbology we read")
    if hint in _ELEMENT_SYMBOLOGIES:
        return _parse_elements(scan, hint, year)
    if hint is not None:
        if not _is_digits(scan):
            raise BarcodeError(f"{hint.value} must be digits only, got {_show(scan)}")
        return _gtin_scan(scan, hint, layout_tuple, exponent)
    if scan.startswith("(") or GS in scan:
        return _parse_elements(scan, None, year)
    if _is_digits(scan):
        by_length = _GTIN_BY_LENGTH.get(len(scan))
        if by_length is not None:
            return _gtin_scan(scan, by_length, layout_tuple, exponent)
        if len(scan) in (6, 7):
            raise BarcodeError(
                f"{len(scan)} digits can only be a UPC-E; say so with symbology=Symbology.UPCE: "
                f"{_show(scan)}"
            )
    try:
        return _parse_elements(scan, None, year)
    except BarcodeError as error:
        raise BarcodeError(
            f"neither a GTIN (8, 12, 13 or 14 digits) nor a GS1 element string ({error}): "
            f"{_show(scan)}"
        ) from error
