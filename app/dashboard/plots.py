"""Drawing functions: data (from :mod:`app.dashboard.data`) in, plots out.

Polars frames are converted to numpy column dicts here, at the plotting boundary: HoloViews'
narwhals path breaks in-place ``DynamicMap`` updates when the length changes (see
stack-recipes.md section 2). Axis labels carry units.

The Roofline page is the one users drag knobs on, so it is drawn with Bokeh models directly
(:class:`RooflineFigure`, :class:`BreakdownFigure`): a knob change replaces the data of the
existing ColumnDataSources (only those whose columns changed) instead of re-running the
HoloViews pipeline, which cost ~150 ms of server time per change. The column functions
(:func:`roofline_columns`, :func:`breakdown_columns`) are separate and tested without a browser.
"""

from __future__ import annotations

import math
from typing import Any

import holoviews as hv
import numpy as np
import polars as pl
from bokeh.models import ColumnDataSource, FactorRange, HoverTool, LabelSet, Range1d
from bokeh.plotting import figure

from app.dashboard import fmt
from app.dashboard.data import INTENSITY_RANGE_FLOP_PER_B, RooflineData

__all__ = ["BOUND_MEANINGS", "BREAKDOWN_METRICS", "BreakdownFigure", "CompareFigures", "MemoryFigure",
           "RASTERIZE_THRESHOLD", "RooflineFigure", "bound_legend_label", "breakdown_bars", "breakdown_columns",
           "compare_bars", "compare_columns", "explore_breakdown", "level_dashes",
           "log_axis_ticks", "memory_columns", "roofline_columns", "roofline_plot", "target_colors"]

# Above this many points the Explore cloud is rasterized server-side (datashader).
RASTERIZE_THRESHOLD = 50_000
_CEILING_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf",
                   "#bcbd22", "#7f7f7f", "#d62728"]


def _cols(df: pl.DataFrame, names: list[str]) -> dict[str, np.ndarray]:
    return {c: df[c].to_numpy() for c in names}


def _bound_cmap(bounds: np.ndarray, label: Any = None) -> dict[str, str]:
    """Fixed colors: compute red, overhead gray, memory levels from a palette (innermost first).

    ``label`` (bound -> text) gives the keys when the plotted values are legend labels rather
    than bare bound names.
    """
    fixed = {"compute": "#d62728", "overhead": "#7f7f7f"}
    if label is not None:
        fixed = {label(k): c for k, c in fixed.items()}
    others = [b for b in dict.fromkeys(bounds.tolist()) if b not in fixed]
    palette = ["#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b"]
    return {**fixed, **{b: palette[i % len(palette)] for i, b in enumerate(others)}}


# Mantissas of log-axis ticks, coarse to fine (one decade: 1, 10, 100, ...; then 1-2-5, ...).
_LOG_MANTISSAS = ((1.0,), (1.0, 2.0, 5.0), (1.0, 2.0, 3.0, 5.0), (1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0))


def _tick_label(v: float) -> str:
    """``2``, ``0.05``, ``1e-5``, ``3e6``: short, no zero-padded exponent."""
    text = f"{v:.3g}"
    if "e" in text:
        mant, exp = text.split("e")
        text = f"{mant}e{int(exp)}"
    return text


