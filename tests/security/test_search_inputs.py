"""Bad search inputs get a clear error and lose nothing: in-memory storages, nonsense integers,
a grid too large to enumerate, another space on resume, a refusal after the storage opened."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys

import pytest

from app.cli import main
from models.dse import DEFAULT_MAX_POINTS, parse_space, search
from tests.security._search_util import ROOT, SPACE_TOML, returns_within, states, study_of

# the module (models.dse.search the attribute is the function)
search_mod = importlib.import_module("models.dse.search")

SPACE = {
    "name": "inp",
    "workload": "tdnn-xvector",
    "target": "h100-sxm",
    "description": "a tiny space",
    "parameters": [
        {"name": "batch", "sets": "workload.batch", "kind": "int", "bounds": [1, 64]},
        {"name": "bw", "sets": "target.memories.hbm.bandwidth", "kind": "float", "bounds": [1, 8],
         "unit": "TB/s"},
    ],
    "objectives": [{"metric": "latency_s"}, {"metric": "energy_J"}],
}


def _space(**changes):
    d = {**SPACE, **changes}
    return parse_space(d)


@pytest.mark.parametrize(
    "url",
    ["sqlite://", "sqlite:///:memory:", "sqlite+pysqlite:///:memory:",
     "sqlite:///file::memory:?cache=shared", "sqlite:///x.db?mode=memory&cache=shared"],
)
def test_in_memory_storage_is_refused(url, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="in-memory database would vanish") as ei:
        search(_space(), 5, storage=url, study_name="m")
    assert "journal:" in str(ei.value)  # says what to use instead
    assert main(["search", SPACE_TOML, "--trials", "5", "--storage", url]) == 2
    assert "in-memory database would vanish" in capsys.readouterr().err
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["--trials", "0"], "--trials 0"),
        (["--trials", "-5"], "--trials -5"),
        (["--trials", "5", "--workers", "0"], "--workers 0"),
        (["--trials", "5", "--workers", "100000"], "--workers 100000"),
        (["--trials", "5", "--batch-size", "0"], "--batch-size 0"),
        (["--trials", "5", "--population", "1"], "--population 1"),
        (["--trials", "5", "--stale-after", "1"], "--stale-after 1"),
        (["--trials", "5", "--stale-after", "nan"], "--stale-after nan"),
    ],
)
def test_nonsense_integers_are_refused_naming_the_option(args, flag, tmp_path, capsys):
    url = f"journal:{tmp_path / 'n.log'}"
    # in a thread (where a search that got past the checks fails on its signal handlers)
    rc = returns_within(lambda: main(["search", SPACE_TOML, *args, "--storage", url]), 60, flag)
    assert rc == 2
    err = capsys.readouterr().err
    assert flag in err and "allowed" in err, err
    assert os.listdir(tmp_path) == []  # refused before anything was opened


def test_negative_batch_size_is_refused_instead_of_looping_forever(tmp_path):
    # a subprocess with a timeout: the bug this guards against was a loop at full CPU
    url = f"journal:{tmp_path / 'b.log'}"
    r = subprocess.run(
        [sys.executable, "-m", "app.cli", "search", SPACE_TOML, "--trials", "5",
         "--batch-size", "-3", "--storage", url],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert r.returncode == 2, r.stderr
    assert "--batch-size -3" in r.stderr and "allowed: an integer >= 1" in r.stderr
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    ("kw", "what"),
    [({"batch_size": -3}, "batch_size=-3"), ({"n_trials": 0}, "n_trials=0"),
     ({"workers": 0}, "workers=0"), ({"seed": -1}, "seed=-1"), ({"stale_after_s": 0}, "stale_after_s=0"),
     ({"population_size": 1}, "population_size=1"), ({"n_trials": 2.5}, "n_trials=2.5")],
)
def test_library_refuses_the_same_nonsense(kw, what, tmp_path):
    args = {"n_trials": 5, **kw}
    n = args.pop("n_trials")
    url = f"journal:{tmp_path / 'l.log'}"
    with pytest.raises(ValueError, match="allowed") as ei:
        returns_within(lambda: search(_space(), n, storage=url, **args), 60, f"search({what})")
    assert what in str(ei.value)
    assert os.listdir(tmp_path) == []


def test_grid_sampler_on_a_huge_space_names_the_grid_size_and_the_limit(tmp_path):
    huge = _space(parameters=[
        {"name": "bw", "sets": "target.memories.hbm.bandwidth", "kind": "float", "bounds": [1, 8],
         "unit": "TB/s", "n_grid": 10**6},
        {"name": "l2", "sets": "target.memories.l2.bandwidth", "kind": "float", "bounds": [5, 20],
         "unit": "TB/s", "n_grid": 10**6},
    ])
    assert huge.n_grid_points == 10**12
    url = f"journal:{tmp_path / 'g.log'}"
    with pytest.raises(ValueError) as ei:
        search(huge, 10, storage=url, sampler="grid")
    msg = str(ei.value)
    assert "1,000,000,000,000 points" in msg and f"{DEFAULT_MAX_POINTS:,}" in msg
    assert "DEFAULT_MAX_POINTS" in msg and "storage" not in msg
    assert os.listdir(tmp_path) == []


def test_grid_sampler_budget_above_the_grid_is_refused_and_a_full_grid_completes(tmp_path):
    small = _space(parameters=[
        {"name": "batch", "sets": "workload.batch", "kind": "int", "bounds": [1, 4]},
        {"name": "bw", "sets": "target.memories.hbm.bandwidth", "kind": "float", "bounds": [1, 8],
         "unit": "TB/s", "n_grid": 3},
    ])
    url = f"journal:{tmp_path / 'g.log'}"
    with pytest.raises(ValueError, match="has only 12 points"):
        search(small, 13, storage=url, sampler="grid")
    # exhausting the grid used to raise from Optuna's Study.stop() outside optimize()
    df = search(small, 12, storage=url, sampler="grid", batch_size=5, population_size=5)
    assert df.height == 12 and df.select("batch", "bw").unique().height == 12


def test_another_space_on_resume_is_refused_naming_the_study_and_the_difference(tmp_path, capsys):
    url = f"journal:{tmp_path / 's.log'}"
    search(_space(), 8, storage=url, study_name="st", population_size=4, sampler="random")
    before = states(url, "st")
    wider = _space(parameters=[SPACE["parameters"][0], {**SPACE["parameters"][1], "bounds": [1, 9]}])
    with pytest.raises(ValueError) as ei:
        search(wider, 16, storage=url, study_name="st", population_size=4, sampler="random")
    msg = str(ei.value)
    assert "study 'st'" in msg and "different design space" in msg
    assert "parameter 'bw' high_SI: 8000000000000.0 -> 9000000000000.0" in msg
    assert "--study" in msg  # says how to go on
    fewer = _space(parameters=[SPACE["parameters"][0]])
    with pytest.raises(ValueError, match="parameter 'bw' removed"):
        search(fewer, 16, storage=url, study_name="st", population_size=4, sampler="random")
    other_target = _space(target="h200")
    with pytest.raises(ValueError, match='target: "h100-sxm" -> "h200"'):
        search(other_target, 16, storage=url, study_name="st", population_size=4, sampler="random")
    assert states(url, "st") == before  # nothing was added by the refused runs
    # name, description, display unit and parameter order change no result: accepted
    same = parse_space({**SPACE, "name": "renamed", "description": "other words",
                        "parameters": [{**SPACE["parameters"][1], "bounds": [1000, 8000],
                                        "unit": "GB/s"}, SPACE["parameters"][0]]})
    assert search(same, 8, storage=url, study_name="st").height == 8


def test_a_study_made_before_digests_is_checked_against_its_stored_space(tmp_path):
    import optuna

    from models.dse import open_storage

    # what the previous version left: the space in the user attributes, no digest
    url = f"journal:{tmp_path / 'old.log'}"
    st = optuna.create_study(storage=open_storage(url), study_name="old",
                             directions=["minimize", "minimize"])
    st.set_user_attr("space", _space().to_dict())
    other = _space(parameters=[{**SPACE["parameters"][0], "bounds": [1, 32]}, SPACE["parameters"][1]])
    with pytest.raises(ValueError, match="parameter 'batch' high_SI: 64.0 -> 32.0"):
        search(other, 4, storage=url, study_name="old", population_size=4, sampler="random")
    assert "space_sha256" not in study_of(url, "old").user_attrs  # the refusal wrote nothing
    assert search(_space(), 4, storage=url, study_name="old", population_size=4).height == 4
    assert study_of(url, "old").user_attrs["space_sha256"] == search_mod.space_digest(_space())


def test_a_refusal_after_the_storage_opened_leaves_no_empty_journal(tmp_path, monkeypatch):
    import optuna

    def refuse(*a, **k):
        raise ValueError("refused for the test")

    monkeypatch.setattr(optuna, "create_study", refuse)
    with pytest.raises(ValueError, match="refused for the test"):
        search(_space(), 4, storage=f"journal:{tmp_path / 'e.log'}", study_name="e")
    assert os.listdir(tmp_path) == []  # the journal was touched into being, then removed
    # a file that was there before is never removed, even empty
    (tmp_path / "mine.log").write_bytes(b"")
    with pytest.raises(ValueError, match="refused for the test"):
        search(_space(), 4, storage=f"journal:{tmp_path / 'mine.log'}", study_name="e")
    assert os.listdir(tmp_path) == ["mine.log"]


def test_a_journal_that_cannot_be_written_is_a_clear_error(tmp_path, capsys):
    folder = tmp_path / "a-folder.log"
    folder.mkdir()  # a journal path naming a folder (as root, a read-only folder is writable)
    url = f"journal:{folder}"
    with pytest.raises(ValueError, match="cannot open the journal file") as ei:
        search(_space(), 4, storage=url)
    assert "folder you can write to" in str(ei.value)
    assert main(["search", SPACE_TOML, "--trials", "4", "--storage", url]) == 2
    err = capsys.readouterr().err
    assert "cannot open the journal file" in err and "Traceback" not in err
