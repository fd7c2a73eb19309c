"""Video-Infinity clip parallelism (models.workloads.video_diffusion, clip_devices): one device's clip,
the context it exchanges, and the closed forms."""

from __future__ import annotations

import numpy as np
import pytest

from models.hardware import get_target
from models.parallel.collectives import collective_cost
from models.perf import evaluate, evaluate_point
from models.point import build_point

W = "animatediff-sd15"
KN = {"height": 320, "width": 512, "steps": 3}


def test_without_context_a_device_prices_its_clip_plus_the_calls():
    # 64 frames on 8 devices, no context: each device runs the one-device table of 8 frames, and the
    # collectives move no bytes (only their per-call latencies remain)
    par = evaluate_point("h100-sxm", W, {**KN, "frames": 64, "clip_devices": 8, "local_context_frames": 0,
                                         "global_context_frames": 0}).perf
    one = evaluate_point("h100-sxm", W, {**KN, "frames": 8}).perf
    assert float(par.latency_s[0] - par.comm_s[0]) == pytest.approx(float(one.latency_s[0]), rel=1e-12)
    assert par.n_devices == 8
    # energy: eight devices' compute (the collectives carry no bytes; the link has no energy per byte here)
    assert float(par.dynamic_energy_J[0]) == pytest.approx(8 * float(one.dynamic_energy_J[0]), rel=1e-9)


def test_the_exchange_of_one_temporal_attention_by_hand():
    t = get_target("h100-sxm")
    b = build_point(W, {**KN, "frames": 64, "clip_devices": 8}, target=t)
    colls = b.table.collectives
    # 2 temporal attentions per motion module; down blocks 2 x 4, mid 1, up blocks 3 x 4 motion modules: 21
    assert len([c for c in colls if c.op == "all_gather"]) == 2 * 21
    g, s = colls[0], colls[1]
    # the first motion module (down block 0): 40 x 64 latent positions x 2 videos (guidance), keys and values
    # of 320 channels each in fp16: 2 x 320 x 2 B = 1280 B per position and frame
    per_frame = 40 * 64 * 2 * 1280
    assert float(g.bytes_B) == 16 * per_frame and g.group == 8
    assert float(s.bytes_B) == 8 * per_frame and s.op == "send" and float(s.count) == 2 * 3  # both sides, 3 steps
    # the attention itself spans the clip's 8 frames plus 8 + 8 neighbours and 16 global frames
    names = b.table.meta["name"].to_list()
    i = names.index("down0.motion0.temporal1.attention")
    one = build_point(W, {**KN, "frames": 8}, target=t).table
    j = one.meta["name"].to_list().index("down0.motion0.temporal1.attention")
    assert float(b.table.columns[i]["flop"]) == pytest.approx(float(one.columns[j]["flop"]) * (8 + 32) / 8, rel=1e-12)
    # the kernel prices the all-gather as the collective model does on the target's link
    r = evaluate(t, b.table)
    bw, lat = 450e9, 0.6e-6  # data/links.toml nvlink4
    want = 0.0
    for c in colls:
        tc, _ = collective_cost(c.op, c.group, c.bytes_B, bw, lat)
        want += float(tc) * float(c.count)
    assert float(r.comm_s[0]) == pytest.approx(want, rel=1e-9)


def test_more_devices_shorten_a_long_video_until_the_exchange_dominates():
    lat = {}
    for n in (1, 2, 8, 32):
        lat[n] = float(evaluate_point("h100-sxm", W, {**KN, "frames": 256, "clip_devices": n}).perf.latency_s[0])
    assert lat[1] > lat[2] > lat[8] > lat[32]
    # near 1 / N while the clips are long: 8 devices within 25% of an eighth of one
    assert lat[8] < 1.25 * lat[1] / 8


def test_bad_clip_settings_are_named():
    with pytest.raises(ValueError, match="clip_devices=9 is more than frames=8"):
        evaluate_point("h100-sxm", W, {**KN, "frames": 8, "clip_devices": 9})
    with pytest.raises(ValueError, match="feature_slices=16 must be at most the clip of 8"):
        evaluate_point("h100-sxm", W, {**KN, "frames": 64, "clip_devices": 8, "feature_slices": 16})
    with pytest.raises(ValueError, match="clip_devices"):
        evaluate_point("h100-sxm", W, {**KN, "frames": 8, "clip_devices": 0})


def test_a_sweep_over_frames_equals_point_by_point():
    frames = np.array([64.0, 200.0, 1024.0])
    swept = evaluate_point("h100-sxm", W, {**KN, "frames": frames, "clip_devices": 8}, detail=False).perf
    for i, f in enumerate(frames):
        one = evaluate_point("h100-sxm", W, {**KN, "frames": float(f), "clip_devices": 8}).perf
        assert swept.latency_s[i] == pytest.approx(float(one.latency_s[0]), rel=1e-12)
