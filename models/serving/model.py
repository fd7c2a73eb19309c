"""Serving a stream of LLM requests on one target: TTFT, TPOT, rates, goodput, J/token.

The serving model prices nothing itself. It builds the operator tables of a server's steps with
:func:`models.point.build_point` (so every algorithm knob means what it means for one request),
prices each with :func:`models.perf.evaluate` (the one kernel), and combines the step times and
energies with the steady-state algebra below. Every array broadcasts over design points; the only
Python loop is over the fixed equal-probability nodes of the prompt-length distribution
(:mod:`models.serving.lengths`).

Notation (per design point): ``B`` requests in flight per device (the workload knob ``batch``),
prompt length ``P`` and output length ``G`` (independent; means ``prompt_len`` and
``n_generated``), ``N`` devices. Steps:

- decode step ``d``: ``B`` sequences decode one token each at the mean context of the batch,
  ``c = E[P] + E[G (G - 1)] / (2 E[G])`` (a slot is held by a request for its ``G`` steps, so
  slots hold long outputs more often; attention is linear in the context, so the mean is exact),
  priced as :func:`models.workloads.llm.llm_decode` of ``G'`` tokens from ``floor(E[P])`` with
  ``G'`` chosen so that its mean context is ``c`` (to half a token), divided by ``G'``;
- prefill ``p(P)``: one prompt, :func:`models.workloads.llm.llm_prefill` at batch 1;
- mixed step ``m(P)`` (chunked prefill, ``chunk_tokens = C``): a prompt goes in ``n(P) =
  ceil(P / C)`` chunks of ``ceil(P / n)`` tokens, each step carrying one chunk at its mean cached
  prefix ``(n - 1) ceil(P / n) / 2`` and ``D = min(B - 1, floor(E[G] / E[n]))`` decodes of the
  other requests (:func:`models.workloads.llm.llm_serving_step`: one forward pass, the weights read
  once).

Aggregated (continuous batching; every device serves the whole stream, ``N`` replicas):

- device time per request ``T = E[t_p] + (E[G] / B) t_d`` (a prompt is prefilled whole while the
  batch waits), or with chunks ``T = E[n t_m] + S t_d``, ``S = max(E[G] - E[n] D, 0) / B`` pure
  decode steps per request; requests/s per device ``lambda = 1 / T``;
- ``TTFT(P) = t_p(P)``, or ``n(P) t_m(P)``: monotone in ``P``, so its p50 and p99 are TTFT at
  the prompt length's p50 and p99;
- TPOT by Little's law: requests in decode ``N_d = B - lambda E[TTFT]``, tokens/s ``lambda
  E[G] = N_d / TPOT``, so ``TPOT = N_d / (lambda E[G])``; a request alone (``B = 1``) gets
  ``TPOT = t_d``, with ``B`` it pays for the others' prefills;
- energy per request: the same combination of the steps' energies (static power included: the
  devices are busy all the time at saturation).

Disaggregated (``N f`` prefill devices, ``N (1 - f)`` decode devices of the same target; the KV
cache moves between them at no cost, which an interconnect model would price):

- ``lambda = min(N f / E[t_p], N (1 - f) B / (E[G] t_d))``; ``TTFT(P) = t_p(P)``; ``TPOT = t_d``
  (decode devices priced at their full batch ``B``);
- energy per request: prefill + ``E[G] / B`` decode steps + the static power of the idle share of
  either group.

Multi-device plans (:mod:`models.parallel.plan`; ``tensor_parallel``, ``pipeline_parallel``,
``expert_parallel``): a model instance runs on ``u = t p`` devices, every step is priced as one
device's share of the instance with its collectives on the target's interconnect, and step energies
are the instance's. ``N`` (``serving_devices``, default ``u e``) counts devices, a multiple of
``u e``; the formulas above hold with ``N / u`` instances in place of ``N`` replicas; ``B`` is the
batch of one instance; per-device rates divide by ``N``; memory is one device's.

Memory: the KV cache of one request at its longest (``max(P) + max(G)`` tokens) is reserved per
slot, so ``max batch = floor((capacity - weights - activations) / KV per request)``, activations
being the largest step's; the priced resident state is ``weights + B x KV + activations`` (per
prefill device in disaggregated serving: one request's). A batch over the limit is reported
through ``peak_memory_B > memory_capacity_B`` (the memory constraint), with zero goodput.

Goodput: requests/s meeting both limits, ``lambda N P(TTFT <= ttft_sla) [TPOT <= tpot_sla]``
(the TTFT probability over the prompt nodes; TPOT is the same for every request in this
steady-state model, so it has no p50/p99 of its own).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np

from models.hardware import Target
from models.parallel.plan import ParallelError, ParallelPlan, plan_of
from models.params import Param
from models.perf.compiled import CompiledTarget
from models.perf.roofline import PerfResult, evaluate
from models.point import BuiltPoint, build_point
from models.point.knobs import SERVING_KNOBS, split_settings
from models.serving.lengths import ServingError, length_distribution
from models.workloads import OperatorTable, WorkloadSpec, workload_spec

__all__ = ["SERVING_METRICS", "evaluate_serving", "serving_mode", "step_spec"]

# the serving metrics (the metrics dict of a serving result also redefines items_per_s,
# tokens_per_s and average_power_W per device, the same as their *_per_device names)
SERVING_METRICS = (
    "ttft_s",
    "ttft_p50_s",
    "ttft_p99_s",
    "tpot_s",
    "requests_per_s",
    "output_tokens_per_s",
    "output_tokens_per_s_per_device",
    "output_tokens_per_s_per_user",
    "goodput_requests_per_s",
    "goodput_output_tokens_per_s",
    "energy_J_per_output_token",
    "n_max_batch",
    "n_decoding",
    "kv_B_per_request",
)
_PARTS = ("latency_s", "energy_J", "dynamic_energy_J", "static_energy_J", "stalled_energy_J")
Cost = dict[str, np.ndarray]


def serving_mode(knobs: Mapping[str, Any]) -> str:
    """The ``serving`` knob of a point's settings (bare or qualified), ``"off"`` when unset."""
    for k in ("serving", "algorithm.serving"):
        if k in knobs:
            return str(knobs[k])
    return "off"


