"""The dashboard's input checks, escaping and error reporting, without a browser (issue 13)."""

from __future__ import annotations

import asyncio
import builtins
import json
import logging
import pathlib
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import polars as pl
import pytest

from app.dashboard import data as D
from app.dashboard import safety as S
from app.dashboard.state import CompareState, ExploreState, PointBudget, RooflineState, TargetsState
from models.dse import DEFAULT_MAX_POINTS, parse_space, sweep

XSS = ['<script>alert(1)</script>', '<img src=x onerror=alert(document.domain)>',
       '<img src=x onerror="window.__xss=1">']
ROOT = pathlib.Path(__file__).resolve().parents[3]


def run_async(state: ExploreState) -> None:
    with ThreadPoolExecutor(1) as ex:  # pytest-playwright may own this thread's event loop
        ex.submit(lambda: asyncio.run(state.run())).result()


# ---------------------------------------------------------------------------------- showing
@pytest.mark.parametrize(("text", "want"), [
    # absolute paths keep only their last component
    (f"cannot read {ROOT}/pyproject.toml: bad", "cannot read …/pyproject.toml: bad"),
    ("target file '/home/u/.tradespace/targets/x.toml', field 'tdp'", "target file '…/x.toml', field 'tdp'"),
    ("(/etc/passwd)", "(…/passwd)"),
    ("C:\\Users\\me\\t.toml is bad", "…/t.toml is bad"),
    ("~/.tradespace/targets/a.toml exists", "…/a.toml exists"),
    # units and ratios are not paths
    ("bandwidth 5 GB/s, 3 J/item, 1/s and FLOP/B", "bandwidth 5 GB/s, 3 J/item, 1/s and FLOP/B"),
    ("h100-sxm tensor bf16 / hbm", "h100-sxm tensor bf16 / hbm"),
])
def test_strip_paths(text: str, want: str) -> None:
    assert S.strip_paths(text) == want


def test_shown_hides_paths_and_cuts_long_values() -> None:
    assert S.shown("/work/main/pyproject.toml") == "'…/pyproject.toml'"
    assert S.shown("../../etc/passwd") == "'…/passwd'"
    assert S.shown("h100-sxm") == "'h100-sxm'"
    long = S.shown("x" * 500)
    assert len(long) < 70 and long.endswith("…'")
    assert S.shown([1, 2]) == "[1, 2]"


@pytest.mark.parametrize("payload", XSS)
def test_html_and_markdown_escaping_leave_no_tag(payload: str) -> None:
    from markdown_it import MarkdownIt

    assert "<" not in S.html_text(payload) and ">" not in S.html_text(payload)
    # the Markdown pane's renderer with raw HTML on: the escaped text renders as text, no element
    html = MarkdownIt("commonmark", {"html": True}).render(S.markdown_text(payload))
    assert "<img" not in html and "<script" not in html
    assert "&lt;" in html


def test_markdown_escaping_keeps_the_text() -> None:
    from markdown_it import MarkdownIt

    html = MarkdownIt("commonmark", {"html": True}).render(S.markdown_text("h100-sxm *x* [a](b)"))
    assert html.strip() == "<p>h100-sxm *x* [a](b)</p>"


