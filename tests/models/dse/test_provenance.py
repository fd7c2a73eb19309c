"""Every result says how it was obtained: the ``provenance`` of the calibration ladder.

``ideal`` (pure roofline bound), ``datasheet`` (the presets' efficiencies),
``calibrated-microbenchmark`` / ``calibrated-trace`` (a target file that declares it, such as the
one ``tradespace calibrate`` writes). It is in ``evaluate --json``, in every sweep/search frame
and its CSV/Parquet files, and in the JSON export's metadata.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from app.cli import main
from models.dse import export, parse_space, read_json_results, sweep
from models.hardware.registry import get_target

PRESET = Path(__file__).resolve().parents[3] / "data" / "targets" / "h100-sxm.toml"


@pytest.fixture()
def calibrated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A saved target 'my-h100' that declares micro-benchmark calibration."""
    folder = tmp_path / "targets"
    folder.mkdir()
    text = PRESET.read_text().replace('name = "h100-sxm"', 'name = "my-h100"', 1)
    assert 'name = "my-h100"' in text
    (folder / "my-h100.toml").write_text('provenance = "calibrated-microbenchmark"\n' + text)
    monkeypatch.setenv("TRADESPACE_USER_TARGETS", str(folder))
    assert get_target("my-h100").provenance == "calibrated-microbenchmark"
    return "my-h100"


def _evaluate_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:
    assert main(["evaluate", "--workload", "gemm", "--json", *argv]) == 0
    return json.loads(capsys.readouterr().out)


def test_evaluate_json_says_which_rung(capsys, calibrated):
    assert _evaluate_json(capsys, "--target", "h100-sxm")["provenance"] == "datasheet"
    assert _evaluate_json(capsys, "--target", "h100-sxm", "--mode", "ideal")["provenance"] == "ideal"
    assert _evaluate_json(capsys, "--target", calibrated)["provenance"] == "calibrated-microbenchmark"
    # ideal mode ignores efficiencies whatever the file says
    assert _evaluate_json(capsys, "--target", calibrated, "--mode", "ideal")["provenance"] == "ideal"


def _space(mode: str = "calibrated") -> dict:
    return {"name": "prov", "target": "h100-sxm", "workload": "gemm", "mode": mode,
            "parameters": [{"name": "t", "sets": "target", "kind": "categorical",
                            "choices": ["h100-sxm", "my-h100"]},
                           {"name": "m", "sets": "workload.m", "kind": "int", "values": [64, 4096]}],
            "objectives": [{"metric": "latency_s"}]}


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_sweep_rows_carry_their_targets_provenance(tmp_path, calibrated, fmt):
    space = parse_space(_space())
    out = tmp_path / f"s.{fmt}"
    sweep(space, out=str(out), keep="all")
    df = pl.read_csv(out) if fmt == "csv" else pl.read_parquet(out)
    got = dict(zip(df["t"].to_list(), df["provenance"].to_list(), strict=True))
    assert got == {"h100-sxm": "datasheet", "my-h100": "calibrated-microbenchmark"}
    assert df.height == 4
    ideal = sweep(parse_space(_space("ideal")))
    assert set(ideal["provenance"].to_list()) == {"ideal"}


def test_json_export_metadata_names_each_targets_provenance(tmp_path, calibrated):
    space = parse_space(_space())
    res = sweep(space)
    path = tmp_path / "front.json"
    export(res, str(path), space=space)
    frame, meta = read_json_results(path)
    assert meta["targets"]["my-h100"]["provenance"] == "calibrated-microbenchmark"
    assert meta["targets"]["h100-sxm"]["provenance"] == "datasheet"
    assert set(frame["provenance"].to_list()) == {"datasheet", "calibrated-microbenchmark"}


def test_dashboard_tables_say_how_each_row_was_obtained(calibrated):
    """Compare and Roofline rows, the Roofline summary table and the Compare table as rendered."""
    from app.dashboard import data as D
    from app.dashboard.state import CompareState, RooflineState
    from app.dashboard.views.compare import _table_frame
    from app.dashboard.views.roofline import _summary

    c = D.compare_data(["h100-sxm", calibrated, "no-such-target"], "gemm", {})
    assert c["provenance"].to_list() == ["datasheet", "calibrated-microbenchmark", None]
    assert set(D.compare_data(["h100-sxm", calibrated], "gemm", {}, mode="ideal")["provenance"]) == {"ideal"}
    shown = _table_frame(c)
    assert shown["how obtained"].tolist() == ["datasheet", "calibrated-microbenchmark", ""]

    r = RooflineState(targets=["h100-sxm", calibrated], workload="gemm")
    assert r.table["provenance"].to_list() == ["datasheet", "calibrated-microbenchmark"]
    html = _summary(r)
    assert "how obtained" in html and "calibrated-microbenchmark" in html and "datasheet" in html
    ideal = CompareState(targets=[calibrated], workload="gemm", mode="ideal")
    assert ideal.data["provenance"].to_list() == ["ideal"]


def test_explore_header_names_the_provenance_of_its_points(calibrated):
    from app.dashboard.explore_data import ExploreResult

    space = parse_space(_space())
    points = sweep(space, keep="all")
    summary = ExploreResult(space=space, inputs={}, method="sweep", points=points, front=points.head(1), n_evaluated=4,
                            n_total=4, state="done").summary()
    assert summary.endswith("numbers: calibrated-microbenchmark, datasheet")
