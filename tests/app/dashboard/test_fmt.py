"""app.dashboard.fmt: the dashboard's readable numbers (SI prefixes with units)."""

from __future__ import annotations

import math

import polars as pl
import pytest

from app.dashboard import fmt

_PREFIX = {"P": 1e15, "T": 1e12, "G": 1e9, "M": 1e6, "k": 1e3, "": 1.0, "m": 1e-3, "u": 1e-6, "n": 1e-9,
           "p": 1e-12, "f": 1e-15}


def reads_as(text: str, value: float, unit: str) -> bool:
    """Whether ``text`` ("110 us") is ``value`` in ``unit`` to the 3 digits shown, with a prefix
    that keeps the mantissa in [1, 1000)."""
    number, name = text.split(" ")
    if not name.endswith(unit) or name[: -len(unit)] not in _PREFIX:
        return False
    mantissa = float(number)
    return 1 <= abs(mantissa) < 1000 and math.isclose(mantissa * _PREFIX[name[: -len(unit)]], value, rel_tol=5e-3)


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        (0.0001098, "s", "110 us"),  # the "0.0001098 s"
        (1.554e-06, "J", "1.55 uJ"),  # the "1.554e-06 J"
        (8000000000000, "B/s", "8 TB/s"),  # the tooltip "8000000000000"
        (989e12, "FLOP/s", "989 TFLOP/s"),
        (3.35e12, "B/s", "3.35 TB/s"),
        (700.0, "W", "700 W"),
        (80e9, "B", "80 GB"),
    ],
)
def test_si_strings(value: float, unit: str, expected: str) -> None:
    text = fmt.si(value, unit)
    assert text == expected
    assert reads_as(text, value, unit)


def test_a_wrong_prefix_is_caught() -> None:
    """The checker the strings are held to rejects a planted wrong prefix or an unscaled number."""
    assert reads_as("110 us", 1.098e-4, "s")
    assert not reads_as("110 ms", 1.098e-4, "s")  # wrong prefix: 1000x off
    assert not reads_as("0.11 ms", 1.098e-4, "s")  # right value, mantissa below 1
    assert not reads_as("1.55 nJ", 1.554e-6, "J")
    assert not reads_as("8000 GB/s", 8e12, "B/s")  # mantissa above 1000


def test_missing_values_and_percentages() -> None:
    assert fmt.si(None, "s") == "n/a"
    assert fmt.si(float("nan"), "J") == "n/a"
    assert fmt.si(2.58, "1") == "2.58"  # a ratio has no unit name
    assert fmt.pct(0.1234) == "+12.3%"
    assert fmt.pct(-0.5) == "-50.0%"
    assert fmt.pct(0.35361, signed=False) == "35.4%"
    assert fmt.pct(None) == "n/a"


@pytest.mark.parametrize(
    ("column", "unit"),
    [("latency_s", "s"), ("energy_J", "J"), ("average_power_W", "W"), ("bandwidth_B_per_s", "B/s"),
     ("peak_FLOP_per_s", "FLOP/s"), ("capacity_B", "B"), ("energy_J_per_item", "J/item"),
     ("total_latency_s", "s"), ("edp_J_s", "J·s"), ("n_ops", None), ("efficiency", None), ("bounds", None)],
)
def test_unit_of_column_names(column: str, unit: str | None) -> None:
    assert fmt.unit_of(column) == unit


def test_si_table_formats_unit_columns_only() -> None:
    df = pl.DataFrame({"operator": ["q_proj", "lm_head"], "latency_s": [1.098e-4, None],
                       "energy_J": [1.554e-6, 2e-3], "n_ops": [32, 1]})
    out = fmt.si_table(df)
    assert out["latency_s"].to_list() == ["110 us", "n/a"]
    assert out["energy_J"].to_list() == ["1.55 uJ", "2 mJ"]
    assert out["n_ops"].to_list() == [32, 1]  # no unit in the name: left as it is
    assert out["operator"].to_list() == ["q_proj", "lm_head"]
    assert fmt.si_table(df, {"n_ops": "1"})["n_ops"].to_list() == ["32", "1"]
    with pytest.raises(ValueError, match="no column 'power_W'"):
        fmt.si_table(df, {"power_W": "W"})
    with pytest.raises(ValueError, match="names no unit"):
        fmt.si_expr("n_ops")


def test_hover_rows_get_si_formatters() -> None:
    from bokeh.models import CustomJSHover, CustomJSTickFormatter, HoverTool

    h = fmt.hover([("target", "target"), ("latency", "latency_s", "s"), ("bandwidth", "bandwidth_B_per_s", "B/s")])
    assert h["tooltips"] == [("target", "@{target}"), ("latency", "@{latency_s}{custom}"),
                             ("bandwidth", "@{bandwidth_B_per_s}{custom}")]
    assert set(h["formatters"]) == {"@{latency_s}", "@{bandwidth_B_per_s}"}
    f = h["formatters"]["@{bandwidth_B_per_s}"]
    assert isinstance(f, CustomJSHover) and f.args == {"unit": "B/s", "digits": 3}
    assert "function si(" in f.code
    tool = fmt.hover_tool([("latency", "latency_s", "s")], mode="mouse")
    assert isinstance(tool, HoverTool) and tool.mode == "mouse"
    assert fmt.hv_hover([("latency", "latency_s", "s")])["hover_tooltips"] == [("latency", "@{latency_s}{custom}")]
    t = fmt.tick_formatter("J")
    assert isinstance(t, CustomJSTickFormatter) and t.args["unit"] == "J"
