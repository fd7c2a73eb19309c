"""``tradespace calibrate``: measure this host and write a target file from the measurements.

:func:`measure` runs the micro-benchmarks of :mod:`models.calibrate.bench` at sizes taken from
the OS's description of the host (:func:`models.calibrate.host.host_info`); :func:`build_target`
turns them into a target document whose every number says where it came from: "measured by
tradespace calibrate on <cpu model, cores, date>: ...", "from the OS: ...", or, for the energy
fields no counter on this host measures, "derived: ..." from a named preset. The document is
parsed by the project's loader before anything is written; :func:`write_calibration` writes it
and the raw measurements atomically (:func:`models.io.atomic_write_text`).

How each measurement maps to a field (docs/calibration.md):

- GEMM rate per datatype over sizes ``n`` -> the asymptote ``R`` of ``rate(n) = R x n / (n + h)``
  (least squares of ``1 / rate`` against ``1 / n``) gives ``ops_per_cycle = R / (cores x clock)``
  with ``efficiency = 1`` (the asymptote is the achievable peak), and the fp32 ``h`` gives
  ``efficiency_half_k.gemm`` (the project's size curve ``efficiency x k / (k + half_k)``);
- STREAM slope per level -> ``per_unit_bandwidth`` (1 thread), ``sustained_bandwidth`` (the
  most any thread count drew) and ``bandwidth``; where all cores drew clearly less than that
  (:data:`CONTENTION_MARGIN`), ``contended_bandwidth`` / ``contended_units`` from the all-core run;
- exp throughput -> ``efficiency_by_kind.softmax`` in the FLOP the softmax model charges per exp;
- the fixed time of a tiny PyTorch call -> ``op_overhead``;
- skinny fp32 GEMMs ``m x 512 x 512`` (torch ``linear``) -> ``efficiency_half_m.gemm``
  (:func:`half_m_from_curve`);
- one conv, depthwise conv and fused attention (torch fp32) -> ``efficiency_by_kind.conv``,
  ``.dwconv``, ``.attention`` (:func:`kind_efficiencies`);
- a low-precision datatype with no native instruction -> its ``ops_per_cycle`` from the rate at
  the largest size measured (its rate falls with size; no curve);
- an fp32 scale into a fresh result against one into a given buffer, below and above the C
  library's mmap threshold -> ``first_touch_threshold`` and ``first_touch_bandwidth``
  (:func:`first_touch_fit`).
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import platform
import statistics
import struct
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from models.calibrate import bench
from models.calibrate.host import HostInfo, host_info

__all__ = [
    "DEVICES",
    "MEASURE_EXTRA",
    "CalibrationError",
    "CalibrationResult",
    "build_target",
    "calibrate",
    "default_out_path",
    "first_touch_fit",
    "fit_size_curve",
    "mmap_threshold",
    "half_m_from_curve",
    "kind_efficiencies",
    "measure",
    "measurements_path",
    "require_torch",
    "torch_dtypes",
    "write_calibration",
]

MEASURE_EXTRA = 'pip install -e ".[measure]"'
DEVICES = ("cpu", "cuda")


class CalibrationError(ValueError):
    """A calibration that cannot run here (missing PyTorch, no such device, a host the OS does
    not describe); the message says what is missing and how to get it."""


def require_torch() -> Any:
    """PyTorch, or a :class:`CalibrationError` naming the extra that installs it."""
    try:
        import torch
    except ImportError:
        raise CalibrationError(f"PyTorch is not installed; calibration and host validation need it: {MEASURE_EXTRA}"
                               ) from None
    return torch


def default_out_path(name: str = "host") -> Path:
    """``<user targets folder>/<name>.toml`` (``~/.tradespace/targets/host.toml`` by default), where
    ``--target <name>`` finds it."""
    from models.hardware.registry import user_targets_dir

    return user_targets_dir() / f"{name}.toml"


def fit_size_curve(sizes: Sequence[float], rates: Sequence[float], *, floor: float = 0.25,
                   weight_power: float = 2.0) -> tuple[float, float | None]:
    """``(R, h)`` of ``rate(n) = R x n / (n + h)``, least squares of the relative error.

    Each size's relative error is weighted by ``n^weight_power`` (default 2: large operators are
    most of the time of a real workload, and small sizes are the most disturbed by other
    processes). For a given
    ``h`` the best ``R`` has a closed form (``R = sum(w f/r) / sum(w f^2/r^2)`` with
    ``f = n / (n + h)``); ``h`` is searched on a log grid from 0.01 to 4 x the largest size.
    Sizes below ``floor`` x the best rate (default a quarter) are left out (another regime: the
    matrices are too small to spread over the threads), so are sizes larger than the best one (the curve never
    falls), and ``R`` is kept within 1.5 x the best rate measured
    (an asymptote far above every measurement would be an extrapolation).
    ``h`` is None (and ``R`` the best rate) with fewer than two sizes, or when no curve fits
    better than a flat rate (``h`` at the grid's low end).
    """
    n = np.asarray(sizes, dtype=float)
    r = np.asarray(rates, dtype=float)
    order = np.argsort(n)
    n, r = n[order], r[order]
    # the rising part only: sizes past the best one fell off for another reason (their
    # matrices overflow a cache, or another process disturbed every repeat); they stay in
    # the measurements but the curve rate(n) = R n / (n + h) never falls
    top = int(np.argmax(r))
    n, r = n[:top + 1], r[:top + 1]
    keep = r >= floor * r.max()
    n, r = n[keep], r[keep]
    if len(n) < 2 or np.ptp(n) == 0:
        return float(r.max()), None
    w = n ** weight_power / (n ** weight_power).sum()
    hs = np.concatenate(([0.0], np.geomspace(0.01, 4.0 * n.max(), 400)))
    f = n[None, :] / (n[None, :] + hs[:, None])
    R = np.clip((w * f / r).sum(1) / (w * f ** 2 / r ** 2).sum(1), r.max(), 1.5 * r.max())
    resid = (w * (R[:, None] * f / r - 1.0) ** 2).sum(1)
    i = int(np.argmin(resid))
    if hs[i] <= 0.01:
        return float(r.max()), None
    return float(R[i]), float(hs[i])


def _net_rate(row: Mapping[str, Any], flop: float, overhead_s: float) -> float:
    """``flop / (time - fixed call cost)`` (the cost is priced by ``op_overhead``; at most half the time)."""
    t = float(row["time_s"])
    return flop / max(t - overhead_s, 0.5 * t)


def half_m_from_curve(rows: list[Mapping[str, Any]], rate_fp32: float, half_k: float | None,
                      overhead_s: float) -> float | None:
    """``efficiency_half_m.gemm`` from the skinny-GEMM benchmark, or None (no rows, or no size below
    the curve's rate).

    The model prices an ``m x k x n`` GEMM at ``R_k x m / (m + h)`` with ``R_k = R x k / (k + half_k)``
    (the fp32 asymptote on its own size curve); each measured ``rate(m)`` gives
    ``h = m x (R_k / rate(m) - 1)``, and ``h`` is their median (positive values only: a size at or
    above ``R_k`` says nothing about the fill). None too when ``h`` exceeds 4 x the largest ``m``
    measured (the curve was not seen: a disturbed run).
    """
    hs = []
    for r in rows:
        k, m = float(r["k"]), float(r["m"])
        rk = rate_fp32 * (k / (k + half_k) if half_k else 1.0)
        got = _net_rate(r, 2.0 * m * k * float(r["n"]), overhead_s)
        h = m * (rk / got - 1.0)
        if h > 0:
            hs.append(h)
    if not hs:
        return None
    h = float(statistics.median(hs))
    # a half point far beyond every size measured is no curve seen (every size was disturbed,
    # or the rate never rose): no tile-fill field rather than an extrapolation
    return h if h <= 4.0 * max(float(r["m"]) for r in rows) else None


def conv_size_curve(rows: Sequence[Mapping[str, Any]], three_by_three: Mapping[str, Any] | None,
                    rate_fp32: float, overhead_s: float) -> tuple[float, float] | None:
    """``(efficiency_by_kind.conv, efficiency_half_k.conv)`` from the pointwise-convolution rows
    (:func:`models.calibrate.bench.conv_k_curve`) and the 3x3 convolution of the kind benchmark
    (``k = 9 c``): :func:`fit_size_curve` of the net rates against ``k``, every size weighted alike
    and none left out (a convolution layer with few input channels is common, and is the regime
    the curve is for); efficiency = fitted asymptote / fp32 GEMM asymptote; where that exceeds 1
    the efficiency is 1 and ``h`` is refitted with the asymptote held at the GEMM's. None
    without two sizes or when no curve fits better than a flat rate (then the one-size
    efficiency of :func:`kind_efficiencies` stands)."""
    pts = [(float(r["k"]), _net_rate(r, float(r["op"]), overhead_s)) for r in rows]
    if three_by_three is not None and "k" in three_by_three:
        pts.append((float(three_by_three["k"]), _net_rate(three_by_three, float(three_by_three["op"]), overhead_s)))
    if len(pts) < 2:
        return None
    R, h = fit_size_curve([k for k, _ in pts], [r for _, r in pts], floor=0.0, weight_power=0.0)
    if h is None:
        return None
    if R <= rate_fp32:
        return R / rate_fp32, h
    # an asymptote above the GEMM's: efficiency 1 (the field's range), and h refitted with the
    # asymptote held at the GEMM's (least squares of the relative error, every size alike)
    k = np.array([p[0] for p in pts])
    r = np.array([p[1] for p in pts])
    grid = np.geomspace(0.01, 4.0 * k.max(), 400)
    resid = ((rate_fp32 * k[None, :] / (k[None, :] + grid[:, None]) / r[None, :] - 1.0) ** 2).sum(1)
    return 1.0, float(grid[int(np.argmin(resid))])


def kind_efficiencies(rows: Mapping[str, Mapping[str, Any]], rate_fp32: float,
                      overhead_s: float) -> dict[str, float]:
    """``efficiency_by_kind`` of the operator kinds of :func:`models.calibrate.bench.kind_rates`: each
    measured rate (the fixed call cost removed) over the fp32 GEMM asymptote, at most 1."""
    out = {}
    for kind, r in rows.items():
        if kind not in ("conv", "dwconv", "attention"):
            raise CalibrationError(f"kind benchmark {kind!r}: allowed: conv, dwconv, attention")
        out[kind] = min(1.0, _net_rate(r, float(r["op"]), overhead_s) / rate_fp32)
    return out


# datatypes PyTorch runs natively where the CPU has these ISA flags (x86 names, then Arm's)
_TORCH_DTYPE_FLAGS = {
    "bf16": ("avx512_bf16", "amx_bf16", "bf16"),
    "fp16": ("avx512_fp16", "amx_fp16", "fphp", "asimdhp"),
    "int8": ("avx512_vnni", "avx_vnni", "amx_int8", "asimddp"),
}


# a weight-streaming row whose time is within 50% of its compute time is compute-dominated: the
# memory time it implies, T - t_c, is a small difference of two similar figures, and an error of
# either is multiplied in it (the measurements of five full calibrations of one host re-fitted:
# main memory's efficiency spread 0.15-0.40 at 1.1, 0.14-0.23 at 1.5; two more calibrations at
# 1.5 gave 0.10 and 0.20: the rows themselves are noisy)
COMPUTE_BOUND_MARGIN = 1.5


def mmap_threshold() -> tuple[float, str] | None:
    """The request size from which the C library's ``malloc`` maps a buffer from the OS on every
    call (and unmaps it on ``free``), with how it is known; None where that is not glibc.

    glibc maps requests of at least ``M_MMAP_THRESHOLD``; freeing a mapped buffer raises the
    threshold to its size, up to ``DEFAULT_MMAP_THRESHOLD_MAX`` = 4 MiB x ``sizeof(long)`` (32 MiB
    on 64-bit hosts), so a loop that allocates and frees a buffer below that size reuses heap
    memory after its first call, and one at or above it maps (and faults in) fresh pages on every
    call (mallopt(3), "M_MMAP_THRESHOLD"). ``MALLOC_MMAP_THRESHOLD_`` in the environment fixes the
    threshold and turns the adjustment off."""
    if platform.libc_ver()[0] != "glibc":
        return None
    env = os.environ.get("MALLOC_MMAP_THRESHOLD_", "")
    if env.strip().isdigit():  # 0 maps every request: from one byte
        return max(float(env), 1.0), f"MALLOC_MMAP_THRESHOLD_={env.strip()} in the environment (glibc, mallopt(3))"
    long_B = struct.calcsize("l")
    return (4.0 * 2**20 * long_B, f"glibc's DEFAULT_MMAP_THRESHOLD_MAX, 4 MiB x sizeof(long) = {4 * long_B} MiB "
                                  "on this host (mallopt(3), M_MMAP_THRESHOLD: freed mappings raise the threshold "
                                  "up to it, so repeated requests of at least it are mapped fresh on every call)")


CONTENTION_MARGIN = 0.95
"""A shared level gets ``contended_bandwidth`` when the most threads measured drew less than this
share of the best thread count's figure (below it, a drop is within the run-to-run spread of a
STREAM slope)."""

# a fresh buffer whose extra time is less than this fraction of the in-place operator's is free
FIRST_TOUCH_MIN_SHARE = 0.1


def first_touch_fit(rows: Sequence[Mapping[str, Any]], threshold_B: float) -> tuple[float, str] | None:
    """``first_touch_bandwidth`` (B/s) from :func:`models.calibrate.bench.first_touch` rows, with
    how it was fitted, or None when fresh buffers cost nothing measurable.

    The rows at or above ``threshold_B`` give the bytes over the extra time of a fresh result
    (median over them); None when any of them is cheaper than :data:`FIRST_TOUCH_MIN_SHARE` of
    its in-place time (a runtime that keeps its buffers: nothing to price). A row below the
    threshold should cost little: when its extra time per byte is more than half the fitted
    figure's, the threshold is not where the C library says, and CalibrationError says so
    rather than write a wrong one."""
    above = [r for r in rows if float(r["bytes_B"]) >= threshold_B]
    below = [r for r in rows if float(r["bytes_B"]) < threshold_B]
    if not above:
        raise CalibrationError(f"first-touch benchmark: no size at or above the threshold {threshold_B:g} B")
    if any(float(r["extra_s"]) < FIRST_TOUCH_MIN_SHARE * float(r["out_s"]) for r in above):
        return None
    bw = float(statistics.median(float(r["bytes_B"]) / float(r["extra_s"]) for r in above))
    for r in below:
        if float(r["extra_s"]) > 0.5 * float(r["bytes_B"]) / bw:
            raise CalibrationError(
                f"first-touch benchmark: a fresh {float(r['bytes_B']) / 2**20:.4g} MiB result, below the mmap "
                f"threshold {threshold_B / 2**20:.4g} MiB, cost {float(r['extra_s']) * 1e3:.3g} ms more than an "
                f"in-place one: the allocator does not behave as that threshold says")

    def mib(rs: Sequence[Mapping[str, Any]]) -> str:
        return ", ".join(f"{float(r['bytes_B']) / 2**20:.4g}" for r in rs)

    how = (f"torch.mul(x, 1.5) into a fresh fp32 result against out= a given buffer at {mib(above)} MiB (at or above "
           "the threshold): median of bytes / (fresh time - in-place time)")
    if below:
        how += (f"; below it, at {mib(below)} MiB, fresh - in-place: "
                + ", ".join(f"{float(r['extra_s']) * 1e3:.3g}" for r in below) + " ms")
    return bw, how


def weight_stream_fit(rows: Sequence[Mapping[str, Any]], bandwidth_B_per_s: Mapping[str, float],
                      compute_s: Callable[[Mapping[str, Any]], float]) -> tuple[str, dict[str, tuple[float, str]],
                                                                                dict[str, float]]:
    """The overlap policy and each level's GEMM streaming efficiency from the weight-streaming rows.

    Each row (:func:`models.calibrate.bench.weight_stream`: a GEMM of ``m`` rows streaming its
    ``weight_B`` from one level) has a measured time ``T`` and a compute time ``t_c`` the target
    already prices (``compute_s(row)``: the fitted rate on its size and tile-fill curves). Under
    overlap ``max`` the model prices it ``max(t_c, B / (e bw))``, under ``sum`` ``t_c + B / (e bw)``.
    For each policy, each level's ``e`` is the geometric mean over its rows of what the row implies
    (``B / (T bw)``, or ``B / ((T - t_c) bw)``; rows within :data:`COMPUTE_BOUND_MARGIN` of their
    compute time, ``T <= 1.5 t_c``, are compute-dominated and say too little about memory),
    at most 1; the policy kept is the one whose predictions of all rows have the smaller mean
    ``|log(predicted / measured)|`` (symmetric in over- and under-prediction, and every row
    counts: with a median the two policies tie on bimodal rows; one policy for the whole
    target: it is a property of how the runtime's kernels issue memory traffic, not of one
    level). Returns the policy, ``{level: (e, how)}`` and the error of each policy.
    ``("max", {}, {})`` without rows."""
    levels = [lv for lv in dict.fromkeys(str(r["level"]) for r in rows) if bandwidth_B_per_s.get(lv, 0) > 0]
    if not levels:
        return "max", {}, {}
    tc = {id(r): compute_s(r) for r in rows}
    effs: dict[str, dict[str, float]] = {"max": {}, "sum": {}}
    errs: dict[str, float] = {}
    for policy in ("max", "sum"):
        rel = []
        for lv in levels:
            mine = [r for r in rows if r["level"] == lv]
            bw = bandwidth_B_per_s[lv]
            implied = [float(r["weight_B"]) / ((float(r["time_s"]) - (tc[id(r)] if policy == "sum" else 0.0)) * bw)
                       for r in mine if float(r["time_s"]) > COMPUTE_BOUND_MARGIN * tc[id(r)]]
            # geometric mean: the rows are often bimodal (MKL's fp32 GEMV at m = 1 against its packing
            # GEMM at m >= 2), where a median jumps from one mode to the other between runs
            e = min(1.0, float(np.exp(np.mean(np.log(implied))))) if implied else 1.0
            effs[policy][lv] = e
            for r in mine:
                t_m = float(r["weight_B"]) / (e * bw)
                pred = tc[id(r)] + t_m if policy == "sum" else max(tc[id(r)], t_m)
                rel.append(abs(math.log(pred / float(r["time_s"]))))
        errs[policy] = float(np.mean(rel))
    best = "sum" if errs["sum"] < errs["max"] else "max"
    out = {}
    for lv in levels:
        mine = [r for r in rows if r["level"] == lv]
        ms = sorted({int(r["m"]) for r in mine})
        dts = sorted({str(r["dtype"]) for r in mine})
        ws = max(float(r["weight_B"]) for r in mine)
        out[lv] = (effs[best][lv], (
            f"torch linear m x {mine[0]['k']} by n x {mine[0]['k']} weights streamed from this level ({ws / 1e6:.4g} "
            f"MB), m = {', '.join(map(str, ms))}, {', '.join(dts)}: geometric mean over them of the bandwidth each "
            f"implies "
            f"under overlap {best!r} (" + ("bytes / (time - compute time)" if best == "sum" else "bytes / time")
            + f") / the level's STREAM bandwidth {bandwidth_B_per_s[lv] / 1e9:.4g} GB/s; overlap {best!r} kept: "
            f"mean |log(predicted / measured)| over every streamed row {errs[best]:.3g} against "
            f"{errs['max' if best == 'sum' else 'sum']:.3g}"))
    return best, out, errs


def torch_dtypes(host: HostInfo) -> list[str]:
    """The low-precision datatypes this CPU runs natively (by its ISA flags)."""
    return [d for d, flags in _TORCH_DTYPE_FLAGS.items() if any(f in host.flags for f in flags)]


# every low-precision datatype PyTorch runs on a CPU (natively where torch_dtypes says so)
TORCH_DTYPES = ("bf16", "fp16", "int8")
# square GEMM sizes of a datatype with no native instruction (converted in software: slow), by quick
EMULATED_GEMM_SIZES = {True: [64, 128, 256], False: [64, 128, 256, 384]}
# output rows of the tile-fill benchmark, and its k = n (fp32 weights of 1 MiB: in cache)
M_CURVE = [1, 2, 4, 8, 16, 32, 64, 128]
M_CURVE_KN = 512
# square GEMM and GEMV sizes, by quick
GEMM_SIZES = {True: [64, 128, 256, 512, 1024], False: [64, 128, 256, 512, 1024, 1536, 2048]}
# channel counts (the reduction length k) of the pointwise-convolution size curve
CONV_K_CHANNELS = {True: [16, 64, 256], False: [16, 32, 64, 128, 256, 512]}
# output rows of the weight-streaming GEMMs: decode batch sizes up to prefill-like tiles
WEIGHT_STREAM_M = {True: [1, 4, 16, 64], False: [1, 2, 4, 8, 16, 32, 64, 128]}
GEMV_SIZES = {True: [256, 1024, 4096], False: [256, 512, 1024, 2048, 4096, 8192]}


def _levels(host: HostInfo, quick: bool) -> tuple[dict[str, tuple[float, float]], dict[str, tuple[float, float]]]:
    """Working sets (B) of the private cache levels (of one thread) and of the shared ones, the
    last cache and main memory (of all threads together)."""
    private: dict[str, tuple[float, float]] = {}
    shared: dict[str, tuple[float, float]] = {}
    caches = {c.level: c for c in host.caches}
    for c in host.caches:
        if c.shared_by == 1:
            lo = 0.25 * c.size_B if c.level == 1 else max(0.3 * c.size_B, 2.0 * caches[1].size_B if 1 in caches else 0)
            private[f"l{c.level}"] = (lo, 0.75 * c.size_B)
        else:
            inner = max((x.size_B for x in host.caches if x.level < c.level), default=c.size_B / 64)
            shared[f"l{c.level}"] = (max(4.0 * inner, c.total_B / 16), 0.5 * c.total_B)
    llc = max((c.total_B for c in host.caches), default=32 << 20)
    cap = (1.0 if quick else 4.0) * (1 << 30)
    if host.memory_B:
        cap = min(cap, host.memory_B / 8)
    # x the last-level cache: far enough beyond it that neither a larger physical cache than the OS
    # reports (a VM sees its share of an EPYC's L3) nor a victim cache serves the traffic
    lo, hi = (8.0, 12.0) if quick else (8.0, 16.0)
    shared["dram"] = (min(lo * llc, cap / 2), min(hi * llc, cap))
    return private, shared


def measure(host: HostInfo | None = None, *, quick: bool = False,
            progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run every micro-benchmark; returns the raw measurements (JSON-ready).

    ``quick`` takes fewer sizes, kernels' repeats and a smaller main-memory working set.
    """
    host = host or host_info()
    torch = require_torch()
    t0 = time.perf_counter()
    steps: dict[str, float] = {}
    last = [t0]

    def say(text: str) -> None:
        # each step's duration is kept in the measurements (what a --quick budget is spent on)
        now = time.perf_counter()
        if steps or now > t0:
            steps[f"{len(steps)}"] = now - last[0]
        last[0] = now
        if progress is not None:
            progress(text)

    reps = 2 if quick else 3
    torch.set_num_threads(host.n_cores)
    out: dict[str, Any] = {"host": _host_dict(host), "quick": quick, "torch": str(torch.__version__),
                           "numpy": np.__version__}
    say("overhead: fixed time of a tiny call")
    out["overhead"] = bench.overhead(with_torch=True, repeats=reps + 2)
    private, shared = _levels(host, quick)
    threads = sorted({1, host.n_cores} | ({host.n_cores // 2} if host.n_cores >= 4 else set()))
    say(f"stream: copy/scale/add/triad in {', '.join(private)} (1 thread)")
    rows = bench.stream(private, [1], min_s=0.01 if quick else 0.02, repeats=reps)
    say(f"stream: {', '.join(shared)} at {threads} threads")
    rows += bench.stream(shared, threads, split=True, min_s=0.03 if quick else 0.06, repeats=reps)
    out["stream"] = rows
    sizes = GEMM_SIZES[quick]
    dtypes = ["fp32", "fp64", *torch_dtypes(host)]
    say(f"gemm: {', '.join(dtypes)} at n = {sizes}")
    out["gemm"] = bench.gemm(sizes, dtypes, min_s=0.1 if quick else 0.25, repeats=reps + 1)
    # datatypes PyTorch runs without a native instruction for them (converted in software): the
    # workloads still run them, so their achieved rate is measured too, at small sizes (they are slow)
    emulated = [d for d in TORCH_DTYPES if d not in dtypes]
    if emulated:
        small = EMULATED_GEMM_SIZES[quick]
        say(f"gemm (no native instruction): {', '.join(emulated)} at n = {small}")
        out["gemm"] += [{**r, "native": False} for r in bench.gemm(small, emulated, min_s=0.05, repeats=reps)]
    say(f"gemm tile fill: torch fp32 m = {M_CURVE} x {M_CURVE_KN} x {M_CURVE_KN}")
    out["gemm_m"] = bench.gemm_m_curve(M_CURVE, M_CURVE_KN, M_CURVE_KN, min_s=0.02 if quick else 0.05, repeats=reps)
    # the same curve in bf16: its own tile fill (efficiency_half_m_by_dtype.bf16.gemm) where the
    # CPU runs bf16 natively
    bf_ms = M_CURVE[:7] if "bf16" in dtypes else M_CURVE[:5]
    out["gemm_m_bf16"] = bench.gemm_m_curve(bf_ms, M_CURVE_KN, M_CURVE_KN, dtype="bf16", min_s=0.02, repeats=reps)
    say("conv, depthwise conv, attention (torch fp32)")
    out["kinds"] = bench.kind_rates(min_s=0.03 if quick else 0.08, repeats=reps)
    say(f"conv size curve: torch fp32 1x1 conv, c = {CONV_K_CHANNELS[quick]}")
    out["conv_k"] = bench.conv_k_curve(CONV_K_CHANNELS[quick], min_s=0.02 if quick else 0.05, repeats=reps)
    gv = GEMV_SIZES[quick]
    say(f"gemv: n = {gv}")
    out["gemv"] = bench.gemv(gv, [d for d in dtypes if d != "int8"], min_s=0.02, repeats=reps)
    # GEMV-class kernels streaming their weights from each shared level (the last cache at the
    # upper working set of its STREAM run, main memory at the lower one)
    streamed = {lv: (ws[0] if lv == "dram" else ws[1]) for lv, ws in shared.items()}
    sd = ["fp32", *[d for d in torch_dtypes(host) if d != "int8"]]
    say(f"weight streaming: torch linear {', '.join(sd)} at m = {WEIGHT_STREAM_M[quick]} from "
        f"{', '.join(streamed)}")
    out["weight_stream"] = bench.weight_stream(streamed, sd, WEIGHT_STREAM_M[quick], min_s=0.02 if quick else 0.05,
                                               repeats=reps)
    # a second pass of the short torch benchmarks, seconds later: on shared cores a two-thread
    # call can wait a scheduler slice on every repeat of one pass; each row keeps its best pass
    say("gemm, gemm tile fill, conv, attention: second pass")
    # the square GEMMs too: one disturbed phase during their first pass bends the size curve of
    # every GEMM (a fitted half_k of 284 against 54 in the undisturbed runs of the same host)
    native = [r for r in out["gemm"] if r.get("native", True)]
    again_sq = bench.gemm(sizes, dtypes, min_s=0.1 if quick else 0.25, repeats=reps + 1)
    out["gemm"] = [a if a["time_s"] <= b["time_s"] else b for a, b in zip(native, again_sq, strict=True)] \
        + [r for r in out["gemm"] if not r.get("native", True)]
    again = bench.gemm_m_curve(M_CURVE, M_CURVE_KN, M_CURVE_KN, min_s=0.02 if quick else 0.05, repeats=reps)
    out["gemm_m"] = [a if a["time_s"] <= b["time_s"] else b for a, b in zip(out["gemm_m"], again, strict=True)]
    if "bf16" in dtypes:
        again_bf = bench.gemm_m_curve(bf_ms, M_CURVE_KN, M_CURVE_KN, dtype="bf16", min_s=0.02, repeats=reps)
        out["gemm_m_bf16"] = [a if a["time_s"] <= b["time_s"] else b
                              for a, b in zip(out["gemm_m_bf16"], again_bf, strict=True)]
    kinds2 = bench.kind_rates(min_s=0.03 if quick else 0.08, repeats=reps)
    conv2 = bench.conv_k_curve(CONV_K_CHANNELS[quick], min_s=0.02 if quick else 0.05, repeats=reps)
    out["conv_k"] = [a if a["time_s"] <= b["time_s"] else b for a, b in zip(out["conv_k"], conv2, strict=True)]
    out["kinds"] = {k: v if v["time_s"] <= kinds2[k]["time_s"] else kinds2[k] for k, v in out["kinds"].items()}
    say("exp throughput")
    out["exp"] = bench.exp_rate(repeats=reps)
    thr = mmap_threshold()
    if thr is not None:
        # one size below the C library's mmap threshold, one or two above it
        touch_B = [int(thr[0] / 2), int(2 * thr[0])] + ([] if quick else [int(4 * thr[0])])
        say(f"first touch: torch fp32 scale into a fresh result at {[x // 2**20 for x in touch_B]} MiB")
        out["first_touch"] = {"threshold_B": thr[0], "threshold_how": thr[1],
                              "rows": bench.first_touch(touch_B, min_s=0.02 if quick else 0.05, repeats=reps)}
    say("done")
    names = ["setup", "overhead", "stream_private", "stream_shared", "gemm", *(["gemm_emulated"] if emulated else []),
             "gemm_m", "kinds", "conv_k", "gemv", "weight_stream", "second_pass", "exp", "first_touch"]
    out["step_s"] = {names[int(k)] if int(k) < len(names) else k: v for k, v in steps.items()}
    out["elapsed_s"] = time.perf_counter() - t0
    return out


def _host_dict(h: HostInfo) -> dict[str, Any]:
    return {"cpu_model": h.cpu_model, "arch": h.arch, "n_cores": h.n_cores, "clock_Hz": h.clock_Hz,
            "caches": [{"level": c.level, "size_B": c.size_B, "n_instances": c.n_instances,
                        "shared_by": c.shared_by} for c in h.caches],
            "memory_B": h.memory_B, "flags": sorted(h.flags), "where": dict(h.where)}


def _reference_preset(host: HostInfo) -> str:
    """The preset whose derived energy figures stand in for what no counter here measures."""
    if host.arch in ("aarch64", "arm64"):
        return "raspberry-pi-5"
    return "skylake-x-i9-7900x" if "avx512f" in host.flags else "zen2-ryzen9-3900x"


def _q(value: float, unit: str | None, source: str) -> dict[str, Any]:
    d: dict[str, Any] = {"value": float(f"{value:.10g}"), "source": source}
    if unit is not None:
        d["unit"] = unit
    return d


def build_target(host: HostInfo, meas: Mapping[str, Any], *, name: str = "host",
                 date: str | None = None) -> tuple[dict[str, Any], Any]:
    """The target document (TOML-ready dict) and the :class:`~models.hardware.Target` it loads as.

    Raises
    ------
    CalibrationError
        A measurement the target needs is missing (no GEMM rate, no memory level).
    """
    from models.algorithms.softmax import EXP_SLOTS, FLOP_PER_SLOT
    from models.hardware import get_target
    from models.hardware.loader import parse_target

    date = date or _dt.date.today().isoformat()
    on = f"measured by tradespace calibrate on {host.describe()}, {date}"
    os_src = f"from the OS on {host.describe()}, {date}"
    n = host.n_cores
    clock = host.clock_Hz
    clock_src = f"{os_src}: {host.where.get('clock', '')}"
    if clock is None:
        clock, clock_src = 1e9, (f"{os_src}: no clock reported; a 1 GHz reference clock, so ops_per_cycle are the "
                                 "measured rates per ns")
    ref = get_target(_reference_preset(host))
    ref_e = ref.engines[0]
    per_core = 1.0 / ref_e.n_units
    # --- compute: GEMM asymptotes and the fp32 size curve
    by_dtype: dict[str, list[dict[str, Any]]] = {}
    for r in meas.get("gemm", []):
        by_dtype.setdefault(r["dtype"], []).append(r)
    if "fp32" not in by_dtype:
        raise CalibrationError("calibration has no fp32 GEMM measurement; a target needs at least one rate")
    oh = float(meas["overhead"].get("numpy_s", 0.0))
    rates: dict[str, float] = {}
    halves: dict[str, float | None] = {}
    for d, rows in by_dtype.items():
        ns = [r["k"] for r in rows]
        # the fixed call cost is priced by op_overhead: the size curve is fitted without it
        rs = [2.0 * r["k"] ** 3 / max(r["time_s"] - oh, 0.5 * r["time_s"]) for r in rows]
        if rows[0].get("native", True):
            rates[d], halves[d] = fit_size_curve(ns, rs)
        else:
            # converted in software: the rate falls with size (no blocking for the cache), so the
            # largest size measured is the rate large operators get, and there is no size curve
            rates[d], halves[d] = rs[int(np.argmax(ns))], None
    e_fp32 = ref_e.energy_J_per_op["fp32"]
    ops: dict[str, Any] = {}
    energy: dict[str, Any] = {}
    for d, R in rates.items():
        sizes = ", ".join(str(r["k"]) for r in by_dtype[d])
        lib = by_dtype[d][0]["library"]
        ops[d] = _q(R / (n * clock), None,
                    f"{on}: square GEMM n = {sizes} through {lib}; "
                    + ("fitted asymptote of rate(n) = R x n / (n + h)" if by_dtype[d][0].get("native", True) else
                       "no native instruction (converted in software): the rate at the largest n")
                    + f": R = {R / 1e9:.4g} GOP/s over {n} cores x {clock / 1e9:.4g} GHz")
        energy[d] = _q(e_fp32 * rates["fp32"] / R * 1e12, "pJ/op",
                       f"derived (rule A, no energy counter on this host): {ref.name}'s fp32 "
                       f"{e_fp32 * 1e12:.4g} pJ/op x measured fp32 / {d} rate ({rates['fp32'] / 1e9:.4g} / "
                       f"{R / 1e9:.4g} GOP/s)")
    engine: dict[str, Any] = {
        "name": "simd", "kind": "vector",
        "n_units": _q(n, None, f"{os_src}: {host.where.get('n_cores', '')}"),
        "efficiency": _q(1.0, None, f"{on}: ops_per_cycle are the fitted achievable GEMM asymptotes, so the "
                                    "achievable fraction of them is 1 by construction"),
        "ops_per_cycle": ops, "energy_per_op": energy,
    }
    h32 = halves.get("fp32")
    if h32 is not None:
        engine["efficiency_half_k"] = {"gemm": _q(h32, None, f"{on}: fitted h of rate(n) = R x n / (n + h) over the "
                                                             "fp32 GEMM sizes (numpy BLAS)")}
    t_oh = float(meas["overhead"].get("torch_s", oh))
    hm = half_m_from_curve([r for r in meas.get("gemm_m", []) if r["dtype"] == "fp32"], rates["fp32"], h32, t_oh)
    if hm is not None:
        ms = ", ".join(str(r["m"]) for r in meas["gemm_m"])
        kn = meas["gemm_m"][0]["k"]
        engine["efficiency_half_m"] = {"gemm": _q(hm, None, (
            f"{on}: torch fp32 linear m x {kn} x {kn} (weights in cache), m = {ms}; median over m of "
            f"m x (R_k / rate(m) - 1), R_k = fp32 asymptote x k / (k + half_k), the fixed call cost removed"))}
    # bf16's own tile fill, where the CPU runs bf16 natively (its rate is then a fitted asymptote)
    bf_rows = [r for r in meas.get("gemm_m_bf16", []) if r["dtype"] == "bf16"]
    bf_native = bool(by_dtype.get("bf16")) and by_dtype["bf16"][0].get("native", True)
    hm_bf = half_m_from_curve(bf_rows, rates["bf16"], h32, t_oh) if bf_rows and bf_native else None
    if hm_bf is not None:
        ms_bf = ", ".join(str(r["m"]) for r in bf_rows)
        kn = bf_rows[0]["k"]
        engine["efficiency_half_m_by_dtype"] = {"bf16": {"gemm": _q(hm_bf, None, (
            f"{on}: torch bf16 linear m x {kn} x {kn} (weights in cache), m = {ms_bf}; median over m of "
            f"m x (R_k / rate(m) - 1), R_k = bf16 asymptote x k / (k + half_k), the fixed call cost removed"))}}
    exp_per_s = float(meas["exp"]["exp_per_s"])
    soft = min(1.0, exp_per_s * EXP_SLOTS * FLOP_PER_SLOT / rates["fp32"])
    engine["efficiency_by_kind"] = {"softmax": _q(soft, None, (
        f"{on}: numpy.exp fp32 {exp_per_s / 1e9:.4g} Gexp/s x {EXP_SLOTS * FLOP_PER_SLOT:g} FLOP the softmax model "
        f"charges per exp / fp32 rate {rates['fp32'] / 1e9:.4g} GFLOP/s"))}
    for kind, eff in kind_efficiencies(meas.get("kinds", {}), rates["fp32"], t_oh).items():
        row = meas["kinds"][kind]
        engine["efficiency_by_kind"][kind] = _q(eff, None, (
            f"{on}: {row['what']} ({row['library']} {row['dtype']}) {row['op_per_s'] / 1e9:.4g} GOP/s, the fixed "
            f"call cost removed, / fp32 GEMM asymptote {rates['fp32'] / 1e9:.4g} GOP/s"))
    curve = conv_size_curve(meas.get("conv_k", []), meas.get("kinds", {}).get("conv"), rates["fp32"], t_oh)
    if curve is not None:
        eff_c, h_c = curve
        ks = ", ".join(str(r["k"]) for r in meas["conv_k"])
        three = meas.get("kinds", {}).get("conv")
        how = (f"torch fp32 conv2d 1x1 c -> c at {meas['conv_k'][0]['what'].rsplit(', ', 1)[-1]}, k = c = {ks}"
               + (f", and the {three['what']} (k = {three['k']})" if three and "k" in three else "")
               + ": fit of rate(k) = R x k / (k + h), every size weighted alike, the fixed call cost removed")
        engine["efficiency_by_kind"]["conv"] = _q(eff_c, None, f"{on}: {how}; R / fp32 GEMM asymptote "
                                                               f"{rates['fp32'] / 1e9:.4g} GOP/s")
        engine.setdefault("efficiency_half_k", {})["conv"] = _q(h_c, None, f"{on}: {how}; h")
    # --- memories
    rows = meas.get("stream", [])
    levels: list[str] = []
    for r in rows:
        if r["level"] not in levels:
            levels.append(r["level"])
    if not levels:
        raise CalibrationError("calibration has no bandwidth measurement; a target needs a memory level")
    caches = {f"l{c.level}": c for c in host.caches}
    ref_caches = [m for m in ref.memories if m.kind == "cache"]
    ref_dram = ref.memories[-1]
    memories = []
    bw_of: dict[str, float] = {}
    for i, lv in enumerate(levels):
        per_thr: dict[int, float] = {}
        private = len({r["threads"] for r in rows if r["level"] == lv}) == 1
        for thr in sorted({r["threads"] for r in rows if r["level"] == lv}):
            # private levels: the median kernel (slopes of sub-microsecond calls are noisy); shared
            # levels: the most a kernel drew (the read-only dot, as a weight-streaming GEMV reads)
            agg = statistics.median if private else max
            per_thr[thr] = agg(r["bandwidth_B_per_s"] for r in rows if r["level"] == lv and r["threads"] == thr)
        one = per_thr.get(1, max(per_thr.values()) / max(per_thr))
        best_thr = max(per_thr, key=lambda k: per_thr[k])
        ws = [r["bytes_per_thread_B"] for r in rows if r["level"] == lv][0]
        how = ("STREAM copy/scale/add/triad and read-only dot (numpy, fp64), "
               + (f"median over kernels of the slope of time against bytes between {ws[0] / 1e6:.3g} and "
                  f"{ws[1] / 1e6:.3g} MB per thread" if private else
                  f"most over kernels of bytes / time at {ws[1] / 1e6:.4g} MB per thread"))
        mem: dict[str, Any] = {"name": lv, "kind": "dram" if lv == "dram" else "cache", "read_by": ["simd"]}
        if lv in caches:
            c = caches[lv]
            mem["capacity"] = _q(c.total_B / 2**20, "MiB",
                                 f"{os_src}: {c.n_instances} x {c.size_B // 1024} KiB "
                                 f"(/sys/devices/system/cpu/cpu0/cache, shared by {c.shared_by})")
        else:
            cap = host.memory_B or 0
            if not cap:
                raise CalibrationError("the OS reports no memory size (/proc/meminfo MemTotal)")
            mem["capacity"] = _q(cap / 2**30, "GiB", f"{os_src}: {host.where.get('memory', '/proc/meminfo')}")
        if len(per_thr) == 1:
            mem["bandwidth"] = _q(n * one / 1e9, "GB/s", f"{on}: {n} cores x the 1-thread figure (a private "
                                                         "cache per core; threads timing sub-microsecond calls "
                                                         f"would measure the interpreter's lock): {how}")
        else:
            listing = ", ".join(f"{k}: {v / 1e9:.4g}" for k, v in per_thr.items()) + " GB/s"
            mem["bandwidth"] = _q(per_thr[best_thr] / 1e9, "GB/s",
                                  f"{on}: the most any thread count drew ({best_thr} threads; {listing}): {how}")
            mem["sustained_bandwidth"] = _q(per_thr[best_thr] / 1e9, "GB/s", mem["bandwidth"]["source"])
            top = max(per_thr)
            if (top != best_thr and per_thr[top] < CONTENTION_MARGIN * per_thr[best_thr]
                    and top > per_thr[best_thr] / one):
                mem["contended_bandwidth"] = _q(per_thr[top] / 1e9, "GB/s",
                                                f"{on}: {top} threads drew less than {best_thr} did (contention): "
                                                f"{listing}: {how}")
                mem["contended_units"] = _q(float(top), None, f"{on}: the thread count of contended_bandwidth")
        mem["per_unit_bandwidth"] = _q(one / 1e9, "GB/s", f"{on}: 1 thread: {how}")
        mem["efficiency"] = _q(1.0, None, f"{on}: the bandwidths are achieved figures, so the achievable fraction "
                                          "of them is 1 by construction")
        bw_of[lv] = float(mem["bandwidth"]["value"]) * 1e9
        rm = ref_dram if lv == "dram" else ref_caches[min(i, len(ref_caches) - 1)]
        mem["energy_per_byte"] = _q(rm.energy_J_per_B * 1e12, "pJ/B",
                                    f"derived (no energy counter on this host): {ref.name}'s {rm.name} figure "
                                    f"({rm.sources.get('energy_per_byte', '')})")
        memories.append(mem)
    # --- the overlap policy and the GEMM streaming efficiency of the shared levels

    def gemm_compute_s(r: Mapping[str, Any]) -> float:
        k, m_ = float(r["k"]), float(r["m"])
        rate = rates.get(str(r["dtype"]), rates["fp32"]) * (k / (k + h32) if h32 else 1.0)
        h_m = hm_bf if str(r["dtype"]) == "bf16" and hm_bf is not None else hm
        rate *= m_ / (m_ + h_m) if h_m else 1.0
        return 2.0 * m_ * float(r["n"]) * k / rate

    overlap, streamed, overlap_errs = weight_stream_fit(meas.get("weight_stream", []), bw_of, gemm_compute_s)
    for mem in memories:
        if mem["name"] in streamed:
            eff, how_ws = streamed[mem["name"]]
            mem["efficiency_by_kind"] = {kind: _q(eff, None, f"{on}: {how_ws}") for kind in ("gemm", "gemv")}
    overlap_how = ("" if not overlap_errs else
                   f" Overlap {overlap!r} chosen from the weight-streaming GEMMs (mean |log error| "
                   f"{overlap_errs[overlap]:.3g}"
                   f" against {overlap_errs['max' if overlap == 'sum' else 'sum']:.3g} for "
                   f"{'max' if overlap == 'sum' else 'sum'}).")
    touch_fields, touch_how = _first_touch_fields(meas.get("first_touch"), on, os_src)
    # --- target level
    doc: dict[str, Any] = {
        "name": name,
        "display_name": f"This host ({host.cpu_model}, {n} cores), calibrated {date}",
        "class": "cpu",
        "description": (f"Measured by tradespace calibrate{' --quick' if meas.get('quick') else ''} on {date}: "
                        f"{host.describe()}; raw measurements in {name}.measurements.json beside this file."
                        + overlap_how + touch_how),
        "overlap": overlap,
        "provenance": "calibrated-microbenchmark",
        "clock": _q(clock / 1e9, "GHz", clock_src),
        "tdp": _q(ref.tdp_W * per_core * n, "W", f"derived (no power counter on this host): {ref.name}'s TDP "
                                                 f"{ref.tdp_W:g} W / {ref_e.n_units:g} cores x {n} cores"),
        "static_power": _q(ref.static_power_W * per_core * n, "W",
                           f"derived (no power counter on this host): {ref.name}'s static power "
                           f"{ref.static_power_W:g} W / {ref_e.n_units:g} cores x {n} cores"),
        "process_node": _q(ref.process_node_m * 1e9, "nm", f"derived (the OS does not report it): {ref.name}'s "
                                                           f"({ref.sources.get('process_node', '')})"),
        "op_overhead": _q(t_oh * 1e6, "us", f"{on}: best mean time of torch.add on 16 elements (the runtime of "
                                            f"inference; numpy.add: {oh * 1e6:.3g} us)"),
        **touch_fields,
        "engines": [engine],
        "memories": memories,
    }
    target = parse_target(doc, file=f"<calibrated {name}>")
    return doc, target


def _first_touch_fields(ft: Mapping[str, Any] | None, on: str, os_src: str) -> tuple[dict[str, Any], str]:
    """``first_touch_threshold`` / ``first_touch_bandwidth`` of the target document and a note for
    its description: no fields when not measured, when fresh buffers cost nothing measurable, or
    when the rows contradict the threshold (the note says which; one odd benchmark does not cost
    the whole calibration)."""
    if not ft:
        return {}, ""
    try:
        fit = first_touch_fit(ft["rows"], float(ft["threshold_B"]))
    except CalibrationError as exc:
        return {}, f" No first-touch fields: {exc}."
    if fit is None:
        return {}, " No first-touch fields: a fresh result cost under a tenth of an in-place one."
    bw, how = fit
    return ({"first_touch_threshold": _q(float(ft["threshold_B"]) / 2**20, "MiB", f"{os_src}: {ft['threshold_how']}"),
             "first_touch_bandwidth": _q(bw / 1e9, "GB/s", f"{on}: {how}")}, "")


@dataclass(frozen=True)
class CalibrationResult:
    """What a calibration wrote: the target file, the measurements file, the target, the time taken."""

    path: Path
    measurements_path: Path
    target: Any
    elapsed_s: float


def measurements_path(out: Path) -> Path:
    """``host.toml`` -> ``host.measurements.json`` beside it."""
    return out.with_name(out.stem + ".measurements.json")


def write_calibration(out: str | Path, doc: Mapping[str, Any], meas: Mapping[str, Any]) -> tuple[Path, Path]:
    """Write the measurements, then the target (each atomically: no partial file either way)."""
    from models.hardware.loader import parse_target as _parse
    from models.hardware.loader import target_to_toml
    from models.io import atomic_write_text

    out = Path(out)
    mpath = measurements_path(out)
    toml = target_to_toml(_parse(dict(doc), file=str(out)))
    atomic_write_text(mpath, json.dumps(meas, indent=1, default=float) + "\n")
    atomic_write_text(out, toml)
    return out, mpath


def calibrate(out: str | Path | None = None, *, quick: bool = False, device: str = "cpu",
              progress: Callable[[str], None] | None = None, host: HostInfo | None = None) -> CalibrationResult:
    """Measure this host and write its target (default :func:`default_out_path`).

    The destination is checked before any measurement, PyTorch is required before any
    measurement, and nothing is written until every measurement is done and the document
    loads: a bad path, a missing PyTorch or a Ctrl-C leave no file.

    Raises
    ------
    CalibrationError
        No PyTorch (names the extra), an unknown device, no CUDA device for ``device="cuda"``.
    models.io.OutputPathError
        A destination that cannot be written.
    """
    from models.io import check_writable

    if device not in DEVICES:
        raise CalibrationError(f"--device {device!r}: allowed: {', '.join(DEVICES)}")
    path = Path(out) if out is not None else default_out_path()
    if out is None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CalibrationError(f"cannot create the user targets folder {str(path.parent)!r}: "
                                   f"{exc.strerror or exc}; give --out PATH") from None
    check_writable(path)
    if path.suffix != ".toml":
        raise CalibrationError(f"--out {str(path)!r}: a target file ends in .toml")
    check_writable(measurements_path(path))
    torch = require_torch()
    if device == "cuda":
        if not torch.cuda.is_available():
            raise CalibrationError("--device cuda: no CUDA device is visible (torch.cuda.is_available() is False); "
                                   "calibrate the CPU with --device cpu")
        raise CalibrationError("--device cuda: GPU calibration is not built yet (issue 15, item 4); "
                               "this build calibrates CPUs (--device cpu)")
    t0 = time.perf_counter()
    host = host or host_info()
    meas = measure(host, quick=quick, progress=progress)
    doc, _ = build_target(host, meas, name=path.stem)
    meas = {**meas, "elapsed_s": time.perf_counter() - t0}
    p, mp = write_calibration(path, doc, meas)
    from models.hardware.loader import load_target_file

    return CalibrationResult(path=p, measurements_path=mp, target=load_target_file(p),
                             elapsed_s=time.perf_counter() - t0)
