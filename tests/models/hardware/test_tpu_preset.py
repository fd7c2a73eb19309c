"""The TPU v4 preset (data/targets/tpu-v4.toml): peaks recomputed from units x rate x clock against the Cloud TPU
datasheet, its memory levels, and the memory-mapping knob doing something on it (an on-chip level exists)."""

from __future__ import annotations

import numpy as np
import pytest

from models.hardware import get_target
from models.perf import evaluate_point


def test_tpu_v4_peaks_from_mxus_rate_and_clock() -> None:
    t = get_target("tpu-v4")
    # 2 TensorCores x 4 MXUs, each 128 x 128 MACs (2 op per MAC), at 1.05 GHz; datasheet: 275 TFLOP/s bf16 or int8
    mxu = next(e for e in t.engines if e.name == "mxu")
    assert mxu.n_units == 2 * 4
    derived = 2 * 4 * (128 * 128 * 2) * 1.05e9
    assert derived == pytest.approx(275e12, rel=0.002)
    assert t.peak_op_per_s("bf16") == pytest.approx(derived)
    assert t.peak_op_per_s("int8") == pytest.approx(derived)  # same rate for int8 (datasheet)
    # no fp16 / fp8 / int4 on the MXU: they fall back, never silently run at the bf16 rate
    assert {"fp16", "fp8", "int4"}.isdisjoint(t.native_dtypes())


def test_tpu_v4_memories_and_ridge() -> None:
    t = get_target("tpu-v4")
    hbm = t.memories[-1]
    assert hbm.name == "hbm"
    assert hbm.capacity_B == 32 * 2**30  # 32 GiB (binary), not 32e9
    assert hbm.bandwidth_B_per_s == pytest.approx(1200e9)
    # bf16 ridge: 275.25 TFLOP/s over 1.2 TB/s
    assert t.ridge_point_FLOP_per_B("bf16") == pytest.approx(2 * 4 * 32768 * 1.05e9 / 1200e9)
    vmem = t.memories[0]
    assert vmem.capacity_B < hbm.capacity_B and vmem.bandwidth_B_per_s > hbm.bandwidth_B_per_s


def test_partitioned_mapping_changes_latency_on_tpu_v4() -> None:
    # llama-2-7b decode: ~13 GB of weights far beyond 64 MiB of VMEM, so the placement decision matters here (on an
    # HBM-only preset both mappings would price the same); share 0 keeps the activations on chip and streams weights,
    # which can only be as fast as or faster than greedy's partial residency of everything
    s = {"batch": 1, "phase": "decode", "prompt_len": 512}
    greedy = evaluate_point("tpu-v4", "llama-2-7b", {**s, "memory_mapping": "greedy"}, detail=False).perf
    f0 = evaluate_point("tpu-v4", "llama-2-7b", {**s, "memory_mapping": "partitioned", "weight_capacity_share": 0.0},
                        detail=False).perf
    lg = float(np.ravel(greedy.metrics()["latency_s"])[0])
    l0 = float(np.ravel(f0.metrics()["latency_s"])[0])
    assert l0 < lg
