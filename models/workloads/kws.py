"""MLPerf Tiny networks: DS-CNN keyword spotting and ResNet8 image classification.

Layouts follow the MLPerf Tiny reference models (mlcommons/tiny, benchmark/training):

- DS-CNN (keyword spotting): input 49 frames x 10 MFCC x 1; a 10x4 stride-2 conv to 64
  channels (BN, ReLU); 4 depthwise-separable blocks (3x3 depthwise, BN, ReLU, 1x1 conv to
  64, BN, ReLU); global average pool; a dense layer to 12 classes.
- ResNet8 (CIFAR-10): 32x32x3 input; 3x3 conv 16 (BN, ReLU); three residual stacks of two
  3x3 convs with 16, 32, 64 channels (the last two stride 2 with a 1x1 stride-2 projection
  shortcut); global average pool; dense to 10 classes.

Keras convs and dense layers have a bias (counted); BN counts gamma and beta (2 per channel).
See :mod:`models.workloads.cnn` for the BN/ReLU, pooling and MAC conventions.
"""

from __future__ import annotations

import numpy as np

from models.workloads.cnn import NetBuilder, check_positive
from models.workloads.table import OperatorTable

__all__ = ["ds_cnn", "resnet8"]

ArrayLike = float | int | np.ndarray


def ds_cnn(
    batch: ArrayLike = 1,
    *,
    n_frames: ArrayLike = 49,
    n_mfcc: ArrayLike = 10,
    n_channels: ArrayLike = 64,
    n_blocks: int = 4,
    n_classes: int = 12,
    dtype: str = "fp16",
    fold_bn: bool = False,
) -> OperatorTable:
    """DS-CNN keyword spotting network (MLPerf Tiny KWS reference).

    Parameters
    ----------
    batch, n_frames, n_mfcc, n_channels
        Utterances per run, input frames, MFCC coefficients, channels; scalars or ``(P,)``.
    n_blocks
        Depthwise-separable blocks (4); identical blocks are one row per layer with this count.
    n_classes, dtype, fold_bn
        Output classes (12), datatype, BN folding.
    """
    batch = check_positive("batch", batch, integer=True)
    t = check_positive("n_frames", n_frames, integer=True)
    f = check_positive("n_mfcc", n_mfcc, integer=True)
    c = check_positive("n_channels", n_channels, integer=True)
    if n_blocks < 0:
        raise ValueError(f"n_blocks must be >= 0, got {n_blocks!r}")
    nb = NetBuilder(batch, dtype, fold_bn=fold_bn)
    h, w = nb.conv("conv1.10x4", t, f, 1, c, 10, stride=2, kernel_w=4, bias=True)
    if n_blocks:
        nb.conv("ds.dw3x3", h, w, c, c, 3, groups=c, bias=True, count=n_blocks)
        nb.conv("ds.pw1x1", h, w, c, c, 1, bias=True, count=n_blocks)
    nb.global_pool("head.avgpool", h, w, c)
    nb.linear("head.fc", batch, c, n_classes)
    return nb.table(
        "ds_cnn", item_name="utterance", knobs={"batch": batch, "n_frames": t, "n_mfcc": f}
    )


def resnet8(
    batch: ArrayLike = 1,
    resolution: ArrayLike = 32,
    *,
    n_classes: int = 10,
    dtype: str = "fp16",
    fold_bn: bool = False,
) -> OperatorTable:
    """ResNet8 for CIFAR-10 (MLPerf Tiny image classification reference).

    Parameters
    ----------
    batch, resolution
        Images per run and input height = width; scalars or ``(P,)``.
    n_classes, dtype, fold_bn
        Output classes (10), datatype, BN folding.
    """
    batch = check_positive("batch", batch, integer=True)
    res = check_positive("resolution", resolution, integer=True)
    nb = NetBuilder(batch, dtype, fold_bn=fold_bn)
    h, w = nb.conv("conv0.3x3", res, res, 3, 16, 3, bias=True)
    c_in = 16.0
    for i, (c, s) in enumerate(((16, 1), (32, 2), (64, 2))):
        held = batch * h * w * c_in * nb.b
        ho, wo = nb.conv(f"s{i + 1}.conv3x3a", h, w, c_in, c, 3, stride=s, bias=True, held_B=held)
        nb.conv(f"s{i + 1}.conv3x3b", ho, wo, c, c, 3, bias=True, act=None, held_B=held)
        if s != 1:
            nb.conv(
                f"s{i + 1}.shortcut1x1",
                h,
                w,
                c_in,
                c,
                1,
                stride=s,
                bias=True,
                bn=False,
                act=None,
                held_B=held,
            )
        nb.add_residual(f"s{i + 1}.add_relu", batch * ho * wo * c)
        h, w, c_in = ho, wo, float(c)
    nb.global_pool("head.avgpool", h, w, c_in)
    nb.linear("head.fc", batch, c_in, n_classes)
    return nb.table("resnet8", knobs={"batch": batch, "resolution": res})
