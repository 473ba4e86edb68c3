"""Tests for ``protocol.money``: hand-checked known answers, then properties against references.

The references below are written independently of the implementation and use only ``int`` and
``fractions.Fraction`` — never ``float`` (the only floats in this file are the ones we feed in to
prove they are refused).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import FrozenInstanceError
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from protocol import money
from protocol.errors import MoneyError
from protocol.money import CURRENCIES, MAX_ABS_MINOR, Currency, Rounding, currency

DOWN, UP, HALF_UP, HALF_EVEN = Rounding.DOWN, Rounding.UP, Rounding.HALF_UP, Rounding.HALF_EVEN
EUR, USD, CHF, SEK, JPY, KWD, CLF = (
    currency(code) for code in ("EUR", "USD", "CHF", "SEK", "JPY", "KWD", "CLF")
)

# --------------------------------------------------------------------------- references


def ref_round(exact: Fraction, mode: Rounding) -> int:
    """Round by looking at the two integer neighbours of ``exact`` and picking one by distance.

    Deliberately a different formulation from ``divide``'s quotient/remainder arithmetic.
    """
    lower, upper = math.floor(exact), math.ceil(exact)
    if lower == upper:
        return lower
    toward_zero, away_from_zero = (lower, upper) if exact > 0 else (upper, lower)
    if mode is DOWN:
        return toward_zero
    if mode is UP:
        return away_from_zero
    gap_toward, gap_away = abs(exact - toward_zero), abs(away_from_zero - exact)
    if gap_toward != gap_away:
        return toward_zero if gap_toward < gap_away else away_from_zero
    if mode is HALF_UP:
        return away_from_zero
    return lower if lower % 2 == 0 else upper


def ref_allocate(total: int, weights: list[int]) -> list[int]:
    """Hamilton's method spelt out with Fractions: floors, then the largest fractional parts."""
    weight_sum = sum(weights)
    exact = [Fraction(abs(total) * w, weight_sum) for w in weights]
    shares = [math.floor(e) for e in exact]
    left_over = abs(total) - sum(shares)
    by_fraction = sorted(range(len(weights)), key=lambda i: (-(exact[i] - shares[i]), i))
    for i in by_fraction[:left_over]:
        shares[i] += 1
    return [-s for s in shares] if total < 0 else shares


# --------------------------------------------------------------------------- strategies

modes = st.sampled_from(Rounding)
# Small amounts hit exact halves and boundaries often; the full range checks there is no overflow.
amounts = st.one_of(
    st.integers(-2_000, 2_000), st.integers(-MAX_ABS_MINOR, MAX_ABS_MINOR), st.just(MAX_ABS_MINOR)
)
rates = st.one_of(
    st.sampled_from([0, 50_000, 70_000, 77_000, 88_750, 190_000, 250_000, 1_000_000]),
    st.integers(0, 1_000_000),
)
coins = st.one_of(st.sampled_from([1, 2, 5, 10, 20, 25, 50, 100, 500]), st.integers(1, 10**6))
all_currencies = st.sampled_from(sorted(CURRENCIES.values(), key=lambda c: c.code))
SEPARATORS: list[tuple[str, str | None]] = [
    (".", None),
    (".", ""),
    (".", ","),
    (",", "."),
    (",", " "),
    (".", "'"),
    (".", "\u2019"),  # Swiss typographic apostrophe
    (",", "\u202f"),  # French narrow no-break space
    ("\u066b", "\u066c"),  # Arabic decimal and thousands separators (the digits stay ASCII)
]
separators = st.sampled_from(SEPARATORS)


# --------------------------------------------------------------------------- currencies


def test_currency_table_has_the_iso_exponents() -> None:
    expected = {"EUR": 2, "USD": 2, "GBP": 2, "CHF": 2, "SEK": 2, "HUF": 2, "JPY": 0, "KRW": 0}
    expected |= {"ISK": 0, "KWD": 3, "BHD": 3, "TND": 3, "CLF": 4, "INR": 2, "CNY": 2}
    for code, exponent in expected.items():
        assert currency(code) == Currency(code, exponent)
    assert all(code == c.code for code, c in CURRENCIES.items())


