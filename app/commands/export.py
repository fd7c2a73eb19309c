"""``tradespace export RESULTS --format FMT --out FILE``: convert results or plot them."""

from __future__ import annotations

import argparse
import sys

from models.dse import load_space, parse_objectives, read_results
from models.io import check_writable
from models.plots import FORMATS, export


def _run(args: argparse.Namespace) -> int:
    check_writable(args.out)  # refused before the results are read or anything is drawn
    df = read_results(args.results)
    space = load_space(args.space) if args.space else None
    objs = parse_objectives(args.objective) if args.objective else None
    export(df, args.out, args.format, space=space, objectives=objs)
    print(f"{df.height} rows -> {args.out}", file=sys.stderr)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="write results as csv/parquet/json or an html/png plot",
        description="Convert a results file; html (offline, inline resources) and png plot the "
        "first two objectives with the Pareto front. Writes are atomic.",
    )
    p.add_argument("results", help="results file (.csv, .parquet, .json)")
    p.add_argument("--format", choices=FORMATS, required=True, help="output format")
    p.add_argument("--out", required=True, help="output file")
    p.add_argument("--space", help="design space TOML (metadata and default objectives)")
    p.add_argument(
        "--objective", action="append", metavar="NAME:min|max", help="objectives to plot/record"
    )
    p.set_defaults(func=_run)
