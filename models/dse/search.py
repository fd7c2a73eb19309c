"""Optuna search over a design space: batched ask/tell, constraints, shared persistent studies.

Storage (``storage=``):

- ``None``: ``sqlite:///<study>.db`` in the working directory (persistent by default);
- ``"journal:<path>"`` or a path ending in ``.log``: Optuna's JournalFileBackend (fast,
  multi-process safe; the choice for many trials);
- ``"sqlite:///..."``, ``"postgresql://..."``, ``"mysql://..."`` (any SQLAlchemy URL): RDB
  storage. In-memory URLs (``sqlite://``, ``sqlite:///:memory:``) are refused: the study would
  vanish with the process.

Trials are asked a whole population at a time, evaluated as one array by
:func:`models.dse.evaluate_points` and told together. Constraint values (``<= 0`` feasible) are
stored in each trial's user attribute ``"constraints"``, which the samplers read.

A study can be shared by several processes (``workers=K`` here, other ``tradespace search``
runs, other machines on one PostgreSQL server). The rules that keep them from hurting each other:

- **The budget is study-wide.** ``n_trials`` is the number of *finished* trials (states
  COMPLETE and PRUNED) the study should hold in total. Every worker stops once the study holds
  them; a resumed search with the same ``n_trials`` does nothing more, a larger one continues.
  A worker asks only as many trials as the budget has room for once the finished and running
  trials of everyone are counted; two workers racing for the last places compare trial
  numbers, and the trial that lost (number past the budget) is failed unevaluated, with the
  system attribute ``"tradespace_over_budget"``. FAIL trials never count, so a failed and
  retried trial cannot make the count exceed the budget.
- **Stale trials are failed only after their heartbeat expired.** A worker records a heartbeat
  every :data:`HEARTBEAT_S` seconds while it holds RUNNING trials: RDB storages use Optuna's
  own heartbeat (``heartbeat_interval``, ``grace_period``) and its
  ``RetryHeartbeatStaleTrialCallback``; journal storage has no heartbeat, so each worker writes
  its own into a study system attribute (``"tradespace_heartbeat:<worker id>"``) and tags its
  trials with its id (trial system attribute ``"tradespace_worker"``). A RUNNING trial is failed
  and re-enqueued (once, with the same parameters) only when its heartbeat is older than
  ``stale_after_s`` (default :data:`GRACE_S`, at least :data:`MIN_GRACE_S`), so a live worker's
  trials are never touched. A worker that is stopped (SIGTERM, Ctrl-C, its parent gone) fails
  and re-enqueues its own RUNNING trials before it exits, so nobody has to wait for them.
- **The study is created once**, by :func:`search`, before any worker starts (two processes
  creating the SQLite schema at once collide). The space is stored in the study's user
  attributes (``"space"`` and its digest ``"space_sha256"``); opening the study with another
  space is refused with a message naming the study and what differs.
- **Workers die with their parent.** Each worker runs in its own process group and reads its
  settings (space, storage URL) from a pipe on its standard input, never from its command line;
  the pipe stays open while the parent lives, and its end-of-file (or a changed parent process
  id) stops the worker. A parent stopped through ``stop=`` (the CLI's SIGINT and SIGTERM
  handlers) or by an exception terminates its workers before it returns or raises.
- **Secrets stay secret.** :func:`redact_url` turns ``postgresql://user:pw@host/db`` into
  ``postgresql://user:***@host/db``; every message of this module shows URLs that way.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import re
import select
import signal
import subprocess
import sys
import threading
import time
import traceback
import uuid
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any
from urllib.parse import unquote

import numpy as np
import polars as pl

from models.dse.evaluator import evaluate_points
from models.dse.export import with_integer_parameters
from models.dse.space import DesignSpace, _frame, _rebuild
from models.dse.sweep import DEFAULT_MAX_POINTS

__all__ = [
    "GRACE_S",
    "HEARTBEAT_S",
    "MIN_GRACE_S",
    "SAMPLERS",
    "SearchInterrupted",
    "fail_stale_trials",
    "make_sampler",
    "open_storage",
    "open_study",
    "redact_url",
    "results_frame",
    "run_worker",
    "search",
    "space_digest",
]

SAMPLERS = ("nsga2", "tpe", "random", "grid")
_RDB_SCHEMES = ("sqlite", "postgresql", "postgres", "mysql", "mariadb", "oracle", "mssql")
#: Seconds between two heartbeats of a worker (an integer: Optuna's RDB heartbeat needs one).
HEARTBEAT_S = 2
#: Default seconds without a heartbeat after which a RUNNING trial is failed and retried.
GRACE_S = 20
#: Smallest allowed grace period: three missed heartbeats, so a busy live worker is never
#: mistaken for a dead one.
MIN_GRACE_S = 3 * HEARTBEAT_S
#: Most worker processes one search starts.
MAX_WORKERS = 256
_SEED_MAX = 2**32 - 1
_WORKER_ATTR = "tradespace_worker"
_BEAT_PREFIX = "tradespace_heartbeat:"
_OVER_BUDGET_ATTR = "tradespace_over_budget"
_SPACE_ATTR = "space"
# what the loser of two processes creating one schema at once sees (lower case)
_SCHEMA_RACE = ("already exists", "duplicate key", "unique constraint", "database is locked")
_DIGEST_ATTR = "space_sha256"
# Seconds a worker waits between two looks at a study whose remaining budget is all in flight.
_POLL_S = 0.5
# Seconds a stopped worker may take to release its trials before it is killed.
_STOP_GRACE_S = 20.0


class SearchInterrupted(Exception):
    """A search stopped on request (``stop`` set: SIGINT/SIGTERM in the CLI) before its budget.

    Every trial told before the stop is kept in the study; rerunning the same search resumes.

    Attributes
    ----------
    n_finished
        Finished trials (COMPLETE and PRUNED) the study holds.
    study_name
        The study's name.
    storage
        The storage URL, password redacted.
    """

    def __init__(self, n_finished: int, study_name: str, storage: str) -> None:
        self.n_finished = n_finished
        self.study_name = study_name
        self.storage = storage
        super().__init__(
            f"stopped; {n_finished} finished trials are kept in study {study_name!r} ({storage}); "
            "run the same search again to resume"
        )


def _optuna() -> Any:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    # ask/tell outside Study.optimize is how batches work here; the heartbeat is recorded by us
    warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed")
    return optuna


# ---------------------------------------------------------------------------- secrets
_USERINFO = re.compile(r"^(?P<head>[A-Za-z][\w+.-]*://[^:/?#@]*):(?P<pw>.*)@(?P<tail>[^@]*)$")
_QUERY_SECRET = re.compile(r"(?i)([?&](?:password|passwd|pwd|secret|token)=)[^&#]*")


def redact_url(url: str) -> str:
    """``url`` with its password replaced by ``***`` (in the user info and in the query).

    Everything between ``user:`` and the last ``@`` is hidden, so a password holding an
    unescaped ``@`` is hidden too. URLs without a password come back unchanged.

    Examples
    --------
    >>> redact_url("postgresql://alice:s3cret@db.example:5432/dse")
    'postgresql://alice:***@db.example:5432/dse'
    """
    m = _USERINFO.match(url)
    if m:
        url = f"{m['head']}:***@{m['tail']}"
    return _QUERY_SECRET.sub(r"\1***", url)


def _secrets(url: str) -> list[str]:
    """The password spellings of ``url`` (raw and percent-decoded, longest first)."""
    found: list[str] = []
    m = _USERINFO.match(url)
    if m and m["pw"]:
        found += [m["pw"], unquote(m["pw"])]
        # SQLAlchemy stops a password at its first '@': that piece is what reaches the driver
        first = m["pw"].split("@", 1)[0]
        found += [first, unquote(first)]
    for q in re.finditer(r"(?i)[?&](?:password|passwd|pwd|secret|token)=([^&#]*)", url):
        found += [q[1], unquote(q[1])]
    return sorted({s for s in found if s}, key=len, reverse=True)


def _scrub(text: str, url: str | None) -> str:
    """``text`` with ``url`` shown redacted and its password (4+ characters) masked."""
    if not url:
        return text
    text = text.replace(url, redact_url(url))
    for s in _secrets(url):
        if len(s) >= 4:
            text = text.replace(s, "***")
    return text


# ---------------------------------------------------------------------------- storage
def default_storage(study_name: str) -> str:
    """``sqlite:///<study_name>.db`` in the working directory."""
    return f"sqlite:///{Path.cwd() / (study_name + '.db')}"


