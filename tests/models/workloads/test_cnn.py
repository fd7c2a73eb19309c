"""CNN and AnyNet/RegNet builders: counts from shapes against published numbers.

MAC totals include every conv and the FC classifier; BN, ReLU, pooling and residual adds are
not MACs. Parameters include biases and BN gamma/beta (not the running statistics).
"""

import numpy as np
import pytest

from models.workloads.anynet import REGNETX_PRESETS, anynet, complexity, regnet_params, regnetx
from models.workloads.cnn import mobilenet_v1, mobilenet_v2, resnet, resnext50_32x4d


def rel(a, b):
    return abs(float(np.squeeze(a)) / b - 1.0)


# ---------------------------------------------------------------- published totals
@pytest.mark.parametrize(
    ("build", "params", "mac", "tol_params", "tol_mac"),
    [
        # He et al. 2016 / torchvision: ResNet-50 25.6 M params, 4.1 GMAC ("4.1 GFLOPs" = MAC).
        (lambda: resnet(50), 25.6e6, 4.1e9, 0.01, 0.015),
        # ResNet-18: 11.7 M params, 1.8 GMAC (rounded to 2 digits).
        (lambda: resnet(18), 11.7e6, 1.8e9, 0.01, 0.015),
        # Howard et al. 2017 Table 8: MobileNet-V1 1.0-224: 4.2 M params, 569 M mult-adds.
        (mobilenet_v1, 4.2e6, 569e6, 0.012, 0.01),
        # Xie et al. 2017 Table 1: ResNeXt-50 32x4d 25.0 M params, 4.2 GFLOPs (= MAC).
        (resnext50_32x4d, 25.0e6, 4.2e9, 0.01, 0.015),
        # Sandler et al. 2018 Table 4: MobileNet-V2 300 M MAdds, 3.4 M params (torchvision: 3.50 M).
        (mobilenet_v2, 3.5e6, 300e6, 0.03, 0.01),
    ],
)
def test_published_params_and_macs(build, params, mac, tol_params, tol_mac):
    t = build()
    assert rel(t.total_params(), params) < tol_params
    assert rel(t.total("mac"), mac) < tol_mac
    assert (
        t.total("flop", "forward") >= 2 * t.total("mac")
    ).all()  # FLOP = 2 MAC (+ BN/ReLU FLOPs)


def test_exact_framework_parameter_counts():
    # torchvision's parameter counts (weights + biases + BN gamma/beta).
    assert resnet(50).total_params()[0] == 25_557_032
    assert resnet(18).total_params()[0] == 11_689_512
    assert resnext50_32x4d().total_params()[0] == 25_028_904
    assert mobilenet_v2().total_params()[0] == 3_504_872


def test_mobilenet_v1_mac_with_and_without_fc():
    t = mobilenet_v1()
    fc = t.frame().filter(t.meta["name"] == "head.fc")["mac"][0]
    assert fc == 1024 * 1000
    # Both conventions land within 1 % of the published 569 M.
    assert rel(t.total("mac") - fc, 569e6) < 0.01


def test_resnet18_stem_by_hand():
    f = resnet(18).frame()
    stem = f.filter(f["name"] == "stem.conv7x7")
    # 112 x 112 outputs x 64 channels x (3 x 7 x 7) MACs.
    assert stem["mac"][0] == 112 * 112 * 64 * 147
    assert stem["n_params"][0] == 64 * 147
    # BN+ReLU of the stem reads and writes 112*112*64 fp16 values.
    bn = f.filter(f["name"] == "stem.conv7x7.bn")
    assert bn["act_read_B"][0] == 112 * 112 * 64 * 2


def test_identical_blocks_are_one_row():
    f = resnet(50).frame()
    counts = dict(zip(f["name"].to_list(), f["count"].to_list(), strict=True))
    # Stages of 3, 4, 6, 3 blocks: first block once, the rest as one row.
    assert (
        counts["s1.bn.conv3x3"] == 2
        and counts["s3.bn.conv3x3"] == 5
        and counts["s4.b1.conv3x3"] == 1
    )
    assert resnet(50).meta.height == 69


def test_depthwise_kind():
    meta = mobilenet_v1().meta
    kinds = dict(zip(meta["name"].to_list(), meta["kind"].to_list(), strict=True))
    assert kinds["l1.dw3x3"] == "dwconv" and kinds["l1.pw1x1"] == "conv"
    kinds = dict(
        zip(
            mobilenet_v1(group_size=8).meta["name"].to_list(),
            mobilenet_v1(group_size=8).meta["kind"].to_list(),
            strict=True,
        )
    )
    assert kinds["l1.dw3x3"] == "conv"


