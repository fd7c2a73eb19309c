"""The Explore page without a browser: its state, data functions and the notebook component (issue 21)."""

from __future__ import annotations

import asyncio
import io
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from app.dashboard import explore_data as EX
from app.dashboard.state import N_AXES, SPACES_DIR, ExploreState, PointBudget
from models.dse import load_space, read_json_results
from models.hardware import get_target

SMALL = {"axis1_n": 3, "axis2_n": 2, "axis3_n": 2}


def run_async(state: ExploreState) -> None:
    with ThreadPoolExecutor(1) as ex:  # pytest-playwright may own this thread's event loop
        ex.submit(lambda: asyncio.run(state.run())).result()


def run_and_cancel(state: ExploreState, *, after_points: int = 1) -> None:
    """Run, and cancel once the run has published ``after_points`` points (from the event loop)."""

    async def main() -> None:
        task = asyncio.ensure_future(state.run())
        while not task.done():
            r = state.result
            if r is not None and r.n_evaluated >= after_points:
                state.cancel()
                break
            await asyncio.sleep(0.01)
        await task

    with ThreadPoolExecutor(1) as ex:
        ex.submit(lambda: asyncio.run(main())).result()


# ---------------------------------------------------------------------------------- parameters
def test_labels_are_readable_and_paths_stay_in_tooltips() -> None:
    assert EX.axis_label("target.memories.hbm.bandwidth") == "HBM bandwidth"
    assert EX.axis_label("target.engines.tensor.energy_per_op.fp8") == "tensor engine: energy per op (FP8)"
    assert EX.axis_label("algorithm.weight_format") == "weight format"
    assert EX.axis_label("target") == "target (preset)"
    c = {a.sets: a for a in EX.axis_choices("h100-sxm", "llama-2-7b")}
    assert c["target.memories.hbm.bandwidth"].tooltip.startswith("target.memories.hbm.bandwidth")
    assert c["target.memories.hbm.bandwidth"].unit == "GB/s"


def test_choices_follow_the_target_and_workload_and_include_categorical_ones() -> None:
    h100 = {a.sets: a for a in EX.axis_choices("h100-sxm", "llama-2-7b")}
    m4 = {a.sets: a for a in EX.axis_choices("cortex-m4", "resnet-50")}
    assert "target.memories.hbm.bandwidth" in h100 and "target.memories.hbm.bandwidth" not in m4
    assert "target.memories.sram.bandwidth" in m4
    # categorical: the target itself, formats, the GEMM strategy (LLM weight GEMMs), a workload datatype
    for sets in ("target", "algorithm.weight_format", "algorithm.act_format", "algorithm.gemm_strategy",
                 "workload.weight_dtype"):
        assert h100[sets].kind == "categorical", sets
    assert m4["workload.dtype"].kind == "categorical"
    assert "algorithm.kv_format" in h100 and "algorithm.kv_format" not in m4  # a CNN has no KV cache
    # NPU/PIM concurrency only where a PIM engine sits beside another engine
    neupims = {a.sets: a for a in EX.axis_choices("neupims", "gpt3-7b")}
    assert neupims["algorithm.pim_concurrency"].kind == "categorical"
    assert "algorithm.pim_concurrency" not in h100
    assert "algorithm.pim_concurrency" not in {a.sets for a in EX.axis_choices("gddr6-aim", "gpt3-7b")}
    assert "target.memories.pim_bank.host_bandwidth" in neupims
    assert "h100-sxm" in EX.categorical_values("target", "h100-sxm", "llama-2-7b")
    assert "int4" in EX.categorical_values("algorithm.weight_format", "h100-sxm", "llama-2-7b")


