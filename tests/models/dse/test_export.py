"""Exports read back equal; writes are atomic and fail clearly."""

from __future__ import annotations

import json
import os

import polars as pl
import pytest

from models.dse import parse_space, read_json_results, read_results, sweep
from models.plots import export


@pytest.fixture(scope="module")
def space():
    return parse_space(
        {
            "name": "exp",
            "workload": "tdnn-xvector",
            "parameters": [
                {"name": "batch", "sets": "workload.batch", "kind": "int", "values": [1, 8, 64]},
                {
                    "name": "bw",
                    "sets": "target.memories.hbm.bandwidth",
                    "kind": "float",
                    "values": [1, 3],
                    "unit": "TB/s",
                },
                {
                    "name": "act",
                    "sets": "algorithm.act_format",
                    "kind": "categorical",
                    "choices": ["fp16", "int8"],
                },
            ],
            "objectives": [{"metric": "latency_s"}, {"metric": "energy_J_per_utterance"}],
            "constraints": [{"kind": "memory"}],
        }
    )


@pytest.fixture(scope="module")
def results(space):
    return sweep(space, progress=False).with_columns(pl.Series("trial", range(12), dtype=pl.Int64))


@pytest.mark.parametrize("fmt", ["csv", "parquet", "json"])
def test_files_read_back_equal(tmp_path, space, results, fmt):
    path = export(results, tmp_path / f"r.{fmt}", space=space)
    back = read_results(path)
    assert back.columns == results.columns
    assert back.equals(results.cast(back.schema)) if fmt == "csv" else back.equals(results)
    assert sorted(os.listdir(tmp_path)) == [f"r.{fmt}"]  # no temporary file left


def test_json_metadata(tmp_path, space, results):
    _, meta = read_json_results(export(results, tmp_path / "r.json", space=space))
    assert meta["space"]["name"] == "exp"
    assert meta["objectives"] == [
        {"metric": "latency_s", "direction": "minimize"},
        {"metric": "energy_J_per_utterance", "direction": "minimize"},
    ]
    hbm = meta["targets"]["h100-sxm"]["fields"]["memories.hbm.bandwidth"]
    assert hbm["value_SI"] == 3.35e12 and "datasheet" in hbm["source"]
    assert meta["tradespace_version"] and meta["date"][:2] == "20"


def test_html_is_offline_and_png_is_a_png(tmp_path, space, results):
    html = export(results, tmp_path / "p.html", space=space).read_text()
    assert "Bokeh" in html and "cdn.bokeh.org" not in html  # inline resources, no network
    png = export(results, tmp_path / "p.png", space=space).read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_unwritable_path_is_a_clear_error_and_leaves_nothing(tmp_path, space, results):
    with pytest.raises(ValueError, match="does not exist"):
        export(results, tmp_path / "missing" / "r.csv")
    ro = tmp_path / "ro"
    ro.mkdir()
    os.chmod(ro, 0o555)
    try:
        if os.access(ro, os.W_OK):  # root ignores permissions: use a path under a file instead
            bad = tmp_path / "afile"
            bad.write_text("x")
            with pytest.raises(ValueError, match="cannot write"):
                export(results, bad / "r.csv")
        else:
            with pytest.raises(ValueError, match="cannot write"):
                export(results, ro / "r.csv")
            assert os.listdir(ro) == []
    finally:
        os.chmod(ro, 0o755)


def test_failed_write_leaves_no_partial_file(tmp_path, space, results):
    target = tmp_path / "r.png"
    # a plot needs two objectives: the writer raises after the temp file was created
    with pytest.raises(ValueError):
        export(results, target, objectives=[space.objectives[0]])
    target.write_text("old")
    with pytest.raises(KeyError):
        export(
            results,
            target,
            "png",
            objectives=[space.objectives[0], type(space.objectives[0])(metric="nope")],
        )
    assert target.read_text() == "old"  # the old file is untouched
    assert sorted(os.listdir(tmp_path)) == ["r.png"]


def test_json_is_strict_json(tmp_path, results):
    df = results.with_columns(pl.lit(float("inf")).alias("x"))
    p = export(df, tmp_path / "i.json")
    json.loads(p.read_text())  # no bare Infinity/NaN tokens
    back, _ = read_json_results(p)
    assert back["x"].to_list() == [float("inf")] * df.height
