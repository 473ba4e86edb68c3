"""Money as integer minor units: parsing, formatting, rounding, tax and splitting.

Every amount in tillfleet is an ``int`` count of a currency's minor unit (cents, rappen, öre; yen
and won have none, so there it is the whole unit). No ``float`` ever holds money: binary floating
point cannot represent 0.10, and a till that is off by a cent per receipt fails a tax audit. So
every function here accepts exactly ``int`` (``bool``, ``float``, ``Decimal`` and ``Fraction``
are refused with :class:`~protocol.errors.MoneyError`) and computes exactly, rounding once, at
the end, in a :class:`Rounding` mode the caller names.

Rounding is symmetric about zero: every function rounds the magnitude and then applies the sign,
so a refund computes to the exact negation of the sale it reverses (``f(-x) == -f(x)``).

Amounts that cross a text or wire boundary are bounded by :data:`MAX_ABS_MINOR` (10**13 minor
units, 100 billion euro): :func:`parse` and :func:`format` refuse anything larger, and so do the
amount arguments of the arithmetic helpers, because such a number is always a bug (a price scaled
twice) and because JavaScript consumers of our JSON hold numbers exactly only up to 2**53.
:func:`divide` alone is unbounded: it is the exact primitive the others build on, and it
routinely sees products such as ``amount * rate``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from types import MappingProxyType

from protocol.errors import MoneyError

__all__ = [
    "CURRENCIES",
    "MAX_ABS_MINOR",
    "MAX_BASIS_POINTS",
    "MAX_RATE_PPM",
    "Currency",
    "Rounding",
    "allocate",
    "currency",
    "divide",
    "format",
    "net_of_inclusive",
    "parse",
    "percent_of",
    "round_cash",
    "tax_exclusive",
    "tax_inclusive",
]

MAX_ABS_MINOR = 10**13
"""The largest magnitude an amount may have, in minor units (inclusive).

10**13 cents is 100 billion euro — far above any till or fleet total — and stays well below 2**53,
so the value survives a round trip through a JavaScript ``Number`` in the HQ web UI unchanged.
"""

MAX_RATE_PPM = 1_000_000
"""A tax rate is given in parts per million; 1_000_000 ppm is 100 %, the highest rate accepted."""

MAX_BASIS_POINTS = 10_000
"""A percentage in basis points (1 bp = 0.01 %); 10_000 bp is 100 %, the highest accepted."""

_PPM = 1_000_000
_BP = 10_000
_MAX_EXPONENT = 4
_ASCII_DIGITS = frozenset("0123456789")
_CODE_RE = re.compile("[A-Z]{3}")
_SCALE: tuple[int, ...] = (1, 10, 100, 1_000, 10_000)  # minor units per whole unit, by exponent


# --------------------------------------------------------------------------- argument checks


def _show(value: object) -> str:
    """A short, safe rendering of a bad argument for an error message (input may be huge)."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _require_int(value: object, what: str) -> int:
    """Return ``value`` if it is a genuine ``int``; a ``bool`` or ``float`` must never pass.

    ``type(value) is int`` is the common case and the cheapest test Python has (pricing calls
    this tens of thousands of times per basket); an ``int`` subclass other than ``bool`` (an
    ``IntEnum``, say) is still accepted by the slower check after it.
    """
    if type(value) is int:
        return value
    if isinstance(value, bool) or not isinstance(value, int):
        raise MoneyError(f"{what} must be an int, got {type(value).__name__} {_show(value)}")
    return value


def _require_amount(value: object, what: str) -> int:
    """Return ``value`` if it is an ``int`` amount within ±:data:`MAX_ABS_MINOR`."""
    amount = value if type(value) is int else _require_int(value, what)
    if not -MAX_ABS_MINOR <= amount <= MAX_ABS_MINOR:
        raise MoneyError(f"{what} must be within ±{MAX_ABS_MINOR} minor units, got {_show(amount)}")
    return amount


