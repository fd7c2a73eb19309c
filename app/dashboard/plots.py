"""Drawing functions: data (from :mod:`app.dashboard.data`) in, HoloViews objects out.

Polars frames are converted to numpy column dicts here, at the plotting boundary: HoloViews'
narwhals path breaks in-place ``DynamicMap`` updates when the length changes (see
stack-recipes.md section 2). Axis labels carry units.
"""

from __future__ import annotations

from typing import Any

import holoviews as hv
import numpy as np
import polars as pl

from app.dashboard.data import INTENSITY_RANGE_FLOP_PER_B, RooflineData

__all__ = ["BREAKDOWN_METRICS", "breakdown_bars", "compare_bars", "explore_breakdown", "explore_scatter", "roofline_plot",
           "RASTERIZE_THRESHOLD"]

# Above this many points the Explore cloud is rasterized server-side (datashader).
RASTERIZE_THRESHOLD = 50_000
_CEILING_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf",
                   "#bcbd22", "#7f7f7f", "#d62728"]
_BOUND_COLORS = ["#d62728", "#7f7f7f", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b"]


def _cols(df: pl.DataFrame, names: list[str]) -> dict[str, np.ndarray]:
    return {c: df[c].to_numpy() for c in names}


def _bound_cmap(bounds: np.ndarray) -> dict[str, str]:
    """Fixed colors: compute red, overhead gray, memory levels from a palette (innermost first)."""
    fixed = {"compute": "#d62728", "overhead": "#7f7f7f"}
    others = [b for b in dict.fromkeys(bounds.tolist()) if b not in fixed]
    palette = ["#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b"]
    return {**fixed, **{b: palette[i % len(palette)] for i, b in enumerate(others)}}


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
        # log axis: the bars start a factor 3 below the smallest value instead of at zero
        ylim = (float(pos.min()) / 3, float(pos.max()) * 3) if pos.size else (1e-3, 1.0)
        plots.append(hv.Bars(d, ["target"], [col, "bound"]).opts(ylim=ylim,
            title=label.split(" (")[0], ylabel=label, xlabel="target", logy=True, tools=["hover"],
            width=330, height=320, framewise=True, xrotation=30, color="#1f77b4"))
    return hv.Layout(plots).cols(3)


def explore_scatter(results: pl.DataFrame | None, front: pl.DataFrame | None, x: str, y: str,
                    x_unit: str, y_unit: str, *, threshold: int = RASTERIZE_THRESHOLD) -> tuple[Any, hv.Points]:
    """Every point (rasterized above ``threshold``) with the Pareto front on top as real glyphs.

    Returns the overlay and the front element (the source of the tap selection stream).
    """
    from holoviews.operation.datashader import rasterize

    xl, yl = f"{x} ({x_unit})", f"{y} ({y_unit})"
    if results is None or not results.height:
        cloud_data = {x: np.array([1.0]), y: np.array([1.0])}
        n = 0
    else:
        cloud_data = _cols(results, [x, y])
        n = results.height
    cloud = hv.Points(cloud_data, [x, y], label="all points")
    if n > threshold:
        cloud = rasterize(cloud, aggregator="count", dynamic=True).opts(
            cmap="Blues", cnorm="log", colorbar=True, clabel="points per pixel", tools=[])
    else:
        cloud = cloud.opts(color="#9ecae1", size=3, alpha=0.5 if n else 0.0)
    fcols = list(front.columns) if front is not None else [x, y]
    fdata = _cols(front, fcols) if front is not None and front.height else {c: np.array([]) for c in [x, y]}
    vd = [c for c in fdata if c not in (x, y)]
    fpts = hv.Points(fdata, [x, y], vd, label="Pareto front").opts(
        color="#d62728", size=10, line_color="black", tools=["hover", "tap"], nonselection_alpha=0.5,
        # hover: the objectives and the design parameters (the first columns of a results frame)
        hover_tooltips=[(c, f"@{{{c}}}") for c in dict.fromkeys([x, y, *fcols[:4]]) if c in fdata],
        selection_color="#ff7f0e", selection_line_width=3)
    overlay = (cloud * fpts).opts(hv.opts.Overlay(
        title=f"{n} design points; Pareto front in red (click a point for its breakdown)",
        xlabel=xl, ylabel=yl, logx=True, logy=True, responsive=True, min_height=450,
        legend_position="top_right"))
    return overlay, fpts


def explore_breakdown(bd: pl.DataFrame | None) -> hv.Bars:
    """Latency per operator of the selected design point."""
    if bd is None or not bd.height:
        d = {"name": np.array([], dtype=str), "total_latency_s": np.array([]), "bound": np.array([], dtype=str)}
    else:
        d = _cols(bd.group_by("name", maintain_order=True).agg(pl.col("total_latency_s").sum(),
                                                               pl.col("bound").first()),
                  ["name", "total_latency_s", "bound"])
    return hv.Bars(d, ["name"], ["total_latency_s", "bound"]).opts(
        title="Selected point: latency per operator", xlabel="operator", ylabel="latency per run (s)",
        xrotation=45, tools=["hover"], width=800, height=320, framewise=True, color="bound",
        cmap=_BOUND_COLORS)
