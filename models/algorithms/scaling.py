"""Model scaling strategies (Dollar, Singh & Girshick, "Fast and Accurate Model Scaling", CVPR 2021).

Cost model of a conv net with depth d, width w, resolution r (paper, Sec. 3):
``flops ~ d w^2 r^2``, ``params ~ d w^2``, ``activations ~ d w r^2``. A strategy scales flops by
``s`` by multiplying d, w, r by ``s^e_d``, ``s^e_w``, ``s^e_r`` with ``e_d + 2 e_w + 2 e_r = 1``:

- single dimension: ``d``: e_d = 1; ``w``: e_w = 1/2; ``r``: e_r = 1/2;
- two dimensions, flops shared equally: ``dw``: (1/2, 1/4, 0); ``dr``: (1/2, 0, 1/4);
  ``wr``: (0, 1/4, 1/4);
- ``dwr`` uniform compound: (1/3, 1/6, 1/6);
- ``fast`` compound with ``alpha`` in [1/3, 1]: e_d = (1 - alpha)/2, e_w = alpha/2,
  e_r = (1 - alpha)/4, so params ~ s^((1+alpha)/2) and activations ~ s^(1 - alpha/2);
  alpha = 0.8 is pycls's "d1_w8_g8_r1" (d s^0.1, w s^0.4, r s^0.05), alpha = 1/3 is ``dwr``
  and alpha = 1 is ``w``.

Real nets are rounded as in pycls ``models/scaler.py`` (facebookresearch/pycls @ 46a2452):
depths to integers (at least 1), widths to multiples of 8, the group width scaled with the
width and snapped (<= 2 kept, <= 5 -> 4, else a multiple of 8), the bottleneck width made a
multiple of the group width, resolution to a multiple of 4. :func:`scale_anynet` builds the
rounded net with :func:`models.workloads.anynet.anynet`, so its FLOPs, parameters and
activations can be set against the closed form (its cost on a target:
:func:`models.studies.scaled_net_cost`, through the ``scaling_*`` knobs of the one builder).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import polars as pl

from models.workloads import OperatorTable
from models.workloads.anynet import REGNETX_PRESETS, anynet, complexity, regnet_params

__all__ = [
    "ALPHA_RANGE",
    "SCALING_STRATEGIES",
    "ScaledNet",
    "ScalingExponents",
    "regnetx_base",
    "scale_anynet",
    "scale_factors",
    "scaling_cost",
    "scaling_exponents",
]

ArrayLike = float | int | np.ndarray

SCALING_STRATEGIES = ("d", "w", "r", "dw", "dr", "wr", "dwr", "fast")
ALPHA_RANGE = (1.0 / 3.0, 1.0)

# (e_d, e_w, e_r) of the fixed strategies.
_FIXED: dict[str, tuple[float, float, float]] = {
    "d": (1.0, 0.0, 0.0),
    "w": (0.0, 0.5, 0.0),
    "r": (0.0, 0.0, 0.5),
    "dw": (0.5, 0.25, 0.0),
    "dr": (0.5, 0.0, 0.25),
    "wr": (0.0, 0.25, 0.25),
    "dwr": (1.0 / 3.0, 1.0 / 6.0, 1.0 / 6.0),
}


class ScalingExponents(NamedTuple):
    """Exponents of ``s`` (arrays broadcast over alpha): dimension multipliers and costs."""

    depth: np.ndarray
    width: np.ndarray
    resolution: np.ndarray
    flops: np.ndarray
    params: np.ndarray
    activations: np.ndarray


def _check_alpha(alpha: ArrayLike) -> np.ndarray:
    a = np.asarray(alpha, dtype=np.float64)
    lo, hi = ALPHA_RANGE
    bad = ~np.isfinite(a) | (a < lo - 1e-12) | (a > hi + 1e-12)
    if np.any(bad):
        raise ValueError(f"alpha={alpha!r} out of range; allowed: 1/3 <= alpha <= 1")
    return a


def scaling_exponents(strategy: str, alpha: ArrayLike = 0.8) -> ScalingExponents:
    """Closed-form exponents of ``strategy`` (``alpha`` only used by ``"fast"``).

    Raises
    ------
    ValueError
        Unknown ``strategy``, or ``alpha`` outside [1/3, 1].
    """
    if strategy == "fast":
        a = _check_alpha(alpha)
        ed, ew, er = (1.0 - a) / 2.0, a / 2.0, (1.0 - a) / 4.0
    elif strategy in _FIXED:
        ed, ew, er = (np.asarray(x, dtype=np.float64) for x in _FIXED[strategy])
    else:
        raise ValueError(f"strategy={strategy!r}: unknown scaling strategy; allowed: {', '.join(SCALING_STRATEGIES)}")
    ed, ew, er = np.broadcast_arrays(np.asarray(ed, dtype=np.float64), ew, er)
    return ScalingExponents(depth=ed, width=ew, resolution=er, flops=ed + 2 * ew + 2 * er, params=ed + 2 * ew,
                            activations=ed + ew + 2 * er)


def _check_s(s: ArrayLike) -> np.ndarray:
    a = np.asarray(s, dtype=np.float64)
    if np.any(~np.isfinite(a)) or np.any(a <= 0):
        raise ValueError(f"s={s!r}: the flops scale factor must be finite and > 0")
    return a


def scale_factors(strategy: str, s: ArrayLike, alpha: ArrayLike = 0.8) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Multipliers ``(depth, width, resolution)`` = ``s ** exponents``, broadcast over s and alpha."""
    e = scaling_exponents(strategy, alpha)
    sa = _check_s(s)
    return sa**e.depth, sa**e.width, sa**e.resolution


