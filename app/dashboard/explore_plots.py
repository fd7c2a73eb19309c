"""Drawings of the Explore page (HoloViews): the live scatter of a run, parallel coordinates and
hypervolume over trials. Data come from :mod:`app.dashboard.explore_data`; polars frames are
converted to numpy at this boundary.
"""

from __future__ import annotations

from typing import Any

import holoviews as hv
import numpy as np
import polars as pl

from app.dashboard import fmt
from app.dashboard.explore_data import ExploreResult, axis_label, parallel_coordinates
from app.dashboard.plots import RASTERIZE_THRESHOLD, log_axis_ticks

__all__ = ["explore_hypervolume", "explore_live_scatter", "explore_parallel"]


def _cols(df: pl.DataFrame, names: list[str]) -> dict[str, np.ndarray]:
    return {c: df[c].to_numpy() for c in names}


# objective axes in words (the column name stays in the tooltips)
METRIC_WORDS = {"latency_s": "latency", "energy_J": "energy", "energy_J_per_item": "energy per item",
                "items_per_s": "throughput", "edp_J_s": "energy-delay product",
                "average_power_W": "average power", "peak_memory_B": "peak memory", "error_proxy": "error proxy"}


def _label(metric: str, units: dict[str, str]) -> str:
    unit = units.get(metric, "1")
    words = METRIC_WORDS.get(metric, metric.replace("_", " "))
    return words if unit == "1" else f"{words} ({unit})"


def _si_ticks(ticks: Any, unit: str) -> Any:
    """Log-axis ticks labelled with SI prefixes and the unit (``10 ms``, ``2 mJ/item``)."""
    if not ticks:
        return ticks
    return [(v, fmt.si(v, unit)) for v, _ in ticks]


def explore_live_scatter(result: ExploreResult | None, units: dict[str, str], *, colour_by: str = "",
                         threshold: int = RASTERIZE_THRESHOLD, message: str = "") -> tuple[Any, hv.Points]:
    """The points of ``result`` so far: feasible ones (coloured by the parameter ``colour_by``,
    or rasterized above ``threshold``), infeasible ones in grey with their reason on hover, and
    the de-duplicated Pareto front on top as tappable glyphs. The axes are the objectives of the
    result's space and the title names its workload and target (never the widgets').

    Returns the overlay and the front element (the source of the tap selection stream).
    """
    from holoviews.operation.datashader import rasterize

    if result is None:
        x, y = "latency_s", "energy_J_per_item"
        empty = hv.Points({x: np.array([1.0]), y: np.array([1.0])}, [x, y]).opts(alpha=0.0)
        front = hv.Points({x: np.array([]), y: np.array([])}, [x, y], label="Pareto front")
        title = message or "no result for the current inputs: press Run"
        return (empty * front).opts(hv.opts.Overlay(title=title, responsive=True, min_height=450, logx=True,
                                                    logy=True, xlim=(1e-3, 1.0), ylim=(1e-3, 1.0))), front
    x, y = (o.metric for o in result.space.objectives[:2])
    pts = result.points
    finite = pts.filter(pl.col(x).is_finite() & pl.col(y).is_finite() & (pl.col(x) > 0) & (pl.col(y) > 0))
    feas = finite.filter(pl.col("feasible")) if "feasible" in finite.columns else finite
    infeas = finite.filter(~pl.col("feasible")) if "feasible" in finite.columns else finite.clear()
    layers: list[Any] = []
    colour = colour_by if colour_by and colour_by in feas.columns else ""
    if feas.height > threshold:
        layers.append(rasterize(hv.Points(_cols(feas, [x, y]), [x, y], label="feasible points"), aggregator="count",
                                dynamic=True).opts(cmap="Blues", cnorm="log", colorbar=True,
                                                   clabel="points per pixel", tools=[]))
    else:
        vd = [colour] if colour else []
        d = _cols(feas, [x, y])
        if colour:
            d[colour] = feas[colour].to_numpy() if feas[colour].dtype.is_numeric() else \
                np.asarray(feas[colour].cast(pl.String).to_list(), dtype=object)
        p = hv.Points(d, [x, y], vd, label="feasible points")
        if colour:
            numeric = feas[colour].dtype.is_numeric()
            p = p.opts(color=colour, cmap="viridis" if numeric else "Category10", colorbar=numeric, size=5,
                       tools=["hover"], clabel=axis_label(_sets_of(result, colour)))
        else:
            p = p.opts(color="#6baed6", size=4, alpha=0.6)
        layers.append(p)
    if infeas.height:
        if infeas.height > threshold:
            layers.append(rasterize(hv.Points(_cols(infeas, [x, y]), [x, y], label="infeasible"),
                                    aggregator="count", dynamic=True).opts(cmap="Greys", tools=[]))
        else:
            d = _cols(infeas, [x, y])
            d["reason"] = np.asarray(infeas["reason"].to_list(), dtype=object)
            layers.append(hv.Points(d, [x, y], ["reason"], label="infeasible (hover: why)").opts(
                color="#bdbdbd", size=4, alpha=0.7, tools=["hover"],
                hover_tooltips=[(x, f"@{{{x}}}"), (y, f"@{{{y}}}"), ("why", "@reason")]))
    front = result.front
    names = list(result.space.names)
    # while a run is going, the front is drawn with its objectives only: each update draws a new
    # figure, and the page's tap and tests find the front of the finished run by its parameter
    # columns; only what the hover shows (the objectives and the parameters) goes in: every column
    # is a dimension HoloViews compares with every other one on each draw
    fcols = [c for c in dict.fromkeys([x, y, *names]) if c in front.columns] \
        if result.state != "running" else [x, y]
    fdata = _cols(front, fcols) if front.height else {c: np.array([]) for c in [x, y]}
    vd = [c for c in fdata if c not in (x, y)]
    fpts = hv.Points(fdata, [x, y], vd, label="Pareto front").opts(
        color="#d62728", size=10, line_color="black", tools=["hover", "tap"], nonselection_alpha=0.5,
        hover_tooltips=[(c, f"@{{{c}}}") for c in dict.fromkeys([x, y, *names]) if c in fdata],
        selection_color="#ff7f0e", selection_line_width=3)
    allv = np.concatenate([finite[x].to_numpy(), np.array([])]) if finite.height else np.array([])
    ally = finite[y].to_numpy() if finite.height else np.array([])
    xlim, xticks = log_axis_ticks(allv)
    ylim, yticks = log_axis_ticks(ally)
    xticks, yticks = _si_ticks(xticks, units.get(x, "1")), _si_ticks(yticks, units.get(y, "1"))
    sampled = f" ({pts.height} drawn)" if pts.height < result.n_evaluated else ""
    title = f"{result.summary()}{sampled}"
    overlay = hv.Overlay([*layers, fpts]).opts(hv.opts.Overlay(
        title=title, xlabel=_label(x, units), ylabel=_label(y, units), logx=True, logy=True, responsive=True,
        min_height=450, xlim=xlim, ylim=ylim, xticks=xticks, yticks=yticks, legend_position="right",
        fontsize={"title": 10}))
    return overlay, fpts


