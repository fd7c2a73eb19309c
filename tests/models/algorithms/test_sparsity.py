"""Activation sparsity (spatial and delta) on zero-skipping engines, by hand; dense engines unchanged.

A zero-skipping engine is declared in the target file (``zero_skip_efficiency``,
``zero_skip_index_bits``); these tests make one from a preset, since no preset declares it yet.
"""

from __future__ import annotations

import dataclasses
import tomllib

import numpy as np
import pytest

from models.algorithms.sparsity import sparsity_cost
from models.hardware import Target, get_target, parse_target, target_to_toml
from models.hardware.loader import TargetFileError
from models.perf import evaluate_point
from models.point import applicable_knobs, build_point

H100 = get_target("h100-sxm")


def _skipping(t: Target, eta: float = 0.8, bits: float = 4.0) -> Target:
    """``t`` with every engine zero-skipping (efficiency ``eta``, ``bits`` index bits per nonzero)."""
    engines = tuple(dataclasses.replace(e, zero_skip_efficiency=eta, zero_skip_index_bits=bits,
                                        sources={**e.sources, "zero_skip_efficiency": "test",
                                                 "zero_skip_index_bits": "test"}) for e in t.engines)
    return dataclasses.replace(t, engines=engines, name=t.name + "-zs")


ZS = _skipping(H100)
GEMM = {"m": 64, "n": 128, "k": 256, "dtype": "fp16"}


def _f(x: object) -> float:
    return float(np.asarray(x, dtype=np.float64).reshape(-1)[0])


def test_closed_form_spatial() -> None:
    # flop 1000, 100 input elements of 2 B (200 B), s = 0.5, eta = 0.8, 4 index bits per nonzero:
    # kept = 1 - 0.8 * 0.5 = 0.6 -> flop 600; reads 200 * 0.6 + 100 * 0.5 * 4 / 8 = 120 + 25 = 145 B
    c = sparsity_cost(flop=1000.0, act_read_B=200.0, act_write_B=50.0, bytes_per_element=2.0, sparsity=0.5,
                      skip_efficiency=0.8, index_bits=4.0)
    assert _f(c.flop) == pytest.approx(600.0)
    assert _f(c.skipped_flop) == pytest.approx(400.0)
    assert _f(c.act_read_B) == pytest.approx(145.0)
    assert _f(c.act_write_B) == 50.0 and _f(c.state_B) == 0.0


def test_closed_form_delta_state() -> None:
    # delta adds the previous input (200 B) and previous output (50 B) read, the changed half of the
    # input reference written (0.5 * 200 = 100 B), and 250 B of state
    c = sparsity_cost(flop=1000.0, act_read_B=200.0, act_write_B=50.0, bytes_per_element=2.0, sparsity=0.5,
                      mode="delta", skip_efficiency=0.8, index_bits=4.0)
    assert _f(c.flop) == pytest.approx(600.0)
    assert _f(c.act_read_B) == pytest.approx(145.0 + 250.0)
    assert _f(c.act_write_B) == pytest.approx(150.0)
    assert _f(c.state_B) == pytest.approx(250.0)


def test_dense_engine_changes_nothing() -> None:
    c = sparsity_cost(flop=1000.0, act_read_B=200.0, act_write_B=50.0, bytes_per_element=2.0, sparsity=0.9,
                      mode="delta", skip_efficiency=None)
    assert (_f(c.flop), _f(c.act_read_B), _f(c.act_write_B), _f(c.state_B)) == (1000.0, 200.0, 50.0, 0.0)


def test_builder_skips_macs_only_on_a_zero_skipping_target() -> None:
    dense0 = build_point("gemm", GEMM, target=H100)
    dense = build_point("gemm", {**GEMM, "act_sparsity": 0.75}, target=H100)
    assert _f(dense.table.columns[0]["flop"]) == _f(dense0.table.columns[0]["flop"])
    assert any("does not declare zero-skipping" in n for n in dense.notes)
    sparse = build_point("gemm", {**GEMM, "act_sparsity": 0.75}, target=ZS)
    # skipped MACs: flop (1 - 0.8 * 0.75) = 0.4 x the dense 2 * 64 * 128 * 256
    assert _f(sparse.table.columns[0]["flop"]) == pytest.approx(0.4 * 2 * 64 * 128 * 256)
    assert not sparse.notes


def test_delta_state_is_resident_memory() -> None:
    # delta state of the GEMM: input 64*256*2 B + output 64*128*2 B = 32768 + 16384 = 49152 B
    base = build_point("gemm", GEMM, target=ZS).table
    d = build_point("gemm", {**GEMM, "act_sparsity": 0.5, "sparsity_mode": "delta"}, target=ZS).table
    assert _f(d.peak_memory_B["forward"]) - _f(base.peak_memory_B["forward"]) == pytest.approx(49152.0)


def test_sparsity_speeds_up_a_compute_bound_gemm_on_a_skipping_target_only() -> None:
    big = {"m": 4096, "n": 4096, "k": 4096, "dtype": "fp16"}

    def lat(t: Target, s: float) -> float:
        return _f(evaluate_point(t, "gemm", {**big, "act_sparsity": s}).perf.metrics()["latency_s"])

    assert lat(ZS, 0.5) < lat(ZS, 0.0)
    assert lat(H100, 0.5) == lat(H100, 0.0)


