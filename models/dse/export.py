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

__all__ = ["DATA_FORMATS", "atomic_write", "columns_text", "export", "metadata", "plot_data", "read_json_results",
           "read_results", "with_integer_parameters"]

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


def with_integer_parameters(df: pl.DataFrame, space: DesignSpace) -> pl.DataFrame:
    """``df`` with the columns of ``space``'s integer parameters as Int64.

    Points are evaluated as float64 arrays; an integer knob (``batch``, ``group_size``) is
    written back as an integer so that CSV, Parquet and JSON show ``8``, not ``8.0``. Its
    values are whole numbers by construction (grids and searches of an ``int`` parameter).
    """
    cols = [p.name for p in space.parameters
            if p.kind == "int" and p.name in df.columns and df[p.name].dtype != pl.Int64]
    if not cols:
        return df
    return df.with_columns([pl.col(c).round().cast(pl.Int64) for c in cols])


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
                "provenance": t.provenance,
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
    """Read a JSON export back: ``(frame, metadata)`` with the exported dtypes.

    Raises ValueError naming the file and what is wrong: not UTF-8 JSON, nested too deeply, or
    not the layout :func:`export` writes (``metadata``, ``columns`` with dtypes, ``data``).
    """
    path = Path(path)
    where = f"results file {str(path)!r}"
    try:
        doc = json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ValueError(f"{where}: not UTF-8 text (byte {exc.start}); a JSON export is required") from None
    except RecursionError:
        raise ValueError(f"{where}: JSON nested too deeply; not a Tradespace JSON export") from None
    except ValueError as exc:  # JSONDecodeError, or an integer of more than 4300 digits
        raise ValueError(f"{where}: invalid JSON ({str(exc).split(';')[0]})") from None
    layout = "a JSON export is an object with 'metadata', 'columns' ({name: {dtype}}) and 'data' ({name: [...]})"
    if not isinstance(doc, dict):
        raise ValueError(f"{where}: the document is a JSON {type(doc).__name__}; {layout}")
    for key, kind in (("metadata", dict), ("columns", dict), ("data", dict)):
        if not isinstance(doc.get(key), kind):
            raise ValueError(f"{where}: field {key!r} is missing or not an object; {layout}")
    data, columns = doc["data"], doc["columns"]
    series = []
    n_rows: int | None = None
    for c, info in columns.items():
        dt = info.get("dtype") if isinstance(info, dict) else None
        vals = data.get(c)
        if not isinstance(dt, str) or not isinstance(vals, list):
            raise ValueError(f"{where}: column {_name(c)}: a dtype in 'columns' and a list in 'data' are required")
        if n_rows is not None and len(vals) != n_rows:
            raise ValueError(f"{where}: column {_name(c)} has {len(vals)} values, the columns before it {n_rows}")
        n_rows = len(vals)
        try:
            if dt.startswith("Float"):
                vals = [float(v) if isinstance(v, str) else (math.nan if v is None else v) for v in vals]
                series.append(pl.Series(c, vals, dtype=pl.Float64, strict=True))
            elif dt.startswith("Int") or dt.startswith("UInt"):
                series.append(pl.Series(c, vals, dtype=pl.Int64, strict=True))
            elif dt == "Boolean":
                series.append(pl.Series(c, vals, dtype=pl.Boolean, strict=True))
            else:
                series.append(pl.Series(c, vals, dtype=pl.String, strict=True))
        except (TypeError, ValueError, OverflowError, pl.exceptions.PolarsError):
            raise ValueError(f"{where}: column {_name(c)}: values do not match its dtype {dt!r}") from None
    return pl.DataFrame(series), doc["metadata"]


def _name(c: object) -> str:
    """A column name for a message (the name of a damaged file may hold anything)."""
    text = repr(c)
    return text if len(text) <= 60 else text[:57] + "..."


def columns_text(df: pl.DataFrame, limit: int = 30) -> str:
    """The column names of ``df`` for a message: quoted, at most ``limit`` of them."""
    names = [_name(c) for c in df.columns[:limit]]
    more = f", ... ({df.width} in all)" if df.width > limit else ""
    return (", ".join(names) + more) if names else "(none)"


def plot_data(df: pl.DataFrame, objectives: Sequence[Objective]) -> dict[str, np.ndarray]:
    """Data of the trade-off plot: x, y of every point, feasibility and Pareto membership."""
    from models.dse.pareto import feasible_mask, pareto_mask, to_minimization

    if len(objectives) < 2:
        raise ValueError("a trade-off plot needs at least two objectives")
    x, y = objectives[0].metric, objectives[1].metric
    for m in (x, y):
        if m not in df.columns:
            raise KeyError(f"objective {m!r} is not a column of the results; columns: {columns_text(df)}")
    for m in (x, y):
        if not df[m].dtype.is_numeric():
            raise ValueError(f"objective {m!r}: column of {df[m].dtype} values; a numeric column is required")
    feas = feasible_mask(df).to_numpy()
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
    if space is not None:
        df = with_integer_parameters(df, space)
    if fmt == "csv":
        return atomic_write(path, lambda p: df.write_csv(p))
    if fmt == "parquet":
        return atomic_write(path, lambda p: df.write_parquet(p))
    md = {**metadata(space, objs), **dict(meta or {})}
    data = _to_json_bytes(df, md)
    return atomic_write(path, lambda p: p.write_bytes(data))


def read_results(path: str | Path) -> pl.DataFrame:
    """Read a results file written by :func:`export` (csv, parquet or json).

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    ValueError
        Naming the file and what is wrong: an unknown suffix, a folder, an empty file, not UTF-8
        text (CSV, JSON), not a Parquet file, not the JSON layout of :func:`export`, no columns.
    """
    path = Path(path)
    where = f"results file {str(path)!r}"
    if not path.exists():
        raise FileNotFoundError(f"{where} does not exist")
    if path.is_dir():
        raise ValueError(f"{where} is a folder; a .csv, .parquet or .json file is required")
    suf = path.suffix.lower()
    if suf not in (".csv", ".parquet", ".json"):
        raise ValueError(f"{where}: unknown format {suf!r}; allowed: .csv, .parquet, .json")
    if path.stat().st_size == 0:
        raise ValueError(f"{where} is empty; a {suf[1:]} file of results (a sweep, search or export) is required")
    if suf == ".json":
        df = read_json_results(path)[0]
    else:
        try:
            df = pl.read_csv(path) if suf == ".csv" else pl.read_parquet(path)
        except (pl.exceptions.PolarsError, OSError, UnicodeDecodeError, ValueError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            kind = "a CSV file (UTF-8 text, a header row)" if suf == ".csv" else "a Parquet file"
            raise ValueError(f"{where}: cannot be read as {kind}: {first[:200]}") from None
    if df.width == 0:
        raise ValueError(f"{where}: no columns; a results file has parameter and metric columns")
    return df
