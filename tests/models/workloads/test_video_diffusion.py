"""AnimateDiff on SD1.5 with the Streamlined Inference knobs (models/workloads/video_diffusion.py).

Hand computations use the unit ``T`` = one 320-channel fp16 tensor at the 64 x 64 latent of a
512 x 512 frame, over all the images of a step: ``T = n_img x 4096 x 320 x 2 B``.
"""

from __future__ import annotations

import numpy as np
import pytest

from models.perf import evaluate_point
from models.workloads import OperatorTable, workload_spec
from models.workloads.video_diffusion import animatediff

DEEP = ("down1.", "down2.", "down3.", "mid.", "up0.", "up1.", "up2.")


def _per_step_params(table: OperatorTable, steps: int = 25, *, motion: bool) -> float:
    names = table.meta["name"].to_list()
    return sum(float(c["n_params"]) * float(c["count"]) / steps for n, c in zip(names, table.columns, strict=True)
               if (".motion" in n) == motion)


def test_parameter_counts_are_the_published_architectures() -> None:
    # SD1.5 UNet: 859,520,964 parameters (diffusers UNet2DConditionModel of runwayml/stable-diffusion-v1-5,
    # the "860M UNet" of the CompVis stable-diffusion README); motion adapter v1-5-2: 453.2 M
    t = animatediff()
    assert _per_step_params(t, motion=False) == pytest.approx(859_520_964, rel=1e-6)
    assert _per_step_params(t, motion=True) == pytest.approx(453.2e6, rel=1e-3)
    assert t.stored_params is not None
    assert t.stored_params == pytest.approx(859_520_964 + _per_step_params(t, motion=True), rel=1e-9)
    # weights part of the resident memory: every parameter once, fp16
    assert float(t.memory_parts_B["forward"]["weights"]) == pytest.approx(2.0 * t.stored_params, rel=1e-9)


def test_peak_memory_by_hand_without_and_with_slicing() -> None:
    # 4 frames, no CFG: n_img = 4, T = 4 x 4096 x 320 x 2 = 10,485,760 B
    T = 4 * 4096 * 320 * 2.0
    base = animatediff(frames=4, cfg=False)
    w = float(base.memory_parts_B["forward"]["weights"])
    # largest live set: down0.attn1's GEGLU reads 8 T (two 1280-channel halves) and writes 4 T, with the
    # block input T held and two skip tensors (conv_in, down0 layer 0) stored: 15 T
    assert float(base.memory_parts_B["forward"]["activations"]) == pytest.approx(15 * T, rel=1e-12)
    assert float(base.peak_memory()[0]) == pytest.approx(w + 15 * T, rel=1e-12)
    # slicing alone keeps every operator's full input and output: same peak
    sliced = animatediff(frames=4, cfg=False, feature_slices=4)
    assert float(sliced.peak_memory()[0]) == pytest.approx(w + 15 * T, rel=1e-12)
    # slicing with grouping, S = 4: up3.resnet0's first GroupNorm holds the 960-channel block input
    # X = 3 T in full, X (S - 1) / S of the block output, (read 3 T + write 3 T) / S, and the two
    # 320-channel skips still stored: 3 T x 7/4 + 6 T / 4 + 2 T = 8.75 T; the weights are unchanged
    grouped = animatediff(frames=4, cfg=False, feature_slices=4, operator_grouping=True)
    assert float(grouped.memory_parts_B["forward"]["activations"]) == pytest.approx(8.75 * T, rel=1e-12)
    assert float(grouped.memory_parts_B["forward"]["weights"]) == w
    # grouping without slicing changes nothing
    g1 = animatediff(frames=4, cfg=False, operator_grouping=True)
    assert float(g1.peak_memory()[0]) == pytest.approx(w + 15 * T, rel=1e-12)


def test_slicing_keeps_flops_and_activation_bytes_and_rereads_weights() -> None:
    a, b = animatediff(frames=8), animatediff(frames=8, feature_slices=4)
    for f in ("flop", "act_read_B", "act_write_B"):
        assert float(b.total(f)[0]) == pytest.approx(float(a.total(f)[0]), rel=1e-12), f
    assert float(b.total("weight_read_B")[0]) == pytest.approx(4 * float(a.total("weight_read_B")[0]), rel=1e-12)
    n_a, n_b = (sum(float(c["count"]) for c in t.columns) for t in (a, b))
    assert n_b == pytest.approx(4 * n_a, rel=1e-12)  # four kernels per operator


def test_step_rehash_removes_the_deep_blocks_flops() -> None:
    t0 = animatediff()
    names = t0.meta["name"].to_list()
    deep = sum(float(c["count"] * c["flop"]) for n, c in zip(names, t0.columns, strict=True) if n.startswith(DEEP))
    total = float(t0.total("flop")[0])
    assert 0.3 < deep / total < 0.9  # the deep blocks are most of the work, not all of it
    t = animatediff(step_rehash=0.4)
    assert float(t.total("flop")[0]) == pytest.approx(total - 0.4 * deep, rel=1e-12)
    # on a GPU that is compute bound on these rows, the time falls with the FLOPs
    r0 = evaluate_point("a100-80gb", "animatediff-sd15", {}, detail=False).perf.latency_s
    r4 = evaluate_point("a100-80gb", "animatediff-sd15", {"step_rehash": 0.4}, detail=False).perf.latency_s
    assert float(r4[0]) < float(r0[0])


def test_standard_attention_scores_shrink_with_the_slices() -> None:
    # eager attention (attention_tiling = standard) keeps S and P of one call: per slice, 1/S of them
    s = {"height": 576, "width": 1024, "attention_tiling": "standard"}
    p1 = evaluate_point("a100-80gb", "animatediff-sd15", s, detail=False).perf.peak_memory_B
    p16 = evaluate_point("a100-80gb", "animatediff-sd15", {**s, "feature_slices": 16, "operator_grouping": True},
                         detail=False).perf.peak_memory_B
    assert float(p16[0]) < float(p1[0]) / 5


def test_knobs_are_registered_and_bad_values_named() -> None:
    spec = workload_spec("animatediff-sd15")
    names = {k.name for k in spec.knobs}
    assert {"frames", "height", "width", "steps", "feature_slices", "operator_grouping", "step_rehash"} <= names
    with pytest.raises(ValueError, match=r"feature_slices=.*at most frames"):
        animatediff(frames=8, feature_slices=16)
    with pytest.raises(ValueError, match=r"step_rehash=.*\[0, 1\)"):
        animatediff(step_rehash=1.0)
    with pytest.raises(ValueError, match="step_rehash"):
        spec.build(step_rehash=1.5)
    with pytest.raises(ValueError, match="height must be a multiple of 64"):
        animatediff(height=520)


def test_vectorized_frames_match_single_points() -> None:
    fr = np.array([8, 16])
    t = animatediff(frames=fr, feature_slices=2, operator_grouping=True)
    for i, f in enumerate(fr):
        one = animatediff(frames=int(f), feature_slices=2, operator_grouping=True)
        assert float(t.peak_memory()[i]) == pytest.approx(float(one.peak_memory()[0]), rel=1e-12)
        assert float(t.total("flop")[i]) == pytest.approx(float(one.total("flop")[0]), rel=1e-12)