def _journal_path(url: str) -> str | None:
    if url.startswith("journal:"):
        return url[len("journal:") :]
    if url.endswith(".log") and "://" not in url:
        return url
    return None


def _scheme(url: str) -> str:
    return url.split("://", 1)[0].split("+", 1)[0].lower() if "://" in url else ""


def _sqlite_path(url: str) -> str | None:
    """The database file of a ``sqlite://`` URL; ``None`` for other schemes; ``""`` in memory."""
    if _scheme(url) != "sqlite":
        return None
    rest = url.split("://", 1)[1]
    path, _, query = rest.partition("?")
    path = path[1:] if path.startswith("/") else path  # sqlite:///rel.db -> rel.db
    if path in ("", ":memory:") or path.startswith("file::memory:") or "mode=memory" in query:
        return ""
    return path


def open_storage(url: str, *, stale_after_s: float = GRACE_S) -> Any:
    """An Optuna storage for ``url`` (see the module docstring).

    Parameters
    ----------
    url
        ``journal:PATH``, ``PATH.log`` or a SQLAlchemy URL.
    stale_after_s
        Grace period (s) of the RDB heartbeat: a RUNNING trial whose last heartbeat is older
        is failed and retried by :func:`fail_stale_trials`.

    Raises
    ------
    ValueError
        Unknown scheme, in-memory database, missing folder, or a storage that cannot be opened;
        the message shows the URL with its password redacted.
    """
    _optuna()  # quiet logging, experimental warnings off
    from optuna.storages import JournalStorage, RDBStorage, RetryHeartbeatStaleTrialCallback
    from optuna.storages.journal import JournalFileBackend

    shown = redact_url(url)
    path = _journal_path(url)
    if path is not None:
        if not path:
            raise ValueError(f"storage {shown!r}: journal storage needs a file path (journal:PATH)")
        parent = Path(path).resolve().parent
        if not parent.is_dir():
            raise ValueError(f"storage {shown!r}: directory {str(parent)!r} does not exist")
        try:
            return JournalStorage(JournalFileBackend(path, lock_obj=_flock_lock(path)))
        except OSError as exc:
            raise ValueError(
                f"storage {shown!r}: cannot open the journal file ({exc.strerror or exc}); "
                "choose a file in a folder you can write to"
            ) from None
    scheme = _scheme(url)
    if scheme not in _RDB_SCHEMES:
        raise ValueError(
            f"storage {shown!r}: unknown storage URL; allowed: journal:PATH, PATH.log, or a "
            f"SQLAlchemy URL ({', '.join(s + '://...' for s in ('sqlite', 'postgresql', 'mysql'))})"
        )
    if _sqlite_path(url) == "":
        raise ValueError(
            f"storage {shown!r}: an in-memory database would vanish with the process (and each "
            "worker would get its own); use a file: sqlite:///study.db or journal:study.log"
        )
    kwargs: dict[str, Any] = {}
    if scheme == "sqlite":
        # wait for a busy database instead of failing at once ("database is locked")
        kwargs["engine_kwargs"] = {"connect_args": {"timeout": 60}}
    heartbeat: dict[str, Any] = {
        "heartbeat_interval": HEARTBEAT_S,
        "grace_period": max(1, math.ceil(stale_after_s)),
        "heartbeat_stale_trial_callback": RetryHeartbeatStaleTrialCallback(max_retry=1),
    }
    driver_url = _with_driver(url)
    for attempt in range(5):
        try:
            return RDBStorage(driver_url, **heartbeat, **kwargs)
        except Exception as exc:  # noqa: BLE001 - driver/connection errors become one clear message
            text = str(exc)
            # two processes creating a new schema at once (SQLite file, fresh PostgreSQL
            # database): the loser trips over the winner's half-made tables, and finds the
            # schema complete a moment later
            if attempt < 4 and any(m in text.lower() for m in _SCHEMA_RACE):
                time.sleep(0.2 * (attempt + 1))
                continue
            first = _scrub(text.strip().splitlines()[0] if text.strip() else "", url)
            raise ValueError(
                f"storage {shown!r}: cannot open ({type(exc).__name__}: {first})"
            ) from None
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


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


