"""Group size of group convolutions (Jha, Saini, Nag & Mittal, "E2GC", VLSID 2020, arXiv
2006.15100).

A 3x3 group convolution over ``c`` channels with ``g`` groups has group size ``G = c / g``.
Per layer (batch ``n``, output ``h x w``, kernel ``k``, element size ``b``):

- MACs            ``n h w c G k^2``
- parameters      ``c G k^2``
- bytes moved     ``b (n h_in w_in c + n h w c + c G k^2)`` (input, output and weights once)
- data reuse      ``MACs / bytes`` (MAC per byte): grows with ``G`` until the weights dominate.

A fixed number of groups (FgGC: ResNeXt's 32 groups) makes ``G`` grow with the channel count,
so late layers do much more work per byte than early ones; a constant group size (E2GC) keeps
the reuse balanced. Energy on a target comes from :func:`models.perf.evaluate` (operations x
energy/op + bytes x energy/byte of every level crossed + static power x time): below the
ridge point a layer is memory-bound, so shrinking ``G`` no longer saves time and static energy.

The *energy-optimal group size* of a layer is the smallest ``G`` whose energy per MAC is within
``rel_tol`` of the best over the candidates: past it, extra reuse buys nothing. More bandwidth
or more on-chip memory (a working set that fits on chip) lowers the ridge, so the optimum moves
to smaller ``G``; less moves it to larger ``G``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from models.hardware import Target, get_target
from models.perf import evaluate
from models.workloads import OperatorTable, conv, table_from_ops
from models.workloads.cnn import check_divides, mobilenet_v1, resnext50_32x4d

__all__ = [
    "GroupConvCost",
    "e2gc_gain",
    "group_conv_cost",
    "group_conv_table",
    "optimal_group_size",
]

ArrayLike = float | int | np.ndarray


@dataclass(frozen=True, kw_only=True)
class GroupConvCost:
    """Per-layer counts (arrays broadcast over design points) and, with a target, energy."""

    group_size: np.ndarray
    n_groups: np.ndarray
    n_mac: np.ndarray
    n_params: np.ndarray
    bytes_B: np.ndarray
    reuse_MAC_per_B: np.ndarray
    energy_J: np.ndarray | None = None
    latency_s: np.ndarray | None = None

    @property
    def energy_J_per_MAC(self) -> np.ndarray | None:
        return None if self.energy_J is None else self.energy_J / self.n_mac


def _groups(
    channels: np.ndarray, group_size: ArrayLike | None, n_groups: ArrayLike | None
) -> np.ndarray:
    if group_size is not None and n_groups is None:
        check_divides("group_size", group_size, channels, "the layer")
        return channels / np.asarray(group_size, dtype=np.float64)
    if n_groups is not None and group_size is None:
        check_divides("n_groups", n_groups, channels, "the layer")
        return np.broadcast_to(
            np.asarray(n_groups, dtype=np.float64),
            np.broadcast_shapes(np.shape(n_groups), np.shape(channels)),
        )
    raise ValueError("give exactly one of group_size and n_groups")


def group_conv_table(
    channels: ArrayLike,
    h_out: ArrayLike,
    w_out: ArrayLike,
    *,
    group_size: ArrayLike | None = None,
    n_groups: ArrayLike | None = None,
    kernel: int = 3,
    stride: int = 1,
    batch: ArrayLike = 1,
    dtype: str = "fp16",
) -> OperatorTable:
    """One group conv ``channels -> channels`` as an operator table (arrays over points)."""
    c = np.asarray(channels, dtype=np.float64)
    g = _groups(c, group_size, n_groups)
    op = conv("gconv", batch, h_out, w_out, c, c, kernel, groups=g, stride=stride, dtype=dtype)
    return table_from_ops([op], workload="group-conv", item_name="layer")


def group_conv_cost(
    channels: ArrayLike,
    h_out: ArrayLike,
    w_out: ArrayLike,
    *,
    group_size: ArrayLike | None = None,
    n_groups: ArrayLike | None = None,
    kernel: int = 3,
    stride: int = 1,
    batch: ArrayLike = 1,
    dtype: str = "fp16",
    target: Target | str | None = None,
    overrides: Mapping[str, ArrayLike] | None = None,
) -> GroupConvCost:
    """MACs, parameters, bytes, data reuse (and energy/time on ``target``) of one group conv.

    Raises
    ------
    ValueError
        A ``group_size`` (or ``n_groups``) that does not divide ``channels``; the message names
        the field and the failing values.
    """
    c = np.asarray(channels, dtype=np.float64)
    g = _groups(c, group_size, n_groups)
    tab = group_conv_table(
        c, h_out, w_out, n_groups=g, kernel=kernel, stride=stride, batch=batch, dtype=dtype
    )
    mac = tab.total("mac")
    params = tab.total_params()
    nbytes = tab.bytes_B[:, 0] * tab.arrays["count"][:, 0]
    energy = latency = None
    if target is not None:
        t = get_target(target) if isinstance(target, str) else target
        res = evaluate(t, tab, overrides=overrides, detail=False)
        energy, latency = res.energy_J, res.latency_s
    return GroupConvCost(
        group_size=c / g,
        n_groups=np.asarray(g, dtype=np.float64),
        n_mac=mac,
        n_params=params,
        bytes_B=nbytes,
        reuse_MAC_per_B=mac / nbytes,
        energy_J=energy,
        latency_s=latency,
    )


def optimal_group_size(
    target: Target | str,
    channels: int,
    h_out: int,
    w_out: int,
    *,
    candidates: Sequence[int] | None = None,
    batch: int = 1,
    dtype: str = "fp16",
    overrides: Mapping[str, ArrayLike] | None = None,
    rel_tol: float = 0.05,
) -> np.ndarray:
    """Energy-optimal group size of one layer per design point ``(P,)``.

    Parameters
    ----------
    candidates
        Group sizes to try (default: every power of two dividing ``channels``).
    overrides
        Target overrides (SI), scalars or ``(P,)`` arrays, e.g. main-memory bandwidth or an
        on-chip capacity: the property "the optimum moves with the memory system" is tested
        through them.
    rel_tol
        The optimum is the smallest candidate within ``rel_tol`` of the least energy per MAC.
    """
    t = get_target(target) if isinstance(target, str) else target
    cand = np.asarray(
        candidates
        if candidates is not None
        else [2**i for i in range(int(np.log2(channels)) + 1) if channels % 2**i == 0],
        dtype=np.float64,
    )
    check_divides("group_size", cand, channels, "the layer")
    ov = {k: np.atleast_1d(np.asarray(v, dtype=np.float64)) for k, v in (overrides or {}).items()}
    P = max([1] + [v.size for v in ov.values()])
    K = cand.size
    # Flatten (point, candidate) into one axis of P*K design points: one evaluate call.
    flat_ov = {k: np.repeat(np.broadcast_to(v, (P,)), K) for k, v in ov.items()}
    gs = np.tile(cand, P)
    tab = group_conv_table(channels, h_out, w_out, group_size=gs, batch=batch, dtype=dtype)
    if P * K > 1 and tab.n_points == 1:
        tab = tab.with_arrays(
            **{k: np.broadcast_to(v, (P * K, v.shape[1])).copy() for k, v in tab.arrays.items()}
        )
    res = evaluate(
        t,
        tab,
        overrides=flat_ov if P > 1 else {k: float(v[0]) for k, v in ov.items()},
        detail=False,
    )
    e_per_mac = (res.energy_J / np.broadcast_to(tab.total("mac"), (P * K,))).reshape(P, K)
    best = e_per_mac.min(axis=1, keepdims=True)
    ok = e_per_mac <= best * (1.0 + rel_tol)
    return cand[np.argmax(ok, axis=1)]


def e2gc_gain(
    target: Target | str,
    network: str,
    *,
    fggc_n_groups: int,
    e2gc_group_size: int,
    batch: int = 1,
    dtype: str = "fp16",
    per: str = "image",
) -> float:
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
    t = get_target(target) if isinstance(target, str) else target
    if network == "mobilenet-v1":
        a = mobilenet_v1(batch=batch, n_groups=fggc_n_groups, dtype=dtype)
        b = mobilenet_v1(batch=batch, group_size=e2gc_group_size, dtype=dtype)
    elif network == "resnext-50":
        a = resnext50_32x4d(batch=batch, cardinality=fggc_n_groups, dtype=dtype)
        b = resnext50_32x4d(
            batch=batch, cardinality=fggc_n_groups, group_width=e2gc_group_size, dtype=dtype
        )
    else:
        raise ValueError(f"network={network!r}; allowed: mobilenet-v1, resnext-50")
    if per not in ("image", "mac"):
        raise ValueError(f"per={per!r}; allowed: image, mac")
    ea = evaluate(t, a, detail=False).energy_J
    eb = evaluate(t, b, detail=False).energy_J
    if per == "mac":
        ea, eb = ea / a.total("mac"), eb / b.total("mac")
    return float((ea / eb)[0] - 1.0)
