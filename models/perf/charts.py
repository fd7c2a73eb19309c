"""Data behind roofline charts (one function computes, the dashboard or CLI draws)."""

from __future__ import annotations

import numpy as np
import polars as pl

from models.hardware.schema import Target
from models.perf.kernel import Path, Route, price

__all__ = ["roofline_ceilings", "roofline_curve"]


def roofline_ceilings(target: Target, *, efficiency: bool = False) -> pl.DataFrame:
    """Every (engine, native datatype, memory level) ceiling of a target.

    Columns: engine, dtype, level, peak_op_per_s, bandwidth_B_per_s, ridge_FLOP_per_B and the
    sources of the rate and the bandwidth. With ``efficiency=True`` the achievable (calibrated)
    ceilings are given instead of the datasheet peaks.
    """
    rows = []
    for e in target.engines:
        for d in e.ops_per_cycle:
            peak = e.peak_op_per_s(d, target.clock_Hz) * (e.efficiency if efficiency else 1.0)
            for m in target.path_of(e.name):
                bw = m.bandwidth_B_per_s * (m.efficiency if efficiency else 1.0)
                rows.append({
                    "engine": e.name, "dtype": d, "level": m.name, "level_kind": m.kind,
                    "peak_op_per_s": peak, "bandwidth_B_per_s": bw, "ridge_FLOP_per_B": peak / bw,
                    "peak_source": e.sources.get(f"ops_per_cycle.{d}", ""),
                    "bandwidth_source": m.sources.get("bandwidth", ""),
                })
    return pl.DataFrame(rows)


def roofline_curve(peak_op_per_s: float, bandwidth_B_per_s: float,
                   intensity_FLOP_per_B: np.ndarray) -> np.ndarray:
    """Attainable rate ``min(peak, bandwidth x intensity)`` in OP/s, same shape as the intensities.

    Priced by the one kernel (:func:`models.perf.kernel.price`): an operator of ``intensity``
    FLOP per byte on an engine of this peak reading one level of this bandwidth, ideal.
    """
    i = np.asarray(intensity_FLOP_per_B, dtype=np.float64)
    path = Path.build([0], [np.array([bandwidth_B_per_s])], [np.zeros(1)], [np.array([np.inf])])
    route = Route(engine=0, inv_rate=np.array([1.0 / peak_op_per_s]), energy_per_op=np.zeros(1), half_k=None,
                  path=path)
    one = np.ones_like(i)
    t = price([route], i, one, one, one, one, overhead_s=np.zeros(1), static_W=np.zeros(1),
              sum_overlap=False).latency_s
    return np.reshape(i / t, i.shape)
