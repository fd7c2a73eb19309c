"""Convolutional image classifiers as operator tables: ResNet, ResNeXt, MobileNet-V1/V2.

Every builder is vectorized over design points: ``batch``, ``resolution`` and the width
multiplier (and ResNet's ``depth_mult``) may be numpy arrays of shape ``(P,)``. The network
structure (which operators exist) never depends on these knobs, only shapes and counts do,
so one call gives one table for all P points. Blocks of a stage that share their shapes are
one row whose ``count`` is the number of such blocks (a depth multiplier changes ``count``).

Conventions shared by the builders of this package (SESR, KWS, TDNN, ViT, AnyNet use them):

- Convolutions use "same" padding: ``h_out = ceil(h_in / stride)``.
- Batch normalization and the activation that follows it are one ``norm`` row per conv
  (2 FLOP per element for scale and shift, +1 for ReLU), which reads and writes the conv
  output once: unfolded inference or training-style execution. ``fold_bn=True`` drops these
  rows (BN folded into the conv, activation fused), as deployment compilers do.
  Their parameters (gamma, beta: 2 per channel) are counted in ``n_params``; the running
  mean and variance are buffers and are not.
- MAC totals (``table.total("mac")``) count convolutions, depthwise convolutions and the
  classifier (FC) layer; BN, activations, pooling and residual adds are not MACs (they are
  ``flop`` of ``norm``/``elementwise`` rows).
- Pooling, residual adds and the classifier are their own rows.
- ``peak_memory_B["forward"]`` = all weights + the largest live activation set of one
  operator (its input and output plus the residual tensor held across a block).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from models.workloads.ops import Op, broadcast_max, bytes_per_element, conv, elementwise, gemm, table_from_ops
from models.workloads.table import OperatorTable

__all__ = ["mobilenet_v1", "mobilenet_v2", "resnet", "resnet18", "resnet50", "resnext50_32x4d"]

ArrayLike = float | int | np.ndarray


# ---------------------------------------------------------------------------- shared helpers
def _arr(x: ArrayLike) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def check_positive(field: str, value: ArrayLike, *, integer: bool = False) -> np.ndarray:
    """Validate a knob: finite, > 0 (and integral if ``integer``); return it as float array."""
    a = _arr(value)
    if not np.all(np.isfinite(a)) or np.any(a <= 0):
        raise ValueError(f"{field} must be finite and > 0, got {value!r}")
    if integer and np.any(a != np.round(a)):
        raise ValueError(f"{field} must be a whole number, got {value!r}")
    return a


def check_divides(field: str, group_size: ArrayLike, channels: ArrayLike, where: str) -> None:
    """Raise a ValueError naming ``field`` unless ``group_size`` divides ``channels`` everywhere."""
    g, c = _arr(group_size), _arr(channels)
    if np.any(g <= 0) or np.any(np.mod(c, g) != 0):
        bad = np.broadcast_arrays(g, c)
        pairs = sorted(
            {
                (float(a), float(b))
                for a, b, ok in zip(
                    bad[0].ravel(),
                    bad[1].ravel(),
                    (np.mod(bad[1], bad[0]) == 0).ravel(),
                    strict=True,
                )
                if not ok
            }
        )[:3]
        raise ValueError(
            f"{field}={group_size!r} must divide the channel count of {where}; "
            f"(group size, channels) that fail: {pairs}"
        )


def patch(op: Op, **values: ArrayLike) -> Op:
    """A copy of ``op`` with some numeric fields replaced."""
    return op.replace(**values)


def make_divisible(value: ArrayLike, divisor: int = 8) -> np.ndarray:
    """Round channels to the nearest multiple of ``divisor``, never below 90 % of the value
    (the MobileNet-V2 / EfficientNet rounding rule)."""
    v = _arr(value)
    out = np.maximum(divisor, np.floor(v / divisor + 0.5) * divisor)
    return np.where(out < 0.9 * v, out + divisor, out)


class NetBuilder:
    """Collects operator rows of a feed-forward net and tracks live activation bytes.

    Parameters
    ----------
    batch
        Images (or samples) per run, scalar or ``(P,)``.
    dtype
        Datatype of weights and activations.
    fold_bn
        Drop the BN/activation rows (folded into the preceding conv).
    """

    def __init__(self, batch: ArrayLike, dtype: str, *, fold_bn: bool = False) -> None:
        self.batch = _arr(batch)
        self.dtype = dtype
        self.fold_bn = fold_bn
        self.b = bytes_per_element(dtype)
        self.ops: list[Op] = []
        self.live_B: list[np.ndarray] = []
        self.acts: list[np.ndarray] = []

    def add(self, op: Op, held_B: ArrayLike = 0.0) -> Op:
        """Append ``op``; ``held_B`` is other live data (a residual input kept for the add)."""
        self.ops.append(op)
        self.live_B.append(
            _arr(op.values["act_read_B"]) + _arr(op.values["act_write_B"]) + _arr(held_B)
        )
        return op

    def _with_bias(self, op: Op, c_out: ArrayLike) -> Op:
        """``op`` with one bias per output channel added to its parameters and weight bytes."""
        co = _arr(c_out)
        return patch(
            op,
            n_params=_arr(op.values["n_params"]) + co,
            weight_read_B=_arr(op.values["weight_read_B"]) + co * self.b,
            footprint_B=_arr(op.values["footprint_B"]) + co * self.b,
        )

    def conv(
        self,
        name: str,
        h_in: ArrayLike,
        w_in: ArrayLike,
        c_in: ArrayLike,
        c_out: ArrayLike,
        kernel: ArrayLike,
        *,
        stride: int = 1,
        groups: ArrayLike = 1,
        count: ArrayLike = 1,
        bias: bool = False,
        bn: bool = True,
        act: str | None = "relu",
        held_B: ArrayLike = 0.0,
        kernel_w: ArrayLike | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """A conv (+ BN + activation) with "same" padding; returns ``(h_out, w_out)``."""
        ho, wo = np.ceil(_arr(h_in) / stride), np.ceil(_arr(w_in) / stride)
        op = conv(
            name,
            self.batch,
            ho,
            wo,
            c_in,
            c_out,
            kernel,
            groups=groups,
            stride=stride,
            dtype=self.dtype,
            count=count,
            kernel_w=kernel_w,
        )
        if bias:
            op = self._with_bias(op, c_out)
        self.add(op, held_B)
        if bn:
            self.bn_act(
                f"{name}.bn", self.batch * ho * wo, c_out, act=act, count=count, held_B=held_B
            )
        elif act is not None:
            self.act(
                f"{name}.{act}", self.batch * ho * wo * _arr(c_out), count=count, held_B=held_B
            )
        return ho, wo

    def bn_act(
        self,
        name: str,
        rows: ArrayLike,
        channels: ArrayLike,
        *,
        act: str | None = "relu",
        count: ArrayLike = 1,
        held_B: ArrayLike = 0.0,
        params_per_channel: float = 2.0,
    ) -> None:
        """BatchNorm (scale + shift, 2 FLOP/element) and an optional activation (+1 FLOP)."""
        if self.fold_bn:
            return
        c = _arr(channels)
        n_el = _arr(rows) * c
        op = elementwise(
            name,
            n_el,
            dtype=self.dtype,
            flop_per_element=2.0 + (act is not None),
            count=count,
            kind="norm",
        )
        p = params_per_channel * c
        op = patch(
            op,
            n_params=p,
            weight_read_B=p * self.b,
            footprint_B=_arr(op.values["footprint_B"]) + p * self.b,
        )
        self.add(op, held_B)

    def act(
        self,
        name: str,
        n_elements: ArrayLike,
        *,
        count: ArrayLike = 1,
        held_B: ArrayLike = 0.0,
        flop_per_element: float = 1.0,
        n_params: ArrayLike = 0.0,
    ) -> None:
        """A standalone activation (ReLU, PReLU, GELU...): one read, one write."""
        op = elementwise(
            name, n_elements, dtype=self.dtype, flop_per_element=flop_per_element, count=count
        )
        p = _arr(n_params)
        if np.any(p > 0):
            op = patch(op, n_params=p, weight_read_B=p * self.b)
        self.add(op, held_B)

    def add_residual(
        self, name: str, n_elements: ArrayLike, *, relu: bool = True, count: ArrayLike = 1
    ) -> None:
        """Residual add (two reads, one write), with the following ReLU fused."""
        self.add(
            elementwise(
                name,
                n_elements,
                dtype=self.dtype,
                flop_per_element=1.0 + relu,
                n_inputs=2,
                count=count,
            )
        )

    def bottleneck(
        self,
        tag: str,
        h: ArrayLike,
        w: ArrayLike,
        c_in: ArrayLike,
        width: ArrayLike,
        c_out: ArrayLike,
        *,
        stride: int,
        groups: ArrayLike,
        count: ArrayLike,
        projection: bool,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Bottleneck residual block (ResNet-50 style, ResNeXt, RegNet X): 1x1 to ``width``,
        grouped 3x3 with the stride, 1x1 to ``c_out`` without activation, then
        :meth:`shortcut_add`; the block input is held for the add. Returns ``(h_out, w_out)``."""
        held = self.batch * h * w * c_in * self.b
        self.conv(f"{tag}.conv1x1a", h, w, c_in, width, 1, count=count, held_B=held)
        ho, wo = self.conv(
            f"{tag}.conv3x3",
            h,
            w,
            width,
            width,
            3,
            stride=stride,
            groups=groups,
            count=count,
            held_B=held,
        )
        self.conv(f"{tag}.conv1x1b", ho, wo, width, c_out, 1, count=count, act=None, held_B=held)
        self.shortcut_add(
            tag, h, w, c_in, c_out, stride=stride, count=count, held_B=held, projection=projection
        )
        return ho, wo

    def shortcut_add(
        self,
        tag: str,
        h: ArrayLike,
        w: ArrayLike,
        c_in: ArrayLike,
        c_out: ArrayLike,
        *,
        stride: int,
        count: ArrayLike,
        held_B: ArrayLike,
        projection: bool,
    ) -> None:
        """End of a residual block with input ``h x w x c_in`` and stride ``stride``: the 1x1
        projection shortcut if ``projection``, then the residual add (with its ReLU) over the
        block output ``ceil(h / stride) x ceil(w / stride) x c_out``."""
        h_out, w_out = np.ceil(_arr(h) / stride), np.ceil(_arr(w) / stride)
        if projection:
            self.conv(
                f"{tag}.shortcut",
                h,
                w,
                c_in,
                c_out,
                1,
                stride=stride,
                count=count,
                act=None,
                held_B=held_B,
            )
        self.add_residual(f"{tag}.add_relu", self.batch * h_out * w_out * c_out, count=count)

    def pool(
        self,
        name: str,
        h_in: ArrayLike,
        w_in: ArrayLike,
        channels: ArrayLike,
        kernel: int,
        stride: int,
        count: ArrayLike = 1,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Max/average pool with "same" padding: ``kernel**2`` FLOP per output element."""
        ho, wo = np.ceil(_arr(h_in) / stride), np.ceil(_arr(w_in) / stride)
        n_out = self.batch * ho * wo * _arr(channels)
        n_in = self.batch * _arr(h_in) * _arr(w_in) * _arr(channels)
        op = elementwise(
            name, n_out, dtype=self.dtype, flop_per_element=float(kernel * kernel), count=count
        )
        self.add(patch(op, act_read_B=n_in * self.b, footprint_B=(n_in + n_out) * self.b))
        return ho, wo

    def global_pool(self, name: str, h: ArrayLike, w: ArrayLike, channels: ArrayLike) -> None:
        """Global average pool: reads ``batch x h x w x c``, writes ``batch x c``, 1 FLOP/input."""
        n_in = self.batch * _arr(h) * _arr(w) * _arr(channels)
        n_out = self.batch * _arr(channels)
        op = elementwise(name, n_out, dtype=self.dtype)
        self.add(
            patch(op, flop=n_in, act_read_B=n_in * self.b, footprint_B=(n_in + n_out) * self.b)
        )

    def linear(
        self,
        name: str,
        rows: ArrayLike,
        c_in: ArrayLike,
        c_out: ArrayLike,
        *,
        bias: bool = True,
        count: ArrayLike = 1,
        held_B: ArrayLike = 0.0,
    ) -> None:
        """Fully connected layer ``rows x c_in -> rows x c_out`` (a GEMM), with bias parameters."""
        op = gemm(name, rows, c_out, c_in, dtype=self.dtype, count=count, phase="forward")
        if bias:
            op = self._with_bias(op, c_out)
        self.add(op, held_B)

    def table(
        self,
        workload: str,
        *,
        item_name: str = "image",
        n_items: ArrayLike | None = None,
        knobs: dict[str, ArrayLike] | None = None,
    ) -> OperatorTable:
        """The operator table, with ``peak_memory_B["forward"]`` = weights + largest live set."""
        live = broadcast_max(self.live_B)
        table = table_from_ops(
            self.ops,
            workload=workload,
            n_items=self.batch if n_items is None else n_items,
            item_name=item_name,
            peak_memory_B={"forward": live},
            knobs=knobs,
        )
        # Every row's weights are distinct (count repeats distinct blocks), so weights = the
        # count-weighted sum; the peak adds the largest live activation set.
        weights = table.total("weight_read_B", "forward")
        return replace(table, peak_memory_B={"forward": weights + live},
                       memory_parts_B={"forward": {"weights": weights, "activations": live}})


# ---------------------------------------------------------------------------- ResNet / ResNeXt
_RESNET_BLOCKS: dict[int, tuple[str, tuple[int, int, int, int]]] = {
    # He et al., "Deep Residual Learning for Image Recognition", CVPR 2016, Table 1.
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
}


def resnet(
    depth: int = 50,
    batch: ArrayLike = 1,
    resolution: ArrayLike = 224,
    width_mult: ArrayLike = 1.0,
    *,
    depth_mult: ArrayLike = 1.0,
    cardinality: int = 1,
    base_width: int = 64,
    group_width: ArrayLike | None = None,
    n_classes: int = 1000,
    dtype: str = "fp16",
    fold_bn: bool = False,
) -> OperatorTable:
    """ResNet-18/34/50/101/152 and ResNeXt (torchvision "v1.5" layout, stride on the 3x3).

    Parameters
    ----------
    depth
        18, 34 (basic blocks), 50, 101, 152 (bottleneck blocks).
    batch, resolution
        Images per run and input height = width in pixels; scalars or ``(P,)`` arrays.
    width_mult
        Multiplies every stage width (floored to an integer), scalar or ``(P,)``.
    depth_mult
        Multiplies the blocks per stage (rounded, at least 1); changes row counts only.
    cardinality, base_width
        ResNeXt: bottleneck width = ``floor(planes * base_width / 64) * cardinality``, and the
        3x3 conv has ``cardinality`` groups (a fixed number of groups).
    group_width
        If given, the 3x3 convs use a constant group size instead (groups = width /
        group_width, the E2GC scheme); it must divide every stage's bottleneck width.
    n_classes
        Classifier outputs.
    dtype
        Weight and activation datatype.
    fold_bn
        Omit BN/ReLU rows (folded into convs).

    Returns
    -------
    OperatorTable
        Phase "forward", ``n_items = batch`` images.
    """
    if depth not in _RESNET_BLOCKS:
        raise ValueError(f"depth must be one of {sorted(_RESNET_BLOCKS)}, got {depth!r}")
    batch = check_positive("batch", batch, integer=True)
    res = check_positive("resolution", resolution)
    wm = check_positive("width_mult", width_mult)
    dm = check_positive("depth_mult", depth_mult)
    if cardinality < 1 or base_width < 1:
        raise ValueError(
            f"cardinality and base_width must be >= 1, got {cardinality!r}, {base_width!r}"
        )
    kind, blocks = _RESNET_BLOCKS[depth]
    nb = NetBuilder(batch, dtype, fold_bn=fold_bn)
    b = nb.b
    stem = np.floor(64 * wm)
    h, w = nb.conv("stem.conv7x7", res, res, 3, stem, 7, stride=2)
    h, w = nb.pool("stem.maxpool", h, w, stem, 3, 2)
    c_in = stem
    expansion = 4 if kind == "bottleneck" else 1
    for i, n_blocks in enumerate(blocks):
        planes = np.floor(64 * 2**i * wm)
        stride = 1 if i == 0 else 2
        n = np.maximum(1.0, np.round(n_blocks * dm))
        c_out = planes * expansion
        # First block (stride, projection shortcut) then the n - 1 identical ones.
        block_runs: tuple[tuple[ArrayLike, ArrayLike, int], ...] = ((1.0, c_in, stride), (n - 1, c_out, 1))
        for j, (cnt, ci, s) in enumerate(block_runs):
            tag = f"s{i + 1}.b{'1' if j == 0 else 'n'}"
            projection = j == 0 and (s != 1 or kind == "bottleneck")
            if kind == "basic":
                held = batch * h * w * ci * b  # block input kept for the residual add
                ho, wo = nb.conv(
                    f"{tag}.conv3x3a", h, w, ci, planes, 3, stride=s, count=cnt, held_B=held
                )
                nb.conv(
                    f"{tag}.conv3x3b", ho, wo, planes, planes, 3, count=cnt, act=None, held_B=held
                )
                nb.shortcut_add(
                    tag, h, w, ci, c_out, stride=s, count=cnt, held_B=held, projection=projection
                )
            else:
                width = np.floor(planes * base_width / 64.0) * cardinality
                if group_width is None:
                    groups: ArrayLike = float(cardinality)
                else:
                    check_divides(
                        "group_width", group_width, width, f"stage {i + 1} (bottleneck width)"
                    )
                    groups = width / _arr(group_width)
                ho, wo = nb.bottleneck(
                    tag,
                    h,
                    w,
                    ci,
                    width,
                    c_out,
                    stride=s,
                    groups=groups,
                    count=cnt,
                    projection=projection,
                )
            h, w = ho, wo
        c_in = c_out
    nb.global_pool("head.avgpool", h, w, c_in)
    nb.linear("head.fc", batch, c_in, n_classes)
    name = f"resnet{depth}" if cardinality == 1 else f"resnext{depth}_{cardinality}x{base_width}d"
    return nb.table(
        name, knobs={"batch": batch, "resolution": res, "width_mult": wm, "depth_mult": dm}
    )


def resnet18(
    batch: ArrayLike = 1,
    resolution: ArrayLike = 224,
    width_mult: ArrayLike = 1.0,
    *,
    dtype: str = "fp16",
    **kw: object,
) -> OperatorTable:
    """ResNet-18 (see :func:`resnet`)."""
    return resnet(18, batch, resolution, width_mult, dtype=dtype, **kw)  # type: ignore[arg-type]


def resnet50(
    batch: ArrayLike = 1,
    resolution: ArrayLike = 224,
    width_mult: ArrayLike = 1.0,
    *,
    dtype: str = "fp16",
    **kw: object,
) -> OperatorTable:
    """ResNet-50 (see :func:`resnet`)."""
    return resnet(50, batch, resolution, width_mult, dtype=dtype, **kw)  # type: ignore[arg-type]


def resnext50_32x4d(
    batch: ArrayLike = 1,
    resolution: ArrayLike = 224,
    width_mult: ArrayLike = 1.0,
    *,
    cardinality: int = 32,
    group_width: ArrayLike | None = None,
    dtype: str = "fp16",
    fold_bn: bool = False,
) -> OperatorTable:
    """ResNeXt-50 32x4d (Xie et al. 2017): bottleneck widths 128/256/512/1024.

    ``cardinality`` fixes the number of groups of the 3x3 convs (the published model: 32,
    so the group size is 4, 8, 16, 32 across stages); ``group_width`` instead fixes the group
    size (E2GC's constant group size), the bottleneck widths staying those of 32x4d.
    """
    if cardinality < 1 or 128 % cardinality != 0:
        raise ValueError(
            f"cardinality must divide 128 (stage-1 bottleneck width of 32x4d), got {cardinality!r}"
        )
    return resnet(
        50,
        batch,
        resolution,
        width_mult,
        cardinality=cardinality,
        base_width=128 // cardinality,
        group_width=group_width,
        dtype=dtype,
        fold_bn=fold_bn,
    )


# ---------------------------------------------------------------------------- MobileNet-V1
# Howard et al. 2017, "MobileNets", Table 1: (output channels, stride) of each depthwise-
# separable layer after the 3x3 s2 stem of 32 channels. The five identical 512-channel
# stride-1 layers are one row with count 5.
_MBV1_LAYERS: tuple[tuple[int, int, int], ...] = (
    (64, 1, 1),
    (128, 2, 1),
    (128, 1, 1),
    (256, 2, 1),
    (256, 1, 1),
    (512, 2, 1),
    (512, 1, 5),
    (1024, 2, 1),
    (1024, 1, 1),
)


def mobilenet_v1(
    batch: ArrayLike = 1,
    resolution: ArrayLike = 224,
    width_mult: ArrayLike = 1.0,
    *,
    group_size: ArrayLike | None = None,
    n_groups: int | None = None,
    n_classes: int = 1000,
    dtype: str = "fp16",
    fold_bn: bool = False,
) -> OperatorTable:
    """MobileNet-V1 (Howard et al. 2017), optionally with group convs instead of depthwise.

    Parameters
    ----------
    batch, resolution, width_mult
        Scalars or ``(P,)`` arrays; channels are ``floor(c * width_mult)``.
    group_size
        Replace each 3x3 depthwise conv by a group conv with this many channels per group
        (constant group size, E2GC); ``None`` (default) or 1 is depthwise. Must divide
        every layer's channel count.
    n_groups
        Alternatively a fixed number of groups for every 3x3 conv (E2GC's FgGC baseline).
    n_classes, dtype, fold_bn
        See :func:`resnet`.
    """
    if group_size is not None and n_groups is not None:
        raise ValueError("give group_size or n_groups, not both")
    batch = check_positive("batch", batch, integer=True)
    res = check_positive("resolution", resolution)
    wm = check_positive("width_mult", width_mult)
    nb = NetBuilder(batch, dtype, fold_bn=fold_bn)
    c = np.floor(32 * wm)
    h, w = nb.conv("stem.conv3x3", res, res, 3, c, 3, stride=2)
    for i, (c_out_base, s, cnt) in enumerate(_MBV1_LAYERS):
        c_out = np.floor(c_out_base * wm)
        if group_size is not None:
            check_divides(
                "group_size", group_size, c, f"MobileNet-V1 layer {i + 1} (3x3 conv input channels)"
            )
            groups: ArrayLike = c / _arr(group_size)
        elif n_groups is not None:
            check_divides(
                "n_groups", n_groups, c, f"MobileNet-V1 layer {i + 1} (3x3 conv input channels)"
            )
            groups = float(n_groups)
        else:
            groups = c
        ho, wo = nb.conv(f"l{i + 1}.dw3x3", h, w, c, c, 3, stride=s, groups=groups, count=cnt)
        nb.conv(f"l{i + 1}.pw1x1", ho, wo, c, c_out, 1, count=cnt)
        h, w, c = ho, wo, c_out
    nb.global_pool("head.avgpool", h, w, c)
    nb.linear("head.fc", batch, c, n_classes)
    return nb.table("mobilenet_v1", knobs={"batch": batch, "resolution": res, "width_mult": wm})


# ---------------------------------------------------------------------------- MobileNet-V2
# Sandler et al. 2018, "MobileNetV2", Table 2: (expansion t, channels c, repeats n, stride s).
_MBV2_STAGES: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)


def mobilenet_v2(
    batch: ArrayLike = 1,
    resolution: ArrayLike = 224,
    width_mult: ArrayLike = 1.0,
    *,
    n_classes: int = 1000,
    dtype: str = "fp16",
    fold_bn: bool = False,
) -> OperatorTable:
    """MobileNet-V2 (Sandler et al. 2018): inverted residual blocks with ReLU6.

    Channels are rounded with :func:`make_divisible` (multiples of 8); the last 1x1 conv has
    ``1280 * max(1, width_mult)`` channels, as in the paper.
    """
    batch = check_positive("batch", batch, integer=True)
    res = check_positive("resolution", resolution)
    wm = check_positive("width_mult", width_mult)
    nb = NetBuilder(batch, dtype, fold_bn=fold_bn)
    b = nb.b
    c = make_divisible(32 * wm)
    h, w = nb.conv("stem.conv3x3", res, res, 3, c, 3, stride=2)
    for i, (t, c_base, n, s) in enumerate(_MBV2_STAGES):
        c_out = make_divisible(c_base * wm)
        for j, (cnt, ci, st) in enumerate(((1.0, c, s), (float(n - 1), c_out, 1))):
            if cnt == 0:
                continue
            tag = f"s{i + 1}.b{'1' if j == 0 else 'n'}"
            residual = j == 1  # stride 1 and c_in == c_out only for the repeated blocks
            held = batch * h * w * ci * b if residual else 0.0
            hidden = ci * t
            if t != 1:
                nb.conv(f"{tag}.expand1x1", h, w, ci, hidden, 1, count=cnt, held_B=held)
            ho, wo = nb.conv(
                f"{tag}.dw3x3",
                h,
                w,
                hidden,
                hidden,
                3,
                stride=st,
                groups=hidden,
                count=cnt,
                held_B=held,
            )
            nb.conv(f"{tag}.project1x1", ho, wo, hidden, c_out, 1, count=cnt, act=None, held_B=held)
            if residual:
                nb.add_residual(f"{tag}.add", batch * ho * wo * c_out, relu=False, count=cnt)
            h, w = ho, wo
        c = c_out
    c_last = np.floor(1280 * np.maximum(1.0, wm))
    nb.conv("head.conv1x1", h, w, c, c_last, 1)
    nb.global_pool("head.avgpool", h, w, c_last)
    nb.linear("head.fc", batch, c_last, n_classes)
    return nb.table("mobilenet_v2", knobs={"batch": batch, "resolution": res, "width_mult": wm})
