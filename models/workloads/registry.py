"""Every named workload with its knobs: one place for the CLI, the dashboard and design spaces.

A :class:`WorkloadSpec` names a builder and declares its knobs once (kind, default, bounds or
choices, unit, log flag). ``build_workload(name, **knobs)`` checks the knobs and calls the
builder; numeric knobs may be arrays over design points.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from models.hardware.dtypes import DTYPES
from models.workloads.table import OperatorTable

__all__ = ["Knob", "WorkloadSpec", "available_workloads", "build_workload", "parse_knob", "workload_spec"]


@dataclass(frozen=True, kw_only=True)
class Knob:
    """One workload knob. ``kind`` is ``int``, ``float``, ``choice`` or ``bool``."""

    name: str
    kind: str
    default: Any
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    unit: str = ""
    log: bool = False
    description: str = ""

    def check(self, value: Any) -> Any:
        """Validate a scalar or an array; return it converted. Errors name the knob."""
        if self.kind == "choice":
            if value not in self.choices:
                raise ValueError(f"knob {self.name!r}: got {value!r}; allowed: {', '.join(self.choices)}")
            return value
        if self.kind == "bool":
            if isinstance(value, bool):
                return value
            raise ValueError(f"knob {self.name!r}: got {value!r}; allowed: true or false")
        a = np.asarray(value, dtype=np.float64)
        if a.size == 0 or not np.all(np.isfinite(a)):
            raise ValueError(f"knob {self.name!r}: got {value!r}; a finite number is required")
        lo, hi = self.low, self.high
        if (lo is not None and np.any(a < lo)) or (hi is not None and np.any(a > hi)):
            raise ValueError(f"knob {self.name!r}: got {value!r}; allowed: [{lo:g}, {hi:g}] {self.unit}".rstrip())
        if self.kind == "int" and np.any(a != np.round(a)):
            raise ValueError(f"knob {self.name!r}: got {value!r}; an integer is required")
        if a.ndim:
            return a
        return int(a) if self.kind == "int" else float(a)


@dataclass(frozen=True, kw_only=True)
class WorkloadSpec:
    """A named workload: family, description, knobs and the builder."""

    name: str
    family: str
    description: str
    item_name: str
    knobs: tuple[Knob, ...]
    builder: Callable[..., OperatorTable]

    def knob(self, name: str) -> Knob:
        for k in self.knobs:
            if k.name == name:
                return k
        raise KeyError(f"workload {self.name!r} has no knob {name!r}; knobs: {', '.join(k.name for k in self.knobs)}")

    def defaults(self) -> dict[str, Any]:
        return {k.name: k.default for k in self.knobs}

    def build(self, **knobs: Any) -> OperatorTable:
        values = self.defaults()
        for name, v in knobs.items():
            values[name] = self.knob(name).check(v)
        return self.builder(**values)


def parse_knob(spec: WorkloadSpec, text: str) -> tuple[str, Any]:
    """Parse ``"name=value"`` from the command line into a typed knob value."""
    if "=" not in text:
        raise ValueError(f"--set {text!r}: expected NAME=VALUE; knobs: {', '.join(k.name for k in spec.knobs)}")
    name, raw = (s.strip() for s in text.split("=", 1))
    k = spec.knob(name)
    if k.kind == "choice":
        return name, k.check(raw)
    if k.kind == "bool":
        if raw.lower() not in ("true", "false", "1", "0", "yes", "no"):
            raise ValueError(f"knob {name!r}: got {raw!r}; allowed: true or false")
        return name, raw.lower() in ("true", "1", "yes")
    try:
        v = float(raw)
    except ValueError:
        raise ValueError(f"knob {name!r}: got {raw!r}; a number is required") from None
    return name, k.check(v)


# ---------------------------------------------------------------------------------- knobs
def _dtype_knob(name: str, default: str, description: str) -> Knob:
    return Knob(name=name, kind="choice", default=default, choices=DTYPES, description=description)


BATCH = Knob(name="batch", kind="int", default=1, low=1, high=65536, unit="count", log=True,
             description="sequences or images per run")
_LLM_KNOBS = (
    BATCH,
    Knob(name="prompt_len", kind="int", default=2048, low=1, high=1 << 20, unit="tokens", log=True,
         description="prompt length (prefill) and decode start context"),
    Knob(name="n_generated", kind="int", default=256, low=1, high=1 << 20, unit="tokens", log=True,
         description="tokens generated per sequence (decode)"),
    Knob(name="phase", kind="choice", default="inference", choices=("inference", "prefill", "decode"),
         description="prefill + decode, or one of them"),
    _dtype_knob("weight_dtype", "bf16", "weight datatype"),
    _dtype_knob("act_dtype", "bf16", "activation datatype"),
    _dtype_knob("kv_dtype", "bf16", "KV-cache datatype"),
)


def _vision_knobs(resolution: int, res_low: int = 32, res_high: int = 4096, dtype: str = "fp16",
                  width: bool = True) -> tuple[Knob, ...]:
    ks = [BATCH,
          Knob(name="resolution", kind="int", default=resolution, low=res_low, high=res_high, unit="px",
               description="input image side")]
    if width:
        ks.append(Knob(name="width_mult", kind="float", default=1.0, low=0.125, high=8.0, unit="1", log=True,
                       description="channel width multiplier"))
    ks += [_dtype_knob("dtype", dtype, "datatype of weights and activations"),
           Knob(name="training", kind="bool", default=False,
                description="a training step (forward + backward + update) instead of inference")]
    return tuple(ks)


def _maybe_train(table: OperatorTable, training: bool) -> OperatorTable:
    if not training:
        return table
    from models.workloads.training import training_step

    return training_step(table)


def _llm_builder(config: str) -> Callable[..., OperatorTable]:
    def build(*, batch: Any, prompt_len: Any, n_generated: Any, phase: str, weight_dtype: str,
              act_dtype: str, kv_dtype: str) -> OperatorTable:
        from models.workloads.llm import llm_decode, llm_inference, llm_prefill, load_llm_config

        cfg = load_llm_config(config)
        kw = dict(weight_dtype=weight_dtype, act_dtype=act_dtype, kv_dtype=kv_dtype)
        if phase == "prefill":
            return llm_prefill(cfg, batch, prompt_len, **kw)
        if phase == "decode":
            return llm_decode(cfg, batch, prompt_len, n_generated, **kw)
        return llm_inference(cfg, batch, prompt_len, n_generated, **kw)

    return build


def _vision(fn_path: str, **fixed: Any) -> Callable[..., OperatorTable]:
    def build(*, training: bool = False, **knobs: Any) -> OperatorTable:
        import importlib

        mod, fn = fn_path.rsplit(".", 1)
        f = getattr(importlib.import_module(mod), fn)
        return _maybe_train(f(**fixed, **knobs), training)

    return build


@cache
def _specs() -> dict[str, WorkloadSpec]:
    from models.workloads.llm import available_llms, load_llm_config

    specs: dict[str, WorkloadSpec] = {}
    for name in available_llms():
        cfg = load_llm_config(name)
        specs[name] = WorkloadSpec(
            name=name, family="llm", item_name="token",
            description=f"decoder LLM from data/workloads/{name}.json ({getattr(cfg, 'family', 'llm')})",
            knobs=_LLM_KNOBS, builder=_llm_builder(name))

    def add(name: str, family: str, desc: str, item: str, knobs: tuple[Knob, ...],
            builder: Callable[..., OperatorTable]) -> None:
        specs[name] = WorkloadSpec(name=name, family=family, description=desc, item_name=item, knobs=knobs,
                                   builder=builder)

    add("resnet-18", "cnn", "ResNet-18 (He et al. 2016)", "image", _vision_knobs(224),
        _vision("models.workloads.cnn.resnet18"))
    add("resnet-50", "cnn", "ResNet-50 v1.5 (He et al. 2016)", "image", _vision_knobs(224),
        _vision("models.workloads.cnn.resnet50"))
    add("resnext-50-32x4d", "cnn", "ResNeXt-50 32x4d (Xie et al. 2017)", "image", _vision_knobs(224),
        _vision("models.workloads.cnn.resnext50_32x4d"))
    add("mobilenet-v1", "cnn", "MobileNet-V1 (Howard et al. 2017)", "image",
        (*_vision_knobs(224),
         Knob(name="group_size", kind="int", default=1, low=1, high=1024, unit="count", log=True,
              description="channels per group of each 3x3 conv (1: depthwise, the published net; "
                          "E2GC constant group size); must divide every layer's channels")),
        _vision("models.workloads.cnn.mobilenet_v1"))
    add("mobilenet-v2", "cnn", "MobileNet-V2 (Sandler et al. 2018)", "image", _vision_knobs(224),
        _vision("models.workloads.cnn.mobilenet_v2"))
    for rn in ("regnetx-200mf", "regnetx-400mf", "regnetx-800mf", "regnetx-1.6gf"):
        add(rn, "cnn", f"{rn.upper()} (Radosavovic et al. 2020)", "image", _vision_knobs(224, width=False),
            _vision("models.workloads.anynet.regnetx", name=rn))
    add("vit-b16", "vit", "ViT-B/16 (Dosovitskiy et al. 2021)", "image", _vision_knobs(224, width=False),
        _vision("models.workloads.vit.vit_b16"))
    add("resnet8", "kws", "ResNet8, MLPerf Tiny image classification (CIFAR-10)", "image",
        (BATCH, _dtype_knob("dtype", "fp16", "datatype"),
         Knob(name="training", kind="bool", default=False, description="a training step")),
        _vision("models.workloads.kws.resnet8"))
    add("ds-cnn", "kws", "DS-CNN keyword spotting, MLPerf Tiny", "utterance",
        (BATCH, _dtype_knob("dtype", "fp16", "datatype"),
         Knob(name="training", kind="bool", default=False, description="a training step")),
        _vision("models.workloads.kws.ds_cnn"))
    add("tdnn-xvector", "speech", "x-vector TDNN speaker embedding (Snyder et al. 2018)", "utterance",
        (BATCH, Knob(name="frames", kind="int", default=300, low=16, high=100000, unit="frames",
                     description="input frames (10 ms each)"),
         _dtype_knob("dtype", "fp16", "datatype")),
        _vision("models.workloads.tdnn.tdnn_xvector"))
    for v in ("M3", "M5", "M7", "M11", "XL"):
        for scale in (2, 4):
            add(f"sesr-{v.lower()}-x{scale}", "sr", f"SESR-{v} x{scale} super-resolution (Bhardwaj et al. 2022)",
                "image",
                (BATCH,
                 Knob(name="lr_height", kind="int", default=1080, low=8, high=8640, unit="px",
                      description="low-resolution input height"),
                 Knob(name="lr_width", kind="int", default=1920, low=8, high=15360, unit="px",
                      description="low-resolution input width"),
                 _dtype_knob("dtype", "fp16", "datatype")),
                _vision("models.workloads.sesr.sesr", variant=v, scale=scale))
    return specs


def available_workloads() -> list[str]:
    """Names of every workload."""
    return list(_specs())


def workload_spec(name: str) -> WorkloadSpec:
    """The spec of a named workload, or of a user's Hugging Face ``config.json`` given by path
    (a file, or a folder holding one); a clear error listing the names otherwise."""
    specs = _specs()
    if name in specs:
        return specs[name]
    path = Path(name)
    if path.is_file() or (path.is_dir() and (path / "config.json").is_file()):
        from models.workloads.llm import load_llm_config

        cfg = load_llm_config(path)  # validates the config; errors name the field
        return WorkloadSpec(name=str(path), family="llm", item_name="token",
                            description=f"decoder LLM from {path} ({cfg.family})",
                            knobs=_LLM_KNOBS, builder=_llm_builder(str(path)))
    raise KeyError(f"unknown workload {name!r}; available: {', '.join(specs)}, "
                   "or a path to a Hugging Face config.json")


def build_workload(name: str, **knobs: Any) -> OperatorTable:
    """Build a named workload's operator table; knobs not given take their defaults."""
    return workload_spec(name).build(**knobs)


def knob_table() -> Mapping[str, tuple[Knob, ...]]:
    """Knobs of every workload (for documentation and the dashboard)."""
    return {n: s.knobs for n, s in _specs().items()}
