"""models.calibrate: OS parsing, the size-curve fit, the measurement -> target mapping, the
provenance field, and the host workloads' own arithmetic. No test asserts a live timing."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from models.calibrate import (
    CacheLevel,
    HostInfo,
    bench,
    build_target,
    fit_size_curve,
    host_info,
    parse_cache_size,
    parse_cpuinfo,
    scaled_llm_config,
)
from models.calibrate.workloads import softmax_three_pass, softmax_two_pass
from models.hardware import get_target
from models.hardware.loader import TargetFileError, load_target_file, parse_target, target_to_toml
from models.hardware.schema import PROVENANCES

# ---------------------------------------------------------------- the OS


def test_parse_cache_size() -> None:
    assert parse_cache_size("48K") == 48 * 1024  # sysfs writes binary kilobytes
    assert parse_cache_size("2048K\n") == 2 << 20
    assert parse_cache_size("32 MiB") == 32 << 20
    assert parse_cache_size("1G") == 1 << 30
    assert parse_cache_size("512") == 512
    with pytest.raises(ValueError, match="cache size"):
        parse_cache_size("lots")


def test_parse_cpuinfo_takes_the_first_processor() -> None:
    text = "processor\t: 0\nmodel name\t: Alpha CPU\ncpu MHz\t\t: 2600.000\n\nprocessor\t: 1\nmodel name\t: Beta\n"
    info = parse_cpuinfo(text)
    assert info["model name"] == "Alpha CPU" and info["cpu MHz"] == "2600.000" and info["processor"] == "0"


def test_host_info_matches_the_os() -> None:
    h = host_info()
    assert h.n_cores == len(os.sched_getaffinity(0))
    cache = Path("/sys/devices/system/cpu/cpu0/cache/index0")
    if cache.is_dir():
        l1 = next(c for c in h.caches if c.level == 1)
        sizes = [parse_cache_size((p / "size").read_text()) for p in cache.parent.glob("index*")
                 if (p / "level").read_text().strip() == "1" and (p / "type").read_text().strip() != "Instruction"]
        assert l1.size_B == sizes[0]
    assert h.cpu_model and h.describe().startswith(h.cpu_model)


# ---------------------------------------------------------------- the size curve


def test_fit_recovers_an_exact_curve() -> None:
    n = [64, 128, 256, 512, 1024, 2048]
    R, h = fit_size_curve(n, [1e11 * k / (k + 150.0) for k in n])
    assert R == pytest.approx(1e11, rel=0.02) and h == pytest.approx(150.0, rel=0.05)


def test_fit_without_a_curve() -> None:
    # a flat rate has no size curve; one size cannot give one
    assert fit_size_curve([64, 256, 1024], [5.0, 5.0, 5.0]) == (5.0, None)
    assert fit_size_curve([512], [7.0]) == (7.0, None)


def test_fit_ignores_sizes_past_the_best() -> None:
    # the measured fp32 rates of this host in a busy minute: 1536 and 2048 fell to a quarter
    n = [64, 128, 256, 512, 1024, 1536, 2048]
    rates = [115e9, 127e9, 236e9, 260e9, 279e9, 71e9, 75e9]
    R, h = fit_size_curve(n, rates)
    assert 279e9 <= R <= 330e9 and h is not None and h < 200
    assert fit_size_curve(n[:5], rates[:5]) == (R, h)


def test_fit_never_extrapolates_far_above_the_measurements() -> None:
    # rates that still climb steeply at the largest size: R is held within 1.5 x the best
    n = [128, 256, 512, 1024]
    rates = [1.0, 8.0, 30.0, 60.0]
    R, h = fit_size_curve(n, rates)
    assert 60.0 <= R <= 90.0 and h is not None


# ---------------------------------------------------------------- measurements -> target

HOST = HostInfo(cpu_model="Test CPU 9000", arch="x86_64", n_cores=4, clock_Hz=2.0e9,
                caches=(CacheLevel(level=1, size_B=32768, n_instances=4, shared_by=1),
                        CacheLevel(level=2, size_B=1 << 20, n_instances=4, shared_by=1),
                        CacheLevel(level=3, size_B=16 << 20, n_instances=1, shared_by=4)),
                flags=frozenset({"avx2", "avx512f"}), memory_B=16 << 30,
                where={"n_cores": "os.sched_getaffinity(0): 4", "clock": "/proc/cpuinfo", "memory": "/proc/meminfo"})


def _meas() -> dict:
    sizes = [128, 256, 512, 1024]
    gemm = []
    for d, R, h in (("fp32", 4e11, 100.0), ("fp64", 2e11, 100.0), ("int8", 1.6e12, 200.0)):
        for n in sizes:
            rate = R * n / (n + h)
            gemm.append({"dtype": d, "m": n, "n": n, "k": n, "time_s": 2.0 * n ** 3 / rate, "op_per_s": rate,
                         "library": "numpy" if d != "int8" else "torch"})

    def row(level: str, threads: int, kernel: str, bw: float) -> dict:
        return {"level": level, "threads": threads, "kernel": kernel, "bytes_per_thread_B": [1e4, 3e4],
                "time_s": [1e-6, 2e-6], "bandwidth_B_per_s": bw, "slope": True}

    stream = [row("l1", 1, k, b) for k, b in (("copy", 90e9), ("add", 100e9), ("dot", 120e9))]
    stream += [row("l2", 1, k, b) for k, b in (("copy", 50e9), ("add", 60e9), ("dot", 70e9))]
    for lv, one, two in (("l3", (30e9, 40e9), (50e9, 45e9)), ("dram", (10e9, 12e9), (18e9, 20e9))):
        stream += [row(lv, 1, "copy", one[0]), row(lv, 1, "dot", one[1])]
        stream += [row(lv, 4, "copy", two[0]), row(lv, 4, "dot", two[1])]
    return {"quick": True, "gemm": gemm, "stream": stream, "overhead": {"numpy_s": 0.0, "torch_s": 2e-6},
            "exp": {"exp_per_s": 1e9}}


def test_target_fields_follow_the_measurements() -> None:
    doc, t = build_target(HOST, _meas(), name="probe", date="2026-01-02")
    e = t.engine("simd")
    assert t.provenance == "calibrated-microbenchmark" and t.name == "probe"
    assert e.n_units == 4 and t.clock_Hz == 2.0e9
    # ops_per_cycle = fitted asymptote / (cores x clock): 4e11 / (4 x 2e9) = 50 (fp32)
    assert e.ops_per_cycle["fp32"] == pytest.approx(50.0, rel=0.02)
    assert e.ops_per_cycle["int8"] == pytest.approx(1.6e12 / 8e9, rel=0.03)
    assert e.efficiency_half_k["gemm"] == pytest.approx(100.0, rel=0.05)
    # softmax efficiency: 1e9 exp/s x 20 FLOP per exp (models.algorithms.softmax) / 4e11 = 0.05
    assert e.efficiency_by_kind["softmax"] == pytest.approx(0.05, rel=0.02)
    assert t.op_overhead_s == pytest.approx(2e-6)
    l1, l2, l3, dram = t.memories
    assert [m.name for m in t.memories] == ["l1", "l2", "l3", "dram"]
    # private caches: median kernel of the 1-thread slopes, x cores for the whole chip
    assert l1.per_unit_bandwidth_B_per_s == pytest.approx(100e9) and l1.bandwidth_B_per_s == pytest.approx(400e9)
    assert l1.capacity_B == 4 * 32768 and l3.capacity_B == 16 << 20 and dram.capacity_B == 16 << 30
    # shared levels: the most a kernel drew; sustained = the best thread count
    assert l3.per_unit_bandwidth_B_per_s == pytest.approx(40e9)
    assert l3.sustained_bandwidth_B_per_s == pytest.approx(50e9)
    assert dram.per_unit_bandwidth_B_per_s == pytest.approx(12e9) and dram.bandwidth_B_per_s == pytest.approx(20e9)
    # every number names where it came from
    for path, (_, _, src) in t.numeric_fields().items():
        assert src.startswith(("measured by tradespace calibrate on Test CPU 9000, 4 cores, 2026-01-02",
                               "from the OS on Test CPU 9000, 4 cores, 2026-01-02", "derived")), path
    assert "measured" in t.sources["op_overhead"] and "from the OS" in t.memory("l1").sources["capacity"]


def test_a_shared_level_that_draws_less_on_all_cores_is_contended() -> None:
    # DRAM: 1 thread 12, 2 threads 20, 4 threads 16 GB/s (the dot kernel, the most per count)
    meas = _meas()
    meas["stream"] = [r for r in meas["stream"] if r["level"] != "dram"]
    for thr, bw in ((1, 12e9), (2, 20e9), (4, 16e9)):
        meas["stream"].append({"level": "dram", "threads": thr, "kernel": "dot", "bytes_per_thread_B": [1e4, 3e4],
                               "time_s": [1e-6, 2e-6], "bandwidth_B_per_s": bw, "slope": True})
    _, t = build_target(HOST, meas, name="probe", date="2026-01-02")
    dram = t.memory("dram")
    assert dram.sustained_bandwidth_B_per_s == pytest.approx(20e9)
    assert (dram.contended_bandwidth_B_per_s, dram.contended_units) == (pytest.approx(16e9), 4.0)
    assert "4 threads drew less than 2" in dram.sources["contended_bandwidth"]
    # a drop within the margin (19.5 of 20) is not contention; neither is the shared level of _meas
    meas["stream"][-1] = {**meas["stream"][-1], "bandwidth_B_per_s": 19.5e9}
    _, t2 = build_target(HOST, meas, name="probe", date="2026-01-02")
    assert t2.memory("dram").contended_bandwidth_B_per_s is None
    _, t3 = build_target(HOST, _meas(), name="probe", date="2026-01-02")
    assert all(m.contended_bandwidth_B_per_s is None for m in t3.memories)


def test_energy_fields_are_derived_from_a_named_preset() -> None:
    _, t = build_target(HOST, _meas(), name="probe", date="2026-01-02")
    ref = get_target("skylake-x-i9-7900x")  # an AVX-512 x86 host
    e = t.engine("simd")
    assert e.energy_J_per_op["fp32"] == pytest.approx(ref.engines[0].energy_J_per_op["fp32"], rel=1e-5)
    # rule A: the same power at another op rate: int8 runs 4x faster here -> a quarter of the energy
    assert e.energy_J_per_op["int8"] == pytest.approx(e.energy_J_per_op["fp32"] * 4e11 / 1.6e12, rel=0.03)
    assert "skylake-x-i9-7900x" in e.sources["energy_per_op.int8"]
    assert t.tdp_W == pytest.approx(ref.tdp_W / ref.engines[0].n_units * 4)


def test_calibrated_target_round_trips_through_toml(tmp_path: Path) -> None:
    doc, t = build_target(HOST, _meas(), name="probe", date="2026-01-02")
    p = tmp_path / "probe.toml"
    p.write_text(target_to_toml(t))
    back = load_target_file(p)
    assert back.provenance == "calibrated-microbenchmark"
    assert back.engine("simd").ops_per_cycle == pytest.approx(t.engine("simd").ops_per_cycle, rel=1e-5)


# ---------------------------------------------------------------- provenance


def test_presets_are_datasheet() -> None:
    assert get_target("h100-sxm").provenance == "datasheet"
    assert PROVENANCES == ("ideal", "datasheet", "calibrated-microbenchmark", "calibrated-trace")


def test_provenance_is_checked() -> None:
    doc, _ = build_target(HOST, _meas(), name="probe", date="2026-01-02")
    for p in PROVENANCES:
        assert parse_target({**doc, "provenance": p}).provenance == p
    with pytest.raises(TargetFileError, match="provenance") as ei:
        parse_target({**doc, "provenance": "guessed"})
    assert "calibrated-trace" in str(ei.value)
    no = {k: v for k, v in doc.items() if k != "provenance"}
    assert parse_target(no).provenance == "datasheet"
    # a datasheet target writes no provenance line (presets stay as they are)
    assert "provenance" not in target_to_toml(parse_target(no))


# ---------------------------------------------------------------- benchmarks and workloads


def test_stream_counts_bytes_as_stream_does() -> None:
    rows = bench.stream({"tiny": (24_000.0, 48_000.0)}, [1], min_s=0.0, repeats=1)
    by = {r["kernel"]: r for r in rows}
    assert set(by) == set(bench.STREAM_KERNELS)
    # three fp64 arrays share the working set: 48 kB -> 2000 elements; copy moves 2 arrays, add 3
    assert by["copy"]["bytes_per_thread_B"] == [2 * 1000 * 8.0, 2 * 2000 * 8.0]
    assert by["add"]["bytes_per_thread_B"][1] == 3 * 2000 * 8.0
    assert by["triad"]["bytes_per_thread_B"][1] == 5 * 2000 * 8.0
    # the figure is the slope between the two sizes when it is one, else the large size's own rate
    for r in rows:
        (b0, b1), (t0, t1), n = r["bytes_per_thread_B"], r["time_s"], r["threads"]
        want = n * (b1 - b0) / (t1 - t0) if r["slope"] else n * b1 / t1
        assert r["bandwidth_B_per_s"] == pytest.approx(want, rel=1e-12), r["kernel"]
        assert r["slope"] == (t1 > t0)


def test_softmax_variants_compute_a_softmax() -> None:
    x = np.random.default_rng(0).standard_normal(10_000).astype(np.float32) * 8
    ref = np.exp(x.astype(np.float64) - x.max())
    ref /= ref.sum()
    for fn in (softmax_two_pass, softmax_three_pass):
        y = np.empty_like(x)
        fn(x, y, 1024)  # chunks that do not divide the length
        np.testing.assert_allclose(y, ref, rtol=2e-5, atol=1e-12)


def test_scaled_llm_keeps_the_architecture() -> None:
    from models.workloads.llm import parse_llm_config

    cfg = scaled_llm_config(hidden=256, n_layers=2, n_heads=4, intermediate=688)
    c = parse_llm_config(cfg, name="scaled")
    assert (c.hidden, c.n_layers, c.n_heads, c.head_dim, c.intermediate, c.vocab) == (256, 2, 4, 64, 688, 32000)
    assert c.family == "llama" and c.gated_mlp


def test_torch_llm_has_the_parameters_the_table_counts() -> None:
    torch = pytest.importorskip("torch", reason="PyTorch (the measure extra) is not installed")
    from models.calibrate.workloads import _llm_module
    from models.workloads.llm import llm_active_params, parse_llm_config

    c = parse_llm_config(scaled_llm_config(hidden=128, n_layers=2, n_heads=4, intermediate=344), name="scaled")
    f = _llm_module(c, torch.float32, seed=0)
    cache = f.new_cache(2, 8)
    with torch.inference_mode():
        out = f(torch.zeros((2, 5), dtype=torch.long), cache, 0)
        step = f(torch.zeros((2, 1), dtype=torch.long), cache, 5)
    assert out.shape == (2, 1, c.vocab) and step.shape == (2, 1, c.vocab)
    assert bool(cache[0][0][:, :, :6].abs().sum() > 0) and float(cache[0][0][:, :, 6:].abs().sum()) == 0.0
    # the torch model is the architecture the operator table prices: the same parameter count
    assert f.n_params == llm_active_params(c)


# ---------------------------------------------------------------- tile fill, kinds, emulated datatypes


def _meas_plus() -> dict:
    """``_meas`` with the skinny-GEMM, per-kind and emulated-datatype benchmarks, each generated from
    the model's own formula with known constants (and the 2 us torch call cost added)."""
    m = _meas()
    oh = 2e-6
    rk = 4e11 * 512 / (512 + 100.0)  # the fp32 asymptote on its k-curve at k = 512
    rows = []
    for mm in (1, 2, 4, 8, 16, 32):
        flop = 2.0 * mm * 512 * 512
        rows.append({"dtype": "fp32", "m": mm, "k": 512, "n": 512, "time_s": flop / (rk * mm / (mm + 16.0)) + oh,
                     "op_per_s": 0.0, "library": "torch"})
    # a bf16 curve with another constant: kept in the measurements, never written
    rows.append({"dtype": "bf16", "m": 1, "k": 512, "n": 512, "time_s": 1.0, "op_per_s": 0.0, "library": "torch"})
    m["gemm_m"] = rows
    m["kinds"] = {k: {"what": k, "dtype": "fp32", "library": "torch", "op": 1e6, "time_s": 1e6 / r + oh,
                      "op_per_s": r} for k, r in (("conv", 2e11), ("dwconv", 2e10), ("attention", 1e11))}
    # bf16 with no native instruction: its rate falls with size; the largest size's rate is taken
    for n, r in ((64, 8e9), (128, 6e9), (256, 4e9)):
        m["gemm"].append({"dtype": "bf16", "m": n, "n": n, "k": n, "time_s": 2.0 * n ** 3 / r, "op_per_s": r,
                          "library": "torch", "native": False})
    return m


