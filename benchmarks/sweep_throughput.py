"""Sweep throughput: >= 1 million full-model Llama-2-7B design points on the H100 preset.

Each point is prefill 2048 + decode 256 tokens of Llama-2-7B with its own HBM bandwidth, clock,
HBM energy per byte, batch size and weight datatype (an algorithm knob). Runs on one core (set
the BLAS/OpenMP thread counts to 1 before numpy loads). Prints ``points_per_s=N`` last.
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import time  # noqa: E402

from models.dse import available_workloads, parse_space, sweep  # noqa: E402


def main() -> None:
    workload = "llama-2-7b" if "llama-2-7b" in available_workloads() else "decoder-7b-synthetic"
    space = parse_space(
        {
            "name": "llama-2-7b-h100-throughput",
            "target": "h100-sxm",
            "workload": workload,
            "workload_knobs": {"prompt_len": 2048, "n_generated": 256},
            "parameters": [
                {
                    "name": "weight_dtype",
                    "sets": "algorithm.weight_dtype",
                    "kind": "categorical",
                    "choices": ["bf16", "fp8", "int8", "int4"],
                },
                {
                    "name": "batch",
                    "sets": "workload.batch",
                    "kind": "int",
                    "bounds": [1, 128],
                    "log": True,
                    "n_grid": 8,
                },
                {
                    "name": "hbm_bandwidth_B_per_s",
                    "sets": "target.memories.hbm.bandwidth",
                    "kind": "float",
                    "bounds": [1, 8],
                    "unit": "TB/s",
                    "n_grid": 64,
                },
                {
                    "name": "clock_Hz",
                    "sets": "target.clock",
                    "kind": "float",
                    "bounds": [1.0, 2.2],
                    "unit": "GHz",
                    "n_grid": 32,
                },
                {
                    "name": "hbm_energy_J_per_B",
                    "sets": "target.memories.hbm.energy_per_byte",
                    "kind": "float",
                    "bounds": [20, 60],
                    "unit": "pJ/B",
                    "n_grid": 16,
                },
            ],
            "objectives": [{"metric": "latency_s"}, {"metric": "energy_J_per_token"}],
            "constraints": [{"kind": "memory"}],
        },
        source="benchmarks/sweep_throughput.py",
    )
    n = space.n_grid_points
    t0 = time.perf_counter()
    df = sweep(space, keep=os.environ.get("SWEEP_KEEP", "all"), progress=False)
    dt = time.perf_counter() - t0
    assert df.height in (0, n)
    print(f"workload={workload} points={n} seconds={dt:.3f} feasible={int(df['feasible'].sum())}")
    print(f"points_per_s={n / dt:.0f}")


if __name__ == "__main__":
    main()