def log_axis_ticks(values: np.ndarray, *, min_ticks: int = 4,
                   max_ticks: int = 12) -> tuple[tuple[float, float], list[tuple[float, str]]]:
    """Range and labelled ticks of a log axis showing ``values``, with a labelled tick at each end.

    The range is snapped outwards to tick values, so the axis is labelled at its left (bottom)
    end as well as inside; Bokeh's own log ticker labels only whole decades, and none at all
    inside a span shorter than a decade. Ticks are ``m x 10^k`` for the coarsest mantissa set
    that gives ``min_ticks`` to ``max_ticks`` ticks without widening the range by more than about
    a third; a span too short for any of them gets evenly spaced (linear) ticks.

    Parameters
    ----------
    values
        Data values (any shape, any unit); non-positive and non-finite ones are ignored.

    Returns
    -------
    tuple
        ``(low, high)`` of the axis and ``[(tick value, label), ...]``, in the unit of ``values``;
        ``((0.01, 1.0), decades)`` when no value is positive.
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[np.isfinite(v) & (v > 0)]
    if not v.size:
        return (1e-2, 1.0), [(x, _tick_label(x)) for x in (1e-2, 1e-1, 1.0)]
    lo, hi = float(v.min()), float(v.max())
    if hi <= lo * (1 + 1e-9):
        lo, hi = lo / 1.2, hi * 1.2
    span = np.log10(hi / lo)
    exps = range(int(np.floor(np.log10(lo))) - 1, int(np.ceil(np.log10(hi))) + 2)
    fallback = None
    for mantissas in _LOG_MANTISSAS:
        cands = sorted(float(f"{m * 10.0 ** e:.12g}") for e in exps for m in mantissas)
        lo_t = max(c for c in cands if c <= lo * (1 + 1e-12))
        hi_t = min(c for c in cands if c >= hi * (1 - 1e-12))
        ticks = [c for c in cands if lo_t <= c <= hi_t]
        waste = np.log10(hi_t / lo_t) - span
        if min_ticks <= len(ticks) <= max_ticks and waste <= 0.35 * np.log10(hi_t / lo_t):
            return (lo_t, hi_t), [(t, _tick_label(t)) for t in ticks]
        if fallback is None and 3 <= len(ticks) <= max_ticks:
            fallback = (lo_t, hi_t), [(t, _tick_label(t)) for t in ticks]
    if fallback is not None and span > 0.3:
        return fallback
    # less than about a third of a decade: evenly spaced ticks of a 1-2-2.5-5 step
    raw = (hi - lo) / (min_ticks - 1)
    mag = 10.0 ** np.floor(np.log10(raw))
    step = next(m * mag for m in (1.0, 2.0, 2.5, 5.0, 10.0) if m * mag >= raw)
    k_lo, k_hi = max(int(np.floor(lo / step)), 1), int(np.ceil(hi / step))
    ticks = [float(f"{k * step:.12g}") for k in range(k_lo, k_hi + 1)]  # 12 digits: no 0.20500000000000002
    return (min(ticks[0], lo), ticks[-1]), [(t, _tick_label(t)) for t in ticks]


def roofline_plot(data: RooflineData | None) -> hv.Overlay:
    """Log-log rooflines (one polyline per engine, datatype and memory level) and operators as points."""
    if data is None:
        data = RooflineData(ceilings=pl.DataFrame({"ceiling": [], "intensity_FLOP_per_B": [],
                                                   "attainable_FLOP_per_s": []}),
                            ops=pl.DataFrame(), breakdown=pl.DataFrame(), totals=pl.DataFrame())
    paths = []
    c = data.ceilings
    if c.height:
        for i, ((name,), g) in enumerate(c.group_by("ceiling", maintain_order=True)):
            paths.append({"intensity_FLOP_per_B": g["intensity_FLOP_per_B"].to_numpy(),
                          "attainable_FLOP_per_s": g["attainable_FLOP_per_s"].to_numpy(), "ceiling": name,
                          "line_color": _CEILING_COLORS[i % len(_CEILING_COLORS)]})
    ceil = hv.Path(paths, ["intensity_FLOP_per_B", "attainable_FLOP_per_s"], vdims=["ceiling", "line_color"]).opts(
        color=hv.dim("line_color"), line_width=2, alpha=0.8, tools=["hover"], hover_tooltips=[("ceiling", "@ceiling")])
    op_cols = ["intensity_FLOP_per_B", "achieved_FLOP_per_s", "target", "operator", "kind", "flop", "bytes_B",
               "latency_s", "total_latency_s", "bound", "engine"]
    ops = data.ops
    pts_data = _cols(ops, op_cols) if ops.height else {k: np.array([]) for k in op_cols}
    pts = hv.Points(pts_data, ["intensity_FLOP_per_B", "achieved_FLOP_per_s"], op_cols[2:]).opts(
        color="bound", cmap=_bound_cmap(pts_data["bound"]), size=9, line_color="black", marker="circle",
        tools=["hover"], show_legend=True, legend_position="bottom_right",
        hover_tooltips=[("target", "@target"), ("operator", "@operator"), ("kind", "@kind"),
                        ("FLOPs", "@flop{0.000a}"), ("bytes (B)", "@bytes_B{0.000a}"),
                        ("time per instance (s)", "@latency_s{0.000e}"), ("bound", "@bound"),
                        ("engine", "@engine")])
    lo, hi = INTENSITY_RANGE_FLOP_PER_B
    # one label per compute roof (at the right end) and per memory slope (at the left end)
    roof = {"x": [], "y": [], "text": []}
    slope = {"x": [], "y": [], "text": []}
    if c.height:
        roofs = c.group_by("target", "engine", "dtype", maintain_order=True).agg(
            pl.col("attainable_FLOP_per_s").max())
        for r in roofs.iter_rows(named=True):
            roof["x"].append(hi / 1.3)
            roof["y"].append(r["attainable_FLOP_per_s"])
            roof["text"].append(f"{r['target']} {r['engine']} {r['dtype']}")
        # engines sharing a level share its slope: one label per (target, level)
        slopes = c.filter(pl.col("intensity_FLOP_per_B") == lo).group_by("target", "level",
                                                                          maintain_order=True).agg(
            pl.col("attainable_FLOP_per_s").first())
        for r in slopes.iter_rows(named=True):
            slope["x"].append(lo * 1.3)
            slope["y"].append(r["attainable_FLOP_per_s"])
            slope["text"].append(f"{r['level']} ({r['target']})")

    def lbl(d: dict[str, list[Any]], align: str) -> hv.Labels:
        return hv.Labels({k: np.asarray(v, dtype=object if k == "text" else float) for k, v in d.items()},
                         ["x", "y"], ["text"]).opts(text_font_size="8pt", text_baseline="bottom",
                                                    text_align=align, text_color="#333333")

    return (ceil * pts * lbl(roof, "right") * lbl(slope, "left")).opts(
        hv.opts.Path(logx=True, logy=True), hv.opts.Points(logx=True, logy=True),
        hv.opts.Overlay(title="Roofline: operators on each engine x memory-level ceiling",
                        xlabel="arithmetic intensity (FLOP/B)", ylabel="attainable rate (FLOP/s)",
                        xlim=(lo, hi), responsive=True, min_height=420, framewise=True, legend_position="bottom_right"))


BREAKDOWN_METRICS = {"total_latency_s": ("latency per run (s)", "Latency breakdown"),
                     "total_energy_J": ("energy per run (J)", "Energy breakdown")}


def breakdown_bars(data: RooflineData | None, col: str = "total_latency_s", *, top: int = 12) -> hv.Bars:
    """Latency or energy per operator (the ``top`` largest, the rest as ``other``), grouped by target."""
    label, title = BREAKDOWN_METRICS[col]
    if data is None or not data.breakdown.height:
        d = {"operator": np.array([], dtype=str), "target": np.array([], dtype=str), col: np.array([])}
    else:
        b = data.breakdown.group_by("operator").agg(pl.col(col).sum()).sort(col, descending=True)
        keep = set(b["operator"].head(top).to_list())
        df = (data.breakdown.with_columns(
            pl.when(pl.col("operator").is_in(keep)).then(pl.col("operator")).otherwise(pl.lit("other"))
            .alias("operator")).group_by("target", "operator", maintain_order=True).agg(pl.col(col).sum())
            .sort(col, descending=True))
        d = _cols(df, ["operator", "target", col])
    return hv.Bars(d, ["operator", "target"], [col]).opts(
        title=title, ylabel=label, xlabel="operator", xrotation=45, tools=["hover"], width=470, height=380,
        framewise=True, multi_level=False, color="target", cmap="Category10", show_legend=True,
        legend_position="top_right")


def compare_bars(frame: pl.DataFrame | None) -> hv.Layout:
    """Latency, energy per item and EDP per target (log axes: classes differ by orders of magnitude)."""
    specs = [("latency_s", "latency per run (s)"), ("energy_J_per_item", "energy per item (J/item)"),
             ("edp_J_s", "energy-delay product (J·s)")]
    plots = []
    for col, label in specs:
        if frame is None or not frame.height:
            d = {"target": np.array([], dtype=str), col: np.array([]), "bound": np.array([], dtype=str)}
        else:
            d = _cols(frame, ["target", col, "bound"])
        pos = d[col][d[col] > 0]
        # log axis: the bars start below the smallest value instead of at zero; whole decades,
        # so that the axis always has at least two labelled decade ticks (no crowded minor labels)
        ylim = ((10.0 ** np.floor(np.log10(pos.min() / 2)), 10.0 ** np.ceil(np.log10(pos.max() * 2)))
                if pos.size else (1e-3, 1.0))
        decades = [10.0 ** k for k in range(int(round(np.log10(ylim[0]))), int(round(np.log10(ylim[1]))) + 1)]
        plots.append(hv.Bars(d, ["target"], [col, "bound"]).opts(ylim=ylim, yticks=decades,
            title=label.split(" (")[0], ylabel=label, xlabel="target", logy=True, tools=["hover"],
            width=330, height=320, framewise=True, xrotation=30, color="#1f77b4"))
    return hv.Layout(plots).cols(3)


BOUND_MEANINGS = {"compute": "compute (peak op rate)", "overhead": "overhead (per-op launch cost)"}


def bound_legend_label(bound: str) -> str:
    """What a bound colour means: compute, overhead, or a memory level's bandwidth."""
    return BOUND_MEANINGS.get(bound, f"{bound} (memory bandwidth)")