def _require_mode(mode: object) -> Rounding:
    if not isinstance(mode, Rounding):
        raise MoneyError(f"mode must be a Rounding, got {type(mode).__name__} {_show(mode)}")
    return mode


def _require_currency(value: object) -> Currency:
    if not isinstance(value, Currency):
        raise MoneyError(f"currency must be a Currency, got {type(value).__name__} {_show(value)}")
    return value


def _require_rate(rate_ppm: object) -> int:
    rate = _require_int(rate_ppm, "rate_ppm")
    if not 0 <= rate <= MAX_RATE_PPM:
        raise MoneyError(
            f"rate_ppm must be 0..{MAX_RATE_PPM} (parts per million, 190000 = 19 %), got {rate}"
        )
    return rate


# --------------------------------------------------------------------------- currencies


@dataclass(frozen=True, slots=True)
class Currency:
    """An ISO 4217 currency: its three-letter ``code`` and ``exponent``, the minor-unit digits.

    The exponent fixes what one unit of an amount means: 2 for EUR (1 = one cent), 0 for JPY
    (1 = one yen), 3 for KWD (1 = one fils). It is the ISO exponent, not what coins exist: HUF
    has exponent 2 although no fillér coin circulates (use :func:`round_cash` for that).
    """

    code: str
    exponent: int

    def __post_init__(self) -> None:
        code: object = self.code
        if not (isinstance(code, str) and _CODE_RE.fullmatch(code)):
            raise MoneyError(f"currency code must be 3 ASCII capital letters, got {_show(code)}")
        exponent = _require_int(self.exponent, "currency exponent")
        if not 0 <= exponent <= _MAX_EXPONENT:
            raise MoneyError(f"currency exponent must be 0..{_MAX_EXPONENT}, got {exponent}")


_TABLE: tuple[tuple[str, int], ...] = (
    # Europe
    ("EUR", 2), ("GBP", 2), ("CHF", 2), ("SEK", 2), ("NOK", 2), ("DKK", 2), ("ISK", 0),
    ("PLN", 2), ("CZK", 2), ("HUF", 2), ("RON", 2), ("BGN", 2), ("RSD", 2), ("TRY", 2),
    ("UAH", 2),
    # Americas
    ("USD", 2), ("CAD", 2), ("MXN", 2), ("BRL", 2), ("ARS", 2), ("COP", 2), ("CLP", 0),
    ("CLF", 4), ("PEN", 2), ("UYU", 2),
    # Asia-Pacific
    ("JPY", 0), ("KRW", 0), ("CNY", 2), ("HKD", 2), ("TWD", 2), ("SGD", 2), ("INR", 2),
    ("IDR", 2), ("MYR", 2), ("THB", 2), ("PHP", 2), ("VND", 0), ("AUD", 2), ("NZD", 2),
    # Middle East and Africa
    ("ILS", 2), ("AED", 2), ("SAR", 2), ("QAR", 2), ("KWD", 3), ("BHD", 3), ("OMR", 3),
    ("JOD", 3), ("TND", 3), ("LYD", 3), ("IQD", 3), ("EGP", 2), ("MAD", 2), ("ZAR", 2),
    ("NGN", 2), ("KES", 2),
)  # fmt: skip

CURRENCIES: Mapping[str, Currency] = MappingProxyType(
    {code: Currency(code, exponent) for code, exponent in _TABLE}
)
"""The currencies the fleet knows, by ISO code (read-only). Exponents are the ISO 4217 ones."""


def currency(code: str) -> Currency:
    """Look up a currency by its exact ISO 4217 code (``"EUR"``, not ``"eur"``).

    Codes on the wire are case-exact, so a lowercase code is refused rather than guessed at; an
    unknown code is refused because its exponent — and so the meaning of every amount — is unknown.
    """
    found = CURRENCIES.get(code) if isinstance(code, str) else None
    if found is None:
        raise MoneyError(
            f"expected an ISO 4217 currency code we support (e.g. 'EUR'), got {_show(code)}"
        )
    return found


# --------------------------------------------------------------------------- rounding


