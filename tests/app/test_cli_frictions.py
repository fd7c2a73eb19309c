"""The CLI frictions of issue 16, one test (or a few) each: what a new user tripped over.

Each test reproduces the friction through the command line (``app.cli.main`` in-process, or the
installed console script where a traceback or a second process matters) and checks the fixed
behaviour. Spaces are small and searches short.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from app.cli import main
from models.dse import load_space, pareto_front

ROOT = Path(__file__).resolve().parents[2]
TDNN = ROOT / "data" / "spaces" / "tdnn-h100-small.toml"
CLI = [sys.executable, "-m", "app.cli"]


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _space(tmp_path: Path, *, target: str = "h100-sxm", name: str = "tdnn-2obj") -> Path:
    """A 4 x 3 x 3 TDNN space with two objectives (latency, energy per utterance)."""
    p = tmp_path / f"{name}.toml"
    p.write_text(
        f'name = "{name}"\ntarget = "{target}"\nworkload = "tdnn-xvector"\n'
        '[[parameters]]\nname = "batch"\nsets = "workload.batch"\nkind = "int"\nvalues = [1, 8, 64, 512]\n'
        '[[parameters]]\nname = "frames"\nsets = "workload.frames"\nkind = "int"\nvalues = [100, 300, 1000]\n'
        '[[parameters]]\nname = "act_format"\nsets = "algorithm.act_format"\nkind = "categorical"\n'
        'choices = ["fp16", "fp8_e4m3", "int8"]\n'
        '[[objectives]]\nmetric = "latency_s"\ndirection = "minimize"\n'
        '[[objectives]]\nmetric = "energy_J_per_utterance"\ndirection = "minimize"\n'
    )
    return p


# ------------------------------------------------------------------ 1. search --out / --front-out
def test_search_out_writes_every_trial_and_front_out_the_front(tmp_path, capsys):
    space = _space(tmp_path)
    trials, front = tmp_path / "trials.csv", tmp_path / "front.csv"
    code, _, err = run(capsys, "search", space, "--trials", 12, "--population", 4, "--sampler", "random",
                       "--storage", f"journal:{tmp_path / 's.log'}", "--out", trials, "--front-out", front)
    assert code == 0, err
    every, f = pl.read_csv(trials), pl.read_csv(front)
    assert every.height == 12  # --out: all trials, dominated ones included
    objs = load_space(space).objectives
    want = pareto_front(every, objs)
    assert 0 < f.height < every.height
    assert sorted(f["trial"].to_list()) == sorted(want["trial"].to_list())
    assert f"{f.height} on the Pareto front -> {front}" in err


def test_search_refuses_the_same_file_for_trials_and_front(tmp_path, capsys):
    out = tmp_path / "x.csv"
    code, _, err = run(capsys, "search", _space(tmp_path), "--trials", 4, "--storage",
                       f"journal:{tmp_path / 's.log'}", "--out", out, "--front-out", out)
    assert code == 2 and "same file" in err
    assert not (tmp_path / "s.log").exists()  # refused before the study is opened


def test_search_help_says_what_each_output_holds(capsys):
    with pytest.raises(SystemExit):
        main(["search", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--out" in text and "ALL completed trials" in text
    assert "--front-out FILE" in text and "only the Pareto front" in text


# ------------------------------------------------------------------ 2. pareto prints the designs
def test_pareto_without_out_prints_each_designs_parameters(tmp_path, capsys):
    results = tmp_path / "sweep.csv"
    assert main(["sweep", str(_space(tmp_path)), "--out", str(results), "--no-progress"]) == 0
    capsys.readouterr()
    code, out, err = run(capsys, "pareto", results, "--objective", "latency_s:min",
                         "--objective", "energy_J_per_utterance:min")
    assert code == 0, err
    header = next(line for line in out.splitlines() if "latency_s" in line)
    cells = [c.strip() for c in header.strip("│ ").split("┆")]
    assert cells == ["batch", "frames", "act_format", "latency_s", "energy_J_per_utterance"]
    # each printed row names its design: the formats of the front appear as values
    front = pareto_front(pl.read_csv(results), load_space(_space(tmp_path)).objectives)
    for fmt in set(front["act_format"].to_list()):
        assert f"┆ {fmt}" in out


# ------------------------------------------------------------------ 3. compare
def _evaluate_json(capsys, target: str, workload: str, *sets: str) -> dict:
    argv = ["evaluate", "--target", target, "--workload", workload, "--json"]
    for s in sets:
        argv += ["--set", s]
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    return json.loads(out)["totals"]


def test_compare_targets_uses_the_evaluate_path_and_reports_a_failing_target(capsys):
    code, out, err = run(capsys, "compare", "--workload", "tdnn-xvector", "--targets",
                         "h100-sxm,a100-80gb,gddr6-aim", "--set", "batch=8", "--json")
    assert code == 0, err
    d = json.loads(out)
    assert d["baseline"] == "h100-sxm"
    cols = {c["name"]: c for c in d["columns"]}
    assert list(cols) == ["h100-sxm", "a100-80gb", "gddr6-aim"]
    h100 = _evaluate_json(capsys, "h100-sxm", "tdnn-xvector", "batch=8")
    a100 = _evaluate_json(capsys, "a100-80gb", "tdnn-xvector", "batch=8")
    for key in ("latency_s", "energy_J", "energy_J_per_utterance", "peak_memory_B"):
        assert cols["a100-80gb"]["totals"][key] == a100[key]  # the numbers `evaluate` prints
        assert cols["h100-sxm"]["totals"][key] == h100[key]
        assert cols["a100-80gb"]["ratio_to_baseline"][key] == pytest.approx(a100[key] / h100[key], rel=1e-12)
        assert cols["h100-sxm"]["ratio_to_baseline"][key] == 1.0
    bad = cols["gddr6-aim"]
    assert bad["ok"] is False and "gddr6-aim" in bad["reason"] and "fp16" in bad["reason"]
    assert bad["ratio_to_baseline"] is None


def test_compare_text_has_a_row_for_the_failing_target_and_its_reason(capsys):
    code, out, _ = run(capsys, "compare", "--workload", "tdnn-xvector", "--targets",
                       "gddr6-aim,h100-sxm,a100-80gb", "--baseline", "a100-80gb")
    assert code == 0
    rows = {line.split()[0]: line for line in out.splitlines() if line.split()}
    assert "failed" in rows["gddr6-aim"]
    assert "(baseline)" in rows["a100-80gb"] and "(1x)" in rows["a100-80gb"]
    assert "ratios (x) to 'a100-80gb'" in out
    assert "gddr6-aim: target 'gddr6-aim': no allowed engine" in out


def test_compare_one_target_across_settings(capsys):
    code, out, err = run(capsys, "compare", "--workload", "llama-2-7b", "--target", "h100-sxm",
                         "--set", "phase=decode", "--vs", "weight_format=int4-g128",
                         "--vs", "weight_format=int4-g128,gemm_strategy=lut",
                         "--baseline", "weight_format=int4-g128", "--json")
    assert code == 0, err
    cols = {c["name"]: c for c in json.loads(out)["columns"]}
    assert list(cols) == ["base", "weight_format=int4-g128", "weight_format=int4-g128,gemm_strategy=lut"]
    base = _evaluate_json(capsys, "h100-sxm", "llama-2-7b", "phase=decode")
    w4 = _evaluate_json(capsys, "h100-sxm", "llama-2-7b", "phase=decode", "weight_format=int4-g128")
    lut = _evaluate_json(capsys, "h100-sxm", "llama-2-7b", "phase=decode", "weight_format=int4-g128",
                         "gemm_strategy=lut")
    assert cols["base"]["totals"]["latency_s"] == base["latency_s"]
    assert cols["weight_format=int4-g128"]["totals"]["latency_s"] == w4["latency_s"]
    assert cols["weight_format=int4-g128,gemm_strategy=lut"]["totals"]["energy_J"] == lut["energy_J"]
    assert cols["base"]["ratio_to_baseline"]["latency_s"] == pytest.approx(base["latency_s"] / w4["latency_s"])
    assert w4["latency_s"] < base["latency_s"]  # 4-bit weights stream 4x fewer bytes in decode


def test_compare_help(capsys):
    with pytest.raises(SystemExit) as ei:
        main(["compare", "--help"])
    assert ei.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "usage: tradespace compare" in text and "--baseline NAME" in text and "--vs" in text


def test_compare_bad_options_exit_2(capsys):
    code, _, err = run(capsys, "compare", "--workload", "tdnn-xvector", "--targets", "h100-sxm,a100-80gb",
                       "--baseline", "h100-sx")
    assert code == 2 and "did you mean 'h100-sxm'?" in err
    code, _, err = run(capsys, "compare", "--workload", "tdnn-xvector", "--target", "h100-sxm")
    assert code == 2 and "--vs" in err
    code, _, err = run(capsys, "compare", "--workload", "tdnn-xvector", "--targets", "gddr6-aim,no-such")
    assert code == 2 and "no column could be evaluated" in err


# ------------------------------------------------------------------ 4. did you mean
@pytest.mark.parametrize(("argv", "hint"), [
    (["roofline", "h100-sx"], "unknown target 'h100-sx' (did you mean 'h100-sxm'?)"),
    (["evaluate", "--target", "a100-80g", "--workload", "gpt2"], "(did you mean 'a100-80gb'?)"),
    (["evaluate", "--target", "h100-sxm", "--workload", "llama-2-7"], "(did you mean 'llama-2-7b'?)"),
    (["evaluate", "--target", "h100-sxm", "--workload", "gpt2", "--set", "bacth=2"], "(did you mean 'batch'?)"),
    (["evaluate", "--target", "h100-sxm", "--workload", "gpt2", "--set", "weight_format=fp8_e4m4"],
     "(did you mean 'fp8_e4m3'?)"),
    (["evaluate", "--target", "h100-sxm", "--workload", "gpt2", "--set", "gemm_strategy=lutt"],
     "(did you mean 'lut'?)"),
    (["evaluate", "--target", "h100-sxm", "--workload", "gpt2", "--set", "softmax_variant=two-pass"],
     "(did you mean 'two_pass'?)"),
    (["evaluate", "--target", "h100-sxm", "--workload", "gpt2", "--set", "target.memories.hbm.bandwith=4TB/s"],
     "(did you mean 'memories.hbm.bandwidth'?)"),
])
def test_unknown_names_get_a_suggestion(capsys, argv, hint):
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert hint in err
    assert len(err.strip().splitlines()) == 1


def test_the_models_registries_word_the_suggestion_alike():
    from models.algorithms.lowbit_gemm import price_gemm
    from models.algorithms.quant import get_format
    from models.hardware import get_target
    from models.params import did_you_mean
    from models.workloads import workload_spec

    assert did_you_mean("h100", ["h100-sxm", "p100"]) == " (did you mean 'h100-sxm'?)"
    assert did_you_mean("zzz", ["h100-sxm"]) == ""
    for call, hint in ((lambda: get_target("jetson-orin-gp"), "'jetson-orin-gpu'"),
                       (lambda: workload_spec("resnet50"), "'resnet-50'"),
                       (lambda: get_format("nf5"), "'nf4'"),
                       (lambda: get_format("imt4-g128"), "'int4'"),
                       (lambda: price_gemm("bitserail", 8, 8, 8, "int4", "int8"), "'bitserial'")):
        with pytest.raises(KeyError) as ei:
            call()
        assert f"(did you mean {hint}?)" in str(ei.value.args[0])


# ------------------------------------------------------------------ 5. saved targets by name
@pytest.fixture
def saved_target(tmp_path, monkeypatch):
    """``my-h100`` (an H100 with 6 TB/s HBM) saved as the dashboard saves it, in a temporary HOME."""
    from app.dashboard.data import save_target_copy
    from models.hardware import get_target, with_overrides

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("TRADESPACE_USER_TARGETS", raising=False)
    monkeypatch.delenv("TRADESPACE_TARGETS_PATH", raising=False)
    t = with_overrides(get_target("h100-sxm"), {"memories.hbm.bandwidth": 6e12})
    path = save_target_copy(dataclasses.replace(t, name="my-h100", display_name="My H100 (6 TB/s)"))
    assert path == tmp_path / "home" / ".tradespace" / "targets" / "my-h100.toml"
    return path


def test_saved_target_resolves_by_name_in_evaluate_and_roofline(saved_target, capsys):
    mine = _evaluate_json(capsys, "my-h100", "llama-2-7b", "phase=decode")
    stock = _evaluate_json(capsys, "h100-sxm", "llama-2-7b", "phase=decode")
    assert mine["latency_s"] < stock["latency_s"]  # decode streams weights: more bandwidth, less time
    code, out, err = run(capsys, "roofline", "my-h100", "--json")
    assert code == 0, err
    hbm = {c["bandwidth_B_per_s"] for c in json.loads(out)["ceilings"] if c["level"] == "hbm"}
    assert hbm == {6e12}


def test_saved_target_resolves_in_spaces_for_sweep_and_search(saved_target, tmp_path, capsys):
    space = _space(tmp_path, target="my-h100", name="mine")
    out = tmp_path / "mine.parquet"
    code, _, err = run(capsys, "sweep", space, "--out", out, "--no-progress")
    assert code == 0, err
    assert pl.read_parquet(out).height == 36
    code, _, err = run(capsys, "search", space, "--trials", 4, "--population", 2,
                       "--storage", f"journal:{tmp_path / 'mine.log'}")
    assert code == 0, err


def test_targets_marks_saved_targets_with_their_file(saved_target, capsys):
    code, out, _ = run(capsys, "targets")
    assert code == 0
    line = next(ln for ln in out.splitlines() if ln.startswith("my-h100"))
    assert line.startswith("my-h100 *") and f"saved: {saved_target}" in line
    assert not any(ln.startswith("h100-sxm *") for ln in out.splitlines())
    assert "1 saved target(s)" in out
    code, out, _ = run(capsys, "targets", "--json")
    saved = {t["name"]: t["saved"] for t in json.loads(out)["targets"]}
    assert saved["my-h100"] is True and saved["h100-sxm"] is False


# ------------------------------------------------------------------ 6. each command's formats
def test_each_command_lists_exactly_the_formats_it_writes(tmp_path, capsys):
    code, _, err = run(capsys, "sweep", TDNN, "--out", tmp_path / "x.xlsx")
    assert code == 2 and err.rstrip().endswith("`tradespace sweep` writes .csv, .parquet, .json")
    code, _, err = run(capsys, "sweep", TDNN, "--out", tmp_path / "x.png")
    assert code == 2 and ".png" in err and "writes .csv, .parquet, .json" in err
    results = tmp_path / "r.csv"
    pl.DataFrame({"latency_s": [1.0]}).write_csv(results)
    code, _, err = run(capsys, "pareto", results, "--objective", "latency_s:min", "--out", tmp_path / "x.xlsx")
    assert code == 2 and err.rstrip().endswith("`tradespace pareto` writes .csv, .parquet, .json, .html, .png")
    for flag in ("--out", "--front-out"):
        code, _, err = run(capsys, "search", TDNN, "--trials", 2, "--storage", f"journal:{tmp_path / 's.log'}",
                           flag, tmp_path / "x.xlsx")
        assert code == 2 and f"{flag} " in err
        assert err.rstrip().endswith("`tradespace search` writes .csv, .parquet, .json, .html, .png")
    assert not (tmp_path / "s.log").exists()  # refused before any trial ran
    assert sorted(os.listdir(tmp_path)) == ["r.csv"]


# ------------------------------------------------------------------ 7. evaluate --top 0
def test_evaluate_top_0_prints_no_table(capsys):
    code, out, _ = run(capsys, "evaluate", "--target", "h100-sxm", "--workload", "tdnn-xvector", "--top", "0")
    assert code == 0
    assert "latency" in out
    assert "Top" not in out and "operator" not in out and "---" not in out
    code, out, _ = run(capsys, "evaluate", "--target", "h100-sxm", "--workload", "tdnn-xvector", "--top", "2")
    assert "Top 2 operators" in out


# ------------------------------------------------------------------ 8. integer knobs stay integers
def test_integer_knobs_stay_integers_in_every_format(tmp_path, capsys):
    space = _space(tmp_path)
    for fmt in ("csv", "parquet", "json"):
        assert main(["sweep", str(space), "--out", str(tmp_path / f"s.{fmt}"), "--no-progress"]) == 0
    text = (tmp_path / "s.csv").read_text().splitlines()
    assert text[1].startswith("1,100,fp16,")  # not 1.0,100.0
    schema = pl.read_parquet(tmp_path / "s.parquet").schema
    assert schema["batch"] == pl.Int64 and schema["frames"] == pl.Int64
    doc = json.loads((tmp_path / "s.json").read_text())
    assert doc["columns"]["batch"]["dtype"] == "Int64"
    assert all(type(v) is int for v in doc["data"]["batch"])
    out = tmp_path / "t.csv"
    assert main(["search", str(space), "--trials", "4", "--population", "2", "--storage",
                 f"journal:{tmp_path / 's.log'}", "--out", str(out)]) == 0
    assert pl.read_csv(out).schema["batch"] == pl.Int64
    # pareto and export keep them too
    assert main(["pareto", str(tmp_path / "s.parquet"), "--objective", "latency_s:min", "--out",
                 str(tmp_path / "f.csv")]) == 0
    assert pl.read_csv(tmp_path / "f.csv").schema["frames"] == pl.Int64


def test_error_values_of_an_integer_knob_print_as_integers(tmp_path, capsys):
    from models.params import ParamError
    from models.point import knob

    _, decl = knob("batch", "tdnn-xvector")
    for value in (0, 0.0, np.int64(0), np.float64(0.0)):
        with pytest.raises(ParamError) as ei:
            decl.check(value)
        assert "got 0;" in str(ei.value), value
    bad = tmp_path / "zero.toml"
    bad.write_text(_space(tmp_path).read_text().replace("values = [1, 8, 64, 512]", "values = [0, 8]\nlog = false"))
    code, _, err = run(capsys, "sweep", bad, "--no-progress")
    assert code == 2 and "value 0 (SI)" in err and "0.0" not in err


# ------------------------------------------------------------------ 9. optuna-dashboard
def _wsgi_get(app, path: str) -> dict:
    from wsgiref.util import setup_testing_defaults

    environ: dict = {"PATH_INFO": path, "REQUEST_METHOD": "GET"}
    setup_testing_defaults(environ)
    status: list[str] = []
    body = b"".join(app(environ, lambda s, h, exc_info=None: status.append(s)))
    assert status[0].startswith("200"), (path, status, body[:300])
    return json.loads(body)


def test_search_studies_open_in_optuna_dashboard(tmp_path, capsys):
    optuna_dashboard = pytest.importorskip("optuna_dashboard")
    space = _space(tmp_path)
    url = f"sqlite:///{tmp_path / 'study.db'}"
    code, _, err = run(capsys, "search", space, "--trials", 8, "--population", 4, "--storage", url)
    assert code == 0, err
    app = optuna_dashboard.wsgi(url)  # the package's public entry point, on the file as written
    studies = _wsgi_get(app, "/api/studies")["study_summaries"]
    assert [s["study_name"] for s in studies] == ["tdnn-2obj"]
    detail = _wsgi_get(app, f"/api/studies/{studies[0]['study_id']}")
    assert detail["directions"] == ["minimize", "minimize"]
    assert detail["objective_names"] == ["latency_s", "energy_J_per_utterance"]  # labelled views
    attrs = {a["key"]: a["value"] for a in detail["user_attrs"]}
    assert {"space", "objectives", "targets", "workloads"} <= set(attrs)
    assert "latency_s: minimize" in attrs["objectives"] and "h100-sxm" in attrs["targets"]
    assert len(detail["trials"]) == 8 and detail["best_trials"]  # history and Pareto front
    assert {p["name"] for p in detail["intersection_search_space"]} == {"batch", "frames", "act_format"}


# ------------------------------------------------------------------ 10. notebooks write elsewhere
def test_gitignore_covers_studies_and_exports():
    paths = ["tradespace.db", "notebooks/llama-2-7b-h100-notebook.db", "notebooks/pareto-front.csv",
             "notebooks/pareto-front.parquet", "notebooks/pareto-front.png", "front.csv", "front.html"]
    r = subprocess.run(["git", "check-ignore", *paths], cwd=ROOT, capture_output=True, text=True)
    if r.returncode == 128:
        pytest.skip("not a git checkout")
    assert sorted(r.stdout.split()) == sorted(paths)


@pytest.mark.slow
def test_notebook_06_writes_into_its_output_folder_only(tmp_path, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    cwd, tmp = tmp_path / "cwd", tmp_path / "tmp"
    cwd.mkdir()
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))  # the kernel's tempfile.mkdtemp lands here
    nb = nbformat.read(ROOT / "notebooks" / "06-search-and-pareto-export.ipynb", as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}).execute()
    outputs = [o for c in nb.cells for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    stderr = "".join(o.get("text", "") for o in outputs if o.get("name") == "stderr")
    assert "IProgress" not in stderr and "ipywidgets" not in stderr
    assert os.listdir(cwd) == []  # nothing next to the notebook / in the working directory
    (folder,) = tmp.iterdir()
    names = sorted(p.name for p in folder.iterdir())
    assert "llama-2-7b-h100-notebook.db" in names
    assert {f"pareto-front.{f}" for f in ("csv", "parquet", "json", "html", "png")} <= set(names)


# ------------------------------------------------------------------ 11. serve on a busy port
def test_serve_on_a_busy_port_prints_one_line(tmp_path):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        env = dict(os.environ, TRADESPACE_USER_TARGETS=str(tmp_path / "targets"))
        r = subprocess.run([*CLI, "serve", "--port", str(port)], capture_output=True, text=True,
                           timeout=120, env=env, cwd=ROOT)
    assert r.returncode != 0
    assert "Traceback" not in r.stderr and r.stdout == ""  # no URL of a server that never started
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1
    assert f"port {port}" in lines[0] and "--port" in lines[0] and "already in use" in lines[0]
