"""app.dashboard.fidelity_state: the Fidelity page's data, from the validation suite."""

from __future__ import annotations

import math

import pytest

from app.dashboard.fidelity_state import FidelityState, suite_result


def test_suite_runs_once_per_process() -> None:
    assert suite_result() is suite_result()
    assert FidelityState().result is FidelityState().result


def test_parity_converts_each_case_to_the_groups_si_unit() -> None:
    s = FidelityState()
    power = s.parity("power")
    cases = {r.case.id: r for r in s.result.results if r.case.group == "power"}
    assert sorted(power.columns["id"]) == sorted(cases)
    units = {r.case.unit for r in cases.values()}
    assert {"W", "mW"} <= units  # the group mixes units: the axes must not
    by_id = dict(zip(power.columns["id"], power.columns["published"], strict=True))
    for cid, r in cases.items():
        scale = {"W": 1.0, "mW": 1e-3}[r.case.unit]  # by hand: 1 mW = 1e-3 W
        assert math.isclose(by_id[cid], abs(r.case.reference_value) * scale, rel_tol=1e-12), cid
    assert power.unit == "W"
    assert power.lo < min(by_id.values()) and power.hi > max(by_id.values())
    # the band is the tolerance most cases of the group use
    tols = [r.case.tolerance for r in cases.values()]
    assert power.n_with_tolerance == max(tols.count(t) for t in set(tols))


def test_parity_points_are_absolute_but_tooltips_keep_the_sign() -> None:
    s = FidelityState()
    negative = [r for r in s.result.results if r.predicted < 0]
    assert negative, "the suite has a negative prediction (a gain below zero) to check this with"
    for group in s.groups:
        p = s.parity(group)
        assert all(v > 0 for v in p.columns["predicted"])  # drawable on log axes
        signs = {r.case.id: r.predicted < 0 for r in s.result.results if r.case.group == group}
        for cid, text in zip(p.columns["id"], p.columns["predicted_text"], strict=True):
            assert text.startswith("-") == signs[cid], (cid, text)


def test_selection_by_paper_and_role() -> None:
    s = FidelityState()
    paper = s.papers[0]
    s.paper = paper
    assert s.selected() and all(r.case.paper == paper for r in s.selected())
    assert s.table()["paper"].unique().to_list() == [paper]
    s.paper, s.role = "all", "gap"
    gaps = s.selected()
    assert len(gaps) == s.summary["n_gap"] and all(r.case.role == "gap" for r in gaps)
    assert sum(len(rs) for _, rs in s.gaps_by_reason()) == len(gaps)
    assert set(s.table()["status"].to_list()) == {"gap"}
    # the headline stays the whole suite's whatever is selected
    assert s.headline == FidelityState().headline


def test_unknown_inputs_are_refused_with_what_is_allowed() -> None:
    with pytest.raises(ValueError, match="role='fails' is not one of: all, check, gap, calibration"):
        FidelityState(role="fails")
    with pytest.raises(ValueError, match="unknown input 'target'; allowed: paper, role"):
        FidelityState(target="h100-sxm")
    with pytest.raises(ValueError, match="no validation group 'length'"):
        FidelityState().parity("length")