class Rounding(Enum):
    """How an exact quotient becomes an integer; every mode is symmetric about zero.

    Each mode rounds the magnitude and keeps the sign, so ``divide(-n, d, m) == -divide(n, d, m)``
    and a refund is the exact negation of the sale. Examples for 2.5, 3.5, 2.4, 2.6 and -2.5:
    """

    DOWN = "down"
    """Toward zero (truncate): 2.5→2, 3.5→3, 2.4→2, 2.6→2, -2.5→-2. Never more than exact."""
    UP = "up"
    """Away from zero: 2.5→3, 3.5→4, 2.4→3, 2.6→3, -2.5→-3. Exact integers stay put."""
    HALF_UP = "half_up"
    """Nearest; an exact half goes away from zero (commercial rounding): 2.5→3, 3.5→4, 2.4→2,
    2.6→3, -2.5→-3. The usual rule for VAT on receipts, and the default of the tax functions."""
    HALF_EVEN = "half_even"
    """Nearest; an exact half goes to the even neighbour (banker's): 2.5→2, 3.5→4, 2.4→2, 2.6→3,
    -2.5→-2. Unbiased over many roundings, e.g. for statistics at HQ."""


def divide(numerator: int, denominator: int, mode: Rounding) -> int:
    """Return ``numerator / denominator`` rounded to an int in ``mode``, exactly.

    This is the one place rounding happens; every other function here builds its exact fraction
    and calls it, so all of them round the same way. Pure integer arithmetic, exact for ints of
    any size (no bound applies). ``denominator`` must be positive: put the sign in the numerator.
    """
    if type(numerator) is not int or type(denominator) is not int or mode.__class__ is not Rounding:
        numerator = _require_int(numerator, "numerator")
        denominator = _require_int(denominator, "denominator")
        mode = _require_mode(mode)
    if denominator <= 0:
        raise MoneyError(f"denominator must be a positive int, got {denominator}")
    quotient, remainder = divmod(abs(numerator), denominator)
    if remainder:
        if mode is Rounding.UP:
            quotient += 1
        elif mode is not Rounding.DOWN:
            twice = 2 * remainder
            if twice > denominator or (
                twice == denominator and (mode is Rounding.HALF_UP or quotient % 2 == 1)
            ):
                quotient += 1
    return -quotient if numerator < 0 else quotient


# --------------------------------------------------------------------------- text


def _require_separator(value: object, what: str) -> str:
    if not isinstance(value, str) or len(value) != 1 or value.isdigit() or value in "+-":
        raise MoneyError(
            f"{what} must be a single character other than a digit, '+' or '-', got {_show(value)}"
        )
    return value


def _check_separators(decimal_sep: object, group_sep: object) -> str | None:
    """Validate the separators and return the group separator, ``None`` meaning "no grouping"."""
    decimal = _require_separator(decimal_sep, "decimal_sep")
    if group_sep is None or group_sep == "":
        return None
    group = _require_separator(group_sep, "group_sep")
    if group == decimal:
        raise MoneyError(f"group_sep and decimal_sep must differ, both are {_show(decimal)}")
    return group


def _require_text(value: object) -> str:
    if not isinstance(value, str):
        raise MoneyError(f"expected the amount as str, got {type(value).__name__} {_show(value)}")
    return value


def _require_symbol(value: object) -> str:
    if not isinstance(value, str):
        raise MoneyError(f"symbol must be a str or None, got {type(value).__name__} {_show(value)}")
    return value


def _require_flag(value: object, what: str) -> bool:
    if not isinstance(value, bool):
        raise MoneyError(f"{what} must be a bool, got {type(value).__name__} {_show(value)}")
    return value


@functools.lru_cache(maxsize=32)
def _amount_pattern(decimal_sep: str, group_sep: str | None) -> re.Pattern[str]:
    # [0-9], never \d: \d also matches Arabic-Indic, Devanagari, fullwidth ... digits.
    integer = "[0-9]+"
    if group_sep is not None:
        # Grouping is optional, but when used every group after the first has exactly 3 digits
        # and the first has 1-3 with no leading zero ("0,123" is more likely a mistyped 0.123).
        integer = f"[1-9][0-9]{{0,2}}(?:{re.escape(group_sep)}[0-9]{{3}})+|{integer}"
    return re.compile(f"([+-]?)({integer})(?:{re.escape(decimal_sep)}([0-9]+))?")