@dataclass(frozen=True, kw_only=True)
class ScaledNet:
    """A real-rounded scaled AnyNet: per-point stage parameters and its operator table.

    Stage arrays are ``(P, n_stages)``; ``resolution`` is ``(P,)``.
    """

    strategy: str
    s: np.ndarray
    alpha: np.ndarray
    depths: np.ndarray
    widths: np.ndarray
    group_widths: np.ndarray
    resolution: np.ndarray
    table: OperatorTable


def _snap_group(g: np.ndarray) -> np.ndarray:
    # pycls scaler: keep 1-2, snap 3-5 to 4, else nearest multiple of 8
    return np.where(g <= 2, g, np.where(g <= 5, 4.0, np.round(g / 8.0) * 8.0))


def scale_anynet(depths: ArrayLike, widths: ArrayLike, group_widths: ArrayLike, s: ArrayLike, strategy: str,
                 alpha: ArrayLike = 0.8, *, bottleneck_ratio: float = 1.0, resolution: ArrayLike = 224,
                 batch: ArrayLike = 1, dtype: str = "fp16", scale_groups: bool = True,
                 fold_bn: bool = False) -> ScaledNet:
    """Scale a base AnyNet by flops factor ``s`` with ``strategy`` and round it like pycls.

    Parameters
    ----------
    depths, widths, group_widths
        Base stage parameters, ``(n_stages,)``.
    s, alpha
        Flops factor and fast-compound alpha; scalars or ``(P,)`` arrays.
    strategy
        One of :data:`SCALING_STRATEGIES`.
    scale_groups
        Scale the group width with the width (pycls does so for fast compound scaling,
        "g8" in "d1_w8_g8_r1"); with it, flops scale as ``w^2`` as the closed form assumes.
        With ``False`` the group width stays fixed.
    resolution, batch, dtype, bottleneck_ratio, fold_bn
        Base resolution, images per run, datatype, X-block ratio, BN folding.
    """
    dm, wm, rm = scale_factors(strategy, s, alpha)
    dm, wm, rm = np.broadcast_arrays(np.atleast_1d(dm), np.atleast_1d(wm), np.atleast_1d(rm))
    d0 = np.asarray(depths, dtype=np.float64)[None, :]
    w0 = np.asarray(widths, dtype=np.float64)[None, :]
    g0 = np.broadcast_to(np.asarray(group_widths, dtype=np.float64), d0.shape[1:])[None, :]
    d = np.maximum(1.0, np.round(d0 * dm[:, None]))
    w = np.maximum(1.0, np.round(w0 * wm[:, None] / 8.0)) * 8.0
    g = np.maximum(1.0, np.round(g0 * (wm[:, None] if scale_groups else 1.0)))
    g = _snap_group(g)
    w_b = w * bottleneck_ratio
    g = np.minimum(g, w_b)
    w_b = np.maximum(g, np.round(w_b / g) * g)
    w = w_b / bottleneck_ratio
    r = np.round(resolution * rm / 4.0) * 4.0
    tab = anynet(d, w, g, bottleneck_ratio, resolution=r, batch=batch, dtype=dtype, fold_bn=fold_bn,
                 workload=f"anynet-{strategy}")
    return ScaledNet(strategy=strategy, s=_check_s(np.broadcast_to(s, dm.shape)),
                     alpha=np.broadcast_to(np.asarray(alpha, dtype=np.float64), dm.shape),
                     depths=d, widths=w, group_widths=g, resolution=r, table=tab)


