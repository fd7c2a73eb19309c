"""Memory mapping (models/algorithms/memory_mapping.py, kernel.Split): the partitioned placement
against the greedy home, on a two-level toy target whose every number is round.

Toy: a 1 MB SRAM at 1 TB/s (1 pJ/B) over a DRAM at 100 GB/s (10 pJ/B), 100 TFLOP/s fp32, every
efficiency 1, no overhead: a memory-bound operator's time is exactly its bytes x the blended
1 / bandwidth, its memory energy bytes x the energy of every level up to its home.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pytest

from models.algorithms.memory_mapping import apply_memory_mapping
from models.hardware import Target, parse_target
from models.perf import evaluate, evaluate_point
from models.workloads import OperatorTable, gemm, table_from_ops
from tests.models._toy import toy_target

TOY = toy_target("toymap", ops_per_cycle=100000)

IN, OUT = 1e-12, 1e-11  # s/B of the SRAM and of the DRAM
E_OP = 2.0 * 300 * 500 * 250 * 1e-12  # J of the layer's FLOPs at 1 pJ each


@pytest.fixture(scope="module")
def toy() -> Target:
    return parse_target(tomllib.loads(TOY))


def _layer(resident_weights_B: float, m: int = 300) -> OperatorTable:
    """One fp32 GEMM layer m x 250 -> 500 (weights 0.5 MB, activations m x 3 kB: 0.9 MB at
    m = 300) of a net whose weights total ``resident_weights_B``: the phase's resident state is
    those weights + the layer's activations (what a CNN table says)."""
    op = gemm("g", m, 500, 250, dtype="fp32")
    act = m * (250 + 500) * 4.0
    return table_from_ops([op], peak_memory_B={"forward": resident_weights_B + act},
                          memory_parts_B={"forward": {"weights": resident_weights_B, "activations": act}})


def test_partitioned_beats_greedy_when_the_weights_stream(toy: Target) -> None:
    # a layer of a 100 MB net: greedy homes the whole op by the resident state 100.9 MB, whose
    # resident fraction 1 MB / 100.9 MB = 0.0099 is below the 1% cut-off: all 1.4 MB from DRAM
    table = _layer(100e6)
    g = evaluate(toy, table)
    assert float(g.latency_s[0]) == pytest.approx(1.4e6 * OUT, rel=1e-12)  # 14 us
    assert float(g.dynamic_energy_J[0]) - E_OP == pytest.approx(1.4e6 * 11e-12, rel=1e-9)
    # f = 0: weights (0.5 MB) streamed from DRAM, activations (0.9 MB) held in the whole SRAM
    p0 = evaluate(toy, apply_memory_mapping(table, 0.0))
    assert float(p0.latency_s[0]) == pytest.approx(0.5e6 * OUT + 0.9e6 * IN, rel=1e-12)  # 5.9 us
    assert float(p0.dynamic_energy_J[0]) - E_OP == pytest.approx(0.5e6 * 11e-12 + 0.9e6 * 1e-12, rel=1e-9)
    # f = 0.5: the activations get 0.5 MB of SRAM, 0.5 / 0.9 of their bytes served there; the
    # weights' share 0.5 MB / 100 MB is below the cut-off
    h = 0.5e6 / 0.9e6
    p5 = evaluate(toy, apply_memory_mapping(table, 0.5))
    assert float(p5.latency_s[0]) == pytest.approx(0.5e6 * OUT + 0.9e6 * (h * IN + (1 - h) * OUT), rel=1e-12)
    assert float(p0.latency_s[0]) < float(p5.latency_s[0]) < float(g.latency_s[0])


