"""Tests for ``protocol.barcodes``: known answers from the standards, then properties and fuzz.

Every known answer below was checked by hand; the arithmetic is in the comments. The references
in this file (check digit, price verifier, century rule) are written independently of the
implementation, from the rules as the standards state them. No ``float`` appears anywhere.
"""

from __future__ import annotations

import ast
import inspect
import string
from collections.abc import Callable
from datetime import date
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from protocol import barcodes
from protocol.barcodes import (
    GS,
    LAYOUT_SETS,
    LAYOUTS,
    MAX_SCAN_LENGTH,
    ElementString,
    Gtin,
    MeasureKind,
    Symbology,
    VariableMeasure,
    VariableMeasureLayout,
    encode_variable_measure,
    expand_upce,
    gs1_check_digit,
    parse_element_string,
    parse_scan,
    parse_variable_measure,
    price_check_digit,
    to_gtin14,
)
from protocol.errors import BarcodeError

DIGITS = "0123456789"

# --------------------------------------------------------------------------- references


def ref_check_ok(code: str) -> bool:
    """GS1 7.9.1 restated: with the check digit weighted 1, then 3, 1, 3, … leftwards, the
    weighted sum of the whole code is a multiple of 10."""
    total = sum(int(c) * (3 if i % 2 else 1) for i, c in enumerate(reversed(code)))
    return total % 10 == 0


def with_check(body: str) -> str:
    """``body`` plus the one digit that makes :func:`ref_check_ok` true (found by search)."""
    return next(body + d for d in DIGITS if ref_check_ok(body + d))


# GS1 General Specifications 7.9.3, the weighting-factor tables as printed there.
W2_MINUS = (0, 2, 4, 6, 8, 9, 1, 3, 5, 7)
W3 = (0, 3, 6, 9, 2, 5, 8, 1, 4, 7)
W5_PLUS = (0, 5, 1, 6, 2, 7, 3, 8, 4, 9)
W5_MINUS = (0, 5, 9, 4, 8, 3, 7, 2, 6, 1)


def ref_price_check(field: str) -> int:
    d = [int(c) for c in field]
    if len(d) == 4:
        return (W2_MINUS[d[0]] + W2_MINUS[d[1]] + W3[d[2]] + W5_MINUS[d[3]]) * 3 % 10
    total = W5_PLUS[d[0]] + W2_MINUS[d[1]] + W5_MINUS[d[2]] + W5_PLUS[d[3]] + W2_MINUS[d[4]]
    # the check digit is the one whose 5- product completes the sum to a multiple of 10
    return next(c for c in range(10) if (total + W5_MINUS[c]) % 10 == 0)


def ref_year(yy: int, reference_year: int) -> int:
    """GS1 7.12: the year within 49 years before and 50 years after the reference year."""
    return next(y for y in range(reference_year - 49, reference_year + 51) if y % 100 == yy)


def ref_lookup_key(layout: VariableMeasureLayout, code: str) -> str:
    zeroed = "".join("0" if p in "VC" else c for p, c in zip(layout.pattern, code, strict=True))
    return with_check(zeroed[:-1]).zfill(14)


