"""Dashboard state classes and plot-data functions, without a browser."""

from __future__ import annotations

import asyncio
import io

import numpy as np
import polars as pl
import pytest

from app.dashboard import data as D
from app.dashboard.state import CompareState, ExploreState, RooflineState, TargetsState
from models.dse import pareto_mask
from models.hardware import get_target


def run_async(state: ExploreState) -> None:
    """Run ``state.run()`` on its own loop in a worker thread (pytest-playwright may own this thread's loop)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as ex:
        ex.submit(lambda: asyncio.run(state.run())).result()


def test_state_module_does_not_import_panel() -> None:
    import app.dashboard.state  # noqa: F401

    src = open(app.dashboard.state.__file__).read()
    assert "import panel" not in src and "holoviews" not in src


def test_roofline_ceilings_meet_at_the_ridge_point() -> None:
    d = D.roofline_data(["h100-sxm"], "llama-2-7b", {}, phase="decode")
    t = get_target("h100-sxm")
    g = d.ceilings.filter((pl.col("engine") == "tensor") & (pl.col("dtype") == "bf16") & (pl.col("level") == "hbm"))
    peak = t.engine("tensor").peak_op_per_s("bf16", t.clock_Hz)
    bw = t.memory("hbm").bandwidth_B_per_s
    # middle vertex is the ridge: intensity peak/bw, rate = peak
    assert g["intensity_FLOP_per_B"][1] == pytest.approx(peak / bw)
    assert g["attainable_FLOP_per_s"][1] == pytest.approx(peak)
    # left vertex on the bandwidth slope: rate = bw x intensity
    assert g["attainable_FLOP_per_s"][0] == pytest.approx(bw * D.INTENSITY_RANGE_FLOP_PER_B[0])


def test_weight_dtype_knob_moves_decode_gemv_intensity() -> None:
    s = RooflineState()
    bf16 = s.data.ops.filter(pl.col("operator") == "down_proj")["intensity_FLOP_per_B"][0]
    s.set_knob("weight_dtype", "int4")
    int4 = s.data.ops.filter(pl.col("operator") == "down_proj")["intensity_FLOP_per_B"][0]
    # batch-1 GEMV: 2 FLOP per weight; bf16 weight = 2 B -> ~1 FLOP/B, int4 = 0.5 B -> ~4 FLOP/B
    assert bf16 == pytest.approx(1.0, rel=0.02) and int4 == pytest.approx(4.0, rel=0.02)


def test_bad_knob_sets_error_and_keeps_last_data() -> None:
    s = RooflineState()
    old = s.data
    s.set_knob("weight_dtype", "int77")
    assert "weight_dtype" in s.error and "int77" in s.error and s.n_errors == 1 and s.data is old
    s.set_knob("act_dtype", "fp99")  # the next error counts too (views notify on n_errors)
    assert s.n_errors == 2


def test_compare_rows_per_target_and_mcu_does_not_fit_llm() -> None:
    s = CompareState(targets=["h100-sxm", "cortex-m4"])
    df = s.data
    assert df["target"].to_list() == ["h100-sxm", "cortex-m4"]
    # Llama-2-7B bf16 weights (~13.5 GB) cannot fit a Cortex-M4's memory, they fit an H100's 80 GB
    assert df["fits_memory"].to_list() == [True, False]
    assert np.allclose(df["edp_J_s"], df["energy_J"] * df["latency_s"])


def test_explore_front_hand_computed() -> None:
    from models.dse import parse_space

    space = parse_space({"name": "f", "workload": "llama-2-7b",
                         "parameters": [{"name": "batch", "sets": "workload.batch", "kind": "int", "bounds": [1, 8]}],
                         "objectives": [{"metric": "latency_s"}, {"metric": "energy_J"}]})
    res = pl.DataFrame({"batch": [1, 2, 3, 4, 5, 6, 7],
                        "latency_s": [1.0, 2.0, 3.0, 4.0, 2.0, 5.0, np.nan],
                        "energy_J": [5.0, 3.0, 4.0, 1.0, 3.0, 5.0, 0.5],
                        "feasible": [True, True, True, True, True, True, True]})
    # (3,4) is dominated by (2,3); (5,5) by everything; the duplicate (2,3) stays; the NaN row
    # (best energy) is dropped, not treated as a front point; sorted by latency
    assert D.explore_front(space, res)["batch"].to_list() == [1, 2, 5, 4]
    infeasible = res.with_columns(pl.Series("feasible", [True, False, True, True, True, True, True]))
    assert D.explore_front(space, infeasible)["batch"].to_list() == [1, 5, 4]


def test_point_breakdown_applies_algorithm_knobs() -> None:
    from models.dse import parse_space, point_result, sweep

    space = parse_space({
        "name": "wf", "workload": "llama-2-7b", "workload_knobs": {"phase": "decode", "n_generated": 16},
        "parameters": [{"name": "wf", "sets": "algorithm.weight_format", "kind": "categorical",
                        "choices": ["bf16", "int4-g128"]},
                       {"name": "bw", "sets": "target.memories.hbm.bandwidth", "kind": "float",
                        "bounds": [1000.0, 3000.0], "unit": "GB/s", "n_grid": 2}],
        "objectives": [{"metric": "latency_s"}, {"metric": "error_proxy"}]})
    res = sweep(space, progress=False)
    lat = {}
    for row in res.iter_rows(named=True):
        bd = D.point_breakdown(space, row)
        assert bd["total_latency_s"].sum() == pytest.approx(row["latency_s"], rel=1e-9)
        r = point_result(space, row)
        assert float(r.latency_s[0]) == pytest.approx(row["latency_s"], rel=1e-12)
        assert float(r.energy_J[0]) == pytest.approx(row["energy_J"], rel=1e-12)
        lat[(row["wf"], row["bw"])] = row["latency_s"]
    # decode at batch 1 is HBM-bound: int4 weights (~4.1 bits with scales) cut the time ~3x,
    # which a breakdown built without the format knob (bf16 weights) would not show
    assert lat[("int4-g128", 1e12)] < 0.45 * lat[("bf16", 1e12)]
    with pytest.raises(KeyError, match="wf"):
        point_result(space, {"bw": 1e12})


def test_roofline_columns_and_breakdown_columns() -> None:
    from app.dashboard import plots

    d = D.roofline_data(["h100-sxm", "a100-80gb"], "llama-2-7b", {}, phase="decode")
    cols = plots.roofline_columns(d)
    # one polyline (3 vertices) per ceiling label; one point per operator row
    assert len(cols["ceilings"]["xs"]) == d.ceilings["ceiling"].n_unique()
    assert all(len(x) == 3 for x in cols["ceilings"]["xs"])
    assert len(cols["ops"]["intensity_FLOP_per_B"]) == d.ops.height
    ops = d.ops
    np.testing.assert_allclose(cols["ops"]["intensity_FLOP_per_B"], ops["flop"] / ops["bytes_B"])
    bars = plots.breakdown_columns(d, "total_latency_s", top=3)
    # two targets: factors are (operator, target); the top 3 operators plus "other", per target
    assert len(bars["factors"]) == 8 and bars["factors"][-1][0] == "other"
    assert sum(bars["total_latency_s"]) == pytest.approx(d.breakdown["total_latency_s"].sum())
    fig = plots.RooflineFigure(d)
    d2 = D.roofline_data(["h100-sxm", "a100-80gb"], "llama-2-7b", {"weight_dtype": "int4"}, phase="decode")
    # a weight-format change moves the points; the ceilings source is left alone
    assert "ops" in fig.update(d2) and "ceilings" not in fig.update(d)


def test_targets_edit_bounds_and_save(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TRADESPACE_TARGETS_PATH", str(tmp_path))
    s = TargetsState()
    assert not s.edit("memories.hbm.bandwidth", -1.0) and "memories.hbm.bandwidth" in s.error
    assert s.edit("memories.hbm.bandwidth", 5000.0)
    s.new_name = "h100-test-copy"
    path = s.save(tmp_path)
    assert path is not None and path.exists()
    t = get_target("h100-test-copy")
    assert t.memory("hbm").bandwidth_B_per_s == pytest.approx(5e12)  # 5000 GB/s
    s.new_name = "Bad Name"
    assert s.save(tmp_path) is None and "Bad Name" in s.error


def test_explore_sweep_front_breakdown_and_exports() -> None:
    s = ExploreState(axis1_n=4, axis2_n=3, axis3_n=3)
    run_async(s)
    assert s.error == "" and s.results.height == 36 and s.progress == 1.0
    ref = pareto_mask(s.results.filter(pl.col("feasible")).select("latency_s", "energy_J_per_item").to_numpy()).sum()
    assert s.front.height == ref
    s.select(0)
    assert s.breakdown is not None and s.breakdown["total_latency_s"].sum() == pytest.approx(
        s.front["latency_s"][0], rel=1e-6)
    assert pl.read_csv(io.BytesIO(s.export("csv"))).height == s.front.height
    assert pl.read_parquet(io.BytesIO(s.export("parquet"))).height == s.front.height
    with pytest.raises(ValueError, match="xlsx"):
        s.export("xlsx")


def test_explore_bad_space_is_an_error_not_an_exception() -> None:
    s = ExploreState(axis1_low=9000.0, axis1_high=1000.0)
    run_async(s)
    assert s.error and s.results is None and not s.running


def test_default_explore_space_has_a_trade_off() -> None:
    s = ExploreState()
    assert [a.sets for a in s.axes()] == ["workload.batch", "target.memories.hbm.bandwidth", "target.clock"]
    run_async(s)
    assert s.error == "" and s.results.height == 1000
    # batch 1 answers soonest, a larger batch spends less energy per token: the default front
    # holds several batch sizes (the old default, all-hardware axes, had a single-point front)
    assert s.front["batch"].n_unique() >= 4
    assert s.front["batch"].min() == 1.0
    lat, e = s.front["latency_s"].to_numpy(), s.front["energy_J_per_item"].to_numpy()
    assert np.all(np.diff(lat) > 0) and np.all(np.diff(e) < 0)


def test_axis_unit_names_the_knob_unit_for_display() -> None:
    assert D.axis_unit("target.memories.hbm.bandwidth") == "GB/s"
    assert D.axis_unit("workload.batch") == "1"  # the bounds are plain numbers in the space
    assert D.axis_unit("workload.batch", "llama-2-7b") == "count"
    assert D.axis_unit("workload.prompt_len", "llama-2-7b") == "tokens"


def test_log_axis_ticks_label_both_ends() -> None:
    from app.dashboard.plots import log_axis_ticks

    # 1.3..5.1 s (under a decade): Bokeh's log ticker would label no end; snapped to 1..6 with
    # 1, 1.5, 2, 3, 4, 5, 6 (whole decades or 1-2-5 would leave over 40% of the axis empty)
    (lo, hi), ticks = log_axis_ticks(np.array([1.3, 2.0, 5.1]))
    assert (lo, hi) == (1.0, 6.0) and [t for t, _ in ticks] == [1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0]
    # six decades: one tick per decade, labels without zero-padded exponents
    (lo, hi), ticks = log_axis_ticks(np.array([2e-4, 0.0, np.nan, 50.0]))
    assert (lo, hi) == pytest.approx((1e-4, 100.0)) and len(ticks) == 7
    assert [lbl for _, lbl in ticks][0] == "0.0001" and ticks[-1][1] == "100"
    assert log_axis_ticks(np.array([3e6, 2e7]))[1][0][1] == "2e6"
    # a narrow span (0.2 to 0.21) gets evenly spaced ticks that still enclose the data
    (lo, hi), ticks = log_axis_ticks(np.array([0.2, 0.21]))
    assert lo <= 0.2 and hi >= 0.21 and len(ticks) >= 3 and ticks[0][0] == lo and ticks[-1][0] == hi


def test_explore_breakdown_colours_by_bound_with_a_legend() -> None:
    import holoviews as hv

    from app.dashboard import plots

    hv.extension("bokeh", logo=False)
    bd = pl.DataFrame({"name": ["embedding", "q_proj", "attn_norm", "k_proj"],
                       "total_latency_s": [1e-4, 0.07, 0.03, 0.07],
                       "bound": ["overhead", "hbm", "compute", "hbm"]})
    fig = hv.render(plots.explore_breakdown(bd))
    glyph = next(r.glyph for r in fig.renderers if hasattr(r.glyph, "top"))
    cmap = glyph.fill_color.transform
    colours = dict(zip(cmap.factors, cmap.palette, strict=False))
    # compute red and overhead gray whatever order the bounds come in; every colour in the legend
    assert colours["compute (peak op rate)"] == "#d62728" and colours["overhead (per-op launch cost)"] == "#7f7f7f"
    assert "hbm (memory bandwidth)" in colours
    assert fig.legend and fig.legend[0].items
    # before a point is selected: an empty chart, not an error
    assert hv.render(plots.explore_breakdown(None)).renderers


# ---------------------------------------------------------------------------------- issue 21: results
def test_a_failing_target_is_a_row_of_the_result_not_an_error_of_the_page() -> None:
    # neupims has no engine that computes bf16 (its embedding cannot run): a failure row with
    # the kernel's reason; h100-sxm and a100-80gb are evaluated as if asked alone
    d = D.roofline_data(["h100-sxm", "neupims", "a100-80gb"], "llama-2-7b", {}, phase="decode")
    assert d.failures["target"].to_list() == ["neupims"] and "bf16" in d.failures["reason"][0]
    assert d.totals["target"].to_list() == ["h100-sxm", "a100-80gb"]
    alone = D.roofline_data(["a100-80gb"], "llama-2-7b", {}, phase="decode")
    assert d.totals["latency_s"][1] == alone.totals["latency_s"][0]
    assert set(d.ops["target"]) == {"h100-sxm", "a100-80gb"}
    assert d.inputs == D.ResultInputs(targets=("h100-sxm", "neupims", "a100-80gb"), workload="llama-2-7b",
                                      phase="decode", mode="calibrated", knobs={})
    assert d.inputs.label() == "llama-2-7b · decode · h100-sxm, neupims, a100-80gb"
    c = D.compare_data(["neupims", "h100-sxm"], "llama-2-7b", {}, phase="decode")
    # rows in the order asked; the failing one keeps its row, null metrics and its reason
    assert c["target"].to_list() == ["neupims", "h100-sxm"]
    assert c["reason"][0] is not None and c["latency_s"][0] is None
    assert c["reason"][1] is None and c["latency_s"][1] == pytest.approx(d.totals["latency_s"][0])


def test_state_shows_the_result_of_its_inputs_or_none() -> None:
    s = RooflineState(targets=["h100-sxm", "neupims"])
    assert s.status == "partial" and s.result_inputs.targets == ("h100-sxm", "neupims")
    assert s.table["target"].to_list() == ["h100-sxm", "neupims"] and s.table["reason"][1] is not None
    # no target can run the new inputs: a rejected input; the last valid inputs and their result
    # stay (the result shown is still that of the inputs shown) and the message says why
    data = s.data
    s.targets = ["neupims"]
    assert s.targets == ["h100-sxm", "neupims"] and s.data is data and s.status == "partial"
    assert "no target could be evaluated: neupims:" in s.error and "not applied" in s.error
    # nothing valid before (a URL naming only neupims): a result of failure rows, status error
    e = RooflineState(targets=["neupims"])
    assert e.status == "error" and e.data.ops.height == 0 and e.data.totals.height == 0
    assert e.result_inputs.targets == ("neupims",) and e.table["reason"][0] is not None
    assert "no target could be evaluated: neupims:" in e.error
    s.targets = ["a100-80gb"]
    assert s.status == "ready" and s.error == "" and s.table["target"].to_list() == ["a100-80gb"]
    # a phase the workload lacks: all its phases, with a note; the result is the CNN's
    s.workload = "resnet-50"
    assert s.phase == "all" and "phase 'decode' is not offered by workload 'resnet-50'" in s.note
    assert s.result_inputs.workload == "resnet-50" and s.result_inputs.phase == "all" and s.n_notes == 1
    assert "gate_proj" not in s.data.ops["operator"].to_list()
    s.set_knob("batch", 2)  # nothing replaced: the note goes
    assert s.note == "" and s.result_inputs.knobs == {"batch": 2}


def test_fallback_operators_are_marked_with_the_datatype_asked_and_computed() -> None:
    from app.dashboard import plots

    d = D.roofline_data(["ascend-910"], "llama-2-7b", {}, phase="decode")
    gemv = d.ops.filter(pl.col("operator") == "down_proj")
    # Ascend-910's cube unit has no bf16 GEMV path here: the vector engine runs it in fp32
    assert gemv["asked_dtype"][0] == "bf16" and gemv["compute_dtype"][0] == "fp32" and gemv["fallback"][0]
    assert d.totals["n_fallback_ops"][0] == int(d.breakdown["fallback"].sum()) > 0
    cols = plots.roofline_columns(d)
    assert set(cols["ops"]["marker"]) == {"triangle"}
    assert "bf16 -> fp32 (fallback)" in set(cols["ops"]["dtype_text"])
    h = plots.roofline_columns(D.roofline_data(["h100-sxm"], "llama-2-7b", {}, phase="decode"))
    # on H100 the bf16 GEMVs run on the tensor cores in bf16: circles
    ops = D.roofline_data(["h100-sxm"], "llama-2-7b", {}, phase="decode").ops
    i = ops["operator"].to_list().index("down_proj")
    assert h["ops"]["marker"][i] == "circle" and not ops["fallback"][i]


def test_memory_parts_sum_to_the_peak_and_are_shares_of_capacity() -> None:
    from app.dashboard import plots
    from models.point import build_point

    d = D.roofline_data(["h100-sxm", "a100-80gb"], "llama-2-7b", {}, phase="decode")
    table = build_point("llama-2-7b", {"phase": "decode"}, target=get_target("h100-sxm")).table
    m = d.memory.filter(pl.col("target") == "h100-sxm")
    assert m["part"].to_list() == ["weights", "kv_cache", "activations"]
    assert m["bytes_B"].sum() == pytest.approx(float(table.peak_memory_B["decode"][0]), rel=1e-12)
    cols = plots.memory_columns(d)
    # 80 GB of HBM: the weights' share is their bytes over 80e9
    assert cols["weights"][0] == pytest.approx(100 * m["bytes_B"][0] / 80e9)
    assert cols["total_pct"][0] == pytest.approx(100 * m["bytes_B"].sum() / 80e9)


def test_roofline_colours_per_target_and_dashes_per_memory_level() -> None:
    from app.dashboard import plots

    d = D.roofline_data(["h100-sxm", "a100-80gb"], "llama-2-7b", {}, phase="decode")
    cols = plots.roofline_columns(d)["ceilings"]
    by_target: dict[str, set[str]] = {}
    for legend, color, dash in zip(cols["legend"], cols["line_color"], cols["line_dash"], strict=True):
        target, level = legend.split(" · ")
        by_target.setdefault(target, set()).add(color)
        assert dash == plots.level_dashes(d.ceilings["level"].to_list())[level]
    assert all(len(c) == 1 for c in by_target.values())  # one colour per target ...
    assert by_target["h100-sxm"] != by_target["a100-80gb"]  # ... and not the same one
    assert len(set(cols["line_dash"])) == d.ceilings["level"].n_unique() > 1


def test_compare_normalised_to_a_baseline_with_bars_from_below_the_smallest() -> None:
    from app.dashboard import plots

    c = D.compare_data(["h100-sxm", "raspberry-pi-5"], "llama-2-7b", {}, phase="decode")
    n = D.compare_normalized(c, "raspberry-pi-5")
    lat = dict(zip(c["target"], c["latency_s"], strict=True))
    assert n["latency_s_ratio"].to_list() == pytest.approx([lat["h100-sxm"] / lat["raspberry-pi-5"], 1.0])
    cols = plots.compare_columns(n, "latency_s")
    # the H100 is hundreds of times faster: its ratio is far below 1, and its bar still starts
    # below it (a floor under the smallest ratio), never hanging down from a fixed 10^-2
    smallest = min(cols["ratio"])
    assert smallest < 0.01 and cols["floor"] < smallest and all(b == cols["floor"] for b in cols["bottom"])
    assert cols["top"] > max(cols["ratio"])
    with pytest.raises(ValueError, match="baseline 'nope'"):
        D.compare_normalized(c, "nope")
    s = CompareState(targets=["h100-sxm", "raspberry-pi-5"], baseline="raspberry-pi-5")
    assert s.normalized["latency_s_ratio"].to_list()[1] == 1.0
    s.baseline = "cortex-m4"  # not compared: the first evaluated target
    assert s.baseline_target() == "h100-sxm"


def test_compare_with_serving_shows_the_served_stream_from_the_one_path() -> None:
    from app.dashboard import plots
    from models.perf import evaluate_point

    kn = {"batch": 8, "prompt_len": 512, "n_generated": 128, "serving": "aggregated"}
    c = D.compare_data(["h100-sxm", "a100-80gb", "cortex-m4"], "llama-2-7b", kn)
    for name in ("h100-sxm", "a100-80gb"):
        want = evaluate_point(name, "llama-2-7b", {**kn, "phase": "inference"}, detail=False).perf.serving
        row = c.filter(pl.col("target") == name).row(0, named=True)
        for col in D.SERVING_COMPARE_COLUMNS:
            assert row[col] == pytest.approx(float(np.asarray(want[col]).reshape(-1)[0]), rel=1e-12), col
    # a served stream is not one request's run: TPOT on the H100 is a step, not the 1 s request latency
    h = c.filter(pl.col("target") == "h100-sxm").row(0, named=True)
    assert h["tpot_s"] < 0.05 < h["latency_s"]
    # without serving the serving columns are null, and the ratios are of the one-request metrics
    one = D.compare_data(["h100-sxm", "a100-80gb"], "llama-2-7b", {k: v for k, v in kn.items() if k != "serving"})
    assert one["ttft_s"].null_count() == 2 and D.compare_metrics(one) is D.COMPARE_METRICS
    assert D.compare_metrics(c) is D.SERVING_COMPARE_METRICS
    n = D.compare_normalized(c, "h100-sxm")
    assert set(n.columns) == {"target", *(f"{m}_ratio" for m in D.SERVING_COMPARE_METRICS), *D.SERVING_COMPARE_METRICS}
    a = c.filter(pl.col("target") == "a100-80gb").row(0, named=True)
    assert n.filter(pl.col("target") == "a100-80gb")["tpot_s_ratio"][0] == pytest.approx(a["tpot_s"] / h["tpot_s"])
    figs = plots.CompareFigures()
    figs.update(n)
    assert figs.bars["tpot_s"][1].data["target"] == n["target"].to_list()
    assert list(figs.bars["latency_s"][1].data["target"]) == []  # the one-request bars are emptied
    assert figs.scatter.xaxis[0].axis_label == "time per output token (s)"
    # serving covers prefill and decode: one phase of it is refused, as is serving on the Roofline page
    with pytest.raises(ValueError, match="phase 'decode' with serving on"):
        D.compare_data(["h100-sxm"], "llama-2-7b", kn, phase="decode")
    with pytest.raises(ValueError, match="the Roofline page draws the operators of one request"):
        D.roofline_data(["h100-sxm"], "llama-2-7b", kn)


def test_targets_refuse_an_out_of_range_edit_and_keep_the_source() -> None:
    s = TargetsState()
    src = s.fields.filter(pl.col("field") == "engines.tensor.efficiency")["source"][0]
    assert not s.edit("engines.tensor.efficiency", 1.5)
    assert "engines.tensor.efficiency" in s.error and "got 1.5" in s.error and "(0, 1]" in s.error
    assert s.edits == {}
    assert s.fields.filter(pl.col("field") == "engines.tensor.efficiency")["source"][0] == src
    assert not s.edit("engines.tensor.efficiency", 0.801) and "is its value already" in s.error
    assert s.edits == {}
    assert s.edit("engines.tensor.efficiency", 0.9) and s.edits == {"engines.tensor.efficiency": 0.9}
    row = s.fields.filter(pl.col("field") == "engines.tensor.efficiency")
    assert row["value"][0] == 0.9 and row["source"][0] == src + "; edited in the dashboard: 0.801 -> 0.9"
    other = s.fields.filter(pl.col("field") == "memories.hbm.bandwidth")["source"][0]
    assert "edited" not in other


def test_targets_diff_side_by_side_and_toml_round_trip(tmp_path) -> None:
    from models.hardware import load_target_file

    h, a = get_target("h100-sxm"), get_target("a100-80gb")
    d = D.target_diff(h, a)
    clock = d.filter(pl.col("field") == "clock").row(0, named=True)
    assert clock["value_a"] == pytest.approx(h.clock_Hz / 1e9) and clock["value_b"] == pytest.approx(a.clock_Hz / 1e9)
    assert clock["ratio"] == pytest.approx(a.clock_Hz / h.clock_Hz) and clock["differs"]
    assert not D.target_diff(h, h)["differs"].any()
    s = TargetsState(compare_to="a100-80gb")
    assert s.diff.height == d.height and s.shown == ("h100-sxm", "a100-80gb")
    s.edit("memories.hbm.bandwidth", 5000.0)
    s.new_name = "h100-toml"
    path = tmp_path / "h100-toml.toml"
    path.write_text(s.toml())
    t = load_target_file(path)
    assert t.name == "h100-toml" and t.memory("hbm").bandwidth_B_per_s == pytest.approx(5e12)
    assert "H100 SXM5: 3.35 TB/s" in t.numeric_fields()["memories.hbm.bandwidth"][2]


def test_knob_labels_are_readable_and_tooltips_name_the_path() -> None:
    from app.dashboard.views.common import knob_label, knob_tooltip
    from models.point import ALGORITHM_KNOBS

    assert knob_label(ALGORITHM_KNOBS["weight_format"]) == "Weight format"
    assert knob_label(ALGORITHM_KNOBS["attention_sram_B"]) == "Attention SRAM (B)"
    assert knob_label(ALGORITHM_KNOBS["host_dispatch_s"]) == "Host dispatch (us)"
    tip = knob_tooltip("algorithm.launch_mode", ALGORITHM_KNOBS["launch_mode"])
    assert tip.startswith("algorithm.launch_mode — how the runtime launches")


def test_roofline_and_compare_expose_every_registry_knob() -> None:
    from models.point import applicable_knobs
    from models.point.knobs import SERVING_KNOBS
    from models.workloads import workload_spec

    for w in ("llama-2-7b", "resnet-50"):
        spec = workload_spec(w)
        want = {k.name for k in spec.knobs if k.name != "phase"} | {k.name for k in applicable_knobs(spec)}
        assert {k.name for k in CompareState(workload=w).knob_specs()} == want
        # the Roofline page draws one request's operators: the serving knobs are on Compare and Explore
        assert {k.name for k in RooflineState(workload=w).knob_specs()} == want - set(SERVING_KNOBS)
    assert "serving" in {k.name for k in CompareState(workload="llama-2-7b").knob_specs()}
    assert {"launch_mode", "host_dispatch_s", "softmax_variant", "attention_tiling", "weight_format"} <= {
        k.name for k in RooflineState().knob_specs()}
    assert "fold_bn" in {k.name for k in RooflineState(workload="resnet-50").knob_specs()}


def test_page_components_share_their_state_with_code() -> None:
    from app.dashboard import Compare, Roofline, Targets

    v = Roofline(targets=["h100-sxm"], workload="llama-2-7b")
    v.__panel__()
    before = v.state.table["latency_s"][0]
    v.state.set_knob("batch", 8)
    assert v.state.table["latency_s"][0] > before and v.state.result_inputs.knobs == {"batch": 8}
    c = Compare(targets=["h100-sxm", "neupims"])
    assert c.state.table["reason"][1] is not None
    t = Targets(target="a100-80gb")
    assert t.state.fields is not None and t.state.shown == ("a100-80gb", "")


def test_compare_table_is_one_widget_that_takes_each_new_result() -> None:
    # a new result replaces the table's rows and headers in place (the browser updates the
    # table it has); the rows are always those of the result shown, never the last one's
    from app.dashboard.views import compare

    s = CompareState(targets=["h100-sxm", "raspberry-pi-5"], workload="llama-2-7b", phase="decode")
    col = compare.layout(s)
    tabs = [o for o in col.select() if type(o).__name__ == "Tabulator"]
    assert len(tabs) == 1
    tab = tabs[0]

    def latency() -> list[str]:
        return tab.value["latency"].tolist()

    before = latency()
    s.set_knob("weight_dtype", "int4")
    after = [o for o in col.select() if type(o).__name__ == "Tabulator"]
    assert after == [tab] and latency() != before
    want = D.compare_data(["h100-sxm", "raspberry-pi-5"], "llama-2-7b", {"weight_dtype": "int4"}, phase="decode")
    from models.units import format_si
    assert latency() == [format_si(v, "s") for v in want["latency_s"].to_list()]
    # another workload: its own headers (energy per image, not per token) in the same widget
    s.workload = "resnet-50"
    assert [o for o in col.select() if type(o).__name__ == "Tabulator"] == [tab]
    assert "energy per image" in tab.value.columns and "energy per token" not in tab.value.columns
