"""Fidelity page state: predicted vs published, from the data of ``tradespace validate``.

The validation suite (:func:`models.validation.run_suite` over ``data/validation``) runs once
per server process (:func:`suite_result`, cached) and every session reads the same result. The
headline is the CLI's own line (:func:`app.commands.validate.headline`), the parity columns come
from :func:`app.commands.validate.parity_data`: the page and ``tradespace validate`` cannot
disagree. No Panel import here (house style 7): the view lays this out.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np
import param
import polars as pl

from app.commands.validate import _counts_line, headline, parity_data
from app.dashboard import fmt
from models.units import UNITS, to_si
from models.validation import CaseResult, SuiteResult, load_cases, run_suite

__all__ = ["GROUP_UNITS", "FidelityState", "ParityData", "suite_result"]

# the SI unit each group's parity axes are drawn in (published values are converted to it)
GROUP_UNITS = {"time": "s", "rate": "/s", "energy": "J", "power": "W", "ratio": "1"}
ROLES = ("all", "check", "gap", "calibration")
STATUS_COLOURS = {"check": "#1f77b4", "gap": "#d62728", "calibration": "#2ca02c"}


@functools.lru_cache(maxsize=1)
def suite_result() -> SuiteResult:
    """The validation suite over ``data/validation``, run once per process (about 1 s)."""
    return run_suite(load_cases())


def _si(value: float, unit: str) -> float:
    """A value in a case's display unit, in SI (a unit the table lacks, such as FLOP/B, as is)."""
    return to_si(value, unit) if unit in UNITS else float(value)


def status_of(r: CaseResult) -> str:
    """``within`` / ``outside`` tolerance for a check or calibration case, ``gap`` for a gap."""
    if r.case.role == "gap":
        return "gap"
    return "within" if r.within_tolerance else "outside"


@dataclass(frozen=True, kw_only=True)
class ParityData:
    """One parity plot: the cases of one group in SI, the y = x line's extent and the band.

    ``columns`` holds per case ``id``, ``paper``, ``role``, ``status``, ``colour``, ``unit`` (the
    display unit), ``published`` and ``predicted`` (SI, absolute: log axes), ``published_text``,
    ``predicted_text`` and ``error_text``. ``tolerance`` is the band's half-width (the
    tolerance most of the group's cases use), ``n_with_tolerance`` how many use it.
    """

    group: str
    unit: str
    columns: dict[str, list[Any]]
    lo: float
    hi: float
    tolerance: float
    n_with_tolerance: int