@pytest.mark.parametrize("code", ["eur", "XXX", "", "EURO", " EUR", "€"])
def test_currency_rejects_unknown_or_miscased_codes(code: str) -> None:
    with pytest.raises(MoneyError, match="ISO 4217"):
        currency(code)


def test_currency_rejects_non_str() -> None:
    code: Any = 978  # the numeric ISO code is not accepted
    with pytest.raises(MoneyError):
        currency(code)


@pytest.mark.parametrize(("code", "exponent"), [("EU", 2), ("eur", 2), ("E1R", 2), ("EUR", 5)])
def test_currency_validates_its_fields(code: str, exponent: int) -> None:
    with pytest.raises(MoneyError):
        Currency(code, exponent)


def test_currency_is_frozen_and_table_read_only() -> None:
    with pytest.raises(FrozenInstanceError):
        EUR.exponent = 3  # type: ignore[misc]
    table: Any = CURRENCIES
    with pytest.raises(TypeError):
        table["XTS"] = Currency("XTS", 2)


# --------------------------------------------------------------------------- divide


@pytest.mark.parametrize(
    ("numerator", "denominator", "expected"),
    [
        (5, 2, (2, 3, 3, 2)),  # 2.5
        (7, 2, (3, 4, 4, 4)),  # 3.5
        (-5, 2, (-2, -3, -3, -2)),
        (-7, 2, (-3, -4, -4, -4)),
        (12, 5, (2, 3, 2, 2)),  # 2.4
        (13, 5, (2, 3, 3, 3)),  # 2.6
        (1, 3, (0, 1, 0, 0)),
        (2, 3, (0, 1, 1, 1)),
        (-2, 3, (0, -1, -1, -1)),
        (6, 3, (2, 2, 2, 2)),
        (0, 7, (0, 0, 0, 0)),
        (1, 2, (0, 1, 1, 0)),  # 0.5: half-even goes to 0
        (10**40 + 1, 2, (5 * 10**39, 5 * 10**39 + 1, 5 * 10**39 + 1, 5 * 10**39)),
    ],
)
def test_divide_known_answers(
    numerator: int, denominator: int, expected: tuple[int, int, int, int]
) -> None:
    """``expected`` lists the results for DOWN, UP, HALF_UP and HALF_EVEN, in that order."""
    got = tuple(money.divide(numerator, denominator, m) for m in (DOWN, UP, HALF_UP, HALF_EVEN))
    assert got == expected


@pytest.mark.parametrize("denominator", [0, -1, -100])
def test_divide_needs_a_positive_denominator(denominator: int) -> None:
    with pytest.raises(MoneyError, match="positive"):
        money.divide(10, denominator, HALF_UP)


@given(
    numerator=st.integers(-(10**30), 10**30),
    denominator=st.one_of(st.integers(1, 12), st.integers(1, 10**15)),
    mode=modes,
)
def test_divide_matches_reference(numerator: int, denominator: int, mode: Rounding) -> None:
    exact = Fraction(numerator, denominator)
    got = money.divide(numerator, denominator, mode)
    assert got == ref_round(exact, mode)
    assert money.divide(-numerator, denominator, mode) == -got  # symmetric about zero
    if mode is HALF_EVEN:
        assert got == round(exact)  # Fraction.__round__ is banker's rounding: a second oracle
    if mode is DOWN:
        assert got == math.trunc(exact)


@given(k=st.integers(-(10**15), 10**15), half=st.integers(1, 10**6))
def test_divide_on_exact_halves(k: int, half: int) -> None:
    numerator, denominator = (2 * k + 1) * half, 2 * half  # exactly k + 1/2
    away = k + 1 if k >= 0 else k
    toward = k if k >= 0 else k + 1
    assert money.divide(numerator, denominator, HALF_UP) == away
    assert money.divide(numerator, denominator, HALF_EVEN) in (k, k + 1)
    assert money.divide(numerator, denominator, HALF_EVEN) % 2 == 0
    assert money.divide(numerator, denominator, DOWN) == toward
    assert money.divide(numerator, denominator, UP) == away


# --------------------------------------------------------------------------- tax