def _step_knob(name: str, low: float, help: str) -> Param:
    return Param(name=name, kind="float", low=low, unit="1", role="knob", applies_to="serving step", help=help)


def step_spec(workload: str | WorkloadSpec) -> WorkloadSpec:
    """The workload spec of one server step of a decoder LLM (built through :func:`build_point`).

    Knobs: ``step`` (``decode``: :func:`~models.workloads.llm.llm_decode` of ``steps`` tokens of
    ``batch`` sequences from ``context``; ``prefill``: :func:`~models.workloads.llm.llm_prefill` of
    ``batch`` prompts of ``chunk`` tokens; ``mixed``: :func:`~models.workloads.llm.llm_serving_step`
    of ``batch`` decodes at ``context`` with a chunk of ``chunk`` tokens after ``past``) and the
    three datatypes.
    """
    from models.hardware.dtypes import DTYPES

    spec = workload if isinstance(workload, WorkloadSpec) else workload_spec(workload)
    name = spec.name

    def build(*, step: str, batch: Any, context: Any, steps: Any, chunk: Any, past: Any, weight_dtype: str,
              act_dtype: str, kv_dtype: str, parallel: Any = None,
              routing: Mapping[str, float] | None = None) -> OperatorTable:
        from models.parallel.plan import build_parallel
        from models.workloads.llm import (
            llm_decode,
            llm_prefill,
            llm_serving_step,
            load_llm_config,
            with_routing,
        )

        kw = dict(weight_dtype=weight_dtype, act_dtype=act_dtype, kv_dtype=kv_dtype)

        def one(cfg: Any, b: Any) -> OperatorTable:
            if step == "decode":
                return llm_decode(cfg, b, context, steps, **kw)
            if step == "prefill":
                return llm_prefill(cfg, b, chunk, **kw)
            return llm_serving_step(cfg, b, context, chunk, past, **kw)

        cfg = with_routing(load_llm_config(name), routing)
        return build_parallel(cfg, parallel, batch, one, chunked=step == "mixed")

    def dt(n: str) -> Param:
        base = spec.knob(n) if n in {k.name for k in spec.knobs} else None
        return Param(name=n, kind="categorical", choices=DTYPES, default=base.default if base else "bf16",
                     role="knob", applies_to="serving step", help=f"{n} of the step")

    knobs = (
        Param(name="step", kind="categorical", choices=("decode", "prefill", "mixed"), default="decode", role="knob",
              applies_to="serving step", help="decode step, whole prefill, or decodes with a prefill chunk"),
        _step_knob("batch", 0.0, "sequences decoded (prefill: prompts)"),
        _step_knob("context", 0.0, "mean cached context of the decoded sequences"),
        _step_knob("steps", 1.0, "decode tokens per sequence (decode)"),
        _step_knob("chunk", 1.0, "prompt tokens (prefill, mixed)"),
        _step_knob("past", 0.0, "cached prefix of the chunk (mixed)"),
        dt("weight_dtype"), dt("act_dtype"), dt("kv_dtype"),
    )
    return WorkloadSpec(name=name, family="llm", item_name="token", knobs=knobs, builder=build,
                        description=f"one serving step of {name}")