def test_tile_fill_curve_lands_in_half_m() -> None:
    _, t = build_target(HOST, _meas_plus(), name="probe", date="2026-01-02")
    e = t.engine("simd")
    # rate(m) = R_k m / (m + 16) with R_k = R k / (k + half_k): h = m (R_k / rate - 1) = 16 at every m
    assert e.efficiency_half_m["gemm"] == pytest.approx(16.0, rel=0.05)
    assert "torch fp32 linear" in e.sources["efficiency_half_m.gemm"]
    # no tile-fill benchmark: no curve (the model's square-GEMM pricing, as before)
    _, t0 = build_target(HOST, _meas(), name="probe", date="2026-01-02")
    assert "gemm" not in t0.engine("simd").efficiency_half_m


def test_half_m_from_curve_by_hand() -> None:
    from models.calibrate import half_m_from_curve

    # rate 2e10 at m = 8 against R_k = 1e11 (no k-curve): h = 8 x (5 - 1) = 32 (<= 4 x 8)
    row = {"m": 8, "k": 100, "n": 50, "time_s": 2.0 * 8 * 100 * 50 / 2e10}
    assert half_m_from_curve([row], 1e11, None, 0.0) == pytest.approx(32.0)
    # a size at the asymptote says nothing about the fill
    fast = {**row, "time_s": 2.0 * 8 * 100 * 50 / 1e11}
    assert half_m_from_curve([fast], 1e11, None, 0.0) is None
    assert half_m_from_curve([], 1e11, None, 0.0) is None
    # every size waited a 10 ms scheduler slice: h far beyond the sizes measured is not written
    slow = {**row, "time_s": 10e-3}
    assert half_m_from_curve([slow], 1e11, None, 0.0) is None


