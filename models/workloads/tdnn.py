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

:func:`efficient_tdnn` builds one subnet of the EfficientTDNN supernet (Wang et al.,
"EfficientTDNN: Efficient Architecture Search for Speaker Recognition", IEEE/ACM TASLP 2022,
arXiv 2103.13581; code ``mechanicalsea/sugar : sugar/models/dynamictdnn.py``, class
``DynamicTDNN`` and ``tdnn8m2g``): an ECAPA-TDNN-style net of a Conv1d + ReLU + BN layer
(``n_features -> width0``, kernel ``kernel0``), ``depth`` SE-Res2Net blocks (1x1 conv
``width0 -> width_i``, Res2Net scale 8: 7 convs of ``width_i / 8`` channels with kernel
``kernel_i`` and dilation ``i + 1``, 1x1 conv back to ``width0``, squeeze-excitation with
reduction 4; each block's output is added to the running sum of the earlier ones), a 1x1
"catconv" over the concatenated block outputs (``depth x width0 -> cat_channels``, ReLU),
attentive statistics pooling (bottleneck 128), BN, a linear layer to 192 and BN. Convs have
"same" padding, so every layer sees all ``frames``. The supernet's choices (``tdnn8m2g``,
the "Coarse" space of its ``MinimizeError``): depth {2, 3, 4}, widths {128, 176, 256, 384,
512} (fine grid 128:512:8), kernels {1, 3, 5}, cat_channels {384, 536, 768, 1152, 1536}
(fine grid 384:1536:8). :func:`efficient_tdnn_mac_count` is the repository's MAC count
(``DynamicTDNN.count_ops``: convs and linears without bias, plus 2 per BN element).
"""

from __future__ import annotations

import numpy as np

from models.workloads.cnn import NetBuilder, check_positive, patch
from models.workloads.ops import elementwise
from models.workloads.table import OperatorTable

__all__ = ["EFFICIENT_TDNN_SUBNETS", "efficient_tdnn", "efficient_tdnn_mac_count", "tdnn_xvector"]

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


# ---------------------------------------------------------------------------- EfficientTDNN
# The published operating points (huggingface.co/mechanicalsea/efficient-tdnn README, table
# "MACs (3s)"; the abstract's 204 M / 571 M / 1.45 G): (depth, widths, kernels, cat_channels).
EFFICIENT_TDNN_SUBNETS: dict[str, tuple[int, tuple[int, ...], tuple[int, ...], int]] = {
    "base": (3, (512, 512, 512, 512), (5, 3, 3, 3), 1536),  # 1.45 G, EER 0.94 %
    "mobile": (3, (384, 256, 256, 256), (5, 3, 3, 3), 768),  # 570.98 M, EER 1.41 %
    "small": (2, (256, 256, 256), (3, 3, 3), 400),  # 204.07 M, EER 2.20 %
}
_RES2_SCALE = 8  # Res2Net scale of every block (DynamicSERes2DilatedTDNNBlock default)
_SE_REDUCTION = 4  # squeeze-excitation reduction (DynamicSELayer default)
_ASP_BOTTLENECK = 128  # attentive statistics pooling bottleneck (DynamicAttentiveStatsPool)
_EMBED_DIM = 192  # out_embeds of tdnn8m2g
_MAX_DEPTH = 4  # num_blocks of the supernet tdnn8m2g


def _check_subnet(depth: int, widths: tuple[ArrayLike, ...], kernels: tuple[ArrayLike, ...],
                  cat_channels: ArrayLike) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
    if depth not in (1, 2, 3, 4) or depth != int(depth):
        raise ValueError(f"depth must be 1 to {_MAX_DEPTH} SE-Res2Net blocks (supernet: 2, 3, 4), got {depth!r}")
    if len(widths) < depth + 1 or len(kernels) < depth + 1:
        raise ValueError(f"depth {depth} needs {depth + 1} widths and kernels (width0 and one per block), "
                         f"got {len(widths)} widths and {len(kernels)} kernels")
    ws = [check_positive(f"width{i}", w, integer=True) for i, w in enumerate(widths[: depth + 1])]
    ks = [check_positive(f"kernel{i}", k, integer=True) for i, k in enumerate(kernels[: depth + 1])]
    for i, w in enumerate(ws[1:], start=1):
        if np.any(w % _RES2_SCALE):
            raise ValueError(f"width{i} must be a multiple of the Res2Net scale {_RES2_SCALE}, got {widths[i]!r}")
    if np.any(ws[0] % _SE_REDUCTION):
        raise ValueError(f"width0 must be a multiple of the SE reduction {_SE_REDUCTION}, got {widths[0]!r}")
    for i, k in enumerate(ks):
        if np.any(k % 2 == 0):
            raise ValueError(f"kernel{i} must be odd ('same' padding; the supernet uses 1, 3, 5), got {kernels[i]!r}")
    cat = check_positive("cat_channels", cat_channels, integer=True)
    return ws, ks, cat


def efficient_tdnn_mac_count(depth: int, widths: tuple[ArrayLike, ...], kernels: tuple[ArrayLike, ...],
                             cat_channels: ArrayLike, frames: ArrayLike = 301, *, n_features: int = 80,
                             batch: ArrayLike = 1) -> np.ndarray:
    """MACs of one EfficientTDNN subnet as the paper counts them (``DynamicTDNN.count_ops``).

    Convs and linears count ``out elements x in channels x kernel`` (no bias), every BatchNorm
    2 per element, SE and pooling linears their GEMMs; ReLU, sigmoid, tanh, softmax, the
    weighted statistics and the residual adds count 0. ``frames = 301`` is the README's "3s"
    (48,000 samples at 16 kHz, hop 160, centred frames: 48000 / 160 + 1).
    """
    ws, ks, cat = _check_subnet(depth, widths, kernels, cat_channels)
    t = check_positive("frames", frames, integer=True)
    b = check_positive("batch", batch, integer=True)
    c0 = ws[0]
    n = t * c0 * n_features * ks[0] + 2 * c0 * t  # layer1 conv + BN
    for ci, k in zip(ws[1:], ks[1:], strict=True):
        w = ci // _RES2_SCALE
        n = n + t * ci * c0 + 2 * ci * t  # first 1x1 conv + BN
        n = n + (_RES2_SCALE - 1) * (t * w * w * k + 2 * w * t)  # Res2Net convs + BNs
        n = n + t * c0 * ci + 2 * c0 * t  # last 1x1 conv + BN
        n = n + 2 * c0 * (c0 // _SE_REDUCTION)  # SE reduce + expand (one vector per utterance)
    n = n + t * cat * c0 * depth  # catconv
    n = n + 2 * t * _ASP_BOTTLENECK * cat  # attentive pooling linear1 + linear2
    n = n + 2 * 2 * cat + 2 * cat * _EMBED_DIM + 2 * _EMBED_DIM  # bnpool, linear, bnembed
    return np.asarray(b * n, dtype=np.float64)


def efficient_tdnn(
    batch: ArrayLike = 1,
    frames: ArrayLike = 301,
    *,
    depth: int = 4,
    widths: tuple[ArrayLike, ...] = (512, 512, 512, 512, 512),
    kernels: tuple[ArrayLike, ...] = (5, 5, 5, 5, 5),
    cat_channels: ArrayLike = 1536,
    n_features: int = 80,
    dtype: str = "fp16",
    fold_bn: bool = False,
) -> OperatorTable:
    """One EfficientTDNN subnet (the defaults: the largest subnet of the supernet ``tdnn8m2g``).

    Parameters
    ----------
    batch
        Utterances per run, scalar or ``(P,)``.
    frames
        Feature frames per utterance (10 ms hop; 301 = 3 s), scalar or ``(P,)``.
    depth
        SE-Res2Net blocks (supernet: 2, 3, 4).
    widths
        ``width0`` (layer1 output = block input/output channels) then the inner width of each
        block; entries past ``depth + 1`` are ignored. Scalars or ``(P,)``.
    kernels
        ``kernel0`` (layer1) then each block's Res2Net kernel (odd); past ``depth + 1`` ignored.
    cat_channels
        Output channels of the catconv over the concatenated blocks (and of the pooling).
    n_features
        Filterbank features per frame (80).
    dtype
        Weight and activation datatype.
    fold_bn
        Fold every BatchNorm into the layer before it (no ``relu_bn`` rows).

    Returns
    -------
    OperatorTable
        Phase "forward", ``n_items = batch`` utterances. Its ``total("mac")`` is
        :func:`efficient_tdnn_mac_count` less the BatchNorm terms (a ``norm`` row is not a MAC).
    """
    ws, ks, cat = _check_subnet(depth, widths, kernels, cat_channels)
    batch = check_positive("batch", batch, integer=True)
    t = check_positive("frames", frames, integer=True)
    nb = NetBuilder(batch, dtype, fold_bn=fold_bn)
    rows = batch * t
    c0 = ws[0]
    feat_B = rows * c0 * nb.b  # one block-width feature map
    # A 1-D conv over frames with "same" padding is a GEMM over output frames (im2col: k x c_in).
    nb.linear("layer1", rows, ks[0] * n_features, c0, bias=False)
    nb.bn_act("layer1.relu_bn", rows, c0)
    for i, (ci, k) in enumerate(zip(ws[1:], ks[1:], strict=True), start=1):
        tag = f"block{i}"
        held = feat_B * (i + 1)  # the running sum and the outputs kept for the concatenation
        w = ci / _RES2_SCALE
        nb.linear(f"{tag}.conv1x1a", rows, c0, ci, bias=False, held_B=held)
        nb.bn_act(f"{tag}.conv1x1a.relu_bn", rows, ci, held_B=held)
        # Res2Net: split into 8 groups of w channels; groups 1..7 each get a k-tap dilated conv of
        # (its split + the previous group's output), the last split passes through.
        nb.linear(f"{tag}.res2.conv", rows, k * w, w, bias=False, count=_RES2_SCALE - 1, held_B=held)
        nb.bn_act(f"{tag}.res2.relu_bn", rows, w, count=_RES2_SCALE - 1, held_B=held)
        nb.add(elementwise(f"{tag}.res2.add", rows * w, dtype=dtype, n_inputs=2, count=_RES2_SCALE - 2), held)
        nb.linear(f"{tag}.conv1x1b", rows, ci, c0, bias=False, held_B=held)
        nb.bn_act(f"{tag}.conv1x1b.relu_bn", rows, c0, held_B=held)
        # squeeze-excitation: mean over frames, two small linears (with bias), sigmoid, rescale
        n_in = rows * c0
        nb.add(patch(elementwise(f"{tag}.se.mean", batch * c0, dtype=dtype), flop=n_in, act_read_B=n_in * nb.b,
                     footprint_B=(n_in + batch * c0) * nb.b), held)
        nb.linear(f"{tag}.se.reduce", batch, c0, c0 / _SE_REDUCTION, held_B=held)
        nb.linear(f"{tag}.se.expand", batch, c0 / _SE_REDUCTION, c0, held_B=held)
        nb.add(elementwise(f"{tag}.se.scale", n_in, dtype=dtype, n_inputs=2), held)
        # block output + running sum, then the running sum updated (two adds)
        nb.add(elementwise(f"{tag}.residual_add", n_in, dtype=dtype, n_inputs=2, count=2), held)
    held_cat = feat_B * depth
    nb.linear("catconv", rows, depth * c0, cat, bias=False, held_B=held_cat)
    nb.act("catconv.relu", rows * cat)
    # attentive statistics pooling: tanh(W1 x) -> W2 -> softmax over frames -> weighted mean, std
    nb.linear("pool.attention1", rows, cat, _ASP_BOTTLENECK, bias=False)
    nb.act("pool.tanh", rows * _ASP_BOTTLENECK)
    nb.linear("pool.attention2", rows, _ASP_BOTTLENECK, cat, bias=False)
    # softmax over frames (max, exp, sum, divide: ~5 FLOP per score), kept elementwise: its rows are
    # frames x channels, not the (rows, width) shape the softmax_variant passes reprice
    nb.add(elementwise("pool.softmax", rows * cat, dtype=dtype, flop_per_element=5.0))
    n_x = rows * cat
    nb.add(patch(elementwise("pool.weighted_stats", batch * 2 * cat, dtype=dtype), flop=5.0 * n_x,
                 act_read_B=2 * n_x * nb.b, footprint_B=(2 * n_x + batch * 2 * cat) * nb.b))
    nb.bn_act("pool.bn", batch, 2 * cat, act=None)
    nb.linear("embedding", batch, 2 * cat, _EMBED_DIM)
    nb.bn_act("embedding.bn", batch, _EMBED_DIM, act=None)
    knobs: dict[str, ArrayLike] = {"batch": batch, "frames": np.asarray(frames), "depth": depth,
                                   "cat_channels": cat}
    knobs.update({f"width{i}": w for i, w in enumerate(ws)})
    knobs.update({f"kernel{i}": k for i, k in enumerate(ks)})
    return nb.table("efficienttdnn", item_name="utterance", knobs=knobs)
