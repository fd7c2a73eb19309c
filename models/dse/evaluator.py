"""Evaluate design points: one operator table and one compiled target per structural group.

Points are grouped by the parameters that change structure (the target, the workload, the
datatype and strategy knobs). Within a group the numeric workload and algorithm knobs form the
*workload rows* (one operator table built once, vectorized over the unique knob combinations)
and the target overrides form the *hardware rows* (one :func:`models.perf.compile_target` over
the unique override combinations). Each point is a pair (workload row, hardware row).

Two kernels give the same numbers (a test checks they agree to 1e-12):

- ``"direct"``: the table and target are expanded to one row per point and handed to
  :func:`models.perf.evaluate` with ``detail=False``;
- ``"blocked"`` (default when rows repeat): per workload row, every hardware row of its points is
  priced at once from arrays precomputed per hardware row; sums over operators and phases are
  matrix products. It exploits the grid's product structure, so a sweep costs a few passes over
  ``(points x operators)`` doubles and no Python work per point.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from models.dse.knobs import apply_knobs, get_knob
from models.dse.space import DesignSpace, Parameter
from models.dse.workloads import get_workload
from models.hardware import OP_KINDS, Target, get_target, with_overrides
from models.perf import compile_target, evaluate

__all__ = ["GroupModel", "evaluate_points", "point_table", "structural_parameters", "split_parameters"]


def split_parameters(
    space: DesignSpace,
) -> tuple[list[Parameter], list[Parameter], list[Parameter]]:
    """Parameters split into (structural, workload-row, hardware-row) lists."""
    struct, wrow, hrow = [], [], []
    for p in space.parameters:
        scope = p.scope
        if scope == "target_field":
            hrow.append(p)
        elif scope in ("target", "workload") or p.kind in ("categorical", "bool"):
            struct.append(p)
        elif scope == "algorithm" and get_knob(p.key).structural:
            struct.append(p)
        else:
            wrow.append(p)
    return struct, wrow, hrow


def structural_parameters(space: DesignSpace) -> list[Parameter]:
    return split_parameters(space)[0]


@dataclass(frozen=True)
class _Engine:
    ir: np.ndarray  # (H, O) 1/(peak x efficiency), inf where not runnable
    eop: np.ndarray  # (H, O) energy per op
    ci: np.ndarray  # (H, nlev) cumulative max of 1/bandwidth along the path
    ce: np.ndarray  # (H, nlev) cumulative energy per byte along the path
    cap: np.ndarray  # (H, nlev) capacities
    cap_const: bool
    hk: (
        np.ndarray | None
    )  # (H, O) size-curve constant half_k (0: none), None when the engine has none
    cols_x: np.ndarray  # operators only this engine can win (exclusive)
    ir_x: np.ndarray  # (H, |x|)
    hk_x: np.ndarray | None  # (H, |x|)
    eop_x: np.ndarray  # (H, |x|)
    cols_s: np.ndarray  # operators shared with another candidate engine


_SUB = 2048  # rows per sub-block: keeps the (rows x operators) temporaries in L2 cache


class GroupModel:
    """The model of one structural group: a table over workload rows, a target over hardware rows.

    Parameters
    ----------
    space
        The design space (fixed settings, mode).
    struct
        Values of the structural parameters of this group, by parameter name.
    w_rows
        Frame with one column per workload-row parameter (``n_w`` rows; may have no columns).
    h_rows
        Frame with one column per hardware-row parameter, SI values (``n_h`` rows).
    """

    def __init__(
        self,
        space: DesignSpace,
        struct: Mapping[str, Any],
        w_rows: pl.DataFrame,
        h_rows: pl.DataFrame,
        *,
        cache: dict[Any, Any] | None = None,
    ) -> None:
        self._cache = cache if cache is not None else {}
        self.space = space
        params = {p.name: p for p in space.parameters}
        self.target_name = space.target
        self.workload_name = space.workload
        builder_kw: dict[str, Any] = dict(space.workload_knobs)
        algo_struct: dict[str, Any] = dict(space.algorithm_knobs)
        for name, v in struct.items():
            p = params[name]
            if p.scope == "target":
                self.target_name = str(v)
            elif p.scope == "workload":
                self.workload_name = str(v)
            elif p.scope == "workload_knob":
                builder_kw[p.key] = v
            else:
                algo_struct[p.key] = v
        self.wspec = get_workload(self.workload_name)
        self.target: Target = get_target(self.target_name)
        self.n_w = max(w_rows.height, 1)
        self.n_h = max(h_rows.height, 1)
        algo_num: dict[str, np.ndarray] = {}
        for name in w_rows.columns:
            p = params[name]
            vals = w_rows[name].to_numpy().astype(np.float64)
            if p.scope == "workload_knob":
                builder_kw[p.key] = vals
            else:
                algo_num[p.key] = vals
        # datatype knobs chosen as algorithm knobs go to the builder
        for k in list(algo_struct):
            h = get_knob(k)
            if h.builder_kwarg is not None:
                builder_kw[h.builder_kwarg] = h.check(algo_struct.pop(k))
        allowed = set(self.wspec.declarations)
        unknown = set(builder_kw) - allowed
        if unknown:
            raise KeyError(
                f"workload {self.workload_name!r} has no knob {sorted(unknown)[0]!r}; "
                f"allowed: {', '.join(sorted(allowed))}"
            )
        try:
            table = self.wspec.build(**builder_kw)
        except ValueError as exc:
            raise ValueError(f"workload {self.workload_name!r}: {exc.args[0] if exc.args else exc}") from None
        table, err = apply_knobs(
            table,
            workload=self.workload_name,
            target=self.target,
            builder_kw=builder_kw,
            values={**algo_struct, **algo_num},
            n_rows=self.n_w,
        )
        self.table = table
        self.error_proxy = np.broadcast_to(err, (self.n_w,))
        self.overrides = {
            params[c].key: h_rows[c].to_numpy().astype(np.float64) for c in h_rows.columns
        }
        self._prepare()

    # ------------------------------------------------------------------ precompute
    def _prepare(self) -> None:
        ov = {k: (v if self.n_h > 1 else v[:1]) for k, v in self.overrides.items()}
        key = ("ct", self.target_name, tuple((k, v.tobytes()) for k, v in sorted(ov.items())))
        if key not in self._cache:
            self._cache.clear()  # one compiled target at a time keeps memory bounded
            self._cache[key] = compile_target(self.target, ov)
        ct = self._cache[key]
        self.ct = ct
        H, t = self.n_h, self.table
        O = t.n_ops

        def hb(a: np.ndarray) -> np.ndarray:
            return np.ascontiguousarray(np.broadcast_to(a, (H, *a.shape[1:])))

        ideal = self.space.mode == "ideal"
        dt, kd = t.compute_dtype_index, t.kind_index
        kinds = t.meta["kind"].to_numpy()
        bw = ct.bandwidth_peak_B_per_s if ideal else ct.bandwidth_B_per_s
        raw: list[dict[str, Any]] = []
        for i, e in enumerate(ct.target.engines):
            runnable = (ct.resolved_dtype[i, dt] >= 0) & np.isin(kinds, e.runs)
            if not runnable.any():
                continue
            peak = ct.peak_op_per_s[:, i, :][:, dt]
            rate = peak if ideal else peak * ct.efficiency[:, i, :][:, kd]
            with np.errstate(divide="ignore"):
                ir = np.where(
                    runnable[None, :] & (rate > 0), 1.0 / np.where(rate > 0, rate, 1.0), np.inf
                )
            idx = np.array(ct.paths[i])
            cap = hb(ct.capacity_B[:, idx])
            bw_e = np.minimum(
                bw[:, idx], ct.unit_cap_B_per_s[:, i, idx]
            )  # per-unit caps (cores x per-core)
            hk = None if ideal or not ct.half_k[:, i, :].any() else hb(ct.half_k[:, i, :][:, kd])
            raw.append(
                dict(
                    ir=np.broadcast_to(ir, (H, O)),
                    eop=np.broadcast_to(ct.energy_J_per_op[:, i, :][:, dt], (H, O)),
                    ci=hb(np.maximum.accumulate(1.0 / bw_e, axis=1)),
                    hk=hk,
                    ce=hb(np.cumsum(ct.energy_J_per_B[:, idx], axis=1)),
                    cap=cap,
                    cap_const=bool(np.all(cap == cap[:1])),
                )
            )
        engines: list[_Engine] = self._candidates(raw, O)
        if not engines:
            raise ValueError(
                f"target {self.target.name!r} has no engine for workload {t.workload!r}"
            )
        runnable_any = np.zeros(O, bool)
        for en in engines:
            runnable_any |= np.isfinite(en.ir[0])
        if not runnable_any.all():
            bad = t.meta["name"].to_numpy()[~runnable_any][0]
            raise ValueError(f"target {self.target.name!r}: no engine can run operator {bad!r}")
        self.engines = engines
        self.sum_policy = ct.overlap == "sum"
        self.overhead = np.zeros(H) if ideal else hb(ct.op_overhead_s)
        self.static_W = hb(ct.static_power_W)
        W = self.n_w

        def wb(a: np.ndarray) -> np.ndarray:
            return np.ascontiguousarray(np.broadcast_to(a, (W, O)))

        self.flop = wb(t.arrays["flop"])
        self.bytes = wb(t.bytes_B)
        # operators that read weights or the KV cache live where their phase's resident state
        # (peak_memory_B) fits, as in models.perf.evaluate
        fp = np.array(wb(t.arrays["footprint_B"]))
        reads_state = np.any(t.arrays["weight_read_B"] > 0, axis=0) | np.any(
            t.arrays["kv_read_B"] > 0, axis=0
        )
        ph_col = t.meta["phase"].to_numpy()
        for ph, v in t.peak_memory_B.items():
            c = np.flatnonzero(reads_state & (ph_col == ph))
            if c.size:
                r = np.broadcast_to(np.atleast_1d(np.asarray(v, dtype=np.float64)), (W,))
                fp[:, c] = np.maximum(fp[:, c], r[:, None])
        self.fp = fp
        self.k = wb(t.arrays["k"])
        self.count = wb(t.arrays["count"])
        phases = t.meta["phase"].to_numpy()
        self.phases = list(dict.fromkeys(phases.tolist()))
        self.onehot = np.stack(
            [(phases == ph).astype(np.float64) for ph in self.phases], axis=1
        )  # (O, n_ph)
        pm = np.zeros(1)
        for v in t.peak_memory_B.values():
            pm = np.maximum(pm, v)
        self.peak_memory = np.broadcast_to(pm, (W,))
        self.n_items = np.broadcast_to(t.n_items, (W,))
        main = ct.target.main_memory().name
        self.capacity = hb(ct.capacity_B[:, ct.level_names.index(main)])
        area = self.overrides.get(
            "area", np.array([self.target.area_m2 if self.target.area_m2 is not None else np.nan])
        )
        self.area = np.broadcast_to(area, (H,))

    @staticmethod
    def _candidates(raw: list[dict[str, Any]], O: int) -> list[_Engine]:
        """Drop (engine, operator) pairs that can never win.

        ``evaluate`` breaks ties in time by energy, then keeps the first engine, so a later
        engine whose 1/rate and energy per op are never below an earlier one's, with the same
        memory path, never wins an operator; skipping it changes no number.
        """
        cand = [np.isfinite(r["ir"][0]) for r in raw]
        for j, b in enumerate(raw):
            for a in raw[:j]:
                same = all(np.array_equal(a[k], b[k]) for k in ("ci", "ce", "cap"))
                if same:
                    # a size curve makes the rate depend on k: never drop a curved column
                    curved = np.zeros(O, bool)
                    for e in (a, b):
                        if e["hk"] is not None:
                            curved |= np.any(e["hk"] > 0, axis=0)
                    dominated = np.all(a["ir"] <= b["ir"], axis=0) & np.all(a["eop"] <= b["eop"], axis=0)
                    cand[j] &= ~(dominated & ~curved)
        n_cand = np.sum(cand, axis=0)
        out = []
        for r, c in zip(raw, cand, strict=True):
            x = np.flatnonzero(c & (n_cand == 1))
            s = np.flatnonzero(c & (n_cand > 1))
            hk_x = None if r["hk"] is None else np.ascontiguousarray(r["hk"][:, x])
            out.append(
                _Engine(
                    **r,
                    cols_x=x,
                    ir_x=np.ascontiguousarray(r["ir"][:, x]),
                    hk_x=hk_x,
                    eop_x=np.ascontiguousarray(r["eop"][:, x]),
                    cols_s=s,
                )
            )
        return out

    # ------------------------------------------------------------------ kernels
    def run(
        self, w_idx: np.ndarray, h_idx: np.ndarray, *, kernel: str = "auto"
    ) -> dict[str, np.ndarray]:
        """Metrics of the points ``(w_idx[i], h_idx[i])``; every array has shape ``(n,)``."""
        w_idx = np.asarray(w_idx, dtype=np.int64)
        h_idx = np.asarray(h_idx, dtype=np.int64)
        n = w_idx.size
        if kernel == "auto":
            kernel = "blocked" if self.n_w * 4 <= n or self.n_w == 1 else "direct"
        if kernel == "direct":
            lat_ph, dyn_ph = self._direct(w_idx, h_idx)
        elif kernel == "blocked":
            lat_ph, dyn_ph = self._blocked(w_idx, h_idx)
        else:
            raise ValueError(f"kernel={kernel!r}; allowed: auto, blocked, direct")
        return self._finish(w_idx, h_idx, lat_ph, dyn_ph)

    def _direct(self, w_idx: np.ndarray, h_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        from dataclasses import replace

        t = self.table
        tab = replace(
            t,
            arrays={k: np.broadcast_to(v, (self.n_w, t.n_ops))[w_idx] for k, v in t.arrays.items()},
            n_items=self.n_items[w_idx],
            peak_memory_B={
                ph: np.broadcast_to(np.atleast_1d(v), (self.n_w,))[w_idx]
                for ph, v in t.peak_memory_B.items()
            },
        )
        ov = {k: (v[h_idx] if self.n_h > 1 else v[:1]) for k, v in self.overrides.items()}
        if w_idx.size == 1:
            ov = {k: v[:1] for k, v in ov.items()}
        ct = compile_target(self.target, ov)
        r = evaluate(ct, tab, mode=self.space.mode, detail=False)
        static = np.broadcast_to(ct.static_power_W, (w_idx.size,))
        lat_ph = np.stack(
            [np.broadcast_to(r.phase_latency_s[ph], (w_idx.size,)) for ph in self.phases], axis=1
        )
        en_ph = np.stack(
            [np.broadcast_to(r.phase_energy_J[ph], (w_idx.size,)) for ph in self.phases], axis=1
        )
        return lat_ph, en_ph - static[:, None] * lat_ph

    def _blocked(self, w_idx: np.ndarray, h_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = w_idx.size
        n_ph = len(self.phases)
        lat_ph = np.empty((n, n_ph))
        dyn_ph = np.empty((n, n_ph))
        if n == 0:
            return lat_ph, dyn_ph
        if np.all(w_idx[1:] >= w_idx[:-1]):
            order = None
            ws = w_idx
        else:
            order = np.argsort(w_idx, kind="stable")
            ws = w_idx[order]
        cuts = np.flatnonzero(ws[1:] != ws[:-1]) + 1
        starts = np.concatenate(([0], cuts))
        ends = np.concatenate((cuts, [n]))
        hs_all = h_idx if order is None else h_idx[order]
        out_lat = lat_ph if order is None else np.empty_like(lat_ph)
        out_dyn = dyn_ph if order is None else np.empty_like(dyn_ph)
        for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
            w = int(ws[a])
            hs = hs_all[a:b]
            # a contiguous run of hardware rows is a slice (a view), anything else a gather
            if hs[-1] - hs[0] == b - a - 1 and (b - a == 1 or np.all(np.diff(hs) == 1)):
                sel: slice | np.ndarray = slice(int(hs[0]), int(hs[-1]) + 1)
            else:
                sel = hs
            self._block(w, sel, out_lat[a:b], out_dyn[a:b])
        if order is not None:
            lat_ph[order] = out_lat
            dyn_ph[order] = out_dyn
        return lat_ph, dyn_ph

    def _block(
        self, w: int, sel: slice | np.ndarray, out_lat: np.ndarray, out_dyn: np.ndarray
    ) -> None:
        F, B, FP, K = self.flop[w], self.bytes[w], self.fp[w], self.k[w]
        m = self.onehot * self.count[w][:, None]  # (O, n_ph): count-weighted phase membership
        n = out_lat.shape[0]
        plans: list[tuple[Any, ...] | None] = []
        for en in self.engines:
            x = en.cols_x
            if x.size == 0:
                plans.append(None)
                continue
            mx = m[x]
            if en.cap_const:
                fits = FP[x][None, :] <= en.cap[0][:, None]  # (nlev, |x|)
                fits[-1] = True
                home = np.argmax(fits, axis=0)
                # energy per byte only depends on the home level: sum per level first
                g = np.zeros((en.ce.shape[1], mx.shape[1]))
                np.add.at(g, home, B[x][:, None] * mx)
                plans.append((x, home, mx, g, F[x], B[x], F[x][:, None] * mx, mx.sum(axis=0), K[x]))
            else:
                plans.append(
                    (x, None, mx, None, F[x], B[x], F[x][:, None] * mx, mx.sum(axis=0), K[x])
                )
        shared = any(en.cols_s.size for en in self.engines)
        for a in range(0, n, _SUB):
            b = min(n, a + _SUB)
            rows = slice(sel.start + a, sel.start + b) if isinstance(sel, slice) else sel[a:b]
            lat = out_lat[a:b]
            dyn = out_dyn[a:b]
            lat[:] = 0.0
            dyn[:] = 0.0
            ov = self.overhead[rows]
            for en, plan in zip(self.engines, plans, strict=True):
                if plan is None:
                    continue
                x, home, mx, g, Fx, Bx, Fm, msum, Kx = plan
                ci, ce = en.ci[rows], en.ce[rows]
                t = en.ir_x[rows] * Fx
                if en.hk_x is not None:  # size curve: efficiency x k / (k + half_k)
                    hk = en.hk_x[rows]
                    t *= np.where(hk > 0, (Kx + hk) / np.maximum(Kx, 1e-300), 1.0)
                if home is not None:
                    tm = np.take(ci, home, axis=1)
                    tm *= Bx
                    dyn += ce @ g
                else:
                    inv_bw, eb = self._home_where(en, rows, FP[x])
                    tm = inv_bw * Bx
                    dyn += (eb * Bx) @ mx
                if self.sum_policy:
                    t += tm
                else:
                    np.maximum(t, tm, out=t)
                lat += t @ mx
                lat += ov[:, None] * msum
                dyn += en.eop_x[rows] @ Fm
            if shared:
                self._shared(rows, F, B, FP, m, ov, lat, dyn, K)

    def _home_where(
        self, en: _Engine, rows: slice | np.ndarray, fp: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        ci, ce, cp = en.ci[rows], en.ce[rows], en.cap[rows]
        nlev = ci.shape[1]
        inv_bw = np.broadcast_to(ci[:, nlev - 1 : nlev], (ci.shape[0], fp.size))
        eb = np.broadcast_to(ce[:, nlev - 1 : nlev], inv_bw.shape)
        for j in range(nlev - 2, -1, -1):
            f = fp[None, :] <= cp[:, j : j + 1]
            inv_bw = np.where(f, ci[:, j : j + 1], inv_bw)
            eb = np.where(f, ce[:, j : j + 1], eb)
        return inv_bw, eb

    def _shared(
        self,
        rows: slice | np.ndarray,
        F: np.ndarray,
        B: np.ndarray,
        FP: np.ndarray,
        m: np.ndarray,
        ov: np.ndarray,
        lat: np.ndarray,
        dyn: np.ndarray,
        K: np.ndarray,
    ) -> None:
        """Operators that several engines may win: price each, keep the fastest (ties: least energy)."""
        cols = np.unique(np.concatenate([en.cols_s for en in self.engines]))
        best_t = best_e = None
        for en in self.engines:
            if en.cols_s.size == 0:
                continue
            inv_bw, eb = self._home_where(en, rows, FP[cols])
            tc = en.ir[rows][:, cols] * F[cols]
            if en.hk is not None:
                hk = en.hk[rows][:, cols]
                tc = tc * np.where(hk > 0, (K[cols] + hk) / np.maximum(K[cols], 1e-300), 1.0)
            t = (
                tc + inv_bw * B[cols] if self.sum_policy else np.maximum(tc, inv_bw * B[cols])
            ) + ov[:, None]
            t = np.where(np.isin(cols, en.cols_s)[None, :], t, np.inf)
            e = en.eop[rows][:, cols] * F[cols] + eb * B[cols]
            if best_t is None:
                best_t, best_e = t, e
            else:
                better = (t < best_t) | ((t == best_t) & (e < best_e))
                best_t = np.where(better, t, best_t)
                best_e = np.where(better, e, best_e)
        assert best_t is not None and best_e is not None  # some engine shares a column here
        lat += best_t @ m[cols]
        dyn += best_e @ m[cols]

    def _finish(
        self, w_idx: np.ndarray, h_idx: np.ndarray, lat_ph: np.ndarray, dyn_ph: np.ndarray
    ) -> dict[str, np.ndarray]:
        static = self.static_W[h_idx]
        lat = lat_ph.sum(axis=1)
        dyn = dyn_ph.sum(axis=1)
        st = static * lat
        energy = dyn + st
        items = self.n_items[w_idx]
        item = self.wspec.item_name
        out = {
            "latency_s": lat,
            "energy_J": energy,
            "dynamic_energy_J": dyn,
            "static_energy_J": st,
            "edp_J_s": energy * lat,
            "items_per_s": items / lat,
            "energy_J_per_item": energy / items,
            "average_power_W": energy / lat,
            "peak_memory_B": self.peak_memory[w_idx].astype(np.float64),
            "memory_capacity_B": self.capacity[h_idx],
            "error_proxy": self.error_proxy[w_idx].astype(np.float64),
            "area_m2": self.area[h_idx].astype(np.float64),
        }
        out[f"{item}s_per_s"] = out["items_per_s"]
        out[f"energy_J_per_{item}"] = out["energy_J_per_item"]
        for j, ph in enumerate(self.phases):
            out[f"{ph}_latency_s"] = lat_ph[:, j]
            out[f"{ph}_energy_J"] = dyn_ph[:, j] + static * lat_ph[:, j]
        return out


def constraint_values(space: DesignSpace, m: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Constraint columns (``<= 0`` is feasible), relative to the limit, by constraint kind."""
    out = {}
    for c in space.constraints:
        if c.kind == "memory":
            out["constraint_memory"] = m["peak_memory_B"] / m["memory_capacity_B"] - 1.0
        elif c.kind == "power":
            out["constraint_power"] = m["average_power_W"] / float(c.limit) - 1.0  # type: ignore[arg-type]
        else:
            out["constraint_accuracy"] = m["error_proxy"] / float(c.limit) - 1.0  # type: ignore[arg-type]
    return out


