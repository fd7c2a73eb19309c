"""The validation suite: published numbers, the predictors that reproduce them, and the runner.

Cases live in ``data/validation/*.toml`` (one file per paper or theme) as an array of tables
``[[cases]]``; see :class:`ValidationCase` for the fields. A *predictor* is a plain function
registered by name with :func:`predictor`; it builds its answer from the presets and the
public models only (``models.hardware``, ``models.workloads``, ``models.algorithms``,
``models.perf``) and returns the predicted value in the case's display unit.

Predictor modules are the files ``models/validation/predictors_<theme>.py``; they are imported
on first use (not at package import, to keep imports free of side effects).
"""

from __future__ import annotations

import importlib
import math
import pkgutil
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from models.units import UnitError, dimension_of, to_si

__all__ = [
    "GROUPS",
    "KINDS",
    "ROLES",
    "CaseResult",
    "SuiteResult",
    "VALIDATION_DIR",
    "ValidationCase",
    "ValidationFileError",
    "get_predictor",
    "load_case_file",
    "load_cases",
    "predictor",
    "registered_predictors",
    "run_suite",
]

VALIDATION_DIR = Path(__file__).resolve().parents[2] / "data" / "validation"
ROLES = ("check", "calibration", "gap")
# What a case compares. Only measurements are validation: a datasheet peak, a closed-form
# exponent or a storage ratio is a definition and belongs in a unit test.
KINDS = ("measured",)
# How the report groups cases (a parity plot per group never mixes units): the dimension of the
# case's unit.
GROUPS = {"time": "time", "frequency": "rate", "energy": "energy", "power": "power",
          "dimensionless": "ratio"}
# Display units the units module does not list (derived ratios); the predictor returns the
# value in the case's unit, so the relative error never needs a conversion.
_EXTRA_UNITS = ("FLOP/B", "OP/B", "MAC/B")

_REQUIRED = ("id", "paper", "kind", "quantity", "unit", "conditions", "source", "tolerance", "role", "predictor")
_OPTIONAL = ("published", "published_range", "params", "gap_reason")

_REGISTRY: dict[str, Callable[..., float]] = {}
_LOADED = False


class ValidationFileError(ValueError):
    """A malformed validation file. Attributes name the file, field, value and what is allowed."""

    def __init__(self, file: str, field: str, value: object, allowed: str) -> None:
        self.file, self.field, self.value, self.allowed = file, field, value, allowed
        super().__init__(f"{file}: field {field!r}: got {value!r}; {allowed}")


@dataclass(frozen=True, kw_only=True)
class ValidationCase:
    """One published number and how to reproduce it.

    Attributes
    ----------
    id
        Unique across every validation file.
    paper, quantity, conditions, source
        What was published, under which conditions, and where (document + table/page).
    kind
        ``"measured"``: the published number is a measurement (a time, rate, energy, power or a
        ratio of two measurements). The only kind the suite accepts.
    published, published_range
        Exactly one is set: a value, or a ``(low, high)`` range, in ``unit``.
    unit
        Display unit of the published value (``"1"`` for ratios).
    tolerance
        Relative tolerance ``|pred - pub| / |pub|``; for a range the prediction must lie in
        ``[low (1 - tol), high (1 + tol)]``.
    role
        ``"check"``; ``"calibration"`` when the case was used to set an efficiency factor; or
        ``"gap"``: a published number the model is known not to meet. A gap case is run and
        reported next to the others but does not count towards passing; it says why in
        ``gap_reason`` (required for gaps, refused otherwise). No factor may be fitted to it.
    predictor
        Name of a registered predictor; ``params`` are its keyword arguments.
    file
        The file the case came from.
    """

    id: str
    paper: str
    kind: str
    quantity: str
    unit: str
    conditions: str
    source: str
    tolerance: float
    role: str
    predictor: str
    published: float | None = None
    published_range: tuple[float, float] | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    gap_reason: str | None = None
    file: str = "<memory>"

    @property
    def group(self) -> str:
        """``time``, ``rate``, ``energy``, ``power``, ``ratio`` (or another unit dimension)."""
        if self.unit in _EXTRA_UNITS:
            return "ratio"
        d = dimension_of(self.unit)
        return GROUPS.get(d, d)

    @property
    def reference_value(self) -> float:
        """The published value, or the middle of the published range."""
        if self.published is not None:
            return self.published
        lo, hi = self.published_range  # type: ignore[misc]
        return 0.5 * (lo + hi)


