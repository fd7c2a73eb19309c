"""Bad command-line inputs of the issue: each one a clear message, exit code 2 (130 for Ctrl-C),
no traceback, nothing half-written.

Point 4: a 10**12-point space is refused at once by the default point budget, with a message
naming the grid size, the budget and ``--max-points``. Point 7: non-integer and zero
``head_dim``, ``architectures: 5``, integers beyond floats (1e400, 10**400) in TOML, JSON and on
the command line, documents nested thousands deep, results files that are not results (a JSON
list, broken Parquet, an empty or binary CSV), non-UTF-8 target files, overrides the loader
refuses, a broken file in the user's target folder, ``--top -5`` and Ctrl-C in every command.

Most run in-process (``app.cli.main``: an escaping exception fails the test as surely as a
printed traceback would); a few run the real console entry point in a subprocess.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

import app.cli
from app.cli import main
from tests.security._spaces import HUGE

ROOT = Path(__file__).resolve().parents[2]
SMALL = ROOT / "data" / "spaces" / "tdnn-h100-small.toml"
H100 = (ROOT / "data" / "targets" / "h100-sxm.toml").read_text()
LLAMA = json.loads((ROOT / "data" / "workloads" / "llama-2-7b.json").read_text())




def bad(capsys: pytest.CaptureFixture[str], folder: Path, *argv: str, words: tuple[str, ...],
        code: int = 2) -> str:
    """Run ``tradespace argv``: exit ``code``, one ``tradespace CMD: error: ...`` line holding every
    one of ``words``, and nothing new in ``folder``. Returns the message."""
    before = sorted(os.listdir(folder))
    rc = main(list(argv))
    out, err = capsys.readouterr()
    assert rc == code, (rc, out, err)
    lines = err.strip().splitlines()
    assert lines and lines[-1].startswith(f"tradespace {argv[0]}: error: "), err
    assert "Traceback" not in err + out
    for w in words:
        assert w in lines[-1], f"{w!r} not in: {lines[-1]}"
    assert sorted(os.listdir(folder)) == before  # nothing written, not even a temporary file
    return lines[-1]


def _config(folder: Path, **changes: object) -> Path:
    d = folder / "model"
    d.mkdir(exist_ok=True)
    cfg = {**LLAMA, **changes}
    (d / "config.json").write_text(json.dumps(cfg))
    return d / "config.json"


# ------------------------------------------------------------------------------ point 4
def test_a_10e12_point_space_is_refused_at_once_naming_size_budget_and_flag(capsys, tmp_path, monkeypatch):
    space = tmp_path / "huge.toml"
    space.write_text(HUGE)
    from models.dse.space import Parameter

    def no_grid(self):  # before the fix the grid was built (and allocated until MemoryError)
        raise AssertionError(f"grid of {self.name} built to refuse a space over the budget")

    monkeypatch.setattr(Parameter, "grid", no_grid)
    msg = bad(capsys, tmp_path, "sweep", str(space), "--out", str(tmp_path / "o.parquet"),
              words=("1,000,000,000,000 points", "100,000,000", "--max-points", str(space)))
    assert "huge" in msg
    assert not (tmp_path / "o.parquet").exists()


def test_max_points_refuses_a_small_grid_and_bad_budgets(capsys, tmp_path):
    bad(capsys, tmp_path, "sweep", str(SMALL), "--max-points", "899", "--out", str(tmp_path / "o.csv"),
        words=("900 points", "899", "--max-points"))
    for v in ("0", "-5"):
        bad(capsys, tmp_path, "sweep", str(SMALL), "--max-points", v, words=(f"--max-points {v}", "allowed"))
    assert main(["sweep", str(SMALL), "--max-points", "900", "--out", str(tmp_path / "o.csv"),
                 "--no-progress"]) == 0
    assert pl.read_csv(tmp_path / "o.csv").height == 900


# ------------------------------------------------------------------------------ HF configs
@pytest.mark.parametrize(("changes", "words"), [
    ({"head_dim": 1.5}, ("'head_dim'", "1.5", "integer")),  # used to be truncated to 1
    ({"head_dim": 0}, ("'head_dim'", "0", "integer from 1")),  # used to be ignored
    ({"head_dim": "128"}, ("'head_dim'", "'128'")),
    ({"architectures": 5}, ("'architectures'", "5", "list")),  # used to be a TypeError traceback
    ({"architectures": [5]}, ("'architectures'",)),
    ({"hidden_size": 1e400}, ("'hidden_size'", "inf")),  # json reads 1e400 as inf
    ({"num_hidden_layers": float("nan")}, ("'num_hidden_layers'", "nan")),
    ({"vocab_size": 10**400}, ("'vocab_size'", "more than 19 digits")),
    ({"tie_word_embeddings": "false"}, ("'tie_word_embeddings'", "true or false")),
    ({"model_type": ["llama"]}, ("'model_type'",)),
])
def test_bad_hf_config_fields_are_named(capsys, tmp_path, changes, words):
    path = _config(tmp_path, **changes)
    bad(capsys, tmp_path, "evaluate", "--target", "h100-sxm", "--workload", str(path), words=(*words, str(path)))


def test_hf_config_syntax_nesting_and_encoding_errors_name_the_file(capsys, tmp_path):
    path = _config(tmp_path)
    for raw, words in [(b"[1, 2]", ("JSON object", "list")),
                       (b'{"model_type": "llama", "x": ' + b"[" * 50000 + b"]" * 50000 + b"}", ("nested too deeply",)),
                       (b'{"model_type": "ll\xffama"}', ("UTF-8",)),
                       (b'{"model_type": "llama", "hidden_size": 1' + b"0" * 5000 + b"}", ("invalid JSON number",)),
                       (b'{"model_type": ', ("invalid JSON",))]:
        path.write_bytes(raw)
        bad(capsys, tmp_path, "evaluate", "--target", "h100-sxm", "--workload", str(path.parent),
            words=(*words, str(path)))


# ------------------------------------------------------------------------------ target files
def _target(folder: Path, text: str | bytes, name: str = "h100-sxm.toml") -> Path:
    p = folder / name
    if isinstance(text, bytes):
        p.write_bytes(text)
    else:
        p.write_text(text)
    return p


@pytest.mark.parametrize(("edit", "words"), [
    (lambda s: s.replace("value = 700,", "value = 1e400,", 1), ("'tdp.value'", "inf", "finite")),
    (lambda s: s.replace("value = 700,", "value = 1" + "0" * 400 + ",", 1), ("'tdp.value'", "401 digits", "finite")),
    (lambda s: s.replace("value = 700,", "value = 1" + "0" * 5000 + ",", 1), ("valid TOML numbers",)),
    (lambda s: s.replace("value = 700,", "value = " + "[" * 30000 + "]" * 30000 + ",", 1), ("nested too deeply",)),
    (lambda s: re.sub(r"n_units = \{ value = 528", "n_units = { value = 0.5", s, count=1),
     ("'engines.tensor.n_units.value'", "0.5", "integer")),
    (lambda s: s.replace("value = 700,", "value = true,", 1), ("'tdp.value'", "a number is required")),
    (lambda s: s.replace("value = 700,", "value = 60,", 1), ("'static_power'", "must not exceed tdp")),
    (lambda s: s.replace('unit = "W"', "unit = 5", 1), ("'tdp.unit'", "a unit name")),
])
def test_bad_target_files_name_file_and_field(capsys, tmp_path, edit, words):
    path = _target(tmp_path, edit(H100))
    bad(capsys, tmp_path, "roofline", str(path), words=(*words, str(path)))


def test_a_non_utf8_target_file_is_named(capsys, tmp_path):
    path = _target(tmp_path, H100.encode().replace(b"NVIDIA", b"NV\xffIDIA", 1))
    bad(capsys, tmp_path, "roofline", str(path), words=(str(path), "UTF-8", "line "))
    bad(capsys, tmp_path, "evaluate", "--target", str(path), "--workload", "gemm", words=(str(path), "UTF-8"))


@pytest.mark.parametrize(("setting", "words"), [
    ("target.static_power=1000W", ("'static_power'", "must not exceed tdp")),
    ("target.engines.tensor.n_units=0.5", ("n_units", "integer")),
    ("target.memories.hbm.bandwidth=1e400TB/s", ("bandwidth", "finite")),
    ("batch=1e400", ("batch", "finite")),
    ("batch=99999999999999999999999999999", ("batch", "allowed")),
])
def test_overrides_and_knobs_on_the_command_line_are_refused_like_files(capsys, tmp_path, setting, words):
    bad(capsys, tmp_path, "evaluate", "--target", "h100-sxm", "--workload", "llama-2-7b", "--set", setting,
        words=words)


def test_one_bad_file_in_the_users_target_folder_does_not_break_targets(capsys, tmp_path, monkeypatch):
    good = H100.replace('name = "h100-sxm"', 'name = "my-h100"', 1)
    (tmp_path / "my-h100.toml").write_text(good)
    (tmp_path / "broken.toml").write_bytes(b"name = \xff\n")
    (tmp_path / "wrong-name.toml").write_text(good)
    monkeypatch.setenv("TRADESPACE_TARGETS_PATH", str(tmp_path))
    assert main(["targets"]) == 0
    out, err = capsys.readouterr()
    assert "my-h100" in out and "h100-sxm" in out and "Traceback" not in err
    warned = [line for line in err.splitlines() if "warning: skipped" in line]
    assert len(warned) == 2
    assert any(str(tmp_path / "broken.toml") in w and "UTF-8" in w for w in warned)
    assert any(str(tmp_path / "wrong-name.toml") in w and "'name'" in w for w in warned)
    assert main(["targets", "--json"]) == 0
    out, _ = capsys.readouterr()
    doc = json.loads(out)
    assert "my-h100" in {t["name"] for t in doc["targets"]}
    assert sorted(Path(s["file"]).name for s in doc["skipped"]) == ["broken.toml", "wrong-name.toml"]


# ------------------------------------------------------------------------------ results files
@pytest.mark.parametrize(("name", "content", "words"), [
    ("r.json", b"[1, 2, 3]", ("JSON list", "metadata")),
    ("r.json", b'{"metadata": {}, "columns": {"a": {"dtype": "Float64"}}, "data": {"a": "x"}}', ("column 'a'",)),
    ("r.json", b'{"metadata": {}, "columns": {"a": {"dtype": "Float64"}}, "data": {"a": [{}]}}', ("dtype",)),
    ("r.json", b"[" * 50000 + b"]" * 50000, ("nested too deeply",)),
    ("r.json", b"{not json", ("invalid JSON",)),
    ("r.parquet", b"PAR1 this is not parquet at all", ("Parquet",)),
    ("r.csv", b"", ("is empty",)),
    ("r.csv", bytes(range(256)) * 8, ("CSV",)),
    ("r.csv", b"latency_s,energy_J,feasible\n1.0,2.0,maybe\n", ("feasible",)),
    ("r.csv", b"latency_s,energy_J\nfast,1\n", ("'latency_s'", "numeric")),
])
@pytest.mark.parametrize("command", ["pareto", "export"])
def test_results_files_that_are_not_results_are_refused(capsys, tmp_path, command, name, content, words):
    src = tmp_path / name
    src.write_bytes(content)
    out = tmp_path / "out.csv"
    argv = (["pareto", str(src), "--objective", "latency_s:min", "--objective", "energy_J:min", "--out", str(out)]
            if command == "pareto" else
            ["export", str(src), "--format", "png", "--out", str(out.with_suffix(".png")), "--objective",
             "latency_s:min", "--objective", "energy_J:min"])
    msg = bad(capsys, tmp_path, *argv, words=words)
    assert str(src) in msg or "objective" in msg or "column" in msg


def test_a_folder_as_results_and_a_missing_results_file(capsys, tmp_path):
    bad(capsys, tmp_path, "pareto", str(tmp_path), "--objective", "latency_s:min", words=("folder",))
    bad(capsys, tmp_path, "export", str(tmp_path / "none.csv"), "--format", "csv", "--out",
        str(tmp_path / "o.csv"), words=("does not exist",))


# ------------------------------------------------------------------------------ outputs
@pytest.mark.parametrize("argv", [
    ["sweep", str(SMALL), "--out", "{out}.json", "--no-progress"],
    ["export", "{results}", "--format", "html", "--out", "{out}.html", "--space", str(SMALL)],
    ["pareto", "{results}", "--objective", "latency_s:min", "--out", "{out}.csv"],
    ["validate", "--report", "{out}.html"],
], ids=["sweep", "export", "pareto", "validate"])
def test_an_output_in_a_missing_folder_is_refused_before_any_work(capsys, tmp_path, monkeypatch, argv):
    results = tmp_path / "r.csv"
    pl.DataFrame({"latency_s": [1.0, 2.0], "energy_J": [2.0, 1.0]}).write_csv(results)
    out = tmp_path / "no" / "such" / "folder" / "o"
    argv = [a.format(out=out, results=results) for a in argv]

    def work(*a: object, **k: object) -> None:
        raise AssertionError("the work started before the destination was checked")

    # the expensive step of each command; a late check would only fail after it
    import app.commands.export as export_cmd
    import app.commands.pareto as pareto_cmd
    import app.commands.sweep as sweep_cmd
    import app.commands.validate as validate_cmd
    monkeypatch.setattr(sweep_cmd, "sweep", work)
    monkeypatch.setattr(export_cmd, "read_results", work)
    monkeypatch.setattr(pareto_cmd, "read_results", work)
    monkeypatch.setattr(validate_cmd, "run_suite", work)
    bad(capsys, tmp_path, *argv, words=("cannot write", "does not exist", str(out.parent)))


def test_top_minus_five_is_refused(capsys, tmp_path):
    bad(capsys, tmp_path, "evaluate", "--target", "h100-sxm", "--workload", "gemm", "--top", "-5",
        words=("--top -5", "allowed"))


# ------------------------------------------------------------------------------ Ctrl-C
MINIMAL_ARGS = {
    "calibrate": ["--quick"],
    "compare": ["--workload", "gemm", "--targets", "h100-sxm,a100-80gb"],
    "evaluate": ["--target", "h100-sxm", "--workload", "gemm"],
    "export": ["r.csv", "--format", "csv", "--out", "o.csv"],
    "pareto": ["r.csv", "--objective", "latency_s:min"],
    "roofline": ["h100-sxm"],
    "search": [str(SMALL), "--trials", "2"],
    "serve": [],
    "sweep": [str(SMALL)],
    "targets": [],
    "validate": [],
    "workloads": [],
}


def test_every_command_is_covered_by_the_ctrl_c_test():
    names = set(app.cli.build_parser()._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
    assert names == set(MINIMAL_ARGS)


@pytest.mark.parametrize("command", sorted(MINIMAL_ARGS))
def test_ctrl_c_in_any_command_is_one_line_and_exit_130(capsys, monkeypatch, command):
    real = app.cli.build_parser

    def interrupt(args: object) -> int:
        raise KeyboardInterrupt

    def parser() -> object:
        p = real()
        for sub in p._subparsers._group_actions[0].choices.values():  # type: ignore[union-attr]
            sub.set_defaults(func=interrupt)
        return p

    monkeypatch.setattr(app.cli, "build_parser", parser)
    try:
        rc = main([command, *MINIMAL_ARGS[command]])
    except KeyboardInterrupt:  # escaping, it would end the test session rather than fail this test
        pytest.fail("KeyboardInterrupt escaped main(): a traceback for the user")
    assert rc == 130
    out, err = capsys.readouterr()
    assert err.strip().splitlines() == [f"tradespace {command}: interrupted"] and "Traceback" not in out


def _has_loaded(pid: int, library: str) -> bool:
    try:
        return library in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


def test_ctrl_c_of_a_real_validate_run_prints_one_line(tmp_path):
    if not Path("/proc/self/maps").exists():
        pytest.skip("needs /proc to see when the command has started")
    proc = subprocess.Popen([sys.executable, "-m", "app.cli", "validate", "--report", str(tmp_path / "r.html")],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # numpy is first loaded by the subcommands main() imports: from then on the signal lands
        # inside the command (the interpreter's own start-up is not ours to make quiet)
        end = time.monotonic() + 60
        while not _has_loaded(proc.pid, "_multiarray_umath") and proc.poll() is None and time.monotonic() < end:
            time.sleep(0.01)
        proc.send_signal(2)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    if proc.returncode in (0, 1):
        pytest.skip("the validation suite finished before the signal")
    # 130, or killed by SIGINT itself (-2): a shell reports both as $? = 130. The interpreter ends the
    # second way when a KeyboardInterrupt reaches it after main() has printed its line (seen once in a
    # CI run, with that line as the whole of stderr; where the signal landed was not found): the
    # user sees the same one line and the same $?
    assert proc.returncode in (130, -signal.SIGINT), err
    assert err.strip().splitlines()[-1] == "tradespace validate: interrupted" and "Traceback" not in err
    assert os.listdir(tmp_path) == []


def test_the_console_script_reports_a_bad_input_without_a_traceback(tmp_path):
    exe = shutil.which("tradespace", path=str(Path(sys.executable).parent))
    assert exe is not None
    space = tmp_path / "huge.toml"
    space.write_text(HUGE)
    r = subprocess.run([exe, "sweep", str(space)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "--max-points" in r.stderr and "1,000,000,000,000" in r.stderr
