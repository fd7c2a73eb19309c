"""SESR operator tables against the closed form and the ARM-software/sesr README."""

import numpy as np
import pytest

from models.workloads.sesr import SESR_VARIANTS, sesr, sesr_mac_per_lr_pixel


def test_m5_x2_macs_per_lr_pixel():
    # 25 f + 9 m f^2 + 25 f scale^2 = 400 + 11,520 + 1,600 (published-numbers.md A6).
    assert sesr("M5", 2, 1, 1, 1).total("mac")[0] == 13_520


def test_m5_x4_macs_per_lr_pixel():
    # Last conv f -> 16 for x4: 400 + 11,520 + 6,400.
    assert sesr("M5", 4, 1, 1, 1).total("mac")[0] == 18_320


def test_m5_720p_x2():
    # LR 640 x 360 -> 13,520 x 230,400 = 3.115 GMAC (A6 table).
    assert sesr("M5", 2, 1, 360, 640).total("mac")[0] == pytest.approx(3.115e9, rel=1e-3)


def test_expanded_training_forward_41_77_gmac():
    # README: 41.77 B MACs for one forward pass of the expanded SESR-M5, batch 32 of 64x64.
    t = sesr("M5", 2, 32, 64, 64, expanded=True)
    assert t.total("mac")[0] == pytest.approx(41.77e9, rel=1e-3)
    assert t.total("mac")[0] == 318_720 * 32 * 64 * 64


@pytest.mark.parametrize("variant", list(SESR_VARIANTS))
@pytest.mark.parametrize("scale", [2, 4])
def test_closed_form_all_variants(variant, scale):
    m, f = SESR_VARIANTS[variant]
    t = sesr(variant, scale, 2, 10, 20)
    assert t.total("mac")[0] == 2 * 10 * 20 * (25 * f + 9 * m * f * f + 25 * f * scale**2)
    assert t.total("mac")[0] == 400 * sesr_mac_per_lr_pixel(variant, scale)


def test_xl_is_m11_with_32_features():
    assert SESR_VARIANTS["XL"] == (11, 32)
    assert sesr_mac_per_lr_pixel("XL", 2) == 25 * 32 + 9 * 11 * 32 * 32 + 25 * 32 * 4


def test_vectorized_over_sizes():
    h, w, b = np.array([64, 360, 1080]), np.array([64, 640, 1920]), np.array([32, 1, 2])
    vec = sesr("M7", 2, b, h, w)
    for i in range(3):
        one = sesr("M7", 2, int(b[i]), int(h[i]), int(w[i]))
        for fld in ("mac", "bytes_B"):
            assert vec.total(fld)[i] == pytest.approx(one.total(fld)[0], rel=1e-12)


def test_errors():
    with pytest.raises(KeyError, match="M6"):
        sesr("M6")
    with pytest.raises(ValueError, match="scale"):
        sesr("M5", 3)
    with pytest.raises(ValueError, match="lr_height"):
        sesr("M5", 2, 1, 0, 10)
