"""Throughput of the roofline + energy evaluator in (design point, operator) pairs per second.

Evaluates 10 million pairs: 100,000 design points (HBM bandwidth and tensor-core count varied
per point, M of every GEMM varied per point) x 100 operators on the H100 SXM preset, totals only
(``detail=False``, as sweeps use it), on one core. Prints ``pairs_per_s=N`` last.

    .venv/bin/python benchmarks/roofline_throughput.py [--points N] [--ops N] [--detail]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core: numpy's elementwise maths is single-threaded anyway

import numpy as np  # noqa: E402

from models.hardware import get_target  # noqa: E402
from models.perf import compile_target, evaluate  # noqa: E402
from models.workloads import elementwise, gemm, norm, table_from_ops  # noqa: E402


def build(n_points: int, n_ops: int):
    rng = np.random.default_rng(0)
    m = rng.integers(1, 8192, n_points).astype(np.float64)
    ops = []
    for i in range(n_ops):
        kind = i % 4
        if kind == 0:
            ops.append(gemm(f"gemm{i}", m, 4096, 4096, dtype="bf16"))
        elif kind == 1:
            ops.append(gemm(f"mlp{i}", m, 11008, 4096, dtype="fp8"))
        elif kind == 2:
            ops.append(elementwise(f"act{i}", m * 11008, dtype="bf16"))
        else:
            ops.append(norm(f"norm{i}", m, 4096, dtype="bf16"))
    table = table_from_ops(ops, workload="synthetic")
    t = get_target("h100-sxm")
    ct = compile_target(t, {
        "memories.hbm.bandwidth": rng.uniform(1e12, 8e12, n_points),
        "engines.tensor.n_units": rng.integers(132, 1056, n_points).astype(np.float64),
    })
    return ct, table


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--points", type=int, default=100_000)
    ap.add_argument("--ops", type=int, default=100)
    ap.add_argument("--detail", action="store_true", help="also keep per-operator arrays")
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    ct, table = build(a.points, a.ops)
    pairs = a.points * a.ops
    best = float("inf")
    for _ in range(a.repeats):
        t0 = time.perf_counter()
        r = evaluate(ct, table, detail=a.detail)
        best = min(best, time.perf_counter() - t0)
    assert np.all(np.isfinite(r.latency_s))
    print(f"points={a.points} ops={a.ops} pairs={pairs} best_seconds={best:.3f} detail={a.detail}")
    print(f"pairs_per_s={pairs / best:.0f}")


if __name__ == "__main__":
    main()
