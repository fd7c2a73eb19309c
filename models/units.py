"""Units: SI inside, conversions only at the edges.

Every quantity inside Tradespace is held in SI base units (seconds, joules, watts,
bytes, bytes per second, operations per second, hertz). Data files and displays use
human units; this module is the single place where the two meet.

GB is 1e9 bytes and GiB is 2**30 bytes; the two are never mixed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = [
    "DIMENSIONS",
    "UNITS",
    "UnitError",
    "dimension_of",
    "format_si",
    "from_si",
    "to_si",
]


class UnitError(ValueError):
    """An unknown unit, or a unit of the wrong dimension."""


@dataclass(frozen=True, kw_only=True)
class _Unit:
    dimension: str
    factor: float  # multiply a value in this unit by factor to get SI


def _table() -> dict[str, _Unit]:
    t: dict[str, _Unit] = {}

    def add(dim: str, names: dict[str, float]) -> None:
        for name, f in names.items():
            t[name] = _Unit(dimension=dim, factor=f)

    add("dimensionless", {"1": 1.0, "%": 0.01})
    add("time", {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9, "ps": 1e-12})
    add("frequency", {"Hz": 1.0, "kHz": 1e3, "MHz": 1e6, "GHz": 1e9})
    add("power", {"W": 1.0, "mW": 1e-3, "uW": 1e-6, "kW": 1e3})
    add("energy", {"J": 1.0, "mJ": 1e-3, "uJ": 1e-6, "nJ": 1e-9, "pJ": 1e-12, "fJ": 1e-15})
    add(
        "bytes",
        {
            "B": 1.0,
            "bit": 1 / 8,
            "KB": 1e3,
            "MB": 1e6,
            "GB": 1e9,
            "TB": 1e12,
            "KiB": 2.0**10,
            "MiB": 2.0**20,
            "GiB": 2.0**30,
            "TiB": 2.0**40,
        },
    )
    add(
        "bandwidth",
        {
            "B/s": 1.0,
            "KB/s": 1e3,
            "MB/s": 1e6,
            "GB/s": 1e9,
            "TB/s": 1e12,
            "GiB/s": 2.0**30,
            "Gbit/s": 1e9 / 8,
        },
    )
    add(
        "op_rate",
        {
            "OP/s": 1.0,
            "GOP/s": 1e9,
            "TOP/s": 1e12,
            "FLOP/s": 1.0,
            "MFLOP/s": 1e6,
            "GFLOP/s": 1e9,
            "TFLOP/s": 1e12,
            "PFLOP/s": 1e15,
        },
    )
    add("energy_per_op", {"J/op": 1.0, "nJ/op": 1e-9, "pJ/op": 1e-12, "fJ/op": 1e-15})
    add(
        "energy_per_byte",
        {"J/B": 1.0, "nJ/B": 1e-9, "pJ/B": 1e-12, "pJ/bit": 8e-12, "fJ/bit": 8e-15},
    )
    add("ops_per_cycle", {"op/cycle": 1.0, "FLOP/cycle": 1.0})
    add("count", {"count": 1.0})
    add("length", {"m": 1.0, "nm": 1e-9, "um": 1e-6})
    add("area", {"m2": 1.0, "mm2": 1e-6})
    return t


UNITS: dict[str, _Unit] = _table()
DIMENSIONS: frozenset[str] = frozenset(u.dimension for u in UNITS.values())

# The SI unit each dimension is stored in, for messages and display.
_SI_NAME = {
    "dimensionless": "1",
    "time": "s",
    "frequency": "Hz",
    "power": "W",
    "energy": "J",
    "bytes": "B",
    "bandwidth": "B/s",
    "op_rate": "OP/s",
    "energy_per_op": "J/op",
    "energy_per_byte": "J/B",
    "ops_per_cycle": "op/cycle",
    "count": "count",
    "length": "m",
    "area": "m2",
}


def dimension_of(unit: str) -> str:
    """Return the dimension name of ``unit`` (for example ``"bandwidth"`` for ``"GB/s"``)."""
    try:
        return UNITS[unit].dimension
    except KeyError:
        raise UnitError(f"unknown unit {unit!r}; allowed: {', '.join(sorted(UNITS))}") from None


def units_of(dimension: str) -> list[str]:
    """All unit names of one dimension."""
    return sorted(n for n, u in UNITS.items() if u.dimension == dimension)


def to_si(value: float, unit: str, *, dimension: str | None = None) -> float:
    """Convert ``value`` given in ``unit`` to SI.

    Parameters
    ----------
    value
        The number as written in a data file or typed by a user.
    unit
        One of :data:`UNITS`.
    dimension
        If given, ``unit`` must be of this dimension (for example ``"bandwidth"``).
    """
    if unit not in UNITS:
        raise UnitError(f"unknown unit {unit!r}; allowed: {', '.join(sorted(UNITS))}")
    u = UNITS[unit]
    if dimension is not None and u.dimension != dimension:
        raise UnitError(
            f"unit {unit!r} is a {u.dimension} unit, but a {dimension} unit is needed; "
            f"allowed: {', '.join(units_of(dimension))}"
        )
    return float(value) * u.factor


def from_si(value: float, unit: str) -> float:
    """Convert an SI ``value`` to ``unit`` (for display and export)."""
    if unit not in UNITS:
        raise UnitError(f"unknown unit {unit!r}; allowed: {', '.join(sorted(UNITS))}")
    return float(value) / UNITS[unit].factor


# decimal prefixes by power of ten; "u" (not the micro sign) keeps displays ASCII
_PREFIX_BY_EXP = {15: "P", 12: "T", 9: "G", 6: "M", 3: "k", 0: "", -3: "m", -6: "u", -9: "n", -12: "p", -15: "f"}
_EXP_MIN, _EXP_MAX = min(_PREFIX_BY_EXP), max(_PREFIX_BY_EXP)
# units shown without a unit name: a dimensionless number is just the number
_NO_UNIT = ("", "1")


def _plain(r: float, digits: int) -> str:
    """``r`` (already rounded to ``digits`` significant digits) in positional notation, without
    trailing zeros: never an exponent (``f"{123:.2g}"`` would give ``1.2e+02``)."""
    lead = math.floor(math.log10(abs(r)))
    decimals = max(digits - 1 - lead, 0)
    text = f"{r:.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def format_si(value: float, unit: str, digits: int = 3) -> str:
    """Format an SI value with a decimal prefix, for display only.

    ``digits`` significant digits, trailing zeros dropped, never an exponent:
    ``(1.98e12, "B/s")`` -> ``"1.98 TB/s"``, ``(1.098e-4, "s")`` -> ``"110 us"``,
    ``(1.554e-6, "J")`` -> ``"1.55 uJ"``, ``(8e12, "B/s")`` -> ``"8 TB/s"``. The prefix is chosen
    after rounding (``999.97e-6 s`` -> ``"1 ms"``, not ``"1e+03 us"``). Prefixes run from f
    (1e-15) to P (1e15); beyond them the number grows (``"2000 PB"``) or shrinks
    (``"0.001 fJ"``). The unit ``"1"`` (dimensionless) is not written: ``(2.5e3, "1")`` ->
    ``"2.5 k"``. A missing or non-finite value is written as itself (``"nan s"``).
    """
    if isinstance(digits, bool) or not isinstance(digits, int) or digits < 1:
        raise ValueError(f"format_si: digits must be an integer >= 1, got {digits!r}")
    u = "" if unit in _NO_UNIT else unit
    if value is None or not math.isfinite(value):
        return f"{value} {u}".rstrip()
    value = float(value)
    if value == 0:
        return f"0 {u}".rstrip()
    if not u and 1e-3 <= abs(value) < 1e6:  # a ratio reads best without a prefix: 0.764, 2.58, 12500
        return _plain(float(f"{value:.{digits}g}"), digits)
    exp = min(max(3 * math.floor(math.log10(abs(value)) / 3), _EXP_MIN), _EXP_MAX)
    r = float(f"{value / 10.0**exp:.{digits}g}")
    if abs(r) >= 1000 and exp < _EXP_MAX:  # rounding carried into the next prefix (999.97 -> 1000)
        exp += 3
        r = float(f"{value / 10.0**exp:.{digits}g}")
    return f"{_plain(r, digits)} {_PREFIX_BY_EXP[exp]}{u}".rstrip()


def si_name(dimension: str) -> str:
    """The SI unit name a dimension is stored in."""
    return _SI_NAME[dimension]
