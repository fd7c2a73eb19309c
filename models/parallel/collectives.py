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

**Across nodes** (:func:`placed_cost`). A plan's devices fill nodes of ``m`` devices joined by the
scale-up link (NVLink), the nodes joined by a scale-out link (InfiniBand); ranks are laid out with
tensor parallelism innermost, then pipeline stages, then expert-parallel units, so a group whose
members are ``stride`` ranks apart has ``g = min(N, m / stride)`` members in each node (1 when
``stride >= m``). A group inside one node is priced as above on the scale-up link. A group that
spans nodes:

- ring / tree collectives run on the scale-out link (bandwidth and per-step latency: the
  inter-node hops set the ring's rate, as in NCCL's tuning model);
- a flat all-to-all (pairwise exchange) sends ``(g - 1) / N x S`` over the scale-up link and
  ``(N - g) / N x S`` over the scale-out link at once: ``max`` of the two transfer times plus
  ``(g - 1) alpha_up + (N - g) alpha_out``;
- a hierarchical (2D) all-to-all (Tutel, Hwang et al. 2023) first exchanges within each node
  (``(g - 1) / g x S``, ``g - 1`` steps on the scale-up link), then between the ``N / g`` nodes
  (``(N / g - 1) / (N / g) x S``, ``N / g - 1`` steps on the scale-out link): the same bytes cross
  the network, in ``N / g - 1`` larger messages instead of ``N - g`` small ones;
- a pipeline send crosses the network at the stage boundaries that fall between nodes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["ALLREDUCE_ALGORITHMS", "ALL_TO_ALL_ALGORITHMS", "COLLECTIVES", "Collective", "NCCL_BASE_LATENCY_S",
           "collective_cost", "local_peers", "placed_cost"]

COLLECTIVES = ("all_reduce", "all_gather", "reduce_scatter", "all_to_all", "send")
ALLREDUCE_ALGORITHMS = ("ring", "tree", "auto")
ALL_TO_ALL_ALGORITHMS = ("flat", "hierarchical")
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
    stride, stages
        Ranks between consecutive members of the group (tensor parallel 1, a pipeline send the
        stage width, an expert-parallel group the unit's devices) and, for a pipeline send, the
        stages it passes (0 otherwise): where the group sits across nodes (:func:`placed_cost`).
    """

    name: str
    phase: str
    op: str
    group: int
    bytes_B: np.ndarray
    count: np.ndarray
    stride: int = 1
    stages: int = 0

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



def local_peers(group: int, stride: int, node: int) -> int:
    """Members of a group of ``group`` ranks ``stride`` apart that share a node of ``node`` devices.

    Raises
    ------
    ValueError
        A node that splits the group unevenly (neither ``stride`` nor ``node`` divides the other,
        or the members per node do not divide the group).
    """
    if stride >= node:
        if stride % node:
            raise ValueError(f"devices_per_node = {node}: the group's members are {stride} devices apart, not a "
                             "multiple of the node; allowed: a node size that divides or is divided by it")
        return 1
    if node % stride:
        raise ValueError(f"devices_per_node = {node}: not a multiple of the group's spacing {stride}; allowed: a "
                         "multiple of it, or a divisor")
    g = min(group, node // stride)
    if group % g:
        raise ValueError(f"devices_per_node = {node}: {g} of the group's {group} members per node do not divide it; "
                         "allowed: a node size that splits the group evenly")
    return g


def placed_cost(op: str, group: int, bytes_B: ArrayLike, up: tuple[ArrayLike, ArrayLike],
                out: tuple[ArrayLike, ArrayLike] | None, *, stride: int = 1, stages: int = 0,
                node: int | None = None, algorithm: str = "ring", base_latency_s: float | None = None,
                all_to_all: str = "flat") -> tuple[np.ndarray, np.ndarray]:
    """``(time_s, link_bytes_B)`` of one collective of a group placed on nodes of ``node`` devices.

    ``up`` and ``out`` are ``(bandwidth B/s, latency s)`` of the scale-up and scale-out links; with
    ``node`` None (one domain) or a group inside one node this is :func:`collective_cost` on ``up``
    (module docstring for the rest). ``stages``: the stages a pipeline send passes (its group is 2).
    """
    if all_to_all not in ALL_TO_ALL_ALGORITHMS:
        raise ValueError(f"all-to-all algorithm {all_to_all!r}; allowed: {', '.join(ALL_TO_ALL_ALGORITHMS)}")
    n = int(group)
    span = n * stride if op != "send" else max(stages, 2) * stride
    if node is None or span <= node:
        return collective_cost(op, n, bytes_B, up[0], up[1], algorithm=algorithm, base_latency_s=base_latency_s)
    if out is None:
        raise ValueError(f"a {op} over {span} devices spans nodes of {node}, and no scale-out link is known; "
                         "allowed: algorithm knob scaleout_link (a data/links.toml name)")
    size = np.asarray(bytes_B, dtype=np.float64)
    if op == "send":
        p = max(stages, 2)
        crossing = sum((s * stride) // node != ((s + 1) * stride) // node for s in range(p - 1)) / (p - 1)
        t_up, b_up = collective_cost(op, 2, size, up[0], up[1])
        t_out, b_out = collective_cost(op, 2, size, out[0], out[1])
        return (1 - crossing) * t_up + crossing * t_out, (1 - crossing) * b_up + crossing * b_out
    g = local_peers(n, stride, node)
    if op != "all_to_all":  # ring / tree: the inter-node hops set the rate
        return collective_cost(op, n, size, out[0], out[1], algorithm=algorithm, base_latency_s=base_latency_s)
    up_bw, up_lat = (np.asarray(x, dtype=np.float64) for x in up)
    out_bw, out_lat = (np.asarray(x, dtype=np.float64) for x in out)
    if all_to_all == "hierarchical":
        t1, b1 = collective_cost(op, g, size, up_bw, up_lat)
        t2, b2 = collective_cost(op, n // g, size, out_bw, out_lat)
        return t1 + t2, b1 + b2
    intra, inter = (g - 1) / n * size, (n - g) / n * size
    t = np.maximum(intra / up_bw, inter / out_bw) + (g - 1) * up_lat + (n - g) * out_lat
    return t, intra + inter