def _files_of(url: str) -> list[Path]:
    """The files a storage URL writes on this machine (journal and its lock, SQLite file)."""
    path = _journal_path(url)
    if path:
        return [Path(path), Path(path + ".flock")]
    db = _sqlite_path(url)
    return [Path(db)] if db else []


def _remove_new_empty(files: Sequence[Path], existed: Sequence[bool]) -> None:
    """Delete the files of a storage this call created when its main file is still empty.

    A search refused after its storage was opened (the study could not be created) must not
    leave an empty journal, its lock file or an empty SQLite file behind. Only zero-byte files
    go: a file another process has begun writing meanwhile is never touched.
    """
    if not files or existed[0] or not files[0].exists() or files[0].stat().st_size:
        return
    for f, had in zip(files, existed, strict=True):
        with contextlib.suppress(OSError):
            if not had and f.stat().st_size == 0:
                f.unlink()


# ---------------------------------------------------------------------------- samplers
def make_sampler(name: str, space: DesignSpace, seed: int | None, population_size: int = 50) -> Any:
    """The sampler ``name`` (one of :data:`SAMPLERS`), seeded, with the space's constraints.

    The grid sampler enumerates the whole grid up front: a grid larger than
    :data:`models.dse.DEFAULT_MAX_POINTS` is refused with a ValueError naming both sizes.
    """
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
        n = space.n_grid_points
        if n > DEFAULT_MAX_POINTS:
            raise ValueError(
                f"sampler grid: the grid of space {space.name!r} has {n:,} points ({n:.3g}), more "
                f"than the {DEFAULT_MAX_POINTS:,} the grid sampler may enumerate "
                "(models.dse.DEFAULT_MAX_POINTS); use another sampler (nsga2, tpe, random) or a "
                "coarser grid (fewer n_grid or values per parameter)"
            )

        grid_base: Any = optuna.samplers.GridSampler

        class _Grid(grid_base):
            # Optuna's GridSampler calls Study.stop() once the grid is used up, which raises
            # outside Study.optimize; the study-wide budget ends our loop instead.
            def after_trial(self, *args: Any, **kwargs: Any) -> None:
                return None

        return _Grid({p.name: _grid_choices(p) for p in space.parameters}, seed=seed)
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


# ---------------------------------------------------------------------------- space identity
def _canonical_space(d: Mapping[str, Any]) -> dict[str, Any]:
    """The parts of a :meth:`DesignSpace.to_dict` that decide what a trial evaluates.

    Name, description, source file and display units are left out (renaming or moving the file
    changes no result); parameters are sorted by name (their order changes no result either).
    """
    out = {k: v for k, v in d.items() if k not in ("name", "description", "source", "parameters")}
    out["parameters"] = sorted(
        (
            {k: v for k, v in p.items() if k not in ("unit", "description")}
            for p in d.get("parameters", [])
        ),
        key=lambda p: str(p.get("name")),
    )
    canon: dict[str, Any] = json.loads(json.dumps(out, sort_keys=True, default=str))
    return canon


