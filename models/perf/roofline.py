"""The vectorized hierarchical roofline and energy model.

For every (design point, operator) pair and every engine that can run the operator:

- compute time  ``t_c = flop / (peak(engine, dtype) x efficiency(engine, kind) x f(k))`` where
  ``f(k) = k / (k + half_k)`` is the engine's optional size curve for that kind (``k`` the
  reduction length) and 1 without one;
- memory time   ``t_m = bytes x max over levels l from the innermost up to the home level of
  1 / bandwidth_l`` (a level's bandwidth capped at the engine's n_units x the level's per-unit
  bandwidth where it has one), where the *home* level is the innermost level of the engine's path whose
  capacity holds the operator's reuse working set: ``footprint_B`` for activation-only
  operators, and at least the phase's resident state (``peak_memory_B``: weights, KV cache,
  live activations) for operators that read weights or the KV cache, since those are touched
  again only after everything else in the phase went through. Traffic of an operator whose
  working set fits in cache is served by the cache; otherwise by DRAM;
- time          ``t = max(t_c, t_m) + overhead`` (overlap policy ``max``) or
  ``t_c + t_m + overhead`` (``sum``);
- energy        ``flop x energy/op + bytes x sum of energy/byte over the levels crossed
  + static power x t``.

Each operator goes to the engine with the least time, ties broken by the least energy (or to
the least-energy engine, or to the one forced). The bound of each
operator is ``compute``, ``overhead`` or the name of the memory level whose time dominates.

``mode="ideal"`` gives the pure roofline bound: efficiencies 1 and no overhead. The default,
``"calibrated"``, applies the efficiencies and overheads of the target file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from models.hardware.dtypes import DTYPES
from models.hardware.schema import OP_KINDS, Target
from models.perf.compiled import CompiledTarget, compile_target
from models.workloads.table import OperatorTable

__all__ = ["PerfResult", "evaluate", "BOUND_COMPUTE", "BOUND_OVERHEAD"]

BOUND_COMPUTE = 0
BOUND_OVERHEAD = 1
_LEVEL0 = 2  # bound code of memory level l is _LEVEL0 + l

MODES = ("calibrated", "ideal")
ENGINE_POLICIES = ("time", "energy")


@dataclass(frozen=True, kw_only=True)
class PerfResult:
    """Time and energy of a workload on a target, per design point and per operator.

    Totals have shape ``(n_points,)``; per-operator arrays ``(n_points, n_ops)`` (present only
    with ``detail=True``). Per-operator times and energies are for one instance; totals
    multiply by each operator's count.
    """

    target: str
    workload: str
    mode: str
    n_points: int
    latency_s: np.ndarray
    energy_J: np.ndarray
    dynamic_energy_J: np.ndarray
    static_energy_J: np.ndarray
    n_items: np.ndarray
    item_name: str
    peak_memory_B: np.ndarray
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

    @property
    def bound_names(self) -> tuple[str, ...]:
        return ("compute", "overhead", *self.level_names)

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

    def totals(self) -> pl.DataFrame:
        """One row per design point with unit-suffixed columns."""
        d = {
            "latency_s": self.latency_s,
            "energy_J": self.energy_J,
            "dynamic_energy_J": self.dynamic_energy_J,
            "static_energy_J": self.static_energy_J,
            f"{self.item_name}s_per_s": self.items_per_s,
            f"energy_J_per_{self.item_name}": self.energy_J_per_item,
            "edp_J_s": self.edp_J_s,
            "average_power_W": self.average_power_W,
            "peak_memory_B": np.broadcast_to(self.peak_memory_B, (self.n_points,)),
        }
        for ph, v in self.phase_latency_s.items():
            d[f"{ph}_latency_s"] = v
        for ph, v in self.phase_energy_J.items():
            d[f"{ph}_energy_J"] = v
        n = self.n_points
        return pl.DataFrame({k: np.broadcast_to(np.asarray(v, dtype=np.float64), (n,)) for k, v in d.items()})

    def breakdown(self, point: int = 0) -> pl.DataFrame:
        """Per-operator frame of one design point: time, energy, bound, engine, datatype."""
        if self.op_latency_s is None:
            raise ValueError("evaluate(..., detail=True) is needed for a per-operator breakdown")

        def row(a: np.ndarray) -> np.ndarray:
            return a[point] if a.shape[0] > 1 else a[0]

        count = row(self.op_count)  # type: ignore[arg-type]
        lat = row(self.op_latency_s)
        en = row(self.op_energy_J)  # type: ignore[arg-type]
        bounds = self.bound_names
        total = float(np.sum(count * lat))
        return self.op_meta.select("name", "phase", "kind").with_columns(
            pl.Series("count", count),
            pl.Series("flop", row(self.op_flop)),  # type: ignore[arg-type]
            pl.Series("bytes_B", row(self.op_bytes_B)),  # type: ignore[arg-type]
            pl.Series("latency_s", lat),
            pl.Series("compute_s", row(self.op_compute_s)),  # type: ignore[arg-type]
            pl.Series("memory_s", row(self.op_memory_s)),  # type: ignore[arg-type]
            pl.Series("total_latency_s", count * lat),
            pl.Series("share_of_latency", count * lat / total if total > 0 else count * 0.0),
            pl.Series("energy_J", en),
            pl.Series("total_energy_J", count * en),
            pl.Series("bound", [bounds[b] for b in row(self.op_bound)]),  # type: ignore[arg-type]
            pl.Series("engine", [self.engine_names[e] for e in row(self.op_engine)]),  # type: ignore[arg-type]
            pl.Series("compute_dtype", [DTYPES[d] for d in row(self.op_dtype)]),  # type: ignore[arg-type]
            pl.Series("fallback", row(self.op_fallback)),  # type: ignore[arg-type]
        )


def _engine_mask(ct: CompiledTarget, table: OperatorTable, force: str | Mapping[str, str] | None) -> np.ndarray:
    """``(E, O)`` True where an engine may take an operator."""
    E, O = len(ct.engine_names), table.n_ops
    kinds = table.meta["kind"].to_numpy()
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


def _candidate_columns(runnable_u: np.ndarray, inv_u: list[np.ndarray], e_u: list[np.ndarray],
                       inverse: np.ndarray, paths: tuple[tuple[int, ...], ...], policy: str,
                       curved_u: np.ndarray) -> list[np.ndarray | None]:
    """Per engine, the operator columns it must be evaluated on (None: all of them).

    ``runnable_u`` is (E, U) and ``inv_u[i]`` is (Pt, U) over the U distinct (datatype, kind)
    pairs of the table; ``inverse`` maps each column to its pair. With the time policy an engine
    is skipped for an operator when another engine with the same memory path is at least as
    fast and at least as frugal (energy per operation) at every design point: its time is never
    lower, and on a tie in time its energy is never lower (the full comparison breaks time ties
    by energy, then by engine order). An engine with a size curve on a pair (``curved_u``,
    (E, U)) is slower than its rate says, so it never dominates there.
    """
    E = runnable_u.shape[0]
    keep = runnable_u.copy()
    if policy == "time":
        for i in range(E):
            for j in range(E):
                if i == j or paths[i] != paths[j]:
                    continue
                slower = np.all(inv_u[i] >= inv_u[j], axis=0)
                costlier = np.all(e_u[i] >= e_u[j], axis=0)
                strictly = np.all(e_u[i] > e_u[j], axis=0)
                keep[i] &= ~(runnable_u[j] & ~curved_u[j] & ~curved_u[i] & slower & costlier
                             & (strictly | (j < i)))
    cols = keep[:, inverse]
    return [None if cols[i].all() else np.flatnonzero(cols[i]) for i in range(E)]


def evaluate(target: Target | CompiledTarget, table: OperatorTable, *,
             overrides: Mapping[str, float | np.ndarray] | None = None,
             engine: str | Mapping[str, str] | None = None, policy: str = "time",
             mode: str = "calibrated", detail: bool = True, chunk_pairs: int = 1 << 16) -> PerfResult:
    """Time and energy of ``table`` on ``target`` for every design point.

    Parameters
    ----------
    target
        A target, or one already compiled (with its overrides) by :func:`compile_target`.
    table
        Operator table with arrays of shape ``(P or 1, O)``.
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
    chunk_pairs
        Work in blocks of about this many (point, operator) pairs to bound memory.

    Returns
    -------
    PerfResult
    """
    if mode not in MODES:
        raise ValueError(f"mode={mode!r}; allowed: {', '.join(MODES)}")
    if policy not in ENGINE_POLICIES:
        raise ValueError(f"policy={policy!r}; allowed: {', '.join(ENGINE_POLICIES)}")
    ct = target if isinstance(target, CompiledTarget) else compile_target(target, overrides)
    if isinstance(target, CompiledTarget) and overrides:
        raise ValueError("pass overrides to compile_target when giving a compiled target")
    O = table.n_ops
    P = max(ct.n_points, table.n_points)
    for name, npts in (("target overrides", ct.n_points), ("operator table", table.n_points)):
        if npts not in (1, P):
            raise ValueError(f"{name} have {npts} points but the evaluation has {P}")
    mask = _engine_mask(ct, table, engine)
    dt = table.compute_dtype_index
    kd = table.kind_index
    E = len(ct.engine_names)
    # unavailable engines: no datatype to run in
    runnable = (ct.resolved_dtype[:, dt] >= 0) & mask  # (E, O)
    no_engine = ~runnable.any(axis=0)
    if no_engine.any():
        names = table.meta["name"].to_numpy()[no_engine]
        dts = table.meta["compute_dtype"].to_numpy()[no_engine]
        raise ValueError(f"target {ct.target.name!r}: no allowed engine can run operator {names[0]!r} "
                         f"in {dts[0]!r} or any fallback of it (engines: {', '.join(ct.engine_names)})")

    ideal = mode == "ideal"
    # Rates and energies per engine over the U distinct (datatype, kind) pairs: (Pt, U).
    combo = dt * len(OP_KINDS) + kd
    uniq, first, inverse = np.unique(combo, return_index=True, return_inverse=True)
    dt_u, kd_u = dt[first], kd[first]
    runnable_u = runnable[:, first]
    inv_u, e_u, hk_u = [], [], []
    for i in range(E):
        hk_u.append(None if ideal or not ct.half_k[:, i, :].any() else ct.half_k[:, i, kd_u])
        peak = ct.peak_op_per_s[:, i, dt_u]
        rate = peak if ideal else peak * ct.efficiency[:, i, kd_u]
        ok = runnable_u[i][None, :] & (rate > 0)
        inv_u.append(np.where(ok, 1.0 / np.where(ok, rate, 1.0), np.inf))
        e_u.append(ct.energy_J_per_op[:, i, dt_u])
    curved_u = np.array([np.zeros(len(uniq), bool) if h is None else (h > 0).any(axis=0) for h in hk_u])
    candidates = _candidate_columns(runnable_u, inv_u, e_u, inverse, ct.paths, policy, curved_u.reshape(E, -1))
    if ct.n_points == 1:  # expand to columns once
        inv_rate = [x[:, inverse] for x in inv_u]
        e_op = [x[:, inverse] for x in e_u]
    bw = ct.bandwidth_peak_B_per_s if ideal else ct.bandwidth_B_per_s
    # cumulative 1/bandwidth (max) and energy/byte (sum) along each engine's path: (Pt, n_levels)
    cum_inv_bw, cum_eb, caps = [], [], []
    for i, path in enumerate(ct.paths):
        idx = np.array(path)
        bw_e = np.minimum(bw[:, idx], ct.unit_cap_B_per_s[:, i, idx])  # per-unit caps (cores x per-core)
        cum_inv_bw.append(np.maximum.accumulate(1.0 / bw_e, axis=1))
        cum_eb.append(np.cumsum(ct.energy_J_per_B[:, idx], axis=1))
        caps.append(ct.capacity_B[:, idx])
    overhead = np.zeros_like(ct.op_overhead_s) if ideal else ct.op_overhead_s
    static = ct.static_power_W
    sum_policy = ct.overlap == "sum"

    arr = table.arrays
    flop_all, fp_all, count_all = arr["flop"], arr["footprint_B"], arr["count"]
    byte_parts = [arr[k] for k in ("weight_read_B", "act_read_B", "act_write_B", "kv_read_B", "kv_write_B")]
    # Reuse distance: an operator that reads weights or the KV cache touches them again only
    # after the rest of its phase's resident state (all weights, the KV cache, live activations)
    # went through, so its data lives where the phase's peak memory fits, not where one
    # matrix would fit. Activation-only operators keep their own working set.
    phase_of_col = table.meta["phase"].to_numpy()
    reads_state = np.any(arr["weight_read_B"] > 0, axis=0) | np.any(arr["kv_read_B"] > 0, axis=0)
    resident = {ph: np.atleast_1d(np.asarray(v, dtype=np.float64)) for ph, v in table.peak_memory_B.items()}
    state_cols = {ph: np.flatnonzero(reads_state & (phase_of_col == ph)) for ph in resident}
    state_cols = {ph: c for ph, c in state_cols.items() if c.size}

    lat_tot = np.zeros(P)
    dyn_tot = np.zeros(P)
    phases = table.meta["phase"].to_numpy()
    uniq_phases = list(dict.fromkeys(phases.tolist()))
    phase_masks = {ph: phases == ph for ph in uniq_phases}
    ph_lat = {ph: np.zeros(P) for ph in uniq_phases}
    ph_en = {ph: np.zeros(P) for ph in uniq_phases}
    if detail:
        shape = (P, O)
        d_lat, d_en = np.empty(shape), np.empty(shape)
        d_tc, d_tm = np.empty(shape), np.empty(shape)
        d_bound = np.empty(shape, dtype=np.int8)
        d_eng = np.empty(shape, dtype=np.int8)
        path_idx = [np.array(pth, dtype=np.int8) for pth in ct.paths]

    step = max(1, chunk_pairs // max(O, 1))
    for s in range(0, P, step):
        e_ = min(P, s + step)
        rows = e_ - s

        def cut(a: np.ndarray, cols: np.ndarray | None, s: int = s, e_: int = e_) -> np.ndarray:
            a = a[s:e_] if a.shape[0] > 1 else a
            return a if cols is None else a[:, cols]

        bytes_c = byte_parts[0][s:e_] if byte_parts[0].shape[0] > 1 else byte_parts[0]
        for bp in byte_parts[1:]:
            bytes_c = bytes_c + (bp[s:e_] if bp.shape[0] > 1 else bp)
        fp_c = fp_all[s:e_] if fp_all.shape[0] > 1 else fp_all
        if state_cols:
            n_rows = rows if fp_c.shape[0] > 1 or any(r.size > 1 for r in resident.values()) else 1
            fp_c = np.array(np.broadcast_to(fp_c, (n_rows, O)))
            for ph, c in state_cols.items():
                r = resident[ph]
                r = r[s:e_, None] if r.size > 1 else r[0]
                fp_c[:, c] = np.maximum(fp_c[:, c], r)
        ov = overhead[s:e_, None] if overhead.shape[0] > 1 else overhead[0]
        st = static[s:e_, None] if static.shape[0] > 1 else static[0]
        best_t = np.full((rows, O), np.inf)
        best_e = np.zeros((rows, O))
        if policy == "energy":
            best_score = np.full((rows, O), np.inf)
        if detail:
            best_tc, best_tm = np.zeros((rows, O)), np.zeros((rows, O))
            best_bound = np.zeros((rows, O), dtype=np.int8)
            best_eng = np.zeros((rows, O), dtype=np.int8)
        for i in range(E):
            cols = candidates[i]
            if cols is not None and cols.size == 0:
                continue
            flop = cut(flop_all, cols)
            fp = fp_c if cols is None else fp_c[:, cols]
            nbytes = bytes_c if cols is None else bytes_c[:, cols]
            ucols = inverse if cols is None else inverse[cols]
            if ct.n_points == 1:
                inv_i = inv_rate[i] if cols is None else inv_rate[i][:, cols]
                eop_i = e_op[i] if cols is None else e_op[i][:, cols]
            else:
                inv_i = inv_u[i][s:e_][:, ucols]
                eop_i = e_u[i][s:e_][:, ucols]
            t_c = flop * inv_i
            hk_i = hk_u[i]
            if hk_i is not None:  # size curve: efficiency x k / (k + half_k)
                hk = hk_i[s:e_] if hk_i.shape[0] > 1 else hk_i
                hk = hk[:, ucols]
                kk = cut(arr["k"], cols)
                t_c = t_c * np.where(hk > 0, (kk + hk) / np.maximum(kk, 1e-300), 1.0)
            # home level: walk the engine's path from the outermost level inwards
            ci, ce, cp = cut(cum_inv_bw[i], None), cut(cum_eb[i], None), cut(caps[i], None)
            nlev = ci.shape[1]
            inv_bw = ci[:, nlev - 1:nlev]
            eb = ce[:, nlev - 1:nlev]
            home = np.full((1, 1), nlev - 1, dtype=np.int8)
            for j in range(nlev - 2, -1, -1):
                fits = fp <= cp[:, j:j + 1]
                inv_bw = np.where(fits, ci[:, j:j + 1], inv_bw)
                eb = np.where(fits, ce[:, j:j + 1], eb)
                if detail:
                    home = np.where(fits, np.int8(j), home)
            t_m = nbytes * inv_bw
            t = t_c + t_m if sum_policy else np.maximum(t_c, t_m)
            t += ov
            en = flop * eop_i
            en += nbytes * eb
            full = cols is None
            sel = slice(None) if full else cols
            if policy == "time":  # least time; ties in time go to the least energy
                cur = best_t if full else best_t[:, sel]
                better = (t < cur) | ((t == cur) & (en < (best_e if full else best_e[:, sel])))
            else:
                score = en + t * st
                cur = best_score if full else best_score[:, sel]
                better = score < cur
                best_score[:, sel] = np.where(better, score, cur)
            best_t[:, sel] = np.where(better, t, cur if policy == "time" else best_t[:, sel])
            best_e[:, sel] = np.where(better, en, best_e[:, sel])
            if detail:
                mem_bound = path_idx[i][home] + np.int8(_LEVEL0)
                bound = np.where(t_c >= t_m, np.int8(BOUND_COMPUTE), mem_bound)
                bound = np.where(ov > np.maximum(t_c, t_m), np.int8(BOUND_OVERHEAD), bound)
                best_tc[:, sel] = np.where(better, t_c, best_tc[:, sel])
                best_tm[:, sel] = np.where(better, t_m, best_tm[:, sel])
                best_bound[:, sel] = np.where(better, bound, best_bound[:, sel])
                best_eng[:, sel] = np.where(better, np.int8(i), best_eng[:, sel])
        cnt = cut(count_all, None)
        ct_ = best_t * cnt
        ce_ = best_e * cnt
        lat_tot[s:e_] = ct_.sum(axis=1)
        dyn_tot[s:e_] = ce_.sum(axis=1)
        if len(uniq_phases) > 1:
            for ph, m in phase_masks.items():
                ph_lat[ph][s:e_] = ct_[:, m].sum(axis=1)
                ph_en[ph][s:e_] = ce_[:, m].sum(axis=1)
        if detail:
            d_lat[s:e_] = best_t
            d_en[s:e_] = best_e
            d_tc[s:e_] = best_tc
            d_tm[s:e_] = best_tm
            d_bound[s:e_] = best_bound
            d_eng[s:e_] = best_eng
    static_P = np.broadcast_to(static, (P,))
    static_tot = static_P * lat_tot
    if len(uniq_phases) == 1:
        ph_lat = {uniq_phases[0]: lat_tot}
        ph_en = {uniq_phases[0]: dyn_tot}
    ph_en = {ph: v + static_P * ph_lat[ph] for ph, v in ph_en.items()}
    peak_mem = np.zeros(1)
    for v in table.peak_memory_B.values():
        peak_mem = np.maximum(peak_mem, v)
    # the keyword arguments of PerfResult; the detail fields join below only when asked for
    res: dict[str, Any] = dict(
        target=ct.target.name, workload=table.workload, mode=mode, n_points=P, latency_s=lat_tot,
        energy_J=dyn_tot + static_tot, dynamic_energy_J=dyn_tot, static_energy_J=static_tot,
        n_items=np.broadcast_to(table.n_items, (P,)), item_name=table.item_name,
        peak_memory_B=np.broadcast_to(peak_mem, (P,)), engine_names=ct.engine_names,
        level_names=ct.level_names, op_meta=table.meta, phase_latency_s=ph_lat, phase_energy_J=ph_en,
    )
    if detail:
        static_op = (static_P[:, None] * d_lat)
        d_en_total = d_en + static_op
        res.update(op_latency_s=d_lat, op_energy_J=d_en_total, op_compute_s=d_tc, op_memory_s=d_tm,
                   op_bound=d_bound, op_engine=d_eng, op_count=np.broadcast_to(count_all, (P, O)),
                   op_flop=np.broadcast_to(flop_all, (P, O)), op_bytes_B=np.broadcast_to(table.bytes_B, (P, O)),
                   op_dtype=ct.resolved_dtype[d_eng.astype(np.int64), dt[None, :]],
                   op_fallback=ct.fallback[d_eng.astype(np.int64), dt[None, :]])
    return PerfResult(**res)