def _metric_columns(space: DesignSpace) -> list[str]:
    return list(space.metrics())


def assemble(
    space: DesignSpace,
    points: pl.DataFrame | Mapping[str, Any],
    metrics: Mapping[str, np.ndarray],
    n: int | None = None,
) -> pl.DataFrame:
    """Points + metric columns + constraint columns + ``feasible``.

    ``points`` is a frame, or a mapping of ready columns (polars Series or numpy arrays) of
    ``n`` rows (the fast path used by sweeps).
    """
    if not isinstance(points, pl.DataFrame):
        if n is None:
            raise ValueError("assemble: n (the number of rows) is required when points is a mapping")
        cols_d: dict[str, Any] = dict(points)
        for name in _metric_columns(space):
            v = metrics.get(name)
            cols_d[name] = np.full(n, np.nan) if v is None else np.asarray(v, dtype=np.float64)
        feas_d = np.ones(n, dtype=np.bool_)
        for name, v in constraint_values(space, metrics).items():
            cols_d[name] = v
            feas_d &= v <= 0
        cols_d["feasible"] = feas_d
        return pl.DataFrame(cols_d)
    n = points.height
    cols = []
    for name in _metric_columns(space):
        v = metrics.get(name)
        cols.append(
            pl.Series(name, np.full(n, np.nan) if v is None else np.asarray(v, dtype=np.float64))
        )
    if not metrics:
        metrics = {
            k: np.full(n, np.nan)
            for k in ("peak_memory_B", "memory_capacity_B", "average_power_W", "error_proxy")
        }
    cons = constraint_values(space, metrics)
    feas = np.ones(n, bool)
    for name, v in cons.items():
        cols.append(pl.Series(name, v))
        feas &= v <= 0
    cols.append(pl.Series("feasible", feas))
    return points.with_columns(cols)


