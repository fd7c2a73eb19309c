"""The one pricing kernel: what an operator costs on an engine, and which engine it goes to.

Every number Tradespace reports is priced here, whatever asked for it (``tradespace evaluate``,
a dashboard page, a sweep, a search, a validation case). Faster evaluation orders only change
how inputs are shaped: a sweep over ``W`` workload points and ``H`` hardware points passes
operator values of shape ``(W, 1)`` and hardware vectors of shape ``(H,)``, and numpy
broadcasting prices the ``(W, H)`` product; a list of design points passes both as ``(P,)``.

For one operator instance on engine ``e`` (arrays broadcast over design points):

- compute time ``t_c = flop / (peak(e, dtype) x efficiency(e, kind)) x (k + half_k) / k x
  (m + half_m) / m``, the last two factors only where the engine declares a size curve for the
  kind (``k``: reduction length; ``m``: output rows, a tile-fill curve of matrix engines);
- home level: the innermost level of ``e``'s memory path whose capacity holds the operator's
  working set ``F`` (the outermost when none does);
- memory time ``t_m = bytes x max over the levels from the innermost to the home of
  1 / bandwidth``, a level's bandwidth (peak x its efficiency, or x its ``efficiency_by_kind``
  entry for the operator's kind: what that kernel class streams) capped at
  ``min(n_units x per_unit_bandwidth, sustained_bandwidth)`` for ``e`` (its units share the core
  complex's sustained limit);
- partial residency: a level ``j`` inside the home (capacity ``C_j < F``) serves the fraction
  ``H_j = C_j / F`` of the traffic (0 below ``RESIDENCY_CUTOFF``, with a linear ramp), priced
  at the path up to ``j``; with one such level ``t_m = bytes x (H / bw_in + (1 - H) / bw_out)``
  in the cumulative-max sense above, and the energy per byte blends the same way;
- memory mapping: with a :class:`Split` (``memory_mapping = partitioned``) the traffic is priced
  per tensor class, each homed as above in its share ``s`` of every level (as a working set
  ``F / s``), and ``t_m`` is the sum over the classes; without one (greedy) the above, bit for bit;
- host channel (processing-in-memory engines): a PIM engine's units sit at the banks, but an
  operator's activations do not live there. With a :class:`Channel` on the route, only the
  resident traffic (weights, KV-cache reads) is priced on the path above; the activations cross
  the channel: the bytes ``b`` sent to each of the ``copies`` channels (a weight operator's input:
  every channel holds rows of the matrix and needs all of it) and the bytes ``o`` that cross once
  (an attention query, which goes only to the channels of its own KV rows; results and new cache
  rows): ``t_ch = (b x copies + o) / channel bandwidth``, in series with the bank-side work (an
  input is there before the MACs start, a result leaves after them), and the same bytes at the
  channel's energy per byte;
- time ``t = max(t_c, t_m) + t_ch + overhead`` (overlap ``max``) or ``t_c + t_m + t_ch + overhead``
  (``sum``), ``t_ch = 0`` without a channel; ``overhead`` is the target's fixed time per operator,
  plus, on a target that declares ``first_touch_threshold`` / ``first_touch_bandwidth`` and for a
  table whose results are fresh buffers, ``out / first_touch_bandwidth`` for a result of at least
  the threshold (:meth:`models.perf.roofline.Plan.overhead_of`);
- dynamic energy ``flop x energy_per_op(e, dtype) + bytes x the energy per byte of every level
  from the innermost to the home`` (blended by partial residency as the time is);
- stalled energy ``stall_power x (t - t_c)``: the device runs the job but ``e`` is not computing
  for ``t - t_c`` (waiting on memory beyond the compute time, and the fixed overhead), and draws
  ``stall_power`` above static then (clock tree, schedulers, memory controllers and PHYs kept
  active). The energy per operation of a TDP-derived preset already covers that draw while
  ``e`` computes, so it is charged only for the time it does not. Absent: 0 W, no term.

Launch: the time of a step is not always the sum of its operators' times. Each operator is a
kernel with a device-side cost (the ``overhead`` above, paid in every runtime) and a host-side
dispatch cost ``h`` of the runtime. With asynchronous launch the host enqueues ahead, so a
kernel's host cost hides behind the kernels before it: a step of ``n`` kernels of device time
``D`` (overheads included) takes ``max(D + h, n h + D / n)`` (:func:`launch_time`; the first
kernel waits for its own dispatch, the last one runs after the last dispatch); with a
synchronisation after every kernel it takes ``D + n h``; CUDA graphs have ``h = 0``.

Engine rule: the least time, ties in time to the least energy (dynamic + stalled), remaining
ties to the engine listed first (policy ``"time"``); or the least ``energy + time x static power``
(policy ``"energy"``). An engine is dropped before pricing only when another engine with the same
memory arrays is never slower and never costlier at any design point, so dropping it changes
no number.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["BOUND_COMPUTE", "BOUND_OVERHEAD", "LEVEL0", "Channel", "Path", "Priced", "Route", "Split", "launch_time",
           "price", "prune_routes"]

BOUND_COMPUTE = 0
BOUND_OVERHEAD = 1
LEVEL0 = 2  # bound code of memory level l is LEVEL0 + l


@dataclass(frozen=True, eq=False)
class Path:
    """An engine's memory path at the hardware points, innermost level first.

    Attributes
    ----------
    levels
        Global index of each level of the path (into the target's memory levels).
    inv_bw
        Per level ``j``: the cumulative max of ``1 / bandwidth`` over levels ``0..j`` (s/B), each
        an array over hardware points.
    energy_per_B
        Per level ``j``: the energy per byte of levels ``0..j`` summed (J/B).
    capacity
        Per level: capacity (B).
    const_capacity
        The capacities as floats when they are the same at every hardware point, else None.
    monotone
        ``const_capacity`` never decreases outwards (the home level then grows with the
        working set, which lets a whole operator be homed from its smallest and largest value).
    """

    levels: tuple[int, ...]
    inv_bw: tuple[np.ndarray, ...]
    energy_per_B: tuple[np.ndarray, ...]
    capacity: tuple[np.ndarray, ...]
    const_capacity: tuple[float, ...] | None
    monotone: bool

    @property
    def scalar(self) -> bool:
        """One hardware point: every per-level value is a single number."""
        return all(a.size == 1 for a in self.inv_bw) and all(a.size == 1 for a in self.energy_per_B)

    @functools.cached_property
    def inv_bw_table(self) -> np.ndarray:
        return np.array([float(a.reshape(-1)[0]) for a in self.inv_bw])

    @functools.cached_property
    def energy_table(self) -> np.ndarray:
        return np.array([float(a.reshape(-1)[0]) for a in self.energy_per_B])

    @classmethod
    def build(cls, levels: Sequence[int], bandwidth_B_per_s: Sequence[np.ndarray],
              energy_J_per_B: Sequence[np.ndarray], capacity_B: Sequence[np.ndarray]) -> Path:
        inv: list[np.ndarray] = []
        eb: list[np.ndarray] = []
        for j, (bw, e) in enumerate(zip(bandwidth_B_per_s, energy_J_per_B, strict=True)):
            x = 1.0 / np.asarray(bw, dtype=np.float64)
            inv.append(x if j == 0 else np.maximum(inv[-1], x))
            eb.append(np.asarray(e, dtype=np.float64) if j == 0 else eb[-1] + e)
        caps = tuple(np.asarray(c, dtype=np.float64) for c in capacity_B)
        const = tuple(float(c.reshape(-1)[0]) for c in caps) if all(np.all(c == c.reshape(-1)[0]) for c in caps) \
            else None
        mono = const is not None and all(a <= b for a, b in zip(const, const[1:], strict=False))
        return cls(levels=tuple(int(x) for x in levels), inv_bw=tuple(inv), energy_per_B=tuple(eb),
                   capacity=caps, const_capacity=const, monotone=mono)

    def same_as(self, other: Path) -> bool:
        """The same levels with the same (capped) bandwidths, energies and capacities everywhere."""
        if self is other:
            return True
        if self.levels != other.levels:
            return False
        return all(np.array_equal(a, b) for x, y in ((self.inv_bw, other.inv_bw),
                                                      (self.energy_per_B, other.energy_per_B),
                                                      (self.capacity, other.capacity))
                   for a, b in zip(x, y, strict=True))

    def home_of(self, footprint_B: float) -> int:
        """Home level (path index) of one working set, with constant capacities."""
        assert self.const_capacity is not None
        for j, c in enumerate(self.const_capacity[:-1]):
            if footprint_B <= c:
                return j
        return len(self.levels) - 1


@dataclass(frozen=True, eq=False)
class Channel:
    """The host channel of a processing-in-memory engine (see the module docstring).

    ``inv_bw`` is ``1 / bandwidth`` (s/B, aggregate over the channels), ``energy_per_B`` the
    energy per byte crossing it, ``copies`` the number of channels each input is sent to (arrays
    over hardware points), ``bound`` the bound code reported when the channel takes longest.
    """

    inv_bw: np.ndarray
    energy_per_B: np.ndarray
    copies: np.ndarray
    bound: int

    def same_as(self, other: Channel | None) -> bool:
        return other is not None and (self is other or (
            self.bound == other.bound and all(np.array_equal(a, b) for a, b in (
                (self.inv_bw, other.inv_bw), (self.energy_per_B, other.energy_per_B), (self.copies, other.copies)))))


@dataclass(frozen=True, eq=False)
class Route:
    """One engine that may run an operator, with its rate and energy at the hardware points.

    ``inv_rate`` is ``1 / (peak x efficiency)`` (s per operation; ``inf`` where the engine has no
    rate), ``half_k`` and ``half_m`` the size-curve constants (None: no curve), ``channel`` the
    host channel of a processing-in-memory engine (None: every byte is priced on ``path``).
    """

    engine: int
    inv_rate: np.ndarray
    energy_per_op: np.ndarray
    half_k: np.ndarray | None
    path: Path
    half_m: np.ndarray | None = None
    channel: Channel | None = None

    def same_memory(self, other: Route) -> bool:
        """The same path and the same host channel (or none on either)."""
        if not self.path.same_as(other.path):
            return False
        return other.channel is None if self.channel is None else self.channel.same_as(other.channel)

    @property
    def curved(self) -> bool:
        return self.half_k is not None or self.half_m is not None


@dataclass(frozen=True, eq=False)
class Priced:
    """Time and energy (dynamic + stalled, no static) of one operator instance at every design
    point, the stalled part apart (None without a stall power), and, with ``detail``, the winning
    engine, the compute and memory times and the bound code."""

    latency_s: np.ndarray
    energy_J: np.ndarray
    stall_energy_J: np.ndarray | None = None
    engine: np.ndarray | None = None
    compute_s: np.ndarray | None = None
    memory_s: np.ndarray | None = None
    bound: np.ndarray | None = None
    marked_s: np.ndarray | None = None


@dataclass(frozen=True, eq=False)
class Split:
    """An operator's traffic in placement classes, each homed in its own share of every level
    (a memory mapping that pins tensor classes instead of letting one working set compete for
    the whole capacity; :mod:`models.algorithms.memory_mapping`).

    Class ``c`` moves ``bytes_B[c]`` with working set ``footprint_B[c]`` in the fraction
    ``share[c]`` of each level's capacity: it is homed as a working set ``footprint_B[c] /
    share[c]`` in the whole capacity (the same comparisons ``F <= s C`` and residency
    ``s C / F``); a share of 0 streams the class from the outermost level. The memory time is
    ``sum_c bytes_B[c] x (1 / bandwidth of its blend)``, the memory energy the same sum with the
    energy per byte. Arrays broadcast with the operator's.
    """

    bytes_B: tuple[np.ndarray, ...]
    footprint_B: tuple[np.ndarray, ...]
    share: tuple[np.ndarray, ...]

    def scaled_footprints(self) -> tuple[np.ndarray, ...]:
        out = []
        for f, s in zip(self.footprint_B, self.share, strict=True):
            s_ = np.asarray(s, dtype=np.float64)
            f_ = np.asarray(f, dtype=np.float64)
            with np.errstate(divide="ignore", invalid="ignore"):
                out.append(np.where(s_ > 0, f_ / np.where(s_ > 0, s_, 1.0), np.inf))
        return tuple(out)


def prune_routes(routes: Sequence[Route]) -> list[Route]:
    """Drop the routes that can never win (see the module docstring); the order is kept."""
    keep = list(routes)
    out = []
    for i, r in enumerate(keep):
        dominated = False
        for j, s in enumerate(keep):
            if i == j or r.curved or s.curved or not s.same_memory(r):
                continue
            if not (np.all(s.inv_rate <= r.inv_rate) and np.all(s.energy_per_op <= r.energy_per_op)):
                continue
            if j < i or np.all(s.energy_per_op < r.energy_per_op):
                dominated = True
                break
        if not dominated:
            out.append(r)
    return out


RESIDENCY_CUTOFF = 0.01
"""Resident fractions ``C / F`` below this are taken as 0 (the whole working set streams from
the home level, the whole-home result exactly); between it and twice it the fraction
ramps linearly from 0 to ``C / F``, so the cut-off adds no jump (see :func:`_resident`)."""


def _resident(capacity: np.ndarray | float, footprint: np.ndarray) -> np.ndarray:
    """Fraction of an operator's traffic served by a level of ``capacity`` that does not hold its
    working set ``footprint`` (> capacity): ``x = C / F`` (a streaming approximation without LRU:
    a ``C``-byte part of the working set stays resident and serves its share of the traffic),
    0 for ``x <= RESIDENCY_CUTOFF``, ramping linearly to ``x`` at ``2 x RESIDENCY_CUTOFF``."""
    x = capacity / np.maximum(footprint, 1e-300)
    return np.maximum(0.0, np.minimum(x, 2.0 * (x - RESIDENCY_CUTOFF)))


def _home(path: Path, footprint: np.ndarray, floor: np.ndarray | None, lo: float | None, hi: float | None,
          detail: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray | int]:
    """``(1/bandwidth, energy per byte, home index)`` of the path for the working set
    ``F = max(footprint, floor)``.

    The home is the innermost level whose capacity holds ``F`` (the outermost when none does);
    each level ``j`` inside the home serves the fraction ``H_j = _resident(C_j, F)`` of the
    traffic (partial residency; ``C_j`` the largest capacity of levels ``0..j``), so with the
    cumulative per-level costs ``c_j`` (``inv_bw``, ``energy_per_B``) the cost per byte is
    ``c_home - sum_{j < home} H_j (c_{j+1} - c_j)``: with one partial level,
    ``H c_in + (1 - H) c_out``. ``H_j = 0`` everywhere gives ``c_home`` bit for bit.

    ``lo``/``hi`` bound the working set (None: unknown); with monotone constant capacities the
    homes between those of ``lo`` and ``hi`` are the only candidates, and the levels with
    ``C_j <= RESIDENCY_CUTOFF x lo`` never serve any traffic (one home and no partial level: no
    per-point work).
    """
    n = len(path.levels)
    if n == 1:
        return path.inv_bw[0], path.energy_per_B[0], 0
    a, b = 0, n - 1
    p0 = 0  # first level that may hold part of the working set
    if path.monotone and lo is not None and hi is not None:
        assert path.const_capacity is not None
        a, b = path.home_of(lo), path.home_of(hi)
        while p0 < b and path.const_capacity[p0] <= RESIDENCY_CUTOFF * lo:
            p0 += 1
        if a == b and p0 >= b:
            return path.inv_bw[a], path.energy_per_B[a], a
    if floor is not None:
        footprint = np.maximum(footprint, floor)
    inv_bw: np.ndarray
    eb: np.ndarray
    hidx: np.ndarray | int
    if path.const_capacity is not None and path.monotone:
        # homes a..b: walk the capacities between them from the outside in
        caps = path.const_capacity
        inv_bw, eb, hidx = path.inv_bw[b], path.energy_per_B[b], b
        for j in range(b - 1, a - 1, -1):
            fits = footprint <= caps[j]
            inv_bw = np.where(fits, path.inv_bw[j], inv_bw)
            eb = np.where(fits, path.energy_per_B[j], eb)
            if detail:
                hidx = np.where(fits, np.int8(j), hidx)
        # partial residency in the levels p0..b-1 inside the home (caps[j] < F there)
        for j in range(p0, b):
            h = np.where(footprint > caps[j], _resident(caps[j], footprint), 0.0)
            inv_bw = inv_bw - h * (path.inv_bw[j + 1] - path.inv_bw[j])
            eb = eb - h * (path.energy_per_B[j + 1] - path.energy_per_B[j])
        return inv_bw, eb, hidx
    inv_bw, eb, hidx = path.inv_bw[-1], path.energy_per_B[-1], n - 1
    for j in range(n - 2, -1, -1):
        fits = footprint <= path.capacity[j]
        inv_bw = np.where(fits, path.inv_bw[j], inv_bw)
        eb = np.where(fits, path.energy_per_B[j], eb)
        if detail:
            hidx = np.where(fits, np.int8(j), hidx)
    # partial residency: level j is inside the home where no level 0..j holds F; it keeps the
    # share of the largest of their capacities (so H_j never decreases outwards)
    cmax: np.ndarray | None = None
    for j in range(n - 1):
        cmax = path.capacity[j] if cmax is None else np.maximum(cmax, path.capacity[j])
        h = np.where(footprint > cmax, _resident(cmax, footprint), 0.0)
        inv_bw = inv_bw - h * (path.inv_bw[j + 1] - path.inv_bw[j])
        eb = eb - h * (path.energy_per_B[j + 1] - path.energy_per_B[j])
    return inv_bw, eb, hidx


def _inplace(ufunc: np.ufunc, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``ufunc(a, b)`` written into ``a`` when the result has ``a``'s shape (``a`` must be a
    temporary of the caller), else a new array."""
    if isinstance(a, np.ndarray) and a.ndim and _fits(a.shape, np.shape(b)) and a.flags.writeable \
            and a.dtype == np.float64:
        return ufunc(a, b, out=a)
    return ufunc(a, b)


def _fits(big: tuple[int, ...], small: tuple[int, ...]) -> bool:
    """``small`` broadcasts to ``big`` without growing it."""
    if len(small) > len(big):
        return False
    return all(s in (1, b) for s, b in zip(small[::-1], big[::-1], strict=False))


def _curve(cache: dict[tuple[int, int], np.ndarray] | None, size: np.ndarray, half: np.ndarray) -> np.ndarray:
    """``(size + half) / size`` where ``half > 0`` (1 elsewhere): the time factor of a size curve.

    Operators of one table often share their ``m`` or ``k`` array (every projection of a layer
    has ``m = tokens``): ``cache`` keeps the factor of each (array, curve) pair.
    """
    key = (id(size), id(half))
    if cache is not None and key in cache:
        return cache[key]
    if half.size == 1:
        h = float(half.reshape(-1)[0])
        f = (size + h) / np.maximum(size, 1e-300) if h > 0 else np.ones(())
    else:
        f = np.where(half > 0, (size + half) / np.maximum(size, 1e-300), 1.0)
    if cache is not None:
        cache[key] = f
    return f


def _split_memory(path: Path, split: Split, scaled_fp: tuple[np.ndarray, ...], c: float,
                  detail: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray | int]:
    """Memory time and energy of a :class:`Split` on one path (times ``c`` instances), and the
    home (path index) of the class that moves the most bytes."""
    t_m: np.ndarray | None = None
    e_m: np.ndarray | None = None
    home: np.ndarray | int = 0
    most: np.ndarray | None = None
    for b, fp in zip(split.bytes_B, scaled_fp, strict=True):
        inv_bw, eb, h = _home(path, fp, None, None, None, detail)
        b_ = np.asarray(b, dtype=np.float64) * c if c != 1.0 else np.asarray(b, dtype=np.float64)
        t_c, e_c = b_ * inv_bw, b_ * eb
        if t_m is None or e_m is None or most is None:
            t_m, e_m, home, most = t_c, e_c, h, b_
        else:
            if detail:
                home = np.where(b_ > most, h, home)
                most = np.maximum(b_, most)
            t_m, e_m = t_m + t_c, e_m + e_c
    assert t_m is not None and e_m is not None, "a Split needs at least one class"
    return t_m, e_m, home


def price(routes: Sequence[Route], flop: np.ndarray, bytes_B: np.ndarray, footprint_B: np.ndarray,
          k: np.ndarray, m: np.ndarray, *, overhead_s: np.ndarray, static_W: np.ndarray, sum_overlap: bool,
          policy: str = "time", stall_W: np.ndarray | None = None, floor_B: np.ndarray | None = None,
          footprint_range: tuple[float, float] | None = None, count: float | None = None,
          cache: dict[tuple[int, int], np.ndarray] | None = None, detail: bool = False,
          defer_stall: bool = False, split: Split | None = None,
          host_B: tuple[np.ndarray, np.ndarray] | None = None, marked: frozenset[int] | None = None,
          fused_s: np.ndarray | None = None, pipelined_s: np.ndarray | None = None) -> Priced:
    """Price one operator on each of ``routes`` and keep the engine the rule picks.

    Parameters
    ----------
    routes
        The engines that may run the operator (at least one), after :func:`prune_routes`.
    flop, bytes_B, footprint_B, k, m
        The operator's operations, bytes moved, working set, reduction length and output rows
        per instance; arrays that broadcast with the hardware arrays of the routes.
    overhead_s, static_W
        Per-operator fixed time and static power at the hardware points.
    sum_overlap
        Add compute and memory time instead of taking the larger.
    policy
        ``"time"`` or ``"energy"`` (see the module docstring).
    stall_W
        Power above static while the engine is not computing (W, at the hardware points); None:
        no stalled term (today's formula, bit for bit).
    floor_B
        A lower bound of the working set (the phase's resident state for an operator that reads
        weights or the KV cache): the operator is homed by ``max(footprint_B, floor_B)``.
    footprint_range
        ``(min, max)`` of that working set when known: lets a whole operator be homed at once.
    count
        A number of instances (>= 0) to price at once: time and energy are multiplied by it
        (folded into the per-engine constants, which saves two passes over the points). Not
        with ``detail``.
    cache
        A dict kept across the operators of one table (see :func:`_curve`).
    detail
        Also return the engine, the compute and memory times and the bound code.
    defer_stall
        For totals with policy ``"time"`` and a stall power: return the dynamic energy only and
        the winner's compute time as ``compute_s``; the caller adds ``stall_W x (sum of
        latency_s - sum of compute_s)``, the same stalled energy summed before the multiply
        (one product per sum instead of one per operator). The engine choice is unchanged.
    split
        A memory mapping that prices the traffic by placement class (:class:`Split`; its bytes
        sum to ``bytes_B``) instead of homing ``footprint_B`` / ``floor_B`` as one working set;
        None: the greedy home (today's formula, bit for bit).
    host_B
        ``(b, o)``: the operator's activation bytes sent to every channel of a processing-in-memory
        engine's banks and those that cross once (``models.perf.roofline._host_bytes``), priced on
        the host channel of the routes that have one (their path then moves ``bytes_B - b - o``, homed greedily:
        the banks hold the resident tensors, so a pinned mapping of on-chip buffers does not apply
        to them); None, or a route without a channel: every byte on the path.
    marked
        Engine indices whose share of the time is wanted apart: ``marked_s`` of the result is the
        latency where the winning engine is one of them, 0 elsewhere (the PIM side of NPU/PIM
        concurrency, :mod:`models.perf.roofline`); None: not computed.
    fused_s
        Compute time of work fused into this operator's kernel (a low-bit GEMM's in-register
        dequantization, :func:`models.workloads.table.fused_name`), priced alone on the engine its
        own routing picks, times ``count`` like this operator. It adds to the compute time of every
        route: the fused instructions issue from the same schedulers as the operator's own (a GPU's
        warp schedulers feed its tensor and vector pipes, a CPU core's SIMD pipes do both), and the
        memory time and the overhead overlap the sum as usual. None: no fused work.
    pipelined_s
        Compute time of work pipelined beside this operator on a unit of its own (FLAT's 1D softmax
        array beside the 2D array), priced the same way: the compute time is the larger of the two
        (``max(t_c + fused_s, pipelined_s)``). None: nothing pipelined.
    """
    if count is not None and detail:
        raise ValueError("price(): count is for totals; with detail=True price one instance")
    if defer_stall and (detail or stall_W is None or policy != "time"):
        raise ValueError("price(): defer_stall is for totals (detail=False) with policy 'time' and a stall power")
    c = 1.0 if count is None else float(count)
    lo, hi = footprint_range if footprint_range is not None else (None, None)
    scaled_fp = split.scaled_footprints() if split is not None else ()
    best_t: np.ndarray | None = None
    best_mark: np.ndarray | bool = False
    best_e: np.ndarray | None = None
    best_s: np.ndarray | None = None
    best_tc: np.ndarray | None = None
    best_score: np.ndarray | None = None
    # with policy "time" the stalled energy of the winner is added once, after the choice:
    # stall x (t - t_c) of the winning route (same numbers, fewer array passes per route)
    lazy_stall = stall_W is not None and policy == "time"
    out_eng: np.ndarray | None = None
    out_tc: np.ndarray | None = None
    out_tm: np.ndarray | None = None
    out_bound: np.ndarray | None = None
    for r in routes:
        t_c = flop * (r.inv_rate * c if c != 1.0 else r.inv_rate)
        if r.half_k is not None:  # size curve: efficiency x k / (k + half_k)
            t_c = _inplace(np.multiply, t_c, _curve(cache, k, r.half_k))
        if r.half_m is not None:  # tile fill: efficiency x m / (m + half_m)
            t_c = _inplace(np.multiply, t_c, _curve(cache, m, r.half_m))
        if fused_s is not None:
            t_c = t_c + fused_s
        if pipelined_s is not None:
            t_c = np.maximum(t_c, pipelined_s)
        ch = r.channel if host_B is not None else None
        t_ch: np.ndarray | None = None
        if ch is not None:
            assert host_B is not None
            b_in, b_out = host_B
            inv_bw, eb, home = _home(r.path, footprint_B, floor_B, lo, hi, detail)
            if c != 1.0:
                inv_bw, eb = inv_bw * c, eb * c
            resident = np.maximum(bytes_B - b_in - b_out, 0.0)
            crossing = b_in * ch.copies + b_out
            t_m = resident * inv_bw
            t_ch = crossing * (ch.inv_bw * c if c != 1.0 else ch.inv_bw)
            e_mem = resident * eb + crossing * (ch.energy_per_B * c if c != 1.0 else ch.energy_per_B)
        elif split is None:
            inv_bw, eb, home = _home(r.path, footprint_B, floor_B, lo, hi, detail)
            if c != 1.0:
                inv_bw, eb = inv_bw * c, eb * c
            t_m = bytes_B * inv_bw
            e_mem = bytes_B * eb
        else:
            t_m, e_mem, home = _split_memory(r.path, split, scaled_fp, c, detail)
        oh = overhead_s * c if c != 1.0 else overhead_s
        if sum_overlap:
            t = t_c + t_m
        elif detail or stall_W is not None:  # t_c is needed below
            t = np.maximum(t_c, t_m)
        else:  # t_c is not needed any more: reuse its memory
            t = _inplace(np.maximum, t_c, t_m)
        if t_ch is not None:  # in series with the bank-side work
            t = t + t_ch
        t = _inplace(np.add, t, oh)
        e = flop * (r.energy_per_op * c if c != 1.0 else r.energy_per_op)
        e = _inplace(np.add, e, e_mem)
        es: np.ndarray | None = None
        if stall_W is not None and not lazy_stall:
            # the device runs the job while this engine does not compute for t - t_c: the memory
            # time beyond the compute time (all of it with sum overlap) plus the overhead
            es = _inplace(np.multiply, t - t_c, stall_W)
            e = _inplace(np.add, e, es)
        if best_t is None:
            better = None
            best_mark = marked is not None and r.engine in marked
            best_t, best_e, best_s, best_tc = t, e, es, t_c
            if policy == "energy":
                best_score = e + t * static_W
        else:
            assert best_e is not None
            if policy == "time":
                eq = t == best_t
                if lazy_stall and eq.any():
                    # a tie in time goes to the least dynamic + stalled energy; with equal times
                    # stall x (t - t_c) differs only by stall x t_c
                    assert best_tc is not None
                    cheaper = (e - stall_W * t_c) < (best_e - stall_W * best_tc)
                else:
                    cheaper = e < best_e
                better = (t < best_t) | (eq & cheaper)
            else:
                assert best_score is not None
                score = e + t * static_W
                better = score < best_score
                best_score = np.where(better, score, best_score)
            best_t = np.where(better, t, best_t)
            if marked is not None:
                best_mark = np.where(better, r.engine in marked, best_mark)
            best_e = np.where(better, e, best_e)
            if lazy_stall:
                best_tc = np.asarray(np.where(better, t_c, best_tc))
            elif es is not None and best_s is not None:
                best_s = np.where(better, es, best_s)
        if detail:
            levels = np.asarray(r.path.levels, dtype=np.int8)
            bound = np.where(t_c >= t_m, np.int8(BOUND_COMPUTE), levels[home] + np.int8(LEVEL0))
            if t_ch is not None:
                assert ch is not None
                bound = np.where(t_ch > np.maximum(t_c, t_m), np.int8(ch.bound), bound)
                t_m = t_m + t_ch  # the memory time reported: bank side and channel together
            bound = np.where(overhead_s > np.maximum(t_c, t_m), np.int8(BOUND_OVERHEAD), bound)
            eng = np.int8(r.engine)
            if better is None:
                out_eng, out_tc, out_tm, out_bound = np.full(np.shape(t), eng), t_c, t_m, bound
            else:
                assert out_eng is not None and out_tc is not None and out_tm is not None and out_bound is not None
                out_eng = np.where(better, eng, out_eng)
                out_tc = np.where(better, t_c, out_tc)
                out_tm = np.where(better, t_m, out_tm)
                out_bound = np.where(better, bound, out_bound)
    assert best_t is not None and best_e is not None, "price() needs at least one route"
    marked_s = None if marked is None else np.where(best_mark, best_t, 0.0)
    if defer_stall:
        assert best_tc is not None
        return Priced(latency_s=best_t, energy_J=best_e, compute_s=best_tc, marked_s=marked_s)
    if lazy_stall:
        assert best_tc is not None and stall_W is not None
        best_s = _inplace(np.multiply, best_t - best_tc, stall_W)
        best_e = best_e + best_s
    if not detail:
        return Priced(latency_s=best_t, energy_J=best_e, stall_energy_J=best_s, marked_s=marked_s)
    assert out_eng is not None and out_tc is not None and out_tm is not None and out_bound is not None
    shp = np.shape(best_t)
    return Priced(latency_s=best_t, energy_J=best_e, stall_energy_J=best_s, marked_s=marked_s,
                  engine=np.broadcast_to(out_eng, shp),
                  compute_s=np.broadcast_to(out_tc, shp), memory_s=np.broadcast_to(out_tm, shp),
                  bound=np.broadcast_to(out_bound, shp))


def launch_time(device_s: np.ndarray, n_kernels: np.ndarray, host_s: float, overlap: bool) -> np.ndarray:
    """Time of a step (or of a phase of identical steps) with host dispatch.

    Parameters
    ----------
    device_s
        Sum over the kernels of their device time, device-side overhead included (s); any shape.
    n_kernels
        Number of kernels (operator instances) in it; broadcasts with ``device_s``.
    host_s
        Host time to dispatch one kernel (s); 0 for a CUDA-graph step.
    overlap
        Asynchronous launch (the host runs ahead of the device): ``max(device + h, n h + device / n)``;
        else the host waits for every kernel: ``device + n h``.

    Returns
    -------
    The step time (s), ``device_s`` itself when ``host_s`` is 0. For a phase of many identical
    steps (a decode phase), ``device_s`` and ``n_kernels`` are the phase's sums, and the one-kernel
    terms ``+ h`` and ``+ device / n`` are counted once per phase, not per step (at most one
    kernel's time per step).
    """
    if host_s == 0.0:
        return device_s
    host = n_kernels * host_s
    if not overlap:
        return device_s + host
    mean = np.divide(device_s, n_kernels, out=np.zeros(np.broadcast_shapes(np.shape(device_s), np.shape(n_kernels))),
                     where=np.asarray(n_kernels) > 0)
    return np.maximum(device_s + host_s, host + mean)