def explore_breakdown(bd: pl.DataFrame | None) -> hv.Bars:
    """Latency per operator of the selected design point, coloured by what bounds each operator.

    The bars are "stacked" on the bound (one segment per operator) so that HoloViews draws a
    legend naming each colour; colours are fixed (compute red, overhead gray, memory levels from
    a palette), as on the Roofline page.
    """
    if bd is None or not bd.height:
        d = {"name": np.array([], dtype=str), "bound": np.array([], dtype=str), "total_latency_s": np.array([])}
    else:
        d = _cols(bd.group_by("name", maintain_order=True).agg(pl.col("total_latency_s").sum(),
                                                               pl.col("bound").first()),
                  ["name", "bound", "total_latency_s"])
    labels = np.array([bound_legend_label(b) for b in d["bound"]], dtype=object)
    d = {"name": d["name"], "bound by": labels, "total_latency_s": d["total_latency_s"]}
    cmap = _bound_cmap(np.asarray(d["bound by"]), label=bound_legend_label)
    opts = dict(title="Selected point: latency per operator (colour: what bounds it)", xlabel="operator",
                ylabel="latency per run (s)", xrotation=45, tools=["hover"], width=900, height=340, framewise=True,
                yformatter=fmt.tick_formatter("s"),
                # HoloViews names the "bound by" column bound_by in the data source
                **fmt.hv_hover([("operator", "name"), ("bound by", "bound_by"), ("latency", "total_latency_s", "s")]))
    if not d["name"].size:  # HoloViews cannot stack zero bars
        return hv.Bars(d, ["name"], ["total_latency_s"]).opts(**opts)
    return hv.Bars(d, ["name", "bound by"], ["total_latency_s"]).opts(
        **opts, stacked=True, cmap=cmap, show_legend=True, legend_position="right")


