"""Optuna search: persistence, resume after SIGKILL, several workers, storages, heartbeats,
the study-wide budget."""

from __future__ import annotations

import importlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from models.dse import fail_stale_trials, open_storage, open_study, parse_space, search

search_mod = importlib.import_module("models.dse.search")  # the module, not the function
GRACE = search_mod.MIN_GRACE_S

SPACE = {
    "name": "srch",
    "workload": "tdnn-xvector",
    "parameters": [
        {"name": "batch", "sets": "workload.batch", "kind": "int", "bounds": [1, 512], "log": True},
        {"name": "frames", "sets": "workload.frames", "kind": "int", "values": [100, 300, 1000]},
        {
            "name": "bw",
            "sets": "target.memories.hbm.bandwidth",
            "kind": "float",
            "bounds": [1, 8],
            "unit": "TB/s",
        },
        {
            "name": "act",
            "sets": "algorithm.act_format",
            "kind": "categorical",
            "choices": ["fp16", "fp8_e4m3", "int8"],
        },
    ],
    "objectives": [{"metric": "latency_s"}, {"metric": "energy_J_per_utterance"}],
    "constraints": [{"kind": "accuracy", "limit": 0.01}],
}
ROOT = Path(__file__).resolve().parents[3]


def _space():
    return parse_space(SPACE)


def _complete(storage: str, name: str = "s") -> list[int]:
    study = optuna.load_study(study_name=name, storage=open_storage(storage))
    return [t.number for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))]


def test_journal_search_counts_constraints_and_seed(tmp_path):
    url = f"journal:{tmp_path / 'a.log'}"
    df = search(_space(), 60, storage=url, study_name="s", population_size=20)
    assert df.height == 60 and len(_complete(url)) == 60
    # int8 activations: error proxy 2**-7/sqrt(3) = 0.0045 per tensor, + bf16 weights 0.0023 < 0.01: feasible
    assert df["feasible"].all() == (df["constraint_accuracy"] <= 0).all()
    study = optuna.load_study(study_name="s", storage=open_storage(url))
    t = study.get_trials(states=(TrialState.COMPLETE,))[0]
    assert "constraints" in t.user_attrs and len(t.user_attrs["constraints"]) == 1
    again = search(
        _space(), 60, storage=f"journal:{tmp_path / 'b.log'}", study_name="s", population_size=20
    )
    assert again.drop("trial").equals(df.drop("trial"))  # seeded: same trials
    # --trials is the study's total: a second call with the same target asks no trial at all,
    # a bigger one continues to exactly the new total
    n_all = len(study.get_trials(deepcopy=False))
    assert search(_space(), 60, storage=url, study_name="s").height == 60
    assert len(study.get_trials(deepcopy=False)) == n_all
    assert search(_space(), 80, storage=url, study_name="s", population_size=20).height == 80
    assert len(_complete(url)) == 80


def test_default_storage_is_sqlite_in_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    df = search(_space(), 10, study_name="dflt", population_size=10, sampler="random")
    assert df.height == 10 and (tmp_path / "dflt.db").exists()


@pytest.mark.parametrize("url", ["foo://x", "redis://localhost", "notaurl"])
def test_unknown_storage_url_is_a_clear_error(tmp_path, url, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="unknown storage URL"):
        search(_space(), 5, storage=url)
    assert os.listdir(tmp_path) == []


def _worker_script(url: str, n: int, batch: int) -> list[str]:
    code = (
        "import sys, json; from models.dse import parse_space, search;"
        f"search(parse_space(json.loads(sys.argv[1])), {n}, storage={url!r}, study_name='s', "
        f"batch_size={batch}, population_size=20, stale_after_s={GRACE})"
    )
    return [sys.executable, "-c", code, json.dumps(SPACE)]


def test_sigkill_mid_run_then_resume_keeps_every_completed_trial(tmp_path):
    url = f"journal:{tmp_path / 'k.log'}"
    search(_space(), 1, storage=url, study_name="s", population_size=20)  # create the study first
    proc = subprocess.Popen(_worker_script(url, 100000, 2), cwd=ROOT)
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            time.sleep(0.2)
            if len(_complete(url)) >= 12:
                break
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    before = set(_complete(url))
    assert len(before) >= 12
    study = optuna.load_study(study_name="s", storage=open_storage(url))
    orphans = {t.number: t.params for t in study.get_trials(states=(TrialState.RUNNING,))}
    total = len(before) + 15
    # resumed at once: the killed worker's trials still look alive for GRACE seconds; the
    # resumed search waits them out, then fails and retries them instead of failing at start
    df = search(
        _space(), total, storage=url, study_name="s", population_size=20, stale_after_s=GRACE
    )
    after = set(_complete(url))
    assert before <= after  # nothing completed was lost
    assert df.height == len(after) == total
    study = optuna.load_study(study_name="s", storage=open_storage(url))
    assert not study.get_trials(states=(TrialState.RUNNING,))  # stale trials were failed
    trials = {t.number: t for t in study.get_trials()}
    for number, params in orphans.items():
        assert trials[number].state == TrialState.FAIL
        retried = [t for t in trials.values() if t.system_attrs.get("failed_trial") == number]
        # re-run with its parameters (those it had been given when it was killed)
        assert len(retried) == 1 and params.items() <= retried[0].params.items()