def only_barcode_error(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call ``function``; a BarcodeError is fine, any other exception fails the test."""
    try:
        return function(*args, **kwargs)
    except BarcodeError:
        return None


# --------------------------------------------------------------------------- check digits


@pytest.mark.parametrize(
    ("code", "name"),
    [
        # 4 0 0 6 3 8 1 3 3 3 9 3 | 1: from the right 3·3+9+3·3+3+3·3+1+3·8+3+3·6+0+3·0+4 = 89
        ("4006381333931", "EAN-13"),
        ("5901234123457", "EAN-13"),
        # 9 6 3 8 5 0 7 | 4: 3·7+0+3·5+8+3·3+6+3·9 = 86
        ("96385074", "EAN-8"),
        # 7 3 5 1 3 5 3 | 7: 3·3+5+3·3+1+3·5+3+3·7 = 63
        ("73513537", "EAN-8"),
        # 0 3 6 0 0 0 2 9 1 4 5 | 2: 3·5+4+3·1+9+3·2+0+0+0+3·6+3+0 = 58
        ("036000291452", "UPC-A"),
        # 1 0 0 1 2 3 4 5 6 7 8 9 0 | 2: 0+9+3·8+7+3·6+5+3·4+3+3·2+1+0+0+3·1 = 88
        ("10012345678902", "GTIN-14"),
        # the GTIN of the GS1 General Specifications' own examples: sum 78, check 2
        ("09506000134352", "GTIN-14"),
    ],
)
def test_known_check_digits(code: str, name: str) -> None:
    assert gs1_check_digit(code[:-1]) == int(code[-1])
    assert to_gtin14(code) == code.zfill(14)
    wrong = code[:-1] + str((int(code[-1]) + 1) % 10)
    with pytest.raises(BarcodeError, match=rf"{name} check digit is \d, expected {code[-1]}"):
        to_gtin14(wrong)


def test_check_digit_error_message_names_the_code() -> None:
    with pytest.raises(BarcodeError) as caught:
        to_gtin14("4006381333932")
    assert str(caught.value) == "EAN-13 check digit is 2, expected 1 in '4006381333932'"


@pytest.mark.parametrize("bad", ["", "ABC", "12 34", "٣٣٣", "²", "0036000291452\n"])
def test_check_digit_refuses_non_digits(bad: str) -> None:
    with pytest.raises(BarcodeError, match="digits"):
        gs1_check_digit(bad)
    with pytest.raises(BarcodeError, match="digits"):
        to_gtin14(bad)


def test_gtin_error_message_for_letters() -> None:
    with pytest.raises(BarcodeError) as caught:
        to_gtin14("ABC")
    assert str(caught.value) == "GTIN must be digits only, got 'ABC'"


@pytest.mark.parametrize("length", [1, 5, 7, 9, 10, 11, 15, 18])
def test_gtin_lengths_other_than_8_12_13_14_are_refused(length: int) -> None:
    with pytest.raises(BarcodeError, match="8, 12, 13 or 14 digits"):
        to_gtin14(with_check("1" * (length - 1)) if length > 1 else "1")


def test_one_product_one_key_across_representations() -> None:
    key = "00036000291452"
    assert to_gtin14("036000291452") == key  # UPC-A
    assert to_gtin14("0036000291452") == key  # EAN-13
    assert to_gtin14("00036000291452") == key  # GTIN-14
    assert parse_scan("036000291452") == Gtin(key, Symbology.UPCA)
    assert parse_scan("]E00036000291452") == Gtin(key, Symbology.EAN13)
    assert parse_scan("(01)00036000291452").gtin == key  # type: ignore[union-attr]


def test_symbology_hint_must_agree_with_length() -> None:
    assert to_gtin14("96385074", symbology=Symbology.EAN8) == "00000096385074"
    with pytest.raises(BarcodeError, match="ean-13 must be 13 digits, got 12"):
        to_gtin14("036000291452", symbology=Symbology.EAN13)
    with pytest.raises(BarcodeError, match="does not carry a bare GTIN"):
        to_gtin14("036000291452", symbology=Symbology.GS1_128)
    with pytest.raises(BarcodeError, match="symbology must be a Symbology"):
        to_gtin14("036000291452", symbology="code-39")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- UPC-E


@pytest.mark.parametrize(
    ("upce", "upca"),
    [
        # last digit 0-2: d1 d2 d6 0 0 | 0 0 d3 d4 d5. 425261 -> 0 42100 00526 + check:
        # 3·6+2+3·5+0+0+0+0+1+3·2+4+0 = 46 -> 4. (The UPC-E check digit is the UPC-A one.)
        ("04252614", "042100005264"),
        # GS1 US / Wikipedia's UPC-E example 0 654321 7: d6 = 1 -> 0 65100 00432 + check:
        # 3·2+3+3·4+0+0+0+0+1+3·5+6+0 = 43 -> 7
        ("06543217", "065100004327"),
        # last digit 3: d1 d2 d3 0 0 | 0 0 0 d4 d5. 418263 -> 0 41800 00026 + check:
        # 3·6+2+0+0+0+0+0+8+3·1+4+0 = 35 -> 5
        ("04182635", "041800000265"),
        # last digit 4: d1 d2 d3 d4 0 | 0 0 0 0 d5. 123454 -> 0 12340 00005 + check:
        # 3·5+0+0+0+0+0+3·4+3+3·2+1+0 = 37 -> 3
        ("01234543", "012340000053"),
        # last digit 5-9: d1 … d5 | 0 0 0 0 d6. 123456 -> 0 12345 00006 + check:
        # 3·6+0+0+0+0+5+3·4+3+3·2+1+0 = 45 -> 5
        ("01234565", "012345000065"),
        # number system 1: 1 42100 00526 + check: 46 + 3·1 = 49 -> 1
        ("14252611", "142100005261"),
    ],
)
def test_upce_expansion(upce: str, upca: str) -> None:
    assert expand_upce(upce) == upca
    assert ref_check_ok(upca)
    # 7 digits are number system + data; 6 digits are the data with number system 0
    assert expand_upce(upce[:7]) == upca
    if upce[0] == "0":
        assert expand_upce(upce[1:7]) == upca
    assert to_gtin14(upce, symbology=Symbology.UPCE) == "00" + upca
    scanned = parse_scan(upce, symbology=Symbology.UPCE)
    assert scanned == Gtin("00" + upca, Symbology.UPCE)
    # how a scanner sends the same symbol with an AIM identifier: expanded, 13 digits
    assert parse_scan("]E00" + upca) == Gtin("00" + upca, Symbology.EAN13)


def test_brief_example_0425261() -> None:
    assert expand_upce("0425261") == "042100005264"


def test_upce_errors() -> None:
    with pytest.raises(BarcodeError, match="UPC-E check digit is 5, expected 4"):
        expand_upce("04252615")
    with pytest.raises(BarcodeError, match="number system must be 0 or 1, got 2"):
        expand_upce("2425261")
    with pytest.raises(BarcodeError, match="6, 7 or 8 digits"):
        expand_upce("12345")
    with pytest.raises(BarcodeError, match="only be a UPC-E"):
        parse_scan("0425261")


def test_eight_digits_are_ean8_unless_told_upce() -> None:
    # Read as an EAN-8, 0425261 needs check digit 0 (3·1+6+3·2+5+3·2+4+3·0 = 30), so the
    # UPC-E 04252614 is refused as an EAN-8; only the hint makes it a UPC-E.
    with pytest.raises(BarcodeError, match="EAN-8 check digit is 4, expected 0"):
        parse_scan("04252614")
    assert parse_scan("04252614", symbology=Symbology.UPCE) == Gtin(
        "00042100005264", Symbology.UPCE
    )
    assert parse_scan("]E473513537") == Gtin("00000073513537", Symbology.EAN8)


# --------------------------------------------------------------------------- price verifier


def test_price_check_digit_worked_examples() -> None:
    # GS1 General Specifications 7.9.3, four-digit price 2875:
    # 2 (2-) -> 4, 8 (2-) -> 16 -> 6-1 = 5, 7 (3) -> 21 -> 1, 5 (5-) -> 25 -> 5-2 = 3;
    # sum 13, × 3 = 39 -> check digit 9
    assert price_check_digit("2875") == 9
    # five-digit price 14685: 1 (5+) -> 5, 4 (2-) -> 8, 6 (5-) -> 30 -> 0-3 = 7,
    # 8 (5+) -> 40 -> 0+4 = 4, 5 (2-) -> 10 -> 0-1 = 9; sum 33; 40 - 33 = 7, and the digit
    # whose 5- product is 7 is 6 (6 × 5 = 30 -> 0-3 = 7)
    assert price_check_digit("14685") == 6


def test_price_check_digit_matches_the_spec_tables_exhaustively() -> None:
    for n in range(10_000):
        field = f"{n:04d}"
        assert price_check_digit(field) == ref_price_check(field)
    for n in range(0, 100_000, 7):
        field = f"{n:05d}"
        assert price_check_digit(field) == ref_price_check(field)


@pytest.mark.parametrize("bad", ["123", "123456", "12a4", ""])
def test_price_check_digit_needs_4_or_5_digits(bad: str) -> None:
    with pytest.raises(BarcodeError):
        price_check_digit(bad)


@given(st.text(DIGITS, min_size=4, max_size=5), st.data())
def test_price_check_digit_catches_any_single_digit_error(field: str, data: st.DataObject) -> None:
    position = data.draw(st.integers(0, len(field) - 1))
    new = data.draw(st.sampled_from(DIGITS).filter(lambda d: d != field[position]))
    mutated = field[:position] + new + field[position + 1 :]
    assert price_check_digit(mutated) != price_check_digit(field)


# --------------------------------------------------------------------------- variable measure

SE = LAYOUT_SETS["gs1-se"]
UK = LAYOUT_SETS["gs1-uk"]


def test_sweden_weight_example() -> None:
    # GS1 Sweden prefix 23 = weight in kg with 3 decimals: 23 | 123456 | 1234 | K.
    # K: 2 3 1 2 3 4 5 6 1 2 3 4 from the right 3·4+3+3·2+1+3·6+5+3·4+3+3·2+1+3·3+2 = 78 -> 2
    # Lookup key: value zeroed, 231234560000: 0+0+0+0+18+5+12+3+6+1+9+2 = 56 -> 4
    scanned = parse_scan("2312345612342", layouts=SE)
    assert scanned == VariableMeasure(
        lookup_key="02312345600004",
        kind=MeasureKind.WEIGHT,
        value=1234,  # 1.234 kg
        layout_name="gs1-se-weight-3dp",
        raw="2312345612342",
        item_reference="123456",
        symbology=Symbology.EAN13,
    )


def test_sweden_price_decimals() -> None:
    # prefix 21 = price in kronor with 1 decimal: field 0995 = 99.5 kr = 9950 öre.
    # 21 123456 0995 K: 3·5+9+3·9+0+3·6+5+3·4+3+3·2+1+3·1+2 = 101 -> 9
    scanned = parse_scan("2112345609959", layouts=SE)
    assert isinstance(scanned, VariableMeasure)
    assert (scanned.kind, scanned.value, scanned.layout_name) == (
        MeasureKind.PRICE,
        9950,
        "gs1-se-price-1dp",
    )
    # prefix 22 = whole kronor: field 0120 = 120 kr; in a 0-decimal currency that is 120
    code = encode_variable_measure(LAYOUTS["gs1-se-price-0dp"], "123456", 12_000)
    assert code[8:12] == "0120"
    assert parse_scan(code, layouts=SE).value == 12_000  # type: ignore[union-attr]
    assert parse_scan(code, layouts=SE, currency_exponent=0).value == 120  # type: ignore[union-attr]


def test_uk_branded_price_example() -> None:
    # GS1 UK branded variable measure 20XXX RR V PPPP C: 20 123 45, verifier over 2875 = 9
    # (the spec's own worked example), £28.75.
    # K: 2 0 1 2 3 4 5 9 2 8 7 5: 3·5+7+3·8+2+3·9+5+3·4+3+3·2+1+3·0+2 = 104 -> 6
    # Lookup key 201234500000: 0+0+0+0+0+5+12+3+6+1+0+2 = 29 -> 1
    scanned = parse_scan("2012345928756", layouts=UK)
    assert scanned == VariableMeasure(
        lookup_key="02012345000001",
        kind=MeasureKind.PRICE,
        value=2875,
        layout_name="gs1-uk-branded-price",
        raw="2012345928756",
        item_reference="12345",
        symbology=Symbology.EAN13,
    )
    # the same scan with an AIM identifier, and with prefix 28
    assert parse_scan("]E02012345928756", layouts=UK) == scanned
    assert encode_variable_measure(UK[0], "12345", 2875, prefix="28")[:2] == "28"


def test_upca_price_verifier_example() -> None:
    # UPC-A 2 IIIII C PPPP K: item 12345, $1.99: verifier over 0199:
    # 0 (2-) -> 0, 1 (2-) -> 2, 9 (3) -> 27 -> 7, 9 (5-) -> 45 -> 5-4 = 1; 10 × 3 = 30 -> 0
    # K: 2 1 2 3 4 5 0 0 1 9 9: 3·9+9+3·1+0+3·0+5+3·4+3+3·2+1+3·2 = 72 -> 8
    # Lookup key 21234500000: 0+0+0+0+0+5+12+3+6+1+6 = 33 -> 7
    layouts = (LAYOUTS["generic-upca-price-verifier"],)
    scanned = parse_scan("212345001998", layouts=layouts)
    assert isinstance(scanned, VariableMeasure)
    assert (scanned.lookup_key, scanned.value, scanned.symbology) == (
        "00212345000007",
        199,
        Symbology.UPCA,
    )
    assert parse_scan("]E00212345001998", layouts=layouts) == VariableMeasure(
        "00212345000007", MeasureKind.PRICE, 199, layouts[0].name, "212345001998", "12345",
        Symbology.EAN13,
    )  # fmt: skip


def test_wrong_price_verifier_is_refused() -> None:
    # 2012345828759: verifier 8 instead of 9, overall check digit made right again
    code = with_check("201234582875")
    with pytest.raises(BarcodeError, match="price/weight check digit is 8, expected 9"):
        parse_scan(code, layouts=UK)


def test_restricted_code_without_layout_is_a_plain_restricted_gtin() -> None:
    assert parse_scan("2312345612342") == Gtin("02312345612342", Symbology.EAN13, restricted=True)
    # prefix 26 is not Swedish: no value is guessed
    code = with_check("261234561234")
    assert parse_scan(code, layouts=SE) == Gtin(code.zfill(14), Symbology.EAN13, restricted=True)
    assert parse_variable_measure(code, layouts=SE) is None
    # RCN-8 (EAN-8 prefixes 0 and 2), company-internal 04, and a normal GTIN
    assert parse_scan(with_check("0234567")).restricted  # type: ignore[union-attr]
    assert parse_scan(with_check("2234567")).restricted  # type: ignore[union-attr]
    assert parse_scan(with_check("041234567890")).restricted  # type: ignore[union-attr]
    assert not parse_scan("96385074").restricted  # type: ignore[union-attr]
    assert not parse_scan("4006381333931").restricted  # type: ignore[union-attr]


def test_first_matching_layout_wins() -> None:
    generic = LAYOUTS["generic-ean13-price-verifier"]
    assert parse_scan("2012345928756", layouts=(*UK, generic)).layout_name == UK[0].name  # type: ignore[union-attr]
    assert parse_scan("2012345928756", layouts=(generic, *UK)).layout_name == generic.name  # type: ignore[union-attr]


def test_price_field_finer_than_the_currency_is_refused_not_rounded() -> None:
    # GS1 Sweden prefix 20 (2 decimals) in a 0-decimal currency: 12.34 is not whole units
    code = encode_variable_measure(LAYOUTS["gs1-se-price-2dp"], "123456", 1234)
    with pytest.raises(BarcodeError, match="not a whole number of minor units"):
        parse_scan(code, layouts=SE, currency_exponent=0)
    # 12.00 is fine
    code = encode_variable_measure(LAYOUTS["gs1-se-price-2dp"], "123456", 1200)
    assert parse_scan(code, layouts=SE, currency_exponent=0).value == 12  # type: ignore[union-attr]


def test_weight_with_more_than_three_decimals_must_be_whole_grams() -> None:
    layout = VariableMeasureLayout("mg", ("29",), "PPIIIIIVVVVVK", MeasureKind.WEIGHT, 4)
    assert parse_scan(with_check("291234512340"), layouts=[layout]).value == 1234  # type: ignore[union-attr]
    with pytest.raises(BarcodeError, match="not a whole number of grams"):
        parse_scan(with_check("291234512345"), layouts=[layout])


def test_count_layout() -> None:
    layout = VariableMeasureLayout("pieces", ("27",), "PPIIIIIVVVVVK", MeasureKind.COUNT, 0)
    code = encode_variable_measure(layout, "55555", 12)
    assert code[7:12] == "00012"
    scanned = parse_scan(code, layouts=[layout])
    assert isinstance(scanned, VariableMeasure)
    assert (scanned.kind, scanned.value) == (MeasureKind.COUNT, 12)


def test_layouts_are_named_data() -> None:
    assert set(LAYOUT_SETS["gs1-se"]) <= set(LAYOUTS.values())
    assert {layout.name for layout in SE} == {
        "gs1-se-price-2dp",
        "gs1-se-price-1dp",
        "gs1-se-price-0dp",
        "gs1-se-weight-3dp",
        "gs1-se-weight-2dp",
        "gs1-se-weight-1dp",
    }
    for name, layout in LAYOUTS.items():
        assert layout.name == name
    with pytest.raises(TypeError):
        LAYOUTS["x"] = SE[0]  # type: ignore[index]
    # a layout may be given its kind as text, as when loaded from a JSON config
    loaded = VariableMeasureLayout("cfg", ["24"], "PPIIIIIIVVVVK", "weight", 2)  # type: ignore[arg-type]
    assert loaded.prefixes == ("24",)
    assert loaded.value_kind is MeasureKind.WEIGHT
    assert loaded == VariableMeasureLayout("cfg", ("24",), "PPIIIIIIVVVVK", MeasureKind.WEIGHT, 2)


@pytest.mark.parametrize(
    ("prefixes", "pattern", "kind", "decimals", "message"),
    [
        (("20",), "PPIIIIVVVVK", MeasureKind.PRICE, 2, "12 or 13"),
        (("20",), "PPIIIIIVVVVVVK", MeasureKind.PRICE, 2, "12 or 13"),
        (("20",), "PPIIIIIXVVVVK", MeasureKind.PRICE, 2, "only P, I, V, C, K"),
        (("20",), "IPPIIIICVVVVK", MeasureKind.PRICE, 2, "start with its P run"),
        (("20",), "PPIIIIICVVVKV", MeasureKind.PRICE, 2, "end in one K"),
        (("20",), "PPIIIVVIIVVVK", MeasureKind.PRICE, 2, "one run of V"),
        (("20",), "PPCVVVVVVVVVK", MeasureKind.PRICE, 2, "no item reference"),
        (("20",), "PPIIIIIICVVVK", MeasureKind.PRICE, 2, "4- or 5-digit V"),
        (("20",), "PPIIIICCVVVVK", MeasureKind.PRICE, 2, "4- or 5-digit V"),
        (("40",), "PPIIIIICVVVVK", MeasureKind.PRICE, 2, "restricted circulation range"),
        (("04",), "PPIIIIICVVVVK", MeasureKind.PRICE, 2, "restricted circulation range"),
        (("3",), "PIIIIICVVVVK", MeasureKind.PRICE, 2, "restricted circulation range"),
        (("2",), "PPIIIIICVVVVK", MeasureKind.PRICE, 2, "must be 2 digits"),
        ("20", "PPIIIIICVVVVK", MeasureKind.PRICE, 2, "tuple of str"),
        ((), "PPIIIIICVVVVK", MeasureKind.PRICE, 2, "non-empty and distinct"),
        (("20", "20"), "PPIIIIICVVVVK", MeasureKind.PRICE, 2, "non-empty and distinct"),
        (("20",), "PPIIIIICVVVVK", "volume", 2, "unknown value kind"),
        (("20",), "PPIIIIICVVVVK", MeasureKind.COUNT, 1, "count has no decimals"),
        (("20",), "PPIIIIICVVVVK", MeasureKind.PRICE, 10, "value_decimals must be 0..9"),
        (("20",), "PPIIIIICVVVVK", MeasureKind.PRICE, True, "must be an int"),
    ],
)
def test_layout_validation(
    prefixes: Any, pattern: str, kind: Any, decimals: Any, message: str
) -> None:
    with pytest.raises(BarcodeError, match=message):
        VariableMeasureLayout("bad", prefixes, pattern, kind, decimals)


def test_encode_variable_measure_refuses_what_the_field_cannot_hold() -> None:
    layout = LAYOUTS["gs1-se-weight-2dp"]  # 4 digits, kg with 2 decimals: 10 g steps
    with pytest.raises(BarcodeError, match="cannot be written with 2 decimals"):
        encode_variable_measure(layout, "123456", 1234)
    with pytest.raises(BarcodeError, match="does not fit the 4-digit field"):
        encode_variable_measure(layout, "123456", 100_000)
    with pytest.raises(BarcodeError, match=r"value must be 0\.\."):
        encode_variable_measure(layout, "123456", -10)
    with pytest.raises(BarcodeError, match="6-digit item reference"):
        encode_variable_measure(layout, "12345", 1230)
    with pytest.raises(BarcodeError, match="not one of layout"):
        encode_variable_measure(layout, "123456", 1230, prefix="20")


def test_parse_variable_measure_validates_its_input() -> None:
    with pytest.raises(BarcodeError, match="12 or 13 digits"):
        parse_variable_measure("96385074", layouts=SE)
    with pytest.raises(BarcodeError, match="check digit"):
        parse_variable_measure("2312345612343", layouts=SE)
    with pytest.raises(BarcodeError, match="sequence of VariableMeasureLayout"):
        parse_variable_measure("2312345612342", layouts="gs1-se")  # type: ignore[arg-type]
    with pytest.raises(BarcodeError, match="hold VariableMeasureLayout"):
        parse_scan("2312345612342", layouts=["gs1-se"])  # type: ignore[list-item]
    with pytest.raises(BarcodeError, match=r"currency exponent must be 0\.\.4"):
        parse_scan("2312345612342", layouts=SE, currency_exponent=5)


layout_strategy = st.sampled_from(list(LAYOUTS.values()))


@given(layout_strategy, st.integers(0, 4), st.data())
def test_variable_measure_round_trip(
    layout: VariableMeasureLayout, exponent: int, data: st.DataObject
) -> None:
    prefix = data.draw(st.sampled_from(layout.prefixes))
    item = data.draw(st.text(DIGITS, min_size=layout.item_digits, max_size=layout.item_digits))
    field_value = data.draw(st.integers(0, 10**layout.value_digits - 1))
    unit = {MeasureKind.WEIGHT: 3, MeasureKind.PRICE: exponent, MeasureKind.COUNT: 0}
    exact = Fraction(field_value, 10**layout.value_decimals) * 10 ** unit[layout.value_kind]
    assume(exact.denominator == 1)
    value = int(exact)
    code = encode_variable_measure(layout, item, value, prefix=prefix, currency_exponent=exponent)
    assert len(code) == len(layout.pattern)
    assert ref_check_ok(code)
    scanned = parse_scan(code, layouts=[layout], currency_exponent=exponent)
    assert scanned == VariableMeasure(
        lookup_key=ref_lookup_key(layout, code),
        kind=layout.value_kind,
        value=value,
        layout_name=layout.name,
        raw=code,
        item_reference=item,
        symbology=Symbology.EAN13 if len(code) == 13 else Symbology.UPCA,
    )
    # the same symbol sent as the 13-digit ]E0 packet decodes to the same item and value
    via_aim = parse_scan("]E0" + code.zfill(13), layouts=[layout], currency_exponent=exponent)
    assert isinstance(via_aim, VariableMeasure)
    assert (via_aim.lookup_key, via_aim.value) == (scanned.lookup_key, value)
    # one article, one key, whatever the value; and the key is a valid GTIN-14
    other = encode_variable_measure(layout, item, 0, prefix=prefix, currency_exponent=exponent)
    assert parse_scan(other, layouts=[layout]).lookup_key == scanned.lookup_key  # type: ignore[union-attr]
    assert to_gtin14(scanned.lookup_key) == scanned.lookup_key


# --------------------------------------------------------------------------- element strings


def test_bracketed_element_string() -> None:
    scanned = parse_scan("(01)09506000134352(17)201231(10)ABC123")
    assert scanned == ElementString((("01", "09506000134352"), ("17", "201231"), ("10", "ABC123")))
    assert isinstance(scanned, ElementString)
    assert scanned.gtin == "09506000134352"
    assert scanned.expiry == date(2020, 12, 31)
    assert scanned.batch == "ABC123"
    assert scanned.serial is None
    assert scanned.symbology is None


def test_raw_element_string_with_separators_and_identifiers() -> None:
    expected = (("01", "09506000134352"), ("17", "201231"), ("10", "ABC123"), ("21", "XYZ-9"))
    # 01 and 17 have predefined lengths: no separator; 10 is variable: GS ends it
    raw = "0109506000134352" + "17201231" + "10ABC123" + GS + "21XYZ-9"
    for identifier, symbology in [
        ("]C1", Symbology.GS1_128),
        ("]e0", Symbology.GS1_DATABAR),
        ("]d2", Symbology.GS1_DATAMATRIX),
        ("]Q3", Symbology.GS1_QR),
    ]:
        assert parse_scan(identifier + raw) == ElementString(expected, symbology)
        assert parse_element_string(identifier + raw) == ElementString(expected, symbology)
    # no identifier: the GS tells it is an element string
    assert parse_scan(raw) == ElementString(expected)
    # a leading FNC1 and a (needless) separator after a predefined-length element are fine
    assert parse_scan("]d2" + GS + "0109506000134352" + GS + "10ABC123" + GS).elements == (  # type: ignore[union-attr]
        ("01", "09506000134352"),
        ("10", "ABC123"),
    )


def test_databar_without_identifier_is_read_as_element_string() -> None:
    # 16 digits are no GTIN; a scanner without identifiers sends DataBar like this
    assert parse_scan("0109506000134352") == ElementString((("01", "09506000134352"),))


def test_element_string_values() -> None:
    scanned = parse_element_string(
        "]C10109506000134352" + "3103001250" + "3922" + "1299" + GS + "15240200" + "30" + "12",
        reference_year=2024,
    )
    assert scanned.net_weight_g == 1250  # 1.250 kg
    assert scanned.net_weight_mg == 1_250_000
    assert scanned.price_minor(2) == 1299
    assert scanned.price_minor(3) == 12990
    assert scanned.price_currency is None
    assert scanned.best_before == date(2024, 2, 29)  # DD = 00: last day of the month
    assert scanned.count == 12
    assert scanned.get("99") is None


def test_price_with_currency_and_exactness() -> None:
    # 393n: ISO 4217 numeric currency then the price; 978 is EUR
    scanned = parse_element_string("(3932)9781299")
    assert (scanned.price_currency, scanned.price_minor(2)) == ("978", 1299)
    # three decimals in a two-decimal currency: 12.340 is exact, 12.345 is not
    assert parse_element_string("(3923)12340").price_minor(2) == 1234
    with pytest.raises(BarcodeError, match="not a whole number of minor units"):
        parse_element_string("(3923)12345").price_minor(2)
    assert parse_element_string("(3920)500").price_minor(0) == 500  # e.g. JPY
    with pytest.raises(BarcodeError, match="exceeds"):
        parse_element_string("(3920)999999999999999").price_minor(2)
    with pytest.raises(BarcodeError, match="currency exponent"):
        parse_element_string("(3920)500").price_minor(-1)
    assert parse_element_string("(01)09506000134352").price_minor(2) is None


def test_net_weight_finer_than_a_gram() -> None:
    scanned = parse_element_string("(3105)012345")  # 0.12345 kg = 123.45 g
    assert scanned.net_weight_mg == 123_450
    with pytest.raises(BarcodeError, match="not a whole number of grams"):
        _ = scanned.net_weight_g
    assert parse_element_string("(3105)012300").net_weight_g == 123
    assert parse_element_string("(3100)000002").net_weight_g == 2000


@pytest.mark.parametrize(
    ("yymmdd", "reference_year", "expected"),
    [
        ("201231", 2000, date(2020, 12, 31)),
        ("500101", 2000, date(2050, 1, 1)),  # 50 ahead: same century
        ("510101", 2000, date(1951, 1, 1)),  # 51 ahead: previous century
        ("740101", 2024, date(2074, 1, 1)),
        ("750101", 2024, date(1975, 1, 1)),
        ("250101", 2075, date(2125, 1, 1)),  # 50 behind: next century
        ("260101", 2075, date(2026, 1, 1)),
        ("240200", 2024, date(2024, 2, 29)),  # day 00: last day, leap year
        ("230200", 2024, date(2023, 2, 28)),
        ("000229", 2000, date(2000, 2, 29)),
        ("991100", 2000, date(1999, 11, 30)),
    ],
)
def test_date_century_rule_and_day_zero(yymmdd: str, reference_year: int, expected: date) -> None:
    scanned = parse_scan(f"(17){yymmdd}", reference_year=reference_year)
    assert isinstance(scanned, ElementString)
    assert scanned.expiry == expected
    assert scanned.date_of("17") == expected


@given(st.integers(0, 99), st.integers(1900, 2999))
def test_century_rule_property(yy: int, reference_year: int) -> None:
    scanned = parse_element_string(f"(11){yy:02d}0101", reference_year=reference_year)
    assert scanned.date_of("11") == date(ref_year(yy, reference_year), 1, 1)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("(17)201301", "month 13"),
        ("(17)210230", "no day 30"),
        ("(17)000229", "2100-02 has no day 29"),  # with reference year 2060: 2100, no leap
        ("(01)09506000134353", r"AI \(01\) check digit is 3, expected 2"),
        ("(00)106141411234567890", r"AI \(00\) check digit"),
        ("(01)0950600013435", r"AI \(01\) needs 14 characters, got 13"),
        ("(10)ABC 123", "character set 82"),
        ("(10)" + "A" * 21, r"needs 1\.\.20 characters, got 21"),
        ("(3103)12345A", "digits only"),
        ("(7001)1234", r"unknown Application Identifier \(7001\)"),
        ("(10)A(10)B", r"AI \(10\) appears twice"),
        ("(3102)000100(3103)001000", r"only one net weight"),
        ("(3922)100(3932)978100", r"only one price"),
        ("(01)09506000134352(02)09506000134352", r"only one GTIN"),
        ("(1)23", "2 to 4 digits"),
        ("(01", "unclosed"),
        ("01)09506000134352", "neither a GTIN"),
        ("]C1", "no data"),
        ("]C1" + GS, "no data"),
        ("]C17001123", r"unknown Application Identifier starting '7001'"),
        ("]C101095060001343", r"AI \(01\) needs 14 digits, got only 12"),
        ("]C110ABC" + GS + GS + "21X", "empty element"),
        ("]C1" + "310", "truncated Application Identifier"),
        ("]C1AB12", "expected an Application Identifier at position 0"),
        ("(10)AB" + GS, "character set 82"),
        ("(01)09506000134352" + GS, r"AI \(01\) needs 14 characters, got 15"),
    ],
)
def test_element_string_errors(text: str, message: str) -> None:
    with pytest.raises(BarcodeError, match=message):
        parse_scan(text, reference_year=2060)


def test_predefined_length_ai_we_do_not_know_is_kept_raw() -> None:
    # 3106 is not a defined net-weight AI, but every AI starting 31 has 4 digits and 6 data
    # digits, so it can be skipped over; (03) is reserved with 14 digits
    raw = "]C1" + "3106123456" + "0312345678901234" + "10LOT7"
    assert parse_scan(raw).elements == (  # type: ignore[union-attr]
        ("3106", "123456"),
        ("03", "12345678901234"),
        ("10", "LOT7"),
    )
    assert parse_scan("(3106)123456(10)LOT7").get("3106") == "123456"  # type: ignore[union-attr]
    assert parse_scan("(3106)123456").net_weight_g is None  # type: ignore[union-attr]


def test_element_string_properties_and_encoding() -> None:
    scanned = ElementString((("00", "106141411234567897"), ("10", "A(B)"), ("21", "1")))
    # SSCC check digit: 1 0 6 1 4 1 4 1 1 2 3 4 5 6 7 8 9 from the right
    # 3·9+8+3·7+6+3·5+4+3·3+2+3·1+1+3·4+1+3·4+1+3·6+0+3·1 = 143 -> 7
    assert scanned.sscc == "106141411234567897"
    assert scanned.encode() == "00106141411234567897" + "10A(B)" + GS + "211"
    with pytest.raises(BarcodeError, match="cannot be bracketed"):
        scanned.encode(bracketed=True)
    with pytest.raises(BarcodeError, match="not a YYMMDD date"):
        scanned.date_of("10")


def test_element_string_constructor_validates() -> None:
    with pytest.raises(BarcodeError, match="non-empty tuple"):
        ElementString(())
    with pytest.raises(BarcodeError, match="an \\(AI, value\\) pair"):
        ElementString((("01",),))  # type: ignore[arg-type]
    with pytest.raises(BarcodeError, match="does not carry GS1 element strings"):
        ElementString((("10", "A"),), Symbology.EAN13)
    with pytest.raises(BarcodeError, match=r"reference year must be 1900\.\.2999"):
        ElementString((("10", "A"),), reference_year=1800)


# -- random element strings: build both forms, parse them back


def _x(max_size: int) -> st.SearchStrategy[str]:
    # GS1 character set 82 less '(' (which the bracketed form cannot show)
    return st.text(
        string.ascii_letters + string.digits + "!\"%&')*+,-./:;<=>?_", min_size=1, max_size=max_size
    )


def _n(size: int) -> st.SearchStrategy[str]:
    return st.text(DIGITS, min_size=size, max_size=size)


def _n_upto(size: int) -> st.SearchStrategy[str]:
    return st.text(DIGITS, min_size=1, max_size=size)


def _date() -> st.SearchStrategy[str]:
    return st.builds(
        lambda y, m, d: f"{y:02d}{m:02d}{d:02d}",
        st.integers(0, 99),
        st.integers(1, 12),
        st.integers(0, 28),
    )


ELEMENT_GENERATORS: dict[str, st.SearchStrategy[tuple[str, str]]] = {
    "00": _n(17).map(lambda b: ("00", with_check(b))),
    "01": _n(13).map(lambda b: ("01", with_check(b))),
    "10": _x(20).map(lambda v: ("10", v)),
    "dates": st.tuples(st.sampled_from(["11", "12", "13", "15", "16", "17"]), _date()),
    "20": _n(2).map(lambda v: ("20", v)),
    "21": _x(20).map(lambda v: ("21", v)),
    "30": _n_upto(8).map(lambda v: ("30", v)),
    "310n": st.tuples(st.sampled_from([f"310{n}" for n in range(6)]), _n(6)),
    "price": st.one_of(
        st.tuples(st.sampled_from([f"392{n}" for n in range(10)]), _n_upto(15)),
        st.tuples(st.sampled_from([f"393{n}" for n in range(10)]), _n(3), _n_upto(15)).map(
            lambda t: (t[0], t[1] + t[2])
        ),
    ),
    "240": _x(12).map(lambda v: ("240", v)),
    "41n": st.tuples(st.sampled_from([f"41{n}" for n in range(8)]), _n(12)).map(
        lambda t: (t[0], with_check(t[1]))
    ),
    "422": _n(3).map(lambda v: ("422", v)),
    "7003": _n(10).map(lambda v: ("7003", v)),
    "92": _x(12).map(lambda v: ("92", v)),
    "03": _n(14).map(lambda v: ("03", v)),  # predefined length, not one of ours: kept raw
    "3300": _n(6).map(lambda v: ("3300", v)),
}


@st.composite
def element_tuples(draw: st.DrawFn) -> tuple[tuple[str, str], ...]:
    families = draw(
        st.lists(st.sampled_from(sorted(ELEMENT_GENERATORS)), min_size=1, max_size=5, unique=True)
    )
    elements = tuple(draw(ELEMENT_GENERATORS[family]) for family in families)
    assume(len({ai for ai, _ in elements}) == len(elements))  # two date AIs may coincide
    return elements


@given(element_tuples(), st.integers(1900, 2999))
def test_element_string_round_trip_both_forms(
    elements: tuple[tuple[str, str], ...], reference_year: int
) -> None:
    built = ElementString(elements, reference_year=reference_year)
    raw, bracketed = built.encode(), built.encode(bracketed=True)
    assume(len(bracketed) <= MAX_SCAN_LENGTH - 3)
    for text in (raw, bracketed):
        assert parse_element_string(text, reference_year=reference_year) == built
        scanned = parse_scan("]d2" + text, reference_year=reference_year)
        assert scanned == ElementString(elements, Symbology.GS1_DATAMATRIX, reference_year)
    # every property reads without error (a sub-gram weight or sub-cent price excepted)
    for name in ("gtin", "sscc", "batch", "serial", "expiry", "best_before", "count"):
        getattr(built, name)
    only_barcode_error(lambda: built.net_weight_g)
    only_barcode_error(built.price_minor, 2)


# --------------------------------------------------------------------------- parse_scan input


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty scan"),
        ("4006381333931\r\n", r"control character '\\r' at position 13"),
        ("40063813339\x7f31", "control character"),
        ("4006381333931é", "non-ASCII character 'é'"),
        ("1" * (MAX_SCAN_LENGTH + 1), f"longer than the {MAX_SCAN_LENGTH}"),
        ("]E", "malformed symbology identifier"),
        ("]1A4006381333931", "malformed symbology identifier"),
        ("]C04006381333931", r"\]C0 is not a symbology we read"),
        ("]E212345", "add-on alone"),
        ("]E0036000291452", r"\]E0 must be followed by 13 digits"),
        ("]E44006381333931", r"\]E4 must be followed by 8 digits"),
        ("]E340063813339311", "2- or 5-digit add-on"),
        ("ABC", "neither a GTIN"),
        ("12345678901", "neither a GTIN"),
    ],
)
def test_parse_scan_refuses(text: str, message: str) -> None:
    with pytest.raises(BarcodeError, match=message):
        parse_scan(text)


def test_parse_scan_argument_checks() -> None:
    with pytest.raises(BarcodeError, match="must be a str"):
        parse_scan(4006381333931)  # type: ignore[arg-type]
    with pytest.raises(BarcodeError, match="reference year"):
        parse_scan("4006381333931", reference_year=2025.0)  # type: ignore[arg-type]
    with pytest.raises(BarcodeError, match="upc-a must be digits only"):
        parse_scan("(01)00036000291452", symbology=Symbology.UPCA)
    # 8 digits without a hint are an EAN-8 (this one fails its check digit: 3·0+1+3·0+4+3·2+1
    # +3·1 = 15 -> 5); an element-string hint reads the same digits as AI (11) and a date
    with pytest.raises(BarcodeError, match="EAN-8 check digit is 1, expected 5"):
        parse_scan("11240101")
    scanned = parse_scan("11240101", symbology=Symbology.GS1_DATABAR)
    assert scanned == ElementString((("11", "240101"),), Symbology.GS1_DATABAR)


def test_addon() -> None:
    # ]E3: 13 digits then the add-on; 9780201379624 is an ISBN-13 (EAN-13, sum 76 -> 4)
    assert parse_scan("]E3978020137962412") == Gtin(
        "09780201379624", Symbology.EAN13, restricted=False, addon="12"
    )
    assert parse_scan("]E3978020137962490000").addon == "90000"  # type: ignore[union-attr]


# --------------------------------------------------------------------------- properties


@given(st.text(DIGITS, min_size=1, max_size=17))
def test_appending_the_check_digit_validates(body: str) -> None:
    assert ref_check_ok(body + str(gs1_check_digit(body)))


@given(st.text(DIGITS, min_size=1, max_size=17), st.data())
def test_any_single_digit_change_is_detected(body: str, data: st.DataObject) -> None:
    code = body + str(gs1_check_digit(body))
    position = data.draw(st.integers(0, len(code) - 1))
    new = data.draw(st.sampled_from(DIGITS).filter(lambda d: d != code[position]))
    mutated = code[:position] + new + code[position + 1 :]
    assert gs1_check_digit(mutated[:-1]) != int(mutated[-1])


@given(st.text(DIGITS, min_size=2, max_size=17), st.data())
def test_adjacent_transpositions_detected_unless_they_differ_by_5(
    body: str, data: st.DataObject
) -> None:
    code = body + str(gs1_check_digit(body))
    position = data.draw(st.integers(0, len(code) - 2))
    a, b = code[position], code[position + 1]
    assume(a != b)
    swapped = code[:position] + b + a + code[position + 2 :]
    detected = gs1_check_digit(swapped[:-1]) != int(swapped[-1])
    # weights 3 and 1 differ by 2: the sum changes by 2·(a−b), a multiple of 10 iff |a−b| = 5
    assert detected == (abs(int(a) - int(b)) != 5)


@given(st.text(DIGITS, min_size=11, max_size=11))
def test_to_gtin14_is_consistent_across_representations(body: str) -> None:
    upca = body + str(gs1_check_digit(body))
    key = to_gtin14(upca)
    assert key == "00" + upca
    assert to_gtin14("0" + upca) == key
    assert to_gtin14("00" + upca) == key
    assert parse_scan(upca).gtin14 == key  # type: ignore[union-attr]
    assert parse_scan("]E00" + upca).gtin14 == key  # type: ignore[union-attr]


@given(st.sampled_from([7, 11, 12, 13]).flatmap(lambda n: st.text(DIGITS, min_size=n, max_size=n)))
def test_to_gtin14_is_idempotent(body: str) -> None:
    code = body + str(gs1_check_digit(body))
    key = to_gtin14(code)
    assert len(key) == 14
    assert key.endswith(code)
    assert ref_check_ok(key)
    assert to_gtin14(key) == key


@given(st.sampled_from("01"), st.text(DIGITS, min_size=6, max_size=6))
def test_upce_expands_to_a_valid_upca_that_scans_alike(system: str, data: str) -> None:
    upca = expand_upce(system + data)
    assert len(upca) == 12
    assert upca[0] == system
    assert ref_check_ok(upca)
    eight = system + data + upca[-1]
    assert expand_upce(eight) == upca
    key = parse_scan(eight, symbology=Symbology.UPCE).gtin14  # type: ignore[union-attr]
    assert key == to_gtin14(upca) == parse_scan("]E00" + upca).gtin14  # type: ignore[union-attr]


# --------------------------------------------------------------------------- fuzz

ALL_LAYOUTS = tuple(LAYOUTS.values())
SCAN_ALPHABET = string.printable + GS
hints = st.none() | st.sampled_from(list(Symbology))
# text shaped like scans: identifiers, digits, brackets and separators, to reach deep paths
scan_like = st.lists(
    st.sampled_from(
        ["]E0", "]E3", "]E4", "]C1", "]e0", "]d2", "]Q3", "(", ")", GS, "01", "10", "17", "21"]
        + ["310", "392", "393", "3103", "00", "20", "23", "28", "02", "99", "0", "9", "A", "("]
        + [DIGITS[i:] for i in range(10)]
    ),
    max_size=20,
).map("".join)


def _fuzz_everything(text: str, hint: Symbology | None) -> None:
    scanned = only_barcode_error(parse_scan, text, layouts=ALL_LAYOUTS, symbology=hint)
    if isinstance(scanned, ElementString):
        for name in ("gtin", "sscc", "batch", "serial", "expiry", "best_before", "count"):
            getattr(scanned, name)
        only_barcode_error(lambda: scanned.net_weight_g)
        only_barcode_error(scanned.price_minor, 2)
        scanned.encode()
        only_barcode_error(scanned.encode, bracketed=True)
    only_barcode_error(parse_scan, text, layouts=SE, currency_exponent=0)
    only_barcode_error(parse_element_string, text)
    only_barcode_error(parse_variable_measure, text, layouts=ALL_LAYOUTS)
    only_barcode_error(to_gtin14, text, symbology=hint)
    only_barcode_error(expand_upce, text)
    only_barcode_error(gs1_check_digit, text)
    only_barcode_error(price_check_digit, text)


@given(st.text(max_size=150), hints)
def test_fuzz_arbitrary_text_raises_only_barcode_error(text: str, hint: Symbology | None) -> None:
    _fuzz_everything(text, hint)


@given(st.text(SCAN_ALPHABET, max_size=140), hints)
def test_fuzz_printable_ascii_raises_only_barcode_error(text: str, hint: Symbology | None) -> None:
    _fuzz_everything(text, hint)


@given(scan_like, hints)
def test_fuzz_scan_shaped_text_raises_only_barcode_error(text: str, hint: Symbology | None) -> None:
    _fuzz_everything(text, hint)


@given(st.text(DIGITS, min_size=12, max_size=13))
def test_fuzz_digit_codes_against_every_layout(digits: str) -> None:
    # valid codes of every prefix: a layout either decodes them or (bad verifier, inexact
    # value) refuses them with BarcodeError; nothing else may escape
    code = with_check(digits[:-1])
    scanned = only_barcode_error(parse_scan, code, layouts=ALL_LAYOUTS)
    assert scanned is None or isinstance(scanned, Gtin | VariableMeasure)


# --------------------------------------------------------------------------- hygiene


def test_no_float_and_no_true_division_in_the_module() -> None:
    tree = ast.parse(inspect.getsource(barcodes))
    for node in ast.walk(tree):
        assert not (isinstance(node, ast.Constant) and isinstance(node.value, float)), node.lineno
        assert not isinstance(node, ast.Div), "true division makes floats"
        assert not (isinstance(node, ast.Name) and node.id == "float"), node.lineno


def test_known_ai_lengths_agree_with_the_predefined_length_table() -> None:
    for ai, spec in barcodes._KNOWN_AIS.items():
        predefined = barcodes._PREDEFINED.get(ai[:2])
        if predefined is not None:
            assert (len(ai), spec.min_length, spec.max_length) == (
                predefined[0],
                predefined[1],
                predefined[1],
            ), ai
    # GS1 AIs are prefix-free: no AI of ours is the start of another
    ais = sorted(barcodes._KNOWN_AIS)
    for shorter in ais:
        assert not any(other != shorter and other.startswith(shorter) for other in ais), shorter