# ------------------------------------------------------------------ Roofline page, drawn with Bokeh
_OP_COLS = ["intensity_FLOP_per_B", "achieved_FLOP_per_s", "target", "operator", "kind", "flop", "bytes_B",
            "latency_s", "total_latency_s", "bound", "engine", "compute_dtype", "asked_dtype", "fallback"]
_TARGET_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                  "#bcbd22", "#17becf"]


def roofline_columns(data: RooflineData | None) -> dict[str, dict[str, Any]]:
    """Source columns of the roofline figure, keyed by source.

    Returns
    -------
    dict
        ``"ceilings"``: one row per polyline (xs, ys: vertex lists in FLOP/B and FLOP/s; ceiling
        label; line_color). ``"ops"``: one row per (target, operator) point, the columns of
        ``RooflineData.ops`` used by the hover plus ``color`` (by bound). ``"roof_labels"`` /
        ``"slope_labels"``: x (FLOP/B), y (FLOP/s), text: one label per compute roof (right end)
        and per (target, memory level) slope (left end).
    """
    lo, hi = INTENSITY_RANGE_FLOP_PER_B
    ceil: dict[str, list[Any]] = {"xs": [], "ys": [], "ceiling": [], "line_color": [], "line_dash": [],
                                  "legend": []}
    roof: dict[str, list[Any]] = {"x": [], "y": [], "text": []}
    slope: dict[str, list[Any]] = {"x": [], "y": [], "text": []}
    c = data.ceilings if data is not None else pl.DataFrame()
    colors = target_colors(data)
    if c.height:
        dashes = level_dashes(c["level"].to_list())
        for (name,), g in c.group_by("ceiling", maintain_order=True):
            ceil["xs"].append(g["intensity_FLOP_per_B"].to_numpy())
            ceil["ys"].append(g["attainable_FLOP_per_s"].to_numpy())
            ceil["ceiling"].append(name)
            target, level = g["target"][0], g["level"][0]
            ceil["line_color"].append(colors[target])
            ceil["line_dash"].append(dashes[level])
            ceil["legend"].append(f"{target} · {level}")
        for r in c.group_by("target", "engine", "dtype", maintain_order=True).agg(
                pl.col("attainable_FLOP_per_s").max()).iter_rows(named=True):
            roof["x"].append(hi / 1.3)
            roof["y"].append(r["attainable_FLOP_per_s"])
            roof["text"].append(f"{r['target']} {r['engine']} {r['dtype']}")
        # engines sharing a level share its slope: one label per (target, level), sitting on the
        # slope; each target's labels a factor 5 further right, so close slopes of two targets
        # do not put their labels on top of each other
        tix = {t: i for i, t in enumerate(dict.fromkeys(c["target"].to_list()))}
        for r in c.filter(pl.col("intensity_FLOP_per_B") == lo).group_by("target", "level", maintain_order=True).agg(
                pl.col("attainable_FLOP_per_s").first()).iter_rows(named=True):
            x = lo * 1.3 * 5.0 ** tix[r["target"]]
            slope["x"].append(x)
            slope["y"].append(r["attainable_FLOP_per_s"] * x / lo)
            slope["text"].append(f"{r['level']} ({r['target']})")
    ops = data.ops if data is not None else pl.DataFrame()
    op = _cols(ops, _OP_COLS) if ops.height else {k: np.array([]) for k in _OP_COLS}
    cmap = _bound_cmap(np.asarray(op["bound"]))
    op["color"] = np.array([cmap[b] for b in op["bound"]], dtype=object)
    op["outline"] = np.array([colors.get(t, "black") for t in op["target"]], dtype=object)
    op["bound_label"] = np.array([bound_legend_label(b) for b in op["bound"]], dtype=object)
    # an operator the engine computes in another datatype than it asks for (Ascend-910 at bf16
    # on its fp32 vector engine) is a triangle, and its hover says so
    fb = np.asarray(op["fallback"], dtype=bool)
    op["marker"] = np.where(fb, "triangle", "circle").astype(object)
    op["dtype_text"] = np.array([f"{a} -> {c} (fallback)" if f else str(c) for a, c, f in
                                 zip(op["asked_dtype"], op["compute_dtype"], fb, strict=True)], dtype=object)
    return {"ceilings": ceil, "ops": op, "roof_labels": roof, "slope_labels": slope}


