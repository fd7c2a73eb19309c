"""Shared searches that never kill each other: real ``tradespace search`` processes on one study.

Two processes with two workers each end with exactly the requested trials and both exit 0
(journal and PostgreSQL); a killed parent (SIGTERM, SIGKILL) leaves no worker alive and no trial
RUNNING; Ctrl-C stops with one line and exit 130; a space over 128 KiB reaches the workers.
"""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import pytest
from optuna.trial import TrialState

from tests.security import _search_util
from tests.security._search_util import (
    SPACE_TOML,
    STUDY,
    alive,
    children,
    cli,
    kill_tree,
    n_complete,
    run_together,
    states,
    study_of,
    unique,
    wait_until,
)

postgres_url = _search_util.postgres_url  # the PostgreSQL server fixture of tests/models/dse

TRIALS = 160


def _two_processes(url: str, study: str, trials: int = TRIALS) -> list[tuple[int, str]]:
    """Start two searches on one study at once, 2 workers each; (exit code, stderr) of each."""
    args = ["search", SPACE_TOML, "--trials", str(trials), "--workers", "2", "--storage", url]
    args += ["--study", study, "--population", "8", "--sampler", "random"]
    return run_together([[*args, "--seed", str(seed)] for seed in (0, 10)])


def _check_shared(url: str, study: str, results: list[tuple[int, str]]) -> None:
    for rc, err in results:
        assert rc == 0, err
        assert "Traceback" not in err and "already finished" not in err, err
        assert f"{TRIALS} completed trials" in err, err
    s = study_of(url, study)
    trials = s.get_trials(deepcopy=False)
    done = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(done) == TRIALS  # a study-wide budget: not 2 x 160, not 160 + what was running
    # every worker was alive throughout: none of their trials may have been failed as stale
    assert not [t.number for t in trials if "failed_trial" in t.system_attrs]
    # the only FAILs are trials that lost the race for the last places, failed unevaluated
    assert all(
        t.system_attrs.get("tradespace_over_budget") for t in trials if t.state == TrialState.FAIL
    )
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    # the two processes really shared the study: at least one worker of each told trials
    assert len({t.system_attrs["tradespace_worker"] for t in done}) >= 3


def test_two_processes_with_two_workers_on_one_journal_study(tmp_path):
    url = f"journal:{tmp_path / 'shared.log'}"
    _check_shared(url, "shared", _two_processes(url, "shared"))


def test_two_processes_with_two_workers_on_one_postgresql_study(postgres_url):
    study = unique("shared")
    _check_shared(postgres_url, study, _two_processes(postgres_url, study))


def _start_long_search(tmp_path: Path, *extra: str) -> tuple[subprocess.Popen[str], str]:
    url = f"journal:{tmp_path / 'long.log'}"
    proc = cli(
        "search", SPACE_TOML, "--trials", "1000000", "--storage", url, "--population", "8",
        "--sampler", "random", *extra,
    )
    return proc, url


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_a_killed_parent_leaves_no_worker_alive(tmp_path, sig):
    proc, url = _start_long_search(tmp_path, "--workers", "2")
    try:
        kids = wait_until(lambda: len(children(proc.pid)) == 2 and children(proc.pid), 60, "workers")
        wait_until(lambda: n_complete(url) >= 16, 120, "the workers to tell trials")
        assert all(alive(k) for k in kids)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
        wait_until(lambda: not any(alive(k) for k in kids), 60, f"workers {kids} to exit")
    finally:
        if proc.poll() is None:
            kill_tree(proc)
    c = states(url)
    assert c["RUNNING"] == 0  # the workers released what they held (failed and re-enqueued)
    assert c["COMPLETE"] >= 16  # nothing told was lost
    if sig == signal.SIGTERM:
        assert proc.returncode == 143
        lines = [line for line in err.splitlines() if line.strip()]
        assert len(lines) == 1 and "Traceback" not in err, err
        assert "SIGTERM" in lines[0] and STUDY in lines[0] and "resume" in lines[0], err
    else:
        assert proc.returncode == -signal.SIGKILL


def test_ctrl_c_stops_with_one_line_exit_130_and_keeps_the_trials(tmp_path):
    proc, url = _start_long_search(tmp_path)
    try:
        wait_until(lambda: n_complete(url) >= 16, 120, "the search to tell trials")
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            kill_tree(proc)
    assert proc.returncode == 130, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err and "KeyboardInterrupt" not in err, err
    c = states(url)
    assert f"{c['COMPLETE']} finished trials are kept" in lines[0], err
    assert c["COMPLETE"] >= 16 and c["RUNNING"] == 0


def test_a_space_over_128_kib_reaches_two_workers(tmp_path):
    # 30 000 explicit batch values: the space's JSON is far over Linux's 128 KiB limit on one
    # command-line argument, which is what failed when the space travelled on the command line
    space = tmp_path / "big.toml"
    values = ", ".join(str(v) for v in range(1, 30_001))
    space.write_text(
        'name = "big"\nworkload = "tdnn-xvector"\ntarget = "h100-sxm"\n'
        f'[[parameters]]\nname = "batch"\nsets = "workload.batch"\nkind = "int"\nvalues = [{values}]\n'
        '[[objectives]]\nmetric = "latency_s"\n'
    )
    from models.dse import load_space

    assert len(json.dumps(load_space(space).to_dict())) > 128 * 1024
    url = f"journal:{tmp_path / 'big.log'}"
    proc = cli(
        "search", str(space), "--trials", "6", "--workers", "2", "--storage", url,
        "--population", "3", "--sampler", "random",
    )
    _, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, err
    assert states(url, "big")["COMPLETE"] == 6
    assert "Argument list too long" not in err