# ---------------------------------------------------------------- vectorization
@pytest.mark.parametrize(
    "build",
    [
        lambda **k: resnet(50, **k),
        lambda **k: resnet(18, **k),
        lambda **k: mobilenet_v1(**k),
        lambda **k: mobilenet_v2(**k),
        lambda **k: resnext50_32x4d(**k),
    ],
)
def test_vectorized_equals_scalar(build):
    batch = np.array([1, 4, 2])
    res = np.array([224, 160, 192])
    wm = np.array([1.0, 0.5, 0.75])
    vec = build(batch=batch, resolution=res, width_mult=wm)
    for i in range(3):
        one = build(batch=int(batch[i]), resolution=int(res[i]), width_mult=float(wm[i]))
        for fld in ("mac", "flop", "bytes_B", "n_params"):
            np.testing.assert_allclose(vec.total(fld)[i], one.total(fld)[0], rtol=1e-12)
        np.testing.assert_allclose(
            vec.peak_memory_B["forward"][i], one.peak_memory_B["forward"][0], rtol=1e-12
        )
        np.testing.assert_allclose(vec.n_items[i], batch[i])


def test_batch_and_resolution_scaling():
    base = resnet(50).total("mac")[0]
    # MACs are linear in batch; doubling resolution quadruples the conv MACs (FC excluded).
    assert resnet(50, batch=8).total("mac")[0] == pytest.approx(8 * base)
    fc = 2048 * 1000
    assert resnet(50, resolution=448).total("mac")[0] - fc == pytest.approx(4 * (base - fc))


def test_depth_mult_changes_counts_only():
    t = resnet(50, depth_mult=np.array([1.0, 2.0]))
    f1, f2 = t.frame(0), t.frame(1)
    assert t.n_ops == resnet(50).n_ops
    # Stage 3: 6 blocks -> 12 blocks, so the repeated row goes from 5 to 11.
    assert f1.filter(f1["name"] == "s3.bn.conv3x3")["count"][0] == 5
    assert f2.filter(f2["name"] == "s3.bn.conv3x3")["count"][0] == 11


# ---------------------------------------------------------------- group convolutions (E2GC)
def test_mobilenet_group_size_macs_by_hand():
    f = mobilenet_v1(group_size=16).frame()
    row = f.filter(f["name"] == "l1.dw3x3")
    # 112x112 output x 32 channels x (16 channels per group x 3 x 3).
    assert row["mac"][0] == 112 * 112 * 32 * 16 * 9
    assert mobilenet_v1(group_size=16).total("mac")[0] > mobilenet_v1().total("mac")[0]


def test_fixed_groups_vs_constant_group_size():
    # Constant group size g: groups = C/g grow with C; fixed groups: the group size grows.
    fixed = resnext50_32x4d(cardinality=32).frame()
    const = resnext50_32x4d(group_width=4).frame()
    k = lambda f, n: f.filter(f["name"] == n)["k"][0]  # noqa: E731
    assert (
        k(fixed, "s1.b1.conv3x3") == k(const, "s1.b1.conv3x3") == 4 * 9
    )  # both 32 groups of 4 at 128 ch
    assert k(fixed, "s4.b1.conv3x3") == 32 * 9  # 1024 ch / 32 groups
    assert k(const, "s4.b1.conv3x3") == 4 * 9  # 256 groups of 4
    assert resnext50_32x4d(group_width=4).total("mac")[0] < resnext50_32x4d().total("mac")[0]


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: mobilenet_v1(group_size=3), "group_size"),
        (lambda: mobilenet_v1(n_groups=5), "n_groups"),
        (lambda: resnext50_32x4d(group_width=6), "group_width"),
        (lambda: mobilenet_v1(group_size=np.array([8, 24])), "group_size"),
    ],
)
def test_group_size_must_divide_channels(call, field):
    with pytest.raises(ValueError, match=field):
        call()


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: resnet(20), "depth"),
        (lambda: resnet(50, batch=0), "batch"),
        (lambda: mobilenet_v2(resolution=-1), "resolution"),
        (lambda: mobilenet_v1(width_mult=np.nan), "width_mult"),
    ],
)
def test_bad_knobs(call, field):
    with pytest.raises(ValueError, match=field):
        call()


