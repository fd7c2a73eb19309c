"""Cluster sweep throughput on 1 and 2 local Dask workers, and the client's peak memory.

The space is the hardware grid of ``benchmarks/sweep_throughput.py`` (Llama-2-7B prefill 2048 +
decode 256 on the H100 preset: 4 weight datatypes x 8 batch sizes x 64 HBM bandwidths x 32
clocks) with 1,600 HBM energies per byte: 104,857,600 points (>= 10**8), and the same with
160,000 energies (10**10 points) to show that the client's memory does not grow with the grid.

Each configuration runs in a fresh client process with its own ``LocalCluster`` (one thread per
worker process, processes=True): a warm-up of one part per worker (imports, workload builds),
then the next ``K`` parts (``--parts-per-worker`` x workers, of ``--part-size`` points each)
resumed into the same dataset folder with ``sweep_cluster(..., max_parts=K)``, timed from the
call to its return. ``points_per_s`` is the points of those K parts over that time; the full
grid's time is extrapolated from it. The client's peak resident set (``VmHWM`` of
``/proc/self/status``, cluster start-up included; the workers are other processes) is printed
per configuration. Prints ``points_per_s_1_worker``, ``points_per_s_2_workers``, their
``ratio`` (close to 2 on a 2-core machine when nothing else runs) and ``client_peak_rss_MiB``.

    .venv/bin/python benchmarks/sweep_cluster.py [--part-size N] [--parts-per-worker K]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent

CHILD = r"""
import dataclasses, json, logging, os, sys, time
sys.path.insert(0, sys.argv[1])
from sweep_throughput import hardware_grid
from models.dse.cluster import sweep_cluster

if __name__ == "__main__":
    n_workers, n_energies, part_size, per_worker, out = (int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]),
                                                         int(sys.argv[5]), sys.argv[6])
    s = hardware_grid()
    s = dataclasses.replace(s, parameters=tuple(dataclasses.replace(p, n_grid=n_energies)
                                                if p.name == "hbm_energy_J_per_B" else p for p in s.parameters))
    import distributed
    cluster = distributed.LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                                       dashboard_address=None, silence_logs=logging.ERROR)
    with distributed.Client(cluster) as c:
        kw = dict(cluster=c, part_size=part_size, progress=False, max_points=None)
        sweep_cluster(s, out, max_parts=n_workers, **kw)  # warm-up: one part per worker
        t0 = time.perf_counter()
        r = sweep_cluster(s, out, max_parts=per_worker * n_workers, **kw)
        dt = time.perf_counter() - t0
    cluster.close()
    hwm = [ln for ln in open("/proc/self/status") if ln.startswith("VmHWM:")]
    print(json.dumps({"n_points": s.n_grid_points, "n_parts": r.n_parts, "parts_timed": r.n_parts_run,
                      "rows_timed": r.n_rows_run, "seconds": dt, "rss_MiB": int(hwm[0].split()[1]) / 1024}))
"""


def run(n_workers: int, n_energies: int, part_size: int, per_worker: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "sweep.parquet")
        p = subprocess.run([sys.executable, "-c", CHILD, str(HERE), str(n_workers), str(n_energies), str(part_size),
                            str(per_worker), out], capture_output=True, text=True, check=False,
                           cwd=HERE.parent)
        if p.returncode:
            raise SystemExit(p.stderr[-3000:])
        d = json.loads(p.stdout.strip().splitlines()[-1])
    d["points_per_s"] = d["rows_timed"] / d["seconds"]
    print(f"workers={n_workers} points={d['n_points']:,} parts={d['n_parts']:,} timed_parts={d['parts_timed']} "
          f"timed_points={d['rows_timed']:,} seconds={d['seconds']:.2f} points_per_s={d['points_per_s']:,.0f} "
          f"extrapolated_full_grid_s={d['n_points'] / d['points_per_s']:,.0f} client_peak_rss_MiB={d['rss_MiB']:.0f}",
          flush=True)
    return d


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part-size", type=int, default=1 << 20, help="points per part (default 1,048,576)")
    ap.add_argument("--parts-per-worker", type=int, default=4, help="timed parts per worker (default 4)")
    a = ap.parse_args()
    one = run(1, 1600, a.part_size, a.parts_per_worker)
    two = run(2, 1600, a.part_size, a.parts_per_worker)
    big = run(2, 160_000, a.part_size, a.parts_per_worker)
    print(f"points_per_s_1_worker={one['points_per_s']:.0f}")
    print(f"points_per_s_2_workers={two['points_per_s']:.0f}")
    print(f"ratio={two['points_per_s'] / one['points_per_s']:.2f}")
    print(f"client_peak_rss_MiB={max(one['rss_MiB'], two['rss_MiB']):.0f} (10^8 points); "
          f"{big['rss_MiB']:.0f} (10^10 points)")


if __name__ == "__main__":
    main()
