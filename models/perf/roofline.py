"""Evaluate an operator table on a target: the hierarchical roofline and energy model.

:func:`evaluate` prices every operator of a table with :func:`models.perf.kernel.price` (the one
pricing kernel: its docstring gives the formulas and the engine rule) and sums count x time and
count x energy per phase. The working set that homes an operator is ``footprint_B`` for an
activation-only operator, and at least its phase's resident state (``peak_memory_B``: weights,
KV cache, live activations) for an operator that reads weights or the KV cache, since those are
touched again only after everything else in the phase went through, and for one that writes the
KV cache (the write lands where the cache lives, not in the cache-sized scratch it came from). Energy adds static power
x time, and, for a target with a stall power, stall power x (time - compute time) of each operator (the
kernel's stalled term). ``mode="ideal"`` gives the pure roofline bound (efficiencies 1, no overhead);
``"calibrated"`` applies the efficiencies and overheads of the target file. The table's host dispatch
cost per operator (the ``launch_mode`` knob) turns each phase's summed device time into a step
time by :func:`models.perf.kernel.launch_time` (none in ideal mode).

Design points broadcast: a table of shape ``S`` on a target compiled for ``H`` points gives
results of shape ``broadcast(S, (H,))``. A list of ``P`` points is ``S = (P,)``, ``H = P``; a
sweep passes ``S = (..., 1)`` and gets the product of workload and hardware points.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from models.algorithms.memory_mapping import mapping_share, placement_classes, resident_without_activations
from models.hardware.dtypes import DTYPES
from models.hardware.schema import Target
from models.perf.compiled import CompiledTarget, compile_target
from models.perf.kernel import (
    BOUND_COMPUTE,
    BOUND_OVERHEAD,
    LEVEL0,
    Channel,
    Path,
    Priced,
    Route,
    Split,
    launch_time,
    price,
    prune_routes,
)
from models.workloads.kinds import OP_KINDS
from models.workloads.table import OperatorTable, broadcast_shape, fused_hosts

__all__ = ["BOUND_COMPUTE", "BOUND_OVERHEAD", "ENGINE_POLICIES", "MODES", "PerfResult", "Plan", "evaluate",
           "plan_routes"]

MODES = ("calibrated", "ideal")
ENGINE_POLICIES = ("time", "energy")


def result_provenance(target_provenance: str, mode: str) -> str:
    """The provenance of a result: ``"ideal"`` for the pure roofline bound (no efficiency or
    overhead applies), else the target file's (``datasheet`` for the presets)."""
    return "ideal" if mode == "ideal" else target_provenance


