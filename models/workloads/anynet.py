"""AnyNetX / RegNetX generator (Radosavovic et al., "Designing Network Design Spaces", CVPR 2020).

AnyNetX: a 3x3 stride-2 stem, then stages of X blocks, then a head (global average pool and
a fully connected classifier). An X block is 1x1 conv (w_in -> w_b), 3x3 group conv
(w_b -> w_b, group width g, stride 2 in the first block of each stage), 1x1 conv
(w_b -> w_out), each with BN (ReLU after the first two), a residual add and ReLU; the first
block of each stage has a projection shortcut (1x1 stride-2 conv + BN). ``w_b = w_out x b``
for bottleneck ratio ``b``.

Vectorized: ``depths``, ``widths`` and ``group_widths`` may be ``(n_stages,)`` or
``(P, n_stages)`` arrays, and ``batch``/``resolution`` ``(P,)`` arrays, so one table covers
every point of a scaling sweep (the number of stages is the only structural constant).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from models.workloads.cnn import NetBuilder, check_divides, check_positive
from models.workloads.table import OperatorTable

__all__ = ["REGNETX_PRESETS", "Complexity", "anynet", "complexity", "regnet_params", "regnetx"]

ArrayLike = float | int | np.ndarray

# RegNetX presets: (w_0, w_a, w_m, depth, group width); bottleneck ratio 1, stem 32.
# Source: facebookresearch/pycls configs/dds_baselines/regnetx/RegNetX-*_dds_8gpu.yaml
# (as mirrored in auroua/zero_costs_nas_rs detectron2/utils/regnet_utils.py, REGNET_DICT).
# Published complexity, pycls MODEL_ZOO.md (flops = multiply-adds, B; params M; acts M):
# 200MF 0.2/2.7/2.2, 400MF 0.4/5.2/3.1, 600MF 0.6/6.2/4.0, 800MF 0.8/7.3/5.1, 1.6GF 1.6/9.2/7.9.
REGNETX_PRESETS: dict[str, tuple[float, float, float, int, int]] = {
    "regnetx-200mf": (24, 36.44, 2.49, 13, 8),
    "regnetx-400mf": (24, 24.48, 2.54, 22, 16),
    "regnetx-600mf": (48, 36.97, 2.24, 16, 24),
    "regnetx-800mf": (56, 35.73, 2.28, 16, 16),
    "regnetx-1.6gf": (80, 34.01, 2.25, 18, 24),
}


def _stage_array(field: str, value: ArrayLike) -> np.ndarray:
    a = np.asarray(value, dtype=np.float64)
    if a.ndim not in (1, 2) or a.shape[-1] == 0:
        raise ValueError(f"{field} must be (n_stages,) or (P, n_stages), got shape {a.shape}")
    if not np.all(np.isfinite(a)) or np.any(a <= 0):
        raise ValueError(f"{field} must be finite and > 0, got {value!r}")
    return a


def anynet(
    depths: ArrayLike,
    widths: ArrayLike,
    group_widths: ArrayLike,
    bottleneck_ratio: ArrayLike = 1.0,
    *,
    stem_width: ArrayLike = 32,
    resolution: ArrayLike = 224,
    batch: ArrayLike = 1,
    n_classes: int = 1000,
    dtype: str = "fp16",
    fold_bn: bool = False,
    workload: str = "anynetx",
) -> OperatorTable:
    """Build an AnyNetX network as an operator table.

    Parameters
    ----------
    depths
        Blocks per stage, ``(n_stages,)`` or ``(P, n_stages)``, whole numbers >= 1.
    widths
        Output channels per stage, same shapes.
    group_widths
        Channels per group of the 3x3 convs, per stage (or a scalar); must divide
        ``widths x bottleneck_ratio``.
    bottleneck_ratio
        ``b``: bottleneck width = ``widths x b`` (RegNetX: 1).
    stem_width, resolution, batch
        Scalars or ``(P,)``.
    n_classes, dtype, fold_bn
        Classifier outputs, datatype, BN folding (see :mod:`models.workloads.cnn`).

    Returns
    -------
    OperatorTable
        Phase "forward". Each stage is two rows per layer: the first block (count 1) and the
        ``depth - 1`` identical others (count ``depth - 1``, possibly 0).
    """
    d = _stage_array("depths", depths)
    w = _stage_array("widths", widths)
    n_stages = d.shape[-1]
    if w.shape[-1] != n_stages:
        raise ValueError(f"widths has {w.shape[-1]} stages, depths has {n_stages}")
    if np.any(d != np.round(d)):
        raise ValueError(f"depths must be whole numbers, got {depths!r}")
    g = np.broadcast_to(
        np.asarray(group_widths, dtype=np.float64),
        np.broadcast_shapes(np.shape(group_widths), (n_stages,)),
    )
    if np.any(g <= 0):
        raise ValueError(f"group_widths must be > 0, got {group_widths!r}")
    br = check_positive("bottleneck_ratio", bottleneck_ratio)
    batch = check_positive("batch", batch, integer=True)
    res = check_positive("resolution", resolution)
    stem = check_positive("stem_width", stem_width, integer=True)

    def col(a: np.ndarray, i: int) -> np.ndarray:
        return a[..., i] if a.ndim == 2 else a[i]

    nb = NetBuilder(batch, dtype, fold_bn=fold_bn)
    h, wd = nb.conv("stem.conv3x3", res, res, 3, stem, 3, stride=2)
    c_in: np.ndarray = stem
    for i in range(n_stages):
        w_out, dep, gw = col(w, i), col(d, i), col(g, i)
        w_b = np.round(w_out * br)
        check_divides("group_widths", gw, w_b, f"stage {i + 1} (bottleneck width)")
        groups = w_b / gw
        # first block (stride 2, projection shortcut) then the dep - 1 identical ones
        block_runs: tuple[tuple[ArrayLike, np.ndarray, int], ...] = ((1.0, c_in, 2), (dep - 1, w_out, 1))
        for j, (cnt, ci, s) in enumerate(block_runs):
            tag = f"s{i + 1}.b{'1' if j == 0 else 'n'}"
            ho, wo = nb.bottleneck(
                tag, h, wd, ci, w_b, w_out, stride=s, groups=groups, count=cnt, projection=j == 0
            )
            h, wd = ho, wo
        c_in = w_out
    nb.global_pool("head.avgpool", h, wd, c_in)
    nb.linear("head.fc", batch, c_in, n_classes)
    return nb.table(workload, knobs={"batch": batch, "resolution": res})


def regnet_params(
    w_0: ArrayLike,
    w_a: ArrayLike,
    w_m: ArrayLike,
    depth: ArrayLike,
    group_width: ArrayLike,
    *,
    bottleneck_ratio: float = 1.0,
    quantum: int = 8,
    n_stages: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-stage depths, widths and group widths of a RegNet (quantized linear widths).

    Block j (0 <= j < depth) gets the continuous width ``u_j = w_0 + w_a j``, quantized to
    ``w_0 w_m^round(log(u_j / w_0) / log(w_m))`` and rounded to a multiple of ``quantum``
    (8); consecutive blocks of equal width form a stage. Then the group width becomes
    ``min(g, w_b)`` and the bottleneck width a multiple of it (group-width compatibility).

    Parameters
    ----------
    w_0, w_a, w_m, depth, group_width
        Scalars, or ``(P,)`` arrays that give the same number of stages at every point.
    bottleneck_ratio
        ``b`` of the X block.
    quantum
        Width rounding multiple.
    n_stages
        Expected number of stages; if the points disagree a ValueError says so.

    Returns
    -------
    depths, widths, group_widths
        ``(n_stages,)`` for scalar input, else ``(P, n_stages)`` arrays of float.
    """
    w0, wa, wm, dep, gw = np.broadcast_arrays(
        *(
            np.atleast_1d(np.asarray(x, dtype=np.float64))
            for x in (w_0, w_a, w_m, depth, group_width)
        )
    )
    scalar = all(np.ndim(x) == 0 for x in (w_0, w_a, w_m, depth, group_width))
    if np.any(w0 <= 0) or np.any(wa < 0) or np.any(wm <= 1) or np.any(dep < 1) or np.any(gw <= 0):
        raise ValueError(
            "regnet_params needs w_0 > 0, w_a >= 0, w_m > 1, depth >= 1, group_width > 0; got "
            f"w_0={w_0!r}, w_a={w_a!r}, w_m={w_m!r}, depth={depth!r}, group_width={group_width!r}"
        )
    if np.any(dep != np.round(dep)):
        raise ValueError(f"depth must be a whole number, got {depth!r}")
    d_max = int(dep.max())
    j = np.arange(d_max, dtype=np.float64)[None, :]
    u = w0[:, None] + wa[:, None] * j
    s = np.round(np.log(u / w0[:, None]) / np.log(wm[:, None]))
    ws = np.round(w0[:, None] * wm[:, None] ** s / quantum) * quantum
    valid = j < dep[:, None]
    # A new stage starts where the width changes; count stages per point.
    new = np.ones_like(ws, dtype=bool)
    new[:, 1:] = ws[:, 1:] != ws[:, :-1]
    new &= valid
    counts = new.sum(axis=1)
    if np.any(counts != counts[0]) or (n_stages is not None and counts[0] != n_stages):
        raise ValueError(
            f"RegNet parameters give {sorted(set(counts.tolist()))} stages across points; "
            f"expected {'one number' if n_stages is None else n_stages}"
        )
    k = int(counts[0])
    stage_id = np.cumsum(new, axis=1) - 1
    depths = np.zeros((w0.size, k))
    widths = np.zeros((w0.size, k))
    rows = np.repeat(np.arange(w0.size)[:, None], d_max, axis=1)
    np.add.at(depths, (rows[valid], stage_id[valid]), 1.0)
    widths[rows[new], stage_id[new]] = ws[new]
    # Group-width compatibility (pycls adjust_block_compatibility).
    w_b = widths * bottleneck_ratio
    g = np.minimum(gw[:, None], w_b)
    w_b = np.maximum(g, np.round(w_b / g) * g)
    widths = w_b / bottleneck_ratio
    if scalar:
        return depths[0], widths[0], g[0]
    return depths, widths, g


