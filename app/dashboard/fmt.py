"""Readable numbers on the dashboard: SI prefixes with units (``110 us``, ``1.55 uJ``, ``8 TB/s``).

One formatter, :func:`models.units.format_si`, writes every number a page shows. This module
adapts it to the places numbers appear:

- tables and text: :func:`si` (a value), :func:`pct` (a relative error), :func:`si_expr` /
  :func:`si_table` (polars columns), :func:`unit_of` (the unit a column name carries:
  ``latency_s`` -> ``s``, ``bandwidth_B_per_s`` -> ``B/s``);
- Bokeh, where the browser formats: :func:`tick_formatter` (axis ticks), :func:`hover` /
  :func:`hover_tool` (tooltips). They run :data:`SI_JS`, the same algorithm written in
  JavaScript (checked against :func:`si` in a real browser by ``tests/ui/test_landing_fidelity.py``).

Results keep SI floats; only the text shown is formatted here.

Which function to call
----------------------
- a number in a table or Markdown: ``fmt.si(v, "s")``; a frame: ``fmt.si_table(df)`` (units from
  the column names) or ``fmt.si_table(df, {"latency_s": "s"})``;
- a Bokeh axis: ``fig.yaxis.formatter = fmt.tick_formatter("s")``; a HoloViews element:
  ``.opts(yformatter=fmt.tick_formatter("s"))``;
- a tooltip: ``HoverTool(**fmt.hover([("latency", "latency_s", "s"), ("target", "target")]))`` or
  ``fmt.hover_tool([...], renderers=[r])``; a HoloViews element:
  ``.opts(**fmt.hv_hover([...]))``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from models.units import format_si

__all__ = ["SI_JS", "hover", "hover_tool", "hv_hover", "pct", "si", "si_expr", "si_table", "tick_formatter",
           "unit_of"]

MISSING = "n/a"

# The algorithm of models.units.format_si in JavaScript: the prefix chosen from |value|, the
# mantissa rounded to `digits` significant digits, the prefix moved up when rounding reaches
# 1000, trailing zeros dropped, never an exponent. Missing and NaN values read "n/a" (as si()).
SI_JS = """
function si(value, unit, digits) {
  const P = {"15": "P", "12": "T", "9": "G", "6": "M", "3": "k", "0": "", "-3": "m", "-6": "u",
             "-9": "n", "-12": "p", "-15": "f"};
  const u = (unit === "" || unit === "1") ? "" : unit;
  const join = (num, name) => (name ? num + " " + name : num);
  if (value === null || value === undefined || Number.isNaN(Number(value))) return "n/a";
  value = Number(value);
  if (!Number.isFinite(value)) return join(value > 0 ? "inf" : "-inf", u);
  if (value === 0) return join("0", u);
  const plain = (r) => {
    const lead = Math.floor(Math.log10(Math.abs(r)));
    let text = r.toFixed(Math.max(digits - 1 - lead, 0));
    if (text.indexOf(".") >= 0) text = text.replace(/0+$/, "").replace(/\\.$/, "");
    return text;
  };
  if (!u && Math.abs(value) >= 1e-3 && Math.abs(value) < 1e6) return plain(Number(value.toPrecision(digits)));
  let exp = Math.min(Math.max(3 * Math.floor(Math.log10(Math.abs(value)) / 3), -15), 15);
  let r = Number((value / Math.pow(10, exp)).toPrecision(digits));
  if (Math.abs(r) >= 1000 && exp < 15) {
    exp += 3;
    r = Number((value / Math.pow(10, exp)).toPrecision(digits));
  }
  return join(plain(r), P[String(exp)] + u);
}
"""


def si(value: float | None, unit: str, digits: int = 3) -> str:
    """``value`` (SI) with a decimal prefix and ``unit``: ``si(1.098e-4, "s")`` -> ``"110 us"``.

    ``None`` and NaN read ``"n/a"``; the unit ``"1"`` is not written.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    return format_si(float(value), unit, digits)


def pct(value: float | None, *, signed: bool = True, digits: int = 1) -> str:
    """A fraction as a percentage (``0.1234`` -> ``"+12.3%"``; unsigned: ``"12.3%"``)."""
    if value is None or not math.isfinite(value):
        return MISSING
    return f"{value:{'+' if signed else ''}.{digits}%}"