@dataclass(frozen=True, kw_only=True)
class CaseResult:
    """Predicted vs published for one case."""

    case: ValidationCase
    predicted: float
    relative_error: float
    within_tolerance: bool

    def as_dict(self) -> dict[str, Any]:
        c = self.case
        return {
            "id": c.id, "paper": c.paper, "kind": c.kind, "group": c.group, "quantity": c.quantity,
            "conditions": c.conditions,
            "source": c.source, "unit": c.unit, "predicted": self.predicted, "published": c.published,
            "published_range": list(c.published_range) if c.published_range else None,
            "relative_error": self.relative_error, "tolerance": c.tolerance,
            "within_tolerance": self.within_tolerance, "role": c.role, "predictor": c.predictor,
            "params": dict(c.params), "file": c.file, "gap_reason": c.gap_reason,
        }


@dataclass(frozen=True, kw_only=True)
class SuiteResult:
    """Every case's result and the summary.

    ``results`` holds every case in file order; ``checked`` the check and calibration cases
    (the ones that must be within tolerance), ``gaps`` the known gaps (role ``"gap"``), which
    are reported and counted in the headline error but never as passing or failing, and
    ``calibration`` the cases a factor was set from.
    """

    results: tuple[CaseResult, ...]

    @property
    def checked(self) -> tuple[CaseResult, ...]:
        return tuple(r for r in self.results if r.case.role != "gap")

    @property
    def gaps(self) -> tuple[CaseResult, ...]:
        return tuple(r for r in self.results if r.case.role == "gap")

    @property
    def all_within(self) -> bool:
        return all(r.within_tolerance for r in self.checked)

    @property
    def measured(self) -> tuple[CaseResult, ...]:
        """The cases the headline counts: checks and gaps (every prediction not fitted to its case)."""
        return tuple(r for r in self.results if r.case.role != "calibration")

    @property
    def calibration(self) -> tuple[CaseResult, ...]:
        """Cases a factor was set from: listed apart, never counted as passes."""
        return tuple(r for r in self.results if r.case.role == "calibration")

    def summary(self) -> dict[str, Any]:
        """The headline first: |relative error| over every measured case, gaps included.

        ``n_measured`` counts the checks and the gaps (the calibration cases, whose factor was
        set from them, are counted apart in ``n_calibration`` and in no error figure);
        ``median_abs_error_measured`` and ``p90_abs_error_measured`` are over those cases;
        ``n_energy`` counts the ones whose quantity is an energy or a power. Then the checks
        (``n_check``, ``n_check_within``) and the gaps (``n_gap``, their median) separately, and
        the median per group of units (time, rate, energy, power, ratio).
        """
        meas = self.measured
        err = np.array([abs(r.relative_error) for r in meas])
        checks = [r for r in meas if r.case.role == "check"]
        gap_err = [abs(r.relative_error) for r in self.gaps]
        groups: dict[str, list[float]] = {}
        for r in meas:
            groups.setdefault(r.case.group, []).append(abs(r.relative_error))

        def q(a: Sequence[float] | np.ndarray, p: float) -> float | None:
            return float(np.percentile(a, p)) if len(a) else None

        return {
            "n_measured": len(meas),
            "median_abs_error_measured": q(err, 50),
            "p90_abs_error_measured": q(err, 90),
            "n_energy": sum(r.case.group in ("energy", "power") for r in meas),
            "n_sources": len({r.case.paper for r in meas}),
            "sources": sorted({r.case.paper for r in meas}),
            "by_group": {g: {"n": len(v), "median_abs_error": q(v, 50)} for g, v in sorted(groups.items())},
            "n_check": len(checks),
            "n_check_within": sum(r.within_tolerance for r in checks),
            "n_gap": len(gap_err),
            "median_abs_error_gap": q(gap_err, 50),
            "n_calibration": len(self.calibration),
            "all_within_tolerance": self.all_within,
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "summary": self.summary(),
            "cases": [r.as_dict() for r in self.results if r.case.role == "check"],
            "gaps": [r.as_dict() for r in self.gaps],
            "calibration": [r.as_dict() for r in self.calibration],
        }


# ---------------------------------------------------------------------------- predictors
def predictor(name: str) -> Callable[[Callable[..., float]], Callable[..., float]]:
    """Register a predictor function under ``name`` (decorator).

    The function takes keyword arguments only (the case's ``params``) and returns the
    predicted value in the case's display unit.
    """

    def deco(fn: Callable[..., float]) -> Callable[..., float]:
        if name in _REGISTRY and _REGISTRY[name] is not fn:
            old = _REGISTRY[name]
            if (old.__module__, old.__qualname__) != (fn.__module__, fn.__qualname__):
                raise ValueError(f"predictor {name!r} registered twice ({old.__module__}, {fn.__module__})")
        _REGISTRY[name] = fn
        return fn

    return deco


