"""The one design-point builder: (workload, workload knobs, algorithm knobs) -> operator table.

:func:`build_point` is the only place where a workload is built and its algorithm knobs are
applied; ``tradespace evaluate``, the dashboard pages, sweeps, searches, notebooks and the
validation cases all call it, so a knob means the same thing everywhere. It is a pure function
of its arguments. Numeric knobs may be arrays: they broadcast, and the table gets their shape
(a batch axis of 64 values and a context axis of 4096 give a ``(64, 4096)`` table whose decode
projections stay ``(64, 1)``).

The algorithm knobs are applied in a fixed order, each by a public function of
:mod:`models.algorithms`:

1. ``scaling_strategy`` / ``scaling_factor`` / ``scaling_alpha`` (RegNetX workloads): the net is
   rebuilt by :func:`models.algorithms.scale_anynet` (Dollar et al. 2021, pycls rounding).
   ``zc_expert_share`` / ``expert_capacity_factor`` (MoE LLMs) and the ``*_parallel`` plan are
   applied while the table is built
   (MoE++'s zero-computation experts change the routed pairs, the distinct experts read and the
   all-to-all bytes: :mod:`models.workloads.llm`, :mod:`models.parallel.plan`).
2. ``weight_format`` / ``act_format`` / ``kv_format``: bytes, datatypes and resident memory from
   :func:`models.algorithms.apply_quant`. With ``gemm_strategy`` every weight-bearing GEMM/GEMV
   row is repriced by :func:`models.algorithms.price_gemm`: its FLOPs and datatype become the
   strategy's main work, its extra work (dequantization, table precompute, scales,
   recombination) one ``elementwise`` row per extra datatype (with ``gemm_extra_work = fused``
   a row fused into the GEMM's kernel, :func:`models.workloads.table.fused_name`: its compute time
   adds to the GEMM's, under the same weight loads); ``gemm_act_format`` is the format its input
   activations are quantized to.
   ``vit_mult_primitive`` / ``shift_expert_fraction`` (ViT workloads): ShiftAddViT's shift layers,
   additive attention and mult/shift expert routing (:func:`models.algorithms.shiftadd.apply_shiftadd`),
   after the formats.
3. ``attention_tiling`` / ``attention_sram_B``: self-attention rows (prefill / forward; decode rows
   read a KV cache and are left as built) move the main-memory bytes of
   :func:`models.algorithms.standard_attention` (S and P through main memory, and their memory:
   the unfused operators an eager framework runs, ``.qk`` and ``.pv`` GEMMs and a ``.softmax``
   pass, :func:`_unfused_rows`) or :func:`models.algorithms.flash_attention` (K/V re-read per query
   block); ``flat`` / ``fusemax``
   (:func:`models.algorithms.attention.spatial_attention`) keep the scores on chip and put the softmax's
   per-score operations in a ``softmax`` row (FLAT: the engine serving softmax, a 1D array) or in the
   attention row itself (FuseMax: the matmuls' 2D array).
4. ``softmax_variant`` / ``softmax_stores``: the passes of :func:`models.algorithms.softmax_table`,
   one row per pass, replacing each explicit softmax row (over its elements, in its datatype) and
   added over each attention row's scores (fp32). With standard tiling the scores live in main
   memory; otherwise they stay in on-chip tiles.
5. ``conv_algorithm`` (:mod:`models.algorithms.conv_algo`): conv rows get the transformed tensor of
   im2col / im2win written and read, and one image's buffer resident; ``act_sparsity`` /
   ``sparsity_mode`` (:mod:`models.algorithms.sparsity`): weight-bearing MAC rows that only
   zero-skipping engines run lose the skipped MACs and bytes (delta mode adds its state); on a
   dense target nothing changes and :attr:`BuiltPoint.notes` says so.
6. ``launch_mode`` / ``host_dispatch_s``: the host dispatch cost per operator and whether it
   overlaps with the device (:mod:`models.algorithms.launch`), kept on the table for
   :func:`models.perf.evaluate`; ``output_buffers`` whether each operator's result is a fresh
   buffer (priced by the target's ``first_touch_*`` fields, where it declares them).
7. ``memory_mapping`` / ``weight_capacity_share`` (:mod:`models.algorithms.memory_mapping`):
   partitioned pins a share of every memory level's capacity to weights + KV cache and the
   rest to activations, kept on the table for the pricing kernel (greedy: the table as built).

The accuracy-loss proxy (``error_proxy``) is the sum of the relative L2 errors
(:func:`models.algorithms.quant_error`, seeded, cached) of the weight, activation and (where the
table has a KV cache) KV formats in effect, whether set by a format knob or by a datatype.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from models.algorithms import (
    QuantConfig,
    apply_quant,
    flash_attention,
    get_format,
    launch_mode,
    price_gemm,
    quant_error,
    regnetx_base,
    scale_anynet,
    softmax_table,
    standard_attention,
)
from models.algorithms.attention import spatial_attention
from models.algorithms.memory_mapping import apply_memory_mapping
from models.algorithms.softmax import default_write_allocate
from models.algorithms.training_precision import apply_training
from models.hardware import Target
from models.hardware.dtypes import DTYPE_BITS
from models.parallel.plan import ParallelError
from models.params import single_whole
from models.point.knobs import (
    ALGORITHM_KNOBS,
    DATA_PARALLEL_KNOBS,
    PARALLEL_KNOB_NAMES,
    SCALING_KNOBS,
    SERVING_KNOBS,
    split_settings,
)
from models.workloads import (
    ARRAY_FIELDS,
    OperatorTable,
    WorkloadSpec,
    concat_tables,
    elementwise,
    table_from_ops,
    workload_spec,
)
from models.workloads.llm import ROUTING_KNOBS
from models.workloads.table import fused_name
from models.workloads.training import training_step

__all__ = ["BuiltPoint", "build_point", "error_proxy_of_formats", "format_of_dtype"]


@dataclass(frozen=True, kw_only=True)
class BuiltPoint:
    """A built design point (or a grid of them).

    Attributes
    ----------
    table
        The operator table, with the knobs' point shape.
    error_proxy
        Accuracy-loss proxy of the formats in effect (broadcasts to the table's shape).
    workload
        The workload's name.
    knobs
        Every workload knob as built (defaults filled in).
    algorithm
        The algorithm knobs given (checked).
    """

    table: OperatorTable
    error_proxy: np.ndarray
    workload: str
    knobs: Mapping[str, Any] = field(default_factory=dict)
    algorithm: Mapping[str, Any] = field(default_factory=dict)
    # what a knob did not change and why (e.g. act_sparsity on a dense engine)
    notes: tuple[str, ...] = ()


def format_of_dtype(dtype: str) -> str:
    """The quant-format registry name of a hardware datatype (``fp8`` -> ``fp8_e4m3``)."""
    try:
        return get_format(dtype).name
    except KeyError:
        # wider datatypes than the registry holds (fp64, tf32, int16, int32): fp32 is exact
        # enough for a proxy of quantization loss
        return "fp32"


def error_proxy_of_formats(weight: str, act: str, kv: str | None = None) -> float:
    """Sum of the relative L2 errors of the formats (:func:`models.algorithms.quant_error`)."""
    e = quant_error(weight).relative_error + quant_error(act).relative_error
    if kv is not None:
        e += quant_error(kv).relative_error
    return float(e)


def _first(values: list[str], default: str) -> str:
    return next((d for d in values if d), default)


def build_point(workload: str | WorkloadSpec, knobs: Mapping[str, Any] | None = None, *,
                target: Target) -> BuiltPoint:
    """Build the operator table of a design point.

    Parameters
    ----------
    workload
        A workload name (:func:`models.workloads.available_workloads`), a Hugging Face
        ``config.json`` path, or a :class:`~models.workloads.WorkloadSpec`.
    knobs
        Workload knobs and algorithm knobs by bare name (``batch``, ``weight_format``...) or
        qualified (``workload.batch``, ``algorithm.weight_format``); numeric values may be arrays
        that broadcast. Each is checked against its declaration.
    target
        The target the point runs on (its facts: native datatypes for the ``native`` strategy,
        on-chip memory for the default FlashAttention tile, write-allocate for softmax stores).
        Callers pass the preset, not a copy with a point's field overrides: a table does not
        depend on the hardware values a sweep varies.

    Raises
    ------
    ValueError
        A bad knob value or a knob the workload cannot take; the message names the knob.
    """
    spec = workload if isinstance(workload, WorkloadSpec) else workload_spec(workload)
    wk, ak = split_settings(dict(knobs or {}), spec)
    _check_serving(spec, ak)
    built = {**spec.defaults(), **wk}
    plan = _parallel_plan(spec, ak, target)
    halves = _sub_batches(spec, ak, target, built)
    if halves is not None:  # NeuPIMs sub-batch interleaving: the table of one half, doubled below
        wk = {**wk, "batch": np.asarray(built["batch"], dtype=np.float64) / halves}
    try:
        table = (_scale(spec, built, ak) if any(k in ak for k in SCALING_KNOBS)
                 else spec.build(parallel=plan, routing={k: float(ak[k]) for k in ROUTING_KNOBS if k in ak}, **wk))
    except ParallelError:
        raise  # names its knob already (and sweeps tell a plan's infeasibility by its type)
    except ValueError as exc:
        raise ValueError(f"workload {spec.name!r}: {exc.args[0] if exc.args else exc}") from None
    if halves is not None:
        table = _interleaved(table, halves)
    try:  # training steps: datatypes and kernels (models.algorithms.training_precision)
        table = apply_training(table, target=target, precision=ak.get("training_precision"),
                               kernels=str(ak.get("training_kernels", "auto")))
    except ValueError as exc:
        raise ValueError(f"workload {spec.name!r}: {exc.args[0] if exc.args else exc}") from None
    if any(k in ak for k in DATA_PARALLEL_KNOBS):  # data-parallel workers and their aggregation rule
        table = _data_parallel(table, ak, built)
    meta = table.meta
    wf = ak.get("weight_format") or format_of_dtype(_first(meta["weight_dtype"].to_list(), "bf16"))
    af = ak.get("act_format") or format_of_dtype(_first(meta["act_dtype"].to_list(), "bf16"))
    has_kv = any(meta["kv_dtype"].to_list())
    kvf = ak.get("kv_format") or (format_of_dtype(_first(meta["kv_dtype"].to_list(), "bf16")) if has_kv else af)
    if "kv_format" in ak and not has_kv:
        raise ValueError(f"algorithm knob 'kv_format': workload {spec.name!r} has no KV cache; allowed only for "
                         "decoder LLM workloads")
    strategy = ak.get("gemm_strategy")
    if "gemm_act_format" in ak and strategy is None:
        raise ValueError("algorithm knob 'gemm_act_format' needs a gemm_strategy (it is the input format of "
                         "the strategy's GEMMs)")
    if "gemm_extra_work" in ak and strategy is None:
        raise ValueError("algorithm knob 'gemm_extra_work' needs a gemm_strategy (it places the strategy's extra "
                         "work)")
    if any(k in ak for k in ("weight_format", "act_format", "kv_format")) or strategy is not None:
        table = _quantize(table, wf, af, kvf, strategy, ak.get("gemm_act_format"), target,
                          fused=ak.get("gemm_extra_work", "separate") == "fused")
    table = _shiftadd(spec, table, ak)
    tiling = ak.get("attention_tiling", ALGORITHM_KNOBS["attention_tiling"].default)
    variant = ak.get("softmax_variant")
    if "attention_sram_B" in ak and tiling not in ("flash1", "flash2"):
        raise ValueError(f"algorithm knob 'attention_sram_B' needs attention_tiling = flash1 or flash2, got "
                         f"{tiling!r}")
    if "softmax_stores" in ak and variant is None:
        raise ValueError("algorithm knob 'softmax_stores' needs a softmax_variant (it sets the stores of its passes)")
    wa = (ak["softmax_stores"] == "write_allocate") if "softmax_stores" in ak else default_write_allocate(target)
    if variant is not None:  # the table's own softmax rows first, then the scores of its attention rows
        table = _softmax_rows(table, variant, wa)
    if tiling != "fused" or variant is not None:
        table = _attention(table, target, tiling, ak.get("attention_sram_B"), variant, wa)
    notes: list[str] = []
    if ak.get("conv_algorithm", "direct") != "direct":
        table = _conv_algorithm(table, str(ak["conv_algorithm"]), built.get("batch", 1))
    if "act_sparsity" in ak or "sparsity_mode" in ak:
        table = _sparsity(table, ak, target, notes)
    table = _launch(table, ak, target)
    if ak.get("output_buffers", "allocated") == "preallocated":
        table = replace(table, fresh_outputs=False)
    table = _memory_mapping(table, ak)
    proxy = np.asarray(error_proxy_of_formats(wf, af, kvf if has_kv else None))
    return BuiltPoint(table=table, error_proxy=proxy, workload=spec.name, knobs=built, algorithm=ak,
                      notes=tuple(notes))


# ---------------------------------------------------------------------------------- data parallelism
def _data_parallel(table: OperatorTable, ak: Mapping[str, Any], built: Mapping[str, Any]) -> OperatorTable:
    """Workers and aggregation rule of a training step (:mod:`models.parallel.data_parallel`)."""
    from models.parallel.data_parallel import AggregationError, apply_data_parallel

    if not built.get("training", False):
        raise AggregationError("algorithm knob 'data_parallel' / 'aggregation_rule' needs workload knob training = "
                               "true (the workers combine gradients)", knob="data_parallel")

    def whole(name: str, default: int) -> int:
        return single_whole(ak.get(name, default), name, lambda msg: AggregationError(msg, knob=name))

    rank = whole("flag_rank", 0) if "flag_rank" in ak else None
    return apply_data_parallel(table, workers=whole("data_parallel", 1), rule=str(ak.get("aggregation_rule", "mean")),
                               failed=whole("failed_workers", 0), flag_rank=rank,
                               flag_iterations=whole("flag_iterations", 1))


# ---------------------------------------------------------------------------------- NPU/PIM concurrency
def _sub_batches(spec: WorkloadSpec, ak: Mapping[str, Any], target: Target,
                 built: Mapping[str, Any]) -> np.ndarray | None:
    """The number of sub-batches (2 where the batch is at least 2, else 1) with ``pim_concurrency =
    interleaved``; None with ``blocked``. Named errors for a workload or target it cannot apply to."""
    if ak.get("pim_concurrency", "blocked") == "blocked":
        return None
    if spec.family != "llm":
        raise ValueError(f"algorithm knob 'pim_concurrency' = 'interleaved': workload {spec.name!r} is not a decoder "
                         "LLM; allowed only for decoder LLM workloads (sub-batches of requests)")
    target.pim_engines()  # a named error without a PIM engine beside another one
    return np.where(np.asarray(built["batch"], dtype=np.float64) >= 2.0, 2.0, 1.0)


def _interleaved(table: OperatorTable, halves: np.ndarray) -> OperatorTable:
    """The table of one sub-batch made the table of ``halves`` independent sub-batches: every operator
    runs once per sub-batch, the items and the KV cache and activations of all of them are held, and
    the phases are priced with the PIM and the other engines working at once (``concurrent_pim``,
    where there are two)."""
    cols = tuple({**c, "count": c["count"] * halves} for c in table.columns)
    extra = halves - 1.0
    peak = dict(table.peak_memory_B)
    parts = {ph: dict(d) for ph, d in table.memory_parts_B.items()}
    for ph, d in parts.items():
        grow = {k: np.asarray(d[k]) * extra for k in ("kv_cache", "activations") if k in d}
        peak[ph] = peak[ph] + sum(grow.values(), np.zeros(()))
        d.update({k: np.asarray(d[k]) + v for k, v in grow.items()})
    comms = tuple(replace(c, count=c.count * halves) for c in table.collectives)  # each sub-batch's own
    return replace(table, columns=cols, n_items=table.n_items * halves, peak_memory_B=peak, memory_parts_B=parts,
                   collectives=comms, concurrent_pim=halves >= 2.0)


# ---------------------------------------------------------------------------------- conv algorithm, sparsity
def _add_resident(table: OperatorTable, extra: Mapping[str, np.ndarray], part: str) -> OperatorTable:
    """Resident memory ``extra[phase]`` added to the phase's peak and, where known, to its parts."""
    if not extra:
        return table
    peak = {ph: v + extra.get(ph, 0.0) for ph, v in table.peak_memory_B.items()}
    parts = {ph: ({**d, part: d.get(part, 0.0) + extra[ph]} if ph in extra else d)
             for ph, d in table.memory_parts_B.items()}
    return replace(table, peak_memory_B=peak, memory_parts_B=parts)


def _conv_algorithm(table: OperatorTable, algorithm: str, batch: Any) -> OperatorTable:
    """Each conv / dwconv row priced by :func:`models.algorithms.conv_algo.conv_algorithm_cost`: the
    transformed tensor written and read, and one image's buffer resident while the row runs."""
    from models.algorithms.conv_algo import conv_algorithm_cost, lowering_factor

    meta = table.meta
    kinds, act_dt, phases = meta["kind"].to_list(), meta["act_dtype"].to_list(), meta["phase"].to_list()
    rows = [i for i, k in enumerate(kinds) if k in ("conv", "dwconv")]
    if not rows:
        raise ValueError(f"algorithm knob 'conv_algorithm' = {algorithm!r}: workload {table.workload!r} has no "
                         "conv rows; allowed on CNN, keyword-spotting, SESR, ViT and group-conv workloads")
    cols = [dict(c) for c in table.columns]
    resident: dict[str, np.ndarray] = {}
    for i in rows:
        c = table.columns[i]
        b = DTYPE_BITS[act_dt[i]] / 8.0 if act_dt[i] else 2.0
        inp = c["act_read_B"] / b
        low = lowering_factor(m=c["m"], k=c["k"], n=c["n"], input_elements=inp, depthwise=kinds[i] == "dwconv")
        cost = conv_algorithm_cost(algorithm, input_elements=inp, lowering=low, bytes_per_element=b, batch=batch)
        cols[i]["act_read_B"] = c["act_read_B"] + cost.extra_read_B
        cols[i]["act_write_B"] = c["act_write_B"] + cost.extra_write_B
        cols[i]["footprint_B"] = c["footprint_B"] + cost.resident_B
        resident[phases[i]] = np.maximum(resident.get(phases[i], np.zeros(())), cost.resident_B)
    return _add_resident(replace(table, columns=tuple(cols)), resident, "activations")


def _sparsity(table: OperatorTable, ak: Mapping[str, Any], target: Target, notes: list[str]) -> OperatorTable:
    """``act_sparsity`` / ``sparsity_mode`` on each weight-bearing MAC row whose kind only zero-skipping
    engines of ``target`` run (:func:`models.algorithms.sparsity.sparsity_cost`); other rows are left
    dense and ``notes`` says so. Delta state is resident for the whole stream."""
    from models.algorithms.sparsity import sparsity_cost

    s = ak.get("act_sparsity", ALGORITHM_KNOBS["act_sparsity"].default)
    mode = str(ak.get("sparsity_mode", ALGORITHM_KNOBS["sparsity_mode"].default))
    if mode != "spatial" and "act_sparsity" not in ak:
        raise ValueError(f"algorithm knob 'sparsity_mode' = {mode!r} needs act_sparsity (the fraction of zero or "
                         "unchanged activations)")
    if not np.any(np.asarray(s, dtype=np.float64) > 0):
        return table  # act_sparsity 0 (the default) is the dense table as built
    meta = table.meta
    kinds, wdt, act_dt = meta["kind"].to_list(), meta["weight_dtype"].to_list(), meta["act_dtype"].to_list()
    phases = meta["phase"].to_list()
    rows = [i for i, k in enumerate(kinds) if k in ("gemm", "gemv", "conv", "dwconv") and wdt[i]]
    if not rows:
        raise ValueError(f"algorithm knob 'act_sparsity': workload {table.workload!r} has no weight-bearing MAC "
                         "rows; allowed on workloads with GEMM, GEMV or conv rows")
    cols = [dict(c) for c in table.columns]
    state: dict[str, np.ndarray] = {}
    dense: set[str] = set()
    for i in rows:
        engines = [e for e in target.engines if kinds[i] in e.runs]
        if not engines or any(e.zero_skip_efficiency is None for e in engines):
            dense.add(kinds[i])
            continue
        eta = min(float(e.zero_skip_efficiency) for e in engines if e.zero_skip_efficiency is not None)
        bits = max(float(e.zero_skip_index_bits) for e in engines)
        c = table.columns[i]
        b = DTYPE_BITS[act_dt[i]] / 8.0 if act_dt[i] else 2.0
        cost = sparsity_cost(flop=c["flop"], act_read_B=c["act_read_B"], act_write_B=c["act_write_B"],
                             bytes_per_element=b, sparsity=s, mode=mode, skip_efficiency=eta, index_bits=bits)
        cols[i].update(flop=cost.flop, act_read_B=cost.act_read_B, act_write_B=cost.act_write_B,
                       footprint_B=c["footprint_B"] + cost.state_B)
        state[phases[i]] = state.get(phases[i], np.zeros(())) + c["count"] * cost.state_B
    if dense:
        notes.append(f"act_sparsity: no change to the {', '.join(sorted(dense))} rows: target {target.name!r} runs "
                     "them on an engine that does not declare zero-skipping (a dense engine computes every MAC)")
    return _add_resident(replace(table, columns=tuple(cols)), state, "delta_state")


# ---------------------------------------------------------------------------------- serving
def _check_serving(spec: WorkloadSpec, ak: Mapping[str, Any]) -> None:
    """Serving knobs (:mod:`models.serving`, priced by its own calls of this builder) need ``serving``
    on and a decoder LLM; the builder itself builds the one-request table they start from."""
    mode = ak.get("serving", "off")
    if mode != "off" and spec.family != "llm":
        raise ValueError(f"algorithm knob 'serving' = {mode!r}: workload {spec.name!r} is not a decoder LLM; "
                         "allowed: off, or a decoder LLM workload")
    if mode == "off":
        bad = next((k for k in SERVING_KNOBS if k in ak and k != "serving"), None)
        if bad is not None:
            raise ValueError(f"algorithm knob {bad!r} needs serving = aggregated or disaggregated (it sets how a "
                             "request stream is served)")


# ---------------------------------------------------------------------------------- parallelism
def _parallel_plan(spec: WorkloadSpec, ak: Mapping[str, Any], target: Target) -> Any:
    """The multi-device plan of the ``*_parallel`` knobs (:mod:`models.parallel.plan`), None when unset;
    its node size and scale-out link default to those of ``target``'s interconnect."""
    from models.parallel.plan import placed, plan_of

    if not any(k in ak for k in PARALLEL_KNOB_NAMES):
        return None
    plan = plan_of(ak)
    policy = next((k for k in PARALLEL_KNOB_NAMES if k in ak and not k.endswith("_parallel")), None)
    if plan.trivial and policy is not None:
        raise ValueError(f"algorithm knob {policy!r} needs a multi-device plan (tensor_parallel, "
                         "pipeline_parallel or expert_parallel > 1)")
    if not plan.trivial and spec.family != "llm":
        raise ValueError(f"algorithm knob 'tensor_parallel' / 'pipeline_parallel' / 'expert_parallel': workload "
                         f"{spec.name!r} is not a decoder LLM; allowed: the decoder LLM workloads")
    return placed(plan, target)


# ---------------------------------------------------------------------------------- shift / add
def _shiftadd(spec: WorkloadSpec, table: OperatorTable, ak: Mapping[str, Any]) -> OperatorTable:
    """ShiftAddViT's primitives (``vit_mult_primitive``, ``shift_expert_fraction``) on a ViT table."""
    if "vit_mult_primitive" not in ak and "shift_expert_fraction" not in ak:
        return table
    prim = ak.get("vit_mult_primitive", ALGORITHM_KNOBS["vit_mult_primitive"].default)
    if spec.family != "vit":
        raise ValueError(f"algorithm knob 'vit_mult_primitive' = {prim!r}: workload {spec.name!r} is not a ViT; "
                         "allowed: the vit-* workloads")
    if "shift_expert_fraction" in ak and prim not in ("shift", "shiftadd"):
        raise ValueError(f"algorithm knob 'shift_expert_fraction' needs vit_mult_primitive = shift or shiftadd, got "
                         f"{prim!r} (it routes the MLP tokens between the multiplication and shift experts)")
    frac = ak.get("shift_expert_fraction", ALGORITHM_KNOBS["shift_expert_fraction"].default)
    from models.algorithms.shiftadd import apply_shiftadd

    return apply_shiftadd(table, str(prim), frac)


# ---------------------------------------------------------------------------------- memory mapping
def _memory_mapping(table: OperatorTable, ak: Mapping[str, Any]) -> OperatorTable:
    """``memory_mapping`` / ``weight_capacity_share``: greedy leaves the table as it is; partitioned
    pins the capacity shares of the tensor classes (:func:`models.algorithms.memory_mapping.apply_memory_mapping`)."""
    mapping = ak.get("memory_mapping", ALGORITHM_KNOBS["memory_mapping"].default)
    if mapping != "partitioned":
        if "weight_capacity_share" in ak:
            raise ValueError("algorithm knob 'weight_capacity_share' needs memory_mapping = partitioned (greedy "
                             "homes each operator's working set in the whole capacity)")
        return table
    return apply_memory_mapping(table, ak.get("weight_capacity_share",
                                              ALGORITHM_KNOBS["weight_capacity_share"].default))


# ---------------------------------------------------------------------------------- launch
def _launch(table: OperatorTable, ak: Mapping[str, Any], target: Target) -> OperatorTable:
    """The host dispatch cost and overlap of ``launch_mode`` / ``host_dispatch_s`` on the table.

    On CPU and MCU targets the host is the device, so dispatch never overlaps there.
    """
    name = ak.get("launch_mode", ALGORITHM_KNOBS["launch_mode"].default)
    mode = launch_mode(str(name))
    if "host_dispatch_s" in ak and mode.name == "graph":
        raise ValueError("algorithm knob 'host_dispatch_s' needs launch_mode = async, eager or serial (a CUDA-graph "
                         "step has no host cost per operator)")
    host = float(ak.get("host_dispatch_s", mode.host_dispatch_s))
    overlap = mode.overlap and target.target_class not in ("cpu", "mcu")
    if host == table.host_dispatch_s and overlap == table.host_overlap:
        return table
    return replace(table, host_dispatch_s=host, host_overlap=overlap)


# ---------------------------------------------------------------------------------- scaling
def _scale(spec: WorkloadSpec, built: Mapping[str, Any], ak: Mapping[str, Any]) -> OperatorTable:
    if not spec.name.startswith("regnetx-"):
        bad = next(k for k in SCALING_KNOBS if k in ak)
        raise ValueError(f"algorithm knob {bad!r}: workload {spec.name!r} cannot be scaled; allowed: the "
                         "regnetx-* workloads")
    d = {k: ak.get(k, ALGORITHM_KNOBS[k].default) for k in SCALING_KNOBS}
    # scale_anynet works on a flat list of points: flatten the broadcast knobs, reshape after
    s, alpha, batch, res = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (
        d["scaling_factor"], d["scaling_alpha"], built.get("batch", 1), built.get("resolution", 224))))
    shape = s.shape
    net = scale_anynet(*regnetx_base(spec.name), s.reshape(-1), str(d["scaling_strategy"]), alpha.reshape(-1),
                       resolution=res.reshape(-1), batch=batch.reshape(-1), dtype=str(built.get("dtype", "fp16")),
                       fold_bn=bool(np.all(built.get("fold_bn", True))) and not bool(built.get("training", False)))
    table = net.table
    if shape and shape != (1,) and table.n_points > 1:
        n = int(np.prod(shape))

        def back(a: np.ndarray) -> np.ndarray:
            return a.reshape(shape) if a.size == n else a

        table = replace(table, columns=tuple({k: back(c[k]) for k in ARRAY_FIELDS} for c in table.columns),
                        peak_memory_B={p: back(v) for p, v in table.peak_memory_B.items()}, n_items=back(table.n_items),
                        memory_parts_B={p: {k: back(np.asarray(v)) for k, v in dd.items()}
                                        for p, dd in table.memory_parts_B.items()})
    if built.get("training", False):
        table = training_step(table)
    return table