def test_tax_known_answers() -> None:
    assert money.tax_exclusive(1000, 190_000) == 190  # 19 % on 10.00 is 1.90
    assert money.tax_inclusive(1190, 190_000) == 190  # 11.90 at 19 % contains 1.90
    assert money.net_of_inclusive(1190, 190_000) == 1000
    assert money.tax_inclusive(107, 70_000) == 7  # German reduced rate, exact
    assert money.tax_exclusive(10000, 77_000) == 770  # Swiss 7.7 %
    # 10000 × 77000 / 1077000 = 714.949...: 715 half-up, 714 truncated.
    assert money.tax_inclusive(10000, 77_000) == 715
    assert money.tax_inclusive(10000, 77_000, DOWN) == 714
    assert money.net_of_inclusive(10000, 77_000) == 9285
    # New York 8.875 %: 1000 × 0.08875 = 88.75; 10000 × 88750 / 1088750 = 815.15...
    assert money.tax_exclusive(1000, 88_750) == 89
    assert money.tax_exclusive(1000, 88_750, DOWN) == 88
    assert money.tax_inclusive(10000, 88_750) == 815
    assert money.tax_exclusive(5000, 0) == 0
    assert money.tax_inclusive(5000, 1_000_000) == 2500  # 100 %: half of the gross


def test_tax_rounds_exact_halves_by_mode() -> None:
    # 5 % of 0.10 is exactly half a cent; 5 % of 0.30 is 1.5 cents.
    by_mode = [money.tax_exclusive(10, 50_000, m) for m in (DOWN, UP, HALF_UP, HALF_EVEN)]
    assert by_mode == [0, 1, 1, 0]
    assert money.tax_exclusive(30, 50_000, HALF_EVEN) == 2
    # At 100 % a gross of 0.01 contains exactly half a cent, 0.03 contains 1.5.
    assert money.tax_inclusive(1, 1_000_000, HALF_UP) == 1
    assert money.tax_inclusive(1, 1_000_000, HALF_EVEN) == 0
    assert money.tax_inclusive(3, 1_000_000, HALF_EVEN) == 2


def test_tax_on_refunds_mirrors_sales() -> None:
    assert money.tax_inclusive(-10000, 77_000) == -715
    assert money.net_of_inclusive(-10000, 77_000) == -9285
    assert money.tax_exclusive(-10, 50_000) == -1
    assert money.tax_exclusive(-1000, 88_750) == -89


@pytest.mark.parametrize("rate", [-1, 1_000_001, 10**9])
def test_tax_rejects_rates_out_of_range(rate: int) -> None:
    with pytest.raises(MoneyError, match="rate_ppm"):
        money.tax_exclusive(1000, rate)
    with pytest.raises(MoneyError, match="rate_ppm"):
        money.tax_inclusive(1000, rate)
    with pytest.raises(MoneyError, match="rate_ppm"):
        money.net_of_inclusive(1000, rate)


@given(net=amounts, rate=rates, mode=modes)
def test_tax_exclusive_matches_reference(net: int, rate: int, mode: Rounding) -> None:
    got = money.tax_exclusive(net, rate, mode)
    assert got == ref_round(Fraction(net * rate, 1_000_000), mode)
    assert money.tax_exclusive(-net, rate, mode) == -got


@given(gross=amounts, rate=rates, mode=modes)
def test_tax_inclusive_matches_reference_and_adds_up(gross: int, rate: int, mode: Rounding) -> None:
    tax = money.tax_inclusive(gross, rate, mode)
    exact = Fraction(gross * rate, 1_000_000 + rate)
    assert tax == ref_round(exact, mode)
    assert abs(tax - exact) < 1
    assert money.net_of_inclusive(gross, rate, mode) + tax == gross
    assert money.tax_inclusive(-gross, rate, mode) == -tax


# --------------------------------------------------------------------------- percentages


def test_percent_of_known_answers() -> None:
    assert money.percent_of(1999, 1000, HALF_UP) == 200  # 10 % of 19.99 = 1.999
    assert money.percent_of(1999, 1000, DOWN) == 199
    assert money.percent_of(1000, 1250, DOWN) == 125  # 12.5 %, exact
    by_mode = [money.percent_of(100, 1250, m) for m in (DOWN, UP, HALF_UP, HALF_EVEN)]
    assert by_mode == [12, 13, 13, 12]  # 12.5 % of 1.00 is exactly 12.5 cents
    assert money.percent_of(-100, 1250, HALF_UP) == -13
    assert money.percent_of(1234, 10_000, DOWN) == 1234
    assert money.percent_of(1234, 0, UP) == 0


