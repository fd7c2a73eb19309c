"""The one declaration of a setting: a target field, a workload knob or an algorithm knob.

Every number or choice a design point can set is declared once, by a :class:`Param`: its name,
kind, display unit (and the physical dimension behind it), allowed range or choices, default,
log flag and help text. The same object validates target files, design-space files and
``--set NAME=VALUE``, parses text typed by a user (``"4 TB/s"``), gives the dashboard its widget
bounds and Optuna its search bounds. It plays the role of scikit-learn's declared parameter
constraints: the declaration is data, and every check is derived from it.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from models.units import UNITS, UnitError, si_name, to_si

__all__ = ["KINDS", "Param", "ParamError", "did_you_mean", "single_whole"]

KINDS = ("int", "float", "categorical", "bool")
_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")
_NUMBER_UNIT = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([^\d\s].*?)?\s*$")


def did_you_mean(name: object, choices: Iterable[object]) -> str:
    """`` (did you mean 'x'?)`` for the allowed name closest to ``name`` (difflib), else ``""``.

    The one place the suggestion of every "unknown name" message (targets, workloads, knobs,
    formats, strategies) is worded, so that they all read alike.
    """
    text, names = str(name), [str(c) for c in choices]
    # a name typed short ("h100") means the one it begins ("h100-sxm"), not the nearest spelling ("p100")
    longer = sorted((c for c in names if text and c.startswith(text) and c != text), key=len)
    close = longer[:1] or difflib.get_close_matches(text, names, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def single_whole(value: Any, name: str, error: Callable[[str], Exception]) -> int:
    """The one whole number a structural knob holds per design point (sweeps group points by it).

    ``error`` builds the exception to raise (the caller's error class, with its knob) from the
    message when ``value`` holds more than one number.
    """
    a = np.asarray(value)
    if a.size != 1:
        raise error(f"algorithm knob {name!r}: got {a.reshape(-1)[:3].tolist()}; allowed: one whole number per "
                    "design point (a structural knob: sweeps group points by it)")
    return int(a.reshape(-1)[0])


class ParamError(ValueError):
    """A value a setting does not allow. The message names the setting, the value and what is allowed."""

    def __init__(self, name: str, value: object, allowed: str, role: str = "setting") -> None:
        self.name, self.value, self.allowed, self.role = name, value, allowed, role
        super().__init__(f"{role} {name!r}: got {_show(value)}; {allowed}")


def _show(value: object) -> str:
    if isinstance(value, np.ndarray):
        flat = value.reshape(-1)
        head = ", ".join(f"{x:g}" if isinstance(x, float | np.floating) else repr(x) for x in flat[:3].tolist())
        return f"[{head}{', ...' if flat.size > 3 else ''}]"
    if isinstance(value, np.generic):  # np.int64(0) reads as 0, as the user wrote it
        value = value.item()
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return repr(int(value))
    return repr(value)


@dataclass(frozen=True, kw_only=True)
class Param:
    """The declaration of one setting.

    Attributes
    ----------
    name
        How it is named in files, on the command line and in messages.
    kind
        One of :data:`KINDS`.
    default
        Value when nothing sets it (``None``: the setting is off / left as built).
    low, high, low_open
        Allowed SI range of a numeric setting; ``low_open`` excludes ``low`` itself.
    choices
        Allowed values of a categorical (or bool) setting.
    unit
        Display unit: the unit bounds are shown in and text is read in by default.
    dimension
        Physical dimension of the SI value (a :mod:`models.units` dimension such as
        ``"bandwidth"``); ``None`` for counts and plain numbers, which are never converted.
    log
        Grids and searches over it are log-scaled by default.
    structural
        Changes the structure of an operator table (rows, datatypes): design points are grouped
        by it instead of vectorized over it. Categorical and bool settings always are.
    applies_to
        What the setting acts on (shown in help and in errors).
    help
        One line for users.
    role
        What to call it in messages: ``"field"`` (of a target), ``"knob"`` (of a workload),
        ``"algorithm knob"``.
    accepts, accepts_help
        For a categorical setting whose ``choices`` are the usual values of an open family (any
        format name the quantization registry parses): a check that returns None for another
        allowed value (else why not), and a phrase naming the family for messages.
    """

    name: str
    kind: str
    default: Any = None
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    choices: tuple[Any, ...] = ()
    unit: str = "1"
    dimension: str | None = None
    log: bool = False
    structural: bool = False
    applies_to: str = ""
    help: str = ""
    role: str = "setting"
    accepts: Callable[[Any], str | None] | None = None
    accepts_help: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"Param {self.name!r}: kind {self.kind!r}; allowed: {', '.join(KINDS)}")
        if self.kind == "bool" and not self.choices:
            object.__setattr__(self, "choices", (False, True))
        if self.kind in ("categorical", "bool"):
            object.__setattr__(self, "structural", True)
        if self.dimension is not None and self.unit not in UNITS:
            raise ValueError(f"Param {self.name!r}: unit {self.unit!r} is not a models.units unit")

    # ------------------------------------------------------------------ describing
    @property
    def numeric(self) -> bool:
        return self.kind in ("int", "float")

    def allowed(self) -> str:
        """What the setting allows, in words (SI bounds, then the display unit's)."""
        if not self.numeric:
            listed = ", ".join(str(c).lower() if isinstance(c, bool) else str(c) for c in self.choices)
            return f"allowed: {listed}" + (f", or {self.accepts_help}" if self.accepts_help else "")
        lo = "(" if self.low_open else "["
        if self.low is None and self.high is None:
            return "allowed: any integer" if self.kind == "int" else "allowed: any number"
        low = "-inf" if self.low is None else f"{self.low:g}"
        high = "inf" if self.high is None else f"{self.high:g}"
        if self.dimension is None:
            unit = "" if self.unit in ("1", "") else f" {self.unit}"
            return f"allowed: {lo}{low}, {high}]{unit}"
        si = si_name(self.dimension)
        text = f"allowed: {lo}{low}, {high}] {si}"
        if self.unit != si:
            dlo, dhi = self.display_bounds()
            text += (f" = {lo}{'-inf' if dlo is None else f'{dlo:g}'}, {'inf' if dhi is None else f'{dhi:g}'}]"
                     f" {self.unit}")
        return text

    # ------------------------------------------------------------------ checking
    def problem(self, value: Any) -> str | None:
        """``None`` if ``value`` (SI; a scalar or an array of them) is allowed, else what is allowed."""
        if not self.numeric:
            vals = value.reshape(-1).tolist() if isinstance(value, np.ndarray) else [value]
            for v in vals:
                if self.kind == "bool" and not isinstance(v, bool | np.bool_):
                    return "allowed: true or false"
                if self.kind == "categorical" and isinstance(v, bool):
                    return self.allowed()
                if v not in self.choices:
                    if self.accepts is None or not isinstance(v, str):
                        return self.allowed() + did_you_mean(v, self.choices)
                    why = self.accepts(v)
                    if why is not None:
                        return f"{why}; {self.allowed()}"
            return None
        if isinstance(value, bool | np.bool_) or isinstance(value, str):
            return f"a number is required; {self.allowed()}"
        try:
            a = np.asarray(value, dtype=np.float64)
        except OverflowError:  # an integer beyond any float (TOML and JSON integers are unbounded)
            return f"a finite number is required; {self.allowed()}"
        except (TypeError, ValueError):
            return f"a number is required; {self.allowed()}"
        if a.size == 0:
            return f"an empty value; {self.allowed()}"
        if not np.all(np.isfinite(a)):
            return f"a finite number is required; {self.allowed()}"
        if (self.low is not None and (np.any(a < self.low) or (self.low_open and np.any(a == self.low)))) or (
            self.high is not None and np.any(a > self.high)
        ):
            return self.allowed()
        if self.kind == "int" and np.any(a != np.round(a)):
            return f"an integer is required; {self.allowed()}"
        return None

    def check(self, value: Any) -> Any:
        """``value`` if allowed (numbers as float or int, arrays as float64), else :class:`ParamError`."""
        p = self.problem(value)
        if p is not None:
            raise ParamError(self.name, value, p, self.role)
        if not self.numeric:
            return value.item() if isinstance(value, np.generic) else value
        a = np.asarray(value, dtype=np.float64)
        if a.ndim:
            return a
        return int(a) if self.kind == "int" else float(a)

    def parse(self, text: str) -> Any:
        """A value typed by a user (command line, URL): ``"8"``, ``"int4"``, ``"true"``, ``"4 TB/s"``.

        A number may carry a unit of the setting's dimension; without one it is read in the
        display unit (``bandwidth=4`` of a field shown in GB/s is 4 GB/s). Returns the checked
        SI value.
        """
        raw = str(text).strip()
        if self.kind == "bool":
            low = raw.lower()
            if low in _TRUE:
                return True
            if low in _FALSE:
                return False
            raise ParamError(self.name, raw, "allowed: true or false", self.role)
        if self.kind == "categorical":
            for c in self.choices:
                if str(c) == raw:
                    return self.check(c)
            if self.accepts is not None:
                return self.check(raw)
            raise ParamError(self.name, raw, self.allowed() + did_you_mean(raw, self.choices), self.role)
        m = _NUMBER_UNIT.match(raw)
        if m is None:
            raise ParamError(self.name, raw, f"a number is required; {self.allowed()}", self.role)
        number, unit = float(m.group(1)), (m.group(2) or "").strip()
        if not math.isfinite(number):
            raise ParamError(self.name, raw, f"a finite number is required; {self.allowed()}", self.role)
        value = self.to_si(number, unit or None)
        p = self.problem(value)
        if p is not None:
            # say how the text was read: a bare number is in the display unit
            shown = raw if unit or self.dimension is None else f"{raw} (read as {number:g} {self.unit})"
            raise ParamError(self.name, shown, p, self.role)
        return self.check(value)

    def to_si(self, value: float, unit: str | None = None) -> float:
        """``value`` written in ``unit`` (default: the display unit) as SI."""
        unit = self.unit if unit is None else unit
        if self.dimension is None:
            if unit not in (self.unit, "", "1", "count"):
                raise ParamError(self.name, f"{value:g} {unit}", f"no unit is taken (a plain number in {self.unit})",
                                 self.role)
            return float(value)
        try:
            return to_si(value, unit, dimension=self.dimension)
        except UnitError as exc:
            raise ParamError(self.name, f"{value:g} {unit}", str(exc), self.role) from None

    def from_si(self, value: float) -> float:
        """An SI value in the display unit."""
        if self.dimension is None:
            return float(value)
        return float(value) / UNITS[self.unit].factor

    def display_bounds(self) -> tuple[float | None, float | None]:
        """``(low, high)`` in the display unit (widgets)."""
        return (None if self.low is None else self.from_si(self.low),
                None if self.high is None else self.from_si(self.high))