def regnetx_base(name: str = "regnetx-400mf") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stage ``(depths, widths, group_widths)`` of a RegNetX preset (pycls configs)."""
    key = name.lower()
    if key not in REGNETX_PRESETS:
        raise KeyError(f"base={name!r}: unknown RegNetX preset; allowed: {', '.join(REGNETX_PRESETS)}")
    w0, wa, wm, dep, gw = REGNETX_PRESETS[key]
    return regnet_params(w0, wa, wm, dep, gw)


def scaling_cost(base: str, s: ArrayLike, strategy: str, alpha: ArrayLike = 0.8, *, batch: int = 1,
                 dtype: str = "fp16") -> pl.DataFrame:
    """Closed form vs real-rounded net, one row per point.

    Columns: ``s``, ``alpha``, closed-form exponents (``e_flops``, ``e_params``, ``e_acts``),
    the rounded net's ratios to the base (``flops_ratio``, ``params_ratio``, ``acts_ratio``),
    their measured exponents ``log(ratio)/log(s)`` (NaN at s = 1) and the relative deviation of
    each ratio from ``s ** e`` (``*_deviation``). Its time and energy on a target:
    :func:`models.studies.scaled_net_cost`.
    """
    d0, w0, g0 = regnetx_base(base)
    sa = np.atleast_1d(_check_s(s))
    e = scaling_exponents(strategy, alpha)
    net = scale_anynet(d0, w0, g0, sa, strategy, alpha, batch=batch, dtype=dtype)
    ref = anynet(d0, w0, g0, 1.0, batch=batch, dtype=dtype)
    c, c0 = complexity(net.table), complexity(ref)
    P = net.depths.shape[0]
    sP = np.broadcast_to(sa, (P,))
    logs = np.log(sP)
    out: dict[str, np.ndarray] = {"s": sP, "alpha": np.broadcast_to(net.alpha, (P,))}
    for key, num, den, ex in (("flops", c.n_mac, c0.n_mac, e.flops), ("params", c.n_params, c0.n_params, e.params),
                              ("acts", c.n_activations, c0.n_activations, e.activations)):
        ratio = np.broadcast_to(num / den, (P,))
        ex = np.broadcast_to(ex, (P,))
        with np.errstate(divide="ignore", invalid="ignore"):
            out[f"e_{key}"] = ex
            out[f"{key}_ratio"] = ratio
            out[f"{key}_exponent"] = np.where(np.abs(logs) > 0, np.log(ratio) / logs, np.nan)
            out[f"{key}_deviation"] = ratio / sP**ex - 1.0
    return pl.DataFrame({k: np.asarray(v, dtype=np.float64) for k, v in out.items()})