# unit tokens of the house naming style (latency_s, energy_J, peak_FLOP_per_s, capacity_B)
_UNIT_TOKENS = ("s", "J", "W", "B", "Hz", "FLOP", "OP", "bit")
_TOK = "|".join(_UNIT_TOKENS)
_UNIT_RE = re.compile(rf"_(?P<num>{_TOK})(?:_(?P<mul>{_TOK}))?(?:_per_(?P<den>[A-Za-z]+))?$")


def unit_of(column: str) -> str | None:
    """The display unit a column name carries (``latency_s`` -> ``"s"``, ``bandwidth_B_per_s`` ->
    ``"B/s"``, ``energy_J_per_item`` -> ``"J/item"``, ``edp_J_s`` -> ``"J·s"``), or ``None``
    (``n_ops``, ``efficiency``)."""
    m = _UNIT_RE.search(column)
    if m is None:
        return None
    return m["num"] + (f"·{m['mul']}" if m["mul"] else "") + (f"/{m['den']}" if m["den"] else "")


def si_expr(column: str, unit: str | None = None, digits: int = 3) -> pl.Expr:
    """A polars expression writing ``column`` as SI text (unit from its name unless given)."""
    u = unit if unit is not None else unit_of(column)
    if u is None:
        raise ValueError(f"column {column!r} names no unit (allowed suffixes: "
                         f"{', '.join('_' + t for t in _UNIT_TOKENS)}, optionally _per_<x>); pass unit=")
    return pl.col(column).map_elements(lambda v: si(v, u, digits), return_dtype=pl.String,
                                       skip_nulls=False).alias(column)


def si_table(frame: pl.DataFrame, units: Mapping[str, str] | None = None, digits: int = 3) -> pl.DataFrame:
    """``frame`` with its numeric unit columns written as SI text, for display.

    ``units`` maps column -> unit; without it every numeric column whose name carries a unit
    (:func:`unit_of`) is formatted and the others are left as they are.
    """
    if units is None:
        units = {c: u for c, dt in frame.schema.items() if dt.is_numeric() and (u := unit_of(c)) is not None}
    missing = [c for c in units if c not in frame.columns]
    if missing:
        raise ValueError(f"si_table: no column {missing[0]!r}; columns: {', '.join(frame.columns)}")
    if not units:
        return frame
    return frame.with_columns([si_expr(c, u, digits) for c, u in units.items()])


# ---------------------------------------------------------------------------------- Bokeh
def tick_formatter(unit: str, digits: int = 3) -> Any:
    """A Bokeh tick formatter writing each tick with an SI prefix and ``unit`` (``100 us``)."""
    from bokeh.models import CustomJSTickFormatter

    return CustomJSTickFormatter(code=SI_JS + "return si(tick, unit, digits);",
                                 args={"unit": unit, "digits": digits})


def _hover_formatter(unit: str, digits: int) -> Any:
    from bokeh.models import CustomJSHover

    return CustomJSHover(code=SI_JS + "return si(value, unit, digits);", args={"unit": unit, "digits": digits})


Row = tuple[str, str] | tuple[str, str, str]


def hover(rows: Sequence[Row], digits: int = 3) -> dict[str, Any]:
    """``tooltips`` and ``formatters`` for a Bokeh ``HoverTool``.

    Each row is ``(label, column)`` (shown as it is) or ``(label, column, unit)`` (an SI number:
    ``("latency", "latency_s", "s")`` shows ``latency: 110 us``).
    """
    tooltips: list[tuple[str, str]] = []
    formatters: dict[str, Any] = {}
    for row in rows:
        if len(row) == 2:
            label, col = row
            tooltips.append((label, f"@{{{col}}}"))
            continue
        label, col, unit = row
        field = f"@{{{col}}}"
        tooltips.append((label, field + "{custom}"))
        formatters[field] = _hover_formatter(unit, digits)
    return {"tooltips": tooltips, "formatters": formatters}


def hover_tool(rows: Sequence[Row], digits: int = 3, **kwargs: Any) -> Any:
    """A Bokeh ``HoverTool`` over ``rows`` (see :func:`hover`); ``kwargs`` go to the tool
    (``renderers=[...]``, ``mode=...``)."""
    from bokeh.models import HoverTool

    return HoverTool(**hover(rows, digits), **kwargs)


def hv_hover(rows: Sequence[Row], digits: int = 3) -> dict[str, Any]:
    """HoloViews options of the same tooltips: ``element.opts(**fmt.hv_hover(rows))``."""
    h = hover(rows, digits)
    return {"hover_tooltips": h["tooltips"], "hover_formatters": h["formatters"]}
