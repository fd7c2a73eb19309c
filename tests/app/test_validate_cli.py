"""`tradespace validate`: JSON shape, exit codes, offline HTML report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.cli import main

BAD = """
[[cases]]
id = "wrong"
paper = "P"
quantity = "q"
published = 2.0
unit = "1"
conditions = "c"
source = "s"
tolerance = 0.1
role = "check"
predictor = "scaling.closed_form_exponent"
params = { strategy = "w", quantity = "params" }
"""


def test_json_and_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "r.html"
    assert main(["validate", "--json", "--report", str(out)]) == 0
    obj = json.loads(capsys.readouterr().out)
    assert set(obj) == {"cases", "gaps", "summary"}
    assert obj["summary"]["n_cases"] == len(obj["cases"]) >= 12
    assert all(c["within_tolerance"] and c["role"] != "gap" for c in obj["cases"])
    assert obj["summary"]["n_gap"] == len(obj["gaps"]) > 0
    assert all(g["role"] == "gap" and g["gap_reason"] and not g["within_tolerance"] for g in obj["gaps"])
    c = obj["cases"][0]
    for k in ("predicted", "published", "relative_error", "within_tolerance", "role"):
        assert k in c
    text = out.read_text()
    assert "<table" in text and "Bokeh" in text and "cdn.bokeh.org" not in text
    assert "Known gaps" in text and obj["gaps"][0]["id"] in text
    assert not list(tmp_path.glob(".*tmp"))


def test_exit_1_when_out_of_tolerance(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "bad.toml"
    p.write_text(BAD)
    assert main(["validate", "--cases", str(p)]) == 1


def test_exit_2_on_malformed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "bad.toml"
    p.write_text(BAD.replace('role = "check"', 'role = "maybe"'))
    assert main(["validate", "--cases", str(p)]) == 2
    assert "role" in capsys.readouterr().err


def test_gaps_are_reported_but_do_not_fail(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "gap.toml"
    p.write_text(BAD.replace('role = "check"', 'role = "gap"\ngap_reason = "the model lacks X"'))
    assert main(["validate", "--cases", str(p)]) == 0
    out = capsys.readouterr().out
    assert "Known gaps" in out and "the model lacks X" in out and "-50.00%" in out