def test_a_target_without_hbm_gets_its_own_parameter_and_bounds() -> None:
    s = ExploreState(target="cortex-m4", workload="resnet-50")
    assert s.error == ""
    ax = {a.sets: a for a in s.axes()}
    bw = next(a for a in ax.values() if a.sets.startswith("target.memories.") and a.sets.endswith(".bandwidth"))
    level = bw.sets.split(".")[2]
    preset_GB_s = get_target("cortex-m4").memory(level).bandwidth_B_per_s / 1e9
    # around the 17 GB/s-class part's own bandwidth, not the 1000-8000 GB/s of an HBM part
    assert bw.low < preset_GB_s < bw.high < 17 and bw.high / bw.low == pytest.approx(4.0)
    assert ax["target.clock"].high < 1.0  # GHz: a 168 MHz part
    # changing the target interactively: HBM is back, its bounds from the H100 preset
    s.target = "h100-sxm"
    hbm = next(a for a in s.axes() if a.sets == "target.memories.hbm.bandwidth")
    assert hbm.low < get_target("h100-sxm").memory("hbm").bandwidth_B_per_s / 1e9 < hbm.high
    # a URL that sets bounds together with the target keeps them
    s.apply(target="cortex-m4", axis2="target.memories.sram.bandwidth", axis2_low=5.0, axis2_high=9.0)
    assert s.error == "" and (s.axis2, s.axis2_low, s.axis2_high) == ("target.memories.sram.bandwidth", 5.0, 9.0)


def test_a_parameter_the_target_lacks_is_refused_with_what_is_allowed() -> None:
    s = ExploreState(target="cortex-m4", workload="resnet-50")
    before = s.axis1
    s.axis1 = "target.memories.hbm.bandwidth"
    assert s.axis1 == before and "has no such setting" in s.error and "target.memories.sram.bandwidth" in s.error
    s.axis1_values = ["nope"]  # values of a numeric parameter are not checked; a categorical one's are
    s.apply(axis4="algorithm.weight_format", axis4_values=["int4", "not-a-format"])
    assert s.axis4 == "" and "not-a-format" in s.error


def test_a_run_where_nothing_fits_shows_the_points_and_why() -> None:
    s = ExploreState(target="cortex-m4", workload="resnet-50")
    run_async(s)
    r = s.result
    assert r is not None and r.front.height == 0 and r.n_infeasible == r.points.height == 1000
    assert "none of them is feasible: does not fit memory" in s.status
    # the reason carries the ratio of peak memory to capacity of that very point
    row = r.points.row(0, named=True)
    ratio = row["peak_memory_B"] / row["memory_capacity_B"]
    assert ratio > 1 and row["reason"] == f"does not fit memory (peak {round(ratio, 2)}x the capacity)"


def test_infeasible_reasons_name_each_broken_constraint() -> None:
    df = pl.DataFrame({"constraint_memory": [-0.5, 1.5, -0.1, float("nan")],
                       "constraint_power": [0.25, -1.0, -0.2, -1.0],
                       "feasible": [False, False, True, False]})
    assert EX.infeasible_reasons(df).to_list() == [
        "above the power limit by 25%",
        "does not fit memory (peak 2.5x the capacity)",
        "",
        "memory constraint not computed",
    ]
    # no constraint computed at all: a point the evaluator could not price (an invalid parallel plan)
    un = pl.DataFrame({"constraint_memory": [float("nan"), -0.5], "constraint_power": [float("nan"), -1.0],
                       "feasible": [False, True]})
    assert EX.infeasible_reasons(un).to_list() == [EX.UNPRICED, ""]
    assert EX.UNPRICED.startswith("not priced: ")


# ---------------------------------------------------------------------------------- runs
def test_component_from_code_set_a_knob_run_and_read_the_table() -> None:
    import holoviews as hv
    import panel as pn

    from app.dashboard import Explore

    hv.extension("bokeh")  # what a notebook's first cell does
    view = Explore(target="h100-sxm", workload="llama-2-7b", **SMALL)
    assert isinstance(pn.panel(view), pn.viewable.Viewable)  # builds the widgets and plots
    run_async(view.state)
    first = view.state.result
    assert first is not None and first.points["batch"].max() == 256.0
    assert first.summary().startswith("llama-2-7b on h100-sxm:")
    view.state.axis1_high = 16  # from code: the old result does not belong to the new inputs
    assert view.state.result is None and view.state.status.startswith("inputs changed")
    run_async(view.state)
    r = view.state.result
    assert r is not None and r.points["batch"].max() == 16.0 and r.points.height == first.points.height
    assert r.inputs["axis1_high"] == 16


