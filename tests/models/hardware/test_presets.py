"""The shipped presets: coverage of the five classes, a source for every number, and peaks and
ridge points derived from units x rate x clock against the published datasheet figures."""

from __future__ import annotations

import pytest

from models.hardware import TARGET_CLASSES, available_targets, get_target, load_all_targets

ALL = available_targets()


def test_at_least_18_presets_covering_all_classes():
    targets = load_all_targets()
    assert len(targets) >= 18
    assert {t.target_class for t in targets} == set(TARGET_CLASSES)


@pytest.mark.parametrize("name", ALL)
def test_every_number_has_a_source(name):
    t = get_target(name)
    for path, (value, _spec, source) in t.numeric_fields().items():
        if path.startswith("memories.") and path.endswith(".efficiency") and value == 1.0:
            continue  # the ideal default, documented as such
        assert source and len(source.strip()) >= 3, f"{name}: {path} has no source"


# Published dense peaks (published-numbers.md B1, section D case 1). The presets hold units,
# per-unit rates and clocks; the products must land on the datasheet peaks.
PEAKS = [
    ("a100-80gb", "bf16", 312e12),
    ("h100-sxm", "bf16", 989e12),
    ("v100-sxm2", "fp16", 125e12),
    ("rtx-2080-ti", "fp16", 107.6e12),
]


@pytest.mark.parametrize(("name", "dtype", "published"), PEAKS)
def test_peak_from_units_rate_and_clock(name, dtype, published):
    t = get_target(name)
    e = max(t.engines, key=lambda e: e.peak_op_per_s(dtype, t.clock_Hz))
    clock = e.clock_Hz or t.clock_Hz
    derived = e.n_units * e.ops_per_cycle[dtype] * clock  # recomputed here, not via the model
    assert derived == pytest.approx(published, rel=0.02)
    assert t.peak_op_per_s(dtype) == pytest.approx(derived)


# BF16 dense FLOP per DRAM byte (published-numbers.md B1 ridge points).
RIDGES = [("a100-80gb", 153.0), ("h100-sxm", 295.0), ("h200", 206.0)]


@pytest.mark.parametrize(("name", "published"), RIDGES)
def test_ridge_point(name, published):
    t = get_target(name)
    assert t.ridge_point_FLOP_per_B("bf16") == pytest.approx(published, rel=0.02)
