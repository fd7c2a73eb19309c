"""The presets added for Agile-Quant (raspberry-pi-4b, snapdragon-870-cpu), MixPE (mixpe-accel) and FuseMax
(fusemax-cloud-array): peaks recomputed by hand from their sources, and the datatype facts a wrong preset gets wrong."""

from __future__ import annotations

import numpy as np
import pytest

from models.hardware import get_target
from models.perf import evaluate_point


def test_pi4_peaks_and_missing_datatypes() -> None:
    t = get_target("raspberry-pi-4b")
    # 4 Cortex-A72 at 1.5 GHz: fp32 2 pipes x 4 lanes x FMA; int8 SMLAL on one pipe (8 MAC); int4 packed 2 per lane
    assert t.peak_op_per_s("fp32") == pytest.approx(4 * 16 * 1.5e9)
    assert t.peak_op_per_s("int8") == pytest.approx(4 * 16 * 1.5e9)
    assert t.peak_op_per_s("int4") == pytest.approx(4 * 32 * 1.5e9)
    # Armv8.0-A: no FP16 arithmetic (FP16 falls back to FP32)
    assert "fp16" not in t.native_dtypes()
    # LPDDR4-3200 x 32 bit
    assert t.memories[-1].bandwidth_B_per_s == pytest.approx(12.8e9)


def test_sd870_peaks() -> None:
    t = get_target("snapdragon-870-cpu")
    a77 = next(e for e in t.engines if e.name == "a77")
    # the cluster's aggregate clock 1 x 3.2 + 3 x 2.42 GHz = 10.46 GHz-cores
    agg = 3.2e9 + 3 * 2.42e9
    assert a77.peak_op_per_s("int8", t.clock_Hz) == pytest.approx(64 * agg)
    assert a77.peak_op_per_s("fp16", t.clock_Hz) == pytest.approx(32 * agg)
    assert a77.peak_op_per_s("int4", t.clock_Hz) == pytest.approx(2 * a77.peak_op_per_s("int8", t.clock_Hz))
    a55 = next(e for e in t.engines if e.name == "a55")
    assert a55.peak_op_per_s("int8", t.clock_Hz) == pytest.approx(4 * 32 * 1.8e9)  # its own 1.8 GHz clock
    assert t.memories[-1].bandwidth_B_per_s == pytest.approx(44e9)


def test_fp16_vs_packed_int4_prefill_ratio_follows_the_rates() -> None:
    # a compute-bound prefill on the A77 cluster: W4A4 at 128 op/clk vs FP16 at 32 -> close to 4x, below it by the
    # extra per-group scale work and the non-GEMM rows that stay in FP16
    s = {"batch": 1, "phase": "prefill", "prompt_len": 128, "weight_dtype": "fp16", "act_dtype": "fp16",
         "kv_dtype": "fp16"}
    fp16 = evaluate_point("snapdragon-870-cpu", "llama-2-7b", s, detail=False)
    w4a4 = evaluate_point("snapdragon-870-cpu", "llama-2-7b", {**s, "weight_format": "int4-g128",
                                                                "gemm_act_format": "int4", "gemm_strategy": "native"},
                          detail=False)
    r = float(np.ravel(fp16.perf.metrics()["latency_s"])[0]) / float(np.ravel(w4a4.perf.metrics()["latency_s"])[0])
    assert 3.0 < r < 4.0


def test_mixpe_and_fusemax_accelerator_peaks() -> None:
    m = get_target("mixpe-accel")
    # 64 x 64 PEs at 500 MHz, one int8 MAC each per cycle
    assert m.peak_op_per_s("int8") == pytest.approx(64 * 64 * 2 * 0.5e9)
    assert m.memories[-1].bandwidth_B_per_s == pytest.approx(1024 / 8 * 0.5e9)  # 1024-bit interface
    f = get_target("fusemax-cloud-array")
    assert f.peak_op_per_s("fp16", engine="array2d") == pytest.approx(256 * 256 * 2 * 0.94e9)
    assert f.peak_op_per_s("fp16", engine="array1d") == pytest.approx(256 * 2 * 0.94e9)
    assert f.memories[-1].bandwidth_B_per_s == pytest.approx(400 * 2**30)