def test_greedy_is_optimal_when_everything_fits(toy: Target) -> None:
    # weights 0.5 MB + activations 0.15 MB (m = 50) in a 0.65 MB net: the whole resident state
    # fits the 1 MB SRAM, greedy serves every byte from it, and no partition does better; one
    # that squeezes either class (f = 0, f = 1) is strictly worse
    table = _layer(0.5e6, m=50)
    g = float(evaluate(toy, table).latency_s[0])
    assert g == pytest.approx(0.65e6 * IN, rel=1e-12)
    fs = np.linspace(0.0, 1.0, 101)
    t = np.array([float(evaluate(toy, apply_memory_mapping(table, f)).latency_s[0]) for f in fs])
    assert np.all(t >= g * (1 - 1e-12))
    assert t[0] > g and t[-1] > g
    # shares that hold both classes (0.5 MB <= f MB and 0.15 MB <= (1 - f) MB) tie with greedy
    both = (fs >= 0.5) & (fs <= 0.85)
    assert np.allclose(t[both], g, rtol=1e-12)


def test_vectorized_share_matches_scalar_points(toy: Target) -> None:
    table = _layer(100e6)
    fs = np.array([0.0, 0.3, 0.5, 1.0])
    vec = evaluate(toy, apply_memory_mapping(table, fs), detail=False).latency_s
    one = [float(evaluate(toy, apply_memory_mapping(table, f)).latency_s[0]) for f in fs]
    assert np.allclose(vec, one, rtol=1e-12)


def test_greedy_knob_is_the_default_bit_for_bit() -> None:
    a = evaluate_point("a100-80gb", "resnet-50", {"batch": 8}, detail=False).perf
    b = evaluate_point("a100-80gb", "resnet-50", {"batch": 8, "memory_mapping": "greedy"}, detail=False).perf
    assert np.array_equal(a.latency_s, b.latency_s) and np.array_equal(a.energy_J, b.energy_J)


def test_bad_values_are_named() -> None:
    with pytest.raises(ValueError, match="weight_capacity_share"):
        evaluate_point("a100-80gb", "resnet-50", {"memory_mapping": "partitioned", "weight_capacity_share": 1.5})
    with pytest.raises(ValueError, match="weight_capacity_share.*partitioned"):
        evaluate_point("a100-80gb", "resnet-50", {"weight_capacity_share": 0.2})
    with pytest.raises(ValueError, match="memory_mapping"):
        evaluate_point("a100-80gb", "resnet-50", {"memory_mapping": "optimal"})
    with pytest.raises(ValueError, match=r"weight_capacity_share=-0\.1.*\[0, 1\]"):
        apply_memory_mapping(_layer(1e6), -0.1)


def test_optuna_search_finds_a_placement_better_than_greedy(tmp_path: Path) -> None:
    # MobileNet-V2 with unfolded BatchNorm on the Raspberry Pi 5: every BN row reads its gamma and
    # beta, so greedy homes its activations by the whole resident state (weights + live set)
    # and serves most of them from DRAM; pinning the small per-layer activations in the caches
    # and streaming the weights is faster. An Optuna search over the weights' share finds it.
    from models.dse import parse_space, search

    knobs = {"fold_bn": False}
    greedy = float(evaluate_point("raspberry-pi-5", "mobilenet-v2", knobs, detail=False).perf.latency_s[0])
    space = parse_space({
        "name": "rpi5-mobilenet-placement", "target": "raspberry-pi-5", "workload": "mobilenet-v2",
        "workload_knobs": knobs, "algorithm_knobs": {"memory_mapping": "partitioned"},
        "parameters": [{"name": "f", "sets": "algorithm.weight_capacity_share", "kind": "float", "bounds": [0.0, 1.0]}],
        "objectives": [{"metric": "latency_s", "direction": "minimize"}],
    })
    res = search(space, 16, storage=f"journal:{tmp_path / 'study.log'}", sampler="tpe", seed=0, progress=False,
                 batch_size=8)
    best = float(res["latency_s"].to_numpy().min())
    assert best < greedy * 0.8
    # the search reports what evaluate_point gives for its best placement (one path)
    f = float(res.sort("latency_s")["f"].to_numpy()[0])
    again = evaluate_point("raspberry-pi-5", "mobilenet-v2", {**knobs, "memory_mapping": "partitioned",
                                                              "weight_capacity_share": f}, detail=False)
    assert float(again.perf.latency_s[0]) == pytest.approx(best, rel=1e-9)
