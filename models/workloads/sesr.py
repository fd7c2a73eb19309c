"""SESR super-resolution networks (Bhardwaj et al., "Collapsible Linear Blocks for Super-Efficient
Super Resolution", MLSys 2022; ARM-software/sesr).

Layout (``ARM-software/sesr : models/sesr.py``): a 5x5 conv 1 -> f, ``m`` 3x3 convs f -> f,
a 5x5 conv f -> scale^2 and depth-to-space (applied twice for x4, as the repository does), on
the luminance channel. Collapsed (inference) MACs per low-resolution pixel are
``25 f + 9 m f^2 + 25 f scale^2``.

``expanded=True`` builds the training-time form: every k x k linear block is a k x k conv
to ``feature_size`` (256) channels followed by a 1x1 conv back, and the 3x3 blocks keep their
short residual add.

Assumptions (not MAC-relevant): each conv has a bias; a PReLU (f parameters) follows the
first conv and every 3x3 block; a long residual adds the first conv's output to the last
3x3 block's output, and the input image is added (broadcast) to the scale^2 output channels
before depth-to-space. Depth-to-space is a pure data move (one read, one write, 0 FLOP); the
output is clipped to [0, 1] (2 FLOP per output pixel).
"""

from __future__ import annotations

import numpy as np

from models.workloads.cnn import NetBuilder, check_positive, patch
from models.workloads.ops import elementwise
from models.workloads.table import OperatorTable

__all__ = ["SESR_VARIANTS", "fsrcnn", "fsrcnn_mac_per_lr_pixel", "sesr", "sesr_mac_per_lr_pixel"]

ArrayLike = float | int | np.ndarray

# variant -> (m 3x3 blocks, f features). M3/M5/M7/M11 use f = 16, XL uses m = 11, f = 32
# (SESR paper, Table of models; published-numbers.md section A6).
SESR_VARIANTS: dict[str, tuple[int, int]] = {
    "M3": (3, 16),
    "M5": (5, 16),
    "M7": (7, 16),
    "M11": (11, 16),
    "XL": (11, 32),
}


def _variant(variant: str, scale: int) -> tuple[int, int]:
    key = variant.upper()
    if key not in SESR_VARIANTS:
        raise KeyError(f"unknown SESR variant {variant!r}; allowed: {', '.join(SESR_VARIANTS)}")
    if scale not in (2, 4):
        raise ValueError(f"scale must be 2 or 4, got {scale!r}")
    return SESR_VARIANTS[key]


def sesr_mac_per_lr_pixel(
    variant: str = "M5", scale: int = 2, *, expanded: bool = False, feature_size: int = 256
) -> float:
    """Closed-form MACs per low-resolution pixel (collapsed, or expanded training form)."""
    m, f = _variant(variant, scale)
    if not expanded:
        return float(25 * f + 9 * m * f * f + 25 * f * scale**2)
    p = feature_size
    return float(25 * p + p * f + m * (9 * f * p + p * f) + 25 * f * p + p * scale**2)


def sesr(
    variant: str = "M5",
    scale: int = 2,
    batch: ArrayLike = 1,
    lr_height: ArrayLike = 1080,
    lr_width: ArrayLike = 1920,
    *,
    expanded: bool = False,
    feature_size: int = 256,
    dtype: str = "fp16",
) -> OperatorTable:
    """SESR as an operator table.

    Parameters
    ----------
    variant
        "M3", "M5", "M7", "M11" or "XL".
    scale
        Upscaling factor, 2 or 4.
    batch, lr_height, lr_width
        Images per run and low-resolution input size in pixels; scalars or ``(P,)``.
    expanded
        Training-time form with the linear blocks expanded to ``feature_size`` channels.
    dtype
        Weight and activation datatype.

    Returns
    -------
    OperatorTable
        Phase "forward", ``n_items = batch`` images (item "image").
    """
    m, f = _variant(variant, scale)
    batch = check_positive("batch", batch, integer=True)
    h = check_positive("lr_height", lr_height, integer=True)
    w = check_positive("lr_width", lr_width, integer=True)
    if feature_size < 1:
        raise ValueError(f"feature_size must be >= 1, got {feature_size!r}")
    nb = NetBuilder(batch, dtype)
    px = batch * h * w
    c_out = scale * scale

    def block(
        name: str, c_in: int, c_o: int, k: int, count: int = 1, held: ArrayLike = 0.0
    ) -> None:
        def linear_conv(label: str, ci: int, co: int, kk: int) -> None:
            # SESR convs are linear: bias, no BN, no activation (PReLU is its own row)
            nb.conv(
                f"{name}.{label}",
                h,
                w,
                ci,
                co,
                kk,
                bias=True,
                bn=False,
                act=None,
                count=count,
                held_B=held,
            )

        if expanded:
            linear_conv(f"expand{k}x{k}", c_in, feature_size, k)
            linear_conv("squeeze1x1", feature_size, c_o, 1)
        else:
            linear_conv(f"conv{k}x{k}", c_in, c_o, k)

    image_B = px * nb.b
    block("first", 1, f, 5, held=image_B)
    nb.act("first.prelu", px * f, n_params=f, held_B=image_B)
    long_B = px * f * nb.b + image_B
    block("body", f, f, 3, count=m, held=long_B)
    if expanded:  # the short residual of each linear block (collapsed into the weights otherwise)
        nb.add(elementwise("body.short_add", px * f, dtype=dtype, n_inputs=2, count=m), long_B)
    nb.act("body.prelu", px * f, n_params=f, count=m, held_B=long_B)
    nb.add(elementwise("body.long_add", px * f, dtype=dtype, n_inputs=2), image_B)
    block("last", f, c_out, 5, held=image_B)
    nb.add(elementwise("last.input_add", px * c_out, dtype=dtype, n_inputs=2))
    # x4: two depth-to-space (block 2) in a row, as the repository does; each moves all px x 16
    # elements (H x W x 16 -> 2H x 2W x 4 -> 4H x 4W x 1)
    for i in range(1 if scale == 2 else 2):
        nb.add(elementwise(f"depth_to_space{i + 1}", px * c_out, dtype=dtype, flop_per_element=0.0))
    # the repository's final tf.clip_by_value(features, 0, 1) over the high-resolution image
    nb.add(elementwise("output.clip", px * c_out, dtype=dtype, flop_per_element=2.0))
    name = f"sesr-{variant.lower()}-x{scale}" + ("-expanded" if expanded else "")
    return nb.table(name, knobs={"batch": batch, "lr_height": h, "lr_width": w})


