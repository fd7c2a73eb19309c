import numpy as np
import pytest

from models.algorithms.error_proxy import nf4_levels, quant_error, quantize, synthetic_tensor

FAMILIES = [
    ["int2", "int3", "int4", "int8"],
    ["fp4", "fp6", "fp8_e4m3", "fp16", "fp32"],
    ["mxfp4", "mxfp6", "mxfp8"],
    ["bfp10", "bfp12", "bfp16"],
    ["int4-g32", "int8-g32"],
]


@pytest.mark.parametrize("fam", FAMILIES)
@pytest.mark.parametrize("outliers", [0.0, 0.01])
def test_error_falls_with_bits(fam, outliers):
    s = [quant_error(f, size=4096, outlier_fraction=outliers).sqnr_dB for f in fam]
    assert all(b > a for a, b in zip(s, s[1:], strict=False)), dict(zip(fam, s, strict=True))


def test_int8_sqnr_closed_form():
    # uniform quantizer, step = 2 amax / 254: noise var step^2/12; Gaussian of unit variance
    x = synthetic_tensor(0, 4096, 0.0, 10.0)
    step = np.max(np.abs(x)) / 127
    expect = 10 * np.log10(np.mean(x**2) / (step**2 / 12))
    assert quant_error("int8", size=4096).sqnr_dB == pytest.approx(expect, abs=0.5)


def test_fp16_exact_values_roundtrip():
    x = np.array([1.0, 0.5, -2.0, 65504.0, 3.0] * 8)
    assert np.array_equal(quantize(x, "fp16"), x)
    assert quantize(np.array([1e6] * 32), "fp16")[0] == 65504.0  # saturates at the fp16 maximum


def test_fp4_grid():
    # E2M1 values: 0, 0.5, 1, 1.5, 2, 3, 4, 6 (OCP MX spec); per-tensor scale maps absmax 6 -> 6
    x = np.array([6.0, 2.9, 0.74, 5.1] + [0.0] * 28)
    assert quantize(x, "fp4")[:4].tolist() == [6.0, 3.0, 0.5, 6.0 if 5.1 > 5 else 4.0]


def test_outliers_hurt_per_tensor_more_than_blocks():
    clean = (
        quant_error("int4", size=4096).sqnr_dB
        - quant_error("int4", size=4096, outlier_fraction=0.01).sqnr_dB
    )
    block = (
        quant_error("int4-g32", size=4096).sqnr_dB
        - quant_error("int4-g32", size=4096, outlier_fraction=0.01).sqnr_dB
    )
    assert clean > block


def test_nf4_levels():
    lv = nf4_levels()
    assert lv.size == 16 and lv[0] == -1.0 and lv[-1] == 1.0 and 0.0 in lv


def test_cached_and_seeded():
    a = quant_error("mxfp4", seed=3, size=1024)
    assert quant_error("mxfp4", seed=3, size=1024) is a
    assert quant_error("mxfp4", seed=4, size=1024).sqnr_dB != a.sqnr_dB


def test_bad_inputs():
    with pytest.raises(ValueError, match="outlier_fraction"):
        quant_error("int8", outlier_fraction=2.0)
    with pytest.raises(ValueError, match="block_size"):
        quant_error("mxfp4", size=100)
    with pytest.raises(KeyError):
        quant_error("int7")
