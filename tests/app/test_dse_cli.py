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


# ------------------------------------------------------------------ sweep --cluster
def _one_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    return lines[0]


def test_sweep_on_a_local_cluster_writes_a_dataset_and_resumes(tmp_path, capsys):
    pytest.importorskip("distributed")
    out = tmp_path / "sweep.parquet"
    args = ["sweep", SPACE, "--cluster", "local:2", "--out", str(out), "--chunk-size", "50", "--part-size", "150",
            "--no-progress"]
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "900 points in 10 parts on local:2" in err and "(10 run, 0 finished earlier)" in err
    assert pl.scan_parquet(out / "part-*.parquet").select(pl.len()).collect().item() == 900
    front = pl.read_parquet(out / "_front.parquet")
    assert front.height > 0 and (out / "_metadata").is_file()
    assert main(args) == 0  # rerun: every part finished already
    assert "(0 run, 10 finished earlier)" in capsys.readouterr().err
    assert pl.read_parquet(out / "_front.parquet").equals(front)


def test_sweep_cluster_bad_inputs_exit_2_with_one_line(tmp_path, capsys):
    assert main(["sweep", SPACE, "--cluster", "locl:2", "--out", str(tmp_path / "o.parquet")]) == 2
    line = _one_line(capsys.readouterr().err)
    assert "cluster 'locl:2' does not parse" in line and "local:N" in line and "tcp://HOST:PORT" in line
    assert main(["sweep", SPACE, "--cluster", "local:2", "--out", str(tmp_path / "o.csv")]) == 2
    assert "Parquet dataset folder" in _one_line(capsys.readouterr().err)
    assert main(["sweep", SPACE, "--cluster", "local:2"]) == 2
    assert "--cluster needs --out FOLDER" in _one_line(capsys.readouterr().err)
    f = tmp_path / "file.parquet"
    f.write_bytes(b"not a folder")
    assert main(["sweep", SPACE, "--cluster", "local:2", "--out", str(f)]) == 2
    assert "it is a file" in _one_line(capsys.readouterr().err)
    assert f.read_bytes() == b"not a folder"
    pytest.importorskip("distributed")
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    addr = f"tcp://127.0.0.1:{port}"
    assert main(["sweep", SPACE, "--cluster", addr, "--connect-timeout", "1", "--out", str(tmp_path / "u")]) == 2
    assert f"cannot reach the Dask scheduler at {addr} within 1 s" in _one_line(capsys.readouterr().err)
    assert sorted(os.listdir(tmp_path)) == ["file.parquet"]  # nothing written


def test_sweep_cluster_refuses_another_spaces_folder(tmp_path, capsys):
    pytest.importorskip("distributed")
    out = tmp_path / "d.parquet"
    assert main(["sweep", SPACE, "--cluster", "local:1", "--out", str(out), "--chunk-size", "300", "--part-size",
                 "300", "--no-progress"]) == 0
    capsys.readouterr()
    before = {p.name: p.stat().st_mtime_ns for p in out.rglob("*")}
    other = str(ROOT / "data" / "spaces" / "llama-2-7b-h100.toml")
    assert main(["sweep", other, "--cluster", "local:1", "--out", str(out), "--no-progress"]) == 2
    line = _one_line(capsys.readouterr().err)
    assert "holds the parts of another space ('tdnn-h100-small'" in line and "nothing was written" in line
    assert {p.name: p.stat().st_mtime_ns for p in out.rglob("*")} == before


# ------------------------------------------------------------------ a plan search (multi-device)
def test_plan_search_for_mixtral_on_8_h100_exports_a_front_of_plans(tmp_path):
    import optuna

    from models.perf import evaluate_point

    space = str(ROOT / "data" / "spaces" / "mixtral-8xh100-plans.toml")
    db = tmp_path / "plans.db"
    out, front = tmp_path / "trials.csv", tmp_path / "front.csv"
    rc = main(["search", space, "--trials", "48", "--storage", f"sqlite:///{db}", "--population", "16",
               "--seed", "3", "--out", str(out), "--front-out", str(front)])
    assert rc == 0
    study = optuna.load_study(study_name="mixtral-8xh100-plans", storage=f"sqlite:///{db}")
    pruned = [t for t in study.trials if t.state == optuna.trial.TrialState.PRUNED]
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(pruned) + len(done) == 48 and pruned and done
    for t in pruned:  # an invalid plan is a finished, infeasible trial that says why
        p = t.params
        assert p["tensor_parallel"] * p["pipeline_parallel"] * p["expert_parallel"] > 8, p
        assert "allowed:" in t.user_attrs["infeasible"]
    f = pl.read_csv(front)
    assert f.height >= 2 and f["feasible"].all()
    assert {"tensor_parallel", "pipeline_parallel", "expert_parallel", "batch"} <= set(f.columns)
    # the front is the product's numbers: one plan re-evaluated through evaluate_point
    row = f.sort("output_tokens_per_s_per_device").row(-1, named=True)
    r = evaluate_point("h100-sxm", "mixtral-8x7b", {
        "prompt_len": 1024, "n_generated": 256, "serving": "aggregated", "serving_devices": 8, "batch": row["batch"],
        **{k: row[k] for k in ("tensor_parallel", "pipeline_parallel", "expert_parallel")}}, detail=False)
    assert row["output_tokens_per_s_per_device"] == pytest.approx(
        float(r.perf.serving["output_tokens_per_s_per_device"][0]), rel=1e-9)
    # no front point is beaten on both objectives by any completed trial
    t = pl.read_csv(out).filter(pl.col("feasible"))
    for fr in f.iter_rows(named=True):
        better = t.filter((pl.col("output_tokens_per_s_per_device") > fr["output_tokens_per_s_per_device"])
                          & (pl.col("output_tokens_per_s_per_user") > fr["output_tokens_per_s_per_user"]))
        assert better.height == 0
    assert main(["export", str(front), "--format", "json", "--out", str(tmp_path / "front.json"),
                 "--space", space]) == 0
    assert '"tensor_parallel"' in (tmp_path / "front.json").read_text()
