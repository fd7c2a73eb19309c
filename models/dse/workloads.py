"""The workloads a design space can name: a view of :mod:`models.workloads.registry`.

:mod:`models.workloads.registry` is THE workload registry (LLMs, CNNs, RegNets, ViT, SESR,
KWS, TDNN). Its :class:`~models.workloads.registry.Knob` declarations (kind, default, bounds or
choices, unit, log flag) are what a design space's ``workload.<knob>`` parameters are checked
against and take their unit, log flag and bounds from, as target fields take theirs from
:data:`models.hardware.FIELD_SPECS`.

:func:`register_workload` adds a workload for this process only (a test helper or a notebook's
own builder); it takes the registry's own :class:`~models.workloads.registry.WorkloadSpec` with
its knob declarations, and may not shadow a registry name. Search worker processes started by
:func:`models.dse.search` see only the registry.

Algorithm knobs live in :mod:`models.dse.knobs`; :func:`knob_handlers`, :func:`get_knob` and
:func:`register_knob` are re-exported here for compatibility.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from models.dse.knobs import KnobHandler, get_knob, knob_handlers, register_knob
from models.workloads.registry import Knob, WorkloadSpec
from models.workloads.registry import available_workloads as _registry_names
from models.workloads.registry import workload_spec as _registry_spec
from models.workloads.table import OperatorTable

__all__ = [
    "DseWorkload",
    "Knob",
    "KnobHandler",
    "WorkloadSpec",
    "available_workloads",
    "get_knob",
    "get_workload",
    "knob_handlers",
    "register_knob",
    "register_workload",
    "unregister_workload",
]

_EXTRA: dict[str, WorkloadSpec] = {}


def register_workload(spec: WorkloadSpec) -> None:
    """Add a process-local workload (tests, notebooks) declared like the registry's.

    Raises
    ------
    ValueError
        If ``spec`` is not a :class:`models.workloads.registry.WorkloadSpec` or its name is a
        registry workload (the registry stays the one source of product workloads).
    """
    if not isinstance(spec, WorkloadSpec):
        raise ValueError(
            f"register_workload: got {type(spec).__name__}; allowed: "
            "models.workloads.registry.WorkloadSpec (with Knob declarations)"
        )
    if spec.name in _registry_names():
        raise ValueError(
            f"register_workload: name {spec.name!r} is a models.workloads.registry workload; "
            "choose another name"
        )
    _EXTRA[spec.name] = spec


def unregister_workload(name: str) -> None:
    """Remove a workload added with :func:`register_workload` (no error if absent)."""
    _EXTRA.pop(name, None)


@dataclass(frozen=True)
class DseWorkload:
    """A workload as the DSE sees it: the registry spec plus its knobs split by kind.

    Attributes
    ----------
    spec
        The :class:`models.workloads.registry.WorkloadSpec`.
    """

    spec: WorkloadSpec

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def item_name(self) -> str:
        """What one item of ``n_items`` is (``"token"``, ``"image"``)."""
        return self.spec.item_name

    @property
    def description(self) -> str:
        return self.spec.description

    @cached_property
    def declarations(self) -> dict[str, Knob]:
        """Knob name -> its declaration."""
        return {k.name: k for k in self.spec.knobs}

    @cached_property
    def knobs(self) -> Mapping[str, float]:
        """Numeric knobs (``int``/``float``) -> default: the ones a sweep may vectorize over."""
        return {k.name: k.default for k in self.spec.knobs if k.kind in ("int", "float")}

    @cached_property
    def dtype_knobs(self) -> Mapping[str, Any]:
        """Structural knobs (``choice``/``bool``: datatypes, phase, training) -> default."""
        return {k.name: k.default for k in self.spec.knobs if k.kind not in ("int", "float")}

    def knob(self, name: str) -> Knob:
        """The declaration of knob ``name`` (KeyError naming the workload's knobs)."""
        return self.spec.knob(name)

    def build(self, **knobs: Any) -> OperatorTable:
        """Build the operator table; numeric knobs may be ``(n_points,)`` arrays."""
        return self.spec.build(**knobs)


def available_workloads() -> list[str]:
    """Registry workloads, then process-local ones."""
    return [*_registry_names(), *sorted(_EXTRA)]


def get_workload(name: str) -> DseWorkload:
    """The workload ``name`` (KeyError naming the allowed ones)."""
    if name in _EXTRA:
        return DseWorkload(_EXTRA[name])
    try:
        return DseWorkload(_registry_spec(name))
    except KeyError:
        raise KeyError(
            f"unknown workload {name!r}; allowed: {', '.join(available_workloads())}"
        ) from None