def test_kind_benchmarks_land_in_efficiency_by_kind() -> None:
    _, t = build_target(HOST, _meas_plus(), name="probe", date="2026-01-02")
    e = t.engine("simd")
    # measured rate (the 2 us call cost removed) / fp32 asymptote 4e11
    assert e.efficiency_by_kind["conv"] == pytest.approx(0.5, rel=0.03)
    assert e.efficiency_by_kind["dwconv"] == pytest.approx(0.05, rel=0.03)
    assert e.efficiency_by_kind["attention"] == pytest.approx(0.25, rel=0.03)
    assert e.efficiency_by_kind["softmax"] == pytest.approx(0.05, rel=0.02)  # unchanged
    assert "conv" in e.sources["efficiency_by_kind.conv"] and "measured" in e.sources["efficiency_by_kind.conv"]


def test_kind_efficiencies_refuse_an_unknown_kind() -> None:
    from models.calibrate import kind_efficiencies
    from models.calibrate.calibration import CalibrationError

    with pytest.raises(CalibrationError, match="'fft'.*allowed: conv, dwconv, attention"):
        kind_efficiencies({"fft": {"op": 1.0, "time_s": 1.0}}, 1e9, 0.0)
    # faster than the GEMM asymptote is capped at 1 (the efficiency field's range)
    assert kind_efficiencies({"conv": {"op": 1e12, "time_s": 1.0}}, 1e11, 0.0) == {"conv": 1.0}


