"""DS-CNN, ResNet8, x-vector TDNN and ViT-B/16: counts by hand and published totals."""

import numpy as np
import pytest

from models.workloads.kws import ds_cnn, resnet8
from models.workloads.tdnn import tdnn_xvector
from models.workloads.vit import vit_b16


def test_ds_cnn_by_hand():
    t = ds_cnn()
    # conv 10x4 s2: 25x5 outputs x 64 x 40; 4 blocks of dw (125 x 64 x 9) + pw (125 x 64 x 64);
    # FC 64 x 12.
    assert t.total("mac")[0] == 125 * 64 * 40 + 4 * (125 * 64 * 9 + 125 * 64 * 64) + 64 * 12
    # conv 40x64+64, BN 128; per block dw 9x64+64, pw 64x64+64, 2 BN of 128; FC 64x12+12.
    assert t.total_params()[0] == 2624 + 128 + 4 * (640 + 4160 + 256) + 780
    assert t.item_name == "utterance"
    kinds = dict(zip(t.meta["name"].to_list(), t.meta["kind"].to_list(), strict=True))
    assert kinds["ds.dw3x3"] == "dwconv"


def test_resnet8_by_hand():
    t = resnet8()
    mac = (
        32 * 32 * 16 * 27  # conv0
        + 2 * 32 * 32 * 16 * 144  # stack 1: two 3x3 16->16
        + 16 * 16 * 32 * 144
        + 16 * 16 * 32 * 288
        + 16 * 16 * 32 * 16  # stack 2 + shortcut
        + 8 * 8 * 64 * 288
        + 8 * 8 * 64 * 576
        + 8 * 8 * 64 * 32  # stack 3 + shortcut
        + 64 * 10
    )
    assert (
        t.total("mac")[0] == mac == 12_501_632
    )  # the ~12.5 M MAC usually quoted for MLPerf Tiny IC
    assert 77_000 < t.total_params()[0] < 79_000  # ~78 K parameters


def test_tdnn_by_hand():
    t = tdnn_xvector(frames=300)
    # Frames shrink by the context: 296, 292, 286.
    mac = (
        296 * 120 * 512
        + 292 * 1536 * 512
        + 286 * 1536 * 512
        + 286 * 512 * 512
        + 286 * 512 * 1500
        + 3000 * 512
        + 512 * 512
    )
    assert t.total("mac")[0] == mac
    with_cls = tdnn_xvector(frames=300, n_speakers=1000)
    assert with_cls.total("mac")[0] == mac + 512 * 1000
    with pytest.raises(ValueError, match="frames"):
        tdnn_xvector(frames=10)


def test_vit_b16_published():
    t = vit_b16()
    # Dosovitskiy et al.: ViT-B/16 86 M parameters; timm lists 86,567,656 and 17.6 GMAC at 224.
    assert t.total_params()[0] == 86_567_656
    assert abs(t.total("mac")[0] / 17.6e9 - 1) < 0.01
    # Attention by hand: 12 layers x 2 x 197^2 x 768 MAC.
    f = t.frame()
    att = f.filter(f["name"] == "attention")
    assert att["mac"][0] * att["count"][0] == 12 * 2 * 197**2 * 768


def test_vectorized_small_nets():
    b = np.array([1, 3])
    for build, kw in (
        (ds_cnn, {}),
        (resnet8, {}),
        (tdnn_xvector, {"frames": np.array([300, 200])}),
        (vit_b16, {"resolution": np.array([224, 384])}),
    ):
        vec = build(b, **kw)
        for i in range(2):
            one = build(int(b[i]), **{k: int(v[i]) for k, v in kw.items()})
            assert vec.total("mac")[i] == pytest.approx(one.total("mac")[0], rel=1e-12)
            assert vec.total("bytes_B")[i] == pytest.approx(one.total("bytes_B")[0], rel=1e-12)


def test_vit_resolution_must_be_patch_multiple():
    with pytest.raises(ValueError, match="resolution"):
        vit_b16(resolution=230)
