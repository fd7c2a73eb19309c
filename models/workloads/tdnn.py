"""x-vector TDNN speaker-embedding network (Snyder et al., "X-vectors: Robust DNN Embeddings for
Speaker Recognition", ICASSP 2018, Table 1) as an operator table.

Frame layers (context, input dim -> output dim): frame1 [t-2, t+2] 5F -> 512, frame2
{t-2, t, t+2} 3x512 -> 512, frame3 {t-3, t, t+3} 3x512 -> 512, frame4 {t} 512 -> 512,
frame5 {t} 512 -> 1500; statistics pooling (mean and standard deviation over frames) ->
3000; segment6 3000 -> 512 (the x-vector), segment7 512 -> 512; an optional softmax
classifier over training speakers (not used when extracting embeddings).

Each TDNN layer is a GEMM over output frames (``m = batch x frames_out``, ``k = context x
dim_in``): a dilated 1-D convolution without padding, so frames shrink by the context
(T - 4, T - 8, T - 14). Each layer has a bias and is followed by ReLU and BN (one ``norm``
row, 2 parameters per channel). MAC totals count the affine layers only.
"""

from __future__ import annotations

import numpy as np

from models.workloads.cnn import NetBuilder, check_positive, patch
from models.workloads.ops import elementwise
from models.workloads.table import OperatorTable

__all__ = ["tdnn_xvector"]

ArrayLike = float | int | np.ndarray

# (name, number of context frames spliced, frames lost to the context, output dim)
_FRAME_LAYERS = (
    ("frame1", 5, 4, 512),
    ("frame2", 3, 4, 512),
    ("frame3", 3, 6, 512),
    ("frame4", 1, 0, 512),
    ("frame5", 1, 0, 1500),
)


def tdnn_xvector(
    batch: ArrayLike = 1,
    frames: ArrayLike = 300,
    *,
    n_features: int = 24,
    n_speakers: int | None = None,
    dtype: str = "fp16",
    fold_bn: bool = False,
) -> OperatorTable:
    """x-vector TDNN forward pass.

    Parameters
    ----------
    batch
        Utterances per run, scalar or ``(P,)``.
    frames
        Input feature frames per utterance (10 ms each; 300 = 3 s), scalar or ``(P,)``;
        more than 14.
    n_features
        Filterbank features per frame (24 in the paper).
    n_speakers
        Add the training classifier (segment7 -> n_speakers) if given.
    dtype
        Weight and activation datatype.
    fold_bn
        Fold every BatchNorm into the layer before it and fuse its ReLU (no ``relu_bn`` rows).
    """
    batch = check_positive("batch", batch, integer=True)
    t = check_positive("frames", frames, integer=True)
    if np.any(t <= 14):
        raise ValueError(f"frames must exceed the 14-frame context of the TDNN, got {frames!r}")
    nb = NetBuilder(batch, dtype, fold_bn=fold_bn)
    dim = float(n_features)
    for name, ctx, lost, d_out in _FRAME_LAYERS:
        t = t - lost
        nb.linear(name, batch * t, ctx * dim, d_out)
        nb.bn_act(f"{name}.relu_bn", batch * t, d_out)
        dim = float(d_out)
    # Statistics pooling: mean and standard deviation over frames (about 4 FLOP per input).
    n_in = batch * t * dim
    stats = elementwise("stats_pooling", batch * 2 * dim, dtype=dtype)
    nb.add(
        patch(
            stats,
            flop=4.0 * n_in,
            act_read_B=n_in * nb.b,
            footprint_B=(n_in + batch * 2 * dim) * nb.b,
        )
    )
    nb.linear("segment6", batch, 2 * dim, 512)
    nb.bn_act("segment6.relu_bn", batch, 512)
    nb.linear("segment7", batch, 512, 512)
    nb.bn_act("segment7.relu_bn", batch, 512)
    if n_speakers is not None:
        if n_speakers < 2:
            raise ValueError(f"n_speakers must be >= 2, got {n_speakers!r}")
        nb.linear("classifier", batch, 512, n_speakers)
    return nb.table(
        "tdnn_xvector", item_name="utterance", knobs={"batch": batch, "frames": np.asarray(frames)}
    )