def _cost(r: PerfResult, scale: Any = 1.0) -> Cost:
    return {k: np.asarray(getattr(r, k)) * scale for k in _PARTS}


def _add(*terms: tuple[Any, Cost]) -> Cost:
    return {k: sum((np.asarray(c) * t[k] for c, t in terms), np.zeros(())) for k in _PARTS}


def _mean(costs: list[Cost]) -> Cost:
    return _add(*((1.0 / len(costs), c) for c in costs))


def _check(s: Mapping[str, Any], mode: str) -> None:
    if mode != "disaggregated" and "prefill_fraction" in s:
        raise ServingError("algorithm knob 'prefill_fraction' needs serving = 'disaggregated' (it splits the devices "
                           "between prefill and decode)", knob="prefill_fraction")
    if mode == "disaggregated" and "chunk_tokens" in s:
        raise ServingError("algorithm knob 'chunk_tokens' needs serving = 'aggregated' (disaggregated prefill devices "
                           "run whole prompts)", knob="chunk_tokens")
    f = np.asarray(s.get("prefill_fraction", 0.5), dtype=np.float64)
    if mode == "disaggregated" and np.any(f >= 1.0):
        raise ServingError(f"algorithm knob 'prefill_fraction': got {f.reshape(-1)[:3].tolist()}; allowed: (0, 1) "
                           "(some devices must decode)", knob="prefill_fraction")
    n = np.asarray(s.get("serving_devices", 1), dtype=np.float64)
    if mode == "disaggregated" and (np.any(n * f < 1.0) or np.any(n * (1.0 - f) < 1.0)):
        raise ServingError(f"algorithm knobs 'serving_devices' = {n.reshape(-1)[:3].tolist()} and 'prefill_fraction' = "
                           f"{f.reshape(-1)[:3].tolist()}: disaggregated serving needs at least one device in each "
                           "group; allowed: serving_devices x prefill_fraction >= 1 and serving_devices x (1 - "
                           "prefill_fraction) >= 1", knob="serving_devices")