@dataclass(frozen=True, kw_only=True)
class PerfResult:
    """Time and energy of a workload on a target, per design point and per operator.

    Totals have the point shape (``(n_points,)`` for a list of points); per-operator arrays
    have shape ``(*point shape, n_ops)`` (present only with ``detail=True``). Per-operator times
    and energies are for one instance; totals multiply by each operator's count.
    """

    target: str
    workload: str
    mode: str
    n_points: int
    # the rung of the calibration ladder these numbers stand on: "ideal" in ideal mode, else the
    # target's own (datasheet, calibrated-microbenchmark, calibrated-trace)
    provenance: str = "datasheet"
    latency_s: np.ndarray
    energy_J: np.ndarray
    dynamic_energy_J: np.ndarray
    static_energy_J: np.ndarray
    n_items: np.ndarray
    item_name: str
    peak_memory_B: np.ndarray
    memory_capacity_B: np.ndarray
    engine_names: tuple[str, ...]
    level_names: tuple[str, ...]
    op_meta: pl.DataFrame
    op_latency_s: np.ndarray | None = None
    op_energy_J: np.ndarray | None = None
    op_compute_s: np.ndarray | None = None
    op_memory_s: np.ndarray | None = None
    op_bound: np.ndarray | None = None
    op_engine: np.ndarray | None = None
    op_count: np.ndarray | None = None
    op_flop: np.ndarray | None = None
    op_bytes_B: np.ndarray | None = None
    op_dtype: np.ndarray | None = None
    op_fallback: np.ndarray | None = None
    phase_latency_s: Mapping[str, np.ndarray] = field(default_factory=dict)
    phase_energy_J: Mapping[str, np.ndarray] = field(default_factory=dict)
    # stall power x (time - compute time), summed (zeros for a target without a stall power);
    # energy_J = dynamic_energy_J + static_energy_J + stalled_energy_J
    stalled_energy_J: np.ndarray = field(default_factory=lambda: np.zeros(()))
    # time the device waits for host dispatch (launch_mode; kernel.launch_time): latency_s minus
    # the sum of the operators' device times (0 for a CUDA-graph step)
    host_wait_s: np.ndarray = field(default_factory=lambda: np.zeros(()))
    # time of a multi-device plan's collectives (models.parallel), before any overlap with compute
    comm_s: np.ndarray = field(default_factory=lambda: np.zeros(()))
    # serving metrics of a request stream (models.serving: TTFT, TPOT, rates, goodput...), by
    # unit-suffixed name; empty for one request
    serving: Mapping[str, np.ndarray] = field(default_factory=dict)
    # metrics of a system model above the one-request tables (models.systems: an agent's function
    # calls, federated rounds...), by unit-suffixed name; empty otherwise
    system: Mapping[str, np.ndarray] = field(default_factory=dict)
    # devices that produce these totals: a multi-device plan's unit (t x p devices, models.parallel;
    # energy and rates are the unit's), 1 for one device
    n_devices: int = 1

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(np.shape(self.latency_s))

    @property
    def result_kind(self) -> str:
        """How the numbers were obtained, in words."""
        return "ideal roofline bound" if self.mode == "ideal" else "calibrated estimate"

    @property
    def bound_names(self) -> tuple[str, ...]:
        # codes: compute, overhead, each memory level, then each level's host channel (PIM banks)
        return ("compute", "overhead", *self.level_names, *(f"{n} host channel" for n in self.level_names))

    @property
    def items_per_s(self) -> np.ndarray:
        return self.n_items / self.latency_s

    @property
    def energy_J_per_item(self) -> np.ndarray:
        return self.energy_J / self.n_items

    @property
    def edp_J_s(self) -> np.ndarray:
        return self.energy_J * self.latency_s

    @property
    def average_power_W(self) -> np.ndarray:
        return self.energy_J / self.latency_s

    @property
    def fits_in_memory(self) -> np.ndarray:
        return self.peak_memory_B <= self.memory_capacity_B

    def metrics(self) -> dict[str, np.ndarray]:
        """Every total as an array of the point shape, by unit-suffixed name (per-phase too)."""
        d = {
            "latency_s": self.latency_s,
            "energy_J": self.energy_J,
            "dynamic_energy_J": self.dynamic_energy_J,
            "static_energy_J": self.static_energy_J,
            "stalled_energy_J": self.stalled_energy_J,
            "items_per_s": self.items_per_s,
            "energy_J_per_item": self.energy_J_per_item,
            f"{self.item_name}s_per_s": self.items_per_s,
            f"energy_J_per_{self.item_name}": self.energy_J_per_item,
            "edp_J_s": self.edp_J_s,
            "average_power_W": self.average_power_W,
            # one device's share of the unit (the same as above for one device): what a
            # per-GPU throughput table or a device's power cap is compared with
            "items_per_s_per_device": self.items_per_s / self.n_devices,
            f"{self.item_name}s_per_s_per_device": self.items_per_s / self.n_devices,
            "average_power_W_per_device": self.average_power_W / self.n_devices,
            "peak_memory_B": self.peak_memory_B,
            "memory_capacity_B": self.memory_capacity_B,
        }
        for ph, v in self.phase_latency_s.items():
            d[f"{ph}_latency_s"] = v
        for ph, v in self.phase_energy_J.items():
            d[f"{ph}_energy_J"] = v
        d.update(self.serving)
        d.update(self.system)
        shp = self.shape
        return {k: np.broadcast_to(np.asarray(v, dtype=np.float64), shp) for k, v in d.items()}

    def totals(self) -> pl.DataFrame:
        """One row per design point with unit-suffixed columns."""
        m = self.metrics()
        for k in ("items_per_s", "energy_J_per_item", "items_per_s_per_device"):
            if k not in (f"{self.item_name}s_per_s", f"energy_J_per_{self.item_name}",
                         f"{self.item_name}s_per_s_per_device"):
                m.pop(k)
        return pl.DataFrame({k: v.reshape(-1) for k, v in m.items()})

    def breakdown(self, point: int = 0) -> pl.DataFrame:
        """Per-operator frame of one design point (an index into the flattened point shape):
        time, energy, bound, engine, datatype."""
        if self.op_latency_s is None:
            raise ValueError("evaluate(..., detail=True) is needed for a per-operator breakdown")
        n_ops = self.op_meta.height

        def row(a: np.ndarray | None) -> np.ndarray:
            assert a is not None
            return np.asarray(a).reshape(-1, n_ops)[point]

        count = row(self.op_count)
        lat = row(self.op_latency_s)
        en = row(self.op_energy_J)
        bounds = self.bound_names
        total = float(np.sum(count * lat))
        return self.op_meta.select("name", "phase", "kind").with_columns(
            pl.Series("count", count),
            pl.Series("flop", row(self.op_flop)),
            pl.Series("bytes_B", row(self.op_bytes_B)),
            pl.Series("latency_s", lat),
            pl.Series("compute_s", row(self.op_compute_s)),
            pl.Series("memory_s", row(self.op_memory_s)),
            pl.Series("total_latency_s", count * lat),
            pl.Series("share_of_latency", count * lat / total if total > 0 else count * 0.0),
            pl.Series("energy_J", en),
            pl.Series("total_energy_J", count * en),
            pl.Series("bound", [bounds[b] for b in row(self.op_bound).astype(np.int64)], dtype=pl.String),
            pl.Series("engine", [self.engine_names[e] for e in row(self.op_engine).astype(np.int64)],
                      dtype=pl.String),
            pl.Series("compute_dtype", [DTYPES[d] for d in row(self.op_dtype).astype(np.int64)], dtype=pl.String),
            pl.Series("fallback", row(self.op_fallback).astype(bool)),
        )


