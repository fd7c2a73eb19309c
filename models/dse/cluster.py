"""Sweeps on a Dask cluster: the grid cut into parts by index ranges, a Parquet dataset out.

``sweep_cluster(space, out, cluster="local:4")`` (or ``cluster="tcp://HOST:PORT"``, a running
Dask scheduler) evaluates the grid of ``space`` exactly as :func:`models.dse.sweep` does, on the
workers of a cluster:

- **Parts.** The sweep's blocks (:func:`models.dse.sweep.sweep_layout`: the product sub-grids of
  at most ``chunk_size`` points that the local sweep evaluates) are numbered in the sweep's row
  order; part ``i`` is blocks ``[i * m, (i + 1) * m)`` with ``m = max(1, part_size //
  chunk_size)``, i.e. rows ``[block_start(i * m), block_start((i + 1) * m))``. Only the two
  integers travel to a worker; no grid is built on the client.
- **Workers.** A worker evaluates its rows with :func:`models.dse.sweep.sweep_rows` (the local
  sweep's own path, block for block, so the rows are bit-identical to a local sweep's), writes
  them to ``part-NNNNNN.parquet`` and the part's Pareto front to ``_fronts/front-NNNNNN.parquet``
  (each atomically: a temporary file, then one rename), and returns the front.
- **Client.** Keeps at most a few parts per worker thread in flight, merges the returned fronts
  as they come (the front of a union is the front of the union of the parts' fronts), records
  finished parts in ``_manifest.json`` (with the space's digest), and at the end writes the
  Parquet ``_metadata`` and ``_common_metadata`` summaries and the merged ``_front.parquet``.
  Its memory holds the front and a few small futures, whatever the grid's size.
- **Resume.** A rerun into the same folder skips every part whose part and front files exist
  (they appear only once complete) and reads their fronts back; a folder holding another
  space's dataset, or the same space cut differently, is refused before anything is written.
- **Dead workers.** A part that was running on a worker that died is run again by the scheduler
  on another worker; its files get the same names, so each part is in the dataset once.

The folder is a plain Parquet dataset: ``polars.scan_parquet(out / "part-*.parquet")`` or
``pyarrow.dataset.dataset(out)`` (files starting with ``_`` or ``.`` are ignored by readers).
With ``tcp://`` workers on other machines, ``out`` must be a path every worker sees (a shared
filesystem) and every worker must have Tradespace installed.

Dask (``dask[distributed]``) is the optional extra ``cluster`` and is imported only here.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from models.dse.pareto import pareto_front
from models.dse.space import DesignSpace
from models.dse.sweep import DEFAULT_CHUNK, _empty, _ParquetStream, check_budget, sweep_layout, sweep_rows
from models.io import OutputPathError, atomic_write, atomic_write_text

__all__ = [
    "DEFAULT_PART_SIZE",
    "ClusterError",
    "ClusterSweep",
    "DatasetError",
    "parse_cluster",
    "part_bounds",
    "read_dataset",
    "sweep_cluster",
]

#: Points per part (one task, one Parquet file), rounded down to whole blocks.
DEFAULT_PART_SIZE = 1 << 20
#: Seconds the client waits for a ``tcp://`` scheduler before it gives up.
DEFAULT_CONNECT_TIMEOUT_S = 10.0
MANIFEST = "_manifest.json"
FRONTS = "_fronts"
FRONT = "_front.parquet"
_FORMAT = "tradespace-sweep-dataset/1"
_PART_RE = re.compile(r"^part-(\d{6,})\.parquet$")
# A hidden column of the fronts: the row's place in the sweep order, so that the merged front
# comes out in grid order whatever order the parts finish in (dropped at the end).
_ROW = "__grid_row"
# Seconds between two rewrites of the manifest while parts finish.
_MANIFEST_EVERY_S = 2.0
CLUSTER_FORMS = ("local:N (a Dask LocalCluster of N worker processes, N >= 1)",
                 "tcp://HOST:PORT (a running Dask scheduler)")
_INSTALL = "pip install -e .[cluster]   (or: pip install 'dask[distributed]')"


class ClusterError(ValueError):
    """A cluster that cannot be used: a spec that does not parse, an unreachable scheduler,
    Dask not installed. The message names the spec or address and what is allowed."""


class DatasetError(ValueError):
    """An output folder a cluster sweep must not write into (another space's parts, a file, a
    folder that is not a sweep dataset). Nothing has been written when it is raised."""


@dataclass(frozen=True, kw_only=True)
class ClusterSpec:
    """A parsed ``--cluster`` value: ``kind`` ``"local"`` (``n_workers``) or ``"tcp"`` (``address``)."""

    kind: str
    n_workers: int = 0
    address: str = ""


def parse_cluster(spec: str) -> ClusterSpec:
    """``"local:N"`` or ``"tcp://HOST:PORT"`` -> :class:`ClusterSpec`.

    Raises
    ------
    ClusterError
        Naming the spec and the allowed forms.
    """
    s = str(spec).strip()
    allowed = f"allowed: {'; '.join(CLUSTER_FORMS)}"
    m = re.fullmatch(r"local:(\d{1,4})", s)
    if m:
        n = int(m.group(1))
        if n < 1:
            raise ClusterError(f"cluster {spec!r}: N = {n} workers; {allowed}")
        return ClusterSpec(kind="local", n_workers=n)
    m = re.fullmatch(r"tcp://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.\-]+):(\d{1,5})", s)
    if m and 0 < int(m.group(2)) < 65536:
        return ClusterSpec(kind="tcp", address=s)
    raise ClusterError(f"cluster {spec!r} does not parse; {allowed}")


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError as exc:
        raise ClusterError(f"--cluster needs Dask, which is not installed ({exc}); install it with: "
                           f"{_INSTALL}") from None
    return distributed


# ----------------------------------------------------------------------------- parts
def part_bounds(space: DesignSpace, *, chunk_size: int = DEFAULT_CHUNK,
                part_size: int = DEFAULT_PART_SIZE) -> tuple[int, Callable[[int], tuple[int, int]]]:
    """The number of parts and a function ``i -> (start, stop)``: the rows of part ``i``.

    Part boundaries are block starts (:class:`models.dse.sweep.SweepLayout`), so every part is
    evaluated block for block as the local sweep evaluates it.
    """
    if part_size < 1:
        raise ValueError(f"part_size={part_size}; allowed: an integer >= 1")
    layout = sweep_layout(space, chunk_size)
    m = max(1, part_size // chunk_size)
    n_parts = -(-layout.n_blocks // m)

    def rows(i: int) -> tuple[int, int]:
        if not 0 <= i < n_parts:
            raise ValueError(f"part {i}; allowed: 0 to {n_parts - 1}")
        return layout.block_start(i * m), layout.block_start(min(layout.n_blocks, (i + 1) * m))

    return n_parts, rows


def _part_name(i: int) -> str:
    return f"part-{i:06d}.parquet"


def _front_path(out: Path, i: int) -> Path:
    return out / FRONTS / f"front-{i:06d}.parquet"


def _run_part(space: DesignSpace, out: str, i: int, start: int, stop: int, chunk_size: int,
              out_rows: str) -> tuple[int, int, int, pl.DataFrame]:
    """On a worker: evaluate rows ``[start, stop)``, write the part and its front, return the front.

    Returns ``(part, rows written, feasible rows, front)``; the front has the hidden
    ``__grid_row`` column (each row's place in the sweep order).
    """
    folder = Path(out)
    front: list[pl.DataFrame] = []  # at most one frame: the running front of the part
    counts = [0, 0]

    def write(tmp: Path) -> None:
        with _ParquetStream(tmp) as w:
            first = start
            for df in sweep_rows(space, start, stop, chunk_size=chunk_size):
                n_feasible = int(df["feasible"].sum())
                w.write(df if out_rows == "all" else df.filter(pl.col("feasible")))
                counts[0] += df.height if out_rows == "all" else n_feasible
                counts[1] += n_feasible
                f = pareto_front(df.with_columns(pl.int_range(first, first + df.height, dtype=pl.Int64).alias(_ROW)),
                                 space.objectives)
                front[:] = [f if not front else pareto_front(pl.concat([front[0], f]), space.objectives)]
                first += df.height
            if w.n_writes == 0:
                w.write(_empty(space))

    atomic_write(folder / _part_name(i), write)
    f = front[0] if front else _with_row(_empty(space))
    # the front last: a part counts as finished only once both files exist
    atomic_write(_front_path(folder, i), lambda tmp: f.write_parquet(tmp))
    return i, counts[0], counts[1], f


def _with_row(df: pl.DataFrame) -> pl.DataFrame:
    return df.with_columns(pl.lit(None, dtype=pl.Int64).alias(_ROW))


# ----------------------------------------------------------------------------- the folder
def _runs(done: set[int]) -> list[list[int]]:
    """``{0, 1, 2, 5}`` -> ``[[0, 3], [5, 6]]`` (half-open runs: a compact manifest)."""
    out: list[list[int]] = []
    for i in sorted(done):
        if out and out[-1][1] == i:
            out[-1][1] = i + 1
        else:
            out.append([i, i + 1])
    return out


def _manifest(space: DesignSpace, digest: str, *, n_points: int, n_parts: int, chunk_size: int, part_size: int,
              out_rows: str, done: set[int]) -> dict[str, Any]:
    return {"format": _FORMAT, "space_name": space.name, "space_source": space.source, "space_digest": digest,
            "n_points": n_points, "n_parts": n_parts, "chunk_size": chunk_size, "part_size": part_size,
            "out_rows": out_rows, "complete": len(done) == n_parts, "finished_parts": _runs(done)}


def _check_folder(out: Path, want: dict[str, Any]) -> None:
    """Refuse a destination that is a file, or a folder holding anything but this sweep's dataset."""
    shown = repr(str(out))
    if out.exists() and not out.is_dir():
        raise DatasetError(f"--out {shown}: it is a file; a cluster sweep writes a Parquet dataset folder (give a "
                           "new or empty folder, e.g. sweep.parquet/)")
    if not out.exists():
        parent = out.absolute().parent
        if not parent.is_dir():
            raise DatasetError(f"--out {shown}: folder {str(parent)!r} does not exist")
        return
    entries = [e for e in os.listdir(out) if not e.startswith(".")]
    if not entries:
        return
    mpath = out / MANIFEST
    if not mpath.is_file():
        raise DatasetError(f"--out {shown}: the folder holds files but no {MANIFEST} (it is not a Tradespace sweep "
                           "dataset); nothing was written; give a new or empty folder")
    try:
        have = json.loads(mpath.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DatasetError(f"{str(mpath)!r}: cannot read the manifest ({exc}); nothing was written") from None
    if not isinstance(have, dict) or have.get("format") != _FORMAT:
        raise DatasetError(f"{str(mpath)!r}: not a {_FORMAT} manifest; nothing was written")
    if have.get("space_digest") != want["space_digest"]:
        raise DatasetError(
            f"--out {shown} holds the parts of another space ({have.get('space_name')!r} from "
            f"{have.get('space_source')!r}, digest {str(have.get('space_digest'))[:12]}...; this is "
            f"{want['space_name']!r}, digest {want['space_digest'][:12]}...); nothing was written; give another "
            "folder or remove that one")
    for key, flag in (("chunk_size", "--chunk-size"), ("part_size", "--part-size"), ("out_rows", "--feasible-only")):
        if have.get(key) != want[key]:
            raise DatasetError(f"--out {shown} holds this space cut with {key} = {have.get(key)!r} (this run: "
                               f"{want[key]!r}); resume with the same {flag}, or give another folder; nothing was "
                               "written")


def _finished(out: Path, n_parts: int) -> set[int]:
    """Parts whose part and front files both exist (each appears only once written in full)."""
    done: set[int] = set()
    if not out.is_dir():
        return done
    fronts = out / FRONTS
    for e in os.scandir(out):
        m = _PART_RE.match(e.name)
        if m and int(m.group(1)) < n_parts and (fronts / f"front-{m.group(1)}.parquet").is_file():
            done.add(int(m.group(1)))
    return done


def _write_metadata(out: Path, n_parts: int) -> None:
    """``_common_metadata`` (the schema) and ``_metadata`` (every part's row groups) of the dataset."""
    import pyarrow.parquet as pq

    md: Any = None
    for i in range(n_parts):
        m = pq.read_metadata(out / _part_name(i))
        m.set_file_path(_part_name(i))
        if md is None:
            md = m
        else:
            md.append_row_groups(m)
    if md is None:
        return
    schema = md.schema.to_arrow_schema()
    atomic_write(out / "_common_metadata", lambda tmp: pq.write_metadata(schema, str(tmp)))
    atomic_write(out / "_metadata", lambda tmp: md.write_metadata_file(str(tmp)))


def read_dataset(out: str | Path) -> pl.LazyFrame:
    """The points of a cluster sweep's dataset folder, lazily, in the sweep's row order."""
    out = Path(out)
    mpath = out / MANIFEST
    if not mpath.is_file():
        raise DatasetError(f"{str(out)!r}: no {MANIFEST}; not a Tradespace sweep dataset")
    n_parts = int(json.loads(mpath.read_text(encoding="utf-8"))["n_parts"])
    return pl.scan_parquet([out / _part_name(i) for i in range(n_parts)])


# ----------------------------------------------------------------------------- the client
@dataclass(frozen=True, kw_only=True)
class ClusterSweep:
    """What a cluster sweep did.

    Attributes
    ----------
    out
        The dataset folder.
    front
        The Pareto front of the feasible points (the same rows, in the same order, as
        ``sweep(space, keep="front")``).
    n_points
        Points of the grid.
    n_parts
        Parts of the grid (one Parquet file each).
    n_parts_run
        Parts evaluated by this call (the others were finished by an earlier one).
    n_rows_run
        Rows written by this call.
    complete
        Every part is finished (False after a run bounded by ``max_parts``); ``front`` is then
        the front of the finished parts only.
    """

    out: Path
    front: pl.DataFrame
    n_points: int
    n_parts: int
    n_parts_run: int
    n_rows_run: int
    complete: bool = True


@contextlib.contextmanager
def _client(spec: ClusterSpec, connect_timeout_s: float) -> Iterator[Any]:
    distributed = _import_distributed()
    import logging

    if spec.kind == "local":
        # one thread per process: the kernel is numpy-bound and holds the GIL between calls
        cluster = distributed.LocalCluster(n_workers=spec.n_workers, threads_per_worker=1, processes=True,
                                           dashboard_address=None, silence_logs=logging.ERROR)
        try:
            with distributed.Client(cluster) as client:
                yield client
        finally:
            cluster.close()
        return
    try:
        client = distributed.Client(spec.address, timeout=connect_timeout_s)
    except (OSError, TimeoutError) as exc:
        why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ClusterError(f"cannot reach the Dask scheduler at {spec.address} within {connect_timeout_s:g} s "
                           f"({why[:200]}); start one with `dask scheduler` and workers with `dask worker "
                           f"{spec.address}`, or use --cluster local:N") from None
    with client:
        yield client


def _progress(total: int, initial: int, desc: str, progress: bool | None) -> Any:
    from tqdm.auto import tqdm

    disable = (not sys.stderr.isatty()) if progress is None else (not progress)
    return tqdm(total=total, initial=initial, desc=desc, unit="part", file=sys.stderr, disable=disable)


def sweep_cluster(
    space: DesignSpace,
    out: str | Path,
    *,
    cluster: str | Any,
    chunk_size: int = DEFAULT_CHUNK,
    part_size: int = DEFAULT_PART_SIZE,
    out_rows: str = "all",
    progress: bool | None = None,
    max_points: int | None = None,
    retries: int = 2,
    connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
    on_part: Callable[[int, int], None] | None = None,
    max_parts: int | None = None,
) -> ClusterSweep:
    """Evaluate the full grid of ``space`` on a Dask cluster into the Parquet dataset ``out``.

    Parameters
    ----------
    space
        The design space.
    out
        The dataset folder (created; ``.parquet`` in its name is customary). An existing folder
        is resumed if it holds this space's dataset cut the same way, and refused otherwise.
    cluster
        ``"local:N"``, ``"tcp://HOST:PORT"`` (see :func:`parse_cluster`) or a
        ``distributed.Client`` already connected.
    chunk_size
        Points a worker evaluates at once (as in :func:`models.dse.sweep`).
    part_size
        Points per part (one task, one Parquet file), rounded down to whole chunks.
    out_rows
        What the parts receive: ``"all"`` points or the ``"feasible"`` ones.
    progress
        A tqdm bar over parts on stderr; ``None`` shows it only when stderr is a terminal.
    max_points
        Refuse grids larger than this (``None``: no budget; the CLI passes ``--max-points``).
    retries
        Times a part that raised is tried again (a part on a worker that died is rescheduled by
        Dask without counting against this).
    connect_timeout_s
        Seconds to wait for a ``tcp://`` scheduler.
    on_part
        Called on the client as ``on_part(n_finished, n_parts)`` after each finished part.
    max_parts
        Evaluate at most this many of the parts not finished yet, then return (a bounded run:
        ``complete`` is then False and the summaries are not written; rerun to go on).

    Returns
    -------
    ClusterSweep

    Raises
    ------
    ClusterError
        The cluster spec does not parse, the scheduler cannot be reached, Dask is missing.
    DatasetError
        ``out`` is a file, or a folder with another space's (or another cut's) parts.
    """
    from models.dse.search import space_digest

    if out_rows not in ("all", "feasible"):
        raise ValueError(f"out_rows={out_rows!r}; allowed: all, feasible")
    if chunk_size < 1:
        raise ValueError(f"chunk_size={chunk_size}; allowed: >= 1")
    if max_parts is not None and (isinstance(max_parts, bool) or not isinstance(max_parts, int) or max_parts < 0):
        raise ValueError(f"max_parts={max_parts!r}; allowed: an integer >= 0, or None (every part)")
    spec = parse_cluster(cluster) if isinstance(cluster, str) else None
    out = Path(out)
    n_points = check_budget(space, max_points)
    n_parts, rows = part_bounds(space, chunk_size=chunk_size, part_size=part_size)
    digest = space_digest(space)

    def manifest(done: set[int]) -> dict[str, Any]:
        return _manifest(space, digest, n_points=n_points, n_parts=n_parts, chunk_size=chunk_size,
                         part_size=part_size, out_rows=out_rows, done=done)

    _check_folder(out, manifest(set()))
    given: Any = cluster
    cm: contextlib.AbstractContextManager[Any] = (
        _client(spec, connect_timeout_s) if spec is not None else contextlib.nullcontext(given))
    done: set[int] = set()
    front: pl.DataFrame | None = None

    def merge(f: pl.DataFrame) -> None:
        nonlocal front
        front = f if front is None else pareto_front(pl.concat([front, f], how="vertical_relaxed"), space.objectives)

    n_rows_run = n_run = 0
    with cm as client:  # connected (or refused) before anything is written
        try:
            (out / FRONTS).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputPathError(f"cannot write {str(out)!r}: {exc.strerror or exc}") from None
        done = _finished(out, n_parts)
        atomic_write_text(out / MANIFEST, json.dumps(manifest(done), indent=1))
        for i in sorted(done):  # the fronts of the parts an earlier run finished
            merge(pl.read_parquet(_front_path(out, i)))
        todo = itertools.islice((i for i in range(n_parts) if i not in done), max_parts)
        last_manifest = time.monotonic()
        try:
            with _progress(n_parts, len(done), f"sweep {space.name}", progress) as bar:
                distributed = _import_distributed()
                n_threads = max(1, sum(client.nthreads().values()))
                window = 2 * n_threads + 2  # enough to keep every thread busy; bounded client memory
                tag = f"tradespace-part-{digest[:12]}-{os.getpid()}-{time.monotonic_ns()}"

                def submit(i: int) -> Any:
                    start, stop = rows(i)
                    return client.submit(_run_part, space, str(out.absolute()), i, start, stop, chunk_size,
                                         out_rows, key=f"{tag}-{i}", retries=retries, pure=False)

                ac = distributed.as_completed([submit(i) for _, i in zip(range(window), todo, strict=False)])
                for fut in ac:
                    i, n_rows, _, f = fut.result()
                    fut.release()
                    nxt = next(todo, None)
                    if nxt is not None:
                        ac.add(submit(nxt))
                    merge(f)
                    done.add(i)
                    n_run += 1
                    n_rows_run += n_rows
                    bar.update(1)
                    if on_part is not None:
                        on_part(len(done), n_parts)
                    if time.monotonic() - last_manifest > _MANIFEST_EVERY_S:
                        atomic_write_text(out / MANIFEST, json.dumps(manifest(done), indent=1))
                        last_manifest = time.monotonic()
        finally:
            # what finished is recorded, whatever stopped the run (Ctrl-C, a failed part)
            with contextlib.suppress(OSError):
                atomic_write_text(out / MANIFEST, json.dumps(manifest(_finished(out, n_parts)), indent=1))

    if len(done) != n_parts and max_parts is None:  # a Client the caller gave us that lost its workers, say
        raise RuntimeError(f"{len(done)} of {n_parts} parts finished; rerun to resume")
    if len(done) != n_parts:
        partial = front if front is not None else _with_row(_empty(space))
        return ClusterSweep(out=out, front=partial.sort(_ROW).drop(_ROW), n_points=n_points, n_parts=n_parts,
                            n_parts_run=n_run, n_rows_run=n_rows_run, complete=False)
    _write_metadata(out, n_parts)
    result = front if front is not None else _with_row(_empty(space))
    result = result.sort(_ROW).drop(_ROW)
    atomic_write(out / FRONT, lambda tmp: result.write_parquet(tmp))
    atomic_write_text(out / MANIFEST, json.dumps(manifest(done), indent=1))
    return ClusterSweep(out=out, front=result, n_points=n_points, n_parts=n_parts, n_parts_run=n_run,
                        n_rows_run=n_rows_run)
