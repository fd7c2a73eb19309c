import numpy as np
import pytest

from models.algorithms.quant import (
    apply_quant,
    effective_bits,
    get_format,
    grouped,
    parse_quant_config,
)
from models.workloads.ops import attention_op, gemv, table_from_ops


def test_effective_bits_hand_values():
    assert get_format("mxfp4").effective_bits == pytest.approx(4.25)  # 4 + 8/32 (E8M0 per 32)
    assert get_format("nf4").effective_bits == pytest.approx(4.25)  # 4 + 16/64
    assert get_format("int4-g128").effective_bits == pytest.approx(4.125)  # 4 + 16/128
    assert get_format("int4-g128-zp").effective_bits == pytest.approx(
        4 + 20 / 128
    )  # fp16 scale + 4-bit zero
    assert get_format("int2-g16-zp-fp8").effective_bits == pytest.approx(
        2.625
    )  # llama.cpp Q2_K size
    assert get_format("bfp12").effective_bits == pytest.approx(4.25)  # 4-bit mantissa + 8/32
    assert get_format("ternary").effective_bits == pytest.approx(np.log2(3))


def test_effective_bits_fall_with_group_size():
    g = np.array([16, 32, 64, 128, 256, 1024])
    for zp in (0.0, 4.0):
        b = effective_bits(4, g, 16.0, zp)
        assert np.all(np.diff(b) < 0) and np.all(b > 4)


def test_parse_configs():
    c = parse_quant_config("W4A16")
    assert (c.weight.name, c.act.name, c.kv.name) == ("int4", "fp16", "fp16")
    c = parse_quant_config("W4A4KV4")
    assert c.kv.name == "int4"
    assert parse_quant_config("W8A8").act.name == "int8"
    assert parse_quant_config("W4A16", weight_group_size=128).weight.name == "int4-g128"
    assert parse_quant_config("Wmxfp4Amxfp8").weight.name == "mxfp4"


def test_apply_quant_rescales_bytes_and_dtype():
    t = table_from_ops(
        [
            gemv("proj", 4096, 4096, dtype="fp16"),
            attention_op(
                "attn", 1, 32, 1, 1024, 128, dtype="fp16", kv_in_cache=True, phase="decode"
            ),
        ]
    )
    q = apply_quant(t, "W4A16KV8")
    assert q["weight_read_B"][0, 0] == pytest.approx(t["weight_read_B"][0, 0] / 4)  # 16 -> 4 bits
    assert q["kv_read_B"][0, 1] == pytest.approx(t["kv_read_B"][0, 1] / 2)  # 16 -> 8 bits
    assert q.meta["weight_dtype"][0] == "int4" and q.meta["compute_dtype"][0] == "fp16"


def test_native_requires_target_rate():
    from models.hardware import get_target

    t = table_from_ops([gemv("proj", 256, 256, dtype="fp16")])
    with pytest.raises(ValueError, match="native"):
        apply_quant(
            t, "W4A4", strategy="native", target=get_target("h100-sxm")
        )  # no int4 on Hopper
    assert (
        apply_quant(t, "W4A4", strategy="native", target=get_target("a100-80gb")).meta[
            "compute_dtype"
        ][0]
        == "int4"
    )


@pytest.mark.parametrize("bad", ["int5", "fp9", "mxfp3", "bogus-g64", ""])
def test_unknown_format(bad):
    with pytest.raises(KeyError, match="format"):
        get_format(bad)


def test_bad_inputs():
    with pytest.raises(ValueError, match="group_size"):
        grouped("int4", 0)
    with pytest.raises(ValueError, match="quant config"):
        parse_quant_config("X4Y16")
    with pytest.raises(KeyError, match="weight part"):
        parse_quant_config("W5A16")
