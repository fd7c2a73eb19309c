"""`tradespace validate`: JSON shape, exit codes, offline HTML report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.cli import main
from tests.models.validation.test_suite import GOOD

# an ideal 4096^3 bf16 GEMM on h100-sxm, published at twice the prediction: -50% (see
# tests/models/validation/test_suite.py)
BAD = GOOD.replace('id = "x"', 'id = "wrong"')


def test_json_and_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "r.html"
    assert main(["validate", "--json", "--report", str(out)]) == 0
    obj = json.loads(capsys.readouterr().out)
    assert set(obj) == {"summary", "cases", "gaps", "calibration"}
    s = obj["summary"]
    for k in ("n_measured", "median_abs_error_measured", "p90_abs_error_measured", "n_energy"):
        assert k in s
    assert s["n_measured"] == len(obj["cases"]) + len(obj["gaps"]) and s["n_check"] == len(obj["cases"]) >= 10
    assert all(c["kind"] == "measured" for c in obj["cases"] + obj["gaps"] + obj["calibration"])
    assert all(c["within_tolerance"] and c["role"] == "check" for c in obj["cases"])
    assert obj["summary"]["n_gap"] == len(obj["gaps"]) > 0
    assert all(g["role"] == "gap" and g["gap_reason"] and not g["within_tolerance"] for g in obj["gaps"])
    c = obj["cases"][0]
    for k in ("predicted", "published", "relative_error", "within_tolerance", "role"):
        assert k in c
    text = out.read_text()
    assert "<table" in text and "Bokeh" in text and "cdn.bokeh.org" not in text
    assert "Known gaps" in text and obj["gaps"][0]["id"] in text
    # one parity plot per kind of quantity, never two units on one axis
    for g in s["by_group"]:
        assert f"{g}: predicted vs published" in text
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
    # the headline comes first and counts the gap
    assert out.splitlines()[0].startswith("1 measured cases from 1 sources") and "median |error| 50.0%" in out
