"""Optuna search over a design space: batched ask/tell, constraints, persistent studies.

Storage (``storage=``):

- ``None``: ``sqlite:///<study>.db`` in the working directory (persistent by default);
- ``"journal:<path>"`` or a path ending in ``.log``: Optuna's JournalFileBackend (fast,
  multi-process safe; the choice for many trials);
- ``"sqlite:///..."``, ``"postgresql://..."``, ``"mysql://..."`` (any SQLAlchemy URL): RDB
  storage with heartbeats, whose stale trials are failed and retried.

Trials are asked a whole population at a time, evaluated as one array by
:func:`models.dse.evaluate_points` and told together. Constraint values (``<= 0`` feasible) are
stored in each trial's user attribute ``"constraints"``, which the samplers' ``constraints_func``
reads. A killed run loses nothing already told: run the same search again and it continues
from the completed trials, after failing (and re-enqueuing) trials left RUNNING.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import subprocess
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from models.dse.evaluator import evaluate_points
from models.dse.space import DesignSpace, _frame

__all__ = [
    "SAMPLERS",
    "make_sampler",
    "open_storage",
    "open_study",
    "results_frame",
    "run_worker",
    "search",
    "fail_stale_trials",
]

SAMPLERS = ("nsga2", "tpe", "random", "grid")
_RDB_SCHEMES = ("sqlite", "postgresql", "postgres", "mysql", "mariadb", "oracle", "mssql")
HEARTBEAT_S = 5
GRACE_S = 15


def _optuna() -> Any:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed")
    return optuna


def default_storage(study_name: str) -> str:
    """``sqlite:///<study_name>.db`` in the working directory."""
    return f"sqlite:///{Path.cwd() / (study_name + '.db')}"


def open_storage(url: str) -> Any:
    """An Optuna storage for ``url`` (see the module docstring). Unknown schemes: ValueError."""
    _optuna()  # quiet logging, experimental warnings off
    from optuna.storages import JournalStorage, RDBStorage, RetryHeartbeatStaleTrialCallback
    from optuna.storages.journal import JournalFileBackend

    if url.startswith("journal:") or url.endswith(".log"):
        path = url[len("journal:") :] if url.startswith("journal:") else url
        if not path:
            raise ValueError(f"storage {url!r}: journal storage needs a file path (journal:PATH)")
        parent = Path(path).resolve().parent
        if not parent.is_dir():
            raise ValueError(f"storage {url!r}: directory {str(parent)!r} does not exist")
        return JournalStorage(JournalFileBackend(path, lock_obj=_flock_lock(path)))
    scheme = url.split("://", 1)[0].split("+", 1)[0] if "://" in url else ""
    if scheme not in _RDB_SCHEMES:
        raise ValueError(
            f"storage {url!r}: unknown storage URL; allowed: journal:PATH, PATH.log, or a SQLAlchemy "
            f"URL ({', '.join(s + '://...' for s in ('sqlite', 'postgresql', 'mysql'))})"
        )
    url = _with_driver(url)
    kwargs: dict[str, Any] = {}
    if scheme == "sqlite":
        kwargs["engine_kwargs"] = {"connect_args": {"timeout": 60}}
    try:
        return RDBStorage(
            url,
            heartbeat_interval=HEARTBEAT_S,
            grace_period=GRACE_S,
            heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=1),
            **kwargs,
        )
    except Exception as exc:  # noqa: BLE001 - driver/connection errors become one clear message
        raise ValueError(f"storage {url!r}: cannot open ({type(exc).__name__}: {exc})") from None


def _with_driver(url: str) -> str:
    """``postgresql://`` / ``postgres://`` with the installed driver made explicit.

    Recent SQLAlchemy maps a bare ``postgresql://`` to psycopg 3; the project depends on
    psycopg2-binary, so use it when psycopg 3 is absent.
    """
    import importlib.util

    head, sep, rest = url.partition("://")
    if head in ("postgresql", "postgres"):
        if (
            importlib.util.find_spec("psycopg") is None
            and importlib.util.find_spec("psycopg2") is not None
        ):
            return f"postgresql+psycopg2{sep}{rest}"
        return f"postgresql{sep}{rest}"
    return url