# ---------------------------------------------------------------------------------- names
@pytest.fixture
def no_file_access(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Fail on any look at the file system for a probed path (exists, is_file, open...)."""
    touched: list[str] = []
    probes = ("pyproject", "passwd", "nonexistent", "secret")

    def spy(name: str, orig: Any) -> Any:
        def f(self: Any, *a: Any, **k: Any) -> Any:
            if any(p in str(self) for p in probes):
                touched.append(f"{name}({self})")
            return orig(self, *a, **k)
        return f

    for name in ("exists", "is_file", "is_dir", "stat", "open", "read_text", "read_bytes"):
        monkeypatch.setattr(pathlib.Path, name, spy(name, getattr(pathlib.Path, name)))
    real_open = builtins.open

    def spy_open(file: Any, *a: Any, **k: Any) -> Any:
        if any(p in str(file) for p in probes):
            touched.append(f"open({file})")
        return real_open(file, *a, **k)

    monkeypatch.setattr(builtins, "open", spy_open)
    return touched


@pytest.mark.parametrize("probe", [f"{ROOT}/pyproject.toml", f"{ROOT}/nonexistent.toml", "../../pyproject.toml",
                                   "/etc/passwd", "pyproject.toml", "~/secret.toml"])
def test_target_paths_are_refused_without_touching_the_file(probe: str, no_file_access: list[str]) -> None:
    with pytest.raises(S.InputError) as e:
        S.check_target_name(probe)
    msg = str(e.value)
    assert no_file_access == []
    assert "file paths are not accepted" in msg and "h100-sxm" in msg  # what is allowed
    assert "/work/" not in msg and str(ROOT) not in msg and "build-system" not in msg


def test_existing_and_missing_paths_give_the_same_message() -> None:
    # a link must not tell whether a server file exists
    def msg(f: Any, v: str) -> str:
        with pytest.raises(S.InputError) as e:
            f(v)
        return str(e.value)

    assert msg(S.check_target_name, f"{ROOT}/pyproject.toml") == msg(S.check_target_name,
                                                                      "/no/such/dir/pyproject.toml")
    assert msg(S.check_workload_name, "/etc/passwd") == msg(S.check_workload_name, "/no/such/dir/passwd")
    assert msg(S.check_workload_name, str(ROOT)) == msg(S.check_workload_name, "/no/such/" + ROOT.name)


@pytest.mark.parametrize("probe", ["/etc/passwd", "../../etc/passwd", f"{ROOT}/data", "/nonexistent/config.json"])
def test_workload_paths_are_refused_without_touching_the_file(probe: str, no_file_access: list[str]) -> None:
    with pytest.raises(S.InputError, match="file paths are not accepted") as e:
        S.check_workload_name(probe)
    assert no_file_access == [] and "/etc" not in str(e.value) and "llama-2-7b" in str(e.value)


def test_registry_names_are_accepted_and_typos_get_a_hint() -> None:
    assert S.check_target_name("h100-sxm") == "h100-sxm"
    assert S.check_workload_name("resnet-50") == "resnet-50"
    with pytest.raises(S.InputError, match="did you mean 'h100-sxm'"):
        S.check_target_name("h100-sx")
    with pytest.raises(S.InputError, match="tradespace workloads"):
        S.check_workload_name("nope")
    with pytest.raises(S.InputError, match="listed twice"):
        S.check_targets(["h100-sxm", "h100-sxm"])
    with pytest.raises(S.InputError, match="empty selection"):
        S.check_targets([])


def test_a_saved_target_is_accepted(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the Targets page saves to the user's folder, which serve puts on TRADESPACE_TARGETS_PATH
    monkeypatch.setenv("TRADESPACE_TARGETS_PATH", str(tmp_path))
    s = TargetsState()
    s.new_name = "h100-mine"
    saved = s.save(tmp_path)
    assert saved == tmp_path / "h100-mine.toml" and saved.is_file()
    assert S.check_target_name("h100-mine") == "h100-mine"
    assert str(tmp_path) not in s.message and "h100-mine" in s.message
    # saving the same name again: the message names the file, not the server folder
    assert s.save(tmp_path) is None and "h100-mine" in s.error and str(tmp_path) not in s.error


# ---------------------------------------------------------------------------------- knobs
def _llama_knobs() -> list[Any]:
    return RooflineState().knob_specs()


@pytest.mark.parametrize(("knobs", "fragments"), [
    ({"batch": "abc"}, ["knob 'batch'", "'abc'", "a number is required", "[1, 65536]"]),
    ({"batch": [1, 2]}, ["knob 'batch'", "[1, 2]", "one value is required"]),
    ({"batch": {"a": {"b": 1}}}, ["knob 'batch'", "one value is required"]),
    ({"batch": -1}, ["knob 'batch'", "got -1", "[1, 65536]"]),
    ({"batch": 1e308}, ["knob 'batch'", "1e+308", "[1, 65536]"]),
    ({"batch": 10**400}, ["knob 'batch'", "a finite number is required"]),
    ({"batch": float("nan")}, ["knob 'batch'", "a finite number is required"]),
    ({"batch": True}, ["knob 'batch'", "a number is required"]),
    ({"batch": 2.5}, ["knob 'batch'", "an integer is required"]),
    ({"batchh": 8}, ["knob 'batchh'", "unknown for workload 'llama-2-7b'", "did you mean 'batch'"]),
    ({XSS[1]: 8}, ["unknown for workload", "allowed: batch"]),
    ({"weight_dtype": XSS[0]}, ["knob 'weight_dtype'", "allowed:"]),
    ({"phase": "decode"}, ["phase selector"]),
    ([1, 2], ["a JSON object of knob values is required"]),
])
def test_bad_knobs_give_one_clear_message(knobs: Any, fragments: list[str]) -> None:
    with pytest.raises(ValueError) as e:
        S.check_knobs("llama-2-7b", knobs, _llama_knobs())
    msg = str(e.value)
    for f in fragments:
        assert f in msg, msg
    assert "Traceback" not in msg


def test_good_knobs_are_checked_values() -> None:
    got = S.check_knobs("llama-2-7b", {"batch": 8.0, "weight_format": "int4", "kv_format": None}, _llama_knobs())
    assert got == {"batch": 8, "weight_format": "int4"} and isinstance(got["batch"], int)


# ---------------------------------------------------------------------------------- URL query
def _q(state: Any, mapping: dict[str, str], **query: str) -> tuple[dict[str, Any], list[str]]:
    import urllib.parse

    return S.query_values(state, mapping, "?" + urllib.parse.urlencode(query))


ROOF = {"targets": "targets", "workload": "workload", "phase": "phase", "mode": "mode", "knobs": "knobs"}


def test_query_values_read_types_and_report_each_bad_value() -> None:
    s = RooflineState()
    v, errs = _q(s, ROOF, targets='["h100-sxm", "a100-80gb"]', workload="123", phase="decode",
                 knobs='{"batch": 4}', other="ignored")
    assert errs == [] and v == {"targets": ["h100-sxm", "a100-80gb"], "workload": "123", "phase": "decode",
                                "knobs": {"batch": 4}}
    v, _ = _q(s, ROOF, targets="h100-sxm")  # one name without brackets
    assert v == {"targets": ["h100-sxm"]}
    v, errs = _q(s, ROOF, knobs="batch=4", phase=XSS[0], targets="[1, 2]", mode="")
    assert v == {} and len(errs) == 4
    assert any("knobs" in e and "not valid JSON" in e for e in errs)
    assert any("phase" in e and "allowed: all, prefill" in e for e in errs)
    assert any("targets" in e and "list of names" in e for e in errs)


def test_query_values_refuse_deep_and_long_values_quickly() -> None:
    s = RooflineState()
    _, errs = _q(s, ROOF, knobs='{"a":' * 3000 + "1" + "}" * 3000)
    assert len(errs) == 1 and "18001 characters; at most 4000" in errs[0]  # refused before parsing
    _, errs = _q(s, ROOF, knobs="[" * 1990 + "]" * 1990)  # deeper than the JSON parser recurses
    assert len(errs) == 1 and "knobs: the JSON value is nested too deeply" in errs[0]
    v, errs = _q(s, ROOF, knobs='{"batch":' * 300 + "1" + "}" * 300)  # parsed; the knob check refuses it
    assert errs == []
    with pytest.raises(ValueError, match="knob 'batch': got .*one value is required"):
        S.check_knobs("llama-2-7b", v["knobs"], _llama_knobs())


EXPLORE = {n: n for n in ExploreState._inputs}


def test_query_values_check_numbers_bounds_and_choices() -> None:
    s = ExploreState()
    v, errs = _q(s, EXPLORE, axis1_n="20000", axis1_low="inf", axis2_low="abc", n_trials="-5",
                 memory_constraint="maybe", x_metric=XSS[2], seed="1.5")
    assert v == {} and len(errs) == 7
    assert any("axis1_n" in e and "[1, 10000]" in e for e in errs)
    assert any("axis1_low" in e and "finite" in e for e in errs)
    assert any("x_metric" in e and "latency_s" in e for e in errs)


# ---------------------------------------------------------------------------------- errors
def test_expected_errors_show_their_message_without_paths() -> None:
    msg = S.error_message(ValueError(f"target file {ROOT}/data/targets/x.toml, field 'tdp': got -1"))
    assert msg == "target file …/x.toml, field 'tdp': got -1"
    assert S.error_message(KeyError("unknown 'x'; allowed: a, b")) == "unknown 'x'; allowed: a, b"


def test_unexpected_errors_are_logged_with_an_id(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="app.dashboard")
    try:
        raise RuntimeError(f"boom in {ROOT}/app/secret.py")
    except RuntimeError as exc:
        msg = S.error_message(exc)
    m = re.fullmatch(r"internal error ([0-9a-f]{8}); the server log has the details", msg)
    assert m, msg
    rec = [r for r in caplog.records if m.group(1) in r.getMessage()]
    assert len(rec) == 1 and rec[0].exc_info is not None and "boom" in caplog.text and "Traceback" in caplog.text


def test_build_page_shows_an_escaped_message_not_a_traceback(monkeypatch: pytest.MonkeyPatch,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    from app.dashboard import app
    from app.dashboard.views import roofline

    caplog.set_level(logging.ERROR, logger="app.dashboard")

    def broken(**params: Any) -> Any:
        raise RuntimeError(f"<img src=x onerror=alert(1)> in {ROOT}/models/x.py")

    monkeypatch.setattr(roofline, "create", broken)
    page = app.build_page("roofline")
    html = " ".join(str(getattr(o, "object", "")) for o in page.select())
    assert "internal error" in html and "the server log has the details" in html
    assert "<img" not in html and str(ROOT) not in html and "Traceback" not in html
    assert "Traceback" in caplog.text  # server-side, with the id
    ident = re.search(r"internal error ([0-9a-f]{8})", html)
    assert ident and ident.group(1) in caplog.text

    def bad_input(**params: Any) -> Any:
        raise ValueError(f"config {ROOT}/x/config.json: field 'architectures': got 5 <b>")

    monkeypatch.setattr(roofline, "create", bad_input)
    html = " ".join(str(getattr(o, "object", "")) for o in app.build_page("roofline").select())
    assert "field &#x27;architectures&#x27;: got 5 &lt;b&gt;" in html and str(ROOT) not in html


def test_guarded_callbacks_report_on_the_state() -> None:
    from app.dashboard.views.common import guarded

    s = RooflineState()

    def cb(event: Any) -> None:
        raise KeyError("field 'x': unknown; allowed: a")

    assert guarded(s, cb)(None) is None
    assert s.error == "field 'x': unknown; allowed: a" and s.n_errors == 1

    async def acb(event: Any) -> None:
        raise ZeroDivisionError("division by zero")

    with ThreadPoolExecutor(1) as ex:  # pytest-playwright may own this thread's event loop
        ex.submit(lambda: asyncio.run(guarded(s, acb)(None))).result()
    assert s.error.startswith("internal error ") and s.n_errors == 2


# ---------------------------------------------------------------------------------- states
@pytest.mark.parametrize(("name", "value"), [
    ("knobs", {"batch": -1}), ("knobs", {"batch": 1e308}), ("knobs", {"batch": "abc"}), ("knobs", {"nope": 1}),
    ("workload", "nope"), ("workload", "/etc/passwd"), ("targets", ["h100-sxm", "<script>alert(1)</script>"]),
    ("targets", [f"{ROOT}/pyproject.toml"]),
])
def test_a_rejected_input_keeps_the_last_valid_state_and_its_labels(name: str, value: Any) -> None:
    s = RooflineState(targets=["h100-sxm", "a100-80gb"], knobs={"batch": 4})
    data = s.data
    s.apply(**{name: value})
    assert s.n_errors == 1 and "not applied" in s.error
    # the inputs are the last valid ones, and the data is theirs: no stale result under new labels
    assert s.targets == ["h100-sxm", "a100-80gb"] and s.knobs == {"batch": 4} and s.workload == "llama-2-7b"
    assert s.data is data and s.data.totals["target"].to_list() == s.targets


def test_batch_shown_is_the_batch_evaluated() -> None:
    s = CompareState(targets=["h100-sxm"])
    s.set_knob("batch", 8)
    lat8 = s.data["latency_s"][0]
    s.set_knob("batch", -1)
    assert s.knob_value("batch") == 8 and s.data["latency_s"][0] == lat8


def test_switching_workload_keeps_shared_knobs_and_a_valid_phase() -> None:
    s = RooflineState(knobs={"batch": 4, "prompt_len": 512})
    s.workload = "resnet-50"
    # prompt_len is an LLM knob: dropped; resnet has no decode phase: all phases shown
    assert s.error == "" and s.knobs == {"batch": 4} and s.phase == "all"
    # a workload and knobs given together (a URL) must fit each other
    s.apply(workload="gpt2", knobs={"batch": 2, "width_mult": 0.5})
    assert "width_mult" in s.error and s.workload == "resnet-50"


def test_targets_page_rejects_paths_and_keeps_its_target() -> None:
    s = TargetsState()
    fields = s.fields
    s.target = f"{ROOT}/pyproject.toml"
    assert "file paths are not accepted" in s.error and s.target == "h100-sxm" and s.fields is fields
    s.new_name = XSS[2]
    assert s.save() is None and "allowed: 1-64 characters" in s.error


def test_explore_rejects_bad_names_and_axes() -> None:
    s = ExploreState()
    for name, value in [("target", "/etc/passwd"), ("workload", XSS[0]), ("axis1", XSS[1]),
                        ("axis2_low", float("inf"))]:
        before = getattr(s, name)
        s.apply(**{name: value})
        assert getattr(s, name) == before and "not applied" in s.error, (name, s.error)
    assert s.n_errors == 4


# ---------------------------------------------------------------------------------- point budget
def test_grid_over_the_point_budget_is_refused_quickly() -> None:
    import time

    s = ExploreState(axis1_n=10_000, axis2_n=10_000, axis3_n=10_000)  # 10^12 points
    t0 = time.perf_counter()
    run_async(s)
    assert time.perf_counter() - t0 < 10  # refused, not allocated (generous bound)
    assert f"{DEFAULT_MAX_POINTS:,}" in s.error and "models.dse.DEFAULT_MAX_POINTS" in s.error
    assert s.status == "refused" and s.results is None


def test_point_budget_is_shared_by_sessions() -> None:
    budget = PointBudget(1000)
    a, b = ExploreState(axis1_n=4, axis2_n=4, axis3_n=4), ExploreState(axis1_n=10, axis2_n=10, axis3_n=10)
    a.point_budget = b.point_budget = budget
    with budget.reserve(950, "another session"):
        run_async(b)  # 1000 points: only 50 free while the other session runs
        assert b.results is None and "other sessions" in b.error and "50 are free" in b.error
        run_async(a)  # 64 points do not fit either
        assert a.results is None and "64" in a.error
    run_async(b)  # released: it runs, and gives its points back
    assert b.error == "" and b.n_evaluated == 1000 and budget.in_use == 0
    with pytest.raises(ValueError, match="at most 1,000 points at once"):
        budget.acquire(1001)


def test_a_failed_run_gives_its_points_back(monkeypatch: pytest.MonkeyPatch) -> None:
    budget = PointBudget(10_000)
    s = ExploreState(axis1_n=4, axis2_n=3, axis3_n=3)
    s.point_budget = budget

    def broken(space: Any, results: Any) -> Any:
        raise RuntimeError("front failed")

    monkeypatch.setattr(D.SweepKeeper, "add", lambda self, chunk: broken(None, None))
    run_async(s)
    assert s.error.startswith("internal error") and budget.in_use == 0 and not s.running


def test_sweep_keeper_samples_the_cloud_and_keeps_the_exact_front() -> None:
    space = parse_space({"name": "k", "workload": "llama-2-7b", "parameters": [
        {"name": "batch", "sets": "workload.batch", "kind": "int", "bounds": [1, 64], "n_grid": 64},
        {"name": "bw", "sets": "target.memories.hbm.bandwidth", "kind": "float", "bounds": [1000, 8000],
         "unit": "GB/s", "n_grid": 7}],
        "objectives": [{"metric": "latency_s"}, {"metric": "energy_J_per_item"}],
        "constraints": [{"kind": "memory"}]})
    full = sweep(space, progress=False)
    keeper = D.SweepKeeper(space, stride=10)
    for i in range(0, full.height, 37):  # chunks that do not line up with the stride
        keeper.add(full.slice(i, 37))
    assert keeper.n_seen == full.height == 448
    cloud = keeper.cloud()
    # every 10th grid point, in grid order: rows 0, 10, ..., 440
    assert cloud.height == 45 and cloud.equals(full.gather_every(10))
    assert keeper.front is not None and keeper.front.equals(D.explore_front(space, full))
    assert keeper.front.height >= 3
    # chunks whose local fronts hold points another chunk dominates (rows shuffled): still exact
    shuffled = full.sample(fraction=1.0, shuffle=True, seed=3)
    keeper = D.SweepKeeper(space)
    for i in range(0, shuffled.height, 37):
        keeper.add(shuffled.slice(i, 37))
    local = sum(D.explore_front(space, shuffled.slice(i, 37)).height for i in range(0, shuffled.height, 37))
    assert local > keeper.front.height  # the merge had points to drop
    assert keeper.front.sort("batch", "bw").equals(D.explore_front(space, full).sort("batch", "bw"))


def test_large_sweeps_keep_a_bounded_cloud(monkeypatch: pytest.MonkeyPatch) -> None:
    import app.dashboard.state as st

    monkeypatch.setattr(st, "CLOUD_MAX_POINTS", 100)
    s = ExploreState(axis1_n=10, axis2_n=10, axis3_n=3)  # 300 points, a cloud of every 3rd
    run_async(s)
    assert s.error == "" and s.n_evaluated == 300 and s.results.height == 100
    assert s.status == "done: 300 points, " f"{s.front.height} on the Pareto front; the cloud shows 1 point in 3"
    ref = ExploreState(axis1_n=10, axis2_n=10, axis3_n=3)
    monkeypatch.setattr(st, "CLOUD_MAX_POINTS", 10_000)
    run_async(ref)
    assert ref.results.height == 300 and s.front.equals(ref.front)
    assert isinstance(s.results, pl.DataFrame) and json.dumps(s.status)


def test_every_bad_input_is_named_in_one_message() -> None:
    s = RooflineState()
    s.apply(targets=["nope1", "/x/y.toml"], workload="nope2")
    assert s.n_errors == 1
    for part in ("target 'nope1': unknown", "target '…/y.toml': file paths are not accepted", "workload 'nope2'"):
        assert part in s.error, s.error
    s.apply(targets=["bad"], knobs={"batch": -1, "prompt_len": "x"})
    assert s.n_errors == 2
    for part in ("target 'bad'", "knob 'batch': got -1", "knob 'prompt_len': got 'x'"):
        assert part in s.error, s.error
    e = ExploreState()
    e.apply(target="t?", workload="w?", axis1="a b", axis3_high=float("nan"))
    assert e.n_errors == 1 and all(f in e.error for f in ("target 't?'", "workload 'w?'", "axis1 'a b'", "axis3_high"))


def test_a_dashboard_search_leaves_no_temporary_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    import tempfile

    made: list[str] = []
    real = tempfile.mkdtemp

    def mkdtemp(*a: Any, **k: Any) -> str:
        made.append(real(*a, **k))
        return made[-1]

    monkeypatch.setattr(tempfile, "mkdtemp", mkdtemp)
    s = ExploreState(method="search", n_trials=8, axis1_high=32)
    run_async(s)
    assert s.error == "" and s.n_evaluated == 8
    assert len(made) == 1 and "tradespace-search-" in made[0] and not pathlib.Path(made[0]).exists()
