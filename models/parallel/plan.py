"""A multi-device plan of a decoder LLM: tensor, pipeline and expert parallelism.

A plan of degrees ``(t, p, e)`` runs one model instance (a *unit*) on ``t x p`` devices: ``p``
pipeline stages of ``L / p`` layers, each stage split ``t`` ways by tensor parallelism (Megatron-LM,
Shoeybi et al. 2019). Expert parallelism groups ``e`` units: their MoE layers share the experts,
``E / e`` on each unit (DeepSpeed-MoE / Tutel style, attention data-parallel across the group), so a
deployment of ``N`` devices holds ``N / (t p)`` units and ``e`` must divide that number.

The operator table of a plan is **one device's share** of one unit's run (every device of a unit
does the same work, by symmetry), priced by the one kernel; :func:`models.perf.evaluate` adds the
plan's collectives (:mod:`models.parallel.collectives`) on the target's interconnect and reports
the unit's energy (``t x p`` devices). What each degree does to the table:

- **tensor** ``t`` (:func:`shard_config`): query heads, KV heads (replicated when ``t`` exceeds
  them), the MLP and expert widths and the vocabulary are split ``t`` ways; norms and residual adds
  are replicated. Collectives per forward pass: an all-reduce of the block output after attention
  and after the MLP (one in a parallel block), of ``tokens x hidden`` activations; one after the
  vocabulary-parallel embedding; an all-gather of the logits.
- **pipeline** ``p``: the batch ``B`` goes through the stages in micro-batches of ``b = ceil(B / p)``
  sequences (``k = B / b <= p`` of them; a prompt is one micro-batch of its own). A decode token of a
  micro-batch crosses all ``p`` stages before its next token starts, so a step of the whole batch
  takes one pass of the full (tensor-sharded) model at micro-batch ``b``, which is the table built at
  batch ``b``; a device does ``k / p`` of that work (the rest of the step is the pipeline bubble:
  ``pipeline_fill = B / (p b)`` scales the dynamic energy), holds ``1 / p`` of the weights and the KV
  cache of the ``B`` sequences in its ``L / p`` layers; each stage boundary sends the micro-batch's
  ``tokens x hidden`` activations (``p - 1`` sends per micro-batch pass). Chunked prefill with
  ``p > 1`` is refused (its micro-batching is not modelled).
- **expert** ``e``: each unit stores ``E / e`` experts; the routed token-expert pairs a unit
  computes are its own ``T x k`` on average (it receives as many as it sends), ``(1 + s)`` times
  that on the busiest unit (``expert_skew`` ``s``, which sets the step); the expert weights read are
  the distinct experts that the group's ``e T`` tokens touch among the unit's ``E / e``; two
  all-to-alls per MoE layer (dispatch and combine) of ``T x k x hidden / t`` activations per device.
  With zero-computation experts (MoE++, ``zc_expert_share`` ``f``) ``k`` is the FFN slots
  ``top_k (1 - f)``: the zero / copy / constant experts are on every device and cross no link.
  With a capacity factor (``expert_capacity_factor`` ``gamma``) every expert computes a padded
  buffer of ``ceil(gamma e T k / E)`` rows: the busiest unit computes no more (its excess tokens
  are dropped, so ``expert_skew`` adds nothing), every expert of the unit is read, and the
  all-to-alls carry the padded buffers (:func:`models.workloads.llm.routed_rows`).

``(1, 1, 1)`` is the plan of every one-device table: nothing changes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from models.parallel.collectives import Collective
from models.workloads.ops import bytes_per_element
from models.workloads.table import OperatorTable

__all__ = ["ParallelError", "ParallelPlan", "build_parallel", "placed", "plan_of", "shard_config"]

_EXPERT_ROWS = ("expert_gate", "expert_up", "expert_fc1", "expert_down")


class ParallelError(ValueError):
    """A plan the model cannot take; the message names the knob, the value and what is allowed."""

    def __init__(self, message: str, knob: str) -> None:
        self.knob = knob
        super().__init__(message)


@dataclass(frozen=True, kw_only=True)
class ParallelPlan:
    """Degrees and policies of a plan (see the module docstring)."""

    tensor: int = 1
    pipeline: int = 1
    expert: int = 1
    expert_skew: float = 0.0
    comm_overlap: float = 0.0
    allreduce_algorithm: str = "ring"
    collective_base_latency_s: float | None = None
    node_devices: int | None = None
    scaleout_link: str | None = None
    all_to_all_algorithm: str = "flat"

    @property
    def devices(self) -> int:
        """Devices of one unit (``t x p``)."""
        return self.tensor * self.pipeline

    @property
    def trivial(self) -> bool:
        return self.devices == 1 and self.expert == 1


def _degree(ak: Mapping[str, Any], name: str) -> int:
    from models.params import single_whole

    return single_whole(ak.get(name, 1), name, lambda msg: ParallelError(msg, knob=name))


def plan_of(ak: Mapping[str, Any]) -> ParallelPlan:
    """The plan set by the algorithm knobs ``ak`` (bare names; missing ones at their defaults)."""
    t, p, e = (_degree(ak, k) for k in ("tensor_parallel", "pipeline_parallel", "expert_parallel"))
    for name, v in (("tensor_parallel", t), ("pipeline_parallel", p), ("expert_parallel", e)):
        if v < 1:
            raise ParallelError(f"algorithm knob {name!r}: got {v}; allowed: a whole number >= 1", knob=name)
    if "expert_skew" in ak and e == 1:
        raise ParallelError("algorithm knob 'expert_skew' needs expert_parallel > 1 (it is the load of the busiest "
                            "expert-parallel unit over the mean)", knob="expert_skew")
    if "all_to_all_algorithm" in ak and e == 1:
        raise ParallelError("algorithm knob 'all_to_all_algorithm' needs expert_parallel > 1 (the all-to-alls are "
                            "the expert-parallel dispatch and combine)", knob="all_to_all_algorithm")
    if "collective_base_latency_s" in ak and t == 1:
        raise ParallelError("algorithm knob 'collective_base_latency_s' needs tensor_parallel > 1 (the ring / tree "
                            "collectives it prices are the tensor-parallel all-reduces and all-gathers)",
                            knob="collective_base_latency_s")
    if "allreduce_algorithm" in ak and t == 1:
        raise ParallelError("algorithm knob 'allreduce_algorithm' needs tensor_parallel > 1 (no all-reduce "
                            "otherwise)", knob="allreduce_algorithm")
    return ParallelPlan(tensor=t, pipeline=p, expert=e, expert_skew=float(np.max(ak.get("expert_skew", 0.0))),
                        comm_overlap=float(np.max(ak.get("comm_overlap", 0.0))),
                        allreduce_algorithm=str(ak.get("allreduce_algorithm", "ring")),
                        collective_base_latency_s=None if ak.get("collective_base_latency_s") is None
                        else float(np.max(ak["collective_base_latency_s"])),
                        node_devices=None if ak.get("devices_per_node") is None else _degree(ak, "devices_per_node"),
                        scaleout_link=None if ak.get("scaleout_link") is None else str(ak["scaleout_link"]),
                        all_to_all_algorithm=str(ak.get("all_to_all_algorithm", "flat")))


def _divides(d: int, n: int, knob: str, what: str, model: str) -> None:
    if n % d:
        ok = [x for x in range(1, n + 1) if n % x == 0]
        raise ParallelError(f"algorithm knob {knob!r} = {d}: does not divide the {what} of {model!r} ({n}); allowed: "
                            f"{', '.join(map(str, ok[:16]))}{', ...' if len(ok) > 16 else ''}", knob=knob)


def shard_config(cfg: Any, plan: ParallelPlan) -> Any:
    """The model one tensor-parallel rank holds (an :class:`~models.workloads.llm.LLMConfig`).

    Raises
    ------
    ParallelError
        A degree that does not divide the heads, the layers, the MLP or expert width, or the
        experts; expert parallelism on a dense model.
    """
    t, name = plan.tensor, cfg.name
    _divides(plan.pipeline, cfg.n_layers, "pipeline_parallel", "layers", name)
    if plan.expert > 1:
        if not cfg.is_moe:
            raise ParallelError(f"algorithm knob 'expert_parallel' = {plan.expert}: {name!r} is a dense model; "
                                "allowed: 1, or a mixture-of-experts workload", knob="expert_parallel")
        _divides(plan.expert, cfg.n_experts, "expert_parallel", "experts", name)
    if t == 1:
        return cfg
    _divides(t, cfg.n_heads, "tensor_parallel", "attention heads", name)
    if cfg.n_kv_heads % t and t % cfg.n_kv_heads:
        raise ParallelError(f"algorithm knob 'tensor_parallel' = {t}: the {cfg.n_kv_heads} KV heads of {name!r} can "
                            f"be neither split nor replicated {t} ways; allowed: a divisor or a multiple of "
                            f"{cfg.n_kv_heads} that divides {cfg.n_heads}", knob="tensor_parallel")
    widths = {"MLP width": cfg.intermediate if cfg.n_layers > cfg.n_moe_layers else 0,
              "expert width": cfg.expert_width if cfg.is_moe else 0,
              "shared-expert width": cfg.shared_expert_intermediate}
    for what, w in widths.items():
        if w:
            _divides(t, w, "tensor_parallel", what, name)
    kv = cfg.n_kv_heads // t if cfg.n_kv_heads >= t else 1
    changes: dict[str, Any] = dict(n_heads=cfg.n_heads // t, n_kv_heads=kv, intermediate=max(cfg.intermediate // t, 1),
                                   vocab=-(-cfg.vocab // t))
    if cfg.expert_intermediate:
        changes["expert_intermediate"] = cfg.expert_intermediate // t
    if cfg.shared_expert_intermediate:
        changes["shared_expert_intermediate"] = cfg.shared_expert_intermediate // t
    # latent attention (MLA): the heads split, the cached latent is replicated on every rank
    return replace(cfg, **changes)


def _rows(table: OperatorTable, name: str) -> list[int]:
    return [i for i, n in enumerate(table.meta["name"].to_list()) if n == name]


def _expert_parallel(table: OperatorTable, cfg: Any, plan: ParallelPlan) -> tuple[OperatorTable, np.ndarray]:
    """Expert rows of one unit of an expert-parallel group; returns the table and the expert bytes
    no longer stored."""
    from models.workloads.llm import routed_rows

    e, s = plan.expert, plan.expert_skew
    names = table.meta["name"].to_list()
    cols = [dict(c) for c in table.columns]
    dropped = np.zeros(())
    tokens: Any = None
    for i, n in enumerate(names):
        if n == "router":  # each MoE block's expert rows follow its router: its m is the tokens routed
            tokens = table.columns[i]["m"]
            continue
        if n not in _EXPERT_ROWS:
            continue
        c = table.columns[i]
        rows, read = routed_rows(cfg, tokens, e, s)  # the busiest unit's rows, the experts it reads
        built_rows, built_read = routed_rows(cfg, tokens)
        busy = rows / built_rows
        w_read = c["weight_read_B"] * read / built_read
        cols[i].update(flop=c["flop"] * busy, act_read_B=c["act_read_B"] * busy, act_write_B=c["act_write_B"] * busy,
                       m=c["m"] * busy, n_params=c["n_params"] / e,
                       footprint_B=c["footprint_B"] - c["weight_read_B"] + w_read
                       + (busy - 1.0) * (c["act_read_B"] + c["act_write_B"]), weight_read_B=w_read)
        wb = bytes_per_element(table.meta["weight_dtype"][i] or "bf16")
        dropped = dropped + c["n_params"] * (1.0 - 1.0 / e) * wb * cfg.n_moe_layers
    return replace(table, columns=tuple(cols)), dropped


def placed(plan: ParallelPlan, target: Any) -> ParallelPlan:
    """``plan`` with the node size and scale-out link of ``target``'s interconnect where the knobs
    leave them unset (``data/links.toml`` ``domain_devices``, ``scaleout``; none: one domain)."""
    from models.parallel.links import get_link

    name = getattr(target, "interconnect", "") if target is not None else ""
    link = get_link(name) if name else None
    node = plan.node_devices if plan.node_devices is not None else (link.domain_devices if link else None)
    out = plan.scaleout_link if plan.scaleout_link is not None else (link.scaleout if link else None)
    return replace(plan, node_devices=node, scaleout_link=out)


def _check_placement(plan: ParallelPlan, cfg: Any) -> None:
    """Each group of the plan splits evenly over nodes of ``plan.node_devices`` (ParallelError otherwise)."""
    from models.parallel.collectives import local_peers

    node = plan.node_devices
    if node is None:
        return
    t, p, e = plan.tensor, plan.pipeline, plan.expert
    for group, stride in ((t, 1), (p, t), (e, t * p)):
        if group > 1 and group * stride > node:
            if plan.scaleout_link is None:
                raise ParallelError(f"algorithm knob 'devices_per_node' = {node}: the plan (t={t}, p={p}, e={e}) spans "
                                    "nodes and no scale-out link is known; allowed: algorithm knob scaleout_link (a "
                                    "data/links.toml name), or a node that holds the plan", knob="scaleout_link")
            try:
                local_peers(group, stride, node)
            except ValueError as exc:
                raise ParallelError(f"algorithm knob 'devices_per_node': {exc} (plan t={t}, p={p}, e={e})",
                                    knob="devices_per_node") from None


def _collectives(table: OperatorTable, cfg: Any, plan: ParallelPlan) -> tuple[Collective, ...]:
    """The plan's collectives, read off the table's rows (tokens per pass from each phase's first
    ``attn_norm`` row, passes from its count)."""
    from models.workloads.llm import routed_rows

    meta = table.meta
    names, phases = meta["name"].to_list(), meta["phase"].to_list()
    out: list[Collective] = []
    t, p = plan.tensor, plan.pipeline
    for ph in dict.fromkeys(phases):
        norm = next((i for i, (n, q) in enumerate(zip(names, phases, strict=True)) if n == "attn_norm" and q == ph),
                    None)
        if norm is None:
            continue
        c = table.columns[norm]
        tokens, layer_passes = c["m"], c["count"]
        passes = layer_passes / cfg.n_layers
        ab = bytes_per_element(meta["act_dtype"][norm] or "bf16")
        act = tokens * cfg.hidden * ab
        if t > 1:
            per_layer = 1 if cfg.parallel_block else 2
            out.append(Collective(name="tp_block_allreduce", phase=ph, op="all_reduce", group=t, bytes_B=act,
                                  count=layer_passes * per_layer))
            out.append(Collective(name="tp_embedding_allreduce", phase=ph, op="all_reduce", group=t, bytes_B=act,
                                  count=passes))
            head = next((i for i, (n, q) in enumerate(zip(names, phases, strict=True)) if n == "lm_head" and q == ph),
                        None)
            if head is not None:
                h = table.columns[head]
                # the gathered logits of every rank's vocabulary shard (cfg is one rank's model)
                out.append(Collective(name="tp_logits_allgather", phase=ph, op="all_gather", group=t,
                                      bytes_B=h["m"] * cfg.vocab * t * ab, count=h["count"]))
        if p > 1:
            out.append(Collective(name="pp_stage_send", phase=ph, op="send", group=2, bytes_B=act,
                                  count=passes * (p - 1), stride=t, stages=p))
        if plan.expert > 1:
            router = next((i for i, (n, q) in enumerate(zip(names, phases, strict=True)) if n == "router" and q == ph),
                          None)
            if router is not None:
                r = table.columns[router]
                # the rows a device sends: its FFN slots (zero-computation experts, MoE++, sit on every
                # device), padded to the experts' buffers with a capacity factor
                sent = routed_rows(cfg, r["m"])[0]
                out.append(Collective(name="ep_all_to_all", phase=ph, op="all_to_all", group=plan.expert,
                                      bytes_B=sent * cfg.hidden * ab / t, count=2.0 * r["count"], stride=t * p))
    return tuple(out)


def build_parallel(cfg: Any, plan: ParallelPlan | None, batch: Any, build: Callable[[Any, Any], OperatorTable], *,
                   chunked: bool = False) -> OperatorTable:
    """One device's table of ``build(sharded_config, micro_batch)`` under ``plan`` (module docstring).

    ``build`` builds the table of a config at a batch (the LLM builder with the other knobs bound);
    no plan (None) is the one-device table ``build(cfg, batch)``.
    """
    if plan is None or plan.trivial:
        return build(cfg, batch)
    if chunked and plan.pipeline > 1:
        raise ParallelError("algorithm knob 'pipeline_parallel' > 1 with chunked prefill (chunk_tokens): the "
                            "micro-batching of mixed steps is not modelled; allowed: pipeline_parallel = 1, or "
                            "chunk_tokens unset", knob="pipeline_parallel")
    dev = shard_config(cfg, plan)
    _check_placement(plan, cfg)
    B = np.asarray(batch, dtype=np.float64)
    p = plan.pipeline
    mb = np.ceil(B / p) if p > 1 else B
    table = build(dev, mb)
    dropped = np.zeros(())
    if plan.expert > 1:
        table, dropped = _expert_parallel(table, dev, plan)
    fill = B / (p * np.maximum(mb, 1.0)) if p > 1 else np.ones(())
    parts = {ph: dict(d) for ph, d in table.memory_parts_B.items()}
    peak = dict(table.peak_memory_B)
    for ph, d in parts.items():
        w = np.asarray(d.get("weights", 0.0))
        kv = np.asarray(d.get("kv_cache", 0.0))
        new_w = (w - dropped) / p
        new_kv = kv * fill  # the B sequences in L / p layers: (B / b) micro-batches' caches over p stages
        peak[ph] = peak[ph] - w - kv + new_w + new_kv
        d["weights"], d["kv_cache"] = new_w, new_kv
    n_items = table.n_items * (B / np.maximum(mb, 1.0)) if p > 1 else table.n_items
    return replace(table, memory_parts_B=parts, peak_memory_B=peak, n_items=n_items,
                   collectives=_collectives(table, dev, plan), comm_overlap=plan.comm_overlap,
                   allreduce_algorithm=plan.allreduce_algorithm,
                   collective_base_latency_s=plan.collective_base_latency_s, node_devices=plan.node_devices,
                   scaleout_link=plan.scaleout_link, all_to_all_algorithm=plan.all_to_all_algorithm,
                   n_devices=plan.devices,
                   pipeline_fill=np.asarray(fill, dtype=np.float64))
