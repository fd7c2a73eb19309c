"""Search quality: NSGA-II with a persistent journal study vs the exhaustive front.

A fixed 2-objective space (Llama-shaped decoder on h100-sxm: batch x HBM bandwidth x clock x
weight format, latency vs energy per token, memory-feasible only). The exhaustive front comes
from a sweep of the same grid; the search's front is compared by hypervolume (reference point:
the exhaustive front's nadir + 10 % of its range). Prints
``hypervolume_ratio=X trials=N seconds=T`` last.
"""

from __future__ import annotations

import os
import tempfile
import time

import numpy as np

from models.dse import hypervolume_ratio, parse_space, search, sweep, to_minimization


def main() -> None:
    space = parse_space(
        {
            "name": "search-quality",
            "target": "h100-sxm",
            "workload": "llama-2-7b",
            "parameters": [
                {
                    "name": "batch",
                    "sets": "workload.batch",
                    "kind": "int",
                    "values": [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256],
                },
                {
                    "name": "hbm_bandwidth_B_per_s",
                    "sets": "target.memories.hbm.bandwidth",
                    "kind": "float",
                    "values": [1.0, 1.5, 2.0, 2.5, 3.35, 4.0, 5.0, 6.0, 8.0],
                    "unit": "TB/s",
                },
                {
                    "name": "clock_Hz",
                    "sets": "target.clock",
                    "kind": "float",
                    "values": [1.0, 1.2, 1.4, 1.6, 1.83, 2.0, 2.2],
                    "unit": "GHz",
                },
                {
                    "name": "weight_dtype",
                    "sets": "workload.weight_dtype",
                    "kind": "categorical",
                    "choices": ["bf16", "fp8", "int8", "int4"],
                },
            ],
            "objectives": [{"metric": "latency_s"}, {"metric": "energy_J_per_token"}],
            "constraints": [{"kind": "memory"}],
        },
        source="benchmarks/search_quality.py",
    )
    objs = [o.metric for o in space.objectives]
    dirs = [o.direction for o in space.objectives]
    full = sweep(space, progress=False, keep="feasible")
    Y_ref = to_minimization(full.select(objs).to_numpy(), dirs)
    n_trials = int(os.environ.get("SEARCH_TRIALS", "1000"))
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        res = search(
            space,
            n_trials,
            storage=f"journal:{d}/study.log",
            study_name="q",
            sampler="nsga2",
            seed=0,
            population_size=50,
        )
        dt = time.perf_counter() - t0
    feas = res.filter(res["feasible"])
    Y = to_minimization(feas.select(objs).to_numpy(), dirs)
    ratio, ref = hypervolume_ratio(Y, Y_ref)
    print(
        f"grid_points={space.n_grid_points} feasible={full.height} reference_point={np.array2string(ref)}"
    )
    print(f"hypervolume_ratio={ratio:.4f} trials={res.height} seconds={dt:.2f}")


if __name__ == "__main__":
    main()
