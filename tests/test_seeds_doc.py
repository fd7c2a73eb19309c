"""docs/seeds.md: one row per seed paper, and every row true of the code and the validation data.

The papers come from ``shared/seeds/papers.txt`` (beside the repository, as CI lays it out): a
title line followed by its abstract, after a five-line page header.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from models.point.knobs import ALGORITHM_KNOBS, applicable_knobs
from models.validation import load_cases
from models.workloads import available_workloads, workload_spec

ROOT = Path(__file__).resolve().parents[1]
PAPERS = ROOT.parent / "shared" / "seeds" / "papers.txt"
# the titles, kept in the repository for a checkout without shared/ beside it; equal to
# papers.txt's whenever that is there (test below)
TITLES = ROOT / "tests" / "data" / "seed-paper-titles.txt"
DOC = ROOT / "docs" / "seeds.md"
STATUSES = ("checked", "gap", "modelled, no case", "not modelled")
HEADER_LINES = 5


def paper_titles(text: str) -> list[str]:
    """Titles of papers.txt: after the header, its non-empty lines alternate title, abstract."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()][HEADER_LINES:]
    if len(lines) % 2:
        raise AssertionError(f"papers.txt: {len(lines)} lines after the header; expected title/abstract pairs")
    return lines[0::2]


def doc_rows(text: str) -> list[dict[str, str]]:
    rows = []
    for ln in text.splitlines():
        if not ln.startswith("| ") or ln.startswith("| Paper ") or set(ln) <= set("|- "):
            continue
        cells = [c.strip() for c in ln.strip().strip("|").split("|")]
        assert len(cells) == 6, f"docs/seeds.md row with {len(cells)} cells, expected 6: {ln!r}"
        rows.append(dict(zip(("paper", "technique", "module", "knobs", "cases", "status"), cells, strict=True)))
    return rows


def _items(cell: str) -> list[str]:
    return [] if cell in ("—", "") else re.findall(r"`([^`]+)`", cell) or [c.strip() for c in cell.split(",")]


def kept_titles() -> list[str]:
    return [ln for ln in TITLES.read_text().splitlines() if ln.strip() and not ln.startswith("#")]


def seed_titles() -> list[str]:
    """papers.txt's titles when shared/ is beside the repository, else the kept list."""
    return paper_titles(PAPERS.read_text()) if PAPERS.is_file() else kept_titles()


@pytest.fixture(scope="module")
def rows() -> list[dict[str, str]]:
    return doc_rows(DOC.read_text())


@pytest.fixture(scope="module")
def cases() -> dict[str, str]:
    return {c.id: c.role for c in load_cases()}


def test_papers_file_parses_to_the_32_seeds_and_the_kept_list_is_current():
    assert len(kept_titles()) == 32
    if not PAPERS.is_file():
        pytest.skip(f"{PAPERS} not here (shared/ is not beside this checkout): checked against the kept list")
    titles = paper_titles(PAPERS.read_text())
    assert len(titles) == 32
    assert all(len(t) < 200 for t in titles), "a title line is as long as an abstract: the pairing is off"
    assert titles == kept_titles(), "papers.txt changed: update tests/data/seed-paper-titles.txt and docs/seeds.md"


def test_every_paper_has_exactly_one_row(rows):
    titles = seed_titles()
    papers = [r["paper"] for r in rows]
    missing = [t for t in titles if t not in papers]
    assert not missing, f"papers with no row in docs/seeds.md: {missing}"
    extra = [p for p in papers if p not in titles]
    assert not extra, f"rows for no paper of papers.txt: {extra}"
    assert len(papers) == len(set(papers)), "a paper has two rows"


def test_modules_exist(rows):
    for r in rows:
        for path in _items(r["module"]):
            assert (ROOT / path).is_file(), f"{r['paper']}: module {path} does not exist"


def test_knobs_are_registry_knobs(rows):
    known = set(ALGORITHM_KNOBS)
    for w in available_workloads():
        known |= {k.name for k in workload_spec(w).knobs} | {k.name for k in applicable_knobs(w)}
    for r in rows:
        for knob in _items(r["knobs"]):
            if knob.startswith("engine."):  # the per-operator-kind engine assignment
                continue
            assert knob in known, f"{r['paper']}: knob {knob!r} is not in the registry"


def test_statuses_agree_with_the_cases(rows, cases):
    for r in rows:
        ids = _items(r["cases"])
        status = next((s for s in STATUSES if r["status"].startswith(s)), None)
        assert status is not None, f"{r['paper']}: status {r['status']!r}; allowed to start with {STATUSES}"
        for i in ids:
            assert i in cases, f"{r['paper']}: case {i!r} is not in data/validation"
        roles = {cases[i] for i in ids}
        if status == "checked":
            assert "check" in roles, f"{r['paper']}: 'checked' but none of {ids} is a check case"
        elif status == "gap":
            assert ids and roles == {"gap"}, f"{r['paper']}: 'gap' needs gap cases only, got roles {roles}"
        else:
            assert not ids, f"{r['paper']}: status {status!r} but cases {ids} are listed"
        if status == "not modelled":
            assert re.search(r"issue \d+", r["status"]), f"{r['paper']}: 'not modelled' must name its issue"
