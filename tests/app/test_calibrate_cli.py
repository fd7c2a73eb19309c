"""`tradespace calibrate` and `tradespace validate --host`: they run, write what they say, and fail
cleanly (exit 2 or 130, one line, no partial file). No test asserts a timing or an error figure:
those are live measurements of a shared machine."""

from __future__ import annotations

import builtins
import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import pytest

from app.cli import main
from models.calibrate import calibration as cal_mod

pytest.importorskip("torch", reason='PyTorch (pip install -e ".[measure]") runs the measurements')


@pytest.fixture()
def small(monkeypatch: pytest.MonkeyPatch) -> None:
    """The real benchmarks at small sizes: every step runs, in seconds."""
    monkeypatch.setitem(cal_mod.GEMM_SIZES, True, [32, 64, 128])
    monkeypatch.setitem(cal_mod.GEMV_SIZES, True, [64, 256])

    def levels(host: Any, quick: bool) -> tuple[dict, dict]:
        return ({"l1": (8e3, 24e3), "l2": (2e5, 6e5)}, {"l3": (2e6, 4e6), "dram": (8e6, 16e6)})

    monkeypatch.setattr(cal_mod, "_levels", levels)
    from models.calibrate import workloads

    monkeypatch.setitem(workloads._MIN_S, True, 0.0)  # host workloads: the fewest timed runs, small sizes
    monkeypatch.setitem(workloads.SIZES, True, {
        "prompt": 16, "n_gen": 2, "llm": {"hidden": 128, "n_layers": 1, "n_heads": 2, "intermediate": 344},
        "resolution": 64, "softmax_n": 1 << 16, "attention_L": 128, "gemm": (64, 256, 256)})


@pytest.fixture()
def user_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "targets"
    monkeypatch.setenv("TRADESPACE_USER_TARGETS", str(d))
    return d


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*")) if folder.exists() else []


def test_calibrate_writes_a_target_that_resolves_by_name(small: None, user_dir: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["calibrate", "--quick"]) == 0
    out = capsys.readouterr().out
    path = user_dir / "host.toml"
    assert f"wrote {path}" in out and "calibrated-microbenchmark" in out
    assert _files(user_dir) == ["host.measurements.json", "host.toml"]  # no temporary file left
    text = path.read_text()
    assert 'provenance = "calibrated-microbenchmark"' in text
    meas = json.loads((user_dir / "host.measurements.json").read_text())
    assert {"gemm", "gemv", "stream", "exp", "overhead", "host"} <= set(meas)
    assert meas["host"]["n_cores"] == len(os.sched_getaffinity(0))
    # every number says it was measured here, read from the OS, or derived from a named preset
    from models.hardware import get_target

    t = get_target("host")
    assert t.provenance == "calibrated-microbenchmark"
    for field, (_, _, src) in t.numeric_fields().items():
        assert src.startswith(("measured by tradespace calibrate on", "from the OS on", "derived")), field
    assert meas["host"]["cpu_model"] in t.sources["clock"] or "from the OS" in t.sources["clock"]
    # the target by name through the one evaluation path
    assert main(["evaluate", "--target", "host", "--workload", "gemm", "--set", "dtype=fp32",
                 "--set", "weight_dtype=fp32", "--json"]) == 0
    obj = json.loads(capsys.readouterr().out)
    assert obj["target"] == "host" and obj["provenance"] == "calibrated-microbenchmark"
    from models.perf import evaluate_point

    want = evaluate_point(t, "gemm", {"dtype": "fp32", "weight_dtype": "fp32"}).perf.latency_s[0]
    assert obj["totals"]["latency_s"] == pytest.approx(float(want), rel=1e-12)  # the calibrated file, not a preset


