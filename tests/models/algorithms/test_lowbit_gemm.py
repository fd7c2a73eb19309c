import numpy as np
import pytest

from models.algorithms.lowbit_gemm import (
    bitserial_gemm,
    dequant_gemm,
    lmul_energy,
    lut_gemm,
    mixpe_gemm,
    native_gemm,
    price_gemm,
)
from models.hardware import get_target


def test_lut_cost_linear_in_weight_bits():
    ops = np.array(
        [lut_gemm(1, 4096, 4096, f"int{b}", "fp16").op_by_dtype["int8"][()] for b in (2, 3, 4, 8)]
    )
    bits = np.array([2, 3, 4, 8])
    # 2 ops x (1 lookup + 2 add slots) x n k b / g with g = 4
    assert np.allclose(ops, 2 * 3 * 4096 * 4096 * bits / 4)
    assert np.allclose(np.diff(ops) / np.diff(bits), ops[0] / 2)


def test_lut_table_size_and_capacity_error():
    c = lut_gemm(1, 4096, 4096, "int2", g=4)
    assert c.table_B[()] == pytest.approx(4096 / 4 * 8)  # k/g groups x 2^(g-1) int8 entries
    with pytest.raises(ValueError, match="onchip_capacity_B"):
        lut_gemm(1, 4096, 4096, "int2", g=4, onchip_capacity_B=1024)
    assert (
        lut_gemm(1, 4096, 4096, "int2", g=4, k_tile=128, onchip_capacity_B=1024).table_B[()] == 256
    )


def test_dequant_costs():
    c = dequant_gemm(1, 4096, 4096, "int4-g32", "int8")
    # 2 unpack + 1 scale slot per weight, 2 ops per slot; the MAC itself is the main work
    assert c.extra_op_by_dtype["int8"][()] == pytest.approx(2 * 3 * 4096 * 4096)
    assert c.op_by_dtype["int8"][()] == 2 * 4096 * 4096
    assert c.weight_read_B[()] == pytest.approx(4096 * 4096 * 4.5 / 8)


def test_native_checks_target():
    with pytest.raises(ValueError, match="native"):
        native_gemm(128, 128, 128, "int4", "int4", target=get_target("h100-sxm"))
    c = native_gemm(128, 128, 128, "int4", "int4", target=get_target("h100-sxm"), fallback=True)
    assert "int4" in c.op_by_dtype


def test_bitserial_and_mixpe():
    c = bitserial_gemm(16, 64, 64, "int4", "int8")
    assert c.op_by_dtype["int1"][()] == 2 * 16 * 64 * 64 * 32  # b_w x b_a = 4 x 8 one-bit GEMMs
    m = mixpe_gemm(16, 64, 128, "int4", "int8", group_size=64)
    assert m.extra_op_by_dtype["fp32"][()] == 2 * 16 * 64 * 2  # one dequant per group output
    with pytest.raises(ValueError, match="group_size"):
        mixpe_gemm(16, 64, 100, "int4", "int8", group_size=64)


def test_block_must_divide_k():
    with pytest.raises(ValueError, match="does not divide"):
        dequant_gemm(1, 64, 100, "int4-g32", "fp16")
    with pytest.raises(KeyError, match="strategy"):
        price_gemm("magic", 1, 64, 64, "int4", "fp16")


def test_lmul_energy_ratios():
    r = lmul_energy(100, mode="elementwise")
    assert r["saving"] == pytest.approx(1 - 0.1 / 3.7)
    assert lmul_energy(100, mode="dot")["saving"] == pytest.approx(1 - 1.0 / 4.6)
    with pytest.raises(ValueError, match="mode"):
        lmul_energy(1, mode="conv")