# ---------------------------------------------------------------------------------- planning
def _engine_mask(ct: CompiledTarget, kinds: np.ndarray, force: str | Mapping[str, str] | None) -> np.ndarray:
    """``(E, O)`` True where an engine may take an operator."""
    E, O = len(ct.engine_names), kinds.size
    mask = np.stack([np.isin(kinds, e.runs) for e in ct.target.engines]) if E else np.ones((0, O), bool)
    if force is None:
        return mask
    items = {k: force for k in OP_KINDS} if isinstance(force, str) else dict(force)
    for kind, eng in items.items():
        if kind not in OP_KINDS:
            raise ValueError(f"engine assignment: unknown operator kind {kind!r}; allowed: {', '.join(OP_KINDS)}")
        if eng not in ct.engine_names:
            raise ValueError(f"engine assignment {kind}={eng!r}: target {ct.target.name!r} has engines "
                             f"{', '.join(ct.engine_names)}")
        sel = kinds == kind
        ei = ct.engine_names.index(eng)
        if sel.any() and kind not in ct.target.engines[ei].runs:
            raise ValueError(f"engine assignment {kind}={eng!r}: that engine runs only "
                             f"{', '.join(ct.target.engines[ei].runs)}")
        mask[:, sel] = False
        mask[ei, sel] = True
    return mask


@dataclass(frozen=True, eq=False)
class Plan:
    """The routes (engines that may win) of every operator of a table on a compiled target."""

    routes: tuple[tuple[Route, ...], ...]
    overhead_s: np.ndarray
    static_W: np.ndarray
    sum_overlap: bool
    policy: str
    stall_W: np.ndarray | None = None
    # (threshold B, 1 / bandwidth s/B) of fresh outputs (Target.first_touch_*); None: no such cost
    touch: tuple[np.ndarray, np.ndarray] | None = None
    # per operator: the row it runs with, fused into its kernel or pipelined beside it
    # (models.workloads.table.fused_hosts), -1 for none; None: the table has no such rows
    fused_into: np.ndarray | None = None
    pipelined: np.ndarray | None = None  # per operator: pipelined (True) or fused, where fused_into >= 0

    def overhead_of(self, out_B: np.ndarray) -> np.ndarray:
        """The fixed time of an operator writing ``out_B`` bytes of results per instance: the
        runtime's per-call cost, plus, for an output of at least the first-touch threshold, the
        time the OS takes to fault in and zero its fresh pages (``out_B / first_touch_bandwidth``,
        in series: the kernel cannot write a page before it is mapped)."""
        if self.touch is None:
            return self.overhead_s
        thr, inv = self.touch
        out = np.asarray(out_B, dtype=np.float64)
        return self.overhead_s + np.where(out >= thr, out * inv, 0.0)