def test_notebook_cell_builds_explore_sets_a_parameter_and_runs(tmp_path: Path) -> None:
    import nbformat
    from nbclient import NotebookClient

    cell = (
        "from app.dashboard import Explore\n"
        "view = Explore(target='h100-sxm', workload='llama-2-7b', axis1_n=3, axis2_n=2, axis3_n=2)\n"
        "view\n"
        "await view.state.run()\n"
        "before = view.state.result.points['batch'].max()\n"
        "view.state.axis1_high = 8\n"
        "await view.state.run()\n"
        "after = view.state.result.points['batch'].max()\n"
        "print(float(before), float(after), view.state.result.summary().split(':')[0])\n"
    )
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(cell)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    root = Path(__file__).resolve().parents[3]
    NotebookClient(nb, timeout=240, kernel_name="python3", resources={"metadata": {"path": str(root)}}).execute()
    out = "".join(o.get("text", "") for o in nb.cells[0].outputs if o.get("output_type") == "stream")
    assert out.strip().splitlines()[-1] == "256.0 8.0 llama-2-7b on h100-sxm", out


def test_a_running_sweep_publishes_points_and_cancel_keeps_them() -> None:
    s = ExploreState(axis1_n=10, axis2_n=100, axis3_n=100)  # 100,000 points: several chunks
    s.point_budget = PointBudget(1_000_000)
    seen: list[tuple[str, int]] = []
    s.param.watch(lambda e: seen.append((e.new.state, e.new.n_evaluated)) if e.new is not None else None, "result")
    run_and_cancel(s, after_points=1)
    r = s.result
    assert r is not None and r.state == "cancelled" and 0 < r.n_evaluated < 100_000
    assert seen[0][0] == "running" and r.points.height == r.n_evaluated  # the finished points are kept
    assert s.status.startswith(f"cancelled after {r.n_evaluated} of 100000 points")
    assert r.front.height >= 1


def test_a_cancelled_search_keeps_its_trials_and_counts_distinct_designs() -> None:
    s = ExploreState(method="search", n_trials=2000, axis1_high=32)
    run_and_cancel(s, after_points=100)
    r = s.result
    assert r is not None and r.state == "cancelled" and 100 <= r.n_evaluated < 2000
    assert r.points.height == r.n_evaluated and r.points["trial"].n_unique() == r.n_evaluated
    assert f"cancelled after {r.n_evaluated} of 2000 trials" in s.status
    names = list(r.space.names)
    assert r.front.select(names).n_unique() == r.front.height  # each design once
    assert r.history is not None and np.all(np.diff(r.history["hypervolume"].to_numpy()) >= -1e-12)


def test_identical_designs_are_counted_once() -> None:
    front = pl.DataFrame({"batch": [1.0, 1.0, 2.0, 2.0, 4.0], "bw": [3.0, 3.0, 3.0, 3.0, 5.0],
                          "latency_s": [1.0, 1.0, 2.0, 2.0, 3.0], "trial": [0, 7, 3, 9, 4]})
    out = EX.dedupe_designs(front, ["batch", "bw"])
    assert out["trial"].to_list() == [0, 3, 4]  # first of each design, in order
    assert EX.dedupe_designs(front, ["batch"]).height == 3


def test_hypervolume_history_hand_computed() -> None:
    from models.dse import Objective

    # log10 -> (0, 1), (1, 0), (2, 2); normalised: x (0, .5, 1), y (.5, 0, 1); reference 1.1
    df = pl.DataFrame({"trial": [0, 1, 2], "a": [1.0, 10.0, 100.0], "b": [10.0, 1.0, 100.0],
                       "feasible": [True, True, True]})
    h = EX.hypervolume_history(df, [Objective(metric="a"), Objective(metric="b")])
    assert h["n_trials"].to_list() == [1, 2, 3]
    # 1 trial: 1.1 x 0.6; 2: strip [0, .5) x 0.6 + strip [.5, 1.1) x 1.1; the third is dominated
    assert h["hypervolume"].to_list() == pytest.approx([0.66, 0.3 + 0.66, 0.96])


def test_parallel_coordinates_scale_each_axis_to_its_range() -> None:
    df = pl.DataFrame({"batch": [1.0, 10.0, 100.0], "fmt": ["int4", "bf16", "int4"], "feasible": [True, False, True]})
    long = EX.parallel_coordinates(df, ["batch", "fmt"])
    b = long.filter(pl.col("column") == "batch")["scaled"].to_list()
    assert b == pytest.approx([0.0, 0.5, 1.0])  # log10 scale: 0, 1, 2
    assert long.filter(pl.col("column") == "fmt")["scaled"].to_list() == [1.0, 0.0, 1.0]  # bf16 < int4