def _flock_lock(path: str) -> Any:
    """A journal lock held with ``fcntl.flock``: the kernel drops it when its holder dies.

    Optuna's default symlink lock outlives a SIGKILLed writer and makes the next run wait
    out a 30 s grace period; a flock cannot go stale. Falls back to Optuna's default where
    ``fcntl`` is missing (Windows).
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - non-POSIX
        return None
    from optuna.storages.journal._file import BaseJournalFileLock

    class _FlockLock(BaseJournalFileLock):
        def __init__(self, lock_path: str) -> None:
            self._path = lock_path
            self._fd: int | None = None

        def acquire(self) -> bool:
            fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o644)
            fcntl.flock(fd, fcntl.LOCK_EX)
            self._fd = fd
            return True

        def release(self) -> None:
            if self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
                os.close(self._fd)
                self._fd = None

    return _FlockLock(path + ".flock")


def make_sampler(name: str, space: DesignSpace, seed: int | None, population_size: int = 50) -> Any:
    """The sampler ``name`` (one of :data:`SAMPLERS`), seeded, with the space's constraints."""
    optuna = _optuna()
    # Optuna >= 5 reads constraints set with Trial.set_constraint; older ones need constraints_func
    new_api = hasattr(optuna.trial.Trial, "set_constraint")
    cf = _constraints_func if space.constraints and not new_api else None
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(
            population_size=population_size, seed=seed, constraints_func=cf
        )
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, constraints_func=cf, multivariate=True)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "grid":
        return optuna.samplers.GridSampler(
            {p.name: _grid_choices(p) for p in space.parameters}, seed=seed
        )
    raise ValueError(f"sampler {name!r}; allowed: {', '.join(SAMPLERS)}")


def _grid_choices(p: Any) -> list[Any]:
    g = p.grid()
    if p.kind == "int":
        return [int(v) for v in g]
    if p.kind == "float":
        return [float(v) for v in g]
    return list(g)


def _constraints_func(trial: Any) -> Sequence[float]:
    return trial.user_attrs.get("constraints", (1.0,))