def _load_predictor_modules() -> None:
    global _LOADED
    if _LOADED:
        return
    import models.validation as pkg

    for mod in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
        if mod.name.startswith("predictors_"):
            importlib.import_module(f"models.validation.{mod.name}")
    _LOADED = True


def registered_predictors() -> list[str]:
    """Names of every registered predictor (imports the predictor modules)."""
    _load_predictor_modules()
    return sorted(_REGISTRY)


def get_predictor(name: str) -> Callable[..., float]:
    """The predictor registered as ``name``; KeyError naming the allowed ones otherwise."""
    _load_predictor_modules()
    if name not in _REGISTRY:
        raise KeyError(f"unknown predictor {name!r}; allowed: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


# ---------------------------------------------------------------------------- loading
def _number(file: str, fld: str, v: object) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(float(v)):
        raise ValidationFileError(file, fld, v, "allowed: a finite number")
    return float(v)


def _parse_case(raw: object, file: str, i: int, *, check_predictor: bool) -> ValidationCase:
    where = f"cases[{i}]"
    if not isinstance(raw, Mapping):
        raise ValidationFileError(file, where, raw, "allowed: a table")
    cid = raw.get("id")
    if isinstance(cid, str) and cid:
        where = f"cases[{i}] ({cid})"
    for k in raw:
        if k not in _REQUIRED and k not in _OPTIONAL:
            raise ValidationFileError(file, f"{where}.{k}", raw[k],
                                      f"unknown key; allowed: {', '.join(_REQUIRED + _OPTIONAL)}")
    for k in _REQUIRED:
        if k not in raw:
            raise ValidationFileError(file, f"{where}.{k}", None, "missing required field")
    for k in ("id", "paper", "kind", "quantity", "unit", "conditions", "source", "role", "predictor"):
        if not isinstance(raw[k], str) or not raw[k].strip():
            raise ValidationFileError(file, f"{where}.{k}", raw[k], "allowed: a non-empty string")
    if raw["kind"] not in KINDS:
        raise ValidationFileError(file, f"{where}.kind", raw["kind"],
                                  "allowed: measured (a definition, such as a datasheet peak or a closed-form "
                                  "ratio, is a unit test, not a validation case)")
    gap_reason = raw.get("gap_reason")
    if raw["role"] == "gap" and (not isinstance(gap_reason, str) or not gap_reason.strip()):
        raise ValidationFileError(file, f"{where}.gap_reason", gap_reason,
                                  "a case with role 'gap' needs a non-empty string saying why the model misses it")
    if raw["role"] != "gap" and "gap_reason" in raw:
        raise ValidationFileError(file, f"{where}.gap_reason", gap_reason,
                                  "allowed only with role = 'gap'")
    has_pub, has_rng = "published" in raw, "published_range" in raw
    if has_pub == has_rng:
        raise ValidationFileError(file, f"{where}.published", raw.get("published", raw.get("published_range")),
                                  "exactly one of 'published' and 'published_range' is allowed")
    published = rng = None
    if has_pub:
        published = _number(file, f"{where}.published", raw["published"])
        if published == 0.0:
            raise ValidationFileError(file, f"{where}.published", raw["published"],
                                      "allowed: a non-zero number (the error is relative)")
    else:
        r = raw["published_range"]
        if not isinstance(r, list) or len(r) != 2:
            raise ValidationFileError(file, f"{where}.published_range", r, "allowed: [low, high]")
        lo = _number(file, f"{where}.published_range", r[0])
        hi = _number(file, f"{where}.published_range", r[1])
        if not lo < hi or lo * hi <= 0:
            raise ValidationFileError(file, f"{where}.published_range", r,
                                      "allowed: [low, high] with low < high, both of one sign, non-zero")
        rng = (lo, hi)
    tol = _number(file, f"{where}.tolerance", raw["tolerance"])
    if not 0.0 < tol < 1.0:
        raise ValidationFileError(file, f"{where}.tolerance", raw["tolerance"], "allowed: 0 < tolerance < 1")
    if raw["role"] not in ROLES:
        raise ValidationFileError(file, f"{where}.role", raw["role"], f"allowed: {', '.join(ROLES)}")
    unit = raw["unit"]
    if unit not in _EXTRA_UNITS:
        try:
            to_si(1.0, unit)
        except UnitError:
            raise ValidationFileError(file, f"{where}.unit", unit,
                                      f"allowed: a unit of models.units or one of {', '.join(_EXTRA_UNITS)}") from None
    params = raw.get("params", {})
    if not isinstance(params, Mapping):
        raise ValidationFileError(file, f"{where}.params", params, "allowed: an inline table of keyword arguments")
    if check_predictor:
        _load_predictor_modules()
        if raw["predictor"] not in _REGISTRY:
            raise ValidationFileError(file, f"{where}.predictor", raw["predictor"],
                                      f"allowed: {', '.join(sorted(_REGISTRY))}")
    return ValidationCase(id=raw["id"], paper=raw["paper"], kind=raw["kind"], quantity=raw["quantity"], unit=unit,
                          conditions=raw["conditions"], source=raw["source"], tolerance=tol, role=raw["role"],
                          predictor=raw["predictor"], published=published, published_range=rng,
                          params=dict(params), gap_reason=gap_reason, file=file)


def load_case_file(path: str | Path, *, check_predictor: bool = True) -> list[ValidationCase]:
    """Parse one validation file (strict: unknown or missing keys are errors)."""
    p = Path(path)
    file = str(p)
    try:
        with p.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ValidationFileError(file, "<toml>", str(exc), "allowed: valid TOML") from None
    for k in data:
        if k != "cases":
            raise ValidationFileError(file, k, data[k], "unknown key; allowed: cases")
    raw = data.get("cases")
    if not isinstance(raw, list) or not raw:
        raise ValidationFileError(file, "cases", raw, "allowed: a non-empty array of tables [[cases]]")
    cases = [_parse_case(r, file, i, check_predictor=check_predictor) for i, r in enumerate(raw)]
    _check_unique(cases)
    return cases


def _check_unique(cases: Sequence[ValidationCase]) -> None:
    seen: dict[str, str] = {}
    for c in cases:
        if c.id in seen:
            raise ValidationFileError(c.file, "id", c.id, f"ids must be unique; already used in {seen[c.id]}")
        seen[c.id] = c.file


def load_cases(paths: str | Path | Iterable[str | Path] | None = None) -> list[ValidationCase]:
    """Every case of the given files or folders (default: ``data/validation/*.toml``).

    Raises
    ------
    ValidationFileError
        A malformed file, an unknown predictor, or an id used twice (across files).
    FileNotFoundError
        A path that does not exist.
    """
    if paths is None:
        items: list[Path] = [VALIDATION_DIR]
    elif isinstance(paths, str | Path):
        items = [Path(paths)]
    else:
        items = [Path(p) for p in paths]
    files: list[Path] = []
    for p in items:
        if p.is_dir():
            files += sorted(p.glob("*.toml"))
        elif p.exists():
            files.append(p)
        else:
            raise FileNotFoundError(f"validation path {str(p)!r} does not exist")
    cases: list[ValidationCase] = []
    for f in files:
        cases += load_case_file(f)
    _check_unique(cases)
    return cases


# ---------------------------------------------------------------------------- running
def relative_error(predicted: float, case: ValidationCase) -> float:
    """Signed relative error: vs the value, or vs the nearest bound (0 inside the range)."""
    if case.published is not None:
        return (predicted - case.published) / abs(case.published)
    lo, hi = case.published_range  # type: ignore[misc]
    if predicted < lo:
        return (predicted - lo) / abs(lo)
    if predicted > hi:
        return (predicted - hi) / abs(hi)
    return 0.0


def evaluate_case(case: ValidationCase) -> CaseResult:
    """Run the case's predictor and compare with the published value."""
    fn = get_predictor(case.predictor)
    try:
        pred = float(fn(**case.params))
    except TypeError as exc:
        raise ValidationFileError(case.file, f"{case.id}.params", dict(case.params),
                                  f"the keyword arguments of predictor {case.predictor!r}: {exc}") from None
    err = relative_error(pred, case)
    ok = bool(math.isfinite(pred) and abs(err) <= case.tolerance + 1e-12)
    return CaseResult(case=case, predicted=pred, relative_error=err, within_tolerance=ok)


def run_suite(cases: Sequence[ValidationCase] | None = None) -> SuiteResult:
    """Evaluate every case (default: all cases of ``data/validation``)."""
    cs = load_cases() if cases is None else list(cases)
    return SuiteResult(results=tuple(evaluate_case(c) for c in cs))