def _sets_of(result: ExploreResult, column: str) -> str:
    for p in result.space.parameters:
        if p.name == column:
            return str(p.sets)
    return column


def explore_parallel(result: ExploreResult | None, *, max_lines: int = 2000) -> Any:
    """Parallel coordinates of the result's points: one line per point over its parameters and
    two objectives (each axis scaled to [0, 1], log where positive); front in red, infeasible in
    grey, the others blue (at most ``max_lines`` points: every k-th)."""
    if result is None or not result.points.height:
        return hv.Path([], ["axis", "scaled"]).opts(responsive=True, min_height=350, title="parallel coordinates: "
                                                                                        "no result yet")
    pts = result.points
    if pts.height > max_lines:
        pts = pts.gather_every(-(-pts.height // max_lines))
    cols = [*result.space.names, *(o.metric for o in result.space.objectives[:2])]
    long = parallel_coordinates(pts, cols)
    names = list(result.space.names)
    keys = [n for n in names if n in result.front.columns]
    on_front = set(result.front.select(keys).rows()) if keys else set()
    rows = pts.select(keys).rows() if keys else [()] * pts.height
    kind = ["front" if r in on_front and f else ("feasible" if f else "infeasible")
            for r, f in zip(rows, long.filter(pl.col("axis") == 0)["feasible"].to_list(), strict=True)]
    colours = {"front": "#d62728", "feasible": "#6baed6", "infeasible": "#bdbdbd"}
    scaled = long.sort("point", "axis")["scaled"].to_numpy().reshape(pts.height, len(cols))
    xs = np.arange(len(cols), dtype=np.float64)
    kinds = np.asarray(kind)
    layers = []
    for k, c in colours.items():
        rows = scaled[kinds == k]
        if not rows.shape[0]:
            continue
        # one polyline per category, the points' lines separated by NaN: one glyph, not one per point
        ys = np.column_stack([rows, np.full(rows.shape[0], np.nan)]).ravel()
        xx = np.tile(np.append(xs, np.nan), rows.shape[0])
        layers.append(hv.Path([np.column_stack([xx, ys])], ["axis", "scaled"], label=k).opts(
            color=c, alpha=0.9 if k == "front" else 0.35, line_width=2 if k == "front" else 1))
    ticks = [(float(i), axis_label(_sets_of(result, c)) if c in names else c) for i, c in enumerate(cols)]
    return hv.Overlay(layers).opts(hv.opts.Overlay(
        title=f"parallel coordinates: {result.workload} on {result.target} (each axis from its min to max)",
        xticks=ticks, xlabel="", ylabel="scaled (min 0, max 1)", responsive=True, min_height=350,
        legend_position="right", fontsize={"title": 10}))


def explore_hypervolume(result: ExploreResult | None) -> Any:
    """Hypervolume of the feasible front over trials (a search), normalised objectives."""
    if result is None or result.history is None or not result.history.height:
        return hv.Curve([], "n_trials", "hypervolume").opts(
            responsive=True, min_height=300, title="hypervolume over trials: a search shows it")
    h = result.history
    return hv.Curve(_cols(h, ["n_trials", "hypervolume"]), "n_trials", "hypervolume").opts(
        responsive=True, min_height=300, color="#d62728", line_width=2, tools=["hover"],
        title=f"hypervolume over trials: {result.workload} on {result.target} (objectives normalised, log10; "
              "reference point 1.1)", fontsize={"title": 10})