def open_study(
    space: DesignSpace,
    storage: str | None = None,
    study_name: str | None = None,
    *,
    sampler: str = "nsga2",
    seed: int | None = 0,
    population_size: int = 50,
) -> Any:
    """Create (or load) the study of ``space``; its directions come from the objectives."""
    optuna = _optuna()
    name = study_name or space.name
    url = storage or default_storage(name)
    st = open_storage(url)
    try:
        study = optuna.create_study(
            storage=st,
            study_name=name,
            load_if_exists=True,
            directions=[o.direction for o in space.objectives],
            sampler=make_sampler(sampler, space, seed, population_size),
        )
    except ValueError as exc:
        raise ValueError(f"study {name!r} in {url!r}: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - connection errors become a clear message
        raise ValueError(
            f"storage {url!r}: cannot open study {name!r} ({type(exc).__name__}: {exc})"
        ) from None
    if list(study.directions) != [
        optuna.study.StudyDirection.MINIMIZE
        if o.direction == "minimize"
        else optuna.study.StudyDirection.MAXIMIZE
        for o in space.objectives
    ]:
        raise ValueError(f"study {name!r} in {url!r} exists with other objective directions")
    if "space" not in study.user_attrs:
        study.set_user_attr("space", space.to_dict())
    return study


def fail_stale_trials(study: Any, stale_after_s: float = 0.0) -> int:
    """Fail RUNNING trials started more than ``stale_after_s`` ago and re-enqueue their params.

    RDB storages also do this through their heartbeat; journal storage has no heartbeat, so
    :func:`search` calls this on resume. Returns the number of trials failed.
    """
    optuna = _optuna()
    from optuna.trial import TrialState

    now = _dt.datetime.now()
    n = 0
    if isinstance(study._storage, optuna.storages.RDBStorage):
        # Optuna's heartbeat check fails (and retries) stale trials but returns nothing: count them
        before = len(study.get_trials(deepcopy=False, states=(TrialState.FAIL,)))
        optuna.storages.fail_stale_trials(study)
        n += len(study.get_trials(deepcopy=False, states=(TrialState.FAIL,))) - before
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if (
            t.datetime_start is not None
            and (now - t.datetime_start).total_seconds() < stale_after_s
        ):
            continue
        try:
            study.tell(t.number, state=TrialState.FAIL)
        except (RuntimeError, ValueError):  # another worker finished or failed it meanwhile
            continue
        if t.params:
            study.enqueue_trial(t.params, skip_if_exists=False)
        n += 1
    return n


def _suggest(trial: Any, p: Any) -> Any:
    if p.kind in ("categorical", "bool"):
        return trial.suggest_categorical(p.name, list(p.choices))
    if p.values:
        vals = [int(v) for v in p.values] if p.kind == "int" else [float(v) for v in p.values]
        return trial.suggest_categorical(p.name, vals)
    if p.kind == "int":
        return trial.suggest_int(p.name, int(np.ceil(p.low)), int(np.floor(p.high)), log=p.log)
    return trial.suggest_float(p.name, float(p.low), float(p.high), log=p.log)


def run_worker(
    space: DesignSpace,
    storage: str,
    study_name: str,
    n_trials: int,
    *,
    sampler: str = "nsga2",
    seed: int | None = 0,
    batch_size: int = 50,
    population_size: int = 50,
) -> int:
    """Run ``n_trials`` trials of an existing study in this process, ``batch_size`` at a time."""
    from optuna.trial import TrialState

    study = open_study(
        space, storage, study_name, sampler=sampler, seed=seed, population_size=population_size
    )
    st = study._storage
    heartbeat = hasattr(st, "record_heartbeat") and getattr(st, "heartbeat_interval", None)
    done = 0
    objectives = [o.metric for o in space.objectives]
    while done < n_trials:
        b = min(batch_size, n_trials - done)
        trials = [study.ask() for _ in range(b)]
        if heartbeat:
            for t in trials:
                st.record_heartbeat(t._trial_id)
        pts = _frame(
            space.parameters, {p.name: [_suggest(t, p) for t in trials] for p in space.parameters}
        )
        res = evaluate_points(space, pts)
        Y = res.select(objectives).to_numpy()
        cons = [c for c in res.columns if c.startswith("constraint_")]
        C = res.select(cons).to_numpy() if cons else np.zeros((b, 0))
        for i, t in enumerate(trials):
            if cons:
                # constraint values (<= 0 feasible) go where the samplers read them
                t.set_user_attr("constraints", [float(c) for c in C[i]])
                if hasattr(t, "set_constraint"):
                    for name, c in zip(cons, C[i], strict=True):
                        t.set_constraint(name, float(c))
            if np.all(np.isfinite(Y[i])):
                study.tell(t, [float(y) for y in Y[i]])
            else:
                study.tell(t, state=TrialState.FAIL)
        done += b
    return done


def _worker_cmd(
    space: DesignSpace,
    storage: str,
    study_name: str,
    n: int,
    sampler: str,
    seed: int | None,
    batch_size: int,
    population_size: int,
) -> list[str]:
    spec = {
        "space": space.to_dict(),
        "source": space.source,
        "storage": storage,
        "study_name": study_name,
        "n_trials": n,
        "sampler": sampler,
        "seed": seed,
        "batch_size": batch_size,
        "population_size": population_size,
    }
    return [sys.executable, "-m", "models.dse._worker", json.dumps(spec)]


def search(
    space: DesignSpace,
    n_trials: int,
    *,
    storage: str | None = None,
    study_name: str | None = None,
    sampler: str = "nsga2",
    seed: int | None = 0,
    workers: int = 1,
    batch_size: int | None = None,
    population_size: int = 50,
    stale_after_s: float = 0.0,
    progress: bool | None = None,
) -> pl.DataFrame:
    """Run (or resume) a search until the study holds ``n_trials`` completed trials.

    The study is created once here, then ``workers`` processes share the remaining trials.
    Returns :func:`results_frame` of the study.
    """
    if n_trials < 0:
        raise ValueError(f"n_trials={n_trials}; allowed: >= 0")
    if workers < 1:
        raise ValueError(f"workers={workers}; allowed: >= 1")
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler {sampler!r}; allowed: {', '.join(SAMPLERS)}")
    from optuna.trial import TrialState

    name = study_name or space.name
    url = storage or default_storage(name)
    study = open_study(
        space, url, name, sampler=sampler, seed=seed, population_size=population_size
    )
    fail_stale_trials(study, stale_after_s)
    n_done = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
    remaining = max(0, n_trials - n_done)
    bs = batch_size or population_size
    if remaining and workers == 1:
        run_worker(
            space,
            url,
            name,
            remaining,
            sampler=sampler,
            seed=seed,
            batch_size=bs,
            population_size=population_size,
        )
    elif remaining:
        shares = [
            remaining // workers + (1 if i < remaining % workers else 0) for i in range(workers)
        ]
        procs = [
            subprocess.Popen(
                _worker_cmd(
                    space,
                    url,
                    name,
                    s,
                    sampler,
                    None if seed is None else seed + i,
                    bs,
                    population_size,
                )
            )
            for i, s in enumerate(shares)
            if s
        ]
        bad = [rc for rc in (p.wait() for p in procs) if rc != 0]
        if bad:
            raise RuntimeError(
                f"{len(bad)} search worker(s) failed (exit codes {bad}); completed trials are kept, "
                "run the search again to resume"
            )
    return results_frame(space, study)


def results_frame(space: DesignSpace, study: Any) -> pl.DataFrame:
    """Completed trials of ``study`` re-evaluated as one array: trial number, params, metrics."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    pts = _frame(
        space.parameters, {p.name: [t.params[p.name] for t in trials] for p in space.parameters}
    )
    out = evaluate_points(space, pts)
    return out.with_columns(pl.Series("trial", [t.number for t in trials], dtype=pl.Int64)).select(
        "trial", *[c for c in out.columns]
    )