@pytest.mark.parametrize("basis_points", [-1, 10_001])
def test_percent_of_rejects_out_of_range(basis_points: int) -> None:
    with pytest.raises(MoneyError, match="basis_points"):
        money.percent_of(1000, basis_points, HALF_UP)


@given(amount=amounts, basis_points=st.integers(0, 10_000), mode=modes)
def test_percent_of_matches_reference(amount: int, basis_points: int, mode: Rounding) -> None:
    got = money.percent_of(amount, basis_points, mode)
    assert got == ref_round(Fraction(amount * basis_points, 10_000), mode)
    assert money.percent_of(-amount, basis_points, mode) == -got


# --------------------------------------------------------------------------- cash rounding


@pytest.mark.parametrize(
    ("amount", "coin", "mode", "expected"),
    [
        # Swiss 5 rappen: 12.32 -> 12.30, 12.33 -> 12.35. (No exact half exists for coin 5.)
        (1232, 5, HALF_UP, 1230),
        (1233, 5, HALF_UP, 1235),
        (1231, 5, HALF_UP, 1230),
        (1234, 5, HALF_UP, 1235),
        (1230, 5, HALF_UP, 1230),
        (1232, 5, UP, 1235),
        (1234, 5, DOWN, 1230),
        # Exact halves with coin 10: 12.35 and 12.25.
        (1235, 10, HALF_UP, 1240),
        (1235, 10, HALF_EVEN, 1240),
        (1235, 10, DOWN, 1230),
        (1235, 10, UP, 1240),
        (1225, 10, HALF_UP, 1230),
        (1225, 10, HALF_EVEN, 1220),
        # Swedish rounding to whole kronor.
        (1249, 100, HALF_UP, 1200),
        (1250, 100, HALF_UP, 1300),
        (1251, 100, HALF_EVEN, 1300),
        (1250, 100, HALF_EVEN, 1200),
        (1350, 100, HALF_EVEN, 1400),
        # Refunds mirror sales.
        (-1233, 5, HALF_UP, -1235),
        (-1232, 5, HALF_UP, -1230),
        (-1250, 100, HALF_UP, -1300),
        (-1225, 10, HALF_EVEN, -1220),
        (-1235, 10, DOWN, -1230),
        # coin 1 changes nothing.
        (1233, 1, UP, 1233),
        (-7, 1, HALF_EVEN, -7),
    ],
)
def test_round_cash_known_answers(amount: int, coin: int, mode: Rounding, expected: int) -> None:
    assert money.round_cash(amount, coin, mode) == expected


@pytest.mark.parametrize("coin", [0, -5])
def test_round_cash_rejects_coins_below_one(coin: int) -> None:
    with pytest.raises(MoneyError, match="coin"):
        money.round_cash(1000, coin, HALF_UP)


def test_round_cash_refuses_to_leave_the_bound() -> None:
    # 10**13 % 3 == 1, so rounding up to a multiple of 3 would give 10**13 + 2.
    with pytest.raises(MoneyError, match="beyond"):
        money.round_cash(MAX_ABS_MINOR, 3, UP)
    assert money.round_cash(MAX_ABS_MINOR, 100, UP) == MAX_ABS_MINOR


@given(amount=amounts, coin=coins, mode=modes)
def test_round_cash_matches_reference(amount: int, coin: int, mode: Rounding) -> None:
    expected = coin * ref_round(Fraction(amount, coin), mode)
    if abs(expected) > MAX_ABS_MINOR:
        with pytest.raises(MoneyError):
            money.round_cash(amount, coin, mode)
        return
    got = money.round_cash(amount, coin, mode)
    assert got == expected
    assert got % coin == 0
    assert money.round_cash(-amount, coin, mode) == -got
    if mode in (HALF_UP, HALF_EVEN):
        assert 2 * abs(got - amount) <= coin
    else:
        assert abs(got - amount) < coin


@given(amount=amounts, mode=modes)
def test_round_cash_to_one_is_identity(amount: int, mode: Rounding) -> None:
    assert money.round_cash(amount, 1, mode) == amount