class FidelityState(param.Parameterized):
    """Which cases the fidelity page shows: ``paper`` ("all" or one paper) and ``role``."""

    paper: Any = param.Selector(default="all", objects=["all"], doc="show the cases of one paper (or all)")
    role: Any = param.Selector(default="all", objects=list(ROLES), doc="check, gap or calibration cases (or all)")

    def __init__(self, **params: Any) -> None:
        self._result = suite_result()
        super().__init__()
        self.param.paper.objects = ["all", *self.papers]
        # checked through the selectors: an unknown paper or role is refused with what is allowed
        for name, value in params.items():
            if name not in ("paper", "role"):
                raise ValueError(f"FidelityState: unknown input {name!r}; allowed: paper, role")
            allowed = self.param[name].objects
            if value not in allowed:
                raise ValueError(f"FidelityState: {name}={value!r} is not one of: {', '.join(allowed)}")
            setattr(self, name, value)

    # ------------------------------------------------------------------ the whole suite
    @property
    def result(self) -> SuiteResult:
        return self._result

    @property
    def summary(self) -> dict[str, Any]:
        return self._result.summary()

    @property
    def headline(self) -> str:
        """The first line ``tradespace validate`` prints (median and p90 |error|, gaps included)."""
        return headline(self.summary)

    @property
    def counts_line(self) -> str:
        return _counts_line(self.summary)

    @property
    def papers(self) -> list[str]:
        return sorted({r.case.paper for r in self._result.results})

    @property
    def groups(self) -> list[str]:
        return sorted({r.case.group for r in self._result.results})

    # ------------------------------------------------------------------ the selection
    def selected(self) -> list[CaseResult]:
        """The cases of the chosen paper and role, in file order."""
        return [r for r in self._result.results
                if (self.paper == "all" or r.case.paper == self.paper)
                and (self.role == "all" or r.case.role == self.role)]

    def parity(self, group: str) -> ParityData:
        """The parity plot of ``group`` (time, rate, energy, power, ratio) over the selection."""
        if group not in self.groups:
            raise ValueError(f"no validation group {group!r}; allowed: {', '.join(self.groups)}")
        ids = {r.case.id for r in self.selected() if r.case.group == group}
        rows = [r for r in self._result.results if r.case.id in ids]
        d = parity_data(SuiteResult(results=tuple(rows)))
        unit = GROUP_UNITS.get(group, "1")
        pub_si = [_si(v, u) for v, u in zip(d["published"], d["unit"], strict=True)]
        pred_si = [_si(v, u) for v, u in zip(d["predicted"], d["unit"], strict=True)]
        # log axes draw |value|; the tooltips keep the sign (a predicted gain can be negative)
        pub, pred = [abs(v) for v in pub_si], [abs(v) for v in pred_si]
        cols: dict[str, list[Any]] = {
            "id": d["id"], "paper": [r.case.paper for r in rows], "role": d["role"],
            "status": [status_of(r) for r in rows], "colour": [STATUS_COLOURS[r.case.role] for r in rows],
            "unit": d["unit"], "published": pub, "predicted": pred,
            "published_text": [fmt.si(v, unit) for v in pub_si], "predicted_text": [fmt.si(v, unit) for v in pred_si],
            "error_text": [fmt.pct(r.relative_error) for r in rows],
        }
        pos = [v for v in pub + pred if v > 0]
        lo, hi = (min(pos) / 2, max(pos) * 2) if pos else (0.1, 10.0)
        tols = [r.case.tolerance for r in rows] or [0.25]
        values, counts = np.unique(tols, return_counts=True)
        k = int(np.argmax(counts))
        return ParityData(group=group, unit=unit, columns=cols, lo=lo, hi=hi, tolerance=float(values[k]),
                          n_with_tolerance=int(counts[k]))

    def table(self) -> pl.DataFrame:
        """The selection, one row per case, sorted by paper: case, predicted, published (SI text),
        signed error, tolerance and status."""
        unit = {g: GROUP_UNITS.get(g, "1") for g in self.groups}
        rows = []
        for r in self.selected():
            c = r.case
            u = unit[c.group]
            if c.published is not None:
                published = fmt.si(_si(c.published, c.unit), u)
            else:
                lo, hi = c.published_range  # type: ignore[misc]
                published = f"{fmt.si(_si(lo, c.unit), u)} – {fmt.si(_si(hi, c.unit), u)}"
            rows.append({"paper": c.paper, "case": c.id, "quantity": c.quantity,
                         "predicted": fmt.si(_si(r.predicted, c.unit), u), "published": published,
                         "error": fmt.pct(r.relative_error), "tolerance": fmt.pct(c.tolerance, signed=False, digits=0),
                         "status": status_of(r), "abs_error": abs(r.relative_error)})
        schema = {"paper": pl.String, "case": pl.String, "quantity": pl.String, "predicted": pl.String,
                  "published": pl.String, "error": pl.String, "tolerance": pl.String, "status": pl.String,
                  "abs_error": pl.Float64}
        return pl.DataFrame(rows, schema=schema).sort("paper", maintain_order=True)

    def gaps_by_reason(self) -> list[tuple[str, list[CaseResult]]]:
        """The selected gap cases grouped by the mechanism the model lacks (most cases first)."""
        by: dict[str, list[CaseResult]] = {}
        for r in self.selected():
            if r.case.role == "gap":
                by.setdefault(r.case.gap_reason or "", []).append(r)
        return sorted(by.items(), key=lambda kv: -len(kv[1]))