def space_digest(space: DesignSpace | Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the canonical JSON of a space: equal digests, equal trials."""
    d = space.to_dict() if isinstance(space, DesignSpace) else space
    text = json.dumps(_canonical_space(d), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _short(v: Any, n: int = 60) -> str:
    s = json.dumps(v, sort_keys=True, default=str)
    return s if len(s) <= n else s[: n - 3] + "..."


def _space_diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Human-readable differences between two canonical spaces."""
    a, b = _canonical_space(old), _canonical_space(new)
    out = [
        f"{k}: {_short(a.get(k))} -> {_short(b.get(k))}"
        for k in sorted((set(a) | set(b)) - {"parameters"})
        if a.get(k) != b.get(k)
    ]
    pa = {str(p.get("name")): p for p in a["parameters"]}
    pb = {str(p.get("name")): p for p in b["parameters"]}
    out += [f"parameter {n!r} removed" for n in pa if n not in pb]
    out += [f"parameter {n!r} added" for n in pb if n not in pa]
    for n in pa.keys() & pb.keys():
        for k in sorted(set(pa[n]) | set(pb[n])):
            if pa[n].get(k) != pb[n].get(k):
                out.append(f"parameter {n!r} {k}: {_short(pa[n].get(k))} -> {_short(pb[n].get(k))}")
    return sorted(out) or ["(the stored space could not be compared)"]


def _check_space(study: Any, space: DesignSpace, name: str, shown: str) -> None:
    """Store the space in a new study; refuse a study that holds another one."""
    digest = space_digest(space)
    attrs = study.user_attrs
    if _SPACE_ATTR not in attrs:
        study.set_user_attr(_SPACE_ATTR, space.to_dict())
        study.set_user_attr(_DIGEST_ATTR, digest)
        attrs = study.user_attrs  # two processes may create it at once: check who won
    stored = attrs.get(_SPACE_ATTR)
    stored_digest = attrs.get(_DIGEST_ATTR)
    if stored_digest is None and isinstance(stored, Mapping):
        stored_digest = space_digest(stored)  # a study made before digests were stored
    if stored_digest == digest:
        if _DIGEST_ATTR not in attrs:
            study.set_user_attr(_DIGEST_ATTR, digest)
        return
    diff = _space_diff(stored, space.to_dict()) if isinstance(stored, Mapping) else []
    more = f"; and {len(diff) - 5} more" if len(diff) > 5 else ""
    raise ValueError(
        f"study {name!r} in {shown!r} was created with a different design space "
        f"({'; '.join(diff[:5])}{more}); resume it with the space it was created with, or give "
        "this space its own study (--study NAME or another --storage)"
    )


def open_study(
    space: DesignSpace,
    storage: str | None = None,
    study_name: str | None = None,
    *,
    sampler: str = "nsga2",
    seed: int | None = 0,
    population_size: int = 50,
    stale_after_s: float = GRACE_S,
) -> Any:
    """Create (or load) the study of ``space``; its directions come from the objectives.

    A new study records the space (user attributes ``"space"`` and ``"space_sha256"``); an
    existing one must hold the same space (see :func:`space_digest`) and objective directions,
    otherwise ValueError names the study and what differs.
    """
    optuna = _optuna()
    name = study_name or space.name
    url = storage or default_storage(name)
    shown = redact_url(url)
    # built before the storage is touched: a refused sampler (grid too large) is no storage error
    smp = make_sampler(sampler, space, seed, population_size)
    st = open_storage(url, stale_after_s=stale_after_s)
    try:
        study = optuna.create_study(
            storage=st,
            study_name=name,
            load_if_exists=True,
            directions=[o.direction for o in space.objectives],
            sampler=smp,
        )
    except ValueError as exc:
        raise ValueError(f"study {name!r} in {shown!r}: {_scrub(str(exc), url)}") from None
    except Exception as exc:  # noqa: BLE001 - connection errors become a clear message
        first = _scrub(str(exc).strip().splitlines()[0] if str(exc).strip() else "", url)
        raise ValueError(
            f"storage {shown!r}: cannot open study {name!r} ({type(exc).__name__}: {first})"
        ) from None
    want = [
        optuna.study.StudyDirection.MINIMIZE
        if o.direction == "minimize"
        else optuna.study.StudyDirection.MAXIMIZE
        for o in space.objectives
    ]
    if list(study.directions) != want:
        raise ValueError(
            f"study {name!r} in {shown!r} exists with other objective directions "
            f"({[d.name.lower() for d in study.directions]}, this space: "
            f"{[o.direction for o in space.objectives]})"
        )
    _check_space(study, space, name, shown)
    _describe_for_dashboards(study, space)
    return study


def _describe_for_dashboards(study: Any, space: DesignSpace) -> None:
    """Name the objectives and say what the study explores, so that optuna-dashboard's Pareto
    front and history views read "latency_s", not "Objective 0" (written once per study)."""
    optuna = _optuna()
    names = [o.metric for o in space.objectives]
    if list(study.metric_names or []) != names:
        with warnings.catch_warnings():  # set_metric_names is marked experimental in Optuna
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(names)
    about = {"objectives": [f"{o.metric}: {o.direction}" for o in space.objectives],
             "targets": space.targets(), "workloads": space.workloads()}
    attrs = study.user_attrs
    for key, value in about.items():
        if attrs.get(key) != value:
            study.set_user_attr(key, value)


# ---------------------------------------------------------------------------- stale trials
def _check_grace(stale_after_s: float) -> None:
    if not (isinstance(stale_after_s, int | float) and math.isfinite(stale_after_s)) or (
        stale_after_s < MIN_GRACE_S
    ):
        raise ValueError(
            f"stale_after_s={stale_after_s!r}; allowed: a number of seconds >= {MIN_GRACE_S} "
            f"(three heartbeats of {HEARTBEAT_S} s; shorter would fail the trials of live workers)"
        )


def _has_heartbeat(storage: Any) -> bool:
    """Optuna's own heartbeat is on (RDB storages opened by :func:`open_storage`)."""
    get = getattr(storage, "get_heartbeat_interval", None)
    return callable(get) and get() is not None


def fail_stale_trials(study: Any, stale_after_s: float = GRACE_S) -> int:
    """Fail RUNNING trials whose heartbeat is older than ``stale_after_s`` and retry them once.

    RDB storages: Optuna's heartbeat check (``optuna.storages.fail_stale_trials`` with the
    storage's ``RetryHeartbeatStaleTrialCallback``). Journal storage: the heartbeat each worker
    writes into the study's system attributes. Either way a trial not yet tagged by a worker
    (it died between asking and tagging) counts from its start time. A live worker's trials are
    never failed. Each failed trial is re-enqueued with its parameters, once.

    Returns
    -------
    int
        Trials failed by this call.
    """
    _check_grace(stale_after_s)
    optuna = _optuna()
    from optuna.storages import RetryHeartbeatStaleTrialCallback
    from optuna.trial import TrialState

    storage = study._storage
    n = 0
    rdb = _has_heartbeat(storage)
    if rdb:
        storage.grace_period = max(1, math.ceil(stale_after_s))
        # Optuna's check fails (and retries) stale trials but returns nothing: count them (a
        # trial another process fails meanwhile is counted too)
        before = len(study.get_trials(deepcopy=False, states=(TrialState.FAIL,)))
        optuna.storages.fail_stale_trials(study)
        n += len(study.get_trials(deepcopy=False, states=(TrialState.FAIL,))) - before
    running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    if not running:
        return n
    beats = {} if rdb else storage.get_study_system_attrs(study._study_id)
    now = time.time()
    retry = RetryHeartbeatStaleTrialCallback(max_retry=1)
    for t in running:
        worker = t.system_attrs.get(_WORKER_ATTR)
        if rdb and worker is not None:
            continue  # it has an Optuna heartbeat: checked above, against the database's clock
        last = beats.get(_BEAT_PREFIX + str(worker)) if worker is not None else None
        if not isinstance(last, int | float):
            last = t.datetime_start.timestamp() if t.datetime_start is not None else now
        if now - last <= stale_after_s:
            continue
        try:
            if not storage.set_trial_state_values(t._trial_id, state=TrialState.FAIL):
                continue
        except (optuna.exceptions.UpdateFinishedTrialError, RuntimeError, KeyError):
            continue  # finished or failed by its worker (or another checker) meanwhile
        retry(study, storage.get_trial(t._trial_id))
        n += 1
    return n


class _Heartbeat:
    """A worker's heartbeat: a thread that keeps its RUNNING trials from looking stale."""

    def __init__(self, study: Any) -> None:
        self.study = study
        self.storage = study._storage
        self.rdb = _has_heartbeat(self.storage)
        self.worker = uuid.uuid4().hex
        self._ids: set[int] = set()
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="tradespace-heartbeat", daemon=True)

    def __enter__(self) -> _Heartbeat:
        self.beat()  # before the first trial is tagged, so no tagged trial lacks a heartbeat
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join(timeout=10)

    def beat(self) -> None:
        if self.rdb:
            with self._lock:
                ids = list(self._ids)
            for tid in ids:
                self.storage.record_heartbeat(tid)
        else:
            self.storage.set_study_system_attr(
                self.study._study_id, _BEAT_PREFIX + self.worker, time.time()
            )

    def track(self, trials: Sequence[Any]) -> None:
        """Heartbeat and tag freshly asked trials (heartbeat first: see fail_stale_trials)."""
        for t in trials:
            if self.rdb:
                self.storage.record_heartbeat(t._trial_id)
            self.storage.set_trial_system_attr(t._trial_id, _WORKER_ATTR, self.worker)
        with self._lock:
            self._ids.update(t._trial_id for t in trials)

    def untrack(self, trials: Sequence[Any]) -> None:
        with self._lock:
            self._ids.difference_update(t._trial_id for t in trials)

    def _loop(self) -> None:
        while not self._done.wait(HEARTBEAT_S):
            with contextlib.suppress(Exception):  # a missed beat is retried at the next tick
                self.beat()


