"""Workload builders and algorithm knobs a design space can name.

A *workload builder* is ``callable(**knobs) -> OperatorTable`` whose numeric knobs may be
arrays over design points (the builder must stay vectorized) and whose string knobs
(datatypes) are scalars. A *knob handler* is an algorithm knob: either passed straight to the
builder (``builder_kwarg``) or applied to a built table (``apply(table, target, values)``).

The registries are plain dicts filled at first use (no side effects at import); other
modules add entries with :func:`register_workload` and :func:`register_knob`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from models.hardware.dtypes import DTYPE_BITS, DTYPES
from models.workloads import OperatorTable, attention_op, elementwise, gemm, norm, table_from_ops

__all__ = [
    "KnobHandler",
    "WorkloadSpec",
    "available_workloads",
    "dtype_error_proxy",
    "get_knob",
    "get_workload",
    "knob_handlers",
    "register_knob",
    "register_workload",
]

Builder = Callable[..., OperatorTable]


@dataclass(frozen=True, kw_only=True)
class WorkloadSpec:
    """A registered workload builder.

    Attributes
    ----------
    name
        Registry name (``"llama-2-7b"``).
    build
        ``build(**knobs) -> OperatorTable``; numeric knobs may be ``(n_points,)`` arrays.
    knobs
        Numeric knob name -> default value.
    dtype_knobs
        Datatype knob name -> default datatype (scalar per call; a design space varies them
        as structural categoricals).
    item_name
        What one item of ``n_items`` is (``"token"``, ``"sample"``).
    """

    name: str
    build: Builder
    knobs: Mapping[str, float]
    dtype_knobs: Mapping[str, str] = field(default_factory=dict)
    item_name: str = "run"
    description: str = ""


@dataclass(frozen=True, kw_only=True)
class KnobHandler:
    """An algorithm knob.

    Attributes
    ----------
    name
        Knob name as used in ``sets = "algorithm.<name>"``.
    kind
        ``"categorical"``, ``"int"``, ``"float"`` or ``"bool"``.
    choices
        Allowed values for categorical knobs.
    structural
        True when the knob changes the operator table's structure (datatypes, strategies):
        points are grouped by it and it is applied with a scalar value.
    builder_kwarg
        If set, the value is passed to the workload builder under this keyword.
    apply
        ``apply(table, target, values) -> table`` for knobs that reshape a built table.
    error_proxy
        ``error_proxy(values) -> ndarray``: contribution to the accuracy-loss proxy.
    """

    name: str
    kind: str
    choices: tuple[Any, ...] = ()
    structural: bool = True
    builder_kwarg: str | None = None
    apply: Callable[..., OperatorTable] | None = None
    error_proxy: Callable[[Any], np.ndarray] | None = None
    description: str = ""


_WORKLOADS: dict[str, WorkloadSpec] = {}
_KNOBS: dict[str, KnobHandler] = {}
_LOADED = False


def register_workload(spec: WorkloadSpec) -> None:
    """Add (or replace) a workload builder."""
    _WORKLOADS[spec.name] = spec


def register_knob(handler: KnobHandler) -> None:
    """Add (or replace) an algorithm knob."""
    _KNOBS[handler.name] = handler


# ---------------------------------------------------------------------------------- proxies
# Effective precision bits: significand bits (incl. the implicit one) for floats, magnitude
# bits (sign excluded) for integers. Derived from the IEEE 754 / OCP MX formats: fp32 23+1,
# tf32 10+1, bf16 7+1, fp16 10+1, fp8 e4m3 3+1, fp6 e2m3 3+1, fp4 e2m1 1+1.
_PRECISION_BITS = {
    "fp64": 53,
    "fp32": 24,
    "tf32": 11,
    "bf16": 8,
    "fp16": 11,
    "fp8": 4,
    "fp6": 4,
    "fp4": 2,
    "int32": 31,
    "int16": 15,
    "int8": 7,
    "int4": 3,
    "int2": 1,
    "int1": 1,
}


def dtype_error_proxy(dtypes: Any) -> np.ndarray:
    """Relative RMS rounding error of a datatype, ``2**-p / sqrt(3)`` for ``p`` precision bits.

    derived: a uniform rounding error of half a unit in the last place, ``U(-u/2, u/2)`` with
    ``u = 2**(1-p)``, has RMS ``u / sqrt(12) = 2**-p / sqrt(3)``. A proxy for accuracy loss,
    comparable across formats, not a predicted accuracy.
    """
    arr = np.atleast_1d(np.asarray(dtypes))
    bits = np.array([_PRECISION_BITS[str(d)] for d in arr.ravel()], dtype=np.float64).reshape(
        arr.shape
    )
    return 2.0**-bits / np.sqrt(3.0)


# ---------------------------------------------------------------------------------- builders
def _mlp(
    *,
    batch: Any = 1.0,
    width: Any = 1024.0,
    n_layers: Any = 4.0,
    weight_dtype: str = "bf16",
    act_dtype: str = "bf16",
) -> OperatorTable:
    """Synthetic MLP: ``n_layers`` square GEMMs of ``width`` with a norm and an activation."""
    b, w, nl = (np.asarray(x, dtype=np.float64) for x in (batch, width, n_layers))
    ops = [
        gemm("fc", b, w, w, dtype=act_dtype, weight_dtype=weight_dtype, count=nl),
        norm("norm", b, w, dtype=act_dtype, count=nl),
        elementwise("act", b * w, dtype=act_dtype, count=nl),
    ]
    return table_from_ops(
        ops,
        workload="mlp",
        n_items=b,
        item_name="sample",
        knobs={"batch": b, "width": w, "n_layers": nl},
    )


def _decoder(
    *,
    batch: Any = 1.0,
    prompt_len: Any = 2048.0,
    n_generated: Any = 256.0,
    d_model: float = 4096.0,
    d_ff: float = 11008.0,
    n_layers: float = 32.0,
    n_heads: float = 32.0,
    vocab: float = 32000.0,
    weight_dtype: str = "bf16",
    act_dtype: str = "bf16",
    kv_dtype: str | None = None,
    name: str = "decoder",
) -> OperatorTable:
    """Stand-in decoder LLM (prefill ``prompt_len`` + decode ``n_generated``), Llama-shaped.

    Decode is priced at the mean KV length ``prompt_len + n_generated / 2`` with a count of
    ``n_layers x n_generated`` per operator (the KV length grows linearly, so the mean gives the
    exact sum of attention FLOP and KV bytes).
    """
    b, p, g = (np.asarray(x, dtype=np.float64) for x in (batch, prompt_len, n_generated))
    kvd = kv_dtype or act_dtype
    hd = d_model / n_heads
    ops = []
    for ph, m, q, kv, cnt in (
        ("prefill", b * p, p, p, n_layers),
        ("decode", b, 1.0, p + g / 2.0, n_layers * g),
    ):
        dec = ph == "decode"
        ops += [
            gemm(
                f"{ph}.qkv",
                m,
                3 * d_model,
                d_model,
                dtype=act_dtype,
                weight_dtype=weight_dtype,
                count=cnt,
                phase=ph,
            ),
            attention_op(
                f"{ph}.attention",
                b,
                n_heads,
                q,
                kv,
                hd,
                causal=not dec,
                dtype=act_dtype,
                kv_dtype=kvd,
                count=cnt,
                phase=ph,
                kv_in_cache=dec,
            ),
            gemm(
                f"{ph}.o_proj",
                m,
                d_model,
                d_model,
                dtype=act_dtype,
                weight_dtype=weight_dtype,
                count=cnt,
                phase=ph,
            ),
            gemm(
                f"{ph}.gate_up",
                m,
                2 * d_ff,
                d_model,
                dtype=act_dtype,
                weight_dtype=weight_dtype,
                count=cnt,
                phase=ph,
            ),
            gemm(
                f"{ph}.down",
                m,
                d_model,
                d_ff,
                dtype=act_dtype,
                weight_dtype=weight_dtype,
                count=cnt,
                phase=ph,
            ),
            norm(f"{ph}.rmsnorm", m, d_model, dtype=act_dtype, count=2 * cnt, phase=ph),
            elementwise(
                f"{ph}.silu_mul", m * d_ff, dtype=act_dtype, n_inputs=2, count=cnt, phase=ph
            ),
            gemm(
                f"{ph}.lm_head",
                b,
                vocab,
                d_model,
                dtype=act_dtype,
                weight_dtype=weight_dtype,
                count=g if dec else 1.0,
                phase=ph,
            ),
        ]
    t = table_from_ops(
        ops,
        workload=name,
        n_items=b * g,
        item_name="token",
        knobs={"batch": b, "prompt_len": p, "n_generated": g},
    )
    # peak memory: weights + KV cache at the end of decode + one layer's activations
    bits_w, bits_kv = DTYPE_BITS[weight_dtype] / 8, DTYPE_BITS[kvd] / 8
    weights = (
        n_layers * (4 * d_model * d_model + 3 * d_model * d_ff) + 2 * vocab * d_model
    ) * bits_w
    kv_B = 2 * n_layers * b * (p + g) * d_model * bits_kv
    act = b * p * (3 * d_model + 2 * d_ff) * DTYPE_BITS[act_dtype] / 8
    from dataclasses import replace

    return replace(
        t,
        peak_memory_B={
            "prefill": weights + 2 * n_layers * b * p * d_model * bits_kv + act,
            "decode": weights + kv_B,
        },
    )


def _llama_from_llm(cfg_name: str) -> Builder:
    def build(
        *,
        batch: Any = 1.0,
        prompt_len: Any = 2048.0,
        n_generated: Any = 256.0,
        weight_dtype: str = "bf16",
        act_dtype: str = "bf16",
        kv_dtype: str | None = None,
    ) -> OperatorTable:
        from models.workloads import llm  # type: ignore[attr-defined]

        cfg = llm.load_llm_config(cfg_name)
        return llm.llm_inference(
            cfg,
            batch,
            prompt_len,
            n_generated,
            weight_dtype=weight_dtype,
            act_dtype=act_dtype,
            kv_dtype=kv_dtype or act_dtype,
        )

    return build


def _have_llm() -> bool:
    import importlib.util

    return importlib.util.find_spec("models.workloads.llm") is not None


def _load_defaults() -> None:
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    dt = {"weight_dtype": "bf16", "act_dtype": "bf16"}
    _WORKLOADS.setdefault(
        "mlp",
        WorkloadSpec(
            name="mlp",
            build=_mlp,
            knobs={"batch": 1.0, "width": 1024.0, "n_layers": 4.0},
            dtype_knobs=dt,
            item_name="sample",
            description="synthetic MLP of square GEMMs (tests and examples)",
        ),
    )
    _WORKLOADS.setdefault(
        "decoder-7b-synthetic",
        WorkloadSpec(
            name="decoder-7b-synthetic",
            build=_decoder,
            knobs={"batch": 1.0, "prompt_len": 2048.0, "n_generated": 256.0},
            dtype_knobs={**dt, "kv_dtype": "bf16"},
            item_name="token",
            description="Llama-2-7B-shaped stand-in decoder built from models.workloads.ops "
            "(d_model 4096, d_ff 11008, 32 layers, 32 heads, vocab 32000: Llama 2 paper, Table 1/config.json)",
        ),
    )
    if _have_llm():
        for cfg in ("llama-2-7b", "llama-2-13b", "llama-2-70b", "llama-3-8b"):
            try:
                from models.workloads import llm  # type: ignore[attr-defined]

                llm.load_llm_config(cfg)
            except Exception:  # noqa: BLE001 - a config not shipped is simply not registered
                continue
            _WORKLOADS.setdefault(
                cfg,
                WorkloadSpec(
                    name=cfg,
                    build=_llama_from_llm(cfg),
                    knobs={"batch": 1.0, "prompt_len": 2048.0, "n_generated": 256.0},
                    dtype_knobs={**dt, "kv_dtype": "bf16"},
                    item_name="token",
                    description=f"{cfg} from models.workloads.llm",
                ),
            )
    for name in ("weight_dtype", "act_dtype", "kv_dtype"):
        _KNOBS.setdefault(
            name,
            KnobHandler(
                name=name,
                kind="categorical",
                choices=DTYPES,
                structural=True,
                builder_kwarg=name,
                error_proxy=dtype_error_proxy,
                description=f"datatype of {name.split('_')[0]} tensors (passed to the workload builder)",
            ),
        )
    _register_algorithm_modules()


def _register_algorithm_modules() -> None:
    """Hook for models.algorithms: a module exposing ``dse_knobs() -> list[KnobHandler]``."""
    import importlib
    import importlib.util

    for mod in ("models.algorithms.quant", "models.algorithms.lowbit_gemm"):
        try:
            if importlib.util.find_spec(mod) is None:
                continue
            m = importlib.import_module(mod)
        except Exception:  # noqa: BLE001 - an algorithm module that fails to import adds no knobs
            continue
        for h in getattr(m, "dse_knobs", lambda: [])():
            _KNOBS.setdefault(h.name, h)


def available_workloads() -> list[str]:
    """Names of the registered workload builders."""
    _load_defaults()
    return sorted(_WORKLOADS)


def get_workload(name: str) -> WorkloadSpec:
    """The registered workload ``name`` (KeyError naming the allowed ones)."""
    _load_defaults()
    if name not in _WORKLOADS:
        raise KeyError(f"unknown workload {name!r}; allowed: {', '.join(sorted(_WORKLOADS))}")
    return _WORKLOADS[name]


def knob_handlers() -> dict[str, KnobHandler]:
    """All registered algorithm knobs."""
    _load_defaults()
    return dict(_KNOBS)


def get_knob(name: str) -> KnobHandler:
    """The algorithm knob ``name`` (KeyError naming the allowed ones)."""
    _load_defaults()
    if name not in _KNOBS:
        raise KeyError(f"unknown algorithm knob {name!r}; allowed: {', '.join(sorted(_KNOBS))}")
    return _KNOBS[name]