# ---------------------------------------------------------------------------- FSRCNN (prior SR baseline)
def fsrcnn_mac_per_lr_pixel(scale: int = 2, d: int = 56, s: int = 12, m: int = 4) -> float:
    """MACs per low-resolution pixel of FSRCNN(d, s, m), the deconvolution counted at the output
    (high-resolution) pixels: ``25 d + d s + 9 m s^2 + s d + 81 d scale^2``.

    This is the count of the SR MAC tables (FSRCNN x2 to 720p: 26,072 x 640 x 360 = 6.0 G MACs),
    the one SESR's "2x to 330x fewer MACs" compares with (SESR-M5 x2: 3.11 G, 1.93x fewer).
    """
    if scale not in (2, 3, 4):
        raise ValueError(f"scale must be 2, 3 or 4, got {scale!r}")
    return float(25 * d + d * s + 9 * m * s * s + s * d + 81 * d * scale**2)


def fsrcnn(
    scale: int = 2,
    batch: ArrayLike = 1,
    lr_height: ArrayLike = 1080,
    lr_width: ArrayLike = 1920,
    *,
    d: int = 56,
    s: int = 12,
    m: int = 4,
    dtype: str = "fp16",
) -> OperatorTable:
    """FSRCNN (Dong, Loy, Tang, "Accelerating the Super-Resolution Convolutional Neural Network",
    ECCV 2016, arXiv 1608.00367): 5x5 conv 1 -> d, 1x1 shrink d -> s, ``m`` 3x3 convs s -> s,
    1x1 expand s -> d (each followed by a PReLU), and a 9x9 deconvolution d -> 1 with stride
    ``scale`` to the high-resolution image; the published FSRCNN(56, 12, 4) by default.

    The deconvolution is priced as most NPU compilers lower a transposed convolution without a
    native unit: a 9x9 convolution over the zero-inserted ``d``-channel map at the output
    resolution (its MACs are the tables' count, :func:`fsrcnn_mac_per_lr_pixel`; its input read is
    that upsampled map). Each conv has a bias; the PReLUs are their own rows (d or s parameters).

    Returns
    -------
    OperatorTable
        Phase "forward", ``n_items = batch`` images (item "image").
    """
    fsrcnn_mac_per_lr_pixel(scale, d, s, m)  # checks scale
    for name, v in (("d", d), ("s", s), ("m", m)):
        if int(v) != v or v < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
    batch = check_positive("batch", batch, integer=True)
    h = check_positive("lr_height", lr_height, integer=True)
    w = check_positive("lr_width", lr_width, integer=True)
    nb = NetBuilder(batch, dtype)
    px = batch * h * w

    def conv(name: str, hh: ArrayLike, ww: ArrayLike, ci: int, co: int, k: int, count: int = 1) -> None:
        nb.conv(name, hh, ww, ci, co, k, bias=True, bn=False, act=None, count=count)

    conv("extract.conv5x5", h, w, 1, d, 5)
    nb.act("extract.prelu", px * d, n_params=d)
    conv("shrink.conv1x1", h, w, d, s, 1)
    nb.act("shrink.prelu", px * s, n_params=s)
    conv("map.conv3x3", h, w, s, s, 3, count=m)
    nb.act("map.prelu", px * s, n_params=s, count=m)
    conv("expand.conv1x1", h, w, s, d, 1)
    nb.act("expand.prelu", px * d, n_params=d)
    # the zero-inserted d-channel map at the output resolution, then a 9x9 conv d -> 1
    hr_px = px * scale * scale
    zi = elementwise("deconv.zero_insert", hr_px * d, dtype=dtype, flop_per_element=0.0)
    nb.add(patch(zi, act_read_B=px * d * nb.b, footprint_B=(px + hr_px) * d * nb.b))
    conv("deconv.conv9x9", h * scale, w * scale, d, 1, 9)
    return nb.table(f"fsrcnn-x{scale}", knobs={"batch": batch, "lr_height": h, "lr_width": w})