# ---------------------------------------------------------------------------------- formats
def _quantize(table: OperatorTable, wf: str, af: str, kvf: str, strategy: str | None, gaf: str | None,
              target: Target, *, fused: bool = False) -> OperatorTable:
    cfg = QuantConfig(weight=get_format(wf), act=get_format(af), kv=get_format(kvf))
    base = strategy if strategy in ("dequant", "native") else "dequant"
    q = apply_quant(table, cfg, strategy=base, target=target, fallback=True)
    if strategy is None:
        return q
    gact = get_format(gaf) if gaf else cfg.act
    meta = q.meta
    kinds, wdts, names = meta["kind"].to_list(), meta["weight_dtype"].to_list(), meta["name"].to_list()
    comp, acc = meta["compute_dtype"].to_list(), meta["acc_dtype"].to_list()
    kw: dict[str, Any] = {"target": target, "fallback": True} if strategy == "native" else {}
    cols = [dict(c) for c in q.columns]
    extra_cols: list[dict[str, np.ndarray]] = []
    extra_meta: list[dict[str, str]] = []
    for i, c in enumerate(q.columns):
        if kinds[i] not in ("gemm", "gemv") or not wdts[i]:
            continue
        m, n, k = c["m"], c["n"], c["k"]
        try:
            cost = price_gemm(strategy, m, n, k, cfg.weight, gact, **kw)
        except (ValueError, KeyError) as exc:
            msg = exc.args[0] if exc.args else exc
            raise ValueError(f"algorithm knob 'gemm_strategy' = {strategy!r} with weight_format={wf!r}, "
                             f"gemm input format={gact.name!r}: {msg}") from None
        mac2 = 2.0 * m * n * k
        scale = c["flop"] / mac2  # > 1 where the row adds bias or expert-sum work to its MACs
        (main_dt, main_op), *more = list(cost.op_by_dtype.items())
        if more:  # pragma: no cover - every strategy has one main datatype today
            raise ValueError(f"gemm_strategy {strategy!r}: several main datatypes {list(cost.op_by_dtype)}")
        cols[i]["flop"] = scale * main_op
        if gaf:  # the GEMM reads its input activations in the quantized input format
            a_new = c["act_read_B"] * gact.effective_bits / cfg.act.effective_bits
            cols[i]["footprint_B"] = np.maximum(c["footprint_B"] - c["act_read_B"] + a_new, 0.0)
            cols[i]["act_read_B"] = a_new
        comp[i] = main_dt
        acc[i] = "int32" if main_dt.startswith("int") else "fp32"
        zero = np.zeros(())
        for dt, op in cost.extra_op_by_dtype.items():
            extra_cols.append({"count": c["count"], "m": m, "n": n, "k": np.ones(()), "flop": scale * op,
                               "n_params": zero, "weight_read_B": zero, "act_read_B": zero, "act_write_B": zero,
                               "kv_read_B": zero, "kv_write_B": zero, "footprint_B": zero})
            nm = fused_name(names[i], strategy, dt) if fused else f"{names[i]}[{strategy}:extra:{dt}]"
            extra_meta.append({"name": nm, "phase": meta["phase"][i],
                               "kind": "elementwise", "compute_dtype": dt, "weight_dtype": "", "act_dtype": dt,
                               "kv_dtype": "", "acc_dtype": "int32" if dt.startswith("int") else "fp32"})
    out = replace(q, columns=tuple(cols)).with_meta(compute_dtype=comp, acc_dtype=acc)
    if not extra_cols:
        return out
    import polars as pl

    extra = replace(out, meta=pl.DataFrame(extra_meta, schema={c: pl.String for c in out.meta.columns}),
                    columns=tuple(extra_cols))
    return concat_tables([out, extra], workload=table.workload)


