"""``tradespace sweep SPACE --out FILE``: evaluate the full grid of a design space."""

from __future__ import annotations

import argparse
import sys

from models.dse import export, load_space, sweep


def _run(args: argparse.Namespace) -> int:
    space = load_space(args.space)
    if args.out and args.out.endswith((".html", ".png")):
        raise ValueError(
            "--out of a sweep must be .csv, .parquet or .json (plot with `tradespace export`)"
        )
    df = sweep(
        space,
        chunk_size=args.chunk_size,
        progress=False if args.no_progress else None,
        keep="feasible" if args.feasible_only else "all",
        max_points=args.max_points,
    )
    if args.out:
        export(df, args.out, space=space)
    print(
        f"{space.name}: {df.height} points, {int(df['feasible'].sum())} feasible"
        + (f" -> {args.out}" if args.out else ""),
        file=sys.stderr,
    )
    if not args.out:
        print(df)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sweep",
        help="evaluate the full grid of a design space",
        description="Evaluate every grid point of a design space (TOML) in bounded chunks "
        "and write parameters, metrics and feasibility. Exit 2 on a bad space file "
        "or output path.",
    )
    p.add_argument("space", help="design space TOML file (see data/spaces/)")
    p.add_argument("--out", help="output file: .csv, .parquet or .json (with metadata)")
    p.add_argument(
        "--chunk-size", type=int, default=1 << 18, help="points evaluated at once (memory bound)"
    )
    p.add_argument("--max-points", type=int, default=None, help="refuse grids larger than this")
    p.add_argument("--feasible-only", action="store_true", help="keep only feasible points")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_run)
