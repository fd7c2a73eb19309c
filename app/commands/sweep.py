"""``tradespace sweep SPACE --out FILE``: evaluate the full grid of a design space.

``--cluster local:N`` or ``--cluster tcp://HOST:PORT`` runs it on a Dask cluster into a Parquet
dataset folder (:mod:`models.dse.cluster`).
"""

from __future__ import annotations

import argparse
import sys

from app.commands._common import check_out_format
from models.dse import SpaceError, export, load_space, pareto_front, sweep
from models.dse.export import DATA_FORMATS
from models.dse.sweep import DEFAULT_MAX_POINTS, check_budget
from models.io import check_writable


def _run(args: argparse.Namespace) -> int:
    if args.cluster is not None:
        return _run_cluster(args)
    out = args.out
    if out:  # plots of a front: `tradespace pareto --out x.html` or `tradespace export`
        check_out_format("--out", out, DATA_FORMATS, "sweep")
    if args.chunk_size < 1:
        raise ValueError(f"--chunk-size {args.chunk_size}: allowed: an integer >= 1")
    if args.max_points < 1:
        raise ValueError(f"--max-points {args.max_points}: allowed: an integer >= 1")
    space = load_space(args.space)
    try:
        check_budget(space, args.max_points)
    except SpaceError:
        raise SpaceError(f"{space.source}: the grid of {space.name!r} has {space.n_grid_points:,} points, more than "
                         f"the budget of {args.max_points:,} points (--max-points, default {DEFAULT_MAX_POINTS:,}); "
                         "lower n_grid or the values of its parameters, or raise it with --max-points N") from None
    if out:
        check_writable(out)  # a bad destination is refused now, not after the whole sweep
    progress = False if args.no_progress else None
    if out and out.endswith((".parquet", ".csv")):
        # streamed: the points go to the file as they are evaluated; memory holds the front only
        front = sweep(space, out=out, chunk_size=args.chunk_size, progress=progress, max_points=args.max_points,
                      out_rows="feasible" if args.feasible_only else "all")
        what = "feasible points of " if args.feasible_only else ""
        print(f"{space.name}: {what}{space.n_grid_points} points -> {out}; {front.height} on the Pareto front",
              file=sys.stderr)
        return 0
    df = sweep(space, chunk_size=args.chunk_size, progress=progress,
               keep="feasible" if args.feasible_only else "all", max_points=args.max_points)
    if out:
        export(df, out, space=space)
    front = pareto_front(df, space.objectives)
    print(f"{space.name}: {df.height} points, {int(df['feasible'].sum())} feasible, {front.height} on the Pareto "
          f"front" + (f" -> {out}" if out else ""), file=sys.stderr)
    if not out:
        print(df)
    return 0


def _run_cluster(args: argparse.Namespace) -> int:
    """``--cluster``: the grid in parts on a Dask cluster, into a Parquet dataset folder."""
    # models.dse.cluster imports Dask only when it runs: the rest of the CLI works without it
    from models.dse.cluster import DEFAULT_PART_SIZE, parse_cluster, sweep_cluster

    parse_cluster(args.cluster)  # a spec that does not parse is refused before the space is read
    out = args.out
    if not out:
        raise ValueError("--cluster needs --out FOLDER: a Parquet dataset folder (e.g. --out sweep.parquet)")
    if out.lower().endswith((".csv", ".json")):
        raise ValueError(f"--out {out!r}: with --cluster a sweep writes a Parquet dataset folder (a new or empty "
                         "folder, or a name ending in .parquet), not a .csv or .json file")
    for name, v in (("--chunk-size", args.chunk_size), ("--max-points", args.max_points),
                    ("--part-size", args.part_size)):
        if v is not None and v < 1:
            raise ValueError(f"{name} {v}: allowed: an integer >= 1")
    if args.connect_timeout <= 0:
        raise ValueError(f"--connect-timeout {args.connect_timeout}: allowed: a number of seconds > 0")
    space = load_space(args.space)
    check_budget(space, args.max_points)
    r = sweep_cluster(space, out, cluster=args.cluster, chunk_size=args.chunk_size,
                      part_size=args.part_size or DEFAULT_PART_SIZE, max_points=args.max_points,
                      out_rows="feasible" if args.feasible_only else "all",
                      progress=False if args.no_progress else None, connect_timeout_s=args.connect_timeout)
    skipped = r.n_parts - r.n_parts_run
    print(f"{space.name}: {r.n_points} points in {r.n_parts} parts on {args.cluster} -> {out}/ "
          f"({r.n_parts_run} run, {skipped} finished earlier); {r.front.height} on the Pareto front -> "
          f"{out}/_front.parquet", file=sys.stderr)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sweep",
        help="evaluate the full grid of a design space",
        description="Evaluate every grid point of a design space (TOML) in bounded chunks and write parameters, "
        "metrics and feasibility. A .parquet or .csv output is streamed (memory stays bounded whatever the grid; "
        ".json holds every point in memory). "
        f"Grids of more than --max-points points (default {DEFAULT_MAX_POINTS:,}) are refused before any work. "
        "With --cluster the grid is cut into parts evaluated by Dask workers into a Parquet dataset folder "
        "(part-*.parquet, _metadata, _front.parquet, _manifest.json); rerunning resumes it. "
        "Exit 2 on a bad space file, output path, budget or cluster.",
    )
    p.add_argument("space", help="design space TOML file (see data/spaces/)")
    p.add_argument("--out", help="output file: .parquet or .csv (streamed), or .json (with metadata, built in memory)")
    p.add_argument("--chunk-size", type=int, default=1 << 16, help="points evaluated at once (memory bound)")
    p.add_argument("--max-points", type=int, default=DEFAULT_MAX_POINTS, metavar="N",
                   help=f"refuse grids of more than N points (default {DEFAULT_MAX_POINTS:,})")
    p.add_argument("--feasible-only", action="store_true", help="keep only feasible points")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--cluster", metavar="SPEC",
                   help="run on a Dask cluster: local:N (N local worker processes) or tcp://HOST:PORT (a running "
                   "scheduler); --out is then a Parquet dataset folder, resumed when rerun (needs the 'cluster' "
                   "extra: pip install -e .[cluster])")
    p.add_argument("--part-size", type=int, default=None, metavar="N",
                   help="with --cluster: points per part (one task, one Parquet file; default 1,048,576)")
    p.add_argument("--connect-timeout", type=float, default=10.0, metavar="S",
                   help="with --cluster tcp://...: seconds to wait for the scheduler (default 10)")
    p.set_defaults(func=_run)