def test_fold_bn_removes_norm_rows():
    t = resnet(50, fold_bn=True)
    assert "norm" not in t.meta["kind"].to_list()
    assert t.total("mac")[0] == resnet(50).total("mac")[0]
    assert t.total("bytes_B")[0] < resnet(50).total("bytes_B")[0]


# ---------------------------------------------------------------- AnyNet / RegNet
def test_regnet_params_quantization_by_hand():
    # RegNetX-200MF: u_j = 24 + 36.44 j; s_j = round(log(u_j/24)/log 2.49): j=0 -> 0, j=1 -> 1
    # (59.76 -> 56), j=2..5 -> 2 (148.8 -> 152), j=6..12 -> 3 (370.5 -> 368).
    d, w, g = regnet_params(24, 36.44, 2.49, 13, 8)
    np.testing.assert_array_equal(d, [1, 1, 4, 7])
    np.testing.assert_array_equal(w, [24, 56, 152, 368])
    np.testing.assert_array_equal(g, [8, 8, 8, 8])
    # Group-width compatibility: 400MF with g = 16 turns the 24-wide stage into 32.
    _, w4, _ = regnet_params(*REGNETX_PRESETS["regnetx-400mf"])
    assert w4[0] == 32 and np.all(np.mod(w4, 16) == 0)


def test_regnet_params_vectorized():
    d, w, g = regnet_params(np.array([24, 24]), 36.44, 2.49, 13, np.array([8, 16]))
    assert d.shape == (2, 4)
    np.testing.assert_array_equal(w[1], [32, 64, 160, 368])


@pytest.mark.parametrize(
    ("name", "gmac", "m_params", "m_acts"),
    [
        # pycls MODEL_ZOO.md (flops = multiply-adds in B, params M, acts M), rounded to 0.1.
        ("regnetx-200mf", 0.2, 2.7, 2.2),
        ("regnetx-400mf", 0.4, 5.2, 3.1),
        ("regnetx-800mf", 0.8, 7.3, 5.1),
        ("regnetx-1.6gf", 1.6, 9.2, 7.9),
    ],
)
def test_regnetx_presets_match_pycls(name, gmac, m_params, m_acts):
    c = complexity(regnetx(name))
    # Rounded figures: within the rounding half-step, and within 1 % of the MAC figure.
    assert abs(c.n_mac[0] / 1e9 - gmac) <= 0.05 and rel(c.n_mac, gmac * 1e9) < 0.01
    assert abs(c.n_params[0] / 1e6 - m_params) <= 0.05
    assert abs(c.n_activations[0] / 1e6 - m_acts) <= 0.05
    assert c.n_flop[0] == 2 * c.n_mac[0]


def test_anynet_tiny_by_hand():
    # Stem 3x3 s2 3->8 on 8x8 -> 4x4x8; one X block 8->8, group width 8 (1 group), s2 -> 2x2;
    # FC 8->10.
    t = anynet([1], [8], [8], stem_width=8, resolution=8, n_classes=10)
    c = complexity(t)
    mac = 16 * 8 * 27 + 16 * 8 * 8 + 4 * 8 * 72 + 4 * 8 * 8 + 4 * 8 * 8 + 80
    acts = 128 + 128 + 32 + 32 + 32 + 10  # stem, 1x1a, 3x3, 1x1b, shortcut, fc outputs
    assert c.n_mac[0] == mac and c.n_activations[0] == acts


def test_anynet_vectorized_over_stage_arrays():
    depths = np.array([[1, 1, 4, 7], [2, 2, 8, 14]])
    widths = np.array([[24, 56, 152, 368], [32, 80, 216, 520]])
    vec = complexity(anynet(depths, widths, 8, resolution=np.array([224, 256])))
    for i in range(2):
        one = complexity(anynet(depths[i], widths[i], 8, resolution=[224, 256][i]))
        assert vec.n_mac[i] == one.n_mac[0] and vec.n_activations[i] == one.n_activations[0]
        assert np.broadcast_to(vec.n_params, (2,))[i] == one.n_params[0]


def test_anynet_errors():
    with pytest.raises(ValueError, match="group_widths"):
        anynet([1, 1], [24, 56], 16)
    with pytest.raises(ValueError, match="depths"):
        anynet([1.5, 1], [24, 56], 8)
    with pytest.raises(KeyError, match="regnetx-200mf"):
        regnetx("regnetx-7gf")
