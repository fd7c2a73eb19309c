"""Group size (E2GC): per-layer counts, divisibility errors, optimum vs the memory system."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from models.algorithms.groupsize import (
    e2gc_gain,
    group_conv_cost,
    group_conv_table,
    optimal_group_size,
)
from models.hardware import Target, get_target
from models.perf import evaluate


def test_layer_counts_hand_computed() -> None:
    # c = 256, 28x28 output, 3x3, G = 4, batch 1: MACs = 28*28*256*4*9 = 7,225,344;
    # params = 256*4*9 = 9216; bytes fp16 = 2*(2*28*28*256 + 9216) = 821,248.
    c = group_conv_cost(256, 28, 28, group_size=4)
    assert c.n_mac[0] == 7_225_344
    assert c.n_params[0] == 9216
    assert c.bytes_B[0] == 821_248
    assert c.reuse_MAC_per_B[0] == pytest.approx(7_225_344 / 821_248)


def test_reuse_grows_with_group_size() -> None:
    c = group_conv_cost(256, 28, 28, group_size=np.array([1, 4, 16, 64]), target="p100")
    assert np.all(np.diff(c.reuse_MAC_per_B) > 0)
    assert np.all(np.diff(c.energy_J_per_MAC) < 0)  # type: ignore[arg-type]


def test_group_size_must_divide_channels() -> None:
    with pytest.raises(ValueError, match="group_size"):
        group_conv_cost(96, 14, 14, group_size=64)


def test_optimum_moves_to_smaller_groups_with_more_bandwidth() -> None:
    bw = np.array([0.1e12, 0.3e12, 0.732e12, 3e12])
    g = optimal_group_size("p100", 256, 28, 28, batch=64, overrides={"memories.hbm.bandwidth": bw})
    assert np.all(np.diff(g) <= 0) and g[0] > g[-1]


def test_optimum_moves_to_smaller_groups_when_layer_fits_on_chip() -> None:
    # batch 8: working set ~6.6 MB; with 64 MB of on-chip memory it stays on chip (cheaper bytes)
    cap = np.array([0.5e6, 64e6])
    g = optimal_group_size("p100", 256, 28, 28, batch=8, overrides={"memories.smem.capacity": cap})
    assert g[1] <= g[0]


def test_e2gc_effect_is_small_in_the_roofline_model() -> None:
    # Published (P100, measured): +10.8 % MobileNet-V1, +4.73 % ResNeXt-50. The roofline +
    # energy model predicts an effect of about 1 % either way: see docs/models.md (E2GC, limits).
    for net in ("mobilenet-v1", "resnext-50"):
        gain = e2gc_gain("p100", net, fggc_n_groups=32, e2gc_group_size=8, batch=64, per="mac")
        assert abs(gain) < 0.03


def _with_half_k(name: str, half_k: float) -> Target:
    t = get_target(name)
    eng = dataclasses.replace(t.engines[0], efficiency_half_k={"conv": half_k, "dwconv": half_k})
    return dataclasses.replace(t, engines=(eng,))


def test_size_curve_adds_the_same_time_for_every_group_size() -> None:
    # efficiency x k/(k + h) turns t_c = flop/R into flop/R x (1 + h/k); a group conv has
    # flop = 2 m n k (m = batch h w, n = c_out, k = 9 G), so the extra time is 2 m n h / R:
    # independent of G. P100 fp32: R = 56 x 128 x 1.48 GHz x 0.8 = 8.487e12 FLOP/s;
    # m n = 64 x 28 x 28 x 256 = 12,845,056; h = 64 -> 2 x 12,845,056 x 64 / 8.487e12 = 1.937e-4 s.
    # This is why a size curve cannot make constant group size (E2GC) beat a fixed number of
    # groups (FgGC) at equal layer shapes: see docs/models.md, Group size (E2GC).
    base, curved = get_target("p100"), _with_half_k("p100", 64.0)
    extra = []
    for g in (4, 32):
        tab = group_conv_table(256, 28, 28, group_size=g, batch=64, dtype="fp32")
        extra.append(
            evaluate(curved, tab).op_compute_s[0, 0] - evaluate(base, tab).op_compute_s[0, 0]
        )
    peak = 56 * 128 * 1.48e9 * 0.8
    assert extra[0] == pytest.approx(2 * 12_845_056 * 64 / peak, rel=1e-9)
    assert extra[1] == pytest.approx(extra[0], rel=1e-9)


def test_size_curve_does_not_reproduce_the_published_e2gc_gain() -> None:
    # Published (P100): +10.8 % MobileNet-V1. With the size curve the predicted gain stays
    # within about 1 point of zero for any half_k (it falls slightly: E2GC G = 8 moves MACs to
    # the early, memory-bound layers), so no half_k can be calibrated on this case.
    for h in (0.0, 64.0, 1024.0):
        t = _with_half_k("p100", h) if h else get_target("p100")
        gain = e2gc_gain(
            t, "mobilenet-v1", fggc_n_groups=32, e2gc_group_size=8, batch=64, dtype="fp32"
        )
        assert abs(gain) < 0.01