def plan_routes(ct: CompiledTarget, meta: pl.DataFrame, *, engine: str | Mapping[str, str] | None = None,
                policy: str = "time", mode: str = "calibrated") -> Plan:
    """The :class:`Plan` of a table (by its ``meta`` frame) on ``ct``.

    Raises ValueError naming the operator when no allowed engine can run it in its datatype or
    any fallback of it.
    """
    if mode not in MODES:
        raise ValueError(f"mode={mode!r}; allowed: {', '.join(MODES)}")
    if policy not in ENGINE_POLICIES:
        raise ValueError(f"policy={policy!r}; allowed: {', '.join(ENGINE_POLICIES)}")
    ideal = mode == "ideal"
    kinds = meta["kind"].to_numpy()
    dts = np.array([DTYPES.index(d) for d in meta["compute_dtype"].to_list()], dtype=np.int64)
    kidx = np.array([OP_KINDS.index(k) for k in kinds.tolist()], dtype=np.int64)
    mask = _engine_mask(ct, kinds, engine)
    runnable = (ct.resolved_dtype[:, dts] >= 0) & mask  # (E, O)
    no_engine = ~runnable.any(axis=0)
    if no_engine.any():
        j = int(np.flatnonzero(no_engine)[0])
        raise ValueError(f"target {ct.target.name!r}: no allowed engine can run operator {meta['name'][j]!r} "
                         f"in {meta['compute_dtype'][j]!r} or any fallback of it (engines: "
                         f"{', '.join(ct.engine_names)})")
    bw = ct.bandwidth_peak_B_per_s if ideal else ct.bandwidth_B_per_s

    def build_path(i: int, bw_levels: np.ndarray) -> Path:
        idx = list(ct.paths[i])
        return Path.build(idx, [np.minimum(bw_levels[:, j], ct.unit_cap_B_per_s[:, i, j]) for j in idx],
                          [ct.energy_J_per_B[:, j] for j in idx], [ct.capacity_B[:, j] for j in idx])

    paths = [build_path(i, bw) for i in range(len(ct.paths))]
    # a level's efficiency_by_kind: the engines that read it get a path of their own for that kind
    bwk = None if ideal else ct.bandwidth_by_kind_B_per_s
    kind_paths: dict[tuple[int, int], Path] = {}

    def path_for(i: int, kk: int) -> Path:
        if bwk is None or all(np.array_equal(bwk[:, j, kk], bw[:, j]) for j in ct.paths[i]):
            return paths[i]
        if (i, kk) not in kind_paths:
            kind_paths[i, kk] = build_path(i, bwk[:, :, kk])
        return kind_paths[i, kk]
    channels = _channels(ct, ideal)
    cache: dict[tuple[int, int, tuple[bool, ...]], tuple[Route, ...]] = {}
    routes = []
    for o in range(kinds.size):
        key = (int(dts[o]), int(kidx[o]), tuple(runnable[:, o].tolist()))
        if key not in cache:
            d, kk = key[0], key[1]
            cand = []
            for i in np.flatnonzero(runnable[:, o]).tolist():
                peak = ct.peak_op_per_s[:, i, d]
                rate = peak if ideal else peak * ct.efficiency[:, i, kk]
                with np.errstate(divide="ignore"):
                    inv = np.where(rate > 0, 1.0 / np.where(rate > 0, rate, 1.0), np.inf)
                hk = None if ideal or not np.any(ct.half_k[:, i, kk] > 0) else ct.half_k[:, i, kk]
                # the tile fill of the datatype the engine really computes d in (its own curve, if any)
                hm_arr = ct.half_m[:, i, kk] if ct.half_m_by_dtype is None \
                    else ct.half_m_by_dtype[:, i, kk, int(ct.resolved_dtype[i, d])]
                hm = None if ideal or not np.any(hm_arr > 0) else hm_arr
                cand.append(Route(engine=i, inv_rate=inv, energy_per_op=ct.energy_J_per_op[:, i, d], half_k=hk,
                                  half_m=hm, path=path_for(i, kk), channel=channels[i]))
            cache[key] = tuple(prune_routes(cand))
        routes.append(cache[key])
    overhead = np.zeros_like(ct.op_overhead_s) if ideal else ct.op_overhead_s
    touch = None
    if not ideal and ct.first_touch_threshold_B is not None and ct.first_touch_bandwidth_B_per_s is not None:
        touch = (ct.first_touch_threshold_B, 1.0 / ct.first_touch_bandwidth_B_per_s)
    hosts, piped = fused_hosts(meta)
    return Plan(routes=tuple(routes), overhead_s=overhead, static_W=ct.static_power_W,
                sum_overlap=ct.overlap == "sum", policy=policy, stall_W=ct.stall_power_W, touch=touch,
                fused_into=hosts if np.any(hosts >= 0) else None, pipelined=piped if np.any(hosts >= 0) else None)


def _channels(ct: CompiledTarget, ideal: bool) -> list[Channel | None]:
    """Per engine: the host channel of the first processing-in-memory level on its path that
    declares one (None: none)."""
    out: list[Channel | None] = [None] * len(ct.paths)
    hb = ct.host_bandwidth_peak_B_per_s if ideal else ct.host_bandwidth_B_per_s
    if hb is None or ct.host_energy_J_per_B is None or ct.host_channels is None:
        return out
    for i, p in enumerate(ct.paths):
        for j in p:
            if np.any(hb[:, j] > 0):
                out[i] = Channel(inv_bw=1.0 / hb[:, j], energy_per_B=ct.host_energy_J_per_B[:, j],
                                 copies=ct.host_channels[:, j], bound=LEVEL0 + len(ct.level_names) + j)
                break
    return out


