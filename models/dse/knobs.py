"""Algorithm knobs of a design space (``sets = "algorithm.<name>"``), declared once.

Each :class:`KnobHandler` declares its kind, choices or bounds, default, unit, log flag and
description; the same declaration validates design spaces, gives a parameter its default unit
and log flag, and bounds the dashboard's widgets and Optuna's search. The knobs are priced by
the public functions of :mod:`models.algorithms`; :func:`apply_knobs` applies a group's values
to its operator table in a fixed order:

1. ``scaling_strategy`` / ``scaling_factor`` / ``scaling_alpha`` (RegNetX workloads): the net
   is rebuilt with :func:`models.algorithms.scale_anynet` (Dollar et al. 2021, pycls rounding).
2. ``weight_format`` / ``act_format`` / ``kv_format`` and ``gemm_strategy``: bytes and datatypes
   from :func:`models.algorithms.apply_quant` (``dequant`` or ``native``); with an explicit
   ``gemm_strategy`` every weight-bearing GEMM/GEMV row is repriced by
   :func:`models.algorithms.price_gemm` (vectorized over rows and points): its FLOPs and
   datatype become the strategy's main work, and its extra work (dequantization, table
   precompute, scales, recombination) becomes one ``elementwise`` row per extra datatype.
3. ``attention_tiling`` / ``attention_sram_B``: self-attention rows (prefill / forward; decode
   rows read a KV cache and are left as built) move the DRAM bytes of
   :func:`models.algorithms.standard_attention` or :func:`models.algorithms.flash_attention`.
4. ``softmax_variant``: one ``softmax`` row per attention row, with the pass structure of
   :func:`models.algorithms.softmax_counts` over the score matrix (fp32). With standard
   tiling the scores live in main memory; otherwise they stay on chip.

The accuracy-loss proxy (``error_proxy``) is the sum of the relative L2 errors
(:func:`models.algorithms.quant_error`, seeded, cached) of the weight, activation and (where
the table has a KV cache) KV formats in effect, whether set by a format knob or by a datatype.

The ``*_dtype`` knobs are kept for older spaces: they are passed to the workload builder.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from models.hardware.dtypes import DTYPE_BITS, DTYPES

__all__ = [
    "ATTENTION_TILINGS",
    "FORMAT_CHOICES",
    "KnobHandler",
    "apply_knobs",
    "error_proxy_of_formats",
    "format_of_dtype",
    "get_knob",
    "knob_handlers",
    "register_knob",
]

ATTENTION_TILINGS = ("fused", "standard", "flash1", "flash2")
# A curated set of registry names of models.algorithms.quant (each divides the error proxy's
# 16384-element tensor and the usual GEMM reductions).
FORMAT_CHOICES = (
    "fp32", "fp16", "bf16", "fp8_e4m3", "fp8_e5m2", "fp6", "fp6_e2m3", "fp4",
    "mxfp8", "mxfp6", "mxfp4", "mxint8", "nf4",
    "int8", "int4", "int3", "int2", "ternary", "binary",
    "int8-g128", "int4-g128", "int4-g64", "int4-g32", "int4-g128-zp", "int3-g128", "int2-g64",
    "bfp16", "bfp12",
)  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class KnobHandler:
    """The declaration of one algorithm knob.

    Attributes
    ----------
    name
        As in ``sets = "algorithm.<name>"``.
    kind
        ``"categorical"``, ``"int"``, ``"float"`` or ``"bool"``.
    choices
        Allowed values (categorical).
    low, high
        Allowed range in SI (numeric).
    default
        Value when the space does not set the knob (``None``: the table is left as built).
    unit
        Display unit (SI unit of the bounds; ``"1"`` dimensionless).
    log
        Sample and grid on a log scale by default.
    structural
        True when the knob changes the table's structure (datatypes, rows): points are grouped
        by it. Numeric non-structural knobs are vectorized over the workload rows.
    builder_kwarg
        If set, the value is passed to the workload builder under this keyword.
    applies_to
        What the knob acts on (documentation and error messages).
    """

    name: str
    kind: str
    choices: tuple[Any, ...] = ()
    low: float | None = None
    high: float | None = None
    default: Any = None
    unit: str = "1"
    log: bool = False
    structural: bool = True
    builder_kwarg: str | None = None
    applies_to: str = ""
    description: str = ""
    # kept for knobs registered by other modules: apply(table, target, value) -> table
    apply: Callable[..., Any] | None = None
    error_proxy: Callable[[Any], np.ndarray] | None = None

    def check(self, value: Any) -> Any:
        """Validate one value (or an array of them); errors name the knob and what is allowed."""
        if self.kind in ("categorical", "bool"):
            vals = value if isinstance(value, list | tuple | np.ndarray) else [value]
            for v in vals:
                if v not in self.choices:
                    raise ValueError(
                        f"algorithm knob {self.name!r}: got {v!r}; allowed: {', '.join(map(str, self.choices))}"
                    )
            return value
        a = np.asarray(value, dtype=np.float64)
        if a.size == 0 or not np.all(np.isfinite(a)):
            raise ValueError(f"algorithm knob {self.name!r}: got {value!r}; a finite number is required")
        if (self.low is not None and np.any(a < self.low)) or (self.high is not None and np.any(a > self.high)):
            raise ValueError(
                f"algorithm knob {self.name!r}: got {value!r}; allowed: [{self.low:g}, {self.high:g}] {self.unit}"
            )
        if self.kind == "int" and np.any(a != np.round(a)):
            raise ValueError(f"algorithm knob {self.name!r}: got {value!r}; an integer is required")
        return value


def _declarations() -> dict[str, KnobHandler]:
    from models.algorithms import SCALING_STRATEGIES, SOFTMAX_VARIANTS, STRATEGIES

    ks = [
        KnobHandler(
            name=f"{t}_dtype",
            kind="categorical",
            choices=DTYPES,
            builder_kwarg=f"{t}_dtype",
            applies_to="workloads with this datatype knob (LLMs)",
            description=f"datatype of the {what} (passed to the workload builder)",
        )
        for t, what in (("weight", "weights"), ("act", "activations"), ("kv", "KV cache"))
    ]
    ks += [
        KnobHandler(
            name=f"{t}_format",
            kind="categorical",
            choices=FORMAT_CHOICES,
            applies_to="every workload (models.algorithms.apply_quant)",
            description=f"storage format of the {what} (models.algorithms.quant registry name)",
        )
        for t, what in (("weight", "weights"), ("act", "activations"), ("kv", "KV cache"))
    ]
    ks += [
        KnobHandler(
            name="gemm_strategy",
            kind="categorical",
            choices=tuple(STRATEGIES),
            applies_to="weight-bearing GEMM/GEMV rows (models.algorithms.price_gemm)",
            description="mixed-precision GEMM kernel strategy: dequantize-then-GEMM, native "
            "low-bit units, T-MAC table lookup, bit-serial, MixPE per-group",
        ),
        KnobHandler(
            name="attention_tiling",
            kind="categorical",
            choices=ATTENTION_TILINGS,
            default="fused",
            applies_to="self-attention rows (prefill / forward)",
            description="fused: as built (compulsory traffic); standard: S and P through DRAM; "
            "flash1 / flash2: FlashAttention-1/2 tiling for attention_sram_B",
        ),
        KnobHandler(
            name="attention_sram_B",
            kind="float",
            low=4096.0,
            high=64.0 * 2**20,
            unit="B",
            log=True,
            structural=False,
            applies_to="attention_tiling = flash1 / flash2",
            description="on-chip memory per unit for FlashAttention tiles; default: the target's "
            "innermost memory level capacity / n_units of the engine that runs attention",
        ),
        KnobHandler(
            name="softmax_variant",
            kind="categorical",
            choices=tuple(SOFTMAX_VARIANTS),
            applies_to="attention rows (adds one softmax row over the fp32 scores)",
            description="softmax pass structure (models.algorithms.softmax)",
        ),
        KnobHandler(
            name="scaling_strategy",
            kind="categorical",
            choices=tuple(SCALING_STRATEGIES),
            default="fast",
            applies_to="regnetx-* workloads (models.algorithms.scale_anynet)",
            description="which of depth (d), width (w), resolution (r) grow with the flops",
        ),
        KnobHandler(
            name="scaling_factor",
            kind="float",
            low=1.0 / 16.0,
            high=64.0,
            default=1.0,
            log=True,
            structural=False,
            applies_to="regnetx-* workloads",
            description="flops scaling factor s of the base net",
        ),
        KnobHandler(
            name="scaling_alpha",
            kind="float",
            low=1.0 / 3.0,
            high=1.0,
            default=0.8,
            structural=False,
            applies_to="regnetx-* workloads with scaling_strategy = fast",
            description="fast compound scaling alpha (1/3: dwr, 1: w)",
        ),
    ]
    return {k.name: k for k in ks}


_KNOBS: dict[str, KnobHandler] = {}


def _load() -> dict[str, KnobHandler]:
    if not _KNOBS:
        for name, h in _declarations().items():
            _KNOBS.setdefault(name, h)
    return _KNOBS


def register_knob(handler: KnobHandler) -> None:
    """Add (or replace) an algorithm knob (its ``apply(table, target, value)`` is called after
    the built-in knobs)."""
    _load()[handler.name] = handler


def knob_handlers() -> dict[str, KnobHandler]:
    """Every algorithm knob, by name."""
    return dict(_load())


def get_knob(name: str) -> KnobHandler:
    """The algorithm knob ``name`` (KeyError naming the allowed ones)."""
    k = _load()
    if name not in k:
        raise KeyError(f"unknown algorithm knob {name!r}; allowed: {', '.join(sorted(k))}")
    return k[name]


# ---------------------------------------------------------------------------------- formats
def format_of_dtype(dtype: str) -> str:
    """The quant-format registry name of a hardware datatype (``fp8`` -> ``fp8_e4m3``)."""
    from models.algorithms import get_format

    try:
        return get_format(dtype).name
    except KeyError:
        # wider datatypes than the registry holds (fp64, tf32, int16, int32): fp32 is exact
        # enough for a proxy of quantization loss
        return "fp32"


def error_proxy_of_formats(weight: str, act: str, kv: str | None = None) -> float:
    """Sum of the relative L2 errors of the formats (:func:`models.algorithms.quant_error`)."""
    from models.algorithms import quant_error

    e = quant_error(weight).relative_error + quant_error(act).relative_error
    if kv is not None:
        e += quant_error(kv).relative_error
    return float(e)


def _first(meta_col: list[str], default: str) -> str:
    for d in meta_col:
        if d:
            return d
    return default


# ---------------------------------------------------------------------------------- applying
def apply_knobs(
    table: Any,
    *,
    workload: str,
    target: Any,
    builder_kw: Mapping[str, Any],
    values: Mapping[str, Any],
    n_rows: int,
) -> tuple[Any, np.ndarray]:
    """Apply algorithm knob ``values`` to ``table``; return it and the error proxy ``(n_rows,)``.

    Parameters
    ----------
    table
        The built :class:`~models.workloads.OperatorTable` (arrays ``(n_rows or 1, O)``).
    workload, target, builder_kw
        The workload name, the :class:`~models.hardware.Target` and the builder's knobs (the
        scaling knobs rebuild RegNetX nets with the same batch, resolution and datatype).
    values
        Knob name -> value (a scalar, or an ``(n_rows,)`` array for numeric knobs).
    """
    for k, v in values.items():
        get_knob(k).check(v)
    if any(k in values for k in ("scaling_strategy", "scaling_factor", "scaling_alpha")):
        table = _scale(workload, builder_kw, values)
    fmt_keys = ("weight_format", "act_format", "kv_format")
    meta = table.meta
    wf = values.get("weight_format") or format_of_dtype(_first(meta["weight_dtype"].to_list(), "bf16"))
    af = values.get("act_format") or format_of_dtype(_first(meta["act_dtype"].to_list(), "bf16"))
    has_kv = any(meta["kv_dtype"].to_list())
    kvf = values.get("kv_format") or (format_of_dtype(_first(meta["kv_dtype"].to_list(), "bf16")) if has_kv else af)
    if "kv_format" in values and not has_kv:
        raise ValueError(
            f"algorithm knob 'kv_format': workload {workload!r} has no KV cache; allowed only for decoder LLM workloads"
        )
    strategy = values.get("gemm_strategy")
    if any(k in values for k in fmt_keys) or strategy is not None:
        table = _quantize(table, wf, af, kvf, strategy, target)
    tiling = values.get("attention_tiling", "fused")
    variant = values.get("softmax_variant")
    if tiling != "fused" or variant is not None:
        table = _attention(table, target, tiling, values.get("attention_sram_B"), variant)
    for k, v in values.items():
        h = get_knob(k)
        if h.apply is not None:
            table = h.apply(table, target, v)
    err = error_proxy_of_formats(wf, af, kvf if has_kv else None)
    proxy = np.full(n_rows, err)
    for k, v in values.items():
        h = get_knob(k)
        if h.error_proxy is not None:
            proxy = proxy + np.broadcast_to(h.error_proxy(v), (n_rows,))
    return table, proxy


def _scale(workload: str, builder_kw: Mapping[str, Any], values: Mapping[str, Any]) -> Any:
    from models.algorithms import regnetx_base, scale_anynet

    if not workload.startswith("regnetx-"):
        bad = [k for k in ("scaling_strategy", "scaling_factor", "scaling_alpha") if k in values][0]
        raise ValueError(
            f"algorithm knob {bad!r}: workload {workload!r} cannot be scaled; allowed: the regnetx-* workloads"
        )
    d = {k: get_knob(k).default for k in ("scaling_strategy", "scaling_factor", "scaling_alpha")}
    d.update({k: v for k, v in values.items() if k in d})
    net = scale_anynet(
        *regnetx_base(workload), np.asarray(d["scaling_factor"], dtype=np.float64),
        str(d["scaling_strategy"]), np.asarray(d["scaling_alpha"], dtype=np.float64),
        resolution=builder_kw.get("resolution", 224), batch=builder_kw.get("batch", 1),
        dtype=str(builder_kw.get("dtype", "fp16")),
    )  # fmt: skip
    if builder_kw.get("training", False):
        from models.workloads.training import training_step

        return training_step(net.table)
    return net.table


def _quantize(table: Any, wf: str, af: str, kvf: str, strategy: str | None, target: Any) -> Any:
    from models.algorithms import QuantConfig, apply_quant, get_format, price_gemm
    from models.workloads import concat_tables

    cfg = QuantConfig(weight=get_format(wf), act=get_format(af), kv=get_format(kvf))
    base = strategy if strategy in ("dequant", "native") else "dequant"
    q = apply_quant(table, cfg, strategy=base, target=target, fallback=True)
    # apply_quant leaves peak_memory_B as built: swap the resident weights' bytes for the new
    # format's (n_params x effective bits)
    old_w = DTYPE_BITS[_first(table.meta["weight_dtype"].to_list(), "bf16")]
    d_w = table.total_params() * (cfg.weight.effective_bits - old_w) / 8.0
    q = replace(q, peak_memory_B={ph: np.asarray(v, dtype=np.float64) + d_w for ph, v in q.peak_memory_B.items()})
    if strategy is None:
        return q
    meta = q.meta
    kinds, wdts = meta["kind"].to_list(), meta["weight_dtype"].to_list()
    rows = np.array([k in ("gemm", "gemv") and bool(w) for k, w in zip(kinds, wdts, strict=True)])
    if not rows.any():
        return q
    a = q.arrays
    m, n, k = (a[f][:, rows] for f in ("m", "n", "k"))
    kw: dict[str, Any] = {"target": target, "fallback": True} if strategy == "native" else {}
    try:
        cost = price_gemm(strategy, m, n, k, cfg.weight, cfg.act, **kw)
    except (ValueError, KeyError) as exc:
        msg = exc.args[0] if exc.args else exc
        raise ValueError(
            f"algorithm knob 'gemm_strategy' = {strategy!r} with weight_format={wf!r}, act_format={af!r}: {msg}"
        ) from None
    mac = 2.0 * m * n * k
    flop = a["flop"][:, rows]
    scale = np.divide(flop, mac, out=np.zeros(np.broadcast(flop, mac).shape), where=mac > 0)
    (main_dt, main_op), *more = list(cost.op_by_dtype.items())
    if more:  # pragma: no cover - every strategy has one main datatype today
        raise ValueError(f"gemm_strategy {strategy!r}: several main datatypes {list(cost.op_by_dtype)}")
    main = scale * main_op
    R = max(a["flop"].shape[0], main.shape[0])
    new_flop = np.array(np.broadcast_to(a["flop"], (R, a["flop"].shape[1])))
    new_flop[:, rows] = main
    comp = meta["compute_dtype"].to_list()
    for i in np.flatnonzero(rows):
        comp[i] = main_dt
    acc = ["int32" if c.startswith("int") else "fp32" for c in comp]
    out = q.with_arrays(flop=new_flop).with_meta(compute_dtype=comp, acc_dtype=acc)
    extras = []
    sub = q.select(rows)
    for dt, op in cost.extra_op_by_dtype.items():
        zero = np.zeros_like(np.asarray(sub.arrays["flop"]))
        e = sub.with_arrays(
            flop=scale * op, k=np.ones_like(zero), n_params=zero, weight_read_B=zero,
            act_read_B=zero, act_write_B=zero, kv_read_B=zero, kv_write_B=zero, footprint_B=zero,
        ).with_meta(
            name=[f"{nm}[{strategy}:extra:{dt}]" for nm in sub.meta["name"].to_list()],
            kind="elementwise", compute_dtype=dt, weight_dtype="", act_dtype=dt, kv_dtype="",
            acc_dtype="int32" if dt.startswith("int") else "fp32",
        )  # fmt: skip
        extras.append(e)
    return concat_tables([out, *extras], workload=table.workload) if extras else out


def _default_sram_B(target: Any) -> float:
    inner = target.memories[0]
    for e in target.engines:
        if "attention" in e.runs:
            return float(inner.capacity_B) / max(float(e.n_units), 1.0)
    return float(inner.capacity_B)


def _attention(table: Any, target: Any, tiling: str, sram_B: Any, variant: str | None) -> Any:
    from models.algorithms import flash_attention, softmax_counts, standard_attention
    from models.algorithms.softmax import EXP_SLOTS, FLOP_PER_SLOT, default_write_allocate
    from models.workloads import concat_tables

    meta = table.meta
    att = (meta["kind"] == "attention").to_numpy()
    if not att.any():
        bad = "attention_tiling" if tiling != "fused" else "softmax_variant"
        raise ValueError(
            f"algorithm knob {bad!r}: workload {table.workload!r} has no attention rows; "
            "allowed on LLM and ViT workloads"
        )
    if variant == "fused_attention" and tiling == "standard":
        raise ValueError(
            "algorithm knobs 'softmax_variant' = 'fused_attention' and 'attention_tiling' = "
            "'standard' contradict each other (standard tiling writes the scores to DRAM)"
        )
    a = table.arrays
    R = max(v.shape[0] for v in a.values())
    if sram_B is not None and np.ndim(sram_B):
        R = max(R, int(np.size(sram_B)))
    a = {f: np.broadcast_to(v, (R, v.shape[1])) for f, v in a.items()}
    table = table.with_arrays(**{f: np.array(v) for f, v in a.items()})
    m, n, k, flop = (a[f] for f in ("m", "n", "k", "flop"))
    decode = np.all(a["kv_read_B"] > 0, axis=0)  # rows that read a KV cache (one query each)
    bits = np.array([DTYPE_BITS[d] if d else 16 for d in meta["act_dtype"].to_list()]) / 8.0
    causal = flop < 3.0 * m * n * k  # 4 m n k full, 2 m n k causal (models.workloads.ops)
    # self-attention rows: q_len = kv_len = n and m = batch x heads x q_len
    q_len = np.where(decode, 1.0, n)
    bh = m / q_len
    sa = att & ~decode
    new = {
        f: np.array(np.broadcast_to(a[f], np.broadcast_shapes(a[f].shape, m.shape)))
        for f in ("act_read_B", "act_write_B", "footprint_B")
    }
    score_home = "dram" if tiling == "standard" else "chip"
    tile_elems = np.zeros_like(m)
    if sa.any() and tiling != "fused":
        c = sa
        B, N, d, b = bh[:, c], q_len[:, c], k[:, c], bits[c]
        cz = causal[:, c]
        if tiling == "standard":
            st = standard_attention(B, 1.0, N, N, d, bytes_per_element=1.0)
            extra = (st.dram_B - st.compulsory_B) * b  # S and P written and read: 4 N^2 b per (batch, head)
            share = 0.5 if variant is not None else 1.0  # the softmax row moves S in, P out
            new["act_write_B"][:, c] += extra * share / 2.0
            new["act_read_B"][:, c] += extra * share / 2.0
            new["footprint_B"][:, c] += st.extra_memory_B * b
        else:
            sram = _default_sram_B(target) if sram_B is None else np.asarray(sram_B, dtype=np.float64)
            sram = np.atleast_1d(sram)[:, None]
            version = 1 if tiling == "flash1" else 2
            try:
                fl = flash_attention(B, 1.0, N, N, d, sram_B=sram, version=version,
                                     bytes_per_element=float(b.max()), causal=bool(cz.all()))
            except ValueError as exc:
                raise ValueError(f"algorithm knob 'attention_sram_B': {exc.args[0]}") from None
            new["act_read_B"][:, c] = fl.dram_B - new["act_write_B"][:, c]
            br, bcol = fl.block_rows, fl.block_cols
            tile_elems = np.zeros(np.broadcast_shapes(m.shape, br.shape))
            tile_elems[:, c] = br * bcol
    out = table.with_arrays(**new)
    if variant is None:
        return out
    cnt = softmax_counts(variant, dtype="fp32", write_allocate=default_write_allocate(target))
    sub = out.select(att)
    sa_sub = sa[att]
    n_scores = bh[:, att] * q_len[:, att] * n[:, att] * np.where(causal[:, att], 0.5, 1.0)
    if score_home == "dram":
        fp = np.where(sa_sub, 2.0 * n_scores * 4.0, 0.0)
    else:
        fp = np.broadcast_to(tile_elems, np.broadcast_shapes(tile_elems.shape, m.shape))[:, att] * 4.0
    zero = np.zeros_like(n_scores)
    rows = sub.with_arrays(
        m=n_scores, n=np.ones_like(zero), k=np.ones_like(zero), n_params=zero, weight_read_B=zero,
        kv_read_B=zero, kv_write_B=zero,
        flop=FLOP_PER_SLOT * (cnt.n_exp_per_element * EXP_SLOTS + cnt.n_other_ops_per_element) * n_scores,
        act_read_B=cnt.bytes_read_per_element_B * n_scores,
        act_write_B=cnt.bytes_written_per_element_B * n_scores, footprint_B=fp,
    ).with_meta(
        name=[f"{nm}.softmax[{variant}]" for nm in sub.meta["name"].to_list()], kind="softmax",
        compute_dtype="fp32", weight_dtype="", act_dtype="fp32", kv_dtype="", acc_dtype="fp32",
    )  # fmt: skip
    return concat_tables([out, rows], workload=table.workload)