def _streamed(policy: str, effs: dict[str, float]) -> list[dict]:
    """Weight-streaming rows priced by the calibrated target's own compute curve under ``policy``."""
    _, t = build_target(HOST, _meas_plus(), name="probe", date="2026-01-02")
    e = t.engine("simd")
    bw = {"l3": 50e9, "dram": 20e9}  # the STREAM figures of _meas (best thread count)
    rows = []
    for lv, eff in effs.items():
        for m in (1, 16, 64, 128):
            k, n = 1024, 8192
            rate = e.n_units * e.ops_per_cycle["fp32"] * t.clock_Hz * k / (k + e.efficiency_half_k["gemm"]) \
                * m / (m + e.efficiency_half_m["gemm"])
            t_c, t_m = 2.0 * m * n * k / rate, n * k * 4.0 / (eff * bw[lv])
            time_s = t_c + t_m if policy == "sum" else max(t_c, t_m)
            rows.append({"level": lv, "dtype": "fp32", "m": m, "k": k, "n": n, "weight_B": n * k * 4.0,
                         "time_s": time_s, "bytes_per_s": n * k * 4.0 / time_s, "library": "torch"})
    return rows


@pytest.mark.parametrize("policy", ["sum", "max"])
def test_weight_streaming_sets_the_overlap_and_the_level_kind_efficiency(policy: str) -> None:
    m = _meas_plus()
    # rows made under one policy with DRAM drawing 0.25 and the L3 0.5 of their STREAM figure:
    # the fit finds that policy and those fractions (each row implies exactly them)
    m["weight_stream"] = _streamed(policy, {"dram": 0.25, "l3": 0.5})
    _, t = build_target(HOST, m, name="probe", date="2026-01-02")
    assert t.overlap == policy
    dram, l3 = t.memory("dram"), t.memory("l3")
    assert dram.efficiency_by_kind == pytest.approx({"gemm": 0.25, "gemv": 0.25}, rel=1e-6)
    assert l3.efficiency_by_kind == pytest.approx({"gemm": 0.5, "gemv": 0.5}, rel=1e-6)
    src = dram.sources["efficiency_by_kind.gemm"]
    assert "torch linear" in src and "m = 1, 16, 64, 128" in src and f"overlap {policy!r} kept" in src
    assert f"Overlap {policy!r} chosen" in t.description
    # private levels were not streamed: no entry; without the benchmark, no entry and overlap max
    assert t.memory("l1").efficiency_by_kind == {}
    _, t0 = build_target(HOST, _meas_plus(), name="probe", date="2026-01-02")
    assert all(not lv.efficiency_by_kind for lv in t0.memories) and t0.overlap == "max"


