"""An LLM agent's function calls: sequential (ReAct) against planned parallel execution (LLMCompiler).

A task needs ``n`` tool calls whose dependencies form a DAG (:mod:`models.systems.dag`). The LLM
runs on the point's target and every one of its invocations is a decoder LLM request priced by the
one path (:func:`models.point.build_point` of the workload at ``phase = inference``, priced by
:func:`models.perf.evaluate`): ``L(c, g)`` is the latency of prefilling ``c`` tokens and generating
``g`` from them, ``E(c, g)`` its energy. Notation: ``P`` the prompt (workload ``prompt_len``:
instructions and few-shot examples), ``a`` the tokens the LLM writes per call (``call_tokens``:
ReAct's thought and action, or one line of LLMCompiler's plan), ``o`` the tokens a tool's result
adds to the context (``observation_tokens``), ``G`` the answer (workload ``n_generated``), ``t`` a
tool call's latency (``tool_latency_s``, the same for every call).

- **sequential** (ReAct, Yao et al. 2023): ``n + 1`` LLM invocations in turn, each reading the
  whole history: invocation ``j < n`` prefills ``c_j = P + j (a + o)`` and writes ``a`` tokens,
  then tool ``j`` runs; the last prefills ``c_n`` and writes ``G``. Latency ``sum_j L(c_j, a) +
  n t + L(c_n, G)`` whatever the graph (one call per step).
- **parallel** (LLMCompiler, Kim et al. ICML 2024): a planner writes the whole plan (``n a``
  tokens from ``P``); its task fetching unit dispatches call ``i`` as soon as its line is written
  and its dependencies have finished: with the plan in topological order, line ``k`` is complete
  at ``r_k = L_prefill(P) + (k + 1) a tau`` (``tau`` the planner's time per output token), and
  call ``i`` finishes at ``f_i = max(r_i, max_{j in deps(i)} f_j) + t``. The joiner starts when
  the planner and every call are done, prefills ``P + n a + n o`` and writes ``G``. Latency
  ``max(L(P, n a), max_i f_i) + L(P + n (a + o), G)``. Replanning is not modelled (one plan).

Tokens: input tokens are the prefilled contexts summed over invocations, output tokens the
written ones, per task. With prices (``input_price_usd_per_Mtok``, ``output_price_usd_per_Mtok``,
USD per million tokens as API price lists quote them) ``cost_usd = in x p_in + out x p_out``
(NaN without). Energy: the invocations' energies plus the static power of the devices while the
LLM waits for tools (the device is held by the agent; a shared server would recover it). The
workload ``batch`` runs that many tasks in lockstep: latency is one task's, energy and tokens are
the batch's (``n_items`` = tasks).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np

from models.hardware import Target
from models.params import single_whole
from models.perf.compiled import CompiledTarget
from models.perf.roofline import PerfResult, evaluate
from models.point import BuiltPoint, build_point
from models.point.knobs import FUNCTION_CALLING_KNOBS, split_settings
from models.systems.dag import (
    CallGraphError,
    Deps,
    finish_times,
    graph_depth,
    layered_graph,
    parse_call_graph,
    topological_order,
)
from models.workloads import WorkloadSpec, workload_spec

__all__ = ["FUNCTION_CALLING_METRICS", "call_graph_of", "evaluate_function_calling"]

FUNCTION_CALLING_METRICS = (
    "llm_invocations",
    "input_tokens",
    "output_tokens",
    "llm_time_s",
    "tool_wait_s",
    "cost_usd",
    "calls_on_critical_path",
)


def call_graph_of(fc: Mapping[str, Any]) -> Deps:
    """The call graph set by the function-calling knobs (bare names): ``call_graph``, else the
    layered graph of ``n_calls`` in ``call_depth`` levels."""
    if "call_graph" in fc and fc["call_graph"] not in (None, "layered"):
        for k in ("n_calls", "call_depth"):
            if k in fc:
                raise CallGraphError(f"algorithm knob {k!r} with call_graph = {fc['call_graph']!r}: the edge list "
                                     "sets the calls; allowed: one of them (call_graph = layered uses n_calls and "
                                     "call_depth)", knob=k)
        return parse_call_graph(str(fc["call_graph"]))
    return layered_graph(_whole(fc, "n_calls", 1), _whole(fc, "call_depth", 1))


def _whole(fc: Mapping[str, Any], name: str, default: int) -> int:
    return single_whole(fc.get(name, default), name, lambda msg: CallGraphError(msg, knob=name))


def _lead(k: int, ndim: int) -> np.ndarray:
    """``0 .. k - 1`` on a leading axis ahead of ``ndim`` point axes."""
    return np.arange(k, dtype=np.float64).reshape((k,) + (1,) * ndim)


def evaluate_function_calling(ct: CompiledTarget, target: Target, workload: str | WorkloadSpec,
                              knobs: Mapping[str, Any], *, engine: str | Mapping[str, str] | None = None,
                              policy: str = "time", mode: str = "calibrated",
                              detail: bool = False) -> tuple[PerfResult, BuiltPoint]:
    """Latency, energy, tokens and cost of one agent task (module docstring) on ``ct``.

    Returns
    -------
    (PerfResult, BuiltPoint)
        ``latency_s`` the task's, ``energy_J`` the batch's, ``n_items`` the tasks (item
        ``task``); phases ``llm`` (invocations) and ``tools`` (the LLM waiting); ``system`` holds
        :data:`FUNCTION_CALLING_METRICS`. The built point and the breakdown are the last
        invocation's (the answer).

    Raises
    ------
    CallGraphError, ValueError
        A bad call graph or setting (named), or a knob :func:`build_point` refuses.
    """
    spec = workload if isinstance(workload, WorkloadSpec) else workload_spec(workload)
    if spec.family != "llm":
        raise ValueError(f"algorithm knob 'function_calling': workload {spec.name!r} is not a decoder LLM; allowed: "
                         "off, or a decoder LLM workload (the agent's LLM)")
    wk, ak = split_settings(dict(knobs), spec)
    fc = {k: ak.pop(k) for k in FUNCTION_CALLING_KNOBS if k in ak}
    fmode = str(fc.get("function_calling", "off"))
    if fmode not in ("sequential", "parallel"):
        raise ValueError(f"algorithm knob 'function_calling' = {fmode!r}; allowed here: sequential, parallel")
    user = {**spec.defaults(), **wk}
    if user.get("phase", "inference") != "inference":
        raise ValueError(f"workload knob 'phase' = {user['phase']!r} with function_calling = {fmode!r}; allowed: "
                         "inference (each LLM invocation is prefilled and decoded)")
    deps = call_graph_of(fc)
    order = topological_order(deps)
    n = len(deps)
    P = np.asarray(user["prompt_len"], dtype=np.float64)
    G = np.asarray(user["n_generated"], dtype=np.float64)
    a = np.asarray(fc.get("call_tokens", 32), dtype=np.float64)
    o = np.asarray(fc.get("observation_tokens", 64), dtype=np.float64)
    t_tool = np.asarray(fc.get("tool_latency_s", 0.0), dtype=np.float64)
    ndim = max(np.ndim(P), np.ndim(G), np.ndim(a), np.ndim(o), np.ndim(t_tool), 1 if ct.n_points > 1 else 0,
               *(np.ndim(v) for v in ak.values() if isinstance(v, np.ndarray)),
               *(np.ndim(v) for v in wk.values() if isinstance(v, np.ndarray)))
    B = np.asarray(user["batch"], dtype=np.float64)

    def call(context: Any, out: Any, keep: bool = False) -> tuple[PerfResult, BuiltPoint]:
        b = build_point(spec, {**wk, **ak, "phase": "inference", "prompt_len": context, "n_generated": out},
                        target=target)
        return evaluate(ct, b.table, engine=engine, policy=policy, mode=mode, detail=keep), b

    final_ctx = P + n * (a + o)
    r_end, b_end = call(final_ctx, G, detail)
    if fmode == "sequential":
        j = _lead(n, ndim)
        ctx = P + j * (a + o)
        r_steps, _ = call(ctx, np.broadcast_to(a, np.broadcast_shapes(ctx.shape, a.shape)))
        llm_s = r_steps.latency_s.sum(axis=0) + r_end.latency_s
        wall = llm_s + n * t_tool
        e_llm = {k: getattr(r_steps, k).sum(axis=0) + getattr(r_end, k)
                 for k in ("energy_J", "dynamic_energy_J", "static_energy_J", "stalled_energy_J")}
        tokens_in = (n + 1) * P + (a + o) * n * (n + 1) / 2.0
        tokens_out = n * a + G
        invocations = float(n + 1)
        depth = float(n)
        peak = np.maximum(np.max(r_steps.peak_memory_B, axis=0), r_end.peak_memory_B)
    else:
        r_plan, _ = call(P, n * a)
        tau = r_plan.phase_latency_s["decode"] / (n * a)
        pos = np.empty(n)
        pos[list(order)] = np.arange(n)
        shape_lead = (n,) + (1,) * max(ndim, np.ndim(tau))
        ready = r_plan.phase_latency_s["prefill"] + (pos.reshape(shape_lead) + 1.0) * a * tau
        done = np.max(finish_times(t_tool[None], deps, ready, order), axis=0)
        joiner_start = np.maximum(r_plan.latency_s, done)
        llm_s = r_plan.latency_s + r_end.latency_s
        wall = joiner_start + r_end.latency_s
        e_llm = {k: getattr(r_plan, k) + getattr(r_end, k)
                 for k in ("energy_J", "dynamic_energy_J", "static_energy_J", "stalled_energy_J")}
        tokens_in = P + final_ctx
        tokens_out = n * a + G
        invocations = 2.0
        depth = float(graph_depth(deps))
        peak = np.maximum(r_plan.peak_memory_B, r_end.peak_memory_B)
    wait = wall - llm_s
    idle_J = np.asarray(ct.static_power_W) * wait * r_end.n_devices
    p_in, p_out = fc.get("input_price_usd_per_Mtok"), fc.get("output_price_usd_per_Mtok")
    cost = (tokens_in * np.asarray(p_in) + tokens_out * np.asarray(p_out)) * B / 1e6 \
        if p_in is not None and p_out is not None else np.asarray(np.nan)
    if (p_in is None) != (p_out is None):
        raise ValueError("algorithm knobs 'input_price_usd_per_Mtok' and 'output_price_usd_per_Mtok' go together "
                         "(the cost is input and output tokens at their prices); allowed: both, or neither")
    energy = e_llm["energy_J"] + idle_J
    shape = np.broadcast_shapes(np.shape(wall), np.shape(energy), np.shape(peak), np.shape(cost),
                                np.shape(tokens_in), np.shape(B), r_end.shape)

    def bc(v: Any) -> np.ndarray:
        return np.broadcast_to(np.asarray(v, dtype=np.float64), shape)

    system = {"llm_invocations": bc(invocations), "input_tokens": bc(tokens_in * B),
              "output_tokens": bc(tokens_out * B), "llm_time_s": bc(llm_s), "tool_wait_s": bc(wait),
              "cost_usd": bc(cost),
              "calls_on_critical_path": bc(depth)}
    result = replace(
        r_end, n_points=int(np.prod(shape)), latency_s=bc(wall), energy_J=bc(energy),
        dynamic_energy_J=bc(e_llm["dynamic_energy_J"]), static_energy_J=bc(e_llm["static_energy_J"] + idle_J),
        stalled_energy_J=bc(e_llm["stalled_energy_J"]), n_items=bc(B), item_name="task", peak_memory_B=bc(peak),
        memory_capacity_B=bc(r_end.memory_capacity_B), host_wait_s=bc(0.0),
        phase_latency_s={"llm": bc(llm_s), "tools": bc(wait)},
        phase_energy_J={"llm": bc(e_llm["energy_J"]), "tools": bc(idle_J)}, system=system)
    built = replace(b_end, knobs=user, algorithm={**ak, **fc})
    return result, built
