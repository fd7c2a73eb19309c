"""``tradespace pareto RESULTS --objective NAME:min ...``: the non-dominated rows of a results file."""

from __future__ import annotations

import argparse
import sys

import polars as pl

from app.commands._common import check_out_format
from models.dse import pareto_front, parse_objectives, read_results
from models.dse.space import METRICS
from models.io import check_writable
from models.plots import FORMATS, export


def design_columns(df: pl.DataFrame, objectives: list[str]) -> list[str]:
    """The columns of a results file that say which design a row is (trial number, parameters).

    Sweeps, searches and exports write them before the metrics, which start with one of
    :data:`models.dse.METRICS`; a file of another origin gives every column that is not an
    objective, a known metric, a constraint or ``feasible``.
    """
    first = next((i for i, c in enumerate(df.columns) if c in METRICS), None)
    cols = df.columns[:first] if first is not None else df.columns
    return [c for c in cols if c not in objectives and c not in METRICS and c not in ("feasible", "pareto_rank")
            and not c.startswith("constraint_")]


def _run(args: argparse.Namespace) -> int:
    objs = parse_objectives(args.objective)
    if args.out:
        check_out_format("--out", args.out, FORMATS, "pareto")
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
        metrics = [o.metric for o in objs]
        shown = front.select(design_columns(front, metrics) + metrics + (["pareto_rank"] if args.ranks else []))
        with pl.Config(tbl_cols=-1, tbl_width_chars=1000, tbl_hide_dataframe_shape=True):
            print(shown)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "pareto",
        help="Pareto front of a results file",
        description="Keep the non-dominated feasible rows of a sweep/search results file. Without --out, "
        "print each front row's design (trial, parameters) and its objectives.",
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
