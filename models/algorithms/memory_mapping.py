"""Memory mapping: where each class of tensors lives in the memory hierarchy, as a decision.

*Optimizing Memory Mapping Using Deep Reinforcement Learning* (Wang et al., DeepMind 2023,
arXiv 2305.07440; mallocMuZero / MMap-MuZero) searches the assignment of an XLA program's
tensors to the memory levels of an ML accelerator (fast on-chip memory vs HBM), against XLA's
default heuristic solver. Tradespace has no compiler-level model of XLA on TPUs (no buffer
live ranges, no prefetch/eviction schedule, no TPU preset); what it can express is the same
decision at the granularity of its operator table: which share of each memory level's capacity
each tensor class may use. Two mappings:

- ``greedy`` (the default, :mod:`models.perf.kernel` as it always was): every operator is
  homed as one working set ``F = max(footprint, floor)`` (``floor`` = its phase's resident
  state for an operator that reads weights or the KV cache), which competes for the whole
  capacity ``C`` of each level; a level that cannot hold it serves ``C / F`` of *all* its bytes
  (partial residency). Like a hardware cache with no placement control.
- ``partitioned``: software-managed placement (scratchpad allocation, pinning). The capacity of
  every level is split between two classes: the resident class (weights and KV cache) gets the
  fraction ``f = weight_capacity_share``, the activations ``1 - f``. Each class is homed in its
  share by its own working set:

  - resident class: bytes ``weight_read_B + kv_read_B + kv_write_B``, working set
    ``max(those bytes, resident state of the phase without its activations)`` where the
    operator has a floor (weights and KV are touched again only after the whole phase),
    else those bytes;
  - activation class: bytes ``act_read_B + act_write_B``, working set
    ``footprint_B - resident-class bytes`` (the operator's own inputs and outputs);

  and the memory time is ``t_m = b_r / bw(F_r / f) + b_a / bw(F_a / (1 - f))`` in the kernel's
  blended sense (a class in share ``s`` of capacity ``C`` is priced as a working set ``F / s``
  in ``C``; :class:`models.perf.kernel.Split`); the energy per byte blends the same way.

When everything fits (``F <= C``), greedy serves all bytes from the inner level and no
partition can do better. When the resident state is much larger than ``C`` while the
activations of an operator are small and touched a lot, greedy serves only ``C / F`` of the
activation bytes on chip, while ``f = 0`` keeps all of them on chip and streams the weights: a
searched ``f`` (``tradespace search`` over ``weight_capacity_share``) beats greedy there. The
decision is per table (one ``f`` for every operator), not per tensor as in the paper.

The mapping travels with the operator table (``table.knobs[SHARE_KEY]``) from
:func:`models.point.build_point` to :func:`models.perf.evaluate`, which hands the classes to the
one pricing kernel.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np

from models.workloads.table import OperatorTable

__all__ = ["MEMORY_MAPPINGS", "SHARE_KEY", "apply_memory_mapping", "mapping_share", "placement_classes",
           "resident_without_activations"]

MEMORY_MAPPINGS = ("greedy", "partitioned")
SHARE_KEY = "memory_mapping.weight_capacity_share"


def apply_memory_mapping(table: OperatorTable, weight_share: Any) -> OperatorTable:
    """The table with the ``partitioned`` mapping: the resident class (weights, KV cache) gets
    ``weight_share`` of every memory level's capacity, the activations the rest.

    Parameters
    ----------
    table
        An operator table.
    weight_share
        Fraction ``f`` in ``[0, 1]``, scalar or an array broadcasting with the table's points.

    Raises
    ------
    ValueError
        ``weight_share`` outside ``[0, 1]`` or not finite, naming the value.
    """
    f = np.asarray(weight_share, dtype=np.float64)
    if not np.all(np.isfinite(f)) or np.any(f < 0.0) or np.any(f > 1.0):
        raise ValueError(f"weight_capacity_share={f.tolist()!r}: allowed a fraction of each level's capacity in "
                         "[0, 1]")
    # the table's point shape must hold the share's (a share per design point)
    n_items = np.asarray(table.n_items, dtype=np.float64) * np.ones_like(f)
    return replace(table, knobs={**table.knobs, SHARE_KEY: f}, n_items=n_items)


def mapping_share(table: OperatorTable) -> np.ndarray | None:
    """The resident class's share ``f`` of a ``partitioned`` table, None for ``greedy``."""
    v = table.knobs.get(SHARE_KEY)
    return None if v is None else np.asarray(v, dtype=np.float64)


def resident_without_activations(table: OperatorTable) -> dict[str, np.ndarray]:
    """Per phase: the resident state without its live activations (weights, KV cache, training
    state), the reuse distance of the resident class; the whole resident state where the table
    does not say what it is made of."""
    out: dict[str, np.ndarray] = {}
    parts: Mapping[str, Mapping[str, np.ndarray]] = table.memory_parts_B
    for ph, v in table.peak_memory_B.items():
        act = parts.get(ph, {}).get("activations")
        out[ph] = np.asarray(v, dtype=np.float64) if act is None else np.maximum(np.asarray(v) - act, 0.0)
    return out


def placement_classes(col: Mapping[str, np.ndarray], floor_B: np.ndarray | None, resident_B: np.ndarray | None,
                      weight_share: np.ndarray) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...],
                                                         tuple[np.ndarray, ...]]:
    """``(bytes, working sets, shares)`` of the two classes of one operator (see the module
    docstring): the resident class (weights + KV cache) and the activations.

    ``floor_B`` is the floor the greedy home would use (None: the operator reads no weights or
    KV cache); ``resident_B`` the phase's resident state without activations.
    """
    b_r = col["weight_read_B"] + col["kv_read_B"] + col["kv_write_B"]
    b_a = col["act_read_B"] + col["act_write_B"]
    f_r = b_r if floor_B is None else np.maximum(b_r, floor_B if resident_B is None else resident_B)
    f_a = np.maximum(col["footprint_B"] - b_r, 0.0)
    return (b_r, b_a), (f_r, f_a), (weight_share, 1.0 - weight_share)
