"""The studies of :mod:`models.studies` (see its docstring)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import polars as pl

from models.algorithms.groupsize import GroupConvCost, group_conv_counts, groups_of
from models.algorithms.scaling import scaling_cost
from models.hardware import Target, get_target
from models.perf import PerfResult, compile_target, evaluate
from models.perf.point import evaluate_point
from models.point import build_point

__all__ = [
    "SoftmaxTiming",
    "decode_tokens_per_s",
    "e2gc_gain",
    "fa2_forward_efficiency",
    "gemm_speedup",
    "group_conv_cost",
    "optimal_group_size",
    "scaled_net_cost",
    "softmax_speedup",
    "softmax_time",
]

ArrayLike = float | int | np.ndarray


def _target(t: Target | str) -> Target:
    return get_target(t) if isinstance(t, str) else t


def _points(target: Target, knobs: Mapping[str, Any], workload: str, *, overrides: Mapping[str, Any] | None = None,
            engine: str | Mapping[str, str] | None = None, mode: str = "calibrated",
            detail: bool = False) -> tuple[PerfResult, Any]:
    """Build and price a (possibly array-valued) design point: the one path, with per-point overrides."""
    built = build_point(workload, knobs, target=target)
    ov = {k: np.atleast_1d(np.asarray(v, dtype=np.float64)) for k, v in (overrides or {}).items()}
    r = evaluate(compile_target(target, ov), built.table, engine=engine, mode=mode, detail=detail)
    return r, built


# ---------------------------------------------------------------------------------- softmax
@dataclass(frozen=True, kw_only=True)
class SoftmaxTiming:
    """Time and energy of one softmax, per design point ``(P,)``, plus the per-pass result."""

    variant: str
    latency_s: np.ndarray
    energy_J: np.ndarray
    bytes_B: np.ndarray
    perf: PerfResult

    @property
    def bound(self) -> list[str]:
        """What bounds each pass at point 0 (``compute`` or a memory level name)."""
        return self.perf.breakdown(0)["bound"].to_list()


def softmax_time(target: Target | str, variant: str, n_elements: ArrayLike, *, dtype: str = "fp32",
                 write_allocate: bool | None = None, mode: str = "calibrated",
                 overrides: Mapping[str, ArrayLike] | None = None) -> SoftmaxTiming:
    """Time and energy of one softmax over ``n_elements`` with ``variant`` on ``target``: the
    ``softmax`` workload with the ``softmax_variant`` knob (write-allocate stores by target class
    unless ``write_allocate`` says otherwise)."""
    t = _target(target)
    knobs: dict[str, Any] = {"n_elements": np.atleast_1d(np.asarray(n_elements, dtype=np.float64)), "dtype": dtype,
                             "softmax_variant": variant}
    if write_allocate is not None:
        knobs["softmax_stores"] = "write_allocate" if write_allocate else "streaming"
    r, built = _points(t, knobs, "softmax", overrides=overrides, mode=mode, detail=True)
    tab = built.table
    return SoftmaxTiming(variant=variant, latency_s=r.latency_s, energy_J=r.energy_J,
                         bytes_B=tab.total("act_read_B") + tab.total("act_write_B"), perf=r)


def softmax_speedup(target: Target | str, n_elements: ArrayLike, *, variant: str = "two_pass",
                    baseline: str = "three_pass_recompute", dtype: str = "fp32",
                    write_allocate: bool | None = None, mode: str = "calibrated",
                    overrides: Mapping[str, ArrayLike] | None = None) -> np.ndarray:
    """Time of ``baseline`` / time of ``variant`` on ``target``, shape ``(P,)``."""
    kw: dict[str, Any] = dict(dtype=dtype, write_allocate=write_allocate, mode=mode, overrides=overrides)
    return softmax_time(target, baseline, n_elements, **kw).latency_s / \
        softmax_time(target, variant, n_elements, **kw).latency_s


# ---------------------------------------------------------------------------------- group size
def group_conv_cost(channels: ArrayLike, h_out: ArrayLike, w_out: ArrayLike, *,
                    group_size: ArrayLike | None = None, n_groups: ArrayLike | None = None, kernel: int = 3,
                    stride: int = 1, batch: ArrayLike = 1, dtype: str = "fp16", target: Target | str | None = None,
                    overrides: Mapping[str, ArrayLike] | None = None) -> GroupConvCost:
    """MACs, parameters, bytes, data reuse (and energy/time on ``target``) of one group conv
    (the ``group-conv`` workload)."""
    cost = group_conv_counts(channels, h_out, w_out, group_size=group_size, n_groups=n_groups, kernel=kernel,
                             stride=stride, batch=batch, dtype=dtype)
    if target is None:
        return cost
    g = groups_of(channels, group_size, n_groups)
    knobs = {"channels": channels, "h_out": h_out, "w_out": w_out, "group_size": g, "kernel": kernel,
             "stride": stride, "batch": batch, "dtype": dtype}
    r, _ = _points(_target(target), knobs, "group-conv", overrides=overrides)
    return replace(cost, energy_J=r.energy_J, latency_s=r.latency_s)


def optimal_group_size(target: Target | str, channels: int, h_out: int, w_out: int, *,
                       candidates: Sequence[int] | None = None, batch: int = 1, dtype: str = "fp16",
                       overrides: Mapping[str, ArrayLike] | None = None, rel_tol: float = 0.05) -> np.ndarray:
    """Energy-optimal group size of one layer per design point ``(P,)``.

    The smallest candidate whose energy per MAC is within ``rel_tol`` of the least: past it,
    extra reuse buys nothing. More bandwidth or more on-chip memory lowers the ridge, so the
    optimum moves to smaller group sizes.

    Parameters
    ----------
    candidates
        Group sizes to try (default: every power of two dividing ``channels``).
    overrides
        Target overrides (SI), scalars or ``(P,)`` arrays (e.g. main-memory bandwidth or an
        on-chip capacity).
    """
    t = _target(target)
    cand = np.asarray(candidates if candidates is not None
                      else [2**i for i in range(int(np.log2(channels)) + 1) if channels % 2**i == 0], dtype=np.float64)
    groups_of(channels, cand, None)  # every candidate must divide the layer
    ov = {k: np.atleast_1d(np.asarray(v, dtype=np.float64)) for k, v in (overrides or {}).items()}
    P = max([1] + [v.size for v in ov.values()])
    e_per_mac = np.empty((P, cand.size))
    for j, g in enumerate(cand):  # the group size changes the operator (1: depthwise): one build each
        knobs = {"channels": channels, "h_out": h_out, "w_out": w_out, "group_size": float(g), "batch": batch,
                 "dtype": dtype}
        r, built = _points(t, knobs, "group-conv", overrides=ov)
        e_per_mac[:, j] = np.broadcast_to(r.energy_J / built.table.total("mac"), (P,))
    best = e_per_mac.min(axis=1, keepdims=True)
    return cand[np.argmax(e_per_mac <= best * (1.0 + rel_tol), axis=1)]


def e2gc_gain(target: Target | str, network: str, *, fggc_n_groups: int, e2gc_group_size: int, batch: int = 1,
              dtype: str = "fp16", per: str = "image") -> float:
    """Energy-efficiency gain of constant group size (E2GC) over a fixed number of groups (FgGC).

    ``gain = efficiency(E2GC) / efficiency(FgGC) - 1`` where efficiency is images per joule
    (``per="image"``) or MACs per joule (``per="mac"``, which removes the small difference in
    complexity between the two nets).

    Parameters
    ----------
    network
        ``"mobilenet-v1"`` (3x3 depthwise convs replaced by group convs) or ``"resnext-50"``
        (the 32x4d widths; FgGC is the published 32 groups).

    Notes
    -----
    An engine size curve (``efficiency x k / (k + half_k)``, ``k = 9 G``) cannot move this gain:
    it adds ``2 m n half_k / rate`` of compute time per conv (``m n`` output elements), which
    does not depend on the group size, so FgGC and E2GC nets of equal layer shapes pay the same.
    """
    if network == "mobilenet-v1":
        w, a, b = "mobilenet-v1", {"n_groups": fggc_n_groups}, {"group_size": e2gc_group_size}
    elif network == "resnext-50":
        w, a, b = "resnext-50-32x4d", {"cardinality": fggc_n_groups}, {"cardinality": fggc_n_groups,
                                                                       "group_size": e2gc_group_size}
    else:
        raise ValueError(f"network={network!r}; allowed: mobilenet-v1, resnext-50")
    if per not in ("image", "mac"):
        raise ValueError(f"per={per!r}; allowed: image, mac")
    t = _target(target)
    ra = evaluate_point(t, w, {**a, "batch": batch, "dtype": dtype}, detail=False)
    rb = evaluate_point(t, w, {**b, "batch": batch, "dtype": dtype}, detail=False)
    ea, eb = ra.perf.energy_J, rb.perf.energy_J
    if per == "mac":
        ea, eb = ea / ra.built.table.total("mac"), eb / rb.built.table.total("mac")
    return float((ea / eb)[0] - 1.0)


# ---------------------------------------------------------------------------------- scaling
def scaled_net_cost(base: str, s: ArrayLike, strategy: str, alpha: ArrayLike = 0.8, *, target: Target | str,
                    batch: int = 1, dtype: str = "fp16", overrides: Mapping[str, ArrayLike] | None = None
                    ) -> pl.DataFrame:
    """:func:`models.algorithms.scaling_cost` with the scaled net's ``latency_s``, ``energy_J``
    and ``latency_ratio`` to the base on ``target`` (the ``scaling_*`` knobs of the builder)."""
    df = scaling_cost(base, s, strategy, alpha, batch=batch, dtype=dtype)
    t = _target(target)
    sa = np.atleast_1d(np.asarray(s, dtype=np.float64))
    knobs = {"scaling_strategy": strategy, "scaling_factor": sa, "scaling_alpha": alpha, "batch": batch,
             "dtype": dtype}
    r, _ = _points(t, knobs, base, overrides=overrides)
    r0, _ = _points(t, {"batch": batch, "dtype": dtype}, base, overrides=overrides)
    n = df.height
    lat = np.broadcast_to(r.latency_s, (n,))
    return df.with_columns(pl.Series("latency_s", lat), pl.Series("energy_J", np.broadcast_to(r.energy_J, (n,))),
                           pl.Series("latency_ratio", lat / np.broadcast_to(r0.latency_s, (n,))))


# ---------------------------------------------------------------------------------- attention
def fa2_forward_efficiency(target: Target | str, seq_len: ArrayLike, head_dim: float, hidden: float = 2048.0,
                           tokens: float = 16384.0, dtype: str = "fp16", causal: bool = False) -> np.ndarray:
    """Fraction of the tensor-engine peak reached by a FlashAttention-2 forward pass.

    The ``attention`` workload (batch = tokens / seq_len, hidden / head_dim heads) with
    ``attention_tiling = flash2`` and ``softmax_variant = fused_attention`` (the online softmax
    of the scores, priced on the vector engine after the matmuls): the matmul FLOPs over the
    point's latency over the peak of the engine that ran them.
    """
    t = _target(target)
    n = np.atleast_1d(np.asarray(seq_len, dtype=np.float64))
    knobs = {"batch": tokens / n, "n_heads": hidden / head_dim, "seq_len": n, "head_dim": head_dim,
             "causal": causal, "dtype": dtype, "attention_tiling": "flash2", "softmax_variant": "fused_attention"}
    r, built = _points(t, knobs, "attention", detail=True)
    att = built.table.meta["kind"].to_list().index("attention")
    eng = t.engines[int(np.asarray(r.op_engine)[..., att].reshape(-1)[0])]
    peak = eng.peak_op_per_s(dtype, t.clock_Hz)
    mm = np.broadcast_to(built.table.columns[att]["flop"], r.shape)
    return mm / r.latency_s / peak


# ---------------------------------------------------------------------------------- low-bit GEMM
def decode_tokens_per_s(*, target: Target | str, model: str, weight_format: str, strategy: str, n_threads: int,
                        act_format: str = "int8", engine: str | None = None, context_len: int = 0,
                        n_generated: int = 128, act_dtype: str = "fp32", extra_work: str = "separate") -> float:
    """Decode tokens/s of ``model`` at batch 1 on ``n_threads`` cores (the llama-bench ``tg``
    setting of T-MAC and llama.cpp: ``-p 0 -n 128``, the context growing from ``context_len``).

    The LLM workload in phase decode with activations in ``act_dtype`` (ggml keeps them in fp32),
    weights in ``weight_format``, every weight GEMV run by ``strategy`` on inputs quantized to
    ``act_format`` (``gemm_act_format``), its extra work placed by ``extra_work``
    (``gemm_extra_work``); ``engine`` (default: the first) gets ``n_units = n_threads`` and runs
    every operator.
    """
    t = _target(target)
    eng = engine or t.engines[0].name
    knobs = {"phase": "decode", "batch": 1, "prompt_len": context_len, "n_generated": n_generated,
             "act_dtype": act_dtype, "weight_format": weight_format, "gemm_strategy": strategy,
             "gemm_act_format": act_format, "gemm_extra_work": extra_work}
    r = evaluate_point(t, model, knobs, overrides={f"engines.{eng}.n_units": float(n_threads)}, engine=eng,
                       detail=False)
    return float(r.perf.items_per_s[0])


def gemm_speedup(*, target: Target | str, m: int, n: int, k: int, baseline: Mapping[str, Any],
                 candidate: Mapping[str, Any]) -> float:
    """Time of one ``m x n x k`` GEMM (the ``gemm`` workload) with the ``baseline`` knobs over its
    time with the ``candidate`` knobs (formats, GEMM strategy)."""
    t = _target(target)

    def latency(knobs: Mapping[str, Any]) -> float:
        return float(evaluate_point(t, "gemm", {"m": m, "n": n, "k": k, **knobs}, detail=False).perf.latency_s[0])

    return latency(baseline) / latency(candidate)