# --------------------------------------------------------------------------- allocate


@pytest.mark.parametrize(
    ("total", "weights", "expected"),
    [
        (100, [1, 1, 1], [34, 33, 33]),
        (-100, [1, 1, 1], [-34, -33, -33]),
        (1, [1, 1], [1, 0]),  # tie: earliest index first
        (2, [1, 1, 1], [1, 1, 0]),
        (1000, [1, 2], [333, 667]),  # remainders 1/3 and 2/3: the larger one wins
        (1001, [333, 333, 334], [333, 333, 335]),  # goes by remainder, not by index
        (10, [0, 1, 0], [0, 10, 0]),
        (5, [3], [5]),
        (0, [5, 3], [0, 0]),
        (0, [0, 0], [0, 0]),
        (0, [], []),
        # A 5.00 basket discount spread over lines of 19.99, 5.00 and 30.01.
        (-500, [1999, 500, 3001], [-182, -45, -273]),
    ],
)
def test_allocate_known_answers(total: int, weights: list[int], expected: list[int]) -> None:
    assert money.allocate(total, weights) == expected
    assert money.allocate(total, tuple(weights)) == expected


@pytest.mark.parametrize(
    ("total", "weights", "message"),
    [
        (5, [], "all zero"),
        (5, [0, 0], "all zero"),
        (-5, [0], "all zero"),
        (5, [1, -1, 2], "weights must be >= 0"),
    ],
)
def test_allocate_rejects(total: int, weights: list[int], message: str) -> None:
    with pytest.raises(MoneyError, match=message):
        money.allocate(total, weights)


def test_allocate_rejects_non_sequences() -> None:
    for weights in ("123", {1, 2}, (w for w in [1, 2]), None):
        bad: Any = weights
        with pytest.raises(MoneyError, match="sequence"):
            money.allocate(10, bad)


weight_lists = st.lists(
    st.one_of(st.just(0), st.integers(1, 4), st.integers(1, 10**9)), min_size=1, max_size=40
)


@given(total=amounts, weights=weight_lists)
def test_allocate_properties(total: int, weights: list[int]) -> None:
    assume(sum(weights) > 0)
    shares = money.allocate(total, weights)
    assert len(shares) == len(weights)
    assert sum(shares) == total
    for share, weight in zip(shares, weights, strict=True):
        assert abs(share - Fraction(total * weight, sum(weights))) < 1
        if weight == 0:
            assert share == 0
    assert shares == ref_allocate(total, weights)
    assert money.allocate(total, weights) == shares  # deterministic
    assert money.allocate(-total, weights) == [-s for s in shares]  # refunds mirror sales


# --------------------------------------------------------------------------- parse