def regnetx(
    name: str = "regnetx-200mf",
    *,
    batch: ArrayLike = 1,
    resolution: ArrayLike = 224,
    dtype: str = "fp16",
    fold_bn: bool = False,
) -> OperatorTable:
    """A RegNetX preset of :data:`REGNET_PRESETS` built with :func:`anynet`."""
    key = name.lower()
    if key not in REGNETX_PRESETS:
        raise KeyError(f"unknown RegNetX preset {name!r}; allowed: {', '.join(REGNETX_PRESETS)}")
    w0, wa, wm, dep, gw = REGNETX_PRESETS[key]
    depths, widths, gws = regnet_params(w0, wa, wm, dep, gw)
    return anynet(
        depths,
        widths,
        gws,
        1.0,
        resolution=resolution,
        batch=batch,
        dtype=dtype,
        fold_bn=fold_bn,
        workload=key,
    )


class Complexity(NamedTuple):
    """Complexity of a network per run (all ``(P or 1,)`` arrays).

    ``n_mac`` multiply-accumulates ("flops" in the RegNet papers), ``n_flop = 2 n_mac``,
    ``n_params`` parameters, ``n_activations`` elements of all conv and FC outputs (the
    activations metric of Dollar et al. 2021).
    """

    n_mac: np.ndarray
    n_flop: np.ndarray
    n_params: np.ndarray
    n_activations: np.ndarray


def complexity(table: OperatorTable) -> Complexity:
    """MACs, FLOPs, parameters and activations of the forward phase of ``table``."""
    fwd = table.phase("forward")
    mac = fwd.total("mac")
    kinds = fwd.meta["kind"].to_numpy()
    is_layer = np.isin(kinds, ("conv", "dwconv", "gemm", "gemv"))[None, :] & (
        fwd.arrays["n_params"] > 0
    )
    acts = (fwd.arrays["count"] * np.where(is_layer, fwd.arrays["m"] * fwd.arrays["n"], 0.0)).sum(
        axis=1
    )
    return Complexity(n_mac=mac, n_flop=2.0 * mac, n_params=fwd.total_params(), n_activations=acts)
