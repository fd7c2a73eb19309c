"""models.units: conversions and the display formatter ``format_si``."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.units import UnitError, format_si, from_si, to_si


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        (1.098e-4, "s", "110 us"),  # 109.8 us rounded to 3 significant digits
        (1.554e-6, "J", "1.55 uJ"),
        (8e12, "B/s", "8 TB/s"),  # trailing zeros dropped: not "8.00 TB/s"
        (1.98e12, "FLOP/s", "1.98 TFLOP/s"),
        (0.25, "W", "250 mW"),
        (-2.5e-3, "W", "-2.5 mW"),  # the sign is kept, the prefix is chosen from |value|
        (1000.0, "B", "1 kB"),  # exactly a power of 1000 takes the larger prefix
        (999.97e-6, "s", "1 ms"),  # rounds to 1000 us: the prefix follows the rounding
        (0.9996, "s", "1 s"),  # rounds to 1000 ms
        (12345678.0, "B", "12.3 MB"),
        (0.0, "J", "0 J"),
        (2.58, "1", "2.58"),  # dimensionless: no unit name, and no prefix from 0.001 to a million
        (0.764, "1", "0.764"),  # a ratio: not "764 m"
        (2.5e3, "1", "2500"),
        (2.5e7, "1", "25 M"),
        (1e-4, "1", "100 u"),
        (1e-18, "J", "0.001 fJ"),  # below f the number shrinks, never an exponent
        (2e18, "B", "2000 PB"),  # above P the number grows
    ],
)
def test_format_si_examples(value: float, unit: str, expected: str) -> None:
    assert format_si(value, unit) == expected


def test_format_si_digits() -> None:
    assert format_si(123.0, "s", digits=2) == "120 s"  # not "1.2e+02 s"
    assert format_si(1.23456e-9, "s", digits=5) == "1.2346 ns"
    assert format_si(1.5e-9, "s", digits=1) == "2 ns"
    with pytest.raises(ValueError, match="digits must be an integer >= 1"):
        format_si(1.0, "s", digits=0)


def test_format_si_non_finite() -> None:
    assert format_si(float("nan"), "s") == "nan s"
    assert format_si(float("inf"), "J") == "inf J"


_PREFIX = {"P": 1e15, "T": 1e12, "G": 1e9, "M": 1e6, "k": 1e3, "": 1.0, "m": 1e-3, "u": 1e-6, "n": 1e-9,
           "p": 1e-12, "f": 1e-15}


@given(st.floats(min_value=1e-15, max_value=9e17, allow_nan=False, allow_infinity=False),
       st.sampled_from(["s", "J", "B/s"]), st.booleans())
def test_format_si_round_trips_within_rounding(v: float, unit: str, negative: bool) -> None:
    """Reading the string back gives the value within half a unit of the last digit, the
    mantissa lies in [1, 1000) and no exponent is ever written."""
    value = -v if negative else v
    text = format_si(value, unit)
    number, name = text.split(" ")
    assert "e" not in number
    prefix = name[: -len(unit)]
    assert prefix in _PREFIX
    mantissa = float(number)
    if prefix not in ("P",):
        assert 1 <= abs(mantissa) < 1000, text
    back = mantissa * _PREFIX[prefix]
    assert math.isclose(back, value, rel_tol=5.01e-3), (value, text)


def test_conversions_keep_gb_and_gib_apart() -> None:
    assert to_si(1, "GB") == 1e9
    assert to_si(1, "GiB") == 2**30
    assert from_si(2e12, "TB/s") == 2.0
    with pytest.raises(UnitError, match="a bandwidth unit is needed"):
        to_si(1, "GB", dimension="bandwidth")
