"""A memory level's ``efficiency_by_kind``: an operator of a listed kind draws ``bandwidth x
efficiency_by_kind[kind]`` from the level (under the per-core and sustained caps) in place of
``bandwidth x efficiency``; every other kind is priced as before.

Every expected value is computed by hand from the round numbers of the toy target.
"""

from __future__ import annotations

import tomllib

import numpy as np
import pytest

from models.hardware import parse_target, with_overrides
from models.hardware.loader import TargetFileError, load_target_file, target_to_toml
from models.perf import compile_target, evaluate
from models.workloads import elementwise, gemm, table_from_ops
from tests.models._toy import toy_target

# 8 cores over a 100 GB/s DRAM: one core draws at most 4 GB/s, the complex 22 GB/s; a GEMM
# kernel class draws 10% of the level (10 GB/s), below both caps.
KIND = 'efficiency_by_kind = { gemm = { value = 0.1, source = "test: a GEMV kernel" } }\n'
CAPS = ('per_unit_bandwidth = { value = 4, unit = "GB/s", source = "test: one core" }\n'
        'sustained_bandwidth = { value = 22, unit = "GB/s", source = "test: the complex" }\n')

# a GEMV streaming a 1e8 x 10 fp32 weight (4e9 B of weights; 2e9 FLOP is 0.25 ms on the 8
# cores, far below any memory time here), and an elementwise op of 1.2e9 B
W = gemm("w", 1, 1e8, 10, dtype="fp32", weight_dtype="fp32")
E = elementwise("e", 1e8, dtype="fp32", n_inputs=2)
TABLE = table_from_ops([W, E])
W_BYTES = (10 + 1e8 + 10 * 1e8) * 4.0
E_BYTES = 3 * 1e8 * 4.0


@pytest.fixture(scope="module")
def toy():
    return parse_target(tomllib.loads(toy_target("toykind", n_units=8, sram=False, dram_extra=CAPS + KIND)))


def test_the_listed_kind_draws_its_fraction_and_others_do_not(toy):
    assert toy.memory("dram").efficiency_by_kind == {"gemm": 0.1}
    r = evaluate(toy, TABLE)
    # gemm: min(100 x 0.1, 8 x 4, 22) = 10 GB/s; elementwise: min(100, 32, 22) = 22 GB/s
    np.testing.assert_allclose(r.op_memory_s[0], [W_BYTES / 10e9, E_BYTES / 22e9], rtol=1e-12)
    # the bytes still cost the level's energy per byte (10 pJ/B): the fraction is time, not traffic
    plain = evaluate(toy.replace(memories=tuple(m.__class__(**{**m.__dict__, "efficiency_by_kind": {}})
                                                for m in toy.memories)), TABLE)
    np.testing.assert_allclose(plain.op_memory_s[0], [W_BYTES / 22e9, E_BYTES / 22e9], rtol=1e-12)
    np.testing.assert_allclose(r.dynamic_energy_J, plain.dynamic_energy_J, rtol=1e-12)
    np.testing.assert_allclose(r.dynamic_energy_J, (W_BYTES + E_BYTES) * 10e-12 + (2e9 + 1e8) * 1e-12, rtol=1e-9)


def test_the_caps_still_bind_above_the_kind_fraction(toy):
    # a fraction of 0.5 -> 50 GB/s, above the complex's 22: the cap binds
    t = with_overrides(toy, {"memories.dram.efficiency_by_kind.gemm": 0.5})
    assert evaluate(t, TABLE).op_memory_s[0, 0] == pytest.approx(W_BYTES / 22e9)


def test_sweeping_the_fraction_equals_one_point_at_a_time(toy):
    values = np.array([0.02, 0.1, 0.15, 0.22, 0.6, 1.0])
    swept = evaluate(compile_target(toy, {"memories.dram.efficiency_by_kind.gemm": values}), TABLE)
    one = [evaluate(with_overrides(toy, {"memories.dram.efficiency_by_kind.gemm": float(v)}), TABLE).latency_s[0]
           for v in values]
    np.testing.assert_allclose(swept.latency_s, one, rtol=1e-12)
    np.testing.assert_allclose(swept.op_memory_s[:, 0], W_BYTES / np.minimum(100e9 * values, 22e9), rtol=1e-12)
    np.testing.assert_allclose(swept.op_memory_s[:, 1], E_BYTES / 22e9, rtol=1e-12)


def test_ideal_mode_ignores_it(toy):
    r = evaluate(toy, TABLE, mode="ideal")
    # ideal: peak bandwidth under the caps, for every kind
    np.testing.assert_allclose(r.op_memory_s[0], [W_BYTES / 22e9, E_BYTES / 22e9], rtol=1e-12)


def test_adding_it_to_a_level_without_one():
    t = parse_target(tomllib.loads(toy_target("toyplain", n_units=8, sram=False, dram_extra=CAPS)))
    assert "memories.dram.efficiency_by_kind.gemm" not in t.numeric_fields()
    t2 = with_overrides(t, {"memories.dram.efficiency_by_kind.gemm": 0.1})
    assert evaluate(t2, TABLE).op_memory_s[0, 0] == pytest.approx(W_BYTES / 10e9)


def test_round_trips_through_toml(toy, tmp_path):
    p = tmp_path / "toykind.toml"
    p.write_text(target_to_toml(toy))
    back = load_target_file(p)
    assert back.memory("dram").efficiency_by_kind == {"gemm": 0.1}
    assert back.memory("dram").sources["efficiency_by_kind.gemm"] == "test: a GEMV kernel"


@pytest.mark.parametrize(("entry", "message"), [
    ('efficiency_by_kind = { fft = { value = 0.1, source = "test" } }',
     r"memories\.dram\.efficiency_by_kind\.fft.*unknown operator kind; allowed: .*gemm"),
    ('efficiency_by_kind = { gemm = { value = 1.5, source = "test" } }',
     r"memories\.dram\.efficiency_by_kind\.gemm.*1\.5"),
    ('efficiency_by_kind = { gemm = { value = 0, source = "test" } }',
     r"memories\.dram\.efficiency_by_kind\.gemm"),
    ('efficiency_by_kind = 0.1', r"memories\.dram\.efficiency_by_kind.*a table keyed by operator kind"),
])
def test_bad_entries_are_refused_by_name(entry, message, tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text(toy_target("bad", sram=False, dram_extra=entry + "\n"))
    with pytest.raises(TargetFileError, match=message):
        load_target_file(p)
