"""The sweep/search/pareto/export subcommands: outputs, help and exit codes."""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl
import pytest

from app.cli import main

ROOT = Path(__file__).resolve().parents[2]
SPACE = str(ROOT / "data" / "spaces" / "tdnn-h100-small.toml")


def test_sweep_pareto_export_chain(tmp_path, capsys):
    out = tmp_path / "sweep.parquet"
    assert main(["sweep", SPACE, "--out", str(out), "--no-progress"]) == 0
    df = pl.read_parquet(out)
    assert df.height == 10 * 6 * 5 * 3  # batch x frames x bandwidth x act format
    front = tmp_path / "front.csv"
    assert (
        main(
            [
                "pareto",
                str(out),
                "--objective",
                "latency_s:min",
                "--objective",
                "energy_J_per_utterance:min",
                "--out",
                str(front),
            ]
        )
        == 0
    )
    f = pl.read_csv(front)
    assert 0 < f.height < df.height
    for fmt in ("json", "html", "png"):
        assert (
            main(
                [
                    "export",
                    str(out),
                    "--format",
                    fmt,
                    "--out",
                    str(tmp_path / f"r.{fmt}"),
                    "--space",
                    SPACE,
                ]
            )
            == 0
        )
    assert sorted(os.listdir(tmp_path)) == [
        "front.csv",
        "r.html",
        "r.json",
        "r.png",
        "sweep.parquet",
    ]


def test_search_cli_with_journal(tmp_path):
    out = tmp_path / "s.csv"
    rc = main(
        [
            "search",
            SPACE,
            "--trials",
            "20",
            "--storage",
            f"journal:{tmp_path / 's.log'}",
            "--population",
            "10",
            "--out",
            str(out),
        ]
    )
    assert rc == 0 and pl.read_csv(out).height == 20


def test_bad_inputs_exit_2_with_clear_messages(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text(
        'name = "x"\nworkload = "tdnn-xvector"\n[[parameters]]\nname = "b"\nsets = "workload.batch"\n'
        'kind = "int"\nbounds = [4, 1]\n[[objectives]]\nmetric = "latency_s"\n'
    )
    assert main(["sweep", str(bad), "--out", str(tmp_path / "o.csv")]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "empty range" in err
    assert main(["search", SPACE, "--trials", "5", "--storage", "nosuch://db"]) == 2
    assert "unknown storage URL" in capsys.readouterr().err
    assert main(["sweep", SPACE, "--out", str(tmp_path / "no" / "o.csv"), "--no-progress"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["pareto", str(tmp_path / "missing.csv"), "--objective", "latency_s:min"]) == 2
    assert main(["pareto", SPACE, "--objective", "latency_s:up"]) == 2
    assert sorted(os.listdir(tmp_path)) == ["bad.toml"]  # nothing partial left


@pytest.mark.parametrize("cmd", ["sweep", "search", "pareto", "export"])
def test_help(cmd, capsys):
    with pytest.raises(SystemExit) as ei:
        main([cmd, "--help"])
    assert ei.value.code == 0
    assert "usage: tradespace " + cmd in capsys.readouterr().out
