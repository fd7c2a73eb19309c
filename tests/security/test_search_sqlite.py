"""SQLite (the default storage) shared by several processes works every time.

The issue: resuming ``--workers 2`` on SQLite crashed a worker in 2 of 3 tries. The study and
its schema are created once by the parent before the workers start, connections wait for a
busy database, and two processes creating a new schema at once retry; here ten resumes in a
row, and two parents creating one new SQLite study at the same moment.
"""

from __future__ import annotations

from collections import Counter

from models.dse import parse_space, search
from tests.security._search_util import SPACE_TOML, run_together, states

SPACE = {
    "name": "lite",
    "workload": "tdnn-xvector",
    "target": "h100-sxm",
    "parameters": [
        {"name": "batch", "sets": "workload.batch", "kind": "int", "bounds": [1, 256], "log": True},
        {"name": "act", "sets": "algorithm.act_format", "kind": "categorical",
         "choices": ["fp16", "fp8_e4m3", "int8"]},
    ],
    "objectives": [{"metric": "latency_s"}, {"metric": "energy_J"}],
}


def test_sqlite_resume_with_two_workers_ten_times_in_a_row(tmp_path):
    space = parse_space(SPACE)
    for i in range(10):
        url = f"sqlite:///{tmp_path / f'r{i}.db'}"
        first = search(space, 4, storage=url, population_size=4, seed=i)
        assert first.height == 4
        df = search(space, 16, storage=url, workers=2, population_size=4, seed=i)
        assert df.height == 16, f"try {i}"
        c = states(url, "lite")
        assert c["COMPLETE"] == 16 and c["RUNNING"] == 0, (i, c)


def test_two_parents_creating_one_new_sqlite_study_at_once(tmp_path):
    # both create the schema of a file that does not exist yet ("table ... already exists")
    url = f"sqlite:///{tmp_path / 'new.db'}"
    args = ["search", SPACE_TOML, "--trials", "30", "--workers", "2", "--storage", url,
            "--population", "5", "--sampler", "random"]
    for rc, err in run_together([[*args, "--seed", s] for s in ("0", "7")]):
        assert rc == 0, err
        assert "Traceback" not in err
    c: Counter[str] = states(url)
    assert c["COMPLETE"] == 30 and c["RUNNING"] == 0
