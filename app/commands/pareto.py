"""``tradespace pareto RESULTS --objective NAME:min ...``: the non-dominated rows of a results file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from models.dse import pareto_front, parse_objectives, read_results
from models.io import check_writable
from models.plots import FORMATS, export


def _run(args: argparse.Namespace) -> int:
    objs = parse_objectives(args.objective)
    if args.out:
        if Path(args.out).suffix.lower().lstrip(".") not in FORMATS:
            raise ValueError(f"--out {args.out!r}: unknown format; allowed suffixes: "
                             f"{', '.join('.' + f for f in FORMATS)}")
        check_writable(args.out)  # refused before the results are read
    df = read_results(args.results)
    front = pareto_front(df, objs, feasible_only=not args.include_infeasible, ranks=args.ranks)
    if args.out:
        export(front, args.out, objectives=objs)
    print(
        f"{front.height} of {df.height} rows" + (f" -> {args.out}" if args.out else ""),
        file=sys.stderr,
    )
    if not args.out:
        print(front.select([o.metric for o in objs] + (["pareto_rank"] if args.ranks else [])))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "pareto",
        help="Pareto front of a results file",
        description="Keep the non-dominated feasible rows of a sweep/search results file.",
    )
    p.add_argument("results", help="results file (.csv, .parquet, .json)")
    p.add_argument(
        "--objective",
        action="append",
        required=True,
        metavar="NAME:min|max",
        help="objective column and direction; repeat for each objective",
    )
    p.add_argument("--out", help="output file (.csv, .parquet, .json, .html, .png)")
    p.add_argument(
        "--ranks", action="store_true", help="keep every row with its non-domination rank"
    )
    p.add_argument("--include-infeasible", action="store_true", help="ignore the feasible column")
    p.set_defaults(func=_run)