def test_bad_values_are_named() -> None:
    with pytest.raises(ValueError, match="act_sparsity"):
        build_point("gemm", {**GEMM, "act_sparsity": 1.5}, target=ZS)
    with pytest.raises(ValueError, match="sparsity_mode"):
        build_point("gemm", {**GEMM, "act_sparsity": 0.5, "sparsity_mode": "temporal"}, target=ZS)
    with pytest.raises(ValueError, match="sparsity_mode' = 'delta' needs act_sparsity"):
        build_point("gemm", {**GEMM, "sparsity_mode": "delta"}, target=ZS)
    with pytest.raises(ValueError, match=r"allowed: a fraction in \[0, 1\)"):
        sparsity_cost(flop=1.0, act_read_B=1.0, act_write_B=1.0, bytes_per_element=2.0, sparsity=1.0,
                      skip_efficiency=0.5)
    with pytest.raises(ValueError, match="zero_skip_efficiency"):
        sparsity_cost(flop=1.0, act_read_B=1.0, act_write_B=1.0, bytes_per_element=2.0, sparsity=0.5,
                      skip_efficiency=1.5)


def test_the_default_zero_sparsity_is_the_table_as_built() -> None:
    # act_sparsity 0 (its default, as a dashboard or a space passes it) changes nothing even on a
    # zero-skipping engine (no index overhead) and is allowed on a workload without MAC rows
    base = build_point("gemm", GEMM, target=ZS).table
    zero = build_point("gemm", {**GEMM, "act_sparsity": 0.0, "sparsity_mode": "spatial"}, target=ZS).table
    assert _f(zero.columns[0]["act_read_B"]) == _f(base.columns[0]["act_read_B"])
    build_point("softmax", {"act_sparsity": 0.0}, target=ZS)
    with pytest.raises(ValueError, match="act_sparsity.*no weight-bearing MAC rows"):
        build_point("softmax", {"act_sparsity": 0.5}, target=ZS)


def test_target_file_round_trip_and_errors() -> None:
    doc = tomllib.loads(target_to_toml(ZS))
    back = parse_target(doc)
    assert back.engines[0].zero_skip_efficiency == pytest.approx(0.8)
    assert back.engines[0].zero_skip_index_bits == pytest.approx(4.0)
    assert f"engines.{back.engines[0].name}.zero_skip_efficiency" in back.numeric_fields()
    bad = tomllib.loads(target_to_toml(ZS))
    del bad["engines"][0]["zero_skip_index_bits"]
    with pytest.raises(TargetFileError, match="zero_skip_index_bits"):
        parse_target(bad)
    bad = tomllib.loads(target_to_toml(ZS))
    bad["engines"][0]["zero_skip_efficiency"]["value"] = 1.5
    with pytest.raises(TargetFileError, match="zero_skip_efficiency"):
        parse_target(bad)
    # a dense preset has no such field
    assert all(e.zero_skip_efficiency is None for e in H100.engines)


def test_knobs_listed_where_mac_rows_are() -> None:
    assert {"act_sparsity", "sparsity_mode"} <= {p.name for p in applicable_knobs("resnet-50")}
    assert "act_sparsity" not in {p.name for p in applicable_knobs("softmax")}


def test_evaluate_says_when_sparsity_changes_nothing(capsys) -> None:
    """A dense target ignores act_sparsity: `tradespace evaluate` prints why (text and JSON), and the
    latency is the dense one."""
    import json

    from app.cli import main

    assert main(["evaluate", "--target", "h100-sxm", "--workload", "resnet-50", "--set", "act_sparsity=0.5",
                 "--json"]) == 0
    sparse = json.loads(capsys.readouterr().out)
    assert main(["evaluate", "--target", "h100-sxm", "--workload", "resnet-50", "--json"]) == 0
    dense = json.loads(capsys.readouterr().out)
    assert sparse["totals"]["latency_s"] == dense["totals"]["latency_s"] and dense["notes"] == []
    assert len(sparse["notes"]) == 1 and "does not declare zero-skipping" in sparse["notes"][0]
    assert main(["evaluate", "--target", "h100-sxm", "--workload", "resnet-50", "--set", "act_sparsity=0.5",
                 "--top", "0"]) == 0
    assert "note         act_sparsity: no change" in capsys.readouterr().out


def test_zero_skipping_fields_are_not_overrides() -> None:
    """The builder reads zero-skipping from the target, so an override (which only reaches the
    kernel's compiled arrays) would silently change nothing: it is refused with a reason."""
    import dataclasses

    from models.hardware import get_target
    from models.perf import evaluate_point
    from models.point.knobs import SettingError

    h = get_target("h100-sxm")
    engines = tuple(dataclasses.replace(e, zero_skip_efficiency=0.9, zero_skip_index_bits=4.0) for e in h.engines)
    skip = dataclasses.replace(h, engines=engines)
    assert "engines.tensor.zero_skip_efficiency" in skip.numeric_fields()
    for field in ("zero_skip_efficiency", "zero_skip_index_bits"):
        with pytest.raises(SettingError, match="not an override; allowed: set it in a target file"):
            evaluate_point(skip, "resnet-50", {f"target.engines.tensor.{field}": 0.5})