def test_weight_stream_fit_by_hand() -> None:
    from models.calibrate.calibration import weight_stream_fit

    # three rows of 1 GB from a 10 GB/s level, made under sum with a fraction 0.5 (0.2 s of
    # streaming) and compute 0.05, 0.1, 0.3 s: times 0.25, 0.3, 0.5 s, each above 1.5 x its compute
    # time. Under sum each row implies exactly 0.5 (no error); under max they imply 0.4, 0.333, 0.2
    # (geometric mean 0.2988: streaming 0.3347 s), predicting 0.3347 s for each
    rows = [{"level": "dram", "dtype": "fp32", "m": 1, "k": 1, "n": 1, "weight_B": 1e9, "time_s": tc + 0.2, "tc": tc}
            for tc in (0.05, 0.1, 0.3)]
    policy, effs, errs = weight_stream_fit(rows, {"dram": 10e9}, lambda r: r["tc"])
    e_max = (0.4 * (1 / 3) * 0.2) ** (1 / 3)
    pred_max = [max(tc, 0.1 / e_max) for tc in (0.05, 0.1, 0.3)]
    log_err = np.mean([abs(np.log(p / t)) for p, t in zip(pred_max, (0.25, 0.3, 0.5), strict=True)])
    assert errs == pytest.approx({"sum": 0.0, "max": log_err}, abs=1e-12)
    assert policy == "sum" and effs["dram"][0] == pytest.approx(0.5)
    # a compute-dominated row (0.4 s against 0.3 s of compute: within 1.5 x) implies nothing, though
    # under sum it would imply 1 GB / (0.1 s x 10 GB/s) = 1.0; the fraction stays 0.5
    dominated = {**rows[0], "time_s": 0.4, "tc": 0.3}
    assert weight_stream_fit([dominated, *rows], {"dram": 10e9}, lambda r: r["tc"])[1]["dram"][0] == pytest.approx(0.5)
    # the same rows made under max (times max(compute, 0.2 s) = 0.2, 0.2, 0.3; the last is within
    # 1.5 x its compute time and implies nothing): max is kept with the fraction 0.5
    rows_max = [{**r, "time_s": max(r["tc"], 0.2)} for r in rows]
    policy, effs, errs = weight_stream_fit(rows_max, {"dram": 10e9}, lambda r: r["tc"])
    assert policy == "max" and effs["dram"][0] == pytest.approx(0.5) and errs["max"] == pytest.approx(0.0, abs=1e-12)
    # a row slower than its memory could ever be (faster than STREAM) is capped at 1
    fast = [{**rows[0], "time_s": 0.06}]
    assert weight_stream_fit(fast, {"dram": 10e9}, lambda r: 0.0)[1]["dram"][0] == 1.0
    assert weight_stream_fit([], {"dram": 10e9}, lambda r: 0.0) == ("max", {}, {})


