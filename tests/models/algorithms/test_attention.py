import numpy as np
import pytest

from models.algorithms.attention import (
    attention_flop,
    cascade_attention,
    decode_attention,
    flash_attention,
    flash_block_sizes,
    standard_attention,
)


def test_block_sizes_formula():
    br, bc = flash_block_sizes(100_000, 64)  # M = 50,000 fp16 elements
    assert bc == np.ceil(50_000 / 256) and br == 64
    br, bc = flash_block_sizes(16_384, 128)  # M = 8192 -> Bc = 16, Br = 16
    assert (br, bc) == (16, 16)


def test_sram_too_small():
    with pytest.raises(ValueError, match="sram_B"):
        flash_block_sizes(500, 128)


def test_flop_convention():
    assert attention_flop(2, 16, 1024, 1024, 64) == 4 * 2 * 1024 * 1024 * 16 * 64
    assert attention_flop(2, 16, 1024, 1024, 64, causal=True) == 2 * 2 * 1024 * 1024 * 16 * 64


def test_traffic_falls_with_sram_and_respects_compulsory():
    sram = np.array([8e3, 16e3, 32e3, 64e3, 128e3, 256e3, 1e6, 1e9])
    for v in (1, 2):
        c = flash_attention(1, 16, 4096, 4096, 64, sram_B=sram, version=v)
        assert np.all(np.diff(c.dram_B) <= 0)
        assert np.all(c.dram_B >= c.compulsory_B)
    big = flash_attention(1, 16, 4096, 4096, 64, sram_B=1e9)  # Tr = 4096/64 = 64 passes over K, V
    assert big.dram_B[()] == pytest.approx(
        16 * (2 * (2 * 4096 * 64 + 2 * 4096 * 64 * 64) + 4 * 4096)
    )


def test_standard_vs_flash_hand_values():
    s = standard_attention(1, 1, 1024, 1024, 64)
    assert s.dram_B[()] == 2 * (4 * 1024 * 64 + 4 * 1024 * 1024)  # Q,K,V,O + S,P written and read
    f = flash_attention(
        1, 1, 1024, 1024, 64, sram_B=65536
    )  # M = 32768 fp16 -> Bc = 32768/256 = 128, Br = min(128, 64)
    assert (f.block_rows[()], f.block_cols[()]) == (64, 128)
    # FA-2: Q, O once, K, V Tr = 16 times, plus 4 B logsumexp per row
    assert f.dram_B[()] == 2 * (2 * 1024 * 64 + 2 * 1024 * 64 * 16) + 4 * 1024


def test_parallelism_occupancy():
    c = flash_attention(1, 1, 1024, 1024, 64, sram_B=65536, n_units=108)  # Br = 64 -> 16 blocks
    assert c.n_blocks[()] == 16 and c.occupancy[()] == pytest.approx(16 / 108)
    c1 = flash_attention(1, 1, 1024, 1024, 64, sram_B=65536, n_units=108, version=1)
    assert c1.n_blocks[()] == 1


def test_backward_recompute_flops():
    f = flash_attention(2, 8, 512, 512, 64, sram_B=1e5)
    b = flash_attention(2, 8, 512, 512, 64, sram_B=1e5, backward=True)
    assert b.matmul_flop[()] == pytest.approx(2.5 * f.matmul_flop[()])


def test_block_must_divide():
    with pytest.raises(ValueError, match="block_rows"):
        flash_attention(1, 1, 1000, 1000, 64, sram_B=1e5, block_rows=64)


def test_cascade_passes():
    c = cascade_attention(1, 1, 4096, 4096, 64, n_passes=np.array([1, 2, 3]), onchip_B=1024)
    assert np.all(np.diff(c.dram_B) > 0) and c.dram_B[0] == c.compulsory_B[0]
    with pytest.raises(ValueError, match="n_passes"):
        cascade_attention(1, 1, 64, 64, 64, n_passes=4, onchip_B=1e6)


def test_decode_gqa_op_per_byte():
    # Op/B = 2 g / b_kv ignoring Q and O: g = 4 with fp16 -> ~4, int8 KV doubles it
    a16 = decode_attention(1, 32, 8, 65536, 128)
    a8 = decode_attention(1, 32, 8, 65536, 128, kv_format="int8")
    assert a16.intensity_FLOP_per_B[()] == pytest.approx(4.0, rel=0.01)
    assert a8.intensity_FLOP_per_B[()] == pytest.approx(8.0, rel=0.01)
    with pytest.raises(ValueError, match="n_kv_heads"):
        decode_attention(1, 32, 6, 128, 128)