def _host_bytes(col: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """``(sent to every channel, crossing once)`` of an operator on a PIM engine's host channel: a
    weight operator's input goes to every channel (each holds rows of the matrix); the query of an
    attention (or any input of an operator without weights) only to the channels of its own KV
    rows, once; results and new KV-cache rows cross once."""
    w = col["weight_read_B"] > 0
    once = col["act_write_B"] + col["kv_write_B"]
    if np.all(w):
        return col["act_read_B"], once
    if not np.any(w):
        return np.zeros(()), once + col["act_read_B"]
    return np.where(w, col["act_read_B"], 0.0), once + np.where(w, 0.0, col["act_read_B"])


def _range(a: np.ndarray) -> tuple[float, float]:
    if a.size == 1:
        v = float(a.reshape(-1)[0])
        return v, v
    return float(a.min()), float(a.max())


# ---------------------------------------------------------------------------------- evaluate
def evaluate(target: Target | CompiledTarget, table: OperatorTable, *,
             overrides: Mapping[str, float | np.ndarray] | None = None,
             engine: str | Mapping[str, str] | None = None, policy: str = "time",
             mode: str = "calibrated", detail: bool = True, plan: Plan | None = None) -> PerfResult:
    """Time and energy of ``table`` on ``target`` for every design point.

    Parameters
    ----------
    target
        A target, or one already compiled (with its overrides) by :func:`compile_target`.
    table
        Operator table; its point shape broadcasts with the target's ``(n_points,)``.
    overrides
        Per-point target field overrides (SI), e.g. ``{"memories.hbm.bandwidth": bw}``.
    engine
        Force an engine: one name for every operator, or ``{kind: engine}``.
    policy
        ``"time"`` sends each operator to its fastest engine, ``"energy"`` to the least energy.
    mode
        ``"calibrated"`` (efficiencies and overheads) or ``"ideal"`` (pure roofline bound).
    detail
        Keep per-operator arrays (needed for breakdowns); sweeps turn it off.
    plan
        A :func:`plan_routes` result for this table structure and ``target`` (reused by sweeps).

    Returns
    -------
    PerfResult
    """
    if mode not in MODES:
        raise ValueError(f"mode={mode!r}; allowed: {', '.join(MODES)}")
    if isinstance(target, CompiledTarget) and overrides:
        raise ValueError("pass overrides to compile_target when giving a compiled target")
    ct = target if isinstance(target, CompiledTarget) else compile_target(target, overrides)
    try:
        shape = tuple(np.broadcast_shapes(table.points_shape, (ct.n_points,)))
    except ValueError:
        raise ValueError(f"operator table has point shape {table.points_shape} but the target has "
                         f"{ct.n_points} points") from None
    if plan is None:
        plan = plan_routes(ct, table.meta, engine=engine, policy=policy, mode=mode)
    O = table.n_ops
    phases = table.meta["phase"].to_list()
    resident = table.peak_memory_B
    res_range = {ph: _range(np.asarray(v)) for ph, v in resident.items()}
    # sums of count x time and count x energy per (phase, shape of the operator's result):
    # operators of a small shape (a decode projection depends on the batch only) are summed at
    # that shape, and only the sums are broadcast to the full point shape
    sums: dict[tuple[str, tuple[int, ...]], list[np.ndarray]] = {}
    stall_sums: dict[tuple[int, ...], np.ndarray] = {}  # stalled energy (part of the e sums) by shape
    # totals with policy "time": the stalled energy stall_W x (t - t_c) is summed as
    # stall_W x (sum t - sum t_c) per phase (kernel.price defer_stall); sums of t_c by (phase, shape)
    defer = not detail and plan.stall_W is not None and plan.policy == "time"
    busy_sums: dict[tuple[str, tuple[int, ...]], np.ndarray] = {}
    if detail:
        d_lat = np.empty((*shape, O))
        d_en, d_tc, d_tm = np.empty_like(d_lat), np.empty_like(d_lat), np.empty_like(d_lat)
        d_bound = np.empty((*shape, O), dtype=np.int8)
        d_eng = np.empty((*shape, O), dtype=np.int8)
    curves: dict[tuple[int, int], np.ndarray] = {}
    has_channel = any(r.channel is not None for rs in plan.routes for r in rs)
    concurrent = np.asarray(table.concurrent_pim, dtype=bool)
    marked = ct.target.pim_engines() if np.any(concurrent) else None
    pim_sums: dict[str, np.ndarray] = {}  # per phase: the time of the operators the PIM engines won
    share = mapping_share(table)
    resident_no_act = resident_without_activations(table) if share is not None else {}
    hosts = plan.fused_into
    fused_in: dict[int, np.ndarray] = {}  # host row -> compute time of the work fused into its kernel
    piped_in: dict[int, np.ndarray] = {}  # host row -> compute time of the work pipelined beside it
    fused_pr: dict[int, Priced] = {}
    if hosts is not None:
        assert plan.pipelined is not None
        if hosts.size != O:
            raise ValueError(f"plan of {hosts.size} operators for a table of {O}")
        for o in np.flatnonzero(hosts >= 0).tolist():
            h = int(hosts[o])
            fused_pr[o], t_x = _price_fused(table, o, h, plan, detail, curves)
            if plan.pipelined[o]:  # units of their own: the longest one
                piped_in[h] = np.maximum(piped_in[h], t_x) if h in piped_in else t_x
            else:
                fused_in[h] = fused_in[h] + t_x if h in fused_in else t_x
    for o, col in enumerate(table.columns):
        ph = phases[o]
        fp = col["footprint_B"]
        fr = _range(fp)
        floor = None
        if ph in resident and (np.any(col["weight_read_B"] > 0) or np.any(col["kv_read_B"] > 0)
                               or np.any(col["kv_write_B"] > 0)):
            # reuse distance of weights and KV cache, and where a KV-cache write lands: the
            # phase's whole resident state
            floor = resident[ph]
            lo, hi = res_range[ph]
            fr = (max(fr[0], lo), max(fr[1], hi))
        nbytes = table.column_bytes_B(o)
        cnt = col["count"]
        fold = not detail and cnt.size == 1  # price count instances at once
        # a pinned memory mapping (models.algorithms.memory_mapping): traffic priced by tensor class
        split = None if share is None else Split(*placement_classes(col, floor, resident_no_act.get(ph), share))
        pr = fused_pr[o] if o in fused_pr else price(plan.routes[o], col["flop"], nbytes, fp, col["k"], col["m"],
                   overhead_s=plan.overhead_of(col["act_write_B"]) if table.fresh_outputs else plan.overhead_s,
                   static_W=plan.static_W, sum_overlap=plan.sum_overlap, policy=plan.policy,
                   stall_W=plan.stall_W, floor_B=floor, footprint_range=fr,
                   count=float(cnt.reshape(-1)[0]) if fold else None, cache=curves, detail=detail,
                   defer_stall=defer, split=split,
                   host_B=_host_bytes(col) if has_channel else None,
                   marked=marked, fused_s=fused_in.get(o), pipelined_s=piped_in.get(o))
        t, e = (pr.latency_s, pr.energy_J) if fold else (pr.latency_s * cnt, pr.energy_J * cnt)
        if pr.marked_s is not None:
            ms = pr.marked_s if fold else pr.marked_s * cnt
            pim_sums[ph] = pim_sums[ph] + ms if ph in pim_sums else np.array(ms, dtype=np.float64, copy=True)
        s_t, s_e = np.shape(t), np.shape(e)
        key = (ph, s_t if s_t == s_e else broadcast_shape((s_t, s_e)))
        acc = sums.get(key)
        if acc is None:
            sums[key] = [np.broadcast_to(t, key[1]).copy() if np.shape(t) != key[1] else t,
                         np.broadcast_to(e, key[1]).copy() if np.shape(e) != key[1] else e]
        else:
            acc[0] += t
            acc[1] += e
        if defer:
            assert pr.compute_s is not None
            tc = pr.compute_s if fold else pr.compute_s * cnt
            bk = (ph, np.shape(tc))
            if bk in busy_sums:
                busy_sums[bk] += tc
            else:
                busy_sums[bk] = np.array(tc, dtype=np.float64, copy=True)
        elif pr.stall_energy_J is not None:
            es = pr.stall_energy_J if fold else pr.stall_energy_J * cnt
            sk = np.shape(es)
            if sk in stall_sums:
                stall_sums[sk] = stall_sums[sk] + es
            else:
                stall_sums[sk] = np.array(es, dtype=np.float64, copy=True)
        if detail:
            d_lat[..., o] = pr.latency_s
            d_en[..., o] = pr.energy_J
            d_tc[..., o] = pr.compute_s
            d_tm[..., o] = pr.memory_s
            d_bound[..., o] = pr.bound
            d_eng[..., o] = pr.engine
    ph_lat: dict[str, np.ndarray] = {}
    ph_dyn: dict[str, np.ndarray] = {}
    for (ph, _), (t, e) in sums.items():
        if ph in ph_lat:
            ph_lat[ph] += t
            ph_dyn[ph] += e
        else:
            ph_lat[ph] = np.broadcast_to(t, shape).copy()
            ph_dyn[ph] = np.broadcast_to(e, shape).copy()
    order = list(dict.fromkeys(phases))
    ph_lat = {ph: ph_lat[ph] for ph in order}
    ph_dyn = {ph: ph_dyn[ph] for ph in order}
    if defer:
        assert plan.stall_W is not None
        ph_busy: dict[str, np.ndarray] = {}
        for (ph, _), v in busy_sums.items():
            ph_busy[ph] = ph_busy[ph] + v if ph in ph_busy else v
        for ph, v in ph_busy.items():
            stalled = ph_lat[ph] - v  # full point shape: ph_lat holds full-shape copies
            stalled *= plan.stall_W
            ph_dyn[ph] += stalled
            stall_sums[()] = stall_sums[()] + stalled if () in stall_sums else stalled
    # NPU/PIM concurrency (NeuPIMs sub-batch interleaving, table.concurrent_pim): the PIM engines
    # run one sub-batch while the other engines run the other, so a phase takes the larger side.
    # After the stalled energy, which stays that of every operator's own wait.
    for ph, p_s in pim_sums.items():
        ph_lat[ph] = np.where(concurrent, np.maximum(ph_lat[ph] - p_s, p_s), ph_lat[ph])
    # host dispatch per operator and its overlap with the device (launch_mode): each phase is a
    # run of steps whose kernels the host enqueues (kernel.launch_time); none in ideal mode
    host_s = 0.0 if mode == "ideal" else float(table.host_dispatch_s)
    device_tot = sum(ph_lat.values(), np.zeros(shape))
    ph_dev = dict(ph_lat) if host_s > 0.0 and plan.stall_W is not None else None
    if host_s > 0.0:
        n_k: dict[str, np.ndarray] = {}
        for o, col in enumerate(table.columns):
            if hosts is None or hosts[o] < 0:  # a fused row is part of its host's kernel
                n_k[phases[o]] = n_k.get(phases[o], 0.0) + col["count"]
        ph_lat = {ph: np.broadcast_to(launch_time(v, n_k[ph], host_s, table.host_overlap), shape).copy()
                  for ph, v in ph_lat.items()}
    if ph_dev is not None:
        # the device waits for host dispatch with its clocks up: stalled power over that wait too
        assert plan.stall_W is not None
        for ph in ph_lat:
            wait_e = plan.stall_W * (ph_lat[ph] - ph_dev[ph])
            ph_dyn[ph] = ph_dyn[ph] + wait_e
            stall_sums[()] = stall_sums.get((), np.zeros(())) + wait_e
    fill = np.asarray(table.pipeline_fill, dtype=np.float64)
    if np.any(fill != 1.0):
        # a pipeline stage computes fill of the step's full-model pass; the bubble draws static power only
        ph_dyn = {ph: v * fill for ph, v in ph_dyn.items()}
        stall_sums = {k: v * fill for k, v in stall_sums.items()}
    comm_tot = np.zeros(())
    host_wait = sum(ph_lat.values(), np.zeros(shape)) - device_tot
    if table.collectives:
        ph_comm, ph_link_B = collective_times(ct, table, mode)
        for ph, tc in ph_comm.items():
            base = ph_lat[ph]
            ov = float(table.comm_overlap)
            ph_lat[ph] = base + tc - ov * np.minimum(base, tc)
            comm_tot = comm_tot + tc
            e_link = ph_link_B[ph] * (0.0 if ct.link_energy_J_per_B is None else ct.link_energy_J_per_B)
            ph_dyn[ph] = ph_dyn[ph] + e_link
            if plan.stall_W is not None:
                # the device waits for the exposed communication with its clocks up
                wait_e = plan.stall_W * (ph_lat[ph] - base)
                ph_dyn[ph] = ph_dyn[ph] + wait_e
                stall_sums[()] = stall_sums.get((), np.zeros(())) + wait_e
    lat_tot = sum(ph_lat.values(), np.zeros(shape))
    act_tot = sum(ph_dyn.values(), np.zeros(shape))  # dynamic + stalled
    stall_tot = sum((np.broadcast_to(v, shape) for v in stall_sums.values()), np.zeros(shape))
    dyn_tot = act_tot - stall_tot if stall_sums else act_tot
    static = plan.static_W
    ph_en = {ph: v + static * ph_lat[ph] for ph, v in ph_dyn.items()}
    nd = float(table.n_devices)
    if nd != 1.0:  # the table is one device's share of a unit of nd devices: the unit's energy
        ph_en = {ph: v * nd for ph, v in ph_en.items()}
        act_tot, stall_tot, dyn_tot, static = act_tot * nd, stall_tot * nd, dyn_tot * nd, static * nd
    peak_mem = np.broadcast_to(table.peak_memory(), shape)
    res: dict[str, Any] = dict(
        target=ct.target.name, workload=table.workload, mode=mode, n_points=int(np.prod(shape)),
        provenance=result_provenance(ct.target.provenance, mode),
        latency_s=lat_tot, energy_J=act_tot + static * lat_tot, dynamic_energy_J=dyn_tot,
        stalled_energy_J=stall_tot, host_wait_s=host_wait,
        comm_s=np.broadcast_to(comm_tot, shape),
        static_energy_J=np.broadcast_to(static * lat_tot, shape), n_items=np.broadcast_to(table.n_items, shape),
        item_name=table.item_name, peak_memory_B=peak_mem,
        memory_capacity_B=np.broadcast_to(ct.memory_capacity_B, shape), engine_names=ct.engine_names,
        level_names=ct.level_names, op_meta=table.meta, phase_latency_s=ph_lat, phase_energy_J=ph_en,
        n_devices=int(table.n_devices),
    )
    if detail:
        st = np.broadcast_to(static, shape)[..., None]
        dt = table.compute_dtype_index
        eng = d_eng.astype(np.int64)
        res.update(op_latency_s=d_lat, op_energy_J=d_en + st * d_lat, op_compute_s=d_tc, op_memory_s=d_tm,
                   op_bound=d_bound, op_engine=d_eng,
                   op_count=np.broadcast_to(table.arrays["count"], (*shape, O)),
                   op_flop=np.broadcast_to(table.arrays["flop"], (*shape, O)),
                   op_bytes_B=np.broadcast_to(table.bytes_B, (*shape, O)),
                   op_dtype=ct.resolved_dtype[eng, dt], op_fallback=ct.fallback[eng, dt])
    return PerfResult(**res)


def _price_fused(table: OperatorTable, o: int, host: int, plan: Plan, detail: bool,
                 cache: dict[tuple[int, int], np.ndarray]) -> tuple[Priced, np.ndarray]:
    """A fused or pipelined row's own pricing and the compute time its host takes on for it
    (:func:`models.perf.kernel.price`, ``fused_s`` / ``pipelined_s``).

    The row's operations are priced on the engine its routing picks, with no bytes, no overhead and
    no stall of its own, so its time is its compute time (times the count, like its host's when
    folded). Its result carries its dynamic energy only: the time is inside the host's kernel, and
    the host's stalled energy is that of the whole kernel. With ``detail`` the row keeps its engine
    and its own compute time for breakdowns; its latency there is 0.
    """
    col, hcol = table.columns[o], table.columns[host]
    name = table.meta["name"][o]
    if np.any(table.column_bytes_B(o) > 0):
        raise ValueError(f"operator {name!r} runs with another one but moves bytes; its traffic is its host's")
    cnt = col["count"]
    if np.shape(cnt) != np.shape(hcol["count"]) or not np.array_equal(cnt, hcol["count"]):
        raise ValueError(f"operator {name!r} has another count than the operator it runs with")
    fold = not detail and cnt.size == 1
    pr = price(plan.routes[o], col["flop"], np.zeros(()), col["footprint_B"], col["k"], col["m"],
               overhead_s=np.zeros(()), static_W=plan.static_W, sum_overlap=plan.sum_overlap, policy=plan.policy,
               count=float(cnt.reshape(-1)[0]) if fold else None, cache=cache, detail=detail)
    zero = np.zeros(np.shape(pr.energy_J))
    own = Priced(latency_s=zero, energy_J=pr.energy_J, compute_s=pr.latency_s if detail else zero,
                 memory_s=zero if detail else None, engine=pr.engine,
                 bound=np.full(np.shape(zero), BOUND_COMPUTE, dtype=np.int8) if detail else None)
    return own, pr.latency_s


def collective_times(ct: CompiledTarget, table: OperatorTable, mode: str
                     ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Per phase, the time of the table's collectives in series and the bytes each device sends,
    on the target's interconnect (:func:`models.parallel.collectives.collective_cost`, with the plan's
    fixed cost per call; in ideal mode the bandwidth terms only)."""
    from models.parallel.collectives import placed_cost
    from models.parallel.links import get_link

    if ct.link_bandwidth_B_per_s is None:
        raise ValueError(f"target {ct.target.name!r} declares no interconnect, so a multi-device plan (tensor / "
                         "pipeline / expert parallelism) has no link to communicate over; allowed: a target with "
                         "'interconnect' (data/links.toml) in its file, or a design point that sets "
                         "target.link_bandwidth")
    bw = ct.link_bandwidth_B_per_s
    lat = np.zeros(()) if mode == "ideal" or ct.link_latency_s is None else ct.link_latency_s
    out = None
    if table.scaleout_link is not None:
        ln = get_link(table.scaleout_link)
        out = (ln.bandwidth_B_per_s, 0.0 if mode == "ideal" else ln.latency_s)
    times: dict[str, np.ndarray] = {}
    moved: dict[str, np.ndarray] = {}
    for c in table.collectives:
        t, b = placed_cost(c.op, c.group, c.bytes_B, (bw, lat), out, stride=c.stride, stages=c.stages,
                           node=table.node_devices, algorithm=table.allreduce_algorithm,
                           base_latency_s=0.0 if mode == "ideal" else table.collective_base_latency_s,
                           all_to_all=table.all_to_all_algorithm)
        times[c.phase] = times.get(c.phase, np.zeros(())) + c.count * t
        moved[c.phase] = moved.get(c.phase, np.zeros(())) + c.count * b
    return times, moved
