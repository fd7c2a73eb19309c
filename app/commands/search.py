"""``tradespace search SPACE --trials N``: Optuna search with a persistent, resumable study."""

from __future__ import annotations

import argparse
import sys

from models.dse import SAMPLERS, load_space, search
from models.plots import export


def _run(args: argparse.Namespace) -> int:
    space = load_space(args.space)
    try:
        df = search(
            space,
            args.trials,
            storage=args.storage,
            study_name=args.study,
            sampler=args.sampler,
            seed=args.seed,
            workers=args.workers,
            batch_size=args.batch_size,
            population_size=args.population,
            stale_after_s=args.stale_after,
        )
    except RuntimeError as exc:
        print(f"tradespace search: {exc}", file=sys.stderr)
        return 1
    if args.out:
        export(
            df,
            args.out,
            space=space,
            meta={"study": args.study or space.name, "storage": args.storage or "sqlite (default)"},
        )
    print(
        f"{space.name}: {df.height} completed trials, {int(df['feasible'].sum())} feasible"
        + (f" -> {args.out}" if args.out else ""),
        file=sys.stderr,
    )
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "search",
        help="multi-objective Optuna search of a design space",
        description="Search a design space with Optuna (NSGA-II by default), asking a whole "
        "population at a time. The study persists (default: sqlite:///<study>.db in "
        "the working directory); rerun the same command to resume after a kill. "
        "Exit 1 if a worker failed, 2 on bad input.",
    )
    p.add_argument("space", help="design space TOML file")
    p.add_argument(
        "--trials", type=int, required=True, help="completed trials the study should hold"
    )
    p.add_argument(
        "--storage",
        help="journal:PATH, PATH.log, sqlite:///FILE.db, postgresql://... "
        "(default: sqlite file in the working directory)",
    )
    p.add_argument("--study", help="study name (default: the space's name)")
    p.add_argument("--workers", type=int, default=1, help="worker processes sharing the study")
    p.add_argument("--sampler", choices=SAMPLERS, default="nsga2", help="sampler (default nsga2)")
    p.add_argument("--seed", type=int, default=0, help="sampler seed (worker k uses seed + k)")
    p.add_argument("--population", type=int, default=50, help="NSGA-II population size")
    p.add_argument(
        "--batch-size", type=int, default=None, help="trials asked at once (default: population)"
    )
    p.add_argument(
        "--stale-after",
        type=float,
        default=0.0,
        help="on start, fail and retry RUNNING trials older than this many seconds",
    )
    p.add_argument("--out", help="write completed trials: .csv, .parquet or .json")
    p.set_defaults(func=_run)