def parse(
    text: str, currency: Currency, *, decimal_sep: str = ".", group_sep: str | None = None
) -> int:
    """Parse a decimal amount such as ``"-1,234.50"`` into minor units of ``currency``, exactly.

    Accepted: an optional ``+``/``-``, ASCII digits 0-9 for the whole units (optionally grouped
    by ``group_sep`` into groups of exactly 3; ``None`` or ``""`` means no grouping), then
    optionally ``decimal_sep`` and 1 to ``currency.exponent`` fraction digits. Fewer fraction
    digits than the exponent are fine (``"5"`` and ``"5.0"`` are 500 cents).

    Refused with :class:`MoneyError`, never silently "fixed": empty or whitespace text,
    surrounding whitespace (strip it yourself if your source pads), more fraction digits than
    the currency has (rounding is the caller's decision, not the parser's), a separator with
    no digit on either side (``".5"``, ``"5."``), exponents, ``nan``/``inf``, doubled signs or
    separators, groups that are not 3 digits, non-ASCII digits (they are rare in our inputs and
    mostly arrive by accident; a till that needs them converts to ASCII first), and magnitudes
    beyond :data:`MAX_ABS_MINOR`. Currency symbols are not parsed.
    """
    currency = _require_currency(currency)
    group = _check_separators(decimal_sep, group_sep)
    text = _require_text(text)
    if not text or text.isspace():
        raise MoneyError(f"expected an amount, got empty or whitespace-only text {_show(text)}")
    match = _amount_pattern(decimal_sep, group).fullmatch(text)
    if match is None:
        if text != text.strip():
            hint = "; it has surrounding whitespace, strip it first"
        elif any(ch.isdigit() and ch not in _ASCII_DIGITS for ch in text):
            hint = "; only ASCII digits 0-9 are accepted"
        else:
            hint = ""
        grouping = f" (optionally grouped in 3s by {group!r})" if group else ""
        if currency.exponent:
            fraction_part = (
                f", then optionally {decimal_sep!r} and 1-{currency.exponent} fraction digits"
            )
        else:
            fraction_part = f" and no fraction ({currency.code} has no minor unit)"
        raise MoneyError(
            f"expected an optional sign, ASCII digits{grouping}{fraction_part}; "
            f"got {_show(text)}{hint}"
        )
    sign, whole, fraction = match.groups()
    exponent = currency.exponent
    fraction = fraction or ""
    if len(fraction) > exponent:
        raise MoneyError(
            f"{currency.code} has {exponent} fraction digits, got {len(fraction)} in "
            f"{_show(text)}; refusing to round"
        )
    if group is not None:
        whole = whole.replace(group, "")
    # Drop leading zeros and cap the digit count before int(): int() raises ValueError on strings
    # of more than 4300 digits (CPython's guard against quadratic-time conversion).
    whole = whole.lstrip("0") or "0"
    if len(whole) > len(str(MAX_ABS_MINOR)):
        raise MoneyError(f"amount must be within ±{MAX_ABS_MINOR} minor units, got {_show(text)}")
    minor = int(whole) * _SCALE[exponent] + int(fraction.ljust(exponent, "0") or "0")
    if minor > MAX_ABS_MINOR:
        raise MoneyError(
            f"amount must be within ±{MAX_ABS_MINOR} minor units, got {minor} from {_show(text)}"
        )
    return -minor if sign == "-" else minor