# ---------------------------------------------------------------------------------- space files
@pytest.mark.parametrize("path", sorted(SPACES_DIR.glob("*.toml")), ids=lambda p: p.name)
def test_every_space_file_loads_and_saves_back_to_the_same_space(path: Path, tmp_path: Path) -> None:
    s = ExploreState()
    assert s.load_space(path.stem), s.error
    assert s.message.startswith(f"loaded {path.stem}")
    file_space = load_space(path)
    page_space = s.build_space()
    assert page_space.workload == file_space.workload
    assert [p.sets for p in page_space.parameters] == [p.sets for p in file_space.parameters][:N_AXES]
    out = tmp_path / "saved.toml"
    out.write_text(s.space_toml())
    again = load_space(out)
    assert again.n_grid_points == page_space.n_grid_points
    assert [(p.sets, p.choices) for p in again.parameters] == [(p.sets, p.choices) for p in page_space.parameters]
    for p, q in zip(again.parameters, page_space.parameters, strict=True):
        assert p.n_grid == q.n_grid and p.low == pytest.approx(q.low) and p.high == pytest.approx(q.high)
    assert again.workload_knobs == page_space.workload_knobs and again.constraints == page_space.constraints


def test_a_broken_space_file_shows_the_loaders_message_and_keeps_the_inputs() -> None:
    s = ExploreState()
    before = s._snapshot()
    text = ('name = "x"\nworkload = "llama-2-7b"\n[[parameters]]\nname = "b"\nsets = "workload.batch"\n'
            'kind = "int"\nbounds = [8, 1]\n')
    assert not s.load_space("broken.toml", text=text)
    assert "is an empty range" in s.error and "broken.toml" in s.error
    assert s._snapshot() == before
    assert not s.load_space("no-such-space")
    assert "not in data/spaces; allowed: " in s.error and "llama-2-7b-h100" in s.error


# ---------------------------------------------------------------------------------- exports
def test_exports_of_the_front_and_of_all_points(tmp_path: Path) -> None:
    s = ExploreState(**SMALL)
    with pytest.raises(ValueError, match="nothing to export"):
        s.export("csv")
    run_async(s)
    r = s.result
    assert r is not None
    assert pl.read_csv(io.BytesIO(s.export("csv", "points"))).height == r.points.height
    assert pl.read_parquet(io.BytesIO(s.export("parquet"))).height == r.front.height
    path = tmp_path / "front.json"
    path.write_bytes(s.export("json"))
    frame, meta = read_json_results(path)
    assert frame.height == r.front.height
    # provenance: the space and the source of every target number
    assert meta["space"]["target"] == "h100-sxm" and meta["exported"] == "front"
    assert meta["targets"]["h100-sxm"]["fields"]["memories.hbm.bandwidth"]["source"]
    page = s.export("html", "points").decode()
    assert page.count("<tr>") == r.points.height + 1 and "Bokeh" in page
    assert s.export("png")[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="xlsx"):
        s.export("xlsx")


def test_no_state_leaks_between_sessions_while_running() -> None:
    a, b = ExploreState(**SMALL), ExploreState(axis1_n=2, axis2_n=2, axis3_n=2)
    threads = [threading.Thread(target=run_async, args=(x,)) for x in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert a.result is not None and b.result is not None
    assert (a.result.n_evaluated, b.result.n_evaluated) == (12, 8)




def test_the_front_glyphs_carry_the_objectives_and_the_parameters_only() -> None:
    # the finished run's front is tappable and names each design by its parameters on hover;
    # the other metric columns stay in the result (exports, the table), not in the glyphs, where
    # HoloViews compares every dimension with every other one on each draw
    import holoviews as hv

    from app.dashboard.explore_plots import explore_live_scatter
    from app.dashboard.state import EXPLORE_METRICS

    hv.extension("bokeh")
    s = ExploreState(**SMALL)
    run_async(s)
    r = s.result
    assert r is not None and r.state == "done" and "energy_J" in r.front.columns
    _, fpts = explore_live_scatter(r, EXPLORE_METRICS)
    x, y = (o.metric for o in r.space.objectives[:2])
    assert [d.name for d in fpts.dimensions()] == [x, y, *r.space.names]
    np.testing.assert_array_equal(fpts.dimension_values(r.space.names[0]), r.front[r.space.names[0]].to_numpy())
