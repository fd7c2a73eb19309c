"""``tradespace search SPACE --trials N``: Optuna search with a persistent, shared, resumable study.

Ctrl-C (SIGINT) and SIGTERM stop the search cleanly: the workers release their trials, every
told trial stays in the study, one line says so, and the exit code is 130 (SIGINT) or 143
(SIGTERM). A second Ctrl-C stops at once.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from app.commands._common import check_out_format
from models.dse import SAMPLERS, load_space, pareto_front
from models.dse.search import (
    GRACE_S,
    MAX_WORKERS,
    MIN_GRACE_S,
    SearchInterrupted,
    default_storage,
    redact_url,
    search,
)
from models.io import check_writable
from models.plots import FORMATS, export

_EXIT = {signal.SIGINT: 130, signal.SIGTERM: 143}


@contextmanager
def _stop_on_signals() -> Iterator[tuple[threading.Event, list[int]]]:
    """SIGINT/SIGTERM set an event the search polls; a second signal interrupts at once."""
    stop = threading.Event()
    got: list[int] = []

    def handler(signum: int, frame: Any) -> None:
        got.append(signum)
        if stop.is_set():
            raise KeyboardInterrupt  # impatient: the search's finally blocks still clean up
        stop.set()

    # signal handlers can only be set from the main thread (main() called from another
    # thread runs without them: the default SIGINT/SIGTERM behaviour)
    main_thread = threading.current_thread() is threading.main_thread()
    old = {s: signal.signal(s, handler) for s in _EXIT} if main_thread else {}
    try:
        yield stop, got
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def _interrupted(got: list[int], msg: str) -> int:
    sig = got[0] if got else signal.SIGINT
    print(f"tradespace search: {signal.Signals(sig).name}: {msg}", file=sys.stderr)
    return _EXIT.get(signal.Signals(sig), 130)


def _check_ints(args: argparse.Namespace) -> None:
    for flag, v, low in (
        ("--trials", args.trials, 1),
        ("--workers", args.workers, 1),
        ("--population", args.population, 2),
    ):
        if v < low:
            raise ValueError(f"{flag} {v}: allowed: an integer >= {low}")
    if args.workers > MAX_WORKERS:
        raise ValueError(f"--workers {args.workers}: allowed: 1 to {MAX_WORKERS}")
    if args.batch_size is not None and args.batch_size < 1:
        raise ValueError(
            f"--batch-size {args.batch_size}: allowed: an integer >= 1 (default: --population)"
        )
    if not args.stale_after >= MIN_GRACE_S:  # also refuses nan
        raise ValueError(f"--stale-after {args.stale_after}: allowed: seconds >= {MIN_GRACE_S}")


def _run(args: argparse.Namespace) -> int:
    _check_ints(args)  # before the space is read: nothing to load for a nonsense option
    outs = [(flag, path) for flag, path in (("--out", args.out), ("--front-out", args.front_out)) if path]
    for flag, path in outs:  # refused before any trial runs, not after the whole search
        check_out_format(flag, path, FORMATS, "search")
    if args.out and args.front_out and args.out == args.front_out:
        raise ValueError(f"--out and --front-out are the same file {args.out!r}: the front would overwrite "
                         "the trials; give each its own file")
    for _, path in outs:
        check_writable(path)
    space = load_space(args.space)
    name = args.study or space.name
    url = args.storage or default_storage(name)
    with _stop_on_signals() as (stop, got):
        try:
            df = search(
                space,
                args.trials,
                storage=url,
                study_name=name,
                sampler=args.sampler,
                seed=args.seed,
                workers=args.workers,
                batch_size=args.batch_size,
                population_size=args.population,
                stale_after_s=args.stale_after,
                stop=stop,
            )
        except SearchInterrupted as exc:
            return _interrupted(got, str(exc))
        except KeyboardInterrupt:
            return _interrupted(
                got,
                f"stopped; the told trials are kept in study {name!r} ({redact_url(url)}); "
                "run the same search again to resume",
            )
        except RuntimeError as exc:
            print(f"tradespace search: {exc}", file=sys.stderr)
            return 1
        meta = {"study": name, "storage": redact_url(url)}
        if args.out:
            export(df, args.out, space=space, meta=meta)
        front = pareto_front(df, space.objectives)
        if args.front_out:
            export(front, args.front_out, space=space, meta=meta)
        if got:  # a signal while the results were written: they are complete, say so anyway
            return _interrupted(got, f"stopped after the search; {df.height} completed trials")
    print(
        f"{space.name}: {df.height} completed trials, {int(df['feasible'].sum())} feasible"
        + (f" -> {args.out}" if args.out else "")
        + f"; {front.height} on the Pareto front"
        + (f" -> {args.front_out}" if args.front_out else ""),
        file=sys.stderr,
    )
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "search",
        help="multi-objective Optuna search of a design space",
        description="Search a design space with Optuna (NSGA-II by default), asking a whole "
        "population at a time. The study persists (default: sqlite:///<study>.db in "
        "the working directory) and may be shared by several processes or machines; rerun the "
        "same command to resume after a kill. Ctrl-C or SIGTERM stop cleanly (exit 130 or "
        "143, told trials kept). --out writes every completed trial, --front-out the Pareto front. "
        "The study opens in optuna-dashboard as it is (optuna-dashboard sqlite:///<study>.db). "
        "Exit 1 if a worker failed, 2 on bad input.",
    )
    p.add_argument("space", help="design space TOML file")
    p.add_argument(
        "--trials",
        type=int,
        required=True,
        help="finished trials (COMPLETE or PRUNED) the study should hold in total, counting "
        "earlier runs and other processes: rerunning with the same N does nothing more, a "
        "larger N continues",
    )
    p.add_argument(
        "--storage",
        help="journal:PATH, PATH.log, sqlite:///FILE.db, postgresql://... "
        "(default: sqlite file in the working directory; in-memory URLs are refused)",
    )
    p.add_argument("--study", help="study name (default: the space's name)")
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help=f"worker processes sharing the study (1 to {MAX_WORKERS}; they stop with this one)",
    )
    p.add_argument("--sampler", choices=SAMPLERS, default="nsga2", help="sampler (default nsga2)")
    p.add_argument("--seed", type=int, default=0, help="sampler seed (worker k uses seed + k)")
    p.add_argument("--population", type=int, default=50, help="NSGA-II population size (>= 2)")
    p.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="trials asked at once (>= 1; default: population)",
    )
    p.add_argument(
        "--stale-after",
        type=float,
        default=float(GRACE_S),
        help=f"seconds without a heartbeat after which a RUNNING trial (of a killed worker) is "
        f"failed and retried (default {GRACE_S}, at least {MIN_GRACE_S}; give every process "
        "sharing a study the same value)",
    )
    p.add_argument(
        "--out",
        help="write ALL completed trials (every design tried, feasible or not): .csv, .parquet, "
        ".json, or an .html/.png plot; the front alone: --front-out",
    )
    p.add_argument(
        "--front-out",
        metavar="FILE",
        help="write only the Pareto front of the feasible trials (the space's objectives): .csv, "
        ".parquet, .json, or an .html/.png plot",
    )
    p.set_defaults(func=_run)