# Named like the builtin on purpose (callers write ``money.format``); this module never uses it.
def format(
    minor: int,
    currency: Currency,
    *,
    decimal_sep: str = ".",
    group_sep: str | None = None,
    symbol: str | None = None,
    symbol_first: bool = True,
    space: bool | None = None,
) -> str:
    """Render ``minor`` units of ``currency`` as text, e.g. ``"12.34"`` or ``"1 234,50 €"``.

    Always prints exactly ``currency.exponent`` fraction digits (``"-0.05"``, ``"1200"`` for
    JPY), ASCII digits, and whole units grouped in 3s when ``group_sep`` is given. Without a
    symbol the output is what :func:`parse` reads back with the same separators:
    ``parse(format(x, c, **seps), c, **seps) == x`` for every amount within the bound.

    ``symbol`` (``None`` or ``""`` for none) goes before the number (``symbol_first``) or after
    it; ``space`` puts one space between them and by default (``None``) does so only after the
    number (``"$12.34"``, ``"12,34 €"``); pass ``space=True`` for ``"CHF 12.30"``. A minus sign
    always leads the whole text: ``"-$12.34"``, ``"-12,34 €"``. This is not a locale engine; the
    till configuration chooses these per store.
    """
    minor = _require_amount(minor, "amount")
    currency = _require_currency(currency)
    group = _check_separators(decimal_sep, group_sep)
    if symbol is not None:
        symbol = _require_symbol(symbol)
    symbol_first = _require_flag(symbol_first, "symbol_first")
    if space is not None:
        space = _require_flag(space, "space")

    exponent = currency.exponent
    whole, fraction = divmod(abs(minor), _SCALE[exponent])
    number = f"{whole:,}".replace(",", group) if group is not None else str(whole)
    if exponent:
        number = f"{number}{decimal_sep}{fraction:0{exponent}d}"
    if symbol:
        gap = " " if (space if space is not None else not symbol_first) else ""
        number = f"{symbol}{gap}{number}" if symbol_first else f"{number}{gap}{symbol}"
    return f"-{number}" if minor < 0 else number


# --------------------------------------------------------------------------- tax and percentages


def tax_exclusive(net: int, rate_ppm: int, mode: Rounding = Rounding.HALF_UP) -> int:
    """The tax to add to a ``net`` amount at ``rate_ppm`` (190000 = 19 %): ``net × rate / 10⁶``.

    Used where prices are quoted without tax (B2B, US sales tax); the gross is ``net + tax``.
    Rates are integers in parts per million so 7.7 % and 8.875 % are exact; 0..1_000_000.
    """
    net = _require_amount(net, "net")
    rate = _require_rate(rate_ppm)
    return divide(net * rate, _PPM, mode)


def tax_inclusive(gross: int, rate_ppm: int, mode: Rounding = Rounding.HALF_UP) -> int:
    """The tax contained in a tax-inclusive ``gross``: ``gross × rate / (10⁶ + rate)``, exactly.

    Used for shelf prices that include VAT (all EU retail): 11.90 at 19 % contains 1.90. The
    quotient is computed exactly and rounded once; pair it with :func:`net_of_inclusive` so the
    receipt's net and tax add up to the gross to the cent.
    """
    gross = _require_amount(gross, "gross")
    rate = _require_rate(rate_ppm)
    return divide(gross * rate, _PPM + rate, mode)


def net_of_inclusive(gross: int, rate_ppm: int, mode: Rounding = Rounding.HALF_UP) -> int:
    """The net part of a tax-inclusive ``gross``, defined as ``gross - tax_inclusive(...)``.

    Defined by subtraction, not by its own rounding, so ``net + tax == gross`` holds exactly for
    every amount, rate and mode. ``mode`` is the mode of the tax: rounding the tax up rounds the
    net down.
    """
    gross = _require_amount(gross, "gross")
    return gross - tax_inclusive(gross, rate_ppm, mode)