@pytest.mark.parametrize(
    ("text", "cur", "decimal_sep", "group_sep", "expected"),
    [
        ("12.34", EUR, ".", None, 1234),
        ("-0.5", EUR, ".", None, -50),
        ("5", EUR, ".", None, 500),
        ("5.0", EUR, ".", None, 500),
        ("+7.5", EUR, ".", None, 750),
        ("0", EUR, ".", None, 0),
        ("-0.00", EUR, ".", None, 0),
        ("0.01", EUR, ".", None, 1),
        ("007.50", EUR, ".", None, 750),
        ("1,234.50", EUR, ".", ",", 123450),
        ("1234.50", EUR, ".", ",", 123450),  # grouping is optional
        ("-12,345,678.9", EUR, ".", ",", -1234567890),
        ("1.234,50", EUR, ",", ".", 123450),
        ("1 234,50", EUR, ",", " ", 123450),
        ("1'234.50", CHF, ".", "'", 123450),
        ("1\u202f234,5", EUR, ",", "\u202f", 123450),
        ("1200", JPY, ".", None, 1200),
        ("1,200", JPY, ".", ",", 1200),
        ("-5", JPY, ".", None, -5),
        ("1.234", KWD, ".", None, 1234),
        ("0.5", KWD, ".", None, 500),
        ("1.2345", CLF, ".", None, 12345),
        ("100000000000.00", EUR, ".", None, MAX_ABS_MINOR),
        ("-100,000,000,000", EUR, ".", ",", -MAX_ABS_MINOR),
        ("10000000000000", JPY, ".", None, MAX_ABS_MINOR),
    ],
)
def test_parse_known_answers(
    text: str, cur: Currency, decimal_sep: str, group_sep: str | None, expected: int
) -> None:
    assert money.parse(text, cur, decimal_sep=decimal_sep, group_sep=group_sep) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        "\t\n",
        "12.345",  # more fraction digits than EUR has: never rounded silently
        "0.001",
        "1e5",
        "1E5",
        "nan",
        "NaN",
        "inf",
        "-inf",
        "Infinity",
        "+-1",
        "-+1",
        "--1",
        "-",
        "+",
        ".",
        ".5",
        "5.",
        "1..5",
        "1.2.3",
        "1,,234",
        "12,34",
        "1,2345",
        "1234,567.00",
        ",123",
        "1,234,",
        "0,123",
        "1,234.",
        "1 234",  # a space is not the group separator here
        " 12",
        "12 ",
        "\u0661\u0662\u0663",  # Arabic-Indic digits
        "\uff11\uff12",  # fullwidth digits
        "12.\u0663",
        "\u00b2",  # superscript two: str.isdigit() is True for it
        "1_000",
        "0x10",
        "12€",
        "$12",
        "1.-5",
        "100000000000.01",  # one cent beyond MAX_ABS_MINOR
        "-100000000000.01",
        "1" * 5000,  # int() itself would raise ValueError on this
        "0" * 5000 + "1" * 14,
    ],
)
def test_parse_rejects(text: str) -> None:
    with pytest.raises(MoneyError):
        money.parse(text, EUR, group_sep=",")


def test_parse_reads_long_zero_padding_without_overflowing_int() -> None:
    # Leading zeros are allowed (zero-padded exports); int() alone would refuse > 4300 digits.
    assert money.parse("0" * 5000 + "1.25", EUR) == 125


def test_parse_rejects_fraction_for_currencies_without_minor_unit() -> None:
    with pytest.raises(MoneyError, match="refusing to round"):
        money.parse("1200.0", JPY)
    with pytest.raises(MoneyError, match="refusing to round"):
        money.parse("1.00000", CLF)


def test_parse_error_says_what_was_expected() -> None:
    with pytest.raises(MoneyError, match=r"EUR has 2 fraction digits, got 3 in '12\.345'"):
        money.parse("12.345", EUR)
    with pytest.raises(MoneyError, match="only ASCII digits"):
        money.parse("\u0661\u0662", EUR)
    with pytest.raises(MoneyError, match="strip it first"):
        money.parse(" 12.34", EUR)


@pytest.mark.parametrize(
    ("decimal_sep", "group_sep"),
    [(".", "."), ("", None), ("..", None), ("1", None), ("-", None), (".", "+"), (".", "\u0663")],
)
def test_parse_and_format_reject_bad_separators(decimal_sep: str, group_sep: str | None) -> None:
    with pytest.raises(MoneyError, match="sep"):
        money.parse("1", EUR, decimal_sep=decimal_sep, group_sep=group_sep)
    with pytest.raises(MoneyError, match="sep"):
        money.format(100, EUR, decimal_sep=decimal_sep, group_sep=group_sep)


def test_parse_rejects_wrong_argument_types() -> None:
    not_text: Any = b"12.34"
    with pytest.raises(MoneyError, match="str"):
        money.parse(not_text, EUR)
    not_currency: Any = "EUR"
    with pytest.raises(MoneyError, match="Currency"):
        money.parse("12.34", not_currency)


@given(text=st.from_regex(r"[+-]?[0-9]{1,16}(\.[0-9]{1,5})?", fullmatch=True), cur=all_currencies)
def test_parse_matches_fraction_reference(text: str, cur: Currency) -> None:
    fraction_digits = len(text.partition(".")[2])
    exact = Fraction(text) * 10**cur.exponent
    if fraction_digits > cur.exponent or abs(exact) > MAX_ABS_MINOR:
        with pytest.raises(MoneyError):
            money.parse(text, cur)
    else:
        assert money.parse(text, cur) == exact


