"""Every named workload with its knobs: one place for the CLI, the dashboard and design spaces.

A :class:`WorkloadSpec` names a builder and declares its knobs once (kind, default, bounds or
choices, unit, log flag). ``build_workload(name, **knobs)`` checks the knobs and calls the
builder; numeric knobs may be arrays over design points.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from models.hardware.dtypes import DTYPES
from models.params import Param, did_you_mean
from models.workloads.table import OperatorTable

__all__ = ["WorkloadSpec", "available_workloads", "build_workload", "is_shipped", "parse_knob", "workload_spec"]


def _knob(*, name: str, kind: str, default: Any, low: float | None = None, high: float | None = None,
          choices: tuple[Any, ...] = (), unit: str = "", log: bool = False, description: str = "",
          structural: bool = False) -> Param:
    """A workload knob's :class:`~models.params.Param` (counts and sizes: no unit conversion).

    ``structural`` marks a numeric knob that changes what the operators are (a group size of 1
    makes a conv depthwise, which some engines cannot run): design points are grouped by it.
    """
    return Param(name=name, kind="categorical" if kind == "choice" else kind, default=default, low=low, high=high,
                 choices=choices, unit=unit or "1", log=log, help=description, applies_to="workload", role="knob",
                 structural=structural)


@dataclass(frozen=True, kw_only=True)
class WorkloadSpec:
    """A named workload: family, description, knobs and the builder."""

    name: str
    family: str
    description: str
    item_name: str
    knobs: tuple[Param, ...]
    builder: Callable[..., OperatorTable]

    def knob(self, name: str) -> Param:
        for k in self.knobs:
            if k.name == name:
                return k
        raise KeyError(f"workload {self.name!r} has no knob {name!r}; knobs: {', '.join(k.name for k in self.knobs)}")

    def defaults(self) -> dict[str, Any]:
        return {k.name: k.default for k in self.knobs}

    def build(self, *, parallel: Any = None, routing: Mapping[str, float] | None = None,
              **knobs: Any) -> OperatorTable:
        """The table at ``knobs`` (checked; defaults for the rest), one device's share under a
        multi-device ``parallel`` plan (:class:`models.parallel.ParallelPlan`) when given, with the
        MoE ``routing`` knobs (:func:`models.workloads.llm.with_routing`; MoE LLMs)."""
        values = self.defaults()
        for name, v in knobs.items():
            values[name] = self.knob(name).check(v)
        set_ = {k: v for k, v in (routing or {}).items() if v}
        if set_:
            if "routing" not in inspect.signature(self.builder).parameters:
                raise ValueError(f"algorithm knob {next(iter(set_))!r}: workload {self.name!r} ({self.family}) has no "
                                 "mixture-of-experts layers; allowed: unset, or a mixture-of-experts LLM workload")
            values["routing"] = set_
        if parallel is None or parallel.trivial:
            return self.builder(**values)
        if "parallel" not in inspect.signature(self.builder).parameters:
            raise ValueError(f"workload {self.name!r} ({self.family}) has no multi-device model; tensor / pipeline / "
                             "expert parallelism is allowed on the decoder LLM workloads")
        return self.builder(**values, parallel=parallel)


def parse_knob(spec: WorkloadSpec, text: str) -> tuple[str, Any]:
    """Parse ``"name=value"`` from the command line into a typed knob value."""
    if "=" not in text:
        raise ValueError(f"--set {text!r}: expected NAME=VALUE; knobs: {', '.join(k.name for k in spec.knobs)}")
    name, raw = (s.strip() for s in text.split("=", 1))
    return name, spec.knob(name).parse(raw)


# ---------------------------------------------------------------------------------- knobs
def _dtype_knob(name: str, default: str, description: str) -> Param:
    return _knob(name=name, kind="choice", default=default, choices=DTYPES, description=description)


BATCH = _knob(name="batch", kind="int", default=1, low=1, high=65536, unit="count", log=True,
             description="sequences or images per run")
_LLM_KNOBS = (
    BATCH,
    _knob(name="prompt_len", kind="int", default=2048, low=0, high=1 << 20, unit="tokens", log=True,
          description="prompt length (prefill, >= 1) and decode start context (0: an empty cache)"),
    _knob(name="n_generated", kind="int", default=256, low=1, high=1 << 20, unit="tokens", log=True,
         description="tokens generated per sequence (decode)"),
    _knob(name="phase", kind="choice", default="inference", choices=("inference", "prefill", "decode"),
         description="prefill + decode, or one of them"),
    _dtype_knob("weight_dtype", "bf16", "weight datatype"),
    _dtype_knob("act_dtype", "bf16", "activation datatype"),
    _dtype_knob("kv_dtype", "bf16", "KV-cache datatype"),
)


# Inference compilers (TensorRT, TFLite/Vela, TVM, ONNX Runtime) fold BatchNorm's scale and shift
# into the weights and bias of the conv or linear layer before it and fuse the activation into
# its epilogue, so a deployed network has no BN pass; eager PyTorch keeps it (fold_bn = false).
FOLD_BN = _knob(name="fold_bn", kind="bool", default=True,
                description="BatchNorm folded into the conv/linear layer before it and its activation fused, as "
                            "inference compilers do (a training step keeps BN whatever this says)")


def _vision_knobs(resolution: int, res_low: int = 32, res_high: int = 4096, dtype: str = "fp16",
                  width: bool = True, bn: bool = True) -> tuple[Param, ...]:
    ks = [BATCH,
          _knob(name="resolution", kind="int", default=resolution, low=res_low, high=res_high, unit="px",
               description="input image side")]
    if width:
        ks.append(_knob(name="width_mult", kind="float", default=1.0, low=0.125, high=8.0, unit="1", log=True,
                       description="channel width multiplier"))
    ks += [_dtype_knob("dtype", dtype, "datatype of weights and activations"),
           _knob(name="training", kind="bool", default=False,
                description="a training step (forward + backward + update) instead of inference")]
    if bn:
        ks.append(FOLD_BN)
    return tuple(ks)


def _fold(knobs: dict[str, Any], training: bool) -> dict[str, Any]:
    """``knobs`` with ``fold_bn`` off in a training step (backward needs the BN statistics)."""
    if "fold_bn" in knobs:
        knobs["fold_bn"] = bool(np.all(knobs["fold_bn"])) and not training
    return knobs


def _maybe_train(table: OperatorTable, training: bool) -> OperatorTable:
    if not training:
        return table
    from models.workloads.training import training_step

    return training_step(table)


def _llm_builder(config: str) -> Callable[..., OperatorTable]:
    def build(*, batch: Any, prompt_len: Any, n_generated: Any, phase: str, weight_dtype: str,
              act_dtype: str, kv_dtype: str, parallel: Any = None,
              routing: Mapping[str, float] | None = None) -> OperatorTable:
        from models.parallel.plan import build_parallel
        from models.workloads.llm import (
            llm_decode,
            llm_inference,
            llm_prefill,
            load_llm_config,
            with_routing,
        )

        kw = dict(weight_dtype=weight_dtype, act_dtype=act_dtype, kv_dtype=kv_dtype)

        def one(cfg: Any, b: Any) -> OperatorTable:
            if phase == "prefill":
                return llm_prefill(cfg, b, prompt_len, **kw)
            if phase == "decode":
                return llm_decode(cfg, b, prompt_len, n_generated, **kw)
            return llm_inference(cfg, b, prompt_len, n_generated, **kw)

        cfg = with_routing(load_llm_config(config), routing)
        return build_parallel(cfg, parallel, batch, one)

    return build


def _vision(fn_path: str, **fixed: Any) -> Callable[..., OperatorTable]:
    def build(*, training: bool = False, **knobs: Any) -> OperatorTable:
        import importlib

        mod, fn = fn_path.rsplit(".", 1)
        f = getattr(importlib.import_module(mod), fn)
        return _maybe_train(f(**fixed, **_fold(knobs, training)), training)

    return build


def _mobilenet_v1(*, training: bool = False, group_size: Any = 1, n_groups: Any = 0, **knobs: Any) -> OperatorTable:
    from models.workloads.cnn import mobilenet_v1

    knobs = _fold(knobs, training)
    if int(np.max(n_groups)) > 0:
        if np.any(np.asarray(group_size) != 1):
            raise ValueError("give group_size or n_groups, not both")
        return _maybe_train(mobilenet_v1(n_groups=int(np.max(n_groups)), **knobs), training)
    return _maybe_train(mobilenet_v1(group_size=group_size, **knobs), training)


def _resnext(*, training: bool = False, cardinality: Any = 32, group_size: Any = 0, **knobs: Any) -> OperatorTable:
    from models.workloads.cnn import resnext50_32x4d

    knobs = _fold(knobs, training)
    gw = None if int(np.max(group_size)) == 0 else group_size
    return _maybe_train(resnext50_32x4d(cardinality=int(np.max(cardinality)), group_width=gw, **knobs), training)


# EfficientTDNN supernet choices (mechanicalsea/sugar, tdnn8m2g and its MinimizeError search space):
# depth {2, 3, 4}; widths 128:512 step 8 (coarse: 128, 176, 256, 384, 512); kernels {1, 3, 5};
# cat_channels 384:1536 step 8 (coarse: 384, 536, 768, 1152, 1536). width_i / kernel_i past depth are unused.
_EFFICIENT_TDNN_KNOBS = (
    BATCH,
    _knob(name="frames", kind="int", default=301, low=16, high=100000, unit="frames",
          description="input frames (10 ms hop; 301 = the paper's 3 s)"),
    _knob(name="depth", kind="int", default=4, low=2, high=4, unit="count", structural=True,
          description="SE-Res2Net blocks of the subnet (supernet: 2, 3, 4)"),
    _knob(name="width0", kind="int", default=512, low=128, high=512, unit="channels",
          description="channels of layer1 and of every block's input/output (supernet: 128 to 512, a multiple "
                      "of 4)"),
    *(_knob(name=f"width{i}", kind="int", default=512, low=128, high=512, unit="channels",
            description=f"inner channels of block {i} (supernet: 128 to 512, a multiple of 8; unused past depth)")
      for i in range(1, 5)),
    _knob(name="kernel0", kind="int", default=5, low=1, high=5, unit="frames",
          description="kernel of layer1 (supernet: 1, 3, 5)"),
    *(_knob(name=f"kernel{i}", kind="int", default=5, low=1, high=5, unit="frames",
            description=f"Res2Net kernel of block {i} (supernet: 1, 3, 5; unused past depth)") for i in range(1, 5)),
    _knob(name="cat_channels", kind="int", default=1536, low=384, high=1536, unit="channels",
          description="output channels of the catconv over the blocks (supernet: 384 to 1536)"),
    _dtype_knob("dtype", "fp16", "datatype"),
    FOLD_BN,
)


def _efficient_tdnn(*, batch: Any, frames: Any, depth: Any, cat_channels: Any, dtype: str, fold_bn: Any,
                    **per_block: Any) -> OperatorTable:
    from models.workloads.tdnn import efficient_tdnn

    d = int(np.max(depth))
    widths = tuple(per_block[f"width{i}"] for i in range(5))
    kernels = tuple(per_block[f"kernel{i}"] for i in range(5))
    return efficient_tdnn(batch, frames, depth=d, widths=widths, kernels=kernels, cat_channels=cat_channels,
                          dtype=dtype, fold_bn=bool(np.all(fold_bn)))


@cache
def _specs() -> dict[str, WorkloadSpec]:
    from models.workloads.llm import available_llms, load_llm_config

    specs: dict[str, WorkloadSpec] = {}
    for name in available_llms():
        cfg = load_llm_config(name)
        specs[name] = WorkloadSpec(
            name=name, family="llm", item_name="token",
            description=f"decoder LLM from data/workloads/{name}.json ({getattr(cfg, 'family', 'llm')})"
            + "".join(f"; note: {n}" for n in cfg.notes),
            knobs=_LLM_KNOBS, builder=_llm_builder(name))

    def add(name: str, family: str, desc: str, item: str, knobs: tuple[Param, ...],
            builder: Callable[..., OperatorTable]) -> None:
        specs[name] = WorkloadSpec(name=name, family=family, description=desc, item_name=item, knobs=knobs,
                                   builder=builder)

    add("resnet-18", "cnn", "ResNet-18 (He et al. 2016)", "image", _vision_knobs(224),
        _vision("models.workloads.cnn.resnet18"))
    add("resnet-50", "cnn", "ResNet-50 v1.5 (He et al. 2016)", "image", _vision_knobs(224),
        _vision("models.workloads.cnn.resnet50"))
    add("resnext-50-32x4d", "cnn", "ResNeXt-50 32x4d (Xie et al. 2017)", "image",
        (*_vision_knobs(224),
         _knob(name="cardinality", kind="int", default=32, low=1, high=128, unit="count", log=True, structural=True,
               description="groups of every 3x3 conv (32: the published net; FgGC); must divide 128"),
         _knob(name="group_size", kind="int", default=0, low=0, high=1024, unit="count", structural=True,
               description="channels per group of every 3x3 conv instead (E2GC constant group size; 0: "
                           "use cardinality)")),
        _resnext)
    add("mobilenet-v1", "cnn", "MobileNet-V1 (Howard et al. 2017)", "image",
        (*_vision_knobs(224),
         _knob(name="group_size", kind="int", default=1, low=1, high=1024, unit="count", log=True, structural=True,
               description="channels per group of each 3x3 conv (1: depthwise, the published net; "
                           "E2GC constant group size); must divide every layer's channels"),
         _knob(name="n_groups", kind="int", default=0, low=0, high=1024, unit="count", structural=True,
               description="a fixed number of groups of every 3x3 conv instead (E2GC's FgGC baseline; 0: "
                           "use group_size)")),
        _mobilenet_v1)
    add("mobilenet-v2", "cnn", "MobileNet-V2 (Sandler et al. 2018)", "image", _vision_knobs(224),
        _vision("models.workloads.cnn.mobilenet_v2"))
    for rn in ("regnetx-200mf", "regnetx-400mf", "regnetx-800mf", "regnetx-1.6gf"):
        add(rn, "cnn", f"{rn.upper()} (Radosavovic et al. 2020)", "image", _vision_knobs(224, width=False),
            _vision("models.workloads.anynet.regnetx", name=rn))
    for mf in ("370m", "1.3b", "2.7b", "13b"):
        add(f"matmulfree-{mf}", "matmulfree",
            f"MatMul-free LM {mf.upper()} (Zhu et al. 2024): ternary BitLinear layers, MLGRU token mixer, GLU "
            "channel mixer" + ("; layout assumed (LLaMA-13B)" if mf == "13b" else ""), "token",
            (BATCH, _knob(name="seq_len", kind="int", default=2048, low=1, high=1 << 20, unit="tokens", log=True,
                          description="tokens per sequence of the forward pass"),
             _dtype_knob("weight_dtype", "int2", "storage of the ternary weights (int2: 2-bit packed, int8 MACs; "
                                                 "bf16/fp32: the unoptimized model)"),
             _dtype_knob("act_dtype", "bf16", "activation datatype")),
            _vision("models.workloads.matmulfree.matmulfree_lm", config=mf, workload=f"matmulfree-{mf}"))
    add("vit-b16", "vit", "ViT-B/16 (Dosovitskiy et al. 2021)", "image", _vision_knobs(224, width=False, bn=False),
        _vision("models.workloads.vit.vit_b16"))
    add("resnet8", "kws", "ResNet8, MLPerf Tiny image classification (CIFAR-10)", "image",
        (BATCH, _dtype_knob("dtype", "fp16", "datatype"),
         _knob(name="training", kind="bool", default=False, description="a training step"), FOLD_BN),
        _vision("models.workloads.kws.resnet8"))
    add("ds-cnn", "kws", "DS-CNN keyword spotting, MLPerf Tiny", "utterance",
        (BATCH, _dtype_knob("dtype", "fp16", "datatype"),
         _knob(name="training", kind="bool", default=False, description="a training step"), FOLD_BN),
        _vision("models.workloads.kws.ds_cnn"))
    add("tdnn-xvector", "speech", "x-vector TDNN speaker embedding (Snyder et al. 2018)", "utterance",
        (BATCH, _knob(name="frames", kind="int", default=300, low=16, high=100000, unit="frames",
                     description="input frames (10 ms each)"),
         _dtype_knob("dtype", "fp16", "datatype"), FOLD_BN),
        _vision("models.workloads.tdnn.tdnn_xvector"))
    add("efficienttdnn", "speech", "EfficientTDNN supernet subnet (Wang et al. 2022; depth, width, kernel per block; "
        "defaults: the largest subnet)", "utterance", _EFFICIENT_TDNN_KNOBS, _efficient_tdnn)
    for v in ("M3", "M5", "M7", "M11", "XL"):
        for scale in (2, 4):
            add(f"sesr-{v.lower()}-x{scale}", "sr", f"SESR-{v} x{scale} super-resolution (Bhardwaj et al. 2022)",
                "image",
                (BATCH,
                 _knob(name="lr_height", kind="int", default=1080, low=8, high=8640, unit="px",
                      description="low-resolution input height"),
                 _knob(name="lr_width", kind="int", default=1920, low=8, high=15360, unit="px",
                      description="low-resolution input width"),
                 _dtype_knob("dtype", "fp16", "datatype")),
                _vision("models.workloads.sesr.sesr", variant=v, scale=scale))
    for scale in (2, 4):  # the prior SR model SESR is compared with (models.workloads.sesr.fsrcnn)
        add(f"fsrcnn-x{scale}", "sr", f"FSRCNN(56, 12, 4) x{scale} super-resolution (Dong et al. 2016)", "image",
            (BATCH,
             _knob(name="lr_height", kind="int", default=1080, low=8, high=8640, unit="px",
                   description="low-resolution input height"),
             _knob(name="lr_width", kind="int", default=1920, low=8, high=15360, unit="px",
                   description="low-resolution input width"),
             _dtype_knob("dtype", "fp16", "datatype")),
            _vision("models.workloads.sesr.fsrcnn", scale=scale))

    def size(name: str, default: int, desc: str, high: int = 1 << 24, low: int = 1) -> Param:
        return _knob(name=name, kind="int", default=default, low=low, high=high, unit="count", log=True,
                     description=desc)

    add("gemm", "kernel", "One GEMM C[m, n] = A[m, k] W[k, n] with weights W", "gemm",
        (size("m", 1, "output rows (tokens x batch; 1: a GEMV)"), size("n", 4096, "output columns"),
         size("k", 4096, "reduction length"), _dtype_knob("dtype", "fp16", "datatype of the activations"),
         _dtype_knob("weight_dtype", "fp16", "datatype of the weights")),
        _vision("models.workloads.micro.gemm_workload"))
    add("attention", "kernel", "One self-attention call (QK^T, softmax, PV)", "call",
        (BATCH, size("n_heads", 16, "query heads", 4096),
         _knob(name="n_kv_heads", kind="int", default=0, low=0, high=4096, unit="count",
               description="K/V heads (0: as many as query heads; fewer: GQA)"),
         size("seq_len", 2048, "tokens (queries = keys)", 1 << 22), size("head_dim", 128, "head dimension", 1024),
         _knob(name="causal", kind="bool", default=False, description="causal mask (half the scores)"),
         _dtype_knob("dtype", "fp16", "datatype of Q, K, V and O")),
        _vision("models.workloads.micro.attention_workload"))
    add("softmax", "kernel", "Row softmaxes (fused: one read, one write); softmax_variant sets the passes", "call",
        (size("rows", 1, "independent softmaxes", 1 << 30), size("n_elements", 1 << 16, "elements per softmax",
                                                                  1 << 40),
         _dtype_knob("dtype", "fp32", "datatype")),
        _vision("models.workloads.micro.softmax_workload"))
    add("group-conv", "kernel", "One group convolution channels -> channels (E2GC group size)", "layer",
        (BATCH, size("channels", 256, "input = output channels", 1 << 16), size("h_out", 28, "output height", 8192),
         size("w_out", 28, "output width", 8192),
         _knob(name="group_size", kind="int", default=1, low=1, high=1 << 16, unit="count", log=True, structural=True,
               description="channels per group (1: depthwise)"),
         size("kernel", 3, "kernel side", 15), size("stride", 1, "stride", 8),
         _dtype_knob("dtype", "fp16", "datatype"),
         _knob(name="training", kind="bool", default=False,
               description="a training step of the layer (forward, weight gradient, SGD update; a lone first layer "
                           "has no input gradient)")),
        _vision("models.workloads.micro.group_conv_workload"))
    # AnimateDiff (SD1.5 UNet + motion modules) with the Streamlined Inference knobs (Zhan et al. 2024)
    add("animatediff-sd15", "diffusion", "AnimateDiff video diffusion on the SD1.5 UNet, denoising loop "
        "(models.workloads.video_diffusion); feature slicing, operator grouping, step rehash", "video",
        (_knob(name="batch", kind="int", default=1, low=1, high=64, unit="count", description="videos per run"),
         _knob(name="frames", kind="int", default=16, low=1, high=65536, unit="frames", description="frames per video"),
         _knob(name="height", kind="int", default=512, low=64, high=4096, unit="px",
               description="output height (a multiple of 64)"),
         _knob(name="width", kind="int", default=512, low=64, high=4096, unit="px",
               description="output width (a multiple of 64)"),
         _knob(name="steps", kind="int", default=25, low=1, high=1000, unit="count", description="denoising steps"),
         _knob(name="cfg", kind="bool", default=True,
               description="classifier-free guidance (conditional and unconditional batch together: x2)"),
         _dtype_knob("dtype", "fp16", "datatype of weights and activations"),
         _knob(name="feature_slices", kind="int", default=1, low=1, high=1024, unit="count", log=True,
               description="Feature Slicer: slices of the frame batch processed at a time (<= frames); same "
                           "FLOPs, weights re-read per slice"),
         _knob(name="operator_grouping", kind="bool", default=False,
               description="Operator Grouping: each block runs slice by slice, only its input and output are "
                           "full tensors (peak memory)"),
         _knob(name="step_rehash", kind="float", default=0.0, low=0.0, high=1.0, unit="1",
               description="Step Rehash: fraction of the steps (< 1) that reuse the deep features (deep blocks "
                           "skipped)"),
         _knob(name="clip_devices", kind="int", default=1, low=1, high=4096, unit="count", structural=True,
               description="Video-Infinity clip parallelism: devices that each denoise ceil(frames / N) frames and "
                           "exchange temporal context on the interconnect"),
         _knob(name="local_context_frames", kind="int", default=8, low=0, high=1024, unit="frames",
               description="clip parallelism: frames of keys and values taken from each neighbouring clip "
                           "(Video-Infinity: 8)"),
         _knob(name="global_context_frames", kind="int", default=16, low=0, high=4096, unit="frames",
               description="clip parallelism: frames sampled from every clip, seen by all (Video-Infinity: 16)")),
        _vision("models.workloads.video_diffusion.animatediff"))
    return specs


def available_workloads() -> list[str]:
    """Names of every workload."""
    return list(_specs())


def _onnx_spec(path: str) -> WorkloadSpec:
    """The spec of an ONNX graph file: batch (when symbolic), dtype (the graph's) and fold_bn."""
    from models.workloads.onnx_import import read_onnx

    info = read_onnx(path)  # validates the file; errors name it
    batch = BATCH if info.batch_symbols else _knob(
        name="batch", kind="int", default=info.fixed_batch or 1, low=1, high=65536, unit="count", log=True,
        description="samples per run (fixed by this graph's inputs)")

    def build(*, batch: Any, dtype: str, fold_bn: Any) -> OperatorTable:
        from models.workloads.onnx_import import onnx_workload

        return onnx_workload(path, batch=batch, dtype=dtype, fold_bn=bool(np.all(fold_bn))).table

    return WorkloadSpec(name=path, family="onnx", item_name="sample",
                        description=f"ONNX graph {path} ({info.n_nodes} nodes, {info.dtype})",
                        knobs=(batch, _dtype_knob("dtype", info.dtype, "datatype of weights and activations "
                                                                      "(default: the graph's)"), FOLD_BN),
                        builder=build)


def is_shipped(spec: WorkloadSpec) -> bool:
    """Whether ``spec`` is a shipped workload's own spec (not a user's config file or ONNX graph,
    which may change on disk between calls)."""
    return _specs().get(spec.name) is spec


def workload_spec(name: str) -> WorkloadSpec:
    """The spec of a named workload, of a user's Hugging Face ``config.json`` given by path
    (a file, or a folder holding one), or of an ONNX graph (a path ending in ``.onnx``); a
    clear error listing the names otherwise."""
    specs = _specs()
    if name in specs:
        return specs[name]
    from models.workloads.onnx_import import is_onnx_path

    if is_onnx_path(name):
        return _onnx_spec(name)
    path = Path(name)
    try:
        is_config = path.is_file() or (path.is_dir() and (path / "config.json").is_file())
    except (OSError, ValueError):  # a name too long for a path, or holding a NUL byte: not a file
        is_config = False
    if is_config:
        from models.workloads.llm import load_llm_config

        cfg = load_llm_config(path)  # validates the config; errors name the field
        return WorkloadSpec(name=str(path), family="llm", item_name="token",
                            description=f"decoder LLM from {path} ({cfg.family})"
                            + "".join(f"; note: {n}" for n in cfg.notes),
                            knobs=_LLM_KNOBS, builder=_llm_builder(str(path)))
    raise KeyError(f"unknown workload {name!r}{did_you_mean(name, specs)}; available: {', '.join(specs)}, "
                   "or a path to a Hugging Face config.json or an .onnx file")


def build_workload(name: str, **knobs: Any) -> OperatorTable:
    """Build a named workload's operator table; knobs not given take their defaults."""
    return workload_spec(name).build(**knobs)
