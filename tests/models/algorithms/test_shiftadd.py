"""ShiftAddViT primitives: hand counts, the table rewrite, the knobs through the one builder."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pytest

from models.algorithms.shiftadd import (
    PRIMITIVE_ENERGY_45NM_J,
    VIT_PRIMITIVES,
    add_attention_counts,
    apply_shiftadd,
    mult_linear_counts,
    primitive_energy_J,
    shift_linear_counts,
    split_tokens,
)
from models.hardware import get_target
from models.point import build_point
from models.point.knobs import applicable_knobs
from models.workloads import OperatorTable, build_workload

A100 = get_target("a100-80gb")


def _rows(t: OperatorTable) -> dict[str, tuple[int, Mapping[str, np.ndarray]]]:  # name -> (row, columns)
    return {n: (i, t.columns[i]) for i, n in enumerate(t.meta["name"].to_list())}


def test_shift_layer_counts_and_energy_by_hand() -> None:
    # 4 x 8 x 16 = 512 MACs -> 512 shifts + 512 adds, no multiply
    c = shift_linear_counts(4, 8, 16)
    assert float(c.n_mult) == 0 and float(c.n_add) == 512 and float(c.n_shift) == 512
    assert c.lane_ops == 4 * 512  # two lane slots per MAC, 2 ops each
    e = primitive_energy_J(c, bits=32)
    assert e == pytest.approx(512 * 0.13e-12 + 512 * 0.9e-12)  # n shifts x e_shift + n adds x e_add
    mult = mult_linear_counts(4, 8, 16)
    assert mult.lane_ops == 2 * 512  # a MAC is one slot
    assert primitive_energy_J(mult, bits=8) == pytest.approx(512 * (0.2e-12 + 0.03e-12))
    # the saving of shift over mult at 32 bit is the table's, 1 - (0.13 + 0.9) / (3.7 + 0.9)
    assert 1 - primitive_energy_J(c) / primitive_energy_J(mult) == pytest.approx(1 - 1.03 / 4.6)
    assert PRIMITIVE_ENERGY_45NM_J[32]["mult"] == 3.7e-12
    with pytest.raises(ValueError, match="bits=16"):
        primitive_energy_J(c, bits=16)


def test_add_attention_counts_by_hand() -> None:
    # 2 images x 3 heads, N = 10 tokens, d = 4: K^T V is 4 x 4 sums of 10, Q(KV) 10 x 4 sums of 4
    c = add_attention_counts(6, 10, 4)
    assert c.n_add == 6 * (4 * 4 * 10 + 10 * 4 * 4)
    assert c.n_mult == 0 and c.n_shift == 0


def test_split_tokens_and_its_errors() -> None:
    m_mult, m_shift = split_tokens(100, 0.25)
    assert float(m_mult) == 75 and float(m_shift) == 25
    for bad in (-0.1, 1.5, np.nan):
        with pytest.raises(ValueError, match="allowed: 0 <= fraction <= 1"):
            split_tokens(100, bad)


def test_mult_and_fraction_zero_leave_the_table_as_built() -> None:
    base = build_workload("vit-b16")
    assert apply_shiftadd(base, "mult") is base
    t = apply_shiftadd(base, "shift", 0.0)
    rb, rt = _rows(base), _rows(t)
    for nm in ("fc1", "fc2"):  # routing 0: every MLP token on the multiplication expert, rows as built
        assert rt[nm][1] is rb[nm][1]
    assert "moe_router" not in rt
    # through the builder: vit_mult_primitive = mult is the baseline table exactly
    b0 = build_point("vit-b16", {}, target=A100).table
    b1 = build_point("vit-b16", {"vit_mult_primitive": "mult"}, target=A100).table
    assert b0.meta.equals(b1.meta)
    assert all(np.array_equal(b0.columns[i][f], b1.columns[i][f]) for i in range(b0.n_ops) for f in ("flop", "m"))


def test_shift_rows_by_hand() -> None:
    base = build_workload("vit-b16")
    t = apply_shiftadd(base, "shift", 1.0)
    i, c = _rows(t)["fc1[shift]"]
    _, b = _rows(base)["fc1"]
    mnk = b["m"] * b["n"] * b["k"]
    assert np.array_equal(c["flop"], 4.0 * mnk)  # shift + add per MAC, 2 ops per lane slot
    assert t.meta["kind"][i] == "elementwise" and t.meta["compute_dtype"][i] == "int16"
    assert np.array_equal(c["weight_read_B"], b["n_params"] * 1.0)  # one byte per shift weight
    assert "fc1" not in _rows(t)  # fraction 1: no multiplication expert, no router


def test_routing_splits_tokens_and_adds_a_router() -> None:
    base = build_workload("vit-b16")
    t = apply_shiftadd(base, "shiftadd", 0.25)
    r, rb = _rows(t), _rows(base)
    m = rb["fc2"][1]["m"]
    assert np.allclose(r["fc2[mult-expert]"][1]["m"], 0.75 * m)
    assert np.allclose(r["fc2[shift]"][1]["m"], 0.25 * m)
    assert np.allclose(r["fc2[mult-expert]"][1]["flop"], 0.75 * rb["fc2"][1]["flop"])
    assert np.allclose(r["moe_router"][1]["flop"], 2 * m * 2 * rb["fc1"][1]["k"])
    assert "attention[add]" in r and "attention" not in r
    # the shift expert's weights are resident beside the multiplication expert's
    assert t.peak_memory_B["forward"] > base.peak_memory_B["forward"]
    # more tokens on the shift expert: fewer multiplications, more lane ops (shift + add per MAC)
    f = [float(apply_shiftadd(base, "shift", x).total("flop")[0]) for x in (0.0, 0.5, 1.0)]
    assert f[0] < f[1] < f[2]


def test_add_attention_row_by_hand() -> None:
    base = build_workload("vit-b16")
    t = apply_shiftadd(base, "add_attention")
    _, c = _rows(t)["attention[add]"]
    _, b = _rows(base)["attention"]
    n_tok, d = b["n"], b["k"]
    bh = b["m"] / n_tok
    assert np.allclose(c["flop"], 2.0 * 2.0 * bh * n_tok * d * d)
    # binary Q and K read at 1 bit each, V at 2 bytes (fp16)
    assert np.allclose(c["act_read_B"], 2 * bh * n_tok * d / 8 + bh * n_tok * d * 2)


def test_knobs_only_for_vit_and_named_errors() -> None:
    assert {"vit_mult_primitive", "shift_expert_fraction"} <= {p.name for p in applicable_knobs("vit-b16")}
    for w in ("resnet-50", "llama-2-7b"):
        assert not {"vit_mult_primitive", "shift_expert_fraction"} & {p.name for p in applicable_knobs(w)}
    with pytest.raises(ValueError, match="is not a ViT"):
        build_point("resnet-50", {"vit_mult_primitive": "shift"}, target=A100)
    with pytest.raises(ValueError, match="needs vit_mult_primitive = shift or shiftadd"):
        build_point("vit-b16", {"shift_expert_fraction": 0.5}, target=A100)
    with pytest.raises(ValueError, match="vit_mult_primitive"):
        build_point("vit-b16", {"vit_mult_primitive": "divide"}, target=A100)
    with pytest.raises(ValueError, match="allowed: mult, shift, add_attention, shiftadd"):
        apply_shiftadd(build_workload("vit-b16"), "divide")
    with pytest.raises(ValueError, match="not a ViT"):
        apply_shiftadd(build_workload("resnet-18"), "shift")
    assert VIT_PRIMITIVES == ("mult", "shift", "add_attention", "shiftadd")
