"""AnimateDiff video diffusion (SD1.5 UNet + motion modules) with Streamlined Inference knobs.

The denoising loop of AnimateDiff (Guo et al., ICLR 2024; motion adapter v1-5-2 on the Stable
Diffusion 1.5 UNet) as an operator table, with the three training-free techniques of
*Fast and Memory-Efficient Video Diffusion Using Streamlined Inference* (Zhan et al., NeurIPS
2024, arXiv 2411.01171) as workload knobs:

- ``feature_slices`` ``S`` (Feature Slicer): every operator processes its input in ``S`` slices
  of the frame batch (spatial layers slice the ``batch x cfg x frames`` images, temporal layers
  the ``h x w`` positions): each row becomes ``S`` instances of ``1 / S`` of the work (same FLOPs
  and activation bytes in total), each instance re-reading the operator's weights, so weight
  traffic and kernel launches grow ``S``-fold. Internal intermediates of one operator (the
  attention scores S and P of ``attention_tiling = standard``) are per slice, so they shrink
  ``S``-fold; the operator's full input and output stay resident (the slices are concatenated).
- ``operator_grouping`` (Operator Grouping): the consecutive operators of one block (a ResNet
  block, a spatial transformer, a motion module) run slice by slice, so only the block's input
  (kept for the residual) and its output (filled slice by slice) are full tensors; an inner
  operator holds ``(input + output) / S``. Live set of an operator, with ``X`` the block input:

  - not grouped: ``act_read + act_write + X`` (the :class:`~models.workloads.cnn.NetBuilder` rule);
  - grouped: ``X + X (S - 1) / S + (act_read + act_write) / S`` (equal to the above at ``S = 1``);

  plus the UNet's skip tensors stored at that point of the down/up path (full, in both cases).
  ``peak_memory_B["forward"] = weights + max over operators of the live set``; the parts are
  ``weights`` and ``activations``.
- ``step_rehash`` ``r`` (Step Rehash): on a fraction ``r`` of the denoising steps the deep
  features are reused from the previous key step, so the blocks below the outermost resolution
  (down blocks 1-3, mid block, up blocks 0-2) are skipped: their rows have ``count x (1 - r)``;
  the outermost blocks (conv_in, down block 0, up block 3, conv_out) and the time embedding run
  every step. FLOPs removed = ``r x`` the deep blocks' FLOPs. Which blocks are "deep" is our
  reading of the paper's description (reuse of deep features, as DeepCache does); the paper's
  key-step search (its Algorithm 1) is not modelled: ``r`` is given.

**Clip parallelism** (*Video-Infinity: Distributed Long Video Generation*, Tan et al. 2024, arXiv
2406.16260, sec. 4) as workload knobs: ``clip_devices`` ``N`` devices each denoise a clip of
``F_c = ceil(frames / N)`` frames (the table is one device's: spatial layers run on its frames
alone). Each temporal attention (Dual-scope attention) attends over its clip's frames plus a
local context of ``c_l`` frames from each neighbouring clip (``local_context_frames``; the
paper's 8 + 8) and a global context of ``c_g`` frames sampled from every clip
(``global_context_frames``; 16), so its keys and values span ``F_c + 2 c_l + c_g`` frames. Before
each temporal attention the devices exchange those frames' keys and values (``2 x C`` channels
at every spatial position of the ``2 B`` (guided) videos): an all-gather of the global frames
(``N`` contributions of ``c_g / N`` frames; the gathered ``c_g`` frames are the payload) and the
paper's two interleaved neighbour rounds, a send of ``c_l`` frames to each side. The collectives
run on the target's interconnect (:mod:`models.parallel.collectives`), in series with compute (the
released code synchronises after each exchange), once per temporal attention per UNet evaluation
(deep ones skipped on rehashed steps). The table's energy is that of the ``N`` devices. The
interior device (two neighbours) is the one priced. Not modelled: the temporal convolutions and
GroupNorm synchronisation of the paper's sec. 4.2 (AnimateDiff's motion modules have no temporal
convolution; the released code leaves GroupNorm unsynchronised), and the timestep-dependent
attention bias (it changes no cost).

Architecture (diffusers ``UNet2DConditionModel`` config of SD1.5 and ``MotionAdapter`` v1-5-2):
channels (320, 640, 1280, 1280), two ResNet layers per down block and three per up block,
one transformer (self-attention over ``h x w`` tokens, cross-attention over 77 text tokens of
768, GEGLU feed-forward 4x) per attention layer, 8 heads, GroupNorm 32; a motion module (two
temporal self-attention blocks over the frames and a GEGLU feed-forward, 8 heads) after every
ResNet layer of every down and up block and in the mid block. Classifier-free guidance
(``cfg``) runs the conditional and unconditional batch together (batch x 2), as diffusers
does. The VAE decoder and the text encoder are not in the table (run once per video; their
weights are not counted either).

Conventions: GroupNorm + SiLU is one ``norm`` row; 1x1 projections are GEMMs; attention rows
are fused (``attention_op``: scores stay on chip), so ``attention_tiling = standard`` prices the
eager path that writes S and P; the text K/V projections run on the text tokens repeated per
frame (AnimateDiff repeats the prompt embedding for every frame).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from models.workloads.cnn import check_positive
from models.workloads.ops import (
    Op,
    attention_op,
    broadcast_max,
    bytes_per_element,
    conv,
    elementwise,
    gemm,
    norm,
    table_from_ops,
)
from models.workloads.table import OperatorTable

__all__ = ["animatediff"]

ArrayLike = float | int | np.ndarray

CHANNELS = (320, 640, 1280, 1280)
TEXT_TOKENS = 77
TEXT_DIM = 768
HEADS = 8
TIME_DIM = 1280


@dataclass
class _Row:
    op: Op
    reps: float  # identical layers this row stands for (per UNet evaluation)
    deep: bool  # skipped on rehashed steps
    held_B: np.ndarray  # block input kept for the residual (full tensor)
    skips_B: np.ndarray  # UNet skip tensors stored at this point (full)


class _UNet:
    def __init__(self, n_img: np.ndarray, n_vid: np.ndarray, frames: np.ndarray, dtype: str,
                 context_frames: ArrayLike = 0.0) -> None:
        self.n_img, self.n_vid, self.frames, self.dtype = n_img, n_vid, frames, dtype
        self.context = np.asarray(context_frames, dtype=np.float64)  # extra key/value frames (clip parallelism)
        # temporal attentions: (keys and values of one frame at every position, bytes; deep)
        self.temporal: list[tuple[np.ndarray, bool]] = []
        self.b = bytes_per_element(dtype)
        self.rows: list[_Row] = []
        self.skips: list[np.ndarray] = []
        self.deep = False

    def _add(self, op: Op, held: ArrayLike, reps: float = 1.0) -> None:
        skip = sum(self.skips, np.zeros(()))
        self.rows.append(_Row(op=op, reps=reps, deep=self.deep, held_B=np.asarray(held, dtype=np.float64),
                              skips_B=np.asarray(skip, dtype=np.float64)))

    def tensor_B(self, hw: ArrayLike, c: float) -> np.ndarray:
        return np.asarray(self.n_img * hw * c * self.b, dtype=np.float64)

    def linear(self, name: str, rows: ArrayLike, c_in: float, c_out: float, held: ArrayLike, bias: bool = True) -> None:
        op = gemm(name, rows, c_out, c_in, dtype=self.dtype, phase="forward")
        if bias:
            op = op.replace(n_params=np.asarray(op.values["n_params"]) + c_out,
                            weight_read_B=np.asarray(op.values["weight_read_B"]) + c_out * self.b,
                            footprint_B=np.asarray(op.values["footprint_B"]) + c_out * self.b)
        self._add(op, held)

    def gn(self, name: str, hw: ArrayLike, c: float, held: ArrayLike) -> None:
        self._add(norm(name, self.n_img * np.asarray(hw), c, dtype=self.dtype, n_params=2.0 * c), held)

    def conv(self, name: str, h: ArrayLike, w: ArrayLike, c_in: float, c_out: float, k: int, held: ArrayLike,
             stride: int = 1) -> None:
        ho, wo = np.ceil(np.asarray(h, dtype=np.float64) / stride), np.ceil(np.asarray(w, dtype=np.float64) / stride)
        op = conv(name, self.n_img, ho, wo, c_in, c_out, k, stride=stride, dtype=self.dtype, phase="forward")
        op = op.replace(n_params=np.asarray(op.values["n_params"]) + c_out,
                        weight_read_B=np.asarray(op.values["weight_read_B"]) + c_out * self.b,
                        footprint_B=np.asarray(op.values["footprint_B"]) + c_out * self.b)
        self._add(op, held)

    def add(self, name: str, n_el: ArrayLike, held: ArrayLike) -> None:
        self._add(elementwise(name, n_el, dtype=self.dtype, n_inputs=2), held)

    # ----------------------------------------------------------------- blocks
    def resnet(self, tag: str, h: ArrayLike, w: ArrayLike, c_in: float, c_out: float) -> None:
        hw = np.asarray(h) * np.asarray(w)
        x = self.tensor_B(hw, c_in)
        self.gn(f"{tag}.norm1", hw, c_in, x)
        self.conv(f"{tag}.conv1", h, w, c_in, c_out, 3, x)
        self.linear(f"{tag}.time_emb_proj", self.n_img, TIME_DIM, c_out, x)
        self.gn(f"{tag}.norm2", hw, c_out, x)
        self.conv(f"{tag}.conv2", h, w, c_out, c_out, 3, x)
        if c_in != c_out:
            self.conv(f"{tag}.conv_shortcut", h, w, c_in, c_out, 1, x)
        self.add(f"{tag}.add", self.n_img * hw * c_out, x)

    def _attn(self, tag: str, rows: ArrayLike, c: float, batch: ArrayLike, q_len: ArrayLike, kv_len: ArrayLike,
              held: ArrayLike, kv_rows: ArrayLike | None = None, kv_dim: float | None = None) -> None:
        self._add(norm(f"{tag}.norm", rows, c, dtype=self.dtype, n_params=2.0 * c), held)
        if kv_rows is None:
            self.linear(f"{tag}.to_qkv", rows, c, 3 * c, held, bias=False)
        else:
            self.linear(f"{tag}.to_q", rows, c, c, held, bias=False)
            self.linear(f"{tag}.to_kv", kv_rows, kv_dim or c, 2 * c, held, bias=False)
        self._add(attention_op(f"{tag}.attention", batch, HEADS, q_len, kv_len, c / HEADS, dtype=self.dtype,
                               phase="forward"), held)
        self.linear(f"{tag}.to_out", rows, c, c, held)
        self.add(f"{tag}.residual", np.asarray(rows) * c, held)

    def _ff(self, tag: str, rows: ArrayLike, c: float, held: ArrayLike) -> None:
        self._add(norm(f"{tag}.norm", rows, c, dtype=self.dtype, n_params=2.0 * c), held)
        self.linear(f"{tag}.geglu_proj", rows, c, 8 * c, held)
        self._add(elementwise(f"{tag}.geglu", np.asarray(rows) * 4 * c, dtype=self.dtype, flop_per_element=8.0,
                              n_inputs=2), held)
        self.linear(f"{tag}.out", rows, 4 * c, c, held)
        self.add(f"{tag}.residual", np.asarray(rows) * c, held)

    def transformer(self, tag: str, hw: ArrayLike, c: float) -> None:
        """Spatial transformer: self-attention over the h x w tokens of each image, cross-attention
        to the text tokens, GEGLU feed-forward."""
        x = self.tensor_B(hw, c)
        rows = self.n_img * np.asarray(hw)
        self.gn(f"{tag}.norm", hw, c, x)
        self.linear(f"{tag}.proj_in", rows, c, c, x)
        self._attn(f"{tag}.attn1", rows, c, self.n_img, hw, hw, x)
        self._attn(f"{tag}.attn2", rows, c, self.n_img, hw, TEXT_TOKENS, x, kv_rows=self.n_img * TEXT_TOKENS,
                   kv_dim=TEXT_DIM)
        self._ff(f"{tag}.ff", rows, c, x)
        self.linear(f"{tag}.proj_out", rows, c, c, x)
        self.add(f"{tag}.residual", rows * c, x)

    def motion(self, tag: str, hw: ArrayLike, c: float) -> None:
        """AnimateDiff motion module: two temporal self-attention blocks over the frames of each
        spatial position, then a GEGLU feed-forward."""
        x = self.tensor_B(hw, c)
        rows = self.n_img * np.asarray(hw)
        positions = self.n_vid * np.asarray(hw)
        self.gn(f"{tag}.norm", hw, c, x)
        self.linear(f"{tag}.proj_in", rows, c, c, x)
        for i in (1, 2):
            self._attn(f"{tag}.temporal{i}", rows, c, positions, self.frames, self.frames + self.context, x)
            self.temporal.append((positions * 2.0 * c * self.b, self.deep))
        self._ff(f"{tag}.ff", rows, c, x)
        self.linear(f"{tag}.proj_out", rows, c, c, x)
        self.add(f"{tag}.residual", rows * c, x)


def _sliced(op: Op, s: np.ndarray) -> Op:
    """One of ``s`` slices of ``op``: ``1 / s`` of its work and activation bytes, all of its weights."""
    v = op.values
    w = np.asarray(v["weight_read_B"], dtype=np.float64)
    fp = np.asarray(v["footprint_B"], dtype=np.float64)
    return op.replace(flop=np.asarray(v["flop"]) / s, m=np.asarray(v["m"]) / s,
                      act_read_B=np.asarray(v["act_read_B"]) / s, act_write_B=np.asarray(v["act_write_B"]) / s,
                      footprint_B=w + (fp - w) / s)


def animatediff(batch: ArrayLike = 1, frames: ArrayLike = 16, height: ArrayLike = 512, width: ArrayLike = 512,
                steps: ArrayLike = 25, *, cfg: bool = True, dtype: str = "fp16", feature_slices: ArrayLike = 1,
                operator_grouping: bool = False, step_rehash: ArrayLike = 0.0, clip_devices: int = 1,
                local_context_frames: ArrayLike = 8, global_context_frames: ArrayLike = 16,
                workload: str = "animatediff-sd15") -> OperatorTable:
    """The denoising loop of AnimateDiff on SD1.5 (see the module docstring).

    Parameters
    ----------
    batch, frames, height, width, steps
        Videos, frames per video, output size in pixels (multiples of 64: the latent is 1/8 and
        the UNet halves it three times) and denoising steps; scalars or arrays over points.
    cfg
        Classifier-free guidance: the conditional and unconditional batches run together.
    feature_slices
        Slices ``S`` of the frame batch each operator (or operator group) processes at a time;
        ``1 <= S <= frames``, a whole number.
    operator_grouping
        Run each block slice by slice (only its input and output are full tensors).
    step_rehash
        Fraction ``0 <= r < 1`` of the steps on which the deep blocks are skipped.
    clip_devices, local_context_frames, global_context_frames
        Clip parallelism (module docstring): devices ``1 <= N <= frames`` (a whole number, one per
        table), neighbour frames per side and global frames (whole numbers >= 0).

    Raises
    ------
    ValueError
        A bad value, naming the knob and what is allowed.
    """
    batch = check_positive("batch", batch, integer=True)
    frames = check_positive("frames", frames, integer=True)
    h_px = check_positive("height", height, integer=True)
    w_px = check_positive("width", width, integer=True)
    steps = check_positive("steps", steps, integer=True)
    for name, v in (("height", h_px), ("width", w_px)):
        if np.any(np.mod(v, 64) != 0):
            raise ValueError(f"{name} must be a multiple of 64 pixels (latent 1/8, three 2x downsamplings), "
                             f"got {v.tolist()!r}")
    s = check_positive("feature_slices", feature_slices, integer=True)
    if np.any(s > frames):
        raise ValueError(f"feature_slices={s.astype(int).tolist()!r} must be at most frames="
                         f"{frames.astype(int).tolist()!r} (the frame "
                         "batch is what is sliced); allowed: 1 <= feature_slices <= frames")
    r = np.asarray(step_rehash, dtype=np.float64)
    if not np.all(np.isfinite(r)) or np.any(r < 0) or np.any(r >= 1):
        raise ValueError(f"step_rehash={r.tolist()!r}: allowed a fraction of the steps in [0, 1) (the key steps "
                         "compute the deep features)")
    n_dev = np.asarray(clip_devices)
    if n_dev.size != 1 or int(n_dev.reshape(-1)[0]) != float(n_dev.reshape(-1)[0]) or n_dev.reshape(-1)[0] < 1:
        raise ValueError(f"clip_devices={n_dev.reshape(-1)[:3].tolist()!r}: allowed one whole number of devices >= 1 "
                         "per table")
    N = int(n_dev.reshape(-1)[0])
    if np.any(frames < N):
        raise ValueError(f"clip_devices={N} is more than frames={frames.astype(int).tolist()!r}: every device needs a "
                         "clip of at least one frame; allowed: 1 <= clip_devices <= frames")
    c_l = np.asarray(local_context_frames, dtype=np.float64)
    c_g = np.asarray(global_context_frames, dtype=np.float64)
    for name, v in (("local_context_frames", c_l), ("global_context_frames", c_g)):
        if not np.all(np.isfinite(v)) or np.any(v < 0) or np.any(v != np.round(v)):
            raise ValueError(f"{name}={v.tolist()!r}: allowed a whole number of frames >= 0")
    clip = np.ceil(frames / N)
    if N > 1 and np.any(s > clip):
        raise ValueError(f"feature_slices={s.astype(int).tolist()!r} must be at most the clip of "
                         f"{clip.astype(int).tolist()!r} frames per device; allowed: 1 <= feature_slices <= "
                         "ceil(frames / clip_devices)")
    n_vid = batch * (2.0 if cfg else 1.0)
    n_img = n_vid * clip
    u = _UNet(n_img, n_vid, clip, dtype, context_frames=(2.0 * c_l + c_g) if N > 1 else 0.0)
    h0, w0 = h_px / 8.0, w_px / 8.0
    # time embedding (per sample) and conv_in
    u.linear("time_embedding.linear_1", n_img, CHANNELS[0], TIME_DIM, 0.0)
    u.linear("time_embedding.linear_2", n_img, TIME_DIM, TIME_DIM, 0.0)
    u.conv("conv_in", h0, w0, 4, CHANNELS[0], 3, 0.0)
    # down path; the skip tensors (each layer's output and each downsampler's output) are stored
    h, w, c = h0, w0, float(CHANNELS[0])
    u.skips.append(u.tensor_B(h * w, c))
    for i, co in enumerate(CHANNELS):
        u.deep = i > 0
        for j in range(2):
            u.resnet(f"down{i}.resnet{j}", h, w, c, float(co))
            c = float(co)
            if i < 3:
                u.transformer(f"down{i}.attn{j}", h * w, c)
            u.motion(f"down{i}.motion{j}", h * w, c)
            u.skips.append(u.tensor_B(h * w, c))
        if i < 3:
            u.conv(f"down{i}.downsample", h, w, c, c, 3, 0.0, stride=2)
            h, w = np.ceil(h / 2.0), np.ceil(w / 2.0)
            u.skips.append(u.tensor_B(h * w, c))
    u.deep = True
    u.resnet("mid.resnet0", h, w, c, c)
    u.transformer("mid.attn0", h * w, c)
    u.motion("mid.motion0", h * w, c)
    u.resnet("mid.resnet1", h, w, c, c)
    # up path: each layer concatenates one stored skip tensor
    # skip channels in storage order: conv_in 320; down0: 320, 320, ds 320; down1: 640, 640, ds 640;
    # down2: 1280, 1280, ds 1280; down3: 1280, 1280
    skip_ch = [320.0, 320.0, 320.0, 320.0, 640.0, 640.0, 640.0, 1280.0, 1280.0, 1280.0, 1280.0, 1280.0]
    for i, co in enumerate(reversed(CHANNELS)):
        u.deep = i < 3
        for j in range(3):
            sc = skip_ch.pop()
            u.skips.pop()
            u.resnet(f"up{i}.resnet{j}", h, w, c + sc, float(co))
            c = float(co)
            if i > 0:
                u.transformer(f"up{i}.attn{j}", h * w, c)
            u.motion(f"up{i}.motion{j}", h * w, c)
        if i < 3:
            h, w = h * 2.0, w * 2.0
            u.conv(f"up{i}.upsample", h, w, c, c, 3, 0.0)
    u.deep = False
    u.gn("conv_norm_out", h * w, c, 0.0)
    u.conv("conv_out", h, w, c, 4, 3, 0.0)

    grouped = bool(np.all(operator_grouping))
    ops: list[Op] = []
    weights: np.ndarray = np.zeros(())
    params: np.ndarray = np.zeros(())
    live: list[np.ndarray] = []
    for row in u.rows:
        vals = row.op.values
        rd, wr = np.asarray(vals["act_read_B"]), np.asarray(vals["act_write_B"])
        if grouped:
            act = row.held_B * (2.0 * s - 1.0) / s + (rd + wr) / s
        else:
            act = rd + wr + row.held_B
        live.append(act + row.skips_B)
        weights = weights + row.reps * np.asarray(vals["weight_read_B"])
        params = params + row.reps * np.asarray(vals["n_params"])
        per_step = steps * (1.0 - r) if row.deep else steps
        ops.append(_sliced(row.op, s).replace(count=row.reps * s * per_step))
    act_peak = broadcast_max(live)
    knobs: dict[str, float | np.ndarray] = {"batch": batch, "frames": frames, "height": h_px, "width": w_px,
                                            "steps": steps, "feature_slices": s, "step_rehash": r,
                                            "clip_devices": float(N)}
    table = table_from_ops(ops, workload=workload, n_items=batch, item_name="video",
                           peak_memory_B={"forward": weights + act_peak}, knobs=knobs,
                           stored_params=float(np.max(params)),
                           memory_parts_B={"forward": {"weights": weights, "activations": act_peak}})
    if N == 1:
        return table
    from models.parallel.collectives import Collective

    colls: list[Collective] = []
    for frame_kv_B, deep in u.temporal:
        count = steps * (1.0 - r) if deep else steps
        colls.append(Collective(name="clip_global_allgather", phase="forward", op="all_gather", group=N,
                                bytes_B=c_g * frame_kv_B, count=count))
        colls.append(Collective(name="clip_neighbour_send", phase="forward", op="send", group=2,
                                bytes_B=c_l * frame_kv_B, count=2.0 * count))
    return replace(table, collectives=tuple(colls), n_devices=N)