# ---------------------------------------------------------------------------------- attention
def _default_sram_B(target: Target) -> float:
    """On-chip memory of one unit for a tile: the innermost level's capacity over the fewest units
    of an engine reading it (a GPU's shared memory per SM, a CPU's L1 per core)."""
    inner = target.memories[0]
    units = [float(e.n_units) for e in target.engines if e.name in inner.read_by]
    return float(inner.capacity_B) / max(min(units, default=1.0), 1.0)


def _attention(table: OperatorTable, target: Target, tiling: str, sram_B: Any, variant: str | None,
               write_allocate: bool) -> OperatorTable:
    meta = table.meta
    kinds = meta["kind"].to_list()
    att = [i for i, k in enumerate(kinds) if k == "attention"]
    if not att:
        if tiling == "fused" and "softmax" in kinds:
            return table  # the variant prices the table's own softmax rows (_softmax_rows)
        bad = "attention_tiling" if tiling != "fused" else "softmax_variant"
        raise ValueError(f"algorithm knob {bad!r}: workload {table.workload!r} has no attention rows"
                         f"{'' if bad == 'attention_tiling' else ' or softmax rows'}; allowed on LLM, ViT, "
                         "attention and softmax workloads")
    if tiling in ("flat", "fusemax") and variant is not None:
        raise ValueError(f"algorithm knobs 'attention_tiling' = {tiling!r} and 'softmax_variant' = {variant!r} "
                         "contradict each other (the spatial-array mapping sets the softmax's operations); "
                         "allowed: no softmax_variant")
    if variant == "fused_attention" and tiling == "standard":
        raise ValueError("algorithm knobs 'softmax_variant' = 'fused_attention' and 'attention_tiling' = 'standard' "
                         "contradict each other (standard tiling writes the scores to main memory)")
    act_dt = meta["act_dtype"].to_list()
    names, phases = meta["name"].to_list(), meta["phase"].to_list()
    cols = [dict(c) for c in table.columns]
    extra_resident: dict[str, np.ndarray] = {}
    scores: list[tuple[int, np.ndarray, np.ndarray]] = []  # (row, score elements, footprint of the scores)
    unfused: list[tuple[int, np.ndarray, np.ndarray, np.ndarray, str]] = []  # standard: (row, B x H, N, d, dtype)
    spatial: list[tuple[int, np.ndarray, str]] = []  # FLAT: (row, softmax ops, datatype)
    sram = None
    for i in att:
        c = table.columns[i]
        m, n, k, flop = c["m"], c["n"], c["k"], c["flop"]
        decode = bool(np.any(c["kv_read_B"] > 0))  # reads a KV cache: one query per sequence
        b = DTYPE_BITS[act_dt[i]] / 8.0 if act_dt[i] else 2.0
        causal = bool(np.all(flop < 3.0 * m * n * k))  # 4 m n k full, 2 m n k causal (models.workloads.ops)
        q_len = np.ones(()) if decode else n
        bh = m / q_len  # batch x heads
        n_scores = bh * q_len * n * (0.5 if causal else 1.0)
        tile = np.zeros(())
        if not decode and tiling == "standard":
            st = standard_attention(bh, 1.0, n, n, k, bytes_per_element=b, causal=causal)
            # unfused: S = Q K^T and O = P V are two batched GEMMs, the softmax between them a third
            # operator (_unfused_rows); S and P written and read once each: 4 N^2 b per (batch, head)
            unfused.append((i, bh, n, k, act_dt[i] or meta["compute_dtype"][i]))
            ph = phases[i]
            extra_resident[ph] = np.maximum(extra_resident.get(ph, np.zeros(())), st.extra_memory_B)
        elif not decode and tiling in ("flash1", "flash2"):
            if sram is None:
                sram = np.asarray(_default_sram_B(target) if sram_B is None else sram_B, dtype=np.float64)
            try:
                fl = flash_attention(bh, 1.0, n, n, k, sram_B=sram, version=1 if tiling == "flash1" else 2,
                                     bytes_per_element=b, causal=causal)
            except ValueError as exc:
                raise ValueError(f"algorithm knob 'attention_sram_B': {exc.args[0]}") from None
            cols[i]["act_read_B"] = fl.dram_B - c["act_write_B"]
            tile = fl.block_rows * fl.block_cols
        elif not decode and tiling in ("flat", "fusemax"):
            sp = spatial_attention(bh, 1.0, n, n, k, mapping=tiling, bytes_per_element=b, causal=causal)
            if tiling == "fusemax":  # the cascade's per-score operations run on the matmuls' array
                cols[i]["flop"] = flop + sp.nonmatmul_flop
            else:  # FLAT: a softmax operator on the engine that serves softmax (the 1D array)
                spatial.append((i, sp.nonmatmul_flop, act_dt[i] or "fp16"))
        on_chip_fp = 2.0 * n_scores * 4.0 if (tiling == "standard" and not decode) else tile * 4.0
        scores.append((i, n_scores, on_chip_fp))
    if extra_resident:
        # standard attention keeps S and P of one call live at the softmax: resident memory grows
        peak = {ph: v + extra_resident.get(ph, 0.0) for ph, v in table.peak_memory_B.items()}
        parts = {ph: ({**d, "activations": d.get("activations", 0.0) + extra_resident[ph]}
                      if ph in extra_resident else d) for ph, d in table.memory_parts_B.items()}
        table = replace(table, peak_memory_B=peak, memory_parts_B=parts)
    out = replace(table, columns=tuple(cols))
    if unfused:
        out = _unfused_rows(out, unfused, with_softmax=variant is None)
    if spatial:
        out = _flat_softmax_rows(out, spatial)
    if variant is None:
        return out
    wa = write_allocate
    parts_tables = []
    for i, n_scores, fp in scores:
        sm = softmax_table(variant, n_scores, dtype="fp32", write_allocate=wa, count=table.columns[i]["count"])
        sm = sm.with_arrays(footprint_B=[fp] * sm.n_ops)
        sm = sm.with_meta(name=[f"{names[i]}.{nm}[{variant}]" for nm in sm.meta["name"].to_list()],
                          phase=phases[i])
        parts_tables.append(replace(sm, peak_memory_B={}, memory_parts_B={}, n_items=out.n_items,
                                    item_name=out.item_name, knobs=out.knobs))
    return concat_tables([out, *parts_tables], workload=table.workload)


