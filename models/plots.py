"""Drawings of results: the trade-off plot of a results frame as offline HTML (Bokeh) or PNG
(matplotlib), and :func:`export`, which writes any format of :data:`FORMATS`.

This layer sits above :mod:`models.dse`: it draws what :func:`models.dse.plot_data` computes and
adds nothing to the numbers. Writes are atomic (:func:`models.io.atomic_write`).
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from models.dse.export import DATA_FORMATS, plot_data
from models.dse.export import export as export_data
from models.dse.space import DesignSpace, Objective
from models.io import atomic_write

__all__ = ["FORMATS", "export", "front_html", "front_png"]

FORMATS = (*DATA_FORMATS, "html", "png")


def front_png(df: pl.DataFrame, objectives: Sequence[Objective], path: Path) -> None:
    """The trade-off plot of ``df`` (first two objectives, log axes) as a PNG file."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    d = plot_data(df, objectives)
    fig = Figure(figsize=(6, 4.5), dpi=100)
    ax = fig.add_subplot()
    f, fr = d["feasible"], d["front"]
    ax.scatter(d["x"][~f], d["y"][~f], s=6, c="0.8", label="infeasible")
    ax.scatter(d["x"][f & ~fr], d["y"][f & ~fr], s=6, c="tab:blue", label="feasible")
    o = np.argsort(d["x"][fr])
    ax.plot(d["x"][fr][o], d["y"][fr][o], "o-", c="tab:red", ms=4, label="Pareto front")
    ax.set_xlabel(str(d["x_name"]))
    ax.set_ylabel(str(d["y_name"]))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.legend()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    path.write_bytes(buf.getvalue())


def front_html(df: pl.DataFrame, objectives: Sequence[Objective], path: Path, title: str) -> None:
    """The trade-off plot of ``df`` as a self-contained HTML page (Bokeh, resources inline)."""
    from bokeh.embed import file_html
    from bokeh.models import ColumnDataSource
    from bokeh.plotting import figure
    from bokeh.resources import INLINE

    d = plot_data(df, objectives)
    p = figure(
        title=title,
        x_axis_label=str(d["x_name"]),
        y_axis_label=str(d["y_name"]),
        x_axis_type="log",
        y_axis_type="log",
        width=700,
        height=500,
    )
    f, fr = d["feasible"], d["front"]
    p.scatter(x=d["x"][~f], y=d["y"][~f], size=4, color="lightgray", legend_label="infeasible")
    p.scatter(
        x=d["x"][f & ~fr], y=d["y"][f & ~fr], size=4, color="steelblue", legend_label="feasible"
    )
    o = np.argsort(d["x"][fr])
    src = ColumnDataSource({"x": d["x"][fr][o], "y": d["y"][fr][o]})
    p.line("x", "y", source=src, color="crimson", legend_label="Pareto front")
    p.scatter("x", "y", source=src, size=6, color="crimson")
    path.write_text(file_html(p, INLINE, title))



def export(df: pl.DataFrame, path: str | Path, fmt: str | None = None, *, space: DesignSpace | None = None,
           objectives: Sequence[Objective] | None = None, meta: Mapping[str, Any] | None = None) -> Path:
    """Write ``df`` to ``path`` atomically in ``fmt`` (default: from the suffix), one of
    :data:`FORMATS`: the data formats through :func:`models.dse.export`, the plots (first two
    objectives of ``objectives`` or of ``space``) drawn here."""
    path = Path(path)
    fmt = fmt or path.suffix.lstrip(".").lower()
    if fmt not in FORMATS:
        raise ValueError(f"export format {fmt!r}; allowed: {', '.join(FORMATS)}")
    if fmt in DATA_FORMATS:
        return export_data(df, path, fmt, space=space, objectives=objectives, meta=meta)
    objs = list(objectives or (space.objectives if space is not None else ()))
    if len(objs) < 2:
        raise ValueError(f"a {fmt} plot needs two objectives (give a space or --objective twice)")
    if fmt == "png":
        return atomic_write(path, lambda p: front_png(df, objs, p))
    title = f"Tradespace: {space.name}" if space is not None else "Tradespace results"
    return atomic_write(path, lambda p: front_html(df, objs, p, title))
