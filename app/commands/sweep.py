"""``tradespace sweep SPACE --out FILE``: evaluate the full grid of a design space."""

from __future__ import annotations

import argparse
import sys

from models.dse import export, load_space, pareto_front, sweep


def _run(args: argparse.Namespace) -> int:
    space = load_space(args.space)
    out = args.out
    if out and not out.endswith((".csv", ".parquet", ".json")):
        raise ValueError(f"--out {out!r}: a sweep writes .csv, .parquet or .json (plot a front with "
                         "`tradespace export`)")
    if args.chunk_size < 1:
        raise ValueError(f"--chunk-size {args.chunk_size}: allowed: an integer >= 1")
    progress = False if args.no_progress else None
    if out and out.endswith(".parquet") and not args.feasible_only:
        # streamed: every point goes to the file as it is evaluated; memory holds the front
        front = sweep(space, out=out, chunk_size=args.chunk_size, progress=progress, max_points=args.max_points)
        print(f"{space.name}: {space.n_grid_points} points -> {out}; {front.height} on the Pareto front",
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


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sweep",
        help="evaluate the full grid of a design space",
        description="Evaluate every grid point of a design space (TOML) in bounded chunks and write parameters, "
        "metrics and feasibility. A .parquet output is streamed (memory stays bounded whatever the grid). "
        "Exit 2 on a bad space file or output path.",
    )
    p.add_argument("space", help="design space TOML file (see data/spaces/)")
    p.add_argument("--out", help="output file: .parquet (streamed), .csv or .json (with metadata)")
    p.add_argument("--chunk-size", type=int, default=1 << 16, help="points evaluated at once (memory bound)")
    p.add_argument("--max-points", type=int, default=None, help="refuse grids larger than this")
    p.add_argument("--feasible-only", action="store_true", help="keep only feasible points")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_run)
