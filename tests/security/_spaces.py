"""Design spaces of a chosen size for the budget, streaming and signal tests (and the memory benchmark).

Two float axes (HBM bandwidth 1-8 TB/s, clock 1-2 GHz) of a preset: ``n_bw x n_clock`` points,
each evaluated in microseconds, so the size alone decides how long a sweep runs.
"""

from __future__ import annotations


def two_axis_space(name: str, workload: str, n_bw: int, n_clock: int, *, energy: bool = False) -> str:
    """The TOML text of a ``n_bw x n_clock``-point space on h100-sxm (objectives latency, and energy)."""
    text = f"""
name = "{name}"
target = "h100-sxm"
workload = "{workload}"
[[parameters]]
name = "bw"
sets = "target.memories.hbm.bandwidth"
kind = "float"
bounds = [1, 8]
unit = "TB/s"
n_grid = {n_bw}
[[parameters]]
name = "clock"
sets = "target.clock"
kind = "float"
bounds = [1.0, 2.0]
unit = "GHz"
n_grid = {n_clock}
[[objectives]]
metric = "latency_s"
"""
    return text + ('[[objectives]]\nmetric = "energy_J"\n' if energy else "")


# 10**12 points: must be refused at once, without building anything
HUGE = two_axis_space("huge", "llama-2-7b", 1_000_000, 1_000_000)