def test_conv_size_curve_lands_in_half_k_conv() -> None:
    from models.calibrate.calibration import conv_size_curve

    m = _meas_plus()
    # pointwise convs on rate(k) = 2e11 k / (k + 64) (below the 4e11 GEMM asymptote), the 2 us
    # call cost added; the kind benchmark's 3x3 conv is on the same curve at k = 1152
    curve = lambda k: 2e11 * k / (k + 64.0)  # noqa: E731
    m["conv_k"] = [{"what": f"conv2d 1x1, {c} -> {c} channels, 28 x 28", "k": c, "dtype": "fp32", "op": 1e7,
                    "time_s": 1e7 / curve(c) + 2e-6, "op_per_s": 0.0, "library": "torch"} for c in (16, 64, 256)]
    m["kinds"]["conv"] = {**m["kinds"]["conv"], "k": 1152, "time_s": 1e6 / curve(1152) + 2e-6}
    _, t = build_target(HOST, m, name="probe", date="2026-01-02")
    e = t.engine("simd")
    assert e.efficiency_by_kind["conv"] == pytest.approx(0.5, rel=0.02)
    assert e.efficiency_half_k["conv"] == pytest.approx(64.0, rel=0.05)
    assert "k = c = 16, 64, 256" in e.sources["efficiency_half_k.conv"]
    # an asymptote above the GEMM's: efficiency 1, h refitted with R held at the GEMM's 4e11
    fast = lambda k: 8e11 * k / (k + 300.0)  # noqa: E731
    rows = [{"k": c, "op": 1e7, "time_s": 1e7 / fast(c)} for c in (16, 64, 256, 1024)]
    eff, h = conv_size_curve(rows, None, 4e11, 0.0)
    assert eff == 1.0 and 0 < h < 300.0
    # one size: no curve (the one-size efficiency of the kind benchmark stands)
    assert conv_size_curve(rows[:1], None, 4e11, 0.0) is None
    _, t0 = build_target(HOST, _meas_plus(), name="probe", date="2026-01-02")
    assert "conv" not in t0.engine("simd").efficiency_half_k


def test_weight_stream_benchmark_sizes_the_weights_to_the_level() -> None:
    pytest.importorskip("torch")
    rows = bench.weight_stream({"l3": 1 << 20}, ["fp32", "bf16"], [1, 2], k=256, min_s=1e-4, repeats=1)
    assert [(r["dtype"], r["m"]) for r in rows] == [("fp32", 1), ("fp32", 2), ("bf16", 1), ("bf16", 2)]
    # 1 MiB of weights: n = 1 MiB / (256 x 4 B) = 1024 rows in fp32, 2048 in bf16
    assert [r["n"] for r in rows] == [1024, 1024, 2048, 2048]
    assert all(r["weight_B"] == 1 << 20 and r["bytes_per_s"] == pytest.approx(r["weight_B"] / r["time_s"])
               for r in rows)
    with pytest.raises(ValueError, match="'int8'; allowed: fp32, bf16, fp16"):
        bench.weight_stream({"l3": 1 << 20}, ["int8"], [1])