# ---------------------------------------------------------------------------- worker
_FINISHED = ("COMPLETE", "PRUNED")


def _states(*names: str) -> tuple[Any, ...]:
    from optuna.trial import TrialState

    return tuple(TrialState[n] for n in names)


def _n_finished(study: Any) -> int:
    return len(study.get_trials(deepcopy=False, states=_states(*_FINISHED)))


def _suggest(trial: Any, p: Any) -> Any:
    if p.kind in ("categorical", "bool"):
        return trial.suggest_categorical(p.name, list(p.choices))
    if p.values:
        vals = [int(v) for v in p.values] if p.kind == "int" else [float(v) for v in p.values]
        return trial.suggest_categorical(p.name, vals)
    if p.kind == "int":
        return trial.suggest_int(p.name, int(np.ceil(p.low)), int(np.floor(p.high)), log=p.log)
    return trial.suggest_float(p.name, float(p.low), float(p.high), log=p.log)


def _tell(study: Any, trial: Any, **kwargs: Any) -> bool:
    """Tell ``trial``; False when it was finished meanwhile (failed as stale by another worker)."""
    optuna = _optuna()
    try:
        study.tell(trial, **kwargs)
    except (optuna.exceptions.UpdateFinishedTrialError, RuntimeError, ValueError):
        if study._storage.get_trial(trial._trial_id).state.is_finished():
            return False
        raise
    return True


