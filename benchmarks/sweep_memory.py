"""Peak memory of 10-million-point sweeps, one per grid shape, each in a fresh process.

Both grids of ``benchmarks/sweep_throughput.py`` grown to about 10 M points:

- hardware grid: Llama-2-7B on H100, 4 weight datatypes x 8 batch sizes x 64 HBM bandwidths x
  32 clocks x 160 HBM energies per byte = 10,485,760 points;
- workload grid: Llama-2-7B on A100, fp16, batch 1..2520 x context 128..4096 = 10,001,880 points
  (prefill of the context plus one decode step each).

Each sweep streams every point to a Parquet file (``sweep(space, out=...)``) with the default
``keep``, which then holds only the Pareto front in memory. The peak resident set size of the
process (``VmHWM`` of ``/proc/self/status``: interpreter, libraries and sweep together; not
``ru_maxrss``, which a child inherits from the process that forked it) is printed per grid, with
the time and the file's row count. Prints ``peak_rss_MiB_hardware_grid=N`` and
``peak_rss_MiB_workload_grid=N``, then the refusal of a 10**12-point space (two float axes of
10**6 values each) by ``tradespace sweep`` without ``--max-points``: ``refuse_10e12_s`` is the
time from the start of the command (space file parsed, points counted, budget checked, error
printed) to its exit code 2, measured in-process after the imports; ``refuse_10e12_wall_s`` is
the wall time of a fresh ``python -m app.cli sweep`` process, imports included.

    .venv/bin/python benchmarks/sweep_memory.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import os, resource, sys, time
for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(v, "1")
sys.path.insert(0, sys.argv[3])
import pyarrow.parquet as pq
from sweep_throughput import hardware_grid, workload_grid
from models.dse import parse_space, sweep

which, out = sys.argv[1], sys.argv[2]
if which == "hardware":
    d = hardware_grid().to_dict()
    space = hardware_grid()
    import dataclasses
    params = tuple(dataclasses.replace(p, n_grid=160) if p.name == "hbm_energy_J_per_B" else p
                   for p in space.parameters)
    space = dataclasses.replace(space, parameters=params)
else:
    space = workload_grid(2520, 4096)
t0 = time.perf_counter()
front = sweep(space, out=out, progress=False)
dt = time.perf_counter() - t0
rows = pq.ParquetFile(out).metadata.num_rows
hwm = [line for line in open("/proc/self/status") if line.startswith("VmHWM:")]
rss = int(hwm[0].split()[1]) / 1024.0 if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
print(f"{which}: points={space.n_grid_points} rows_written={rows} front={front.height} seconds={dt:.1f} "
      f"points_per_s={space.n_grid_points / dt:.0f} peak_rss_MiB={rss:.0f}")
print(f"RSS={rss:.0f}")
"""



REFUSE = r"""
import contextlib, io, sys, time
sys.path.insert(0, sys.argv[2])
from app.cli import build_parser, main
build_parser()  # the subcommands' imports, outside the timed part
err = io.StringIO()
t0 = time.perf_counter()
with contextlib.redirect_stderr(err):
    rc = main(["sweep", sys.argv[1], "--out", sys.argv[1] + ".parquet"])
dt = time.perf_counter() - t0
assert rc == 2, (rc, err.getvalue())
print(err.getvalue().strip())
print(f"T={dt:.4f}")
"""


def refuse_huge(root: Path) -> tuple[str, float, float]:
    """The error line, the in-process time and the process wall time of refusing 10**12 points."""
    sys.path.insert(0, str(root))
    from tests.security._spaces import HUGE  # the space the refusal tests use
    with tempfile.TemporaryDirectory() as tmp:
        space = os.path.join(tmp, "huge.toml")
        Path(space).write_text(HUGE)
        r = subprocess.run([sys.executable, "-c", REFUSE, space, str(root)], capture_output=True, text=True,
                           check=False)
        if r.returncode != 0:
            sys.stderr.write(r.stdout + r.stderr)
            raise SystemExit("the 10**12-point space was not refused with exit code 2")
        lines = r.stdout.strip().splitlines()
        t0 = time.perf_counter()
        w = subprocess.run([sys.executable, "-m", "app.cli", "sweep", space], capture_output=True, text=True,
                           check=False, cwd=root)
        wall = time.perf_counter() - t0
        if w.returncode != 2:
            raise SystemExit(f"tradespace sweep on 10**12 points: exit {w.returncode}, expected 2: {w.stderr}")
        return lines[0], float(lines[-1].split("=", 1)[1]), wall


def main() -> None:
    here = Path(__file__).resolve().parent
    figures = {}
    for which in ("hardware", "workload"):
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, f"{which}.parquet")
            r = subprocess.run([sys.executable, "-c", CHILD, which, out, str(here)], capture_output=True, text=True,
                               check=False)
            if r.returncode != 0:
                sys.stderr.write(r.stderr)
                raise SystemExit(f"{which} grid sweep failed")
            lines = r.stdout.strip().splitlines()
            print(lines[0])
            figures[which] = lines[-1].split("=", 1)[1]
    print(f"peak_rss_MiB_hardware_grid={figures['hardware']}")
    print(f"peak_rss_MiB_workload_grid={figures['workload']}")
    line, t_in, wall = refuse_huge(here.parent)
    print(line)
    print(f"refuse_10e12_s={t_in:.3f}")
    print(f"refuse_10e12_wall_s={wall:.2f}")


if __name__ == "__main__":
    main()