def percent_of(amount: int, basis_points: int, mode: Rounding) -> int:
    """``amount × basis_points / 10 000`` rounded in ``mode``: 1 bp = 0.01 %, 0..10_000 bp.

    Promotions state percentages in basis points so that 12.5 % (1250 bp) is exact. The rounding
    mode is the promotion's policy (e.g. ``DOWN`` so a discount never exceeds its percentage), so
    it has no default.
    """
    amount = _require_amount(amount, "amount")
    bp = _require_int(basis_points, "basis_points")
    if not 0 <= bp <= MAX_BASIS_POINTS:
        raise MoneyError(f"basis_points must be 0..{MAX_BASIS_POINTS} (1 bp = 0.01 %), got {bp}")
    return divide(amount * bp, _BP, mode)


# --------------------------------------------------------------------------- cash


def round_cash(amount: int, coin: int, mode: Rounding) -> int:
    """Round ``amount`` to a multiple of the smallest ``coin`` in circulation, in ``mode``.

    Apply it to the cash amount due only — the total as paid in notes and coins — never to line
    prices, tax or card payments, which stay exact to the minor unit. Examples: Swiss 5-rappen
    rounding (``coin=5``, ``HALF_UP``: 12.32 → 12.30, 12.33 → 12.35), Swedish whole-krona
    rounding (``coin=100``), ``coin=1`` changes nothing. The difference to the exact total is
    booked as a rounding line by the caller. ``coin`` must be >= 1.
    """
    amount = _require_amount(amount, "amount")
    coin = _require_int(coin, "coin")
    if coin < 1:
        raise MoneyError(f"coin must be >= 1 minor unit, got {coin}")
    rounded = divide(amount, coin, mode) * coin
    if abs(rounded) > MAX_ABS_MINOR:
        raise MoneyError(
            f"rounding {amount} to a multiple of {coin} gives {rounded}, "
            f"beyond ±{MAX_ABS_MINOR} minor units"
        )
    return rounded


# --------------------------------------------------------------------------- splitting


def _require_weights(weights: object) -> list[int]:
    if type(weights) is list and all(type(w) is int and w >= 0 for w in weights):
        return weights  # the common case, checked in one pass; allocate never mutates it
    if not isinstance(weights, Sequence) or isinstance(weights, str):
        raise MoneyError(f"weights must be a sequence of ints, got {type(weights).__name__}")
    checked = [_require_int(weight, f"weights[{i}]") for i, weight in enumerate(weights)]
    for i, weight in enumerate(checked):
        if weight < 0:
            raise MoneyError(f"weights must be >= 0, got weights[{i}] = {weight}")
    return checked


def allocate(total: int, weights: Sequence[int]) -> list[int]:
    """Split ``total`` over lines in proportion to ``weights``, keeping the sum exact.

    Used to spread a basket discount, a tip or a rounding difference over receipt lines. Method:
    largest remainder (Hamilton) — every line gets the floor of its exact share
    ``|total| × w / sum(w)``, then the units left over go one each to the lines with the largest
    remainders; among equal remainders the **earliest index wins**, so the result is
    deterministic and stable across the till and HQ. Consequently:

    * ``sum(result) == total`` exactly, and each share is within 1 minor unit of its exact share;
    * a line of weight 0 always gets 0;
    * a negative total is split as the negation of the positive split (refunds mirror sales).

    Weights are non-negative ints of any size (line amounts, quantities). All-zero (or no)
    weights can only carry a total of 0 (giving zeros); otherwise :class:`MoneyError`.
    """
    total = _require_amount(total, "total")
    checked = _require_weights(weights)
    weight_sum = sum(checked)
    if weight_sum == 0:
        if total != 0:
            raise MoneyError(
                f"cannot allocate {total} over {len(checked)} lines whose weights are all zero"
            )
        return [0] * len(checked)

    magnitude = abs(total)
    shares: list[int] = []
    remainders: list[int] = []
    for weight in checked:
        share, remainder = divmod(magnitude * weight, weight_sum)
        shares.append(share)
        remainders.append(remainder)
    left_over = magnitude - sum(shares)  # < number of lines with a non-zero remainder
    if left_over:
        order = sorted(range(len(shares)), key=lambda i: (-remainders[i], i))
        for i in order[:left_over]:
            shares[i] += 1
    return [-share for share in shares] if total < 0 else shares