def _release(study: Any, trials: Sequence[Any]) -> None:
    """Fail this worker's still-RUNNING ``trials`` and re-enqueue them (a stopped worker)."""
    from optuna.storages import RetryHeartbeatStaleTrialCallback
    from optuna.trial import TrialState

    retry = RetryHeartbeatStaleTrialCallback(max_retry=1)
    storage = study._storage
    for t in trials:
        try:
            if storage.get_trial(t._trial_id).state != TrialState.RUNNING:
                continue
            if storage.set_trial_state_values(t._trial_id, state=TrialState.FAIL):
                retry(study, storage.get_trial(t._trial_id))
        except Exception:  # noqa: BLE001, S112 - left RUNNING, it goes stale after the grace period
            continue


def _within_budget(study: Any, trials: list[Any], n_trials: int) -> list[Any]:
    """The asked ``trials`` that fit the budget; the others are failed unevaluated.

    Finished and running trials of every worker, in trial-number order, hold the places; a
    trial past place ``n_trials`` lost a race with another worker.
    """
    from optuna.trial import TrialState

    live = sorted(
        t.number
        for t in study.get_trials(deepcopy=False, states=_states("COMPLETE", "PRUNED", "RUNNING"))
    )
    allowed = set(live[:n_trials])
    keep = [t for t in trials if t.number in allowed]
    for t in trials:
        if t.number not in allowed:
            study._storage.set_trial_system_attr(t._trial_id, _OVER_BUDGET_ATTR, True)
            _tell(study, t, state=TrialState.FAIL)
    return keep


def _check_common(
    n_trials: int, batch_size: int, population_size: int, sampler: str, seed: int | None
) -> None:
    for label, v, low in (
        ("n_trials", n_trials, 1),
        ("batch_size", batch_size, 1),
        ("population_size", population_size, 2),
    ):
        if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < low:
            raise ValueError(f"{label}={v!r}; allowed: an integer >= {low}")
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler {sampler!r}; allowed: {', '.join(SAMPLERS)}")
    if seed is not None and (
        isinstance(seed, bool) or not isinstance(seed, int | np.integer) or not 0 <= seed <= _SEED_MAX
    ):
        raise ValueError(f"seed={seed!r}; allowed: an integer from 0 to {_SEED_MAX}, or None")


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
    stale_after_s: float = GRACE_S,
    stop: threading.Event | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> int:
    """Work on a study in this process until it holds ``n_trials`` finished trials.

    Trials are asked ``batch_size`` at a time (fewer when the budget has less room), evaluated
    as one array and told together. While the rest of the budget is held by other workers'
    RUNNING trials, the worker waits for them to finish, or to go stale and be retried.

    Parameters
    ----------
    n_trials
        Finished trials (COMPLETE + PRUNED) the study should hold in total.
    stale_after_s
        Grace period (s) after which a RUNNING trial without heartbeat is failed and retried.
    stop
        Set it to stop after the current step; this worker's RUNNING trials are then failed and
        re-enqueued, and the function returns.
    on_progress
        Called with the study's finished-trial count once per step.

    Returns
    -------
    int
        Trials this worker completed.
    """
    _check_common(n_trials, batch_size, population_size, sampler, seed)
    _check_grace(stale_after_s)
    from optuna.trial import TrialState

    study = open_study(
        space,
        storage,
        study_name,
        sampler=sampler,
        seed=seed,
        population_size=population_size,
        stale_after_s=stale_after_s,
    )
    stop = stop or threading.Event()
    objectives = [o.metric for o in space.objectives]
    done = failed = 0
    last_check = -math.inf
    held: list[Any] = []
    with _Heartbeat(study) as hb:
        try:
            while not stop.is_set():
                if time.monotonic() - last_check >= HEARTBEAT_S:
                    fail_stale_trials(study, stale_after_s)
                    last_check = time.monotonic()
                counted = study.get_trials(
                    deepcopy=False, states=_states("COMPLETE", "PRUNED", "RUNNING")
                )
                n_fin = sum(t.state != TrialState.RUNNING for t in counted)
                if on_progress is not None:
                    on_progress(n_fin)
                if n_fin >= n_trials:
                    break
                room = n_trials - len(counted)
                if room <= 0:
                    # the rest is in flight elsewhere: wait for it to finish, or to go stale
                    stop.wait(_POLL_S)
                    continue
                held = [study.ask() for _ in range(min(batch_size, room))]
                hb.track(held)
                trials = _within_budget(study, held, n_trials)
                if stop.is_set():
                    break
                if trials:
                    done_b, failed_b = _evaluate_and_tell(space, study, trials, objectives)
                    done += done_b
                    failed += failed_b
                hb.untrack(held)
                held = []
                if failed > max(n_trials, batch_size):
                    raise RuntimeError(
                        f"{failed} trials of study {study_name!r} gave non-finite objectives "
                        f"({', '.join(objectives)}); these never count as finished, so the "
                        f"budget of {n_trials} cannot be reached with this space"
                    )
        finally:
            if held:
                _release(study, held)
    return done


def _set_constraints(t: Any, names: Sequence[str], row: np.ndarray) -> None:
    """Store a trial's constraint values (<= 0 feasible) where the samplers read them."""
    values = [math.inf if math.isnan(c) else float(c) for c in row]  # Optuna refuses NaN
    t.set_user_attr("constraints", values)
    if hasattr(t, "set_constraint"):
        with warnings.catch_warnings():
            # a retried trial carries its original's constraints (same parameters, same
            # values): Optuna keeps them and warns that the new ones are ignored
            warnings.filterwarnings("ignore", message="The constraint value is ignored")
            for name, c in zip(names, values, strict=True):
                t.set_constraint(name, c)