def test_calibrate_out_and_json(small: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "box.toml"
    assert main(["calibrate", "--quick", "--out", str(out), "--json"]) == 0
    obj = json.loads(capsys.readouterr().out)
    assert obj["target"] == "box" and obj["path"] == str(out) and obj["provenance"] == "calibrated-microbenchmark"
    assert out.is_file() and (tmp_path / "box.measurements.json").is_file()
    assert set(obj["peak_op_per_s"]) >= {"fp32", "fp64"}


@pytest.mark.parametrize("bad, why", [
    ("missing/host.toml", "does not exist"),
    ("host.txt", ".toml"),
    (".", "file name"),
])
def test_bad_out_leaves_nothing(small: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture[str], bad: str, why: str) -> None:
    monkeypatch.chdir(tmp_path)
    ran = []
    monkeypatch.setattr(cal_mod, "measure", lambda *a, **k: ran.append(1))
    assert main(["calibrate", "--quick", "--out", bad]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tradespace calibrate: error:") and why in err
    assert not ran  # refused before any measurement
    assert _files(tmp_path) == []


def test_unwritable_home(small: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                         capsys: pytest.CaptureFixture[str]) -> None:
    # HOME under a regular file: its .tradespace folder cannot be created (root ignores permissions)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.delenv("TRADESPACE_USER_TARGETS", raising=False)
    monkeypatch.setenv("HOME", str(blocker / "home"))
    assert main(["calibrate", "--quick"]) == 2
    err = capsys.readouterr().err
    assert "cannot create the user targets folder" in err and "--out" in err
    assert _files(tmp_path) == ["file"]


def test_missing_torch_names_the_extra(small: None, user_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    real = builtins.__import__

    def no_torch(name: str, *a: Any, **k: Any) -> Any:
        if name == "torch" or name.startswith("torch."):
            raise ImportError("No module named 'torch'")
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_torch)
    assert main(["calibrate", "--quick"]) == 2
    err = capsys.readouterr().err
    assert 'pip install -e ".[measure]"' in err
    assert not list(user_dir.glob("*.toml")) and not list(user_dir.glob("*.json"))
    assert main(["validate", "--host", "--quick"]) == 2
    assert 'pip install -e ".[measure]"' in capsys.readouterr().err


def test_ctrl_c_inside_a_benchmark_leaves_no_file(small: None, user_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from models.calibrate import bench

    real = bench.best_time
    calls = []

    def interrupted(fn: Any, **kw: Any) -> float:
        calls.append(1)
        if len(calls) == 30:  # well into the benchmarks
            raise KeyboardInterrupt
        return real(fn, **kw)

    monkeypatch.setattr(bench, "best_time", interrupted)
    assert main(["calibrate", "--quick"]) == 130
    assert capsys.readouterr().err.strip().splitlines()[-1] == "tradespace calibrate: interrupted"
    assert len(calls) == 30
    assert [p for p in _files(user_dir)] == []


def test_ctrl_c_while_writing_keeps_the_old_target(small: None, user_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    user_dir.mkdir(parents=True)
    old = user_dir / "host.toml"
    old.write_text("old")
    import models.io as io

    real = io._replace
    seen = []

    def stop(tmp: Path, dest: Path) -> None:
        seen.append(dest.name)
        if dest.name == "host.toml":
            raise KeyboardInterrupt
        real(tmp, dest)

    monkeypatch.setattr(io, "_replace", stop)
    assert main(["calibrate", "--quick"]) == 130
    assert "host.toml" in seen and old.read_text() == "old"
    assert not [p for p in user_dir.iterdir() if p.name.endswith(".tmp")]


def test_cuda_device(small: None, user_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is visible; this checks the reason given without one")
    assert main(["calibrate", "--device", "cuda", "--quick"]) == 2
    err = capsys.readouterr().err
    assert "no CUDA device is visible" in err and "--device cpu" in err
    assert _files(user_dir) == []


@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="no CUDA device visible (torch.cuda)")
def test_cuda_device_with_a_gpu(small: None, user_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # GPU calibration is not built yet: a GPU host gets a clear refusal, never a CPU target by mistake
    assert main(["calibrate", "--device", "cuda", "--quick"]) == 2
    assert "not built yet" in capsys.readouterr().err
    assert _files(user_dir) == []


def test_validate_host(small: None, user_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["calibrate", "--quick"]) == 0
    capsys.readouterr()
    html = tmp_path / "host.html"
    assert main(["validate", "--host", "--quick", "--html", str(html)]) == 0
    out = capsys.readouterr().out
    lines = out.strip().splitlines()
    assert lines[-1].startswith("median_abs_error=")
    float(lines[-1].split("=", 1)[1])
    assert "calibrated-microbenchmark" in lines[0]
    rows = [ln for ln in lines if ln.startswith(("llm-", "resnet", "mobilenet", "softmax-", "attention-", "gemm-"))]
    assert len(rows) >= 12
    text = html.read_text()
    assert "predicted vs measured" in text and "Bokeh" in text and "median_abs_error=" in text
    assert not list(tmp_path.glob(".*tmp"))


def test_validate_host_json(small: None, user_dir: Path, capsys: pytest.CaptureFixture[str],
                            monkeypatch: pytest.MonkeyPatch) -> None:
    assert main(["calibrate", "--quick"]) == 0
    capsys.readouterr()
    from models.calibrate import workloads

    real = workloads.host_cases
    monkeypatch.setattr(workloads, "host_cases", lambda d, **k: [c for c in real(d, **k) if c.group == "kernel"])
    assert main(["validate", "--host", "--quick", "--json"]) == 0
    obj = json.loads(capsys.readouterr().out)
    assert obj["target"] == "host" and obj["provenance"] == "calibrated-microbenchmark"
    ws = obj["workloads"]
    assert {w["id"] for w in ws} >= {"softmax-two-pass", "softmax-three-pass", "attention-standard", "attention-fused"}
    for w in ws:
        assert w["measured_s"] > 0 and w["predicted_s"] > 0
        assert w["relative_error"] == pytest.approx(w["predicted_s"] / w["measured_s"] - 1)
    errs = sorted(abs(w["relative_error"]) for w in ws)
    assert obj["worst_abs_error"] == pytest.approx(errs[-1])
    n = len(errs)
    med = errs[n // 2] if n % 2 else (errs[n // 2 - 1] + errs[n // 2]) / 2
    assert obj["median_abs_error"] == pytest.approx(med)


def test_validate_host_prices_through_evaluate_point(small: None, user_dir: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The prediction of each workload is the one evaluate_point gives for its settings."""
    assert main(["calibrate", "--quick"]) == 0
    from models.calibrate import workloads
    from models.perf import evaluate_point

    real = workloads.host_cases
    monkeypatch.setattr(workloads, "host_cases",
                        lambda d, **k: [c for c in real(d, **k) if c.id in ("softmax-two-pass", "attention-fused")])
    v = workloads.run_host_validation("host", quick=True)
    for r in v.results:
        want = evaluate_point("host", r.workload, dict(r.settings)).summary()["totals"]["latency_s"]
        assert r.predicted_s == pytest.approx(want)


def test_validate_host_bad_input(user_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "--host", "--target", "no-such-target"]) == 2
    assert "unknown target 'no-such-target'" in capsys.readouterr().err
    assert main(["validate", "--quick"]) == 2
    assert "--quick goes with --host" in capsys.readouterr().err


def test_validate_host_keeps_each_workloads_least_time_over_the_passes(small: None, user_dir: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Each workload is timed once per pass over the list; its measured time is the least of them,
    and every pass's time is reported."""
    assert main(["calibrate", "--quick"]) == 0
    from models.calibrate import workloads

    times = {"softmax-two-pass": iter([0.3, 0.2, 0.25]), "attention-fused": iter([0.1, 0.4, 0.2])}
    real = workloads.host_cases

    def fake(d: Path, **k: object) -> list:
        cs = [c for c in real(d, **k) if c.id in times]  # type: ignore[arg-type]
        return [dataclasses.replace(c, run=lambda i=c.id: next(times[i])) for c in cs]

    monkeypatch.setattr(workloads, "host_cases", fake)
    monkeypatch.setitem(workloads.HOST_PASSES, True, 3)
    v = workloads.run_host_validation("host", quick=True)
    got = {r.id: (r.measured_s, r.measured_passes_s) for r in v.results}
    assert got == {"softmax-two-pass": (0.2, (0.3, 0.2, 0.25)), "attention-fused": (0.1, (0.1, 0.4, 0.2))}
    assert v.as_dict()["workloads"][0]["measured_passes_s"] in ([0.3, 0.2, 0.25], [0.1, 0.4, 0.2])
