"""The Cortex-M4 int8 kernel cost (``engines.core.efficiency_by_kind.conv``) prices a conv as the
roofline formula says: ``t = flop / (n_units x ops_per_cycle x clock x efficiency) + op_overhead``.

Hand-computed on the preset and a toy conv; the factor's derivation (CMSIS-NN CIFAR-10 on a
Cortex-M7 and PULP-NN's M4:M7 cycle ratio) is checked as arithmetic, not fitted to anything.
"""

from __future__ import annotations

import pytest

from models.hardware import get_target
from models.perf import evaluate
from models.workloads import conv, table_from_ops


def test_conv_efficiency_is_the_cmsis_nn_derivation():
    # 12,298,240 MAC of the CMSIS-NN CIFAR-10 net in 99.1 ms x 216 MHz on an M7 = 0.574 MAC/cycle;
    # the M4 takes 30 / 19.6 the M7's cycles -> 0.375 MAC/cycle = 0.751 op/cycle of a 4 op/cycle peak
    macs = 32 * 32 * 32 * 75 + 16 * 16 * 32 * 800 + 8 * 8 * 64 * 800 + 1024 * 10
    assert macs == 12_298_240
    eff = 2 * macs / (99.1e-3 * 216e6) / (30 / 19.6) / 4
    core = get_target("cortex-m4").engine("core")
    assert core.efficiency_by_kind["conv"] == pytest.approx(eff, abs=5e-4)
    assert "dwconv" not in core.efficiency_by_kind  # no depthwise benchmark: keeps the 0.8 default


def test_preset_conv_time_follows_the_kernel_efficiency():
    t = get_target("cortex-m4")
    # a 1x1 int8 conv, 25 x 5 pixels, 64 -> 64 channels: 125 x 64 x 64 = 512,000 MAC = 1,024,000 op
    tab = table_from_ops([conv("pw", 1, 25, 5, 64, 64, 1, dtype="int8")])
    r = evaluate(t, tab)
    # int8 falls back to int16 SMLAD: 1 unit x 4 op/cycle x 168 MHz = 672 Mop/s, x 0.188 = 126.3 Mop/s
    # -> 1,024,000 / 126.336e6 = 8.105 ms compute; bytes (4 kB in, 4 kB weights, 8 kB out) at
    # 0.672 GB/s SRAM = 24 us: compute-bound; plus the 1.19048 us per-operator overhead
    t_c = 1_024_000 / (4 * 168e6 * 0.188)
    assert r.op_compute_s[0, 0] == pytest.approx(t_c, rel=1e-9)
    assert r.latency_s[0] == pytest.approx(t_c + 1.19048e-6, rel=1e-6)
    # a depthwise conv of the same target is still priced at the engine-level 0.8
    dw = evaluate(t, table_from_ops([conv("dw", 1, 25, 5, 64, 64, 3, groups=64, dtype="int8")]))
    assert dw.op_compute_s[0, 0] == pytest.approx(2 * 125 * 64 * 9 / (4 * 168e6 * 0.8), rel=1e-9)


def test_overriding_the_kind_factor_scales_conv_time_inversely():
    t = get_target("cortex-m4")
    tab = table_from_ops([conv("c", 1, 16, 16, 32, 32, 3, dtype="int8")])
    a = evaluate(t, tab).op_compute_s[0, 0]
    b = evaluate(t, tab, overrides={"engines.core.efficiency_by_kind.conv": 0.376}).op_compute_s[0, 0]
    assert a / b == pytest.approx(2.0, rel=1e-9)  # twice the efficiency, half the compute time
