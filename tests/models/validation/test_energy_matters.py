"""The energy cases constrain the energy model: tripling a preset's energy coefficients must break one.

For every preset that has an energy or power case with role ``check`` within tolerance, the test
builds a copy of the preset with every energy coefficient multiplied by ``ENERGY_SCALE`` (each
engine's energy per operation for every datatype, each memory level's energy per byte, the
static power and the stall power) and runs that preset's energy/power checks through the public path
(:func:`models.validation.evaluate_case` -> ``point.metric`` -> :func:`models.perf.evaluate_point`,
which takes a :class:`~models.hardware.Target` as readily as a preset name). At least one case must
then leave its tolerance: a suite whose energy checks all survive a 3x error in every joule would
not be checking the energy model at all.

Planting the bug (``ENERGY_SCALE = 1.0``) makes ``test_tripled_energy_breaks_an_energy_check``
fail for every preset, which is how the test was checked.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict

import pytest

from models.hardware import Target, get_target
from models.validation import ValidationCase, evaluate_case, load_cases

ENERGY_SCALE = 3.0
_ENERGY_GROUPS = ("energy", "power")


def scale_energy(target: Target, factor: float) -> Target:
    """``target`` with every energy coefficient (J/op per engine and datatype, J/B per memory
    level, static W and stall W) multiplied by ``factor``; rates, bandwidths and efficiencies untouched."""
    engines = tuple(
        dataclasses.replace(e, energy_J_per_op={d: v * factor for d, v in e.energy_J_per_op.items()})
        for e in target.engines
    )
    memories = tuple(dataclasses.replace(m, energy_J_per_B=m.energy_J_per_B * factor) for m in target.memories)
    stall = None if target.stall_power_W is None else target.stall_power_W * factor
    return dataclasses.replace(target, engines=engines, memories=memories,
                               static_power_W=target.static_power_W * factor, stall_power_W=stall)


def _with_target(case: ValidationCase, target: Target) -> ValidationCase:
    return dataclasses.replace(case, params={**case.params, "target": target})


def _energy_checks_by_preset() -> dict[str, list[ValidationCase]]:
    """Energy/power cases with role check, evaluated by point.metric on a preset, grouped by preset."""
    out: dict[str, list[ValidationCase]] = defaultdict(list)
    for c in load_cases():
        if c.role == "check" and c.group in _ENERGY_GROUPS and c.predictor == "point.metric":
            out[str(c.params["target"])].append(c)
    return dict(out)


_BY_PRESET = _energy_checks_by_preset()


def test_some_preset_has_an_energy_check() -> None:
    # Without one the test below would pass vacuously.
    assert _BY_PRESET, "no energy or power case with role 'check' in data/validation"


@pytest.mark.parametrize("preset", sorted(_BY_PRESET))
def test_energy_checks_hold_through_a_target_object(preset: str) -> None:
    # The unmodified preset passed as a Target object gives the numbers of the preset name:
    # the scaled run below goes through the same path.
    t = get_target(preset)
    for c in _BY_PRESET[preset]:
        by_name, by_object = evaluate_case(c), evaluate_case(_with_target(c, t))
        assert by_object.predicted == pytest.approx(by_name.predicted, rel=1e-12)
        assert by_name.within_tolerance, c.id


@pytest.mark.parametrize("preset", sorted(_BY_PRESET))
def test_tripled_energy_breaks_an_energy_check(preset: str) -> None:
    t = scale_energy(get_target(preset), ENERGY_SCALE)
    results = [evaluate_case(_with_target(c, t)) for c in _BY_PRESET[preset]]
    report = ", ".join(f"{r.case.id}: {r.relative_error:+.1%} (tol {r.case.tolerance:.0%})" for r in results)
    assert any(not r.within_tolerance for r in results), (
        f"{preset}: every energy/power check stays within tolerance with all energy coefficients x{ENERGY_SCALE}: "
        f"{report}")


def test_scale_energy_scales_every_coefficient() -> None:
    # gap9 by hand: cluster int8 1 pJ/op -> 3 pJ/op, l2_sram 0.874 pJ/B -> 2.62 pJ/B, static 5 mW -> 15 mW;
    # rates and bandwidths unchanged.
    t = get_target("gap9")
    s = scale_energy(t, 3.0)
    assert s.engine("cluster").energy_J_per_op["int8"] == pytest.approx(3e-12)
    assert s.memory("l2_sram").energy_J_per_B == pytest.approx(3 * 0.874007e-12)
    assert s.static_power_W == pytest.approx(0.015)
    assert s.engine("cluster").ops_per_cycle == t.engine("cluster").ops_per_cycle
    assert s.memory("l2_sram").bandwidth_B_per_s == t.memory("l2_sram").bandwidth_B_per_s
    for e, e0 in zip(s.engines, t.engines, strict=True):
        assert set(e.energy_J_per_op) == set(e0.energy_J_per_op)
        for d, v in e.energy_J_per_op.items():
            assert v == pytest.approx(3 * e0.energy_J_per_op[d])