def _check_devices(n_dev: np.ndarray, plan: ParallelPlan, mode: str, s: Mapping[str, Any]) -> None:
    """``serving_devices`` must be whole units of the plan (and whole expert-parallel groups)."""
    need = plan.devices * plan.expert
    if need == 1:
        return
    groups: list[np.ndarray] = [n_dev]
    if mode == "disaggregated":
        f = np.asarray(s.get("prefill_fraction", 0.5), dtype=np.float64)
        groups = [n_dev * f, n_dev * (1.0 - f)]
    for g in groups:
        units = g / need
        if np.any(np.abs(units - np.round(units)) > 1e-9) or np.any(units < 1.0):
            raise ParallelError(f"algorithm knob 'serving_devices' = {n_dev.reshape(-1)[:3].tolist()}: a plan of "
                               f"tensor_parallel x pipeline_parallel = {plan.devices} devices per model instance and "
                               f"expert_parallel = {plan.expert} instances per expert group uses devices in groups "
                               f"of {need}; allowed: a multiple of {need}" + (" in each of the prefill and decode "
                                                                            "groups" if mode == "disaggregated"
                                                                             else ""), knob="serving_devices")


def evaluate_serving(ct: CompiledTarget, target: Target, workload: str | WorkloadSpec, knobs: Mapping[str, Any], *,
                     engine: str | Mapping[str, str] | None = None, policy: str = "time", mode: str = "calibrated",
                     detail: bool = False) -> tuple[PerfResult, BuiltPoint]:
    """Serving metrics of a request stream (see the module docstring) on the compiled target ``ct``.

    Parameters
    ----------
    ct, target
        The target compiled with the points' overrides, and its preset (whose facts build tables).
    workload
        A decoder LLM workload.
    knobs
        Workload and algorithm knobs by bare or qualified name, with ``serving`` on; numeric ones
        may be arrays that broadcast with each other and with ``ct``'s points.
    engine, policy, mode
        As in :func:`models.perf.evaluate`.
    detail
        Keep the per-operator breakdown of the decode step.

    Returns
    -------
    (PerfResult, BuiltPoint)
        ``latency_s`` is the mean end-to-end request latency ``E[TTFT] + E[G] TPOT``, ``energy_J``
        the energy per request (parts alike), ``n_items`` the mean output tokens, ``peak_memory_B``
        the resident state of a (decode) device; ``serving`` holds :data:`SERVING_METRICS`. The
        built point is the decode step with the serving memory parts.

    Raises
    ------
    ServingError, ValueError
        A bad serving setting (named), or a bad knob (as :func:`build_point` raises).
    """
    spec = workload if isinstance(workload, WorkloadSpec) else workload_spec(workload)
    if spec.family != "llm":
        raise ServingError(f"algorithm knob 'serving': workload {spec.name!r} is not a decoder LLM; allowed: off, or "
                           "a decoder LLM workload", knob="serving")
    wk, ak = split_settings(dict(knobs), spec)
    s = {k: ak.pop(k) for k in SERVING_KNOBS if k in ak}
    smode = str(s.get("serving", "off"))
    _check(s, smode)
    user = {**spec.defaults(), **wk}
    if user.get("phase", "inference") != "inference":
        raise ServingError(f"workload knob 'phase' = {user['phase']!r} with serving = {smode!r}; allowed: inference "
                           "(serving prices prefill and decode itself)", knob="phase")
    dist = str(s.get("length_dist", "fixed"))
    P = length_distribution(dist, user["prompt_len"], s.get("prompt_p99"), what="prompt")
    G = length_distribution(dist, user["n_generated"], s.get("output_p99"), what="output")
    B = np.asarray(user["batch"], dtype=np.float64)
    plan = plan_of(ak)
    per_unit = float(plan.devices)  # devices of one model instance (tensor x pipeline)
    n_dev = np.asarray(s.get("serving_devices", plan.devices * plan.expert), dtype=np.float64)
    _check_devices(n_dev, plan, smode, s)
    dts = {k: user[k] for k in ("weight_dtype", "act_dtype", "kv_dtype") if k in user}
    sspec = step_spec(spec)
    chunk = s.get("chunk_tokens")

    def build(**kn: Any) -> BuiltPoint:
        return build_point(sspec, {**kn, **dts, **ak}, target=target)

    # --- the tables: one request at its longest (memory), the decode step, the prompt steps
    longest = build(step="decode", batch=1.0, context=np.round(P.max), steps=np.maximum(np.round(G.max), 1.0))
    parts = longest.table.memory_parts_B["decode"]
    weights, kv_req = np.asarray(parts["weights"]), np.asarray(parts["kv_cache"])
    EG = G.mean
    ctx = P.mean + (G.second_moment - EG) / (2.0 * EG)
    c0 = np.floor(P.mean)
    g_eff = np.round(2.0 * (ctx - c0)) + 1.0
    dec = build(step="decode", batch=B, context=c0, steps=g_eff)
    lengths = [*P.nodes] if P.kind == "fixed" else [*P.nodes, np.maximum(np.round(P.p50), 1.0),
                                                    np.maximum(np.round(P.p99), 1.0)]
    n_chunks: list[np.ndarray] = []
    if chunk is None:
        prompt = [build(step="prefill", batch=1.0, chunk=x) for x in lengths]
        D = None
    else:
        n_chunks = [np.ceil(x / np.asarray(chunk, dtype=np.float64)) for x in lengths]
        part = [np.ceil(x / n) for x, n in zip(lengths, n_chunks, strict=True)]
        En = sum(n_chunks[: len(P.nodes)], np.zeros(())) / len(P.nodes)
        D = np.maximum(np.minimum(B - 1.0, np.floor(EG / En)), 0.0)
        prompt = [build(step="mixed", batch=D, context=ctx, chunk=c, past=(n - 1.0) * c / 2.0)
                  for c, n in zip(part, n_chunks, strict=True)]
    act = dec.table.memory_parts_B["decode"]["activations"]
    for b in (longest, *prompt):
        act = np.maximum(act, next(iter(b.table.memory_parts_B.values()))["activations"])
    resident = weights + B * kv_req + act
    cap = np.asarray(ct.memory_capacity_B)
    max_batch = np.maximum(np.floor((cap - weights - act) / kv_req), 0.0)
    pre_resident = weights + kv_req + act if smode == "disaggregated" else resident

    def price(b: BuiltPoint, res: np.ndarray, keep: bool = False) -> PerfResult:
        t = b.table
        t = replace(t, peak_memory_B={ph: res for ph in t.peak_memory_B})
        return evaluate(ct, t, engine=engine, policy=policy, mode=mode, detail=keep)

    r_dec = price(dec, resident, detail)
    step = _cost(r_dec, 1.0 / g_eff)
    t_d = step["latency_s"]
    pr = [_cost(price(b, pre_resident)) for b in prompt]
    if chunk is not None:
        pr = [_add((n, c)) for n, c in zip(n_chunks, pr, strict=True)]  # a prompt's n chunks
    ttft = [c["latency_s"] for c in pr]
    K = len(P.nodes)
    nodes = pr[:K]
    ttft_mean = sum(ttft[:K], np.zeros(())) / K
    p50, p99 = (ttft[0], ttft[0]) if P.kind == "fixed" else (ttft[K], ttft[K + 1])
    static_W = np.asarray(ct.static_power_W)
    if smode == "aggregated":
        if chunk is None:
            per_req = _add((1.0, _mean(nodes)), (EG / B, step))
        else:
            assert D is not None
            En = sum(n_chunks[:K], np.zeros(())) / K
            per_req = _add((1.0, _mean(nodes)), (np.maximum(EG - En * D, 0.0) / B, step))
        lam1 = 1.0 / per_req["latency_s"]
        lam = n_dev / per_unit * lam1
        n_decoding = B - lam1 * ttft_mean
        tpot = n_decoding / (lam1 * EG)
    else:
        f = np.asarray(s.get("prefill_fraction", 0.5), dtype=np.float64)
        n_p, n_d = n_dev * f / per_unit, n_dev * (1.0 - f) / per_unit  # units of each group
        pre = _mean(nodes)
        lam = np.minimum(n_p / pre["latency_s"], n_d * B / (EG * t_d))
        tpot = t_d
        n_decoding = lam * EG * t_d / n_d
        idle_s = (n_p - lam * pre["latency_s"] + n_d - lam * EG * t_d / B) / lam * per_unit  # device-s per request
        per_req = _add((1.0, pre), (EG / B, step))
        per_req["static_energy_J"] = per_req["static_energy_J"] + static_W * idle_s
        per_req["energy_J"] = per_req["energy_J"] + static_W * idle_s
    fits = resident <= cap
    ok_ttft = (sum(((t <= s["ttft_sla_s"]).astype(np.float64) for t in ttft[:K]), np.zeros(())) / K
               if "ttft_sla_s" in s else np.ones(()))
    ok_tpot = (tpot <= s["tpot_sla_s"]).astype(np.float64) if "tpot_sla_s" in s else np.ones(())
    good = lam * ok_ttft * ok_tpot * fits
    tokens = lam * EG
    metrics = {
        "ttft_s": ttft_mean, "ttft_p50_s": p50, "ttft_p99_s": p99, "tpot_s": tpot, "requests_per_s": lam,
        "output_tokens_per_s": tokens, "output_tokens_per_s_per_device": tokens / n_dev,
        "output_tokens_per_s_per_user": 1.0 / tpot, "goodput_requests_per_s": good,
        "goodput_output_tokens_per_s": good * EG, "energy_J_per_output_token": per_req["energy_J"] / EG,
        "n_max_batch": max_batch, "n_decoding": n_decoding, "kv_B_per_request": kv_req,
        # what the one-request names mean for a stream: a device's output token rate and power
        # (energy_J / latency_s of one request would be neither: requests overlap)
        "items_per_s": tokens / n_dev, "tokens_per_s": tokens / n_dev,
        "average_power_W": lam * per_req["energy_J"] / n_dev,
        "items_per_s_per_device": tokens / n_dev, "tokens_per_s_per_device": tokens / n_dev,
        "average_power_W_per_device": lam * per_req["energy_J"] / n_dev,
    }
    shape = np.broadcast_shapes(r_dec.shape, *(np.shape(v) for v in metrics.values()), np.shape(resident),
                                *(np.shape(v) for v in per_req.values()))
    full = {k: np.broadcast_to(np.asarray(v, dtype=np.float64), shape) for k, v in metrics.items()}
    decode_s = EG * tpot

    def bc(v: Any) -> np.ndarray:
        return np.broadcast_to(np.asarray(v, dtype=np.float64), shape)

    e_pre = _mean(nodes)["energy_J"]
    result = replace(
        r_dec, n_points=int(np.prod(shape)), latency_s=bc(ttft_mean + decode_s), energy_J=bc(per_req["energy_J"]),
        dynamic_energy_J=bc(per_req["dynamic_energy_J"]), static_energy_J=bc(per_req["static_energy_J"]),
        stalled_energy_J=bc(per_req["stalled_energy_J"]), n_items=bc(EG), item_name="token",
        peak_memory_B=bc(resident), memory_capacity_B=bc(cap), host_wait_s=bc(0.0),
        phase_latency_s={"prefill": bc(ttft_mean), "decode": bc(decode_s)},
        phase_energy_J={"prefill": bc(e_pre), "decode": bc(per_req["energy_J"] - e_pre)}, serving=full)
    built = BuiltPoint(table=replace(dec.table, memory_parts_B={"decode": {"weights": weights, "kv_cache": B * kv_req,
                                                                             "activations": act}}),
                       error_proxy=dec.error_proxy, workload=spec.name, knobs=user, algorithm={**ak, **s})
    return result, built