def test_native_bf16_gets_its_own_tile_fill_curve() -> None:
    m = _meas_plus()
    # a native bf16: square GEMMs on R = 8e11 with the fp32 size curve's h = 100 (so the fitted
    # asymptote is 8e11), and skinny bf16 linears on rate(m) = R_k m / (m + 30)
    m["gemm"] = [r for r in m["gemm"] if r["dtype"] != "bf16"]
    for n in (128, 256, 512, 1024):
        rate = 8e11 * n / (n + 100.0)
        m["gemm"].append({"dtype": "bf16", "m": n, "n": n, "k": n, "time_s": 2.0 * n ** 3 / rate, "op_per_s": rate,
                          "library": "torch"})
    _, t1 = build_target(HOST, m, name="probe", date="2026-01-02")
    e1 = t1.engine("simd")
    rk = e1.n_units * e1.ops_per_cycle["bf16"] * t1.clock_Hz * 512 / (512 + e1.efficiency_half_k["gemm"])
    m["gemm_m_bf16"] = [{"dtype": "bf16", "m": mm, "k": 512, "n": 512, "library": "torch",
                         "time_s": 2.0 * mm * 512 * 512 / (rk * mm / (mm + 30.0)) + 2e-6} for mm in (1, 4, 16, 64)]
    _, t = build_target(HOST, m, name="probe", date="2026-01-02")
    e = t.engine("simd")
    assert e.efficiency_half_m_by_dtype["bf16"]["gemm"] == pytest.approx(30.0, rel=1e-3)
    assert e.efficiency_half_m["gemm"] == pytest.approx(16.0, rel=0.05)  # fp32's, unchanged
    assert "torch bf16 linear" in e.sources["efficiency_half_m_by_dtype.bf16.gemm"]
    # bf16 converted in software (no native instruction): no curve of its own
    _, t0 = build_target(HOST, _meas_plus(), name="probe", date="2026-01-02")
    assert t0.engine("simd").efficiency_half_m_by_dtype == {}


def test_emulated_datatype_takes_the_largest_size_rate() -> None:
    _, t = build_target(HOST, _meas_plus(), name="probe", date="2026-01-02")
    e = t.engine("simd")
    # 4e9 OP/s at n = 256 over 4 cores x 2 GHz (not the 8e9 of the smallest size)
    assert e.ops_per_cycle["bf16"] == pytest.approx(4e9 / 8e9, rel=1e-6)
    assert "no native instruction" in e.sources["ops_per_cycle.bf16"]


def test_new_benchmarks_run_and_refuse_bad_input() -> None:
    pytest.importorskip("torch")
    rows = bench.gemm_m_curve([1, 4], 64, 64, min_s=1e-4, repeats=1)
    assert [r["m"] for r in rows] == [1, 4] and all(r["op_per_s"] > 0 and r["dtype"] == "fp32" for r in rows)
    with pytest.raises(ValueError, match="'int4'; allowed: fp32, bf16, fp16"):
        bench.gemm_m_curve([1], 64, 64, dtype="int4")
    conv = bench.conv_k_curve([8, 16], hw=8, min_s=1e-4, repeats=1)
    assert [r["k"] for r in conv] == [8, 16] and conv[1]["op"] == 2.0 * 16 * 16 * 8 * 8
    kinds = bench.kind_rates(min_s=1e-4, repeats=1)
    assert set(kinds) == {"conv", "dwconv", "attention"}
    # the operations the tables count: a 3x3 conv of 128 -> 128 channels at 28 x 28
    assert kinds["conv"]["op"] == 2.0 * 128 * 128 * 9 * 28 * 28


@pytest.mark.parametrize("quick", [True, False])
def test_main_memory_working_sets_are_far_beyond_the_last_cache(quick: bool) -> None:
    # a working set of 1.25-2x the reported last-level cache was served from cache on a VM (its
    # EPYC's physical L3 is larger than the share the OS reports): STREAM read 90 GB/s there while
    # a 256 MB sum read 19 GB/s. Main memory is timed at >= 8x the reported last cache.
    from models.calibrate.calibration import _levels

    private, shared = _levels(HOST, quick)
    lo, hi = shared["dram"]
    llc = 16 << 20
    assert lo >= 8 * llc and hi > lo
    assert hi <= HOST.memory_B / 8  # never more than an eighth of the memory
    assert set(private) == {"l1", "l2"} and shared["l3"][1] <= 0.5 * llc


# ---------------------------------------------------------------- fresh outputs (first touch)
def _touch_rows(bw: float, below_extra_s: float = 0.0) -> list[dict]:
    """A 16 MiB row below the 32 MiB threshold and 64 / 128 MiB rows above it whose fresh result costs
    ``bytes / bw`` more than the in-place one (1 ms per 64 MiB in place)."""
    rows = [{"bytes_B": 16.0 * 2**20, "fresh_s": 0.25e-3 + below_extra_s, "out_s": 0.25e-3,
             "extra_s": below_extra_s, "library": "torch"}]
    for mib in (64, 128):
        b = mib * 2.0**20
        rows.append({"bytes_B": b, "fresh_s": mib / 64 * 1e-3 + b / bw, "out_s": mib / 64 * 1e-3,
                     "extra_s": b / bw, "library": "torch"})
    return rows