@pytest.mark.parametrize("kind", ["journal", "sqlite"])
def test_a_live_workers_trials_are_never_failed_a_dead_ones_are(tmp_path, monkeypatch, kind):
    # a short heartbeat for the test; the RDB heartbeat needs whole seconds
    hb_s, grace = (0.5, 2) if kind == "journal" else (1, 3)
    monkeypatch.setattr(search_mod, "HEARTBEAT_S", hb_s)
    monkeypatch.setattr(search_mod, "MIN_GRACE_S", 2)
    url = f"journal:{tmp_path / 'h.log'}" if kind == "journal" else f"sqlite:///{tmp_path / 'h.db'}"
    space = _space()
    study = open_study(space, url, "h", sampler="random", stale_after_s=grace)

    def ask() -> object:
        t = study.ask()
        for p in space.parameters:
            search_mod._suggest(t, p)
        return t

    def state(t: object) -> TrialState:
        return study._storage.get_trial(t._trial_id).state

    with search_mod._Heartbeat(study) as hb:
        live = ask()
        hb.track([live])
        untagged = ask()  # asked by a worker that died before it could tag it
        time.sleep(grace + 1.5)  # older than the grace period, but the heartbeat goes on
        assert fail_stale_trials(study, grace) == 1
        assert state(live) == TrialState.RUNNING  # the old fail-everything-at-start killed it
        assert state(untagged) == TrialState.FAIL
    time.sleep(grace + 1.5)  # the worker is gone: its heartbeat stops
    assert fail_stale_trials(study, grace) == 1
    assert state(live) == TrialState.FAIL
    waiting = study.get_trials(states=(TrialState.WAITING,))
    by_origin = {t.system_attrs["failed_trial"]: t.params for t in waiting}
    assert by_origin == {live.number: live.params, untagged.number: untagged.params}
    assert fail_stale_trials(study, grace) == 0  # retried once, nothing left to fail


def test_workers_racing_for_the_last_places_of_the_budget(tmp_path):
    url = f"journal:{tmp_path / 'r.log'}"
    space = _space()
    study = open_study(space, url, "r", sampler="random")

    def ask() -> object:
        t = study.ask()
        for p in space.parameters:
            search_mod._suggest(t, p)
        return t

    a = [ask() for _ in range(4)]  # worker A asked first: places 0-3
    b = [ask() for _ in range(3)]  # worker B asked at the same time: places 4-6
    assert search_mod._within_budget(study, b, 5) == b[:1]  # B keeps the one place left
    assert search_mod._within_budget(study, a, 5) == a
    for t in b[1:]:
        fresh = study._storage.get_trial(t._trial_id)
        assert fresh.state == TrialState.FAIL and fresh.system_attrs["tradespace_over_budget"]
    # the budget, not the askers, decides: finishing the search leaves exactly 5 finished
    for t in a + b[:1]:
        study.tell(t, [1.0, 1.0])
    assert search(space, 5, storage=url, study_name="r", sampler="random").height == 5


def test_stale_after_below_three_heartbeats_is_refused(tmp_path):
    study = open_study(_space(), f"journal:{tmp_path / 'g.log'}", "g")
    with pytest.raises(ValueError, match=f"allowed: a number of seconds >= {GRACE}"):
        fail_stale_trials(study, 0)


def test_two_workers_on_a_journal_file(tmp_path):
    url = f"journal:{tmp_path / 'w.log'}"
    df = search(_space(), 120, storage=url, study_name="s", workers=2, population_size=20)
    assert df.height == 120 and len(_complete(url)) == 120
    assert df["trial"].n_unique() == 120


def test_two_workers_on_postgresql(postgres_url):
    df = search(_space(), 40, storage=postgres_url, study_name="pg", workers=2, population_size=10)
    assert df.height == 40 and len(_complete(postgres_url, "pg")) == 40


def test_a_stopped_worker_releases_the_trials_it_holds(tmp_path):
    import threading

    url = f"journal:{tmp_path / 'stop.log'}"
    stop = threading.Event()
    # set once the worker has counted the study: it asks its batch, sees the stop, releases
    n = search_mod.run_worker(
        _space(), url, "s", 50, sampler="random", batch_size=4, population_size=4, stop=stop,
        on_progress=lambda n_finished: stop.set(),
    )
    assert n == 0
    study = optuna.load_study(study_name="s", storage=open_storage(url))
    failed = study.get_trials(states=(TrialState.FAIL,))
    waiting = study.get_trials(states=(TrialState.WAITING,))
    assert len(failed) == 4 and not study.get_trials(states=(TrialState.RUNNING,))
    # each is queued again, so the next worker (or a resume) picks it up without waiting
    assert sorted(t.system_attrs["failed_trial"] for t in waiting) == [t.number for t in failed]


def test_a_space_that_never_gives_finite_objectives_stops_with_an_error(tmp_path, monkeypatch):
    from tests.security._search_util import returns_within

    real = search_mod.evaluate_points

    def broken(space, pts, **kw):  # every latency is infinite: no trial can count as finished
        out = real(space, pts, **kw)
        return out.with_columns(latency_s=float("inf"))

    monkeypatch.setattr(search_mod, "evaluate_points", broken)
    url = f"journal:{tmp_path / 'inf.log'}"
    with pytest.raises(RuntimeError, match="non-finite objectives"):
        returns_within(
            lambda: search(_space(), 6, storage=url, study_name="s", batch_size=3,
                           population_size=3, sampler="random"),
            60, "a search whose every trial fails",
        )
    study = optuna.load_study(study_name="s", storage=open_storage(url))
    assert not study.get_trials(states=(TrialState.COMPLETE,))
