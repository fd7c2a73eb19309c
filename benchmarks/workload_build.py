"""Build Llama-2-7B prefill and decode operator tables for many (batch, length) design points.

Each chunk of points is one builder call per phase (vectorized knobs). A design point counts
once even though it gets both a prefill and a decode table. Prints ``points_per_s=N`` last.

Usage: ``python benchmarks/workload_build.py [--points 1000000] [--chunk 100000] [--seed 0]``
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from models.workloads.llm import llm_decode, llm_prefill, load_llm_config


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--chunk", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    cfg = load_llm_config("llama-2-7b")
    batch = rng.integers(1, 257, size=args.points)
    length = rng.integers(1, 4097, size=args.points)
    checksum = 0.0
    t0 = time.perf_counter()
    for s in range(0, args.points, args.chunk):
        b, n = batch[s : s + args.chunk], length[s : s + args.chunk]
        pre = llm_prefill(cfg, b, n)
        dec = llm_decode(cfg, b, n, 128)
        checksum += float(pre.total("flop").sum() + dec.total("bytes_B").sum())
    dt = time.perf_counter() - t0
    print(
        f"model=llama-2-7b points={args.points} chunk={args.chunk} "
        f"ops_prefill={pre.n_ops} ops_decode={dec.n_ops}"
    )
    print(f"seconds={dt:.3f} checksum={checksum:.6e}")
    print(f"points_per_s={args.points / dt:.0f}")


if __name__ == "__main__":
    main()
