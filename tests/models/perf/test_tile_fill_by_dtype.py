"""An engine's ``efficiency_half_m_by_dtype``: the tile-fill curve of one datatype, in place of the
kind's ``efficiency_half_m`` for operators the engine computes in that datatype.

Expected values are computed by hand from the toy's round numbers.
"""

from __future__ import annotations

import tomllib

import numpy as np
import pytest

from models.hardware import parse_target, with_overrides
from models.hardware.loader import TargetFileError, load_target_file, target_to_toml
from models.perf import compile_target, evaluate
from models.workloads import gemm, table_from_ops
from tests.models._toy import toy_target

# 1 GHz, one unit: fp32 1000 FLOP/cycle (1e12 FLOP/s), bf16 2000 (2e12); a 1 PB/s memory that
# never binds here. fp32 fills half its tiles at m = 8, bf16 at m = 24.
FP32_CURVE = 'efficiency_half_m = { gemm = { value = 8, source = "test: fp32 tiles" } }'


def _toy_text(by_dtype: str) -> str:
    return toy_target("toytile", sram=False, bf16_ops_per_cycle=2000, dram_GB_per_s=1e6,
                      engine_extra=FP32_CURVE + "\n" + by_dtype)


BY_DTYPE = 'efficiency_half_m_by_dtype = { bf16 = { gemm = { value = 24, source = "test: bf16 tiles" } } }'

M, N, K = 8, 4096, 4096
FLOP = 2.0 * M * N * K


def _table(dtype: str):
    return table_from_ops([gemm("w", M, N, K, dtype=dtype, weight_dtype=dtype)])


@pytest.fixture(scope="module")
def toy():
    return parse_target(tomllib.loads(_toy_text(BY_DTYPE)))


def test_each_datatype_fills_its_own_tiles(toy):
    assert toy.engine("simd").efficiency_half_m_by_dtype == {"bf16": {"gemm": 24.0}}
    # fp32: 2.68e8 FLOP / 1e12 x (8 + 8) / 8; bf16: / 2e12 x (8 + 24) / 8
    fp32 = evaluate(toy, _table("fp32")).op_compute_s[0, 0]
    bf16 = evaluate(toy, _table("bf16")).op_compute_s[0, 0]
    assert fp32 == pytest.approx(FLOP / 1e12 * 2.0)
    assert bf16 == pytest.approx(FLOP / 2e12 * 4.0)
    # without the entry bf16 takes the kind's curve
    plain = parse_target(tomllib.loads(_toy_text("")))
    assert evaluate(plain, _table("bf16")).op_compute_s[0, 0] == pytest.approx(FLOP / 2e12 * 2.0)
    assert "engines.simd.efficiency_half_m_by_dtype.bf16.gemm" not in plain.numeric_fields()


def test_a_fallback_uses_the_curve_of_the_datatype_computed():
    # fp16 is not native here: it runs in fp32 (fallback chain fp16 -> fp32), so an fp32 entry
    # (12) applies to it, not the kind's 8 that an fp16 lookup would find
    t = parse_target(tomllib.loads(_toy_text(BY_DTYPE.replace("bf16 = {", "fp32 = { gemm = { value = 12, "
                                                                        "source = \"test\" } }, bf16 = {"))))
    assert t.engine("simd").efficiency_half_m_by_dtype == {"fp32": {"gemm": 12.0}, "bf16": {"gemm": 24.0}}
    r = evaluate(t, _table("fp16"))
    assert r.op_compute_s[0, 0] == pytest.approx(FLOP / 1e12 * (M + 12.0) / M)
    assert evaluate(t, _table("fp32")).op_compute_s[0, 0] == pytest.approx(FLOP / 1e12 * (M + 12.0) / M)


def test_sweeping_it_equals_one_point_at_a_time(toy):
    path = "engines.simd.efficiency_half_m_by_dtype.bf16.gemm"
    values = np.array([0.5, 8.0, 24.0, 100.0])
    swept = evaluate(compile_target(toy, {path: values}), _table("bf16"))
    one = [evaluate(with_overrides(toy, {path: float(v)}), _table("bf16")).latency_s[0] for v in values]
    np.testing.assert_allclose(swept.latency_s, one, rtol=1e-12)
    np.testing.assert_allclose(swept.op_compute_s[:, 0], FLOP / 2e12 * (M + values) / M, rtol=1e-12)
    # the fp32 curve is untouched by the bf16 entry
    np.testing.assert_allclose(evaluate(compile_target(toy, {path: values}), _table("fp32")).op_compute_s[:, 0],
                               FLOP / 1e12 * 2.0, rtol=1e-12)
    # added to a target without one
    plain = parse_target(tomllib.loads(_toy_text("")))
    assert evaluate(with_overrides(plain, {path: 24.0}), _table("bf16")).op_compute_s[0, 0] == \
        pytest.approx(FLOP / 2e12 * 4.0)
    # not for a datatype the engine runs in a fallback (fp16 here runs in fp32)
    with pytest.raises(KeyError, match="efficiency_half_m_by_dtype.fp16.gemm"):
        with_overrides(plain, {"engines.simd.efficiency_half_m_by_dtype.fp16.gemm": 24.0})


def test_round_trips_through_toml(toy, tmp_path):
    p = tmp_path / "toytile.toml"
    p.write_text(target_to_toml(toy))
    back = load_target_file(p)
    assert back.engine("simd").efficiency_half_m_by_dtype == {"bf16": {"gemm": 24.0}}
    assert back.engine("simd").sources["efficiency_half_m_by_dtype.bf16.gemm"] == "test: bf16 tiles"


@pytest.mark.parametrize(("entry", "message"), [
    ('efficiency_half_m_by_dtype = { bf17 = { gemm = { value = 24, source = "test" } } }',
     r"efficiency_half_m_by_dtype\.bf17.*unknown datatype; allowed: .*bf16"),
    ('efficiency_half_m_by_dtype = { bf16 = { fft = { value = 24, source = "test" } } }',
     r"efficiency_half_m_by_dtype\.bf16\.fft.*unknown operator kind"),
    ('efficiency_half_m_by_dtype = { bf16 = { gemm = { value = -1, source = "test" } } }',
     r"efficiency_half_m_by_dtype\.bf16\.gemm"),
    ('efficiency_half_m_by_dtype = 3', r"efficiency_half_m_by_dtype.*a table keyed by datatype"),
    # fp16 is not native on the toy (it runs in fp32): a curve for it would never apply
    ('efficiency_half_m_by_dtype = { fp16 = { gemm = { value = 24, source = "test" } } }',
     r"efficiency_half_m_by_dtype\.fp16.*a datatype the engine computes in \(its ops_per_cycle: fp32, bf16\)"),
])
def test_bad_entries_are_refused_by_name(entry, message, tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text(_toy_text(entry))
    with pytest.raises(TargetFileError, match=message):
        load_target_file(p)