def _evaluate_and_tell(
    space: DesignSpace, study: Any, trials: list[Any], objectives: list[str]
) -> tuple[int, int]:
    """Evaluate ``trials`` as one array and tell them: (completed, failed) counts."""
    optuna = _optuna()
    from optuna.trial import TrialState

    pts = _frame(
        space.parameters, {p.name: [_suggest(t, p) for t in trials] for p in space.parameters}
    )
    infeasible: dict[int, str] = {}
    res = evaluate_points(space, pts, infeasible=infeasible)
    Y = res.select(objectives).to_numpy()
    cons = [c for c in res.columns if c.startswith("constraint_")]
    C = res.select(cons).to_numpy() if cons else np.zeros((len(trials), 0))
    done = failed = 0
    for i, t in enumerate(trials):
        try:
            if cons:
                _set_constraints(t, cons, C[i])
            if np.all(np.isfinite(Y[i])):
                study.tell(t, [float(y) for y in Y[i]])
                done += 1
            elif i in infeasible:
                # a parallel plan the model cannot take: a finished, infeasible trial (PRUNED, with
                # the reason), counted in the budget and never on the front
                t.set_user_attr("infeasible", infeasible[i])
                study.tell(t, state=TrialState.PRUNED)
                done += 1
            else:
                study.tell(t, state=TrialState.FAIL)
                failed += 1
        except (optuna.exceptions.UpdateFinishedTrialError, RuntimeError, ValueError):
            # failed as stale by another worker while this one was paused past the grace
            # period (its retry is queued): drop the result, go on with the batch
            if study._storage.get_trial(t._trial_id).state.is_finished():
                continue
            raise
    return done, failed


# ---------------------------------------------------------------------------- worker processes
def _worker_main(stdin: IO[bytes] | None = None) -> int:
    """Body of ``python -m models.dse._worker``: settings from the first line of standard input.

    The rest of standard input is the parent's lifeline: at its end of file (the parent exited
    or was killed) or when the parent process id changes, the worker stops, releases its trials
    and exits; if releasing takes longer than a grace period it exits anyway.
    """
    stdin = stdin or sys.stdin.buffer
    line = stdin.readline()
    if not line.strip():
        return 2  # the parent died before it sent the settings
    spec = json.loads(line)
    url = spec["storage"]
    tag = f"tradespace search worker {spec.get('index', 0)}"
    stop = threading.Event()
    ppid = os.getppid()

    def _on_signal(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)

    def _watch() -> None:
        fd = stdin.fileno()
        while True:
            ready, _, _ = select.select([fd], [], [], 1.0)
            if ready:
                if not os.read(fd, 65536):
                    break  # end of file: the parent is gone
            elif os.getppid() != ppid:
                break  # reparented: the parent is gone, whoever holds the pipe
        stop.set()
        time.sleep(_STOP_GRACE_S)
        os._exit(143)  # releasing took too long: what is left RUNNING goes stale and is retried

    threading.Thread(target=_watch, name="tradespace-parent-watch", daemon=True).start()
    try:
        run_worker(
            _rebuild(spec["space"], spec["source"]),
            url,
            spec["study_name"],
            spec["n_trials"],
            sampler=spec["sampler"],
            seed=spec["seed"],
            batch_size=spec["batch_size"],
            population_size=spec["population_size"],
            stale_after_s=spec["stale_after_s"],
            stop=stop,
        )
    except (ValueError, KeyError, RuntimeError) as exc:
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        print(f"{tag}: error: {_scrub(str(msg), url)}", file=sys.stderr)
        return 1
    except Exception:  # noqa: BLE001 - a bug: show the traceback, never the password
        print(f"{tag}: unexpected error\n{_scrub(traceback.format_exc(), url)}", file=sys.stderr)
        return 1
    return 143 if stop.is_set() else 0