def evaluate_points(
    space: DesignSpace, points: pl.DataFrame, *, kernel: str = "auto"
) -> pl.DataFrame:
    """Evaluate arbitrary design points (one column per parameter, SI values).

    Parameters
    ----------
    space
        The design space.
    points
        Frame with a column per parameter of ``space`` (extra columns are kept).
    kernel
        ``"auto"``, ``"blocked"`` or ``"direct"`` (see the module docstring).

    Returns
    -------
    polars.DataFrame
        ``points`` with the metric columns of :meth:`DesignSpace.metrics`, one
        ``constraint_<kind>`` column per constraint (``<= 0`` feasible) and ``feasible``.
    """
    missing = [p for p in space.names if p not in points.columns]
    if missing:
        raise KeyError(
            f"points lack parameter column {missing[0]!r}; expected: {', '.join(space.names)}"
        )
    struct, wrow, hrow = split_parameters(space)
    n = points.height
    metrics: dict[str, np.ndarray] = {}
    if n == 0:
        return assemble(space, points, {})
    sidx = points.with_row_index("__i")
    groups: Sequence[tuple[tuple[Any, ...], pl.DataFrame]]
    if struct:
        groups = [
            (k if isinstance(k, tuple) else (k,), g)
            for k, g in sidx.group_by([p.name for p in struct], maintain_order=True)
        ]
    else:
        groups = [((), sidx)]
    for key, g in groups:
        w_rows, w_idx = _unique_rows(g, [p.name for p in wrow])
        h_rows, h_idx = _unique_rows(g, [p.name for p in hrow])
        model = GroupModel(
            space, dict(zip([p.name for p in struct], key, strict=True)), w_rows, h_rows
        )
        res = model.run(w_idx, h_idx, kernel=kernel)
        idx = g["__i"].to_numpy()
        for k, v in res.items():
            if k not in metrics:
                metrics[k] = np.full(n, np.nan)
            metrics[k][idx] = v
    return assemble(space, points, metrics)