# Line styles of memory levels, innermost first (registers/SRAM solid ... host memory dotted).
_LEVEL_DASHES = ("solid", "dashed", "dotted", "dashdot", "dotdash")


def target_colors(data: RooflineData | None) -> dict[str, str]:
    """One colour per target of the result, in the order of its inputs (stable across knob changes)."""
    names: list[str] = []
    if data is not None:
        names = list(data.inputs.targets) if data.inputs is not None else list(
            dict.fromkeys(data.totals["target"].to_list()))
    return {t: _TARGET_COLORS[i % len(_TARGET_COLORS)] for i, t in enumerate(names)}


def level_dashes(levels: list[str]) -> dict[str, str]:
    """One line style per memory level name, in order of first appearance (each engine's path is
    listed innermost first, so on-chip levels are solid and main memory dashed)."""
    return {lv: _LEVEL_DASHES[i % len(_LEVEL_DASHES)] for i, lv in enumerate(dict.fromkeys(levels))}


def _same_columns(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """True when two source column dicts hold equal values (then the source is left alone)."""
    if old.keys() != new.keys():
        return False
    for k, v in new.items():
        a, b = old[k], v
        if len(a) != len(b):
            return False
        for x, y in zip(a, b, strict=True):
            if not np.array_equal(np.asarray(x), np.asarray(y)):
                return False
    return True


def _set(source: ColumnDataSource, columns: dict[str, Any]) -> bool:
    """Replace ``source.data`` unless it already holds ``columns``; True when it changed."""
    if _same_columns(dict(source.data), columns):
        return False
    source.data = columns
    return True


class RooflineFigure:
    """Log-log rooflines with operators as points, as one Bokeh figure updated in place.

    ``figure`` is the Bokeh figure; :meth:`update` puts new :class:`RooflineData` in its sources.
    Ceilings and labels only change with the targets, the phase or the engines in use, so a
    workload knob change usually sends the operator points alone to the browser.
    """

    def __init__(self, data: RooflineData | None) -> None:
        lo, hi = INTENSITY_RANGE_FLOP_PER_B
        cols = roofline_columns(data)
        self.sources = {k: ColumnDataSource(v) for k, v in cols.items()}
        fig = figure(title="Roofline: operators on each engine x memory-level ceiling", x_axis_type="log",
                     y_axis_type="log", x_range=Range1d(lo, hi), sizing_mode="stretch_width", height=440,
                     min_width=400, tools="pan,wheel_zoom,box_zoom,reset,save",
                     x_axis_label="arithmetic intensity (FLOP/B)", y_axis_label="attainable rate (FLOP/s)")
        lines = fig.multi_line("xs", "ys", source=self.sources["ceilings"], line_color="line_color", line_width=2,
                               line_alpha=0.85, line_dash="line_dash", legend_field="legend")
        pts = fig.scatter("intensity_FLOP_per_B", "achieved_FLOP_per_s", source=self.sources["ops"], size=10,
                          fill_color="color", line_color="outline", line_width=2, marker="marker",
                          legend_field="bound_label")
        fig.add_tools(HoverTool(renderers=[lines], tooltips=[("ceiling", "@ceiling")]),
                      fmt.hover_tool([
                          ("target", "target"), ("operator", "operator"), ("kind", "kind"),
                          ("FLOPs", "flop", "FLOP"), ("bytes", "bytes_B", "B"),
                          ("time per instance", "latency_s", "s"), ("rate", "achieved_FLOP_per_s", "FLOP/s"),
                          ("bound", "bound"), ("engine", "engine"), ("datatype", "dtype_text")], renderers=[pts]))
        fig.yaxis.formatter = fmt.tick_formatter("FLOP/s")
        for key, align in (("roof_labels", "right"), ("slope_labels", "left")):
            fig.add_layout(LabelSet(x="x", y="y", text="text", source=self.sources[key], text_font_size="8pt",
                                    text_baseline="bottom", text_align=align, text_color="#333333"))
        fig.legend.location = "bottom_right"
        fig.legend.title = "ceilings: colour = target, line = memory level; points: fill = bound by, " \
                           "outline = target, triangle = datatype fallback"
        fig.legend.title_text_font_size = "9px"
        fig.legend.label_text_font_size = "9px"
        self.figure = fig

    def update(self, data: RooflineData | None) -> list[str]:
        """Put ``data`` in the sources; returns the names of the sources that changed."""
        return [k for k, v in roofline_columns(data).items() if _set(self.sources[k], v)]


def breakdown_columns(data: RooflineData | None, col: str = "total_latency_s", *,
                      top: int = 12) -> dict[str, Any]:
    """Bars of the latency or energy breakdown: the ``top`` operators (the rest summed as ``other``).

    Returns
    -------
    dict
        ``x`` (operator, or (operator, target) with several targets), operator, target, ``col``
        (s or J per run) and color (by target), largest operator first and ``other`` last; ``factors``:
        the x factors in order.
    """
    if data is None or not data.breakdown.height:
        return {"x": [], "operator": [], "target": [], col: np.array([]), "color": [], "factors": []}
    b = data.breakdown.group_by("operator").agg(pl.col(col).sum()).sort(col, descending=True)
    keep = set(b["operator"].head(top).to_list())
    op = pl.when(pl.col("operator").is_in(keep)).then(pl.col("operator")).otherwise(pl.lit("other"))
    df = data.breakdown.with_columns(op.alias("operator")).group_by("target", "operator", maintain_order=True).agg(
        pl.col(col).sum())
    order = [o for o in b["operator"].to_list() if o in keep] + ["other"]  # largest first, "other" last
    targets = list(dict.fromkeys(data.breakdown["target"].to_list()))
    df = df.with_columns(pl.col("operator").replace_strict({o: i for i, o in enumerate(order)}).alias("_o"),
                         pl.col("target").replace_strict({t: i for i, t in enumerate(targets)}).alias("_t")).sort(
        "_o", "_t")
    ops, tgs = df["operator"].to_list(), df["target"].to_list()
    x: list[Any] = ops if len(targets) == 1 else list(zip(ops, tgs, strict=True))
    colors = {t: _TARGET_COLORS[i % len(_TARGET_COLORS)] for i, t in enumerate(targets)}
    return {"x": x, "operator": ops, "target": tgs, col: df[col].to_numpy(), "color": [colors[t] for t in tgs],
            "factors": list(x)}


class BreakdownFigure:
    """Latency or energy per operator as Bokeh bars (colored by target), updated in place."""

    def __init__(self, data: RooflineData | None, col: str = "total_latency_s") -> None:
        label, title = BREAKDOWN_METRICS[col]
        self.col = col
        cols = breakdown_columns(data, col)
        factors = cols.pop("factors")
        self.source = ColumnDataSource(cols)
        fig = figure(title=title, x_range=FactorRange(factors=factors), width=470, height=380,
                     tools="pan,wheel_zoom,box_zoom,reset,save", y_axis_label=label, x_axis_label="operator")
        bars = fig.vbar(x="x", top=col, width=0.8, source=self.source, fill_color="color", line_color="black",
                        legend_field="target")
        unit = "s" if col.endswith("_s") else "J"
        fig.add_tools(fmt.hover_tool([("operator", "operator"), ("target", "target"),
                                      (title.split()[0].lower(), col, unit)], renderers=[bars]))
        fig.yaxis.formatter = fmt.tick_formatter(unit)
        fig.y_range.start = 0
        fig.xgrid.grid_line_color = None
        fig.legend.location = "top_right"
        self.figure = fig
        self._style(factors)

    def _style(self, factors: list[Any]) -> None:
        """With several targets the factors are (operator, target): the legend names the target,
        so the axis shows the operators only, slanted like the single-target labels."""
        axis = self.figure.xaxis[0]
        nested = bool(factors) and isinstance(factors[0], tuple)
        axis.major_label_text_font_size = "0pt" if nested else "11px"
        axis.major_label_orientation = math.pi / 4
        axis.group_label_orientation = math.pi / 4
        axis.group_text_font_size = "11px"
        axis.group_text_font_style = "normal"

    def update(self, data: RooflineData | None) -> bool:
        """Put ``data`` in the source (and the x factors); True when something changed."""
        cols = breakdown_columns(data, self.col)
        factors = cols.pop("factors")
        if list(self.figure.x_range.factors) != factors:
            self.figure.x_range.factors = factors
            self._style(factors)
        return _set(self.source, cols)


# ------------------------------------------------------------------ memory breakdown (Roofline page)
_PART_COLORS = {"weights": "#1f77b4", "kv_cache": "#ff7f0e", "activations": "#2ca02c", "gradients": "#9467bd",
                "optimizer_state": "#8c564b", "resident": "#7f7f7f"}


def memory_columns(data: RooflineData | None) -> dict[str, Any]:
    """Resident memory of each target as shares of its capacity (%), one stack per target.

    Returns
    -------
    dict
        ``target`` (y factors), one column per part in ``parts`` (% of the target's main memory
        capacity), ``<part>_B`` (bytes), total_pct, capacity_B; ``parts``: the parts present.
    """
    m = data.memory if data is not None else pl.DataFrame()
    if not m.height:
        return {"target": [], "total_pct": np.array([]), "capacity_B": np.array([]), "parts": []}
    targets = list(dict.fromkeys(m["target"].to_list()))
    parts = list(dict.fromkeys(m["part"].to_list()))
    out: dict[str, Any] = {"target": targets, "parts": parts}
    cap = {r["target"]: r["capacity_B"] for r in m.iter_rows(named=True)}
    for p in parts:
        by = {r["target"]: r["bytes_B"] for r in m.filter(pl.col("part") == p).iter_rows(named=True)}
        out[f"{p}_B"] = np.array([by.get(t, 0.0) for t in targets])
        out[p] = 100.0 * out[f"{p}_B"] / np.array([cap[t] for t in targets])
    out["total_pct"] = sum((out[p] for p in parts), np.zeros(len(targets)))
    out["capacity_B"] = np.array([cap[t] for t in targets])
    return out


class MemoryFigure:
    """Weights, KV cache and activations of each target as a share of its main memory, with the
    100 % capacity line; rebuilt stacks when the parts change (another workload family)."""

    def __init__(self, data: RooflineData | None) -> None:
        from bokeh.models import Span

        fig = figure(title="Resident memory vs capacity (largest phase)", y_range=FactorRange(factors=[]),
                     height=220, sizing_mode="stretch_width", min_width=400, tools="save",
                     x_axis_label="share of the target's main memory (%)")
        fig.add_layout(Span(location=100.0, dimension="height", line_color="#8b0000", line_dash="dashed",
                            line_width=2))
        self.figure = fig
        self.source = ColumnDataSource({"target": []})
        self._parts: list[str] = []
        self.update(data)

    def update(self, data: RooflineData | None) -> bool:
        cols = memory_columns(data)
        parts = cols.pop("parts")
        fig = self.figure
        if parts != self._parts:
            fig.renderers = [r for r in fig.renderers if r.glyph.__class__.__name__ != "HBar"]
            if fig.legend:
                fig.legend[0].items = []
            self.source = ColumnDataSource(cols)
            if parts:
                rs = fig.hbar_stack(parts, y="target", height=0.6, source=self.source,
                                    color=[_PART_COLORS.get(p, "#7f7f7f") for p in parts],
                                    legend_label=[p.replace("_", " ") for p in parts])
                fig.add_tools(fmt.hover_tool([("target", "target"), ("share (%)", "total_pct", "1"),
                                              *[(p.replace("_", " "), f"{p}_B", "B") for p in parts]], renderers=rs))
                fig.legend[0].location = "bottom_right"
                fig.legend[0].orientation = "horizontal"
            self._parts = parts
            changed = True
        else:
            changed = _set(self.source, cols)
        if list(fig.y_range.factors) != list(cols["target"]):
            fig.y_range.factors = list(cols["target"])
        top = float(max(110.0, *(cols["total_pct"] * 1.1))) if len(cols["total_pct"]) else 110.0
        fig.x_range.start, fig.x_range.end = 0.0, top
        return changed


# ------------------------------------------------------------------ Compare page, drawn with Bokeh
def compare_columns(norm: pl.DataFrame | None, metric: str) -> dict[str, Any]:
    """Bars of ``<metric>_ratio`` (target over the baseline) on a log axis, from a floor below the
    smallest ratio (never from an arbitrary 10^-2: a bar smaller than the floor would point
    down); ``floor`` and ``top``: the axis range (whole decades around the ratios)."""
    if norm is None or not norm.height:
        return {"target": [], "ratio": np.array([]), "value": np.array([]), "bottom": np.array([]),
                "label": [], "floor": 0.1, "top": 10.0}
    r = norm[f"{metric}_ratio"].to_numpy()
    pos = r[np.isfinite(r) & (r > 0)]
    floor = 10.0 ** np.floor(np.log10(min(pos.min(), 1.0)) - 0.3) if pos.size else 0.1
    top = 10.0 ** np.ceil(np.log10(max(pos.max(), 1.0)) + 0.3) if pos.size else 10.0
    return {"target": norm["target"].to_list(), "ratio": r, "value": norm[metric].to_numpy(),
            "bottom": np.full(r.shape, floor), "label": [f"{x:.3g}x" for x in r], "floor": float(floor),
            "top": float(top)}


class CompareFigures:
    """Latency, energy per item and EDP of each target relative to the baseline (log bars from a
    floor below the smallest ratio, 1x marked), and latency against energy per item (log-log); for
    a served request stream TTFT, TPOT and energy per output token, and TPOT against energy per
    output token."""

    def __init__(self) -> None:
        from bokeh.models import Span

        from app.dashboard.data import COMPARE_METRICS, SERVING_COMPARE_METRICS

        self.bars: dict[str, tuple[Any, ColumnDataSource]] = {}
        for m, title in {**COMPARE_METRICS, **SERVING_COMPARE_METRICS}.items():
            src = ColumnDataSource({"target": [], "ratio": [], "value": [], "bottom": [], "label": []})
            fig = figure(title=f"{title} / baseline", x_range=FactorRange(factors=[]), y_axis_type="log",
                         width=330, height=320, tools="save", y_axis_label="ratio to the baseline (x)")
            fig.vbar(x="target", bottom="bottom", top="ratio", width=0.7, source=src, fill_color="#1f77b4",
                     line_color="black")
            fig.add_layout(Span(location=1.0, dimension="width", line_color="#333333", line_dash="dashed"))
            fig.add_tools(fmt.hover_tool([("target", "target"), ("ratio", "label"),
                                          (title, "value", fmt.unit_of(m) or "1")]))
            fig.xaxis.major_label_orientation = math.pi / 5
            fig.yaxis.formatter = fmt.tick_formatter("1")  # 0.1, 1, 10, 100 rather than 10^2
            self.bars[m] = (fig, src)
        # x against y: latency against energy per item, or (a served stream) TPOT against energy
        # per output token; the axis titles say which
        self.scatter_source = ColumnDataSource({"x": [], "y": [], "target": [], "color": []})
        sc = figure(title="Latency vs energy per item", x_axis_type="log", y_axis_type="log", width=420, height=320,
                    tools="pan,wheel_zoom,reset,save", x_axis_label="latency per run (s)",
                    y_axis_label="energy per item (J)")
        sc.scatter("x", "y", source=self.scatter_source, size=12, fill_color="color", line_color="black")
        sc.add_layout(LabelSet(x="x", y="y", text="target", source=self.scatter_source,
                               x_offset=6, y_offset=4, text_font_size="9pt"))
        sc.add_tools(fmt.hover_tool([("target", "target"), ("time", "x", "s"), ("energy", "y", "J")]))
        sc.xaxis.formatter = fmt.tick_formatter("s")
        sc.yaxis.formatter = fmt.tick_formatter("J")
        # room for the outermost points' labels (they sit up and to the right of their glyph)
        sc.x_range.range_padding, sc.y_range.range_padding = 0.5, 0.25
        self.scatter = sc

    def update(self, norm: pl.DataFrame | None) -> None:
        for m, (fig, src) in self.bars.items():
            # the bars of the other metric set (one request / a served stream) are emptied
            cols = compare_columns(norm if norm is not None and f"{m}_ratio" in norm.columns else None, m)
            floor, top = cols.pop("floor"), cols.pop("top")
            if list(fig.x_range.factors) != cols["target"]:
                fig.x_range.factors = cols["target"]
            fig.y_range.start, fig.y_range.end = floor, top
            _set(src, cols)
        served = norm is not None and "tpot_s" in norm.columns
        x, y, title, xl, yl = (("tpot_s", "energy_J_per_output_token", "TPOT vs energy per output token",
                                "time per output token (s)", "energy per output token (J)") if served else
                               ("latency_s", "energy_J_per_item", "Latency vs energy per item", "latency per run (s)",
                                "energy per item (J)"))
        self.scatter.title.text = title
        self.scatter.xaxis.axis_label, self.scatter.yaxis.axis_label = xl, yl
        if norm is None or not norm.height:
            _set(self.scatter_source, {"x": [], "y": [], "target": [], "color": []})
            return
        names = norm["target"].to_list()
        _set(self.scatter_source, {"x": norm[x].to_numpy(), "y": norm[y].to_numpy(), "target": names,
                                   "color": [_TARGET_COLORS[i % len(_TARGET_COLORS)] for i in range(len(names))]})
