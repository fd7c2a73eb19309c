"""Training precision and training kernels: the datatypes of a training step and how a target runs it.

Two algorithm knobs of a training step (a vision workload with ``training = true``), applied by
:func:`apply_training` in :func:`models.point.build_point`:

``training_precision`` sets the datatypes of the forward and backward passes:

- ``fp32`` / ``fp16`` / ``bf16``: every operator of the forward and backward passes and the weight
  update in that datatype (bytes scaled by its width); the GEMMs accumulate in it (PULP-TrainLib's
  FP16 kernels accumulate in v2f16 registers);
- ``int16_dfp``: dynamic fixed point with shared exponents (Das et al., ICLR 2018, arXiv 1802.00930):
  the GEMM-like rows (conv, depthwise, gemm) multiply INT16 operands into INT32 accumulators; the other
  layers, the master weights and the update stay FP32. Per GEMM row two elementwise passes in FP32 are
  added (the conversions a DFP kernel needs around its integer FMAs):

  - ``[dfp:quant]``: each INT16 operand produced in FP32 (the input activations or gradients, and the
    weights on the forward pass, from the FP32 master copy) gets its shared exponent from a max-|x|
    reduction and is scaled, rounded and packed: 2 operations per element, reading 4 B and writing 2 B;
  - ``[dfp:dequant]``: the INT32 output is scaled by the product of the two shared exponents back to
    FP32 for the next layer: 1 operation per element, reading and writing 4 B.

  The GEMM row writes its INT32 accumulators (4 B per output element).

``training_kernels`` says which kernels run the step: ``gemm`` (each pass one GEMM at the engine's
efficiency, as :func:`models.workloads.training_step` builds it), ``pulp_trainlib`` (the shape
transforms and split MatMuls of :func:`models.workloads.training.pulp_trainlib_step`), or ``auto``:
``pulp_trainlib`` on an MCU whose vector engine is a cluster of several cores (one of them
orchestrates: 8+1 on GAP9, ``NUM_CORES = 8`` in PULP-TrainLib), ``gemm`` elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import polars as pl

from models.hardware.schema import Target
from models.workloads.kinds import MAC_KINDS
from models.workloads.ops import bytes_per_element
from models.workloads.table import BYTE_FIELDS, OperatorTable, concat_tables
from models.workloads.training import pulp_trainlib_step

__all__ = ["TRAINING_KERNELS", "TRAINING_PRECISIONS", "TrainingPrecision", "apply_training",
           "apply_training_precision", "cluster_of", "resolve_training_kernels", "training_precision"]

TRAINING_KERNELS = ("auto", "gemm", "pulp_trainlib")


@dataclass(frozen=True, kw_only=True)
class TrainingPrecision:
    """Datatypes of a training step: GEMM operands and accumulators, the other layers, the update."""

    name: str
    gemm_dtype: str
    acc_dtype: str
    other_dtype: str
    dfp: bool = False
    quant_op_per_element: float = 0.0
    dequant_op_per_element: float = 0.0


TRAINING_PRECISIONS: dict[str, TrainingPrecision] = {
    p.name: p
    for p in (
        TrainingPrecision(name="fp32", gemm_dtype="fp32", acc_dtype="fp32", other_dtype="fp32"),
        TrainingPrecision(name="fp16", gemm_dtype="fp16", acc_dtype="fp16", other_dtype="fp16"),
        TrainingPrecision(name="bf16", gemm_dtype="bf16", acc_dtype="bf16", other_dtype="bf16"),
        # max-|x| reduction + scale/round/pack per element; scale back to FP32 per output element
        TrainingPrecision(name="int16_dfp", gemm_dtype="int16", acc_dtype="int32", other_dtype="fp32", dfp=True,
                          quant_op_per_element=2.0, dequant_op_per_element=1.0),
    )
}


def training_precision(name: str) -> TrainingPrecision:
    """The precision ``name`` (KeyError naming the allowed ones)."""
    try:
        return TRAINING_PRECISIONS[name]
    except KeyError:
        raise KeyError(f"unknown training precision {name!r}; allowed: {', '.join(TRAINING_PRECISIONS)}") from None


def _is_training(table: OperatorTable) -> bool:
    return "backward" in set(table.meta["phase"].to_list())


def apply_training_precision(table: OperatorTable, precision: str) -> OperatorTable:
    """The training step ``table`` with the datatypes of ``precision`` (see the module docstring).

    Raises
    ------
    ValueError
        ``table`` is not a training step (no backward rows).
    KeyError
        Unknown precision.
    """
    p = training_precision(precision)
    if not _is_training(table):
        raise ValueError(f"training precision {precision!r}: table {table.workload!r} is not a training step (no "
                         "backward rows); set training = true")
    meta = table.meta
    kinds, phases, names = meta["kind"].to_list(), meta["phase"].to_list(), meta["name"].to_list()
    old = [a or c for a, c in zip(meta["act_dtype"].to_list(), meta["compute_dtype"].to_list(), strict=True)]
    cols = [dict(c) for c in table.columns]
    comp, wdt, adt, acc = (meta[c].to_list() for c in ("compute_dtype", "weight_dtype", "act_dtype", "acc_dtype"))
    extra_cols: list[dict[str, np.ndarray]] = []
    extra_meta: list[dict[str, str]] = []
    zero = np.zeros(())
    for i, c in enumerate(table.columns):
        if phases[i] not in ("forward", "backward", "update"):
            continue
        gemm = kinds[i] in MAC_KINDS and phases[i] != "update"
        dt = p.gemm_dtype if gemm else p.other_dtype
        b_old, b_new = bytes_per_element(old[i]), bytes_per_element(dt)
        f = b_new / b_old
        for fld in BYTE_FIELDS:
            cols[i][fld] = c[fld] * f
        if gemm and p.dfp:  # INT32 accumulators written
            cols[i]["act_write_B"] = c["act_write_B"] / b_old * bytes_per_element(p.acc_dtype)
        cols[i]["footprint_B"] = cols[i]["weight_read_B"] + cols[i]["act_read_B"] + cols[i]["act_write_B"] \
            + cols[i]["kv_read_B"] + cols[i]["kv_write_B"]
        comp[i], adt[i] = dt, dt
        wdt[i] = dt if wdt[i] else ""
        acc[i] = p.acc_dtype if gemm else dt
        if gemm and p.dfp:
            n_in = c["act_read_B"] / b_old + (c["weight_read_B"] / b_old if phases[i] == "forward" else 0.0)
            n_out = c["act_write_B"] / b_old
            for what, n_el, ops, r_B, w_B in (("quant", n_in, p.quant_op_per_element, 4.0, 2.0),
                                               ("dequant", n_out, p.dequant_op_per_element, 4.0, 4.0)):
                extra_cols.append({"count": c["count"], "m": c["m"], "n": c["n"], "k": np.ones(()),
                                   "flop": ops * n_el, "n_params": zero, "weight_read_B": zero,
                                   "act_read_B": r_B * n_el, "act_write_B": w_B * n_el, "kv_read_B": zero,
                                   "kv_write_B": zero, "footprint_B": (r_B + w_B) * n_el})
                extra_meta.append({"name": f"{names[i]}[dfp:{what}]", "phase": phases[i], "kind": "elementwise",
                                   "compute_dtype": "fp32", "weight_dtype": "", "act_dtype": "fp32", "kv_dtype": "",
                                   "acc_dtype": "fp32"})
    out = replace(table, columns=tuple(cols)).with_meta(compute_dtype=comp, weight_dtype=wdt, act_dtype=adt,
                                                        acc_dtype=acc)
    # resident memory: the phases' parts scale with the datatype of what they hold (weights, gradients,
    # optimizer state and the update in other_dtype; the saved activations as the GEMMs' inputs)
    scale_w = bytes_per_element(p.other_dtype) / bytes_per_element(old[0])
    scale_a = bytes_per_element(p.gemm_dtype) / bytes_per_element(old[0])
    parts = {ph: {k: np.asarray(v) * (scale_a if k == "activations" else scale_w) for k, v in d.items()}
             for ph, d in table.memory_parts_B.items()}
    peak = {ph: sum(d.values(), np.zeros(1)) for ph, d in parts.items()} if parts else dict(table.peak_memory_B)
    out = replace(out, peak_memory_B=peak, memory_parts_B=parts)
    if not extra_cols:
        return out
    extra = replace(out, meta=pl.DataFrame(extra_meta, schema={c: pl.String for c in out.meta.columns}),
                    columns=tuple(extra_cols))
    joined = concat_tables([out, extra], workload=table.workload)
    return replace(joined, peak_memory_B=out.peak_memory_B, memory_parts_B=out.memory_parts_B,
                   stored_params=table.stored_params)


def cluster_of(target: Target) -> tuple[str, int, int, dict[str, float]] | None:
    """``(engine, n_units, n_workers, FP ops per cycle per core)`` of an MCU's multi-core vector cluster,
    None when the target has none (PULP-TrainLib runs there with one core orchestrating: 8+1)."""
    if target.target_class != "mcu":
        return None
    for e in target.engines:
        if e.kind == "vector" and int(e.n_units) > 1 and "conv" in e.runs:
            rates = {d: float(v) for d, v in e.ops_per_cycle.items() if d in ("fp32", "fp16", "bf16")}
            return e.name, int(e.n_units), int(e.n_units) - 1, rates
    return None


def resolve_training_kernels(name: str, target: Target) -> str:
    """``gemm`` or ``pulp_trainlib`` for the knob value ``name`` on ``target`` (see the module docstring)."""
    if name not in TRAINING_KERNELS:
        raise ValueError(f"training_kernels = {name!r}; allowed: {', '.join(TRAINING_KERNELS)}")
    if name == "auto":
        return "pulp_trainlib" if cluster_of(target) is not None else "gemm"
    if name == "pulp_trainlib" and cluster_of(target) is None:
        raise ValueError(f"training_kernels = 'pulp_trainlib': target {target.name!r} has no multi-core MCU vector "
                         "cluster; allowed: an MCU preset with one (gap9), or gemm / auto")
    return name


def apply_training(table: OperatorTable, *, target: Target, precision: str | None = None,
                   kernels: str = "auto") -> OperatorTable:
    """The training knobs on a training step ``table`` (an inference table is returned as is when no
    precision is asked and ``kernels`` is ``auto``)."""
    if not _is_training(table):
        if precision is not None or kernels != "auto":
            bad = "training_precision" if precision is not None else "training_kernels"
            raise ValueError(f"algorithm knob {bad!r}: workload {table.workload!r} is not a training step; set "
                             "training = true (vision workloads)")
        return table
    if precision is not None:
        table = apply_training_precision(table, precision)
    how = resolve_training_kernels(kernels, target)
    if how == "pulp_trainlib" and precision is not None and training_precision(precision).dfp:
        if kernels == "pulp_trainlib":
            raise ValueError(f"training_kernels = 'pulp_trainlib' has no {precision!r} kernels (PULP-TrainLib "
                             "trains in FP32 or FP16); allowed with it: training_precision = fp32, fp16, bf16")
        how = "gemm"  # auto: no integer PULP-TrainLib kernels, each pass one GEMM
    if how == "pulp_trainlib":
        c = cluster_of(target)
        assert c is not None
        _, n_units, n_workers, rates = c
        table = pulp_trainlib_step(table, n_units=n_units, n_workers=n_workers, ops_per_cycle=rates)
    return table
