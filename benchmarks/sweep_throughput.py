"""Sweep throughput on the two grid shapes users ask about, measured in the same run.

- **hardware grid** (``points_per_s_hardware_grid``): Llama-2-7B (prefill 2048 + decode 256) on
  the H100 preset, 4 weight datatypes x 8 batch sizes x 64 HBM bandwidths x 32 clocks x 16 HBM
  energies per byte = 1,048,576 points: few workload rows, many hardware rows.
- **workload grid** (``points_per_s_workload_grid``): Llama-2-7B on the A100 preset, fp16,
  batch 1..64 x context 128..4096 (every integer: 254,016 points), each point the prefill of the
  context plus one decode step: every point its own workload row.
- **serving grid** (``points_per_s_serving_grid``): Llama-2-7B served on the H100 preset
  (``models.serving``: aggregated, lognormal lengths, chunked prefill), 16 batch sizes x 16 TPOT
  SLAs x 32 mean prompt lengths (7,680 points: the integer grids hold repeats), each priced from
  its server's steps (the decode step and the chunked prompt steps at 10 prompt-length nodes).
- **parallel serving grid** (``points_per_s_parallel_grid``): Mixtral-8x7B served on 8 H100s
  (aggregated), every plan of TP x EP in {1, 2, 4, 8} x PP in {1, 2} (32 plan groups, those over 8
  devices infeasible) x 28 batch sizes (32 log-spaced integers, repeats merged) x 16 link bandwidths
  x 8 link latencies (114,688 points):
  one operator table per plan, the batch and the link vectorised inside it.
- **agent grid** (``points_per_s_agent_grid``): LLaMA-2-70B on 2 A100s answering a task with tool
  calls (``models.systems.function_calling``): ReAct or LLMCompiler x 1..16 calls (5 values) x 32
  tool latencies x 16 HBM bandwidths (5,120 points); every LLM invocation of a task priced.
- **federated grid** (``points_per_s_federated_grid``): ResNet-18 clients on the Jetson Orin GPU
  (``models.systems.federated``, 50 clients): FedAvg or asynchronous x 32 client spreads x 32 link
  bandwidths x 16 local step counts (32,768 points), each a population of 50 clients.
- **clip grid** (``points_per_s_clip_grid``): Video-Infinity clip parallelism on the RTX 6000 Ada
  (1..16 devices, 5 values) x 64 frame counts x 16 link bandwidths (5,120 points).

Each sweep returns every point as a polars frame (the default ``keep``); the figure is the best
of ``--repeats`` runs (the machine's other load only ever slows a run down). Runs on one core
(the BLAS/OpenMP thread counts are set to 1 before numpy loads). Prints one line per grid, then
the figures last.

    .venv/bin/python benchmarks/sweep_throughput.py [--repeats N]
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

from models.dse import DesignSpace, parse_space, sweep  # noqa: E402


def hardware_grid() -> DesignSpace:
    return parse_space({
        "name": "llama-2-7b-h100-hardware-grid",
        "target": "h100-sxm",
        "workload": "llama-2-7b",
        "workload_knobs": {"prompt_len": 2048, "n_generated": 256},
        "parameters": [
            {"name": "weight_dtype", "sets": "workload.weight_dtype", "kind": "categorical",
             "choices": ["bf16", "fp8", "int8", "int4"]},
            {"name": "batch", "sets": "workload.batch", "kind": "int", "bounds": [1, 128], "log": True, "n_grid": 8},
            {"name": "hbm_bandwidth_B_per_s", "sets": "target.memories.hbm.bandwidth", "kind": "float",
             "bounds": [1, 8], "unit": "TB/s", "n_grid": 64},
            {"name": "clock_Hz", "sets": "target.clock", "kind": "float", "bounds": [1.0, 2.2], "unit": "GHz",
             "n_grid": 32},
            {"name": "hbm_energy_J_per_B", "sets": "target.memories.hbm.energy_per_byte", "kind": "float",
             "bounds": [20, 60], "unit": "pJ/B", "n_grid": 16},
        ],
        "objectives": [{"metric": "latency_s"}, {"metric": "energy_J_per_token"}],
        "constraints": [{"kind": "memory"}],
    }, source="benchmarks/sweep_throughput.py")


def workload_grid(batch_max: int = 64, context_max: int = 4096) -> DesignSpace:
    return parse_space({
        "name": "llama-2-7b-a100-workload-grid",
        "target": "a100-80gb",
        "workload": "llama-2-7b",
        "workload_knobs": {"n_generated": 1, "weight_dtype": "fp16", "act_dtype": "fp16", "kv_dtype": "fp16"},
        "parameters": [
            {"name": "batch", "sets": "workload.batch", "kind": "int", "bounds": [1, batch_max],
             "n_grid": batch_max},
            {"name": "context", "sets": "workload.prompt_len", "kind": "int", "bounds": [128, context_max],
             "n_grid": context_max - 127},
        ],
        "objectives": [{"metric": "latency_s"}, {"metric": "energy_J_per_token"}],
        "constraints": [{"kind": "memory"}],
    }, source="benchmarks/sweep_throughput.py")


def serving_grid(batch_max: int = 256, n_sla: int = 16, n_prompt: int = 32) -> DesignSpace:
    """Llama-2-7B served on the H100 preset (aggregated, lognormal lengths, chunked prefill):
    batch x TPOT SLA x mean prompt length (``models.serving``)."""
    return parse_space({
        "name": "llama-2-7b-h100-serving-grid",
        "target": "h100-sxm",
        "workload": "llama-2-7b",
        "workload_knobs": {"n_generated": 256},
        "algorithm_knobs": {"serving": "aggregated", "length_dist": "lognormal", "prompt_p99": 4096,
                            "output_p99": 1024, "chunk_tokens": 512, "ttft_sla_s": 0.5},
        "parameters": [
            {"name": "batch", "sets": "workload.batch", "kind": "int", "bounds": [1, batch_max], "log": True,
             "n_grid": 16},
            {"name": "tpot_sla_s", "sets": "algorithm.tpot_sla_s", "kind": "float", "bounds": [5, 100], "unit": "ms",
             "log": True, "n_grid": n_sla},
            {"name": "prompt_len", "sets": "workload.prompt_len", "kind": "int", "bounds": [512, 2048],
             "log": True, "n_grid": n_prompt},
        ],
        "objectives": [{"metric": "tpot_s"}, {"metric": "goodput_output_tokens_per_s", "direction": "maximize"}],
        "constraints": [{"kind": "memory"}],
    }, source="benchmarks/sweep_throughput.py")


def parallel_grid(n_batch: int = 32, n_bw: int = 16, n_lat: int = 8) -> DesignSpace:
    """Mixtral-8x7B on 8 H100s: the parallel plan x batch x link bandwidth and latency."""
    return parse_space({
        "name": "mixtral-8xh100-parallel-grid",
        "target": "h100-sxm",
        "workload": "mixtral-8x7b",
        "workload_knobs": {"prompt_len": 1024, "n_generated": 256},
        "algorithm_knobs": {"serving": "aggregated", "serving_devices": 8},
        "parameters": [
            {"name": "tp", "sets": "algorithm.tensor_parallel", "kind": "int", "values": [1, 2, 4, 8]},
            {"name": "ep", "sets": "algorithm.expert_parallel", "kind": "int", "values": [1, 2, 4, 8]},
            {"name": "pp", "sets": "algorithm.pipeline_parallel", "kind": "int", "values": [1, 2]},
            {"name": "batch", "sets": "workload.batch", "kind": "int", "bounds": [1, 512], "log": True,
             "n_grid": n_batch},
            {"name": "link_bw", "sets": "target.link_bandwidth", "kind": "float", "bounds": [25, 900], "unit": "GB/s",
             "log": True, "n_grid": n_bw},
            {"name": "link_lat", "sets": "target.link_latency", "kind": "float", "bounds": [0.3, 10], "unit": "us",
             "log": True, "n_grid": n_lat},
        ],
        "objectives": [{"metric": "output_tokens_per_s_per_device", "direction": "maximize"},
                       {"metric": "output_tokens_per_s_per_user", "direction": "maximize"}],
        "constraints": [{"kind": "memory"}],
    }, source="benchmarks/sweep_throughput.py")


def agent_grid() -> DesignSpace:
    """LLaMA-2-70B on 2 A100s: ReAct or LLMCompiler x calls x tool latency x HBM bandwidth."""
    return parse_space({
        "name": "llama-2-70b-2xa100-agent-grid",
        "target": "a100-80gb",
        "workload": "llama-2-70b",
        "workload_knobs": {"prompt_len": 400, "n_generated": 68, "weight_dtype": "fp16", "act_dtype": "fp16",
                           "kv_dtype": "fp16"},
        "algorithm_knobs": {"tensor_parallel": 2, "call_tokens": 6, "observation_tokens": 244,
                            "input_price_usd_per_Mtok": 1.0, "output_price_usd_per_Mtok": 2.0},
        "parameters": [
            {"name": "mode", "sets": "algorithm.function_calling", "kind": "categorical",
             "choices": ["sequential", "parallel"]},
            {"name": "calls", "sets": "algorithm.n_calls", "kind": "int", "values": [1, 2, 4, 8, 16]},
            {"name": "tool_s", "sets": "algorithm.tool_latency_s", "kind": "float", "bounds": [0.01, 10], "unit": "s",
             "log": True, "n_grid": 32},
            {"name": "hbm_bw", "sets": "target.memories.hbm.bandwidth", "kind": "float", "bounds": [1, 4],
             "unit": "TB/s", "n_grid": 16},
        ],
        "objectives": [{"metric": "latency_s"}, {"metric": "cost_usd"}],
    }, source="benchmarks/sweep_throughput.py")


def federated_grid() -> DesignSpace:
    """50 ResNet-18 clients on a Jetson Orin GPU: FedAvg or async x spread x link x local steps."""
    return parse_space({
        "name": "resnet-18-orin-federated-grid",
        "target": "jetson-orin-gpu",
        "workload": "resnet-18",
        "workload_knobs": {"training": True, "batch": 64, "resolution": 32},
        "algorithm_knobs": {"fl_clients": 50, "fl_server_updates": 100},
        "parameters": [
            {"name": "algorithm", "sets": "algorithm.federated", "kind": "categorical", "choices": ["fedavg", "async"]},
            {"name": "sigma", "sets": "algorithm.fl_speed_sigma", "kind": "float", "bounds": [0, 2], "n_grid": 32},
            {"name": "link", "sets": "algorithm.fl_client_bandwidth", "kind": "float", "bounds": [1, 1000],
             "unit": "MB/s", "log": True, "n_grid": 32},
            {"name": "steps", "sets": "algorithm.fl_local_steps", "kind": "int", "bounds": [1, 1000], "log": True,
             "n_grid": 16},
        ],
        "objectives": [{"metric": "time_to_updates_s"}, {"metric": "total_bytes_B"}],
    }, source="benchmarks/sweep_throughput.py")


def clip_grid() -> DesignSpace:
    """Video-Infinity on RTX 6000 Ada: devices x frames x link bandwidth."""
    return parse_space({
        "name": "videoinfinity-rtx6000ada-clip-grid",
        "target": "rtx-6000-ada",
        "workload": "animatediff-sd15",
        "workload_knobs": {"height": 320, "width": 512, "steps": 30},
        "parameters": [
            {"name": "devices", "sets": "workload.clip_devices", "kind": "int", "values": [1, 2, 4, 8, 16]},
            {"name": "frames", "sets": "workload.frames", "kind": "int", "bounds": [64, 4096], "log": True,
             "n_grid": 64},
            {"name": "link_bw", "sets": "target.link_bandwidth", "kind": "float", "bounds": [16, 450], "unit": "GB/s",
             "log": True, "n_grid": 16},
        ],
        "objectives": [{"metric": "latency_s"}, {"metric": "energy_J"}],
        "constraints": [{"kind": "memory"}],
    }, source="benchmarks/sweep_throughput.py")


def measure(space: DesignSpace, repeats: int, **kw: Any) -> float:
    n = space.n_grid_points
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        df = sweep(space, progress=False, **kw)
        best = min(best, time.perf_counter() - t0)
        assert df.height == n
    print(f"{space.name}: points={n} best_seconds={best:.3f} feasible={int(df['feasible'].sum())}")
    return n / best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    sweep(workload_grid(4, 256), progress=False)  # warm-up: imports, first allocations
    hw = measure(hardware_grid(), a.repeats)
    wl = measure(workload_grid(), a.repeats)
    sv = measure(serving_grid(), a.repeats)
    pl_ = measure(parallel_grid(), a.repeats)
    ag = measure(agent_grid(), a.repeats)
    fd = measure(federated_grid(), a.repeats)
    cl = measure(clip_grid(), a.repeats)
    print(f"points_per_s_hardware_grid={hw:.0f}")
    print(f"points_per_s_workload_grid={wl:.0f}")
    print(f"points_per_s_serving_grid={sv:.0f}")
    print(f"points_per_s_parallel_grid={pl_:.0f}")
    print(f"points_per_s_agent_grid={ag:.0f}")
    print(f"points_per_s_federated_grid={fd:.0f}")
    print(f"points_per_s_clip_grid={cl:.0f}")


if __name__ == "__main__":
    main()