def _spawn(spec: dict[str, Any]) -> subprocess.Popen[bytes]:
    """Start one worker in its own process group and hand it ``spec`` through a pipe."""
    import models

    env = dict(os.environ)
    root = str(Path(models.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    proc = subprocess.Popen(
        [sys.executable, "-m", "models.dse._worker"],
        stdin=subprocess.PIPE,
        env=env,
        # its own group: a terminal's Ctrl-C reaches only the parent, which stops the workers
        process_group=0,
    )
    return proc


def _send(proc: subprocess.Popen[bytes], spec: dict[str, Any]) -> None:
    assert proc.stdin is not None
    try:
        proc.stdin.write(json.dumps(spec).encode() + b"\n")
        proc.stdin.flush()
    except BrokenPipeError:
        pass  # it died at start: its exit code says so


def _stop_workers(procs: Sequence[subprocess.Popen[bytes]]) -> None:
    """Ask running workers to stop (SIGTERM to their groups), then kill what is left."""
    for p in procs:
        if p.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGTERM)
    deadline = time.monotonic() + _STOP_GRACE_S
    for p in procs:
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    for p in procs:
        if p.stdin is not None:
            with contextlib.suppress(OSError):
                p.stdin.close()


def _progress_bar(total: int, progress: bool | None) -> Any:
    from tqdm.auto import tqdm

    disable = (not sys.stderr.isatty()) if progress is None else (not progress)
    return tqdm(total=total, desc="search", unit="trial", file=sys.stderr, disable=disable)


def _run_processes(
    space: DesignSpace,
    url: str,
    name: str,
    n_trials: int,
    *,
    workers: int,
    sampler: str,
    seed: int | None,
    batch_size: int,
    population_size: int,
    stale_after_s: float,
    stop: threading.Event,
    study: Any,
    bar: Any,
) -> None:
    spec = {
        "space": space.to_dict(),
        "source": space.source,
        "storage": url,
        "study_name": name,
        "n_trials": n_trials,
        "sampler": sampler,
        "batch_size": batch_size,
        "population_size": population_size,
        "stale_after_s": stale_after_s,
    }
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for _ in range(workers):
            try:
                procs.append(_spawn(spec))
            except OSError as exc:  # out of processes or memory: say so, stop those started
                raise RuntimeError(
                    f"cannot start search worker {len(procs)} of {workers} ({exc.strerror or exc}); "
                    "the finished trials are kept, run the search again (with fewer --workers)"
                ) from None
        for i, p in enumerate(procs):
            _send(p, {**spec, "index": i, "seed": None if seed is None else seed + i})
        last = time.monotonic()
        while any(p.poll() is None for p in procs):
            if stop.wait(0.2):
                break
            if not bar.disable and time.monotonic() - last > 1.0:
                bar.update(_n_finished(study) - bar.n)
                last = time.monotonic()
    finally:
        _stop_workers(procs)  # no-op for workers that ended; the rest must not outlive us
    if stop.is_set():
        return
    bad = [(i, p.returncode) for i, p in enumerate(procs) if p.returncode != 0]
    if bad:
        raise RuntimeError(
            f"{len(bad)} of {workers} search workers failed ("
            + ", ".join(f"worker {i}: exit code {rc}" for i, rc in bad)
            + f"); the finished trials are kept in study {name!r} ({redact_url(url)}), "
            "run the search again to resume"
        )


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
    stale_after_s: float = GRACE_S,
    progress: bool | None = None,
    stop: threading.Event | None = None,
) -> pl.DataFrame:
    """Run (or resume) a search until the study holds ``n_trials`` finished trials.

    Parameters
    ----------
    space
        The design space; a study created with another space is refused.
    n_trials
        Finished trials (COMPLETE + PRUNED) the study should hold in total, counting those of
        earlier runs and of other processes sharing it: rerunning with the same number does
        nothing more.
    storage, study_name
        Where the study lives (module docstring) and its name (default: the space's name).
    sampler, seed, population_size
        Optuna sampler (:data:`SAMPLERS`); worker ``k`` uses ``seed + k``.
    workers
        Processes sharing the work (1: this process). The study is created here first.
    batch_size
        Trials asked at once (default: ``population_size``).
    stale_after_s
        Seconds without heartbeat after which a RUNNING trial is failed and retried
        (>= :data:`MIN_GRACE_S`; give every process sharing a study the same value).
    progress
        Show a progress bar on stderr (default: when stderr is a terminal).
    stop
        Set it (from a signal handler, another thread) to stop: workers release their trials
        and :class:`SearchInterrupted` is raised; told trials are kept.

    Returns
    -------
    polars.DataFrame
        :func:`results_frame` of the study.
    """
    bs = population_size if batch_size is None else batch_size
    _check_common(n_trials, bs, population_size, sampler, seed)
    _check_grace(stale_after_s)
    if isinstance(workers, bool) or not isinstance(workers, int | np.integer) or not (
        1 <= workers <= MAX_WORKERS
    ):
        raise ValueError(f"workers={workers!r}; allowed: an integer from 1 to {MAX_WORKERS}")
    if seed is not None and seed + workers - 1 > _SEED_MAX:
        raise ValueError(f"seed={seed}: worker seeds seed..seed+{workers - 1} exceed {_SEED_MAX}")
    if sampler == "grid" and n_trials > space.n_grid_points:
        raise ValueError(
            f"n_trials={n_trials} with sampler grid: the grid of space {space.name!r} has only "
            f"{space.n_grid_points} points; allowed: at most {space.n_grid_points}"
        )
    name = study_name or space.name
    url = storage or default_storage(name)
    files = _files_of(url)
    existed = [f.exists() for f in files]
    stop = stop or threading.Event()
    try:
        # created once here, before any worker: concurrent schema creation breaks SQLite
        study = open_study(
            space,
            url,
            name,
            sampler=sampler,
            seed=seed,
            population_size=population_size,
            stale_after_s=stale_after_s,
        )
    except BaseException:
        _remove_new_empty(files, existed)
        raise
    n_fin = _n_finished(study)
    if n_fin < n_trials:
        bar = _progress_bar(n_trials, progress)
        bar.update(n_fin)
        try:
            common: dict[str, Any] = dict(sampler=sampler, seed=seed, batch_size=bs, population_size=population_size,
                                          stale_after_s=stale_after_s, stop=stop)
            if workers == 1:
                run_worker(space, url, name, n_trials, on_progress=lambda n: bar.update(n - bar.n), **common)
            else:
                _run_processes(space, url, name, n_trials, workers=workers, study=study, bar=bar, **common)
        finally:
            bar.close()
        if stop.is_set():
            raise SearchInterrupted(_n_finished(study), name, redact_url(url))
    return results_frame(space, study)


def results_frame(space: DesignSpace, study: Any) -> pl.DataFrame:
    """Completed trials of ``study`` re-evaluated as one array: trial number, params, metrics."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    pts = _frame(
        space.parameters, {p.name: [t.params[p.name] for t in trials] for p in space.parameters}
    )
    out = with_integer_parameters(evaluate_points(space, pts), space)  # integer knobs stay integers
    return out.with_columns(pl.Series("trial", [t.number for t in trials], dtype=pl.Int64)).select(
        "trial", *[c for c in out.columns]
    )
