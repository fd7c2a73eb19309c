"""Helpers of the shared-search tests: CLI subprocesses, process trees read from /proc, studies.

The PostgreSQL fixture is the one of ``tests/models/dse/conftest.py`` (a throw-away server on
loopback, trust authentication: any password is accepted, which lets the tests put a secret in
the URL). It skips with a reason where no server can start, and fails under ``CI=true``.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import pytest

from models.dse import open_storage
from tests.models.dse.conftest import postgres_url

__all__ = [
    "ROOT",
    "SPACE_TOML",
    "STUDY",
    "alive",
    "children",
    "cli",
    "cmdline",
    "environ",
    "kill_tree",
    "n_complete",
    "postgres_url",
    "returns_within",
    "states",
    "study_of",
    "unique",
    "wait_until",
]

ROOT = Path(__file__).resolve().parents[2]
SPACE_TOML = str(ROOT / "data" / "spaces" / "tdnn-h100-small.toml")
STUDY = "tdnn-h100-small"  # the space's name: the default study name


def cli(*args: str, cwd: Path | str | None = None, **kw: Any) -> subprocess.Popen[str]:
    """``tradespace ARGS`` as a real subprocess, stdout and stderr captured as text."""
    return subprocess.Popen(
        [sys.executable, "-m", "app.cli", *args],
        cwd=cwd or ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


def run_together(argvs: list[list[str]], timeout: float = 240) -> list[tuple[int, str]]:
    """Start one ``tradespace`` process per argv at once and wait for all: (exit code, stderr) of each.

    A process still running at the end (a timeout, a failed assertion) is killed with its workers.
    """
    procs = [cli(*a) for a in argvs]
    try:
        outs = [p.communicate(timeout=timeout) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                kill_tree(p)
    return [(p.returncode, err) for p, (_, err) in zip(procs, outs, strict=True)]


def study_of(url: str, name: str = STUDY) -> Any:
    return optuna.load_study(study_name=name, storage=open_storage(url))


def states(url: str, name: str = STUDY) -> Counter[str]:
    """How many trials of the study are in each state."""
    return Counter(t.state.name for t in study_of(url, name).get_trials(deepcopy=False))


def n_complete(url: str, name: str = STUDY) -> int:
    """COMPLETE trials of the study; 0 while it does not exist yet."""
    try:
        return states(url, name)["COMPLETE"]
    except KeyError:  # optuna.load_study: no such study (yet)
        return 0


def children(pid: int) -> list[int]:
    """Process ids whose parent is ``pid`` (from /proc; Linux)."""
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
        except OSError:
            continue
        # the command name (field 2) may hold spaces: fields after its closing parenthesis
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid:
            out.append(int(d.name))
    return out


def alive(pid: int) -> bool:
    """``pid`` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_until(pred: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll ``pred`` until it is truthy; fail the test naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)


def returns_within(fn: Callable[[], Any], timeout: float, what: str) -> Any:
    """``fn()`` run in a thread: its result, or its exception re-raised here.

    A missing input check used to mean a search looping forever at full CPU; the test then
    fails naming ``what`` instead of hanging (the thread is a daemon, left to die with pytest).
    """
    out: list[Any] = []
    err: list[BaseException] = []

    def run() -> None:
        try:
            out.append(fn())
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            err.append(exc)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(timeout)
    if t.is_alive():
        pytest.fail(f"{what} still running after {timeout} s instead of refusing")
    if err:
        raise err[0]
    return out[0]


def unique(prefix: str) -> str:
    """A study name no other test uses (PostgreSQL studies outlive a test)."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")


def environ(pid: int) -> str:
    return Path(f"/proc/{pid}/environ").read_bytes().replace(b"\0", b"\n").decode(errors="replace")


def kill_tree(proc: subprocess.Popen[str]) -> None:
    """Clean-up after a failed test: the process and its children, by their ids."""
    kids = children(proc.pid) if proc.poll() is None else []
    for pid in [proc.pid, *kids]:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, 9)
    proc.wait()