@given(whole=st.integers(10, 10**11), data=st.data())
def test_parse_rejects_misplaced_group_separators(whole: int, data: st.DataObject) -> None:
    digits = str(whole)
    misplaced = [i for i in range(1, len(digits)) if (len(digits) - i) % 3 != 0]
    assume(misplaced)
    i = data.draw(st.sampled_from(misplaced))
    with pytest.raises(MoneyError):
        money.parse(f"{digits[:i]},{digits[i:]}", EUR, group_sep=",")


def _parse_or_money_error(
    text: str, cur: Currency, decimal_sep: str, group_sep: str | None
) -> None:
    try:
        value = money.parse(text, cur, decimal_sep=decimal_sep, group_sep=group_sep)
    except MoneyError:
        return
    assert type(value) is int
    assert abs(value) <= MAX_ABS_MINOR
    again = money.format(value, cur, decimal_sep=decimal_sep, group_sep=group_sep)
    assert money.parse(again, cur, decimal_sep=decimal_sep, group_sep=group_sep) == value


@given(text=st.text())
def test_parse_fuzz_raises_only_money_error(text: str) -> None:
    _parse_or_money_error(text, EUR, ".", ",")


@given(
    text=st.text(alphabet="0123456789.,'+- e\u066b\u066c\u0663", max_size=24),
    cur=all_currencies,
    seps=separators,
)
def test_parse_fuzz_near_valid_text(text: str, cur: Currency, seps: tuple[str, str | None]) -> None:
    _parse_or_money_error(text, cur, *seps)


# --------------------------------------------------------------------------- format


@pytest.mark.parametrize(
    ("minor", "cur", "options", "expected"),
    [
        (1234, EUR, {}, "12.34"),
        (-5, EUR, {}, "-0.05"),
        (0, EUR, {}, "0.00"),
        (123450, EUR, {"group_sep": ","}, "1,234.50"),
        (123450, EUR, {"decimal_sep": ",", "group_sep": " "}, "1 234,50"),
        (
            123450,
            EUR,
            {"decimal_sep": ",", "group_sep": " ", "symbol": "€", "symbol_first": False},
            "1 234,50 €",
        ),
        (1234, EUR, {"symbol": "€"}, "€12.34"),
        (100, EUR, {"symbol": "€", "symbol_first": False, "space": False}, "1.00€"),
        (-123456789, USD, {"group_sep": ",", "symbol": "$"}, "-$1,234,567.89"),
        (1230, CHF, {"symbol": "CHF", "space": True}, "CHF 12.30"),
        (-1230, CHF, {"symbol": "CHF", "space": True, "group_sep": "'"}, "-CHF 12.30"),
        (-1234, SEK, {"decimal_sep": ",", "symbol": "kr", "symbol_first": False}, "-12,34 kr"),
        (1234, EUR, {"symbol": ""}, "12.34"),
        (1200, JPY, {}, "1200"),
        (1200, JPY, {"group_sep": ","}, "1,200"),
        (1, KWD, {}, "0.001"),
        (12345, CLF, {}, "1.2345"),
        (MAX_ABS_MINOR, EUR, {"decimal_sep": ",", "group_sep": "."}, "100.000.000.000,00"),
        (-MAX_ABS_MINOR, JPY, {"group_sep": ","}, "-10,000,000,000,000"),
    ],
)
def test_format_known_answers(
    minor: int, cur: Currency, options: dict[str, Any], expected: str
) -> None:
    assert money.format(minor, cur, **options) == expected


@pytest.mark.parametrize("minor", [MAX_ABS_MINOR + 1, -MAX_ABS_MINOR - 1, 10**100])
def test_format_rejects_amounts_beyond_the_bound(minor: int) -> None:
    with pytest.raises(MoneyError, match="within"):
        money.format(minor, EUR)


def test_format_rejects_bad_options() -> None:
    bad: Any = 1
    with pytest.raises(MoneyError, match="symbol"):
        money.format(100, EUR, symbol=bad)
    with pytest.raises(MoneyError, match="symbol_first"):
        money.format(100, EUR, symbol_first=bad)
    with pytest.raises(MoneyError, match="space"):
        money.format(100, EUR, space=bad)
    with pytest.raises(MoneyError, match="Currency"):
        money.format(100, bad)