def test_first_touch_fit_by_hand() -> None:
    from models.calibrate.calibration import CalibrationError, first_touch_fit

    thr = 32.0 * 2**20
    # both rows above the threshold imply 4 GB/s exactly; the median of equal figures is the figure
    bw, how = first_touch_fit(_touch_rows(4e9), thr)  # type: ignore[misc]
    assert bw == pytest.approx(4e9, rel=1e-12)
    assert "at 64, 128 MiB" in how and "below it, at 16 MiB" in how
    # rows of 3 and 5 GB/s: the median of their figures, 4 GB/s
    rows = _touch_rows(4e9)
    rows[1] = {**rows[1], "extra_s": rows[1]["bytes_B"] / 3e9}
    rows[2] = {**rows[2], "extra_s": rows[2]["bytes_B"] / 5e9}
    assert first_touch_fit(rows, thr)[0] == pytest.approx(4e9)  # type: ignore[index]
    # a fresh result costing under a tenth of the in-place time is free: nothing to price
    assert first_touch_fit(_touch_rows(1e14), thr) is None
    # a row below the threshold that pays like the rows above: the threshold is wrong, said so
    with pytest.raises(CalibrationError, match="16 MiB result, below the mmap threshold 32 MiB"):
        first_touch_fit(_touch_rows(4e9, below_extra_s=16 * 2**20 / 4e9), thr)
    with pytest.raises(CalibrationError, match="no size at or above the threshold"):
        first_touch_fit(_touch_rows(4e9)[:1], thr)


def test_first_touch_lands_in_the_target() -> None:
    m = _meas_plus()
    m["first_touch"] = {"threshold_B": 32.0 * 2**20, "threshold_how": "glibc's DEFAULT_MMAP_THRESHOLD_MAX (test)",
                        "rows": _touch_rows(4.5e9)}
    doc, t = build_target(HOST, m, name="probe", date="2026-01-02")
    assert t.first_touch_threshold_B == 32 * 2**20
    assert t.first_touch_bandwidth_B_per_s == pytest.approx(4.5e9)
    assert doc["first_touch_threshold"]["unit"] == "MiB"
    assert t.sources["first_touch_threshold"].startswith("from the OS on Test CPU 9000")
    assert "glibc" in t.sources["first_touch_threshold"]
    assert t.sources["first_touch_bandwidth"].startswith("measured by tradespace calibrate on Test CPU 9000")
    # not measured (another C library), or measured free: no fields, no cost
    _, t0 = build_target(HOST, _meas_plus(), name="probe", date="2026-01-02")
    assert t0.first_touch_threshold_B is None and t0.first_touch_bandwidth_B_per_s is None
    m["first_touch"]["rows"] = _touch_rows(1e14)
    _, t1 = build_target(HOST, m, name="probe", date="2026-01-02")
    assert t1.first_touch_bandwidth_B_per_s is None
    assert "No first-touch fields: a fresh result cost under a tenth" in t1.description
    # rows that contradict the threshold: no fields either, the reason in the description, and the
    # rest of the calibration is written
    m["first_touch"]["rows"] = _touch_rows(4e9, below_extra_s=16 * 2**20 / 4e9)
    _, t2 = build_target(HOST, m, name="probe", date="2026-01-02")
    assert t2.first_touch_threshold_B is None and "below the mmap threshold 32 MiB" in t2.description
    assert t2.engine("simd").ops_per_cycle["fp32"] == t.engine("simd").ops_per_cycle["fp32"]


def test_mmap_threshold_is_glibcs_or_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import platform
    import struct

    from models.calibrate.calibration import mmap_threshold

    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    monkeypatch.setattr(platform, "libc_ver", lambda: ("glibc", "2.41"))
    thr, how = mmap_threshold()  # type: ignore[misc]
    assert thr == 4 * 2**20 * struct.calcsize("l") and "DEFAULT_MMAP_THRESHOLD_MAX" in how
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "1048576")
    assert mmap_threshold() == (1048576.0, "MALLOC_MMAP_THRESHOLD_=1048576 in the environment (glibc, mallopt(3))")
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "0")  # every request mapped: from one byte
    assert mmap_threshold()[0] == 1.0  # type: ignore[index]
    monkeypatch.setattr(platform, "libc_ver", lambda: ("", ""))
    assert mmap_threshold() is None


def test_first_touch_benchmark_rows() -> None:
    pytest.importorskip("torch")
    rows = bench.first_touch([1 << 16, 1 << 18], min_s=1e-4, repeats=1)
    assert [r["bytes_B"] for r in rows] == [65536.0, 262144.0]
    assert all(r["extra_s"] == pytest.approx(r["fresh_s"] - r["out_s"]) and r["out_s"] > 0 for r in rows)
