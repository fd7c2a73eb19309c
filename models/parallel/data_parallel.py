"""A synchronous data-parallel training step with a gradient aggregation rule (mean or robust).

``n`` workers (``data_parallel``) each run the workload's training step on their own batch (weak
scaling: the step's items are ``n`` batches, its energy that of ``n`` devices), then combine
their gradients by the aggregation rule (``aggregation_rule``) before the update. ``G`` is the
gradients' bytes (the table's ``backward`` gradients part) and ``p`` their elements (``G`` over the
bytes of the update row's datatype). Rows and collectives added to the ``update`` phase:

- **mean** (data-parallel SGD): one ring all-reduce of ``G`` among the ``n`` workers.
- **robust rules** (median, trimmed_mean, flag): every worker all-gathers the ``n`` gradients
  (payload ``n G``; each device receives ``(n - 1) G``, the bytes a parameter server's incoming
  link carries) and computes the same aggregate (decentralised: no broadcast follows; the
  aggregation's time is each worker's, its energy every worker's):

  - **median**: coordinate-wise median, a sort of ``n`` values per coordinate: one elementwise
    row over ``p`` coordinates of ``n ceil(log2 n)`` comparisons each, reading the ``n`` gradients
    and writing one, in the gradients' datatype;
  - **trimmed_mean**: the same sort, then the mean of the ``n - 2 f`` middle values (``f``
    = ``failed_workers``): ``n ceil(log2 n) + n - 2 f`` operations per coordinate;
  - **flag** (Flag Aggregator, Almasi et al. ICLR 2024; the operations of the authors' released
    ``flag`` aggregator, repository hamidralmasi/FlagAggregator): per iteration
    (``flag_iterations``, default 1, the released aggregator's one iteration) the ``n`` gradients
    are normalised and weighted (an elementwise pass over ``n p``), the ``p x n`` matrix's thin SVD
    keeps the top ``r`` left singular vectors (``flag_rank``): its Gram matrix (a GEMM, ``2 p n^2``
    FLOP), the eigensolver of the ``n x n`` Gram matrix (``10 n^3`` FLOP: an estimate of a dense
    symmetric eigensolver, not a measured count), the singular vectors ``Y = G V Sigma^-1`` (a GEMM,
    ``2 p n r``) and the projections ``Y^T g_i`` that set the workers' weights (a GEMM, ``2 r n
    p``); then the output ``Y (Y^T sum_i g_i) / r`` (a sum over the ``n`` gradients and two GEMVs).
    These rows run in fp32 (the SVD's datatype). Default rank: ``2^ceil(log2(n / 2))`` (at most
    ``n``), which gives the released experiment scripts' ``r`` = 8 for 15 workers, 16 for 30, 32 for 60.

Failures are Byzantine (``failed_workers`` f): every worker sends a gradient, so the cost does not
depend on f, except the trimmed mean's trimming; f sets which rules are allowed: the median and the
trimmed mean tolerate ``2 f < n``, flag ``f < n``. The mean tolerates none: it is priced for any
f (this is a cost model, not an accuracy model).
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from models.parallel.collectives import Collective
from models.workloads.ops import bytes_per_element, elementwise, gemm, table_from_ops
from models.workloads.table import OperatorTable, concat_tables

__all__ = ["AGGREGATION_RULES", "AggregationError", "apply_data_parallel", "default_flag_rank"]

AGGREGATION_RULES = ("mean", "median", "trimmed_mean", "flag")
EIGEN_FLOP_PER_N3 = 10.0  # dense symmetric eigensolver, an estimate (see the module docstring)


class AggregationError(ValueError):
    """A data-parallel setting that is not allowed; the message names the knob, the value and what is allowed."""

    def __init__(self, message: str, *, knob: str) -> None:
        super().__init__(message)
        self.knob = knob


def default_flag_rank(workers: int) -> int:
    """``2^ceil(log2(n / 2))``, at most ``n``: the released Flag Aggregator scripts' ranks (8, 16, 32 for
    15, 30, 60 workers)."""
    if workers < 2:
        return 1
    return min(workers, 2 ** math.ceil(math.log2(workers / 2)))


def _check(workers: int, rule: str, failed: int, rank: int | None, iterations: int) -> None:
    if int(workers) != workers or workers < 1:
        raise AggregationError(f"data_parallel = {workers!r}; allowed: a whole number of workers >= 1",
                               knob="data_parallel")
    if rule not in AGGREGATION_RULES:
        raise AggregationError(f"aggregation_rule = {rule!r}; allowed: {', '.join(AGGREGATION_RULES)}",
                               knob="aggregation_rule")
    if int(failed) != failed or not 0 <= failed < workers:
        raise AggregationError(f"failed_workers = {failed!r}; allowed: a whole number from 0 to data_parallel - 1 = "
                               f"{workers - 1}", knob="failed_workers")
    if rule in ("median", "trimmed_mean") and 2 * failed >= workers:
        raise AggregationError(f"failed_workers = {failed} of {workers} with aggregation_rule = {rule!r}: a "
                               f"coordinate-wise {rule.replace('_', ' ')} tolerates fewer than half; allowed: "
                               f"2 x failed_workers < data_parallel (at most {(workers - 1) // 2})",
                               knob="failed_workers")
    if rank is not None and (rule != "flag" or int(rank) != rank or not 1 <= rank <= workers):
        why = "needs aggregation_rule = flag" if rule != "flag" else f"allowed: a whole number from 1 to {workers}"
        raise AggregationError(f"flag_rank = {rank!r}: {why} (the subspace of the workers' gradients)",
                               knob="flag_rank")
    if iterations != 1 and rule != "flag":
        raise AggregationError(f"flag_iterations = {iterations!r}: needs aggregation_rule = flag",
                               knob="flag_iterations")
    if int(iterations) != iterations or iterations < 1:
        raise AggregationError(f"flag_iterations = {iterations!r}; allowed: a whole number >= 1",
                               knob="flag_iterations")


def apply_data_parallel(table: OperatorTable, *, workers: int, rule: str = "mean", failed: int = 0,
                        flag_rank: int | None = None, flag_iterations: int = 1) -> OperatorTable:
    """One worker's share of a data-parallel step of the training table ``table`` (module docstring).

    One worker with the mean is the table itself.

    Raises
    ------
    AggregationError
        A bad setting (named, with what is allowed), or a table without a training step.
    """
    _check(workers, rule, failed, flag_rank, flag_iterations)
    n = int(workers)
    if n == 1 and rule == "mean":
        return table
    parts = table.memory_parts_B.get("backward", {})
    if "gradients" not in parts:
        raise AggregationError("data_parallel: the workload's table has no gradients (not a training step); "
                               "allowed: a workload with training = true", knob="data_parallel")
    G = np.asarray(parts["gradients"], dtype=np.float64)
    phases = table.meta["phase"].to_list()
    dtypes = table.meta["weight_dtype"].to_list()
    gdt = next((d for ph, d in zip(phases, dtypes, strict=True) if ph == "update" and d), "fp32")
    p = G / bytes_per_element(gdt)
    ops = []
    colls: list[Collective] = []
    if rule == "mean":
        colls.append(Collective(name="dp_gradient_allreduce", phase="update", op="all_reduce", group=n, bytes_B=G,
                                count=np.ones(())))
    else:
        colls.append(Collective(name="dp_gradient_allgather", phase="update", op="all_gather", group=n,
                                bytes_B=n * G, count=np.ones(())))
        sort = n * math.ceil(math.log2(n)) if n > 1 else 0
        if rule == "median":
            ops.append(elementwise("dp.median", p, dtype=gdt, flop_per_element=float(sort), n_inputs=n,
                                   phase="update"))
        elif rule == "trimmed_mean":
            ops.append(elementwise("dp.trimmed_mean", p, dtype=gdt, flop_per_element=float(sort + n - 2 * failed),
                                   n_inputs=n, phase="update"))
        else:
            r = int(flag_rank) if flag_rank is not None else default_flag_rank(n)
            k = float(flag_iterations)
            ops += [
                elementwise("dp.flag.normalise", n * p, dtype="fp32", flop_per_element=3.0, count=k, phase="update"),
                gemm("dp.flag.gram", n, n, p, dtype="fp32", weights=False, count=k, phase="update"),
                elementwise("dp.flag.eigensolver", float(n * n), dtype="fp32", flop_per_element=EIGEN_FLOP_PER_N3 * n,
                            count=k, phase="update"),
                gemm("dp.flag.singular_vectors", p, r, n, dtype="fp32", weights=False, count=k, phase="update"),
                gemm("dp.flag.projections", r, n, p, dtype="fp32", weights=False, count=k, phase="update"),
                elementwise("dp.flag.sum", p, dtype="fp32", n_inputs=n, phase="update"),
                gemm("dp.flag.project_sum", 1, r, p, dtype="fp32", weights=False, phase="update", kind="gemv"),
                gemm("dp.flag.output", p, 1, r, dtype="fp32", weights=False, phase="update", kind="gemv"),
            ]
    out = table
    if ops:
        extra = table_from_ops(ops, workload=table.workload, n_items=table.n_items, item_name=table.item_name,
                               peak_memory_B={"update": np.asarray(table.peak_memory_B.get("update", 0.0))
                                              + (n - 1) * G})
        out = concat_tables([table, extra])  # the larger update peak: the gathered gradients are resident
    return replace(out, collectives=(*table.collectives, *colls), n_devices=n,
                   n_items=np.asarray(table.n_items, dtype=np.float64) * n)