@given(minor=amounts, cur=all_currencies, seps=separators)
def test_parse_format_round_trip(minor: int, cur: Currency, seps: tuple[str, str | None]) -> None:
    decimal_sep, group_sep = seps
    text = money.format(minor, cur, decimal_sep=decimal_sep, group_sep=group_sep)
    assert not any(ch.isdigit() and not ch.isascii() for ch in text)
    assert money.parse(text, cur, decimal_sep=decimal_sep, group_sep=group_sep) == minor
    # The text means exactly minor / 10**exponent (read back with Fraction, not with parse).
    plain = text.replace(group_sep, "") if group_sep else text
    plain = plain.replace(decimal_sep, ".")
    assert Fraction(plain) * 10**cur.exponent == minor


# --------------------------------------------------------------------------- type discipline

FLOAT: Any = 1.0  # the floats below exist only to prove they are refused
TRUE: Any = True

INT_ARGUMENT_SITES: list[tuple[str, Callable[[Any], object]]] = [
    ("divide numerator", lambda x: money.divide(x, 2, HALF_UP)),
    ("divide denominator", lambda x: money.divide(1, x, HALF_UP)),
    ("tax_exclusive net", lambda x: money.tax_exclusive(x, 190_000)),
    ("tax_exclusive rate", lambda x: money.tax_exclusive(1000, x)),
    ("tax_inclusive gross", lambda x: money.tax_inclusive(x, 190_000)),
    ("tax_inclusive rate", lambda x: money.tax_inclusive(1000, x)),
    ("net_of_inclusive gross", lambda x: money.net_of_inclusive(x, 190_000)),
    ("net_of_inclusive rate", lambda x: money.net_of_inclusive(1000, x)),
    ("percent_of amount", lambda x: money.percent_of(x, 1000, HALF_UP)),
    ("percent_of basis_points", lambda x: money.percent_of(1000, x, HALF_UP)),
    ("round_cash amount", lambda x: money.round_cash(x, 5, HALF_UP)),
    ("round_cash coin", lambda x: money.round_cash(1000, x, HALF_UP)),
    ("allocate total", lambda x: money.allocate(x, [1, 2])),
    ("allocate first weight", lambda x: money.allocate(100, [x, 2])),
    ("allocate last weight", lambda x: money.allocate(100, [1, 2, x])),
    ("format minor", lambda x: money.format(x, EUR)),
    ("Currency exponent", lambda x: Currency("EUR", x)),
]
SITE_IDS = [name for name, _ in INT_ARGUMENT_SITES]
SITES = [call for _, call in INT_ARGUMENT_SITES]


@pytest.mark.parametrize("call", SITES, ids=SITE_IDS)
@pytest.mark.parametrize("value", [FLOAT, TRUE, False, Decimal(1), Fraction(1), "1", None])
def test_int_arguments_refuse_everything_but_int(call: Callable[[Any], object], value: Any) -> None:
    with pytest.raises(MoneyError, match="must be an int"):
        call(value)


@given(
    value=st.one_of(st.floats(), st.booleans(), st.decimals(), st.fractions(), st.complex_numbers())
)
def test_int_arguments_refuse_generated_non_ints(value: Any) -> None:
    for call in SITES:
        with pytest.raises(MoneyError):
            call(value)


@pytest.mark.parametrize("mode", ["half_up", "HALF_UP", None, 1])
def test_mode_must_be_a_rounding(mode: Any) -> None:
    with pytest.raises(MoneyError, match="Rounding"):
        money.divide(1, 2, mode)
    with pytest.raises(MoneyError, match="Rounding"):
        money.round_cash(1000, 5, mode)
    with pytest.raises(MoneyError, match="Rounding"):
        money.tax_exclusive(1000, 190_000, mode)


def test_every_function_is_bounded_except_divide() -> None:
    beyond = MAX_ABS_MINOR + 1
    for call in (
        lambda: money.tax_exclusive(beyond, 190_000),
        lambda: money.tax_inclusive(-beyond, 190_000),
        lambda: money.net_of_inclusive(beyond, 190_000),
        lambda: money.percent_of(beyond, 100, HALF_UP),
        lambda: money.round_cash(beyond, 5, HALF_UP),
        lambda: money.allocate(-beyond, [1]),
    ):
        with pytest.raises(MoneyError, match="within"):
            call()
    assert money.divide(10**40, 10**20, DOWN) == 10**20
