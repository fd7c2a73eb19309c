"""A target compiled to arrays, with a leading design-point axis for overridden fields.

``compile_target(target, overrides)`` turns the frozen :class:`~models.hardware.Target` into
numpy arrays the evaluator indexes directly. Fields that a design point overrides get a point
axis of length ``n_points``; the others keep length 1 and broadcast.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from models.hardware.dtypes import DTYPE_INDEX, DTYPES
from models.hardware.registry import _adds_entry, with_overrides
from models.hardware.schema import Target, field_spec
from models.workloads.kinds import OP_KINDS

__all__ = ["CompiledTarget", "compile_target", "shared_limit"]

ArrayLike = float | np.ndarray


@dataclass(frozen=True, kw_only=True)
class CompiledTarget:
    """Arrays of one target; leading axis is 1 or n_points.

    Shapes: E engines, D datatypes (:data:`~models.hardware.DTYPES`), K operator kinds,
    L memory levels; the point axis ``P`` is ``n_points`` for the arrays that an override changes
    and 1 for the others (they broadcast).

    Attributes
    ----------
    peak_op_per_s
        ``(P, E, D)`` native peak of the datatype each (engine, dtype) really runs in;
        0 where the engine cannot run it at all.
    resolved_dtype
        ``(E, D)`` index of the datatype actually computed (itself or its fallback), -1 if none.
    efficiency
        ``(P, E, K)`` achievable fraction of peak per engine and operator kind.
    half_k, half_m
        ``(P, E, K)`` size-curve constants (0: no curve): efficiency x k / (k + half_k) and
        x m / (m + half_m).
    half_m_by_dtype
        ``(P, E, K, D)`` the tile-fill constant of each datatype an engine computes in: its
        ``efficiency_half_m_by_dtype`` entry, else ``half_m``; None when no engine declares one.
    energy_J_per_op
        ``(P, E, D)`` energy per operation of the resolved datatype.
    bandwidth_B_per_s, capacity_B, energy_J_per_B
        ``(P, L)``; bandwidth already multiplied by the level's efficiency.
    bandwidth_by_kind_B_per_s
        ``(P, L, K)`` bandwidth per operator kind: the level's peak times its
        ``efficiency_by_kind`` entry for the kind, or ``bandwidth_B_per_s`` where it has none;
        None when no level declares a kind entry (every kind draws ``bandwidth_B_per_s``).
    unit_cap_B_per_s
        ``(P, E, L)`` bandwidth cap of each engine at each level: ``min(n_units x the level's
        per-unit bandwidth, the level's sustained bandwidth)`` (a missing term does not limit;
        inf where the level has neither).
    paths
        Per engine, the level indices it reads from, innermost first.
    static_power_W, op_overhead_s, area_m2
        ``(P,)`` static power, fixed time per operator and die area (NaN where unknown).
    first_touch_threshold_B, first_touch_bandwidth_B_per_s
        ``(P,)`` the output size from which an operator's result is a fresh OS mapping and the rate
        its pages are first written at, or None when the target declares neither and no override
        sets them (no such cost).
    stall_power_W
        ``(P,)`` power above static while an engine waits (latency - compute time), or None when
        the target declares none and no override sets it (priced as 0 W, by today's formula).
    host_bandwidth_B_per_s, host_bandwidth_peak_B_per_s, host_energy_J_per_B, host_channels
        ``(P, L)`` the host channel of each processing-in-memory level (bandwidth times the
        level's efficiency, and at peak; energy per byte; channels), 0 bandwidth where a level
        has none (:class:`models.perf.kernel.Channel`).
    """

    target: Target
    n_points: int
    engine_names: tuple[str, ...]
    level_names: tuple[str, ...]
    peak_op_per_s: np.ndarray
    resolved_dtype: np.ndarray
    efficiency: np.ndarray
    half_k: np.ndarray
    half_m: np.ndarray
    energy_J_per_op: np.ndarray
    bandwidth_B_per_s: np.ndarray
    half_m_by_dtype: np.ndarray | None
    bandwidth_peak_B_per_s: np.ndarray
    capacity_B: np.ndarray
    unit_cap_B_per_s: np.ndarray
    energy_J_per_B: np.ndarray
    paths: tuple[tuple[int, ...], ...]
    static_power_W: np.ndarray
    op_overhead_s: np.ndarray
    overlap: str
    area_m2: np.ndarray
    stall_power_W: np.ndarray | None = None
    first_touch_threshold_B: np.ndarray | None = None
    first_touch_bandwidth_B_per_s: np.ndarray | None = None
    bandwidth_by_kind_B_per_s: np.ndarray | None = None
    host_bandwidth_B_per_s: np.ndarray | None = None
    host_bandwidth_peak_B_per_s: np.ndarray | None = None
    host_energy_J_per_B: np.ndarray | None = None
    host_channels: np.ndarray | None = None
    # the interconnect (models.parallel.collectives); None when the target declares none
    link_bandwidth_B_per_s: np.ndarray | None = None
    link_latency_s: np.ndarray | None = None
    link_energy_J_per_B: np.ndarray | None = None

    @property
    def memory_capacity_B(self) -> np.ndarray:
        """``(P,)`` capacity of the main memory (:meth:`models.hardware.Target.main_memory`)."""
        return self.capacity_B[:, self.level_names.index(self.target.main_memory().name)]

    @property
    def fallback(self) -> np.ndarray:
        """``(E, D)`` True where an engine computes a datatype in another one."""
        return (self.resolved_dtype >= 0) & (self.resolved_dtype != np.arange(len(DTYPES))[None, :])


def _as_points(v: ArrayLike, path: str) -> np.ndarray:
    a = np.atleast_1d(np.asarray(v, dtype=np.float64))
    if a.ndim != 1:
        raise ValueError(f"override {path!r} must be a scalar or a 1-D array over design points")
    spec = field_spec(path)
    if spec.problem(a) is not None:
        bad = next(float(x) for x in a if spec.problem(float(x)) is not None)
        raise ValueError(f"override {path!r}: value {bad!r} out of range; {spec.allowed()}")
    return a


def compile_target(target: Target, overrides: Mapping[str, ArrayLike] | None = None) -> CompiledTarget:
    """Compile ``target`` with optional per-point overrides (SI values, override paths).

    A scalar override is applied to the target itself; an array override of length P gives
    the affected arrays a point axis of length P. All array overrides must share one P.
    """
    overrides = dict(overrides or {})
    allowed = target.numeric_fields()
    scalars: dict[str, float] = {}
    arrays: dict[str, np.ndarray] = {}
    n = 1
    for path, v in overrides.items():
        a = _as_points(v, path)
        if path not in allowed and not _adds_entry(target, path):
            raise KeyError(f"unknown target field {path!r} for {target.name!r}; allowed: {', '.join(sorted(allowed))}")
        if a.size == 1:
            scalars[path] = float(a[0])
        else:
            if n not in (1, a.size):
                raise ValueError(f"override {path!r} has {a.size} points, others have {n}")
            n = a.size
            arrays[path] = a
            scalars[path] = float(a[0])  # structural placeholder, replaced below
    t = with_overrides(target, scalars) if scalars else target
    return _compile(t, arrays, n)


def shared_limit(n_units: ArrayLike, per_unit: ArrayLike, sustained: ArrayLike, contended: ArrayLike,
                 contended_units: ArrayLike) -> np.ndarray:
    """The shared limit of a level for ``n_units`` streaming units when more streams draw less.

    ``n x per_unit`` reaches ``sustained`` at the knee ``k = sustained / per_unit``; past it the
    limit falls linearly to ``contended`` at ``contended_units`` and stays there (no
    extrapolation past the measurement)::

        limit(n) = sustained - (sustained - contended) x clip((n - k) / (contended_units - k), 0, 1)

    Below the knee it is ``sustained`` (the per-unit term binds there). Arrays broadcast over
    design points (``MemoryLevel.contended_bandwidth_B_per_s``, docs/models.md "CPU DRAM
    bandwidth").
    """
    n, pu, s, c, nc = (np.asarray(v, dtype=np.float64) for v in (n_units, per_unit, sustained, contended,
                                                                   contended_units))
    knee = s / pu
    frac = np.clip((n - knee) / np.maximum(nc - knee, 1e-12), 0.0, 1.0)
    return s - (s - c) * frac


def _stack(inner: tuple[int, ...], entries: Mapping[tuple[int, ...], np.ndarray], fill: float) -> np.ndarray:
    """An array of shape ``(P, *inner)``, ``P`` = the largest entry (1 when nothing varies).

    Stored with the point axis last, so that every ``[:, i, j]`` is one contiguous vector over the
    design points (what the pricing kernel reads), and exposed point axis first.
    """
    P = max((v.size for v in entries.values()), default=1)
    out = np.full((*inner, P), fill)
    for idx, v in entries.items():
        out[idx] = v
    return np.moveaxis(out, -1, 0)


def _compile(t: Target, arrays: Mapping[str, np.ndarray], n: int) -> CompiledTarget:
    E, D, K, L = len(t.engines), len(DTYPES), len(OP_KINDS), len(t.memories)
    enames = tuple(e.name for e in t.engines)
    lnames = tuple(m.name for m in t.memories)

    def get(path: str, default: float) -> np.ndarray:
        return arrays[path] if path in arrays else np.array([default])

    P = n if arrays else 1
    clock = get("clock", t.clock_Hz)
    resolved = np.full((E, D), -1, dtype=np.int64)
    peak_e: dict[tuple[int, ...], np.ndarray] = {}
    energy_e: dict[tuple[int, ...], np.ndarray] = {}
    eff_e: dict[tuple[int, ...], np.ndarray] = {}
    hk_e: dict[tuple[int, ...], np.ndarray] = {}
    hm_e: dict[tuple[int, ...], np.ndarray] = {}
    hmd_e: dict[tuple[int, ...], np.ndarray] = {}
    for i, e in enumerate(t.engines):
        p = f"engines.{e.name}."
        if set(e.ops_per_cycle) != set(e.energy_J_per_op):
            missing = sorted(set(e.ops_per_cycle) ^ set(e.energy_J_per_op))
            raise ValueError(f"target {t.name!r} engine {e.name!r}: datatypes {missing} need both "
                             "ops_per_cycle and energy_per_op")
        units = get(p + "n_units", e.n_units)
        eclock = get(p + "clock", e.clock_Hz) if e.clock_Hz is not None else clock
        native_peak = {d: units * get(p + f"ops_per_cycle.{d}", rate) * eclock for d, rate in e.ops_per_cycle.items()}
        native_energy = {d: get(p + f"energy_per_op.{d}", e.energy_J_per_op[d]) for d in e.ops_per_cycle}
        for j, d in enumerate(DTYPES):
            r = e.resolve_dtype(d)
            if r is not None:  # the datatype an engine really computes d in (itself or a fallback)
                resolved[i, j] = DTYPE_INDEX[r]
                peak_e[i, j] = native_peak[r]
                energy_e[i, j] = native_energy[r]
        base = get(p + "efficiency", e.efficiency)
        for kk, kind in enumerate(OP_KINDS):
            eff_e[i, kk] = get(p + f"efficiency_by_kind.{kind}", e.efficiency_by_kind[kind]) \
                if kind in e.efficiency_by_kind else base
            if kind in e.efficiency_half_k:
                hk_e[i, kk] = get(p + f"efficiency_half_k.{kind}", e.efficiency_half_k[kind])
            if kind in e.efficiency_half_m:
                hm_e[i, kk] = get(p + f"efficiency_half_m.{kind}", e.efficiency_half_m[kind])
            for d, kinds in e.efficiency_half_m_by_dtype.items():
                if kind in kinds:
                    hmd_e[i, kk, DTYPE_INDEX[d]] = get(p + f"efficiency_half_m_by_dtype.{d}.{kind}", kinds[kind])
    bwp_e: dict[tuple[int, ...], np.ndarray] = {}
    bw_e: dict[tuple[int, ...], np.ndarray] = {}
    bwk_e: dict[tuple[int, ...], np.ndarray] = {}
    cap_e: dict[tuple[int, ...], np.ndarray] = {}
    eb_e: dict[tuple[int, ...], np.ndarray] = {}
    hbp_e: dict[tuple[int, ...], np.ndarray] = {}
    hb_e: dict[tuple[int, ...], np.ndarray] = {}
    he_e: dict[tuple[int, ...], np.ndarray] = {}
    hc_e: dict[tuple[int, ...], np.ndarray] = {}
    for li, m in enumerate(t.memories):
        p = f"memories.{m.name}."
        bwp_e[(li,)] = get(p + "bandwidth", m.bandwidth_B_per_s)
        bw_e[(li,)] = bwp_e[(li,)] * get(p + "efficiency", m.efficiency)
        for kk, kind in enumerate(OP_KINDS):
            if kind in m.efficiency_by_kind:
                bwk_e[li, kk] = bwp_e[(li,)] * get(p + f"efficiency_by_kind.{kind}", m.efficiency_by_kind[kind])
        cap_e[(li,)] = get(p + "capacity", m.capacity_B)
        eb_e[(li,)] = get(p + "energy_per_byte", m.energy_J_per_B)
        if m.host_bandwidth_B_per_s is not None:
            hbp_e[(li,)] = get(p + "host_bandwidth", m.host_bandwidth_B_per_s)
            hb_e[(li,)] = hbp_e[(li,)] * get(p + "efficiency", m.efficiency)
            he_e[(li,)] = get(p + "host_energy_per_byte", m.host_energy_J_per_B or 0.0)
            hc_e[(li,)] = get(p + "host_channels", m.host_channels)
    paths = tuple(tuple(li for li, m in enumerate(t.memories) if e.name in m.read_by) for e in t.engines)
    # what an engine's units together can draw from a level: min(n_units x per-unit bandwidth,
    # the level's sustained (core-complex) bandwidth), either term absent = no limit from it
    cap_u: dict[tuple[int, ...], np.ndarray] = {}
    for li, m in enumerate(t.memories):
        if m.per_unit_bandwidth_B_per_s is None and m.sustained_bandwidth_B_per_s is None:
            continue
        p = f"memories.{m.name}."
        per_unit = None if m.per_unit_bandwidth_B_per_s is None else \
            get(p + "per_unit_bandwidth", m.per_unit_bandwidth_B_per_s)
        sustained = None if m.sustained_bandwidth_B_per_s is None else \
            get(p + "sustained_bandwidth", m.sustained_bandwidth_B_per_s)
        contended = None
        if m.contended_bandwidth_B_per_s is not None and m.contended_units is not None:
            contended = (get(p + "contended_bandwidth", m.contended_bandwidth_B_per_s),
                         get(p + "contended_units", m.contended_units))
        for i, e in enumerate(t.engines):
            if e.name not in m.read_by:
                continue
            if per_unit is None:
                assert sustained is not None
                cap_u[i, li] = sustained
            else:
                units = get(f"engines.{e.name}.n_units", e.n_units)
                drawn = units * per_unit
                if sustained is not None:
                    limit = sustained if contended is None else shared_limit(units, per_unit, sustained, *contended)
                    drawn = np.minimum(drawn, limit)
                cap_u[i, li] = drawn

    def point(v: np.ndarray) -> np.ndarray:
        return np.broadcast_to(v, (P,)).copy()

    return CompiledTarget(
        target=t, n_points=P, engine_names=enames, level_names=lnames, peak_op_per_s=_stack((E, D), peak_e, 0.0),
        resolved_dtype=resolved, efficiency=_stack((E, K), eff_e, 0.0), half_k=_stack((E, K), hk_e, 0.0),
        half_m=_stack((E, K), hm_e, 0.0), energy_J_per_op=_stack((E, D), energy_e, 0.0),
        half_m_by_dtype=None if not hmd_e else _stack(
            (E, K, D), {**{(i, kk, j): v for (i, kk), v in hm_e.items() for j in range(D)}, **hmd_e}, 0.0),
        bandwidth_B_per_s=_stack((L,), bw_e, 0.0), bandwidth_peak_B_per_s=_stack((L,), bwp_e, 0.0),
        capacity_B=_stack((L,), cap_e, 0.0), unit_cap_B_per_s=_stack((E, L), cap_u, np.inf),
        energy_J_per_B=_stack((L,), eb_e, 0.0), paths=paths,
        bandwidth_by_kind_B_per_s=None if not bwk_e else _stack(
            (L, K), {**{(li, kk): bw_e[(li,)] for li in range(L) for kk in range(K)}, **bwk_e}, 0.0),
        **({} if not hb_e else {"host_bandwidth_B_per_s": _stack((L,), hb_e, 0.0),
                                "host_bandwidth_peak_B_per_s": _stack((L,), hbp_e, 0.0),
                                "host_energy_J_per_B": _stack((L,), he_e, 0.0),
                                "host_channels": _stack((L,), hc_e, 1.0)}),
        static_power_W=point(get("static_power", t.static_power_W)),
        op_overhead_s=point(get("op_overhead", t.op_overhead_s)),
        overlap=t.overlap,
        area_m2=point(get("area", t.area_m2 if t.area_m2 is not None else np.nan)),
        stall_power_W=None if t.stall_power_W is None and "stall_power" not in arrays
        else point(get("stall_power", t.stall_power_W if t.stall_power_W is not None else 0.0)),
        **{attr: None if getattr(t, attr) is None and key not in arrays
           else point(get(key, getattr(t, attr) if getattr(t, attr) is not None else 0.0))
           for key, attr in (("link_bandwidth", "link_bandwidth_B_per_s"), ("link_latency", "link_latency_s"),
                             ("link_energy_per_byte", "link_energy_J_per_B"),
                             ("first_touch_threshold", "first_touch_threshold_B"),
                             ("first_touch_bandwidth", "first_touch_bandwidth_B_per_s"))})