def point_table(space: DesignSpace, row: Mapping[str, Any]) -> tuple[Target, Any]:
    """The target and operator table of one design point, built as a sweep builds them.

    The point goes through :class:`GroupModel` (workload build with the point's workload and
    datatype knobs, :func:`models.dse.knobs.apply_knobs` with its algorithm knobs: formats,
    GEMM strategy, attention tiling, softmax variant...), and its target-field values become
    overrides of the target. ``models.perf.evaluate(target, table, mode=space.mode)`` then gives
    the point's per-operator breakdown, and its ``latency_s`` equals the sweep's.

    Parameters
    ----------
    space
        The design space.
    row
        One design point: a value per parameter name of ``space`` (SI values, as in a results
        frame row; extra keys are ignored).

    Returns
    -------
    (Target, OperatorTable)
        The target with the point's overrides, and the operator table (arrays of shape ``(1, O)``).
    """
    missing = [n for n in space.names if n not in row]
    if missing:
        raise KeyError(f"design point lacks parameter {missing[0]!r}; expected: {', '.join(space.names)}")
    struct, wrow, hrow = split_parameters(space)
    w_rows = pl.DataFrame({p.name: [row[p.name]] for p in wrow})
    h_rows = pl.DataFrame({p.name: [float(row[p.name])] for p in hrow})
    model = GroupModel(space, {p.name: row[p.name] for p in struct}, w_rows, h_rows)
    target = with_overrides(model.target, {k: float(v[0]) for k, v in model.overrides.items()})
    return target, model.table


def _unique_rows(g: pl.DataFrame, cols: list[str]) -> tuple[pl.DataFrame, np.ndarray]:
    if not cols:
        return pl.DataFrame(), np.zeros(g.height, dtype=np.int64)
    codes = np.zeros(g.height, dtype=np.int64)
    uniques = []
    for c in cols:
        u, inv = np.unique(g[c].to_numpy(), return_inverse=True)
        codes = codes * len(u) + inv
        uniques.append(u)
    uc, first, inv = np.unique(codes, return_index=True, return_inverse=True)
    rows = g.select(cols)[first]
    return rows, inv.astype(np.int64)


_ = OP_KINDS