def _unfused_rows(table: OperatorTable, rows: list[tuple[int, np.ndarray, np.ndarray, np.ndarray, str]], *,
                  with_softmax: bool) -> OperatorTable:
    """Standard (unfused) attention as the operators an eager framework runs: each attention row
    becomes ``name.qk`` (``S = Q K^T``: a GEMM of ``B H N x d`` by ``d x N``, writing S) and
    ``name.pv`` (``O = P V``: ``B H N x N`` by ``N x d``, reading P), both kind ``gemm`` with no
    weights, and, without a ``softmax_variant`` (whose passes then price it), ``name.softmax``:
    one pass over the scores reading S and writing P, with an exp and 3 other vector slots per
    score (max, subtract-and-sum, scale; :data:`models.algorithms.softmax.EXP_SLOTS`). The
    matmuls run over the whole score matrix (a causal mask is applied to S, not skipped), so
    their FLOP are ``4 B H N^2 d`` whether or not the attention is causal. Traffic: Q, K, V, O
    once and S and P written and read once each, :func:`models.algorithms.standard_attention`'s
    ``b (4 N d + 4 N^2)`` per (batch, head)."""
    from models.algorithms.softmax import EXP_SLOTS, FLOP_PER_SLOT
    from models.workloads import gemm as gemm_op

    meta = table.meta
    names, phases = meta["name"].to_list(), meta["phase"].to_list()
    keep = np.ones(table.n_ops, dtype=bool)
    ops = []
    for i, bh, n, d, dt in rows:
        c = table.columns[i]
        ph, cnt = phases[i], c["count"]
        b = DTYPE_BITS[dt] / 8.0
        for nm, nn, kk, second in (("qk", n, d, bh * d * n * b), ("pv", d, n, bh * n * d * b)):
            # a batched GEMM of B H heads: each head has its own second operand (K^T, V)
            g = gemm_op(f"{names[i]}.{nm}", bh * n, nn, kk, dtype=dt, count=cnt, phase=ph, weights=False)
            first, out_b = bh * n * kk * b, bh * n * nn * b
            ops.append(type(g)(meta=g.meta, values={**g.values, "act_read_B": first + second,
                                                    "footprint_B": first + second + out_b}))
        if with_softmax:
            e = elementwise(f"{names[i]}.softmax", bh * n * n, dtype=dt, kind="softmax", count=cnt, phase=ph)
            slots = FLOP_PER_SLOT * (EXP_SLOTS + 3.0)
            ops.append(type(e)(meta=e.meta, values={**e.values, "flop": slots * bh * n * n}))
        keep[i] = False
    parts = table_from_ops(ops, workload=table.workload)
    parts = replace(parts, peak_memory_B={}, memory_parts_B={}, n_items=table.n_items, item_name=table.item_name,
                    knobs=table.knobs)
    return concat_tables([table.select(keep), parts], workload=table.workload)


