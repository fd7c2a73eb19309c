"""Exports of results frames as data: CSV, Parquet, JSON with metadata; the data of the plots.

Every write goes to a temporary file in the destination directory, then ``os.replace``: an
interrupted or failed export never leaves a partial file at the destination. Drawing (offline
HTML and PNG plots) is a layer above, in :mod:`models.plots`, which computes nothing:
:func:`plot_data` here gives it what to draw.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from models.dse.space import DesignSpace, Objective
from models.io import atomic_write

__all__ = ["DATA_FORMATS", "atomic_write", "export", "metadata", "plot_data", "read_json_results"]

DATA_FORMATS = ("csv", "parquet", "json")


def _json_clean(o: Any) -> Any:
    if isinstance(o, dict):
        return {str(k): _json_clean(v) for k, v in o.items()}
    if isinstance(o, list | tuple):
        return [_json_clean(v) for v in o]
    if isinstance(o, np.generic):
        return _json_clean(o.item())
    if isinstance(o, float) and not math.isfinite(o):
        return None if math.isnan(o) else ("inf" if o > 0 else "-inf")
    return o


def metadata(
    space: DesignSpace | None, objectives: Sequence[Objective] | None = None
) -> dict[str, Any]:
    """Space, targets with the source of every number, objectives, Tradespace version, date."""
    from importlib.metadata import PackageNotFoundError, version

    from models.hardware import get_target

    try:
        ver = version("tradespace")
    except PackageNotFoundError:
        ver = "unknown"
    meta: dict[str, Any] = {
        "tradespace_version": ver,
        "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }
    if space is not None:
        meta["space"] = space.to_dict()
        targets = {}
        for name in space.targets():
            t = get_target(name)
            targets[name] = {
                "display_name": t.display_name,
                "class": t.target_class,
                "fields": {
                    p: {"value_SI": v, "unit_SI": spec.dimension, "source": src}
                    for p, (v, spec, src) in t.numeric_fields().items()
                },
            }
        meta["targets"] = targets
        objectives = objectives or space.objectives
    meta["objectives"] = [
        {"metric": o.metric, "direction": o.direction} for o in (objectives or [])
    ]
    return meta


def _to_json_bytes(df: pl.DataFrame, meta: Mapping[str, Any]) -> bytes:
    cols = {c: {"dtype": str(df[c].dtype)} for c in df.columns}
    rows = df.to_dict(as_series=False)
    doc = {"metadata": dict(meta), "columns": cols, "data": rows}
    return json.dumps(_json_clean(doc), indent=1, allow_nan=False).encode()


def read_json_results(path: str | Path) -> tuple[pl.DataFrame, dict[str, Any]]:
    """Read a JSON export back: ``(frame, metadata)`` with the exported dtypes."""
    doc = json.loads(Path(path).read_text())
    data = doc["data"]
    series = []
    for c, info in doc["columns"].items():
        vals = data[c]
        dt = info["dtype"]
        if dt.startswith("Float"):
            vals = [
                float(v) if isinstance(v, str) else (math.nan if v is None else v) for v in vals
            ]
            series.append(pl.Series(c, vals, dtype=pl.Float64))
        elif dt.startswith("Int") or dt.startswith("UInt"):
            series.append(pl.Series(c, vals, dtype=pl.Int64))
        elif dt == "Boolean":
            series.append(pl.Series(c, vals, dtype=pl.Boolean))
        else:
            series.append(pl.Series(c, vals, dtype=pl.String))
    return pl.DataFrame(series), doc["metadata"]


def plot_data(df: pl.DataFrame, objectives: Sequence[Objective]) -> dict[str, np.ndarray]:
    """Data of the trade-off plot: x, y of every point, feasibility and Pareto membership."""
    from models.dse.pareto import pareto_mask, to_minimization

    if len(objectives) < 2:
        raise ValueError("a trade-off plot needs at least two objectives")
    x, y = objectives[0].metric, objectives[1].metric
    for m in (x, y):
        if m not in df.columns:
            raise KeyError(
                f"objective {m!r} is not a column of the results; columns: {', '.join(df.columns)}"
            )
    feas = df["feasible"].to_numpy() if "feasible" in df.columns else np.ones(df.height, bool)
    Y = to_minimization(
        df.select(x, y).to_numpy(), [objectives[0].direction, objectives[1].direction]
    )
    front = np.zeros(df.height, bool)
    if feas.any():
        front[np.flatnonzero(feas)[pareto_mask(Y[feas])]] = True
    return {
        "x": df[x].to_numpy().astype(float),
        "y": df[y].to_numpy().astype(float),
        "feasible": feas,
        "front": front,
        "x_name": np.array(x),
        "y_name": np.array(y),
    }


def export(
    df: pl.DataFrame,
    path: str | Path,
    fmt: str | None = None,
    *,
    space: DesignSpace | None = None,
    objectives: Sequence[Objective] | None = None,
    meta: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``df`` to ``path`` atomically in ``fmt`` (default: from the suffix).

    Parameters
    ----------
    df
        Results frame (parameters, metrics, feasibility).
    path
        Destination file.
    fmt
        One of :data:`DATA_FORMATS` (plots: :func:`models.plots.export`).
    space, objectives
        Recorded in JSON metadata.
    meta
        Extra metadata merged into the JSON ``metadata`` block.
    """
    path = Path(path)
    fmt = fmt or path.suffix.lstrip(".").lower()
    if fmt not in DATA_FORMATS:
        hint = " (plots: models.plots.export)" if fmt in ("html", "png") else ""
        raise ValueError(f"export format {fmt!r}; allowed: {', '.join(DATA_FORMATS)}{hint}")
    objs = list(objectives or (space.objectives if space is not None else ()))
    if fmt == "csv":
        return atomic_write(path, lambda p: df.write_csv(p))
    if fmt == "parquet":
        return atomic_write(path, lambda p: df.write_parquet(p))
    md = {**metadata(space, objs), **dict(meta or {})}
    data = _to_json_bytes(df, md)
    return atomic_write(path, lambda p: p.write_bytes(data))


def read_results(path: str | Path) -> pl.DataFrame:
    """Read a results file written by :func:`export` (csv, parquet or json)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"results file {str(path)!r} does not exist")
    suf = path.suffix.lower()
    if suf == ".csv":
        return pl.read_csv(path)
    if suf == ".parquet":
        return pl.read_parquet(path)
    if suf == ".json":
        return read_json_results(path)[0]
    raise ValueError(
        f"results file {str(path)!r}: unknown format {suf!r}; allowed: .csv, .parquet, .json"
    )
