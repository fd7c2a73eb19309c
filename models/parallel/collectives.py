"""Collective communication over a device interconnect: the alpha-beta cost of each collective.

A collective runs among ``N`` devices of a group over a link of bandwidth ``beta`` (bytes/s per
device per direction) and per-message latency ``alpha`` (s). For a payload of ``S`` bytes per
device (the buffer each device holds: the reduced tensor of an all-reduce, the gathered output of
an all-gather, the input of a reduce-scatter, the send buffer of an all-to-all, the message of a
point-to-point send), each device moves ``b(S)`` bytes over its link in ``s`` sequential steps:

================  ========================  ==========================  =========================
collective        bytes per device ``b``    steps ``s``                 reference algorithm
================  ========================  ==========================  =========================
all_reduce ring   ``2 (N - 1) / N x S``     ``2 (N - 1)``               reduce-scatter + all-gather
all_reduce tree   ``2 S``                   ``2 ceil(log2 N)``          pipelined double binary tree
all_gather        ``(N - 1) / N x S``       ``N - 1``                   ring
reduce_scatter    ``(N - 1) / N x S``       ``N - 1``                   ring
all_to_all        ``(N - 1) / N x S``       ``N - 1``                   pairwise exchange
send              ``S``                     ``1``                       point to point
================  ========================  ==========================  =========================

and the collective takes ``t = t0 + b / beta + s alpha`` (Thakur, Rabenseifner and Gropp,
"Optimization of Collective Communication Operations in MPICH", IJHPCA 2005; the NCCL ring and tree
algorithms have the same bandwidth terms). ``t0`` is the fixed cost of one collective call: by
default NCCL's own tuning model's base latency for the LL protocol it uses on small messages
(NVIDIA/nccl ``src/graph/tuning.cc`` ``baseLat``: ring 6.6 us, tree 6.8 us) for the ring and tree
collectives (all-reduce, all-gather, reduce-scatter); the all-to-all and the send are NCCL
point-to-point operations, which that table does not cover, so they carry none. ``all_reduce``
with ``algorithm = "auto"`` takes the faster of ring and tree at each point (NCCL's tuner picks by
size). A group of one device moves nothing.

Every argument broadcasts (numpy arrays over design points).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["ALLREDUCE_ALGORITHMS", "COLLECTIVES", "Collective", "NCCL_BASE_LATENCY_S", "collective_cost"]

COLLECTIVES = ("all_reduce", "all_gather", "reduce_scatter", "all_to_all", "send")
ALLREDUCE_ALGORITHMS = ("ring", "tree", "auto")
# NCCL's per-call base latency, LL protocol (NVIDIA/nccl src/graph/tuning.cc, baseLat[algorithm][LL])
NCCL_BASE_LATENCY_S = {"ring": 6.6e-6, "tree": 6.8e-6}
_RING_TREE_OPS = ("all_reduce", "all_gather", "reduce_scatter")


@dataclass(frozen=True, kw_only=True)
class Collective:
    """One collective of a workload, repeated ``count`` times in its phase.

    Attributes
    ----------
    name
        What it carries (``"tp_attn_allreduce"``).
    phase
        The operator-table phase it belongs to.
    op
        One of :data:`COLLECTIVES`.
    group
        Devices taking part (>= 1).
    bytes_B
        Payload per device per call (see the module docstring), broadcasting over design points.
    count
        Calls per run of the table, broadcasting over design points.
    """

    name: str
    phase: str
    op: str
    group: int
    bytes_B: np.ndarray
    count: np.ndarray

    def __post_init__(self) -> None:
        if self.op not in COLLECTIVES:
            raise ValueError(f"collective {self.name!r}: op {self.op!r}; allowed: {', '.join(COLLECTIVES)}")
        if int(self.group) != self.group or self.group < 1:
            raise ValueError(f"collective {self.name!r}: group {self.group!r}; allowed: a whole number >= 1")
        object.__setattr__(self, "bytes_B", np.asarray(self.bytes_B, dtype=np.float64))
        object.__setattr__(self, "count", np.asarray(self.count, dtype=np.float64))


def _bytes_steps(op: str, n: int, size: np.ndarray, algorithm: str) -> tuple[np.ndarray, float]:
    if op == "send":
        return size, 1.0
    frac = (n - 1) / n
    if op == "all_reduce":
        if algorithm == "tree":
            return 2.0 * size, 2.0 * float(np.ceil(np.log2(n)))
        return 2.0 * frac * size, 2.0 * (n - 1)
    return frac * size, float(n - 1)


def collective_cost(op: str, group: int, bytes_B: ArrayLike, bandwidth_B_per_s: ArrayLike, latency_s: ArrayLike,
                    *, algorithm: str = "ring", base_latency_s: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(time_s, link_bytes_B)`` of one collective: its time and the bytes each device sends.

    ``base_latency_s`` is the fixed cost of one call of a ring or tree collective (``t0`` of the
    module docstring); None: NCCL's (:data:`NCCL_BASE_LATENCY_S` of the algorithm); 0: none.

    Raises
    ------
    ValueError
        An unknown collective or algorithm, a group below 1, or a link without bandwidth.
    """
    if op not in COLLECTIVES:
        raise ValueError(f"collective {op!r}; allowed: {', '.join(COLLECTIVES)}")
    if algorithm not in ALLREDUCE_ALGORITHMS:
        raise ValueError(f"all-reduce algorithm {algorithm!r}; allowed: {', '.join(ALLREDUCE_ALGORITHMS)}")
    if int(group) != group or group < 1:
        raise ValueError(f"collective group {group!r}; allowed: a whole number of devices >= 1")
    bw = np.asarray(bandwidth_B_per_s, dtype=np.float64)
    if np.any(~(bw > 0)):
        raise ValueError(f"link bandwidth {bw.reshape(-1)[:3].tolist()} B/s; allowed: > 0 (a link with no "
                         "bandwidth cannot carry a collective)")
    size = np.asarray(bytes_B, dtype=np.float64)
    lat = np.asarray(latency_s, dtype=np.float64)
    n = int(group)
    if n == 1 and op != "send":
        z = np.zeros(np.broadcast_shapes(size.shape, bw.shape, lat.shape))
        return z, z.copy()
    if base_latency_s is not None and not base_latency_s >= 0:
        raise ValueError(f"collective base latency {base_latency_s!r} s; allowed: >= 0, or None for NCCL's")
    if op == "all_reduce" and algorithm == "auto":
        t_r, b_r = collective_cost(op, n, size, bw, lat, algorithm="ring", base_latency_s=base_latency_s)
        t_t, b_t = collective_cost(op, n, size, bw, lat, algorithm="tree", base_latency_s=base_latency_s)
        tree = t_t < t_r
        return np.where(tree, t_t, t_r), np.where(tree, b_t, b_r)
    moved, steps = _bytes_steps(op, n, size, algorithm)
    t0 = 0.0
    if op in _RING_TREE_OPS:
        t0 = NCCL_BASE_LATENCY_S["tree" if op == "all_reduce" and algorithm == "tree" else "ring"] \
            if base_latency_s is None else base_latency_s
    return t0 + moved / bw + steps * lat, moved + 0.0 * (bw + lat)