def _flat_softmax_rows(table: OperatorTable, rows: list[tuple[int, np.ndarray, str]]) -> OperatorTable:
    """FLAT's softmax (:func:`models.algorithms.attention.spatial_attention`) as one ``softmax`` row per
    attention row: its operations, no main-memory bytes (the score row stays on chip), pipelined
    beside the attention row (:func:`models.workloads.table.fused_name`): the 1D array works on each
    score tile while the 2D array computes the next, so the call takes the larger of the two."""
    meta = table.meta
    names, phases = meta["name"].to_list(), meta["phase"].to_list()
    ops = []
    for i, op_count, dt in rows:
        c = table.columns[i]
        e = elementwise(fused_name(names[i], "softmax", dt, pipelined=True), op_count / 2.0, dtype=dt,
                        kind="softmax", count=c["count"],
                        phase=phases[i])
        zero = np.zeros(())
        vals = {**e.values, "flop": op_count, "act_read_B": zero, "act_write_B": zero, "footprint_B": zero}
        ops.append(type(e)(meta=e.meta, values=vals))
    sm = table_from_ops(ops, workload=table.workload)
    sm = replace(sm, peak_memory_B={}, memory_parts_B={}, n_items=table.n_items, item_name=table.item_name,
                 knobs=table.knobs)
    return concat_tables([table, sm], workload=table.workload)


def _softmax_rows(table: OperatorTable, variant: str, write_allocate: bool) -> OperatorTable:
    """Each explicit softmax row becomes the passes of ``variant`` over its elements
    (:func:`models.algorithms.softmax_table`, in the row's datatype)."""
    meta = table.meta
    kinds = meta["kind"].to_list()
    rows = [i for i, k in enumerate(kinds) if k == "softmax"]
    if not rows:
        return table
    wa = write_allocate
    keep = np.ones(table.n_ops, dtype=bool)
    parts = []
    for i in rows:
        c = table.columns[i]
        n = c["m"] * c["n"]  # rows x elements per row
        dt = meta["act_dtype"][i] or meta["compute_dtype"][i]
        st = softmax_table(variant, n, dtype=dt, write_allocate=wa, count=c["count"])
        st = st.with_meta(name=[f"{meta['name'][i]}.{nm.removeprefix('softmax.')}[{variant}]"
                                for nm in st.meta["name"].to_list()], phase=meta["phase"][i])
        parts.append(replace(st, peak_memory_B={}, memory_parts_B={}, n_items=table.n_items,
                             item_name=table.item_name, knobs=table.knobs))
        keep[i] = False
    return concat_tables([table.select(keep), *parts], workload=table.workload)
