"""Decoder-only LLMs as operator tables, built from Hugging Face ``config.json`` files.

A config is parsed into an :class:`LLMConfig` (one schema for every family of
:data:`LLM_FAMILIES`: Llama 1-3.2, Mistral, Mixtral, Qwen2/2.5, Qwen2-MoE, Qwen3, Qwen3-MoE, Gemma
1-3, Phi-3, Falcon, GPT-NeoX/Pythia, OLMo, DeepSeek-V2/V3, OPT, GPT-2, BitNet; fields the cost
model does not know are ignored and named in :attr:`LLMConfig.notes`); :func:`llm_prefill`,
:func:`llm_decode` and :func:`llm_inference` turn it into an
:class:`~models.workloads.table.OperatorTable` for many (batch, length) design points at once:
every knob may be a 1-D array, all knobs broadcast together.

Operators (one row each; per-layer rows have ``count = n_layers`` in prefill and
``n_layers x n_generated`` in decode, or the number of layers that have them):

- ``embedding`` (token gather; ``pos_embedding`` for learned positions);
- ``attn_norm``, ``q_proj``, ``k_proj``, ``v_proj``, ``q_norm``/``k_norm`` (Qwen3, Gemma 3),
  ``rope`` (rope families; partial rotary rotates ``rotary_dim`` channels), ``kv_write`` (K and V
  stored to the KV cache), ``attention`` (its own kind: QK^T, softmax, PV; the KV-cache read is
  accounted here in decode) and ``attention_local`` for sliding-window layers (the attended
  length and the cache capped at the window), ``o_proj``, ``attn_post_norm`` (Gemma 2/3),
  ``mlp_norm``;
- latent attention (DeepSeek): ``q_a_proj``/``q_a_norm``/``q_b_proj`` (or ``q_proj``),
  ``kv_a_proj`` (latent + shared RoPE key), ``kv_a_norm``; prefill ``kv_b_proj`` then multi-head
  ``attention``; decode ``q_absorb``, ``attention`` over the compressed cache, ``v_absorb``;
- dense MLP: ``gate_proj``/``up_proj``/``act``/``down_proj`` (gated SwiGLU/GeGLU, 3 matrices) or
  ``fc1``/``act``/``fc2`` (GELU/ReLU MLP, 2 matrices), in the dense layers;
- MoE: ``router`` (gemm to n_experts) and ``expert_gate``/``expert_up``/``act``/``expert_down``;
  shared experts ``shared_gate_proj``/``shared_up_proj``/``shared_act``/``shared_down_proj``
  (+ ``shared_expert_gate``) and ``shared_expert_add``; with zero-computation experts
  (``zc_share > 0``, MoE++) a ``zc_experts`` row;
- ``residual_add`` (two per layer; one three-input add in a parallel block), ``mlp_post_norm``
  (Gemma 2/3), ``final_norm`` and ``lm_head``.

Conventions and assumptions
---------------------------
- FLOP = 2 per MAC; biases add one FLOP per output element.
- Weight bytes are read once per operator instance (per layer per forward pass).
- Prefill computes logits only for the last token of each sequence (``lm_head`` with
  ``m = batch``): that is all generation needs.
- Decode of ``n_generated`` tokens starting at ``context_len`` is one row per operator with
  ``count = n_generated`` (x ``n_layers``); attention and the KV-cache read use the mean context
  ``context_len + (n_generated - 1) / 2``, which makes the totals exact because both are linear
  in the context length.
- Decode projections are kind ``gemm`` with ``m = batch`` (a design point's batch is only known
  per point, and the operator kind is per table), which is a GEMV when ``batch == 1``.
- MoE routing is uniform and independent per token: each token picks ``top_k`` distinct experts,
  so a step of ``T`` tokens touches on average ``E (1 - (1 - k/E)^T)`` distinct experts, whose
  weights are read; FLOPs count only the ``k`` active experts per token; all ``E`` experts are
  stored (``n_params`` and peak memory).
- Zero-computation experts (MoE++, Jin et al. 2024): a share ``f = zc_share`` of the ``k`` routed
  slots of a token goes to zero / copy / constant experts instead of an FFN expert, so the FFN
  experts see ``T k (1 - f)`` token-expert pairs and a token picks ``k (1 - f)`` of the ``E`` FFN
  experts on average (the distinct-expert count above with that ``k``). The ``T k f`` other slots
  are one ``zc_experts`` elementwise row priced as the dearest of the three, the constant expert
  (a ``hidden -> 2`` projection and softmax for its two weights, then ``a x + b v``: 7 FLOP per
  element); their parameters (a vector and a ``hidden x 2`` matrix per constant expert) and
  their router columns are not counted. The weighted sum over the ``k`` slot outputs stays on
  ``expert_down``. Under expert parallelism the zero-computation experts sit on every device, so
  only the FFN slots cross the all-to-all (:mod:`models.parallel.plan`).
- A capacity factor ``gamma`` (``capacity_factor``, GShard / Switch): every expert computes a
  padded buffer of ``ceil(gamma T k / E)`` rows and every expert's weights are read; tokens beyond
  a buffer are dropped (:func:`routed_rows`). 0 (the default) is dropless routing as above.
- Tied embeddings: the LM head re-reads the embedding matrix (weight bytes) but adds no
  parameters.
- ``footprint_B`` is each operator's own working set; the perf model serves operators that read
  weights or the KV cache from the level that holds the phase's peak memory (a layer's weights
  are re-read only after every other layer's went through), see ``models.perf.roofline``.
- Peak memory per phase = all weights + KV cache at the largest context + the largest single
  operator's activations (input + output).
- Sliding-window layers (Mistral, Phi-3, Gemma 2/3, Qwen with ``use_sliding_window``): a query
  attends at most ``sliding_window`` keys and the cache keeps the last ``sliding_window``
  tokens; prefill scores are the causal pairs less those older than the window; decode uses the
  exact mean attended length over the generated tokens. Soft-capping (Gemma 2) and the
  embedding scale (Gemma) are ignored for cost.
- Multi-head latent attention caches ``kv_lora_rank + qk_rope_head_dim`` elements per token
  per layer; prefill decompresses the latent (compute-bound), decode attends over the latent
  with the up-projections absorbed (memory-bound), as DeepSeek's inference does.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from models.hardware.dtypes import check_dtype
from models.io import UnreadableFile, read_text
from models.workloads.ops import (
    Op,
    attention_op,
    broadcast_max,
    bytes_per_element,
    elementwise,
    gemm,
    norm,
    table_from_ops,
)
from models.workloads.table import OperatorTable, concat_tables

ZC_SHARE_MAX = 0.99  # zc_share: below 1, or the MoE layers would have no FFN work

__all__ = [
    "LLM_FAMILIES",
    "LLMConfig",
    "LLMConfigError",
    "LLMConfigMissingField",
    "available_llms",
    "expected_distinct_experts",
    "llm_active_params",
    "ROUTING_KNOBS",
    "routed_rows",
    "with_routing",
    "llm_decode",
    "llm_inference",
    "llm_prefill",
    "llm_serving_step",
    "load_llm_config",
    "parse_llm_config",
]

WORKLOAD_DIR = Path(__file__).resolve().parents[2] / "data" / "workloads"
# Largest size an integer field may have: far above any published model, and small enough that
# products of sizes stay exact in int64 and float64 alike.
_MAX_SIZE = 1 << 31


class LLMConfigError(ValueError):
    """An invalid LLM config (a Hugging Face ``config.json``).

    The message names the config (and, once read from a file, the file), the field, the value
    received and what is allowed; ``field`` holds the field name.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class LLMConfigMissingField(LLMConfigError, KeyError):
    """A required field is missing (also a KeyError, as a missing key of the config mapping)."""
LLM_FAMILIES = (
    "llama",
    "mistral",
    "mixtral",
    "opt",
    "gpt2",
    "bitnet",
    "qwen2",
    "qwen2_moe",
    "qwen3",
    "qwen3_moe",
    "gemma",
    "gemma2",
    "gemma3_text",
    "phi3",
    "falcon",
    "gpt_neox",
    "olmo",
    "deepseek_v2",
    "deepseek_v3",
)
# Multimodal wrappers whose language model is in ``text_config`` (only that part is modelled).
_TEXT_WRAPPERS = ("gemma3",)
_GATED_ACTS = ("silu", "swish", "relu2", "gelu_pytorch_tanh")

ArrayLike = float | int | np.ndarray


@dataclass(frozen=True, kw_only=True)
class LLMConfig:
    """Architecture of a decoder-only LLM (what the operator tables need).

    Attributes
    ----------
    name
        Workload name (file stem or the config's ``_name_or_path``).
    family
        Architecture family, one of :data:`LLM_FAMILIES`.
    hidden, n_layers, n_heads, n_kv_heads, head_dim, intermediate, vocab
        Model width, decoder blocks, query heads, key/value heads (GQA when fewer, MQA when 1),
        per-head width of queries and keys, dense-MLP hidden width (Mixtral: the expert width),
        vocabulary size.
    n_experts, top_k
        Routed experts per MoE layer and experts per token (1 and 1 for a dense model).
    expert_intermediate
        Hidden width of one routed expert (0: ``intermediate``; DeepSeek and Qwen-MoE give
        ``moe_intermediate_size``).
    shared_expert_intermediate
        Hidden width of the always-active shared-expert MLP of each MoE layer (0: none;
        DeepSeek: ``n_shared_experts x moe_intermediate_size``).
    shared_expert_gate
        The shared expert's output is scaled by a sigmoid gate (a ``hidden -> 1`` projection,
        Qwen2-MoE).
    n_dense_layers
        Layers of an MoE model with a dense MLP of width ``intermediate`` (DeepSeek's
        ``first_k_dense_replace``, Qwen-MoE's ``mlp_only_layers``).
    tied_embeddings
        LM head shares the token-embedding matrix.
    norm
        ``"rmsnorm"`` (gain only), ``"layernorm"`` (gain and bias) or ``"nonparametric"``
        (OLMo's LayerNorm without parameters).
    gated_mlp
        SwiGLU/GeGLU-style MLP with gate, up and down matrices (3) instead of up and down (2).
    activation
        Activation function name from the config.
    max_positions
        Maximum sequence length (position-embedding rows for learned positions).
    positional
        ``"rope"``, ``"learned"`` or ``"alibi"`` (a bias on the scores: no operator of its own).
    rotary_dim
        Channels of each query/key head that are rotated (0: all ``head_dim``; GPT-NeoX's
        partial rotary ``rotary_pct``; MLA: ``qk_rope_head_dim``).
    bias
        Linear layers carry biases (gpt2, opt, gpt_neox; for the llama family ``attention_bias``,
        applied to every dense projection, a simplification: expert matrices never carry biases).
    qkv_bias
        Only the q, k and v projections carry biases (Qwen2).
    qk_norm
        An RMSNorm over each query head and each key head (Qwen3, Gemma 3).
    post_norms
        Norms on the attention and MLP outputs before the residual adds (Gemma 2 and 3).
    parallel_block
        Attention and MLP both read the block input and their outputs join in one residual add
        (GPT-NeoX ``use_parallel_residual``, Falcon ``parallel_attn``).
    n_pre_norms
        Norms at the block input: 2 (one before attention, one before the MLP) or 1 (Falcon-7B's
        single norm shared by the parallel attention and MLP).
    n_position_rows
        Rows of the learned position table (OPT stores two extra rows), 0 for RoPE.
    n_sublayer_norms
        Extra norms inside each block (BitNet's sub-LN: 2), besides the two pre-norms.
    final_norm
        A norm after the last block.
    sliding_window, n_sliding_layers
        Keys a sliding-window layer attends to (0: none) and how many layers use the window; in
        those layers the attended length and the KV cache are capped at the window.
    q_lora_rank, kv_lora_rank, qk_rope_head_dim, v_head_dim
        Multi-head latent attention (DeepSeek-V2/V3) when ``kv_lora_rank > 0``: queries through
        a rank-``q_lora_rank`` bottleneck (0: a full ``q_proj``), keys and values from a cached
        latent of ``kv_lora_rank`` plus one shared RoPE key of ``qk_rope_head_dim``;
        ``head_dim = qk_nope_head_dim + qk_rope_head_dim``; values of ``v_head_dim`` per head.
    zc_share
        Share of the ``top_k`` routed slots per token taken by zero-computation experts (MoE++;
        0: a vanilla MoE). Set by the ``zc_expert_share`` algorithm knob, not read from a config.
    capacity_factor
        Expert capacity factor ``gamma`` (GShard / Switch): every expert computes a buffer of
        ``ceil(gamma T k / E)`` rows, padded, tokens beyond it dropped (0: dropless, each expert
        computes the tokens routed to it). Set by the ``expert_capacity_factor`` algorithm knob.
    notes
        What the parser ignored (fields it does not know, parts it does not model).
    source
        Where the config came from.
    """

    name: str
    family: str
    hidden: int
    n_layers: int
    n_heads: int
    n_kv_heads: int
    head_dim: int
    intermediate: int
    vocab: int
    n_experts: int = 1
    top_k: int = 1
    expert_intermediate: int = 0
    shared_expert_intermediate: int = 0
    shared_expert_gate: bool = False
    n_dense_layers: int = 0
    tied_embeddings: bool = False
    norm: str = "rmsnorm"
    gated_mlp: bool = True
    activation: str = "silu"
    max_positions: int = 2048
    positional: str = "rope"
    rotary_dim: int = 0
    bias: bool = False
    qkv_bias: bool = False
    qk_norm: bool = False
    post_norms: bool = False
    parallel_block: bool = False
    n_pre_norms: int = 2
    n_position_rows: int = 0
    n_sublayer_norms: int = 0
    final_norm: bool = True
    sliding_window: int = 0
    n_sliding_layers: int = 0
    q_lora_rank: int = 0
    kv_lora_rank: int = 0
    qk_rope_head_dim: int = 0
    v_head_dim: int = 0
    zc_share: float = 0.0
    capacity_factor: float = 0.0
    notes: tuple[str, ...] = ()
    source: str = ""

    def __post_init__(self) -> None:
        where = f"LLM config {self.name!r}"
        if self.family not in LLM_FAMILIES:
            raise LLMConfigError(
                f"{where}: model_type/family {self.family!r} is not supported; "
                f"allowed: {', '.join(LLM_FAMILIES)}", field="model_type"
            )
        for fld in (
            "hidden",
            "n_layers",
            "n_heads",
            "n_kv_heads",
            "head_dim",
            "intermediate",
            "vocab",
            "n_experts",
            "top_k",
            "max_positions",
        ):
            v = getattr(self, fld)
            if isinstance(v, bool) or not isinstance(v, int) or not 0 < v <= _MAX_SIZE:
                raise LLMConfigError(f"{where}: field {fld!r} = {v!r}; allowed: an integer from 1 to {_MAX_SIZE}",
                                     field=fld)
        for fld in ("expert_intermediate", "shared_expert_intermediate", "n_dense_layers", "rotary_dim",
                    "sliding_window", "n_sliding_layers", "q_lora_rank", "kv_lora_rank", "qk_rope_head_dim",
                    "v_head_dim"):
            v = getattr(self, fld)
            if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= _MAX_SIZE:
                raise LLMConfigError(f"{where}: field {fld!r} = {v!r}; allowed: an integer from 0 to {_MAX_SIZE}",
                                     field=fld)
        if self.n_heads % self.n_kv_heads != 0:
            raise LLMConfigError(
                f"{where}: field 'n_kv_heads' (num_key_value_heads) = {self.n_kv_heads} "
                "does not divide "
                f"n_heads = {self.n_heads}; allowed: a divisor of n_heads", field="n_kv_heads"
            )
        if self.top_k > self.n_experts:
            raise LLMConfigError(
                f"{where}: field 'top_k' (num_experts_per_tok) = {self.top_k} exceeds n_experts = "
                f"{self.n_experts}", field="top_k"
            )
        if self.norm not in ("rmsnorm", "layernorm", "nonparametric"):
            raise LLMConfigError(f"{where}: field 'norm' = {self.norm!r}; allowed: rmsnorm, layernorm, nonparametric",
                                 field="norm")
        if self.positional not in ("rope", "learned", "alibi"):
            raise LLMConfigError(
                f"{where}: field 'positional' = {self.positional!r}; allowed: rope, learned, alibi",
                field="positional"
            )
        if self.rotary_dim > self.head_dim:
            raise LLMConfigError(f"{where}: field 'rotary_dim' = {self.rotary_dim} exceeds head_dim = "
                                 f"{self.head_dim}; allowed: 0 to head_dim", field="rotary_dim")
        if self.n_pre_norms not in (1, 2) or (self.n_pre_norms == 1 and not self.parallel_block):
            raise LLMConfigError(f"{where}: field 'n_pre_norms' = {self.n_pre_norms!r}; allowed: 2, or 1 with a "
                                 "parallel block", field="n_pre_norms")
        if self.n_sliding_layers > self.n_layers or (self.n_sliding_layers > 0) != (self.sliding_window > 0):
            raise LLMConfigError(
                f"{where}: field 'n_sliding_layers' = {self.n_sliding_layers} with sliding_window = "
                f"{self.sliding_window}; allowed: 0 without a window, 1 to n_layers = {self.n_layers} with one",
                field="n_sliding_layers")
        if self.n_dense_layers > self.n_layers or (self.n_dense_layers == self.n_layers and self.is_moe):
            raise LLMConfigError(
                f"{where}: field 'n_dense_layers' = {self.n_dense_layers}; allowed: 0 to n_layers - 1 = "
                f"{self.n_layers - 1} in an MoE model", field="n_dense_layers")
        if isinstance(self.zc_share, bool) or not isinstance(self.zc_share, (int, float)) or not (
                0.0 <= self.zc_share <= ZC_SHARE_MAX):
            raise LLMConfigError(f"{where}: zc_share = {self.zc_share!r}; allowed: a share from 0 to {ZC_SHARE_MAX} of "
                                 "the routed slots (1 would leave the MoE layers no FFN work)", field="zc_share")
        cf = self.capacity_factor
        if isinstance(cf, bool) or not isinstance(cf, (int, float)) or not (cf == 0 or 1.0 <= cf <= 64.0):
            raise LLMConfigError(f"{where}: capacity_factor = {cf!r}; allowed: 0 (dropless) or 1 to 64",
                                 field="capacity_factor")
        if cf and not self.is_moe:
            raise LLMConfigError(f"{where}: capacity_factor = {cf} on a dense model; allowed: 0, or an MoE model",
                                 field="capacity_factor")
        if self.zc_share > 0 and not self.is_moe:
            raise LLMConfigError(f"{where}: zc_share = {self.zc_share} on a dense model; zero-computation experts "
                                 "are routed slots of a mixture-of-experts layer; allowed: 0, or an MoE model",
                                 field="zc_share")
        if self.is_mla:
            if not 0 < self.qk_rope_head_dim < self.head_dim or self.v_head_dim == 0:
                raise LLMConfigError(
                    f"{where}: multi-head latent attention needs 0 < qk_rope_head_dim "
                    f"({self.qk_rope_head_dim}) < head_dim ({self.head_dim}) and v_head_dim "
                    f"({self.v_head_dim}) > 0", field="qk_rope_head_dim")
            if self.n_sliding_layers:
                raise LLMConfigError(f"{where}: sliding windows with latent attention are not supported",
                                     field="sliding_window")

    # ------------------------------------------------------------------ derived sizes
    @property
    def q_dim(self) -> int:
        """Width of the query projection output, ``n_heads x head_dim``."""
        return self.n_heads * self.head_dim

    @property
    def kv_dim(self) -> int:
        """Width of the key (and of the value) projection output, ``n_kv_heads x head_dim``."""
        return self.n_kv_heads * self.head_dim

    @property
    def group_factor(self) -> int:
        """Query heads per KV head (1 for multi-head attention, > 1 for GQA)."""
        return self.n_heads // self.n_kv_heads

    @property
    def n_mlp_matrices(self) -> int:
        """Weight matrices per MLP (or per expert): 3 for gated MLPs, 2 otherwise."""
        return 3 if self.gated_mlp else 2

    @property
    def is_moe(self) -> bool:
        return self.n_experts > 1

    @property
    def is_mla(self) -> bool:
        """Multi-head latent attention (a compressed KV cache)."""
        return self.kv_lora_rank > 0

    @property
    def expert_width(self) -> int:
        """Hidden width of one routed expert."""
        return self.expert_intermediate or self.intermediate

    @property
    def ffn_top_k(self) -> float:
        """FFN experts a token is routed to on average: ``top_k (1 - zc_share)``."""
        return self.top_k * (1.0 - self.zc_share)

    @property
    def n_moe_layers(self) -> int:
        """Layers whose MLP is a mixture of experts."""
        return self.n_layers - self.n_dense_layers if self.is_moe else 0

    @property
    def n_full_layers(self) -> int:
        """Layers attending to the whole context (the others use the sliding window)."""
        return self.n_layers - self.n_sliding_layers

    @property
    def rope_dim(self) -> int:
        """Rotated channels per query/key head."""
        return self.rotary_dim or self.head_dim

    @property
    def v_dim(self) -> int:
        """Width of the attention output, ``n_heads x`` the value head width."""
        return self.n_heads * (self.v_head_dim or self.head_dim)

    @property
    def kv_cache_elems(self) -> int:
        """KV-cache elements per token per layer: ``2 x kv_dim`` (K and V), or for latent
        attention the compressed latent plus the shared RoPE key, ``kv_lora_rank +
        qk_rope_head_dim``."""
        return self.kv_lora_rank + self.qk_rope_head_dim if self.is_mla else 2 * self.kv_dim


# ---------------------------------------------------------------------------- parsing
def _get(cfg: Mapping[str, Any], key: str, origin: str, default: Any = ...) -> Any:
    if key in cfg and cfg[key] is not None:
        return cfg[key]
    if default is ...:
        raise LLMConfigMissingField(
            f"LLM config {origin}: missing field {key!r} (required for model_type "
            f"{_show(cfg.get('model_type'))})", field=key
        )
    return default


def _show(v: Any) -> str:
    """A JSON value for a message: short (a huge number or a long list is not repeated whole)."""
    if isinstance(v, int) and not isinstance(v, bool) and abs(v).bit_length() > 64:
        return "an integer of more than 19 digits"
    text = repr(v)
    return text if len(text) <= 80 else text[:77] + "..."


def _int(cfg: Mapping[str, Any], key: str, origin: str, default: Any = ..., *, low: int = 1) -> int:
    """An integer field in ``[low, _MAX_SIZE]``: 1.5, true, "8", NaN, 1e400 and 0 are refused."""
    v = _get(cfg, key, origin, default)
    ok = isinstance(v, int) or (isinstance(v, float) and math.isfinite(v) and v.is_integer())
    if isinstance(v, bool) or not ok:
        raise LLMConfigError(f"LLM config {origin}: field {key!r} = {_show(v)}; allowed: an integer from {low} to "
                             f"{_MAX_SIZE}", field=key)
    if not low <= v <= _MAX_SIZE:
        raise LLMConfigError(f"LLM config {origin}: field {key!r} = {_show(v)}; allowed: an integer from {low} to "
                             f"{_MAX_SIZE}", field=key)
    return int(v)


def _bool(cfg: Mapping[str, Any], key: str, origin: str, default: bool) -> bool:
    v = _get(cfg, key, origin, default)
    if not isinstance(v, bool):
        raise LLMConfigError(f"LLM config {origin}: field {key!r} = {_show(v)}; allowed: true or false", field=key)
    return v


def _str(cfg: Mapping[str, Any], key: str, origin: str, default: str) -> str:
    v = _get(cfg, key, origin, default)
    if not isinstance(v, str) or not v:
        raise LLMConfigError(f"LLM config {origin}: field {key!r} = {_show(v)}; allowed: a non-empty string",
                             field=key)
    return v


def _heads(
    cfg: Mapping[str, Any], origin: str, heads_key: str, hidden_key: str, head_dim: int | None
) -> tuple[int, int]:
    """Validated (n_heads, head_dim)."""
    hidden = _int(cfg, hidden_key, origin)
    n_heads = _int(cfg, heads_key, origin)
    if head_dim is None:
        if hidden % n_heads != 0:
            raise LLMConfigError(
                f"LLM config {origin}: field {heads_key!r} = {n_heads} does not divide "
                f"{hidden_key!r} = "
                f"{hidden}; allowed: a divisor of {hidden_key} (or give head_dim explicitly)", field=heads_key
            )
        head_dim = hidden // n_heads
    return n_heads, head_dim


def _family(cfg: Mapping[str, Any], origin: str) -> str:
    if "model_type" not in cfg:
        raise LLMConfigMissingField(
            f"LLM config {origin}: missing field 'model_type'; "
            f"allowed values: {', '.join(LLM_FAMILIES)}", field="model_type"
        )
    if not isinstance(cfg["model_type"], str):
        raise LLMConfigError(f"LLM config {origin}: field 'model_type' = {_show(cfg['model_type'])}; allowed: "
                             f"{', '.join(LLM_FAMILIES)}", field="model_type")
    mt = cfg["model_type"].lower()
    archs_raw = cfg.get("architectures")
    if archs_raw is None:
        archs_raw = []
    if not isinstance(archs_raw, list) or not all(isinstance(a, str) for a in archs_raw):
        raise LLMConfigError(f"LLM config {origin}: field 'architectures' = {_show(archs_raw)}; allowed: a list of "
                             'class names (strings), e.g. ["LlamaForCausalLM"]', field="architectures")
    archs = [a.lower() for a in archs_raw]
    # 1bitLLM's BitNet b1.58 checkpoints declare model_type "llama" with a Bitnet architecture.
    if mt == "bitnet" or any(a.startswith("bitnet") for a in archs):
        return "bitnet"
    if mt not in LLM_FAMILIES and mt not in _TEXT_WRAPPERS:
        raise LLMConfigError(
            f"LLM config {origin}: field 'model_type' = {_show(cfg['model_type'])} is not a supported "
            f"architecture; allowed: {', '.join(LLM_FAMILIES + _TEXT_WRAPPERS)}", field="model_type"
        )
    return mt


class _Seen(dict[str, Any]):
    """The config's fields, recording which ones the parser looked at (the rest get a note)."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.seen: set[str] = set()

    def __contains__(self, key: object) -> bool:
        self.seen.add(str(key))
        return super().__contains__(key)

    def __getitem__(self, key: str) -> Any:
        self.seen.add(key)
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:
        self.seen.add(key)
        return super().get(key, default)


# Fields of Hugging Face configs that change no FLOP, byte or parameter count (numerics,
# tokenizer ids, training-only settings, serving hints): ignored without a note.
_COST_FREE = frozenset({
    "activation_dropout", "attention_dropout", "attn_pdrop", "dropout", "embd_pdrop", "hidden_dropout",
    "resid_pdrop", "classifier_dropout", "layerdrop", "summary_activation", "summary_first_dropout",
    "summary_proj_to_labels", "summary_type", "summary_use_proj", "scale_attn_weights", "n_ctx",
    "bos_token_id", "eos_token_id", "pad_token_id", "torch_dtype", "dtype", "transformers_version", "use_cache",
    "initializer_range", "initializer_factor", "init_std", "rms_norm_eps", "layer_norm_eps", "layer_norm_epsilon",
    "rope_theta", "rope_scaling", "rope_parameters", "rope_local_base_freq", "rope_interleave", "pretraining_tp",
    "attn_logit_softcapping", "final_logit_softcapping", "query_pre_attn_scalar", "cache_implementation",
    "auto_map", "aux_loss_alpha", "norm_topk_prob", "scoring_func", "seq_aux", "topk_method", "n_group",
    "topk_group", "routed_scaling_factor", "router_aux_loss_coef", "output_router_logits", "router_jitter_noise",
    "ep_size", "clip_qkv", "use_bfloat16", "max_window_layers", "use_sliding_window", "mlp_bias",
    "hidden_activation", "embedding_multiplier", "original_max_position_embeddings", "qk_layernorm",
    "use_qk_norm", "bias_dropout_fuse", "rotary_emb_base", "hidden_dropout_prob", "attention_probs_dropout_prob",
    # BitNet's quantisation bits: the weight/activation datatype knobs set the precision
    "input_bits", "weight_bits",
})
# Fields that matter but are not modelled: named in a note of their own.
_NOT_MODELLED = {
    "num_nextn_predict_layers": "multi-token-prediction modules (num_nextn_predict_layers) are not modelled",
    "vision_config": "only the text model of a multimodal config is modelled (vision_config ignored)",
    "quantization_config": "quantization_config ignored: the weight_dtype knob sets the stored weight datatype",
}


def _sliding(cfg: Mapping[str, Any], origin: str, fam: str, n_layers: int) -> tuple[int, int]:
    """(window, layers that use it) as Hugging Face's model of the family applies them."""
    types = cfg.get("layer_types")
    if types is not None:
        ok = isinstance(types, list) and len(types) == n_layers and all(isinstance(t, str) for t in types)
        if not ok:
            raise LLMConfigError(f"LLM config {origin}: field 'layer_types' = {_show(types)}; allowed: a list of "
                                 f"{n_layers} strings (num_hidden_layers), each 'full_attention' or "
                                 "'sliding_attention'", field="layer_types")
        bad = sorted(set(types) - {"full_attention", "sliding_attention"})
        if bad:
            raise LLMConfigError(f"LLM config {origin}: field 'layer_types' holds {_show(bad[0])}; allowed: "
                                 "'full_attention', 'sliding_attention'", field="layer_types")
        n_slide = types.count("sliding_attention")
        return (_int(cfg, "sliding_window", origin), n_slide) if n_slide else (0, 0)
    if fam in ("qwen2", "qwen2_moe", "qwen3", "qwen3_moe"):
        # Qwen declares a window it does not use unless use_sliding_window is true; then the
        # layers from max_window_layers on are windowed
        declared = cfg.get("sliding_window")
        if not _bool(cfg, "use_sliding_window", origin, False) or declared is None:
            return 0, 0
        first = _int(cfg, "max_window_layers", origin, n_layers, low=0)
        n_slide = max(0, n_layers - first)
        return (_int(cfg, "sliding_window", origin), n_slide) if n_slide else (0, 0)
    if fam in ("gemma2", "gemma3_text"):
        # layer i is windowed unless (i + 1) is a multiple of the pattern: Gemma 2 alternates
        # (1 local : 1 global), Gemma 3 has 5 local layers per global one
        window = _int(cfg, "sliding_window", origin)
        period = 2 if fam == "gemma2" else _int(cfg, "sliding_window_pattern", origin, 6)
        n_slide = n_layers - n_layers // period  # a pattern of 1: every layer global
        return (window, n_slide) if n_slide else (0, 0)
    if fam in ("mistral", "mixtral", "phi3") and cfg.get("sliding_window") is not None:
        return _int(cfg, "sliding_window", origin), n_layers
    return 0, 0


def _moe_layers(cfg: Mapping[str, Any], origin: str, fam: str, n_layers: int) -> int:
    """How many layers have an MoE MLP (Qwen-MoE: every ``decoder_sparse_step``-th layer not in
    ``mlp_only_layers``; DeepSeek: layers from ``first_k_dense_replace`` on, every
    ``moe_layer_freq``-th)."""
    if fam in ("qwen2_moe", "qwen3_moe"):
        step = _int(cfg, "decoder_sparse_step", origin, 1)
        only = cfg.get("mlp_only_layers")
        only = [] if only is None else only
        if not isinstance(only, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in only):
            raise LLMConfigError(f"LLM config {origin}: field 'mlp_only_layers' = {_show(only)}; allowed: a list of "
                                 "layer indices (integers)", field="mlp_only_layers")
        return sum(1 for i in range(n_layers) if i not in only and (i + 1) % step == 0)
    first = _int(cfg, "first_k_dense_replace", origin, 0, low=0)
    freq = _int(cfg, "moe_layer_freq", origin, 1)
    return sum(1 for i in range(n_layers) if i >= first and i % freq == 0)


def _rotary_fraction(cfg: Mapping[str, Any], origin: str, key: str, default: float) -> float:
    v = _get(cfg, key, origin, default)
    if isinstance(v, bool) or not isinstance(v, int | float) or not (0.0 < v <= 1.0):
        raise LLMConfigError(f"LLM config {origin}: field {key!r} = {_show(v)}; allowed: a number in (0, 1]",
                             field=key)
    return float(v)


def _llama_like(cfg: Mapping[str, Any], origin: str, fam: str, common: dict[str, Any]) -> LLMConfig:
    """The llama lineage: pre-norm decoder, RoPE, gated MLP (Mistral, Mixtral, BitNet, Qwen, Gemma,
    Phi-3, OLMo, DeepSeek with latent attention)."""
    mla = fam in ("deepseek_v2", "deepseek_v3")
    mla_fields: dict[str, Any] = {}
    if mla:
        rope = _int(cfg, "qk_rope_head_dim", origin)
        mla_fields = {
            "q_lora_rank": _int(cfg, "q_lora_rank", origin, 0, low=0),
            "kv_lora_rank": _int(cfg, "kv_lora_rank", origin),
            "qk_rope_head_dim": rope,
            "v_head_dim": _int(cfg, "v_head_dim", origin),
        }
        hd: int | None = _int(cfg, "qk_nope_head_dim", origin) + rope
        cfg.get("head_dim")  # newer transformers write head_dim = qk_rope_head_dim: known, not used
    else:
        # an explicit head_dim (Mistral, Gemma, Qwen3) must be a positive integer: 1.5 is not
        # truncated and 0 is not taken as "derive it"
        hd = _int(cfg, "head_dim", origin) if cfg.get("head_dim") is not None else None
    n_heads, head_dim = _heads(cfg, origin, "num_attention_heads", "hidden_size", hd)
    kv_default: Any = ... if fam in ("mistral", "mixtral") else n_heads
    n_kv = _int(cfg, "num_key_value_heads", origin, kv_default)
    if mla:
        n_kv = n_heads  # every head has its own key and value, decompressed from the latent
    if n_heads % n_kv != 0:
        raise LLMConfigError(
            f"LLM config {origin}: field 'num_key_value_heads' = {n_kv} does not divide "
            f"num_attention_heads = {n_heads}; allowed: a divisor of num_attention_heads",
            field="num_key_value_heads",
        )
    gemma = fam in ("gemma", "gemma2", "gemma3_text")
    # Gemma configs carry hidden_activation (the one used) and often a legacy hidden_act too
    act_key = "hidden_activation" if gemma and cfg.get("hidden_activation") is not None else "hidden_act"
    cfg.get("hidden_act")
    act = _str(cfg, act_key, origin, "gelu_pytorch_tanh" if gemma else "silu")
    n_layers = _int(cfg, "num_hidden_layers", origin)
    intermediate = _int(cfg, "intermediate_size", origin)
    moe: dict[str, Any] = {}
    if fam == "mixtral":
        moe = {"n_experts": _int(cfg, "num_local_experts", origin), "top_k": _int(cfg, "num_experts_per_tok", origin)}
    elif fam in ("qwen2_moe", "qwen3_moe") or (mla and cfg.get("n_routed_experts") is not None):
        n_moe = _moe_layers(cfg, origin, fam, n_layers)
        if n_moe:
            expert_i = _int(cfg, "moe_intermediate_size", origin)
            if fam == "qwen2_moe":
                shared_i = _int(cfg, "shared_expert_intermediate_size", origin, 0, low=0)
            elif mla:
                shared_i = _int(cfg, "n_shared_experts", origin, 0, low=0) * expert_i
            else:
                shared_i = 0
            moe = {
                "n_experts": _int(cfg, "num_experts" if not mla else "n_routed_experts", origin),
                "top_k": _int(cfg, "num_experts_per_tok", origin),
                "expert_intermediate": expert_i,
                "shared_expert_intermediate": shared_i,
                "shared_expert_gate": fam == "qwen2_moe" and shared_i > 0,
                "n_dense_layers": n_layers - n_moe,
            }
    window, n_slide = _sliding(cfg, origin, fam, n_layers)
    rotary = 0
    if mla:
        rotary = mla_fields["qk_rope_head_dim"]
    elif fam == "phi3" and cfg.get("partial_rotary_factor") is not None:
        rotary = max(1, int(head_dim * _rotary_fraction(cfg, origin, "partial_rotary_factor", 1.0)))
    return LLMConfig(
        **common,
        **moe,
        **mla_fields,
        hidden=_int(cfg, "hidden_size", origin),
        n_layers=n_layers,
        n_heads=n_heads,
        n_kv_heads=n_kv,
        head_dim=head_dim,
        intermediate=intermediate,
        vocab=_int(cfg, "vocab_size", origin),
        tied_embeddings=_bool(cfg, "tie_word_embeddings", origin, gemma),
        norm="nonparametric" if fam == "olmo" else "rmsnorm",
        gated_mlp=True,
        activation=act,
        max_positions=_int(cfg, "max_position_embeddings", origin),
        positional="rope",
        rotary_dim=rotary,
        bias=_bool(cfg, "attention_bias", origin, False),
        qkv_bias=fam in ("qwen2", "qwen2_moe"),  # Qwen2 hard-codes biases on q, k and v only
        qk_norm=fam in ("qwen3", "qwen3_moe", "gemma3_text"),
        post_norms=fam in ("gemma2", "gemma3_text"),
        n_position_rows=0,
        n_sublayer_norms=2 if fam == "bitnet" else 0,
        final_norm=True,
        sliding_window=window,
        n_sliding_layers=n_slide,
    )


def _falcon(cfg: Mapping[str, Any], origin: str, common: dict[str, Any]) -> LLMConfig:
    """Falcon: fused multi-query (7B) or grouped (new_decoder_architecture: 40B, 180B) attention,
    attention and a non-gated GELU MLP in parallel, LayerNorm, tied embeddings."""
    heads_key = "n_head" if "num_attention_heads" not in cfg and "n_head" in cfg else "num_attention_heads"
    layers_key = "n_layer" if "num_hidden_layers" not in cfg and "n_layer" in cfg else "num_hidden_layers"
    n_heads, head_dim = _heads(cfg, origin, heads_key, "hidden_size", None)
    hidden = _int(cfg, "hidden_size", origin)
    new_arch = _bool(cfg, "new_decoder_architecture", origin, False)
    cfg.get("num_kv_heads")  # read only by the new decoder architecture: known, not an unknown field
    if new_arch:
        n_kv = _int(cfg, "num_kv_heads", origin)
    else:
        n_kv = 1 if _bool(cfg, "multi_query", origin, True) else n_heads
    if n_heads % n_kv != 0:
        raise LLMConfigError(f"LLM config {origin}: field 'num_kv_heads' = {n_kv} does not divide {heads_key} = "
                             f"{n_heads}; allowed: a divisor of {heads_key}", field="num_kv_heads")
    parallel = new_arch or _bool(cfg, "parallel_attn", origin, True)
    n_pre = _int(cfg, "num_ln_in_parallel_attn", origin, 2) if new_arch else (1 if parallel else 2)
    if n_pre not in (1, 2):
        raise LLMConfigError(f"LLM config {origin}: field 'num_ln_in_parallel_attn' = {n_pre}; allowed: 1 or 2",
                             field="num_ln_in_parallel_attn")
    alibi = _bool(cfg, "alibi", origin, False)
    return LLMConfig(
        **common,
        hidden=hidden,
        n_layers=_int(cfg, layers_key, origin),
        n_heads=n_heads,
        n_kv_heads=n_kv,
        head_dim=head_dim,
        intermediate=_int(cfg, "ffn_hidden_size", origin, 4 * hidden),
        vocab=_int(cfg, "vocab_size", origin),
        tied_embeddings=_bool(cfg, "tie_word_embeddings", origin, True),
        norm="layernorm",
        gated_mlp=False,
        activation=_str(cfg, "activation", origin, "gelu"),
        max_positions=_int(cfg, "max_position_embeddings", origin, 2048),
        positional="alibi" if alibi else "rope",
        bias=_bool(cfg, "bias", origin, False),
        parallel_block=parallel,
        n_pre_norms=n_pre,
        final_norm=True,
    )


def _gpt_neox(cfg: Mapping[str, Any], origin: str, common: dict[str, Any]) -> LLMConfig:
    """GPT-NeoX / Pythia: fused QKV with biases, partial rotary, parallel residual, LayerNorm."""
    n_heads, head_dim = _heads(cfg, origin, "num_attention_heads", "hidden_size", None)
    parallel = _bool(cfg, "use_parallel_residual", origin, True)
    return LLMConfig(
        **common,
        hidden=_int(cfg, "hidden_size", origin),
        n_layers=_int(cfg, "num_hidden_layers", origin),
        n_heads=n_heads,
        n_kv_heads=n_heads,
        head_dim=head_dim,
        intermediate=_int(cfg, "intermediate_size", origin),
        vocab=_int(cfg, "vocab_size", origin),
        tied_embeddings=_bool(cfg, "tie_word_embeddings", origin, False),
        norm="layernorm",
        gated_mlp=False,
        activation=_str(cfg, "hidden_act", origin, "gelu"),
        max_positions=_int(cfg, "max_position_embeddings", origin),
        positional="rope",
        # HF: rotary_ndims = int(head_size * rotary_pct)
        rotary_dim=max(1, int(head_dim * _rotary_fraction(cfg, origin, "rotary_pct", 0.25))),
        bias=_bool(cfg, "attention_bias", origin, True),
        parallel_block=parallel,
        final_norm=True,
    )


def parse_llm_config(
    cfg: Mapping[str, Any], *, name: str = "custom", source: str = ""
) -> LLMConfig:
    """Build an :class:`LLMConfig` from the dictionary of a Hugging Face ``config.json``.

    Keys starting with ``_`` (such as ``_source``) are ignored. Fields the cost model does not
    use and does not know are ignored too, each named in :attr:`LLMConfig.notes`; a multimodal
    config with a ``text_config`` (Gemma 3) is modelled by its text model.

    Raises
    ------
    LLMConfigMissingField
        A required field is missing (the message names it; also a KeyError).
    LLMConfigError
        Unknown ``model_type``, a field of the wrong type (``architectures: 5``, ``head_dim:
        1.5``), zero, non-finite or non-dividing sizes: the message names the field, the value
        and what is allowed.
    """
    if not isinstance(cfg, Mapping):
        raise LLMConfigError(f"LLM config {name!r}: a JSON object is required, got {type(cfg).__name__}")
    seen = _Seen({k: v for k, v in cfg.items() if not str(k).startswith("_")})
    origin = repr(name)
    fam = _family(seen, origin)
    notes: list[str] = []
    if fam in _TEXT_WRAPPERS:
        text = seen.get("text_config")
        if not isinstance(text, Mapping):
            raise LLMConfigMissingField(
                f"LLM config {origin}: model_type {fam!r} is a multimodal wrapper; its field 'text_config' "
                f"(an object holding the language model's config) is missing or {_show(text)}", field="text_config")
        notes.append(_NOT_MODELLED["vision_config"])
        inner = parse_llm_config({**text, "model_type": f"{fam}_text"}, name=name, source=source)
        return replace(inner, notes=(*notes, *inner.notes))
    common: dict[str, Any] = {"name": name, "family": fam, "source": source}
    if fam in ("opt", "gpt2"):
        out = _opt(seen, origin, common) if fam == "opt" else _gpt2(seen, origin, common)
    elif fam == "falcon":
        out = _falcon(seen, origin, common)
    elif fam == "gpt_neox":
        out = _gpt_neox(seen, origin, common)
    else:
        out = _llama_like(seen, origin, fam, common)
    for key, why in _NOT_MODELLED.items():
        if key in seen and seen[key]:
            notes.append(why)
    unknown = sorted(set(dict.keys(seen)) - seen.seen - _COST_FREE - set(_NOT_MODELLED))
    if unknown:
        notes.append(f"fields unknown to the {fam} cost model, ignored: {', '.join(unknown)}")
    return replace(out, notes=tuple(notes)) if notes else out


def _opt(cfg: Mapping[str, Any], origin: str, common: dict[str, Any]) -> LLMConfig:
    n_heads, head_dim = _heads(cfg, origin, "num_attention_heads", "hidden_size", None)
    hidden = _int(cfg, "hidden_size", origin)
    proj = _int(cfg, "word_embed_proj_dim", origin, hidden)
    if proj != hidden:
        raise LLMConfigError(
            f"LLM config {origin}: field 'word_embed_proj_dim' = {proj} differs from "
            f"hidden_size = {hidden}; the project_in/project_out variant is not supported "
            "(allowed: equal to hidden_size)", field="word_embed_proj_dim"
        )
    max_pos = _int(cfg, "max_position_embeddings", origin)
    return LLMConfig(
        **common,
        hidden=hidden,
        n_layers=_int(cfg, "num_hidden_layers", origin),
        n_heads=n_heads,
        n_kv_heads=n_heads,
        head_dim=head_dim,
        intermediate=_int(cfg, "ffn_dim", origin),
        vocab=_int(cfg, "vocab_size", origin),
        tied_embeddings=_bool(cfg, "tie_word_embeddings", origin, True),
        norm="layernorm",
        gated_mlp=False,
        activation=_str(cfg, "activation_function", origin, "relu"),
        max_positions=max_pos,
        positional="learned",
        bias=_bool(cfg, "enable_bias", origin, True),
        # OPT's learned positional embedding keeps an offset of 2 rows.
        n_position_rows=max_pos + 2,
        final_norm=_bool(cfg, "do_layer_norm_before", origin, True),
    )


def _gpt2(cfg: Mapping[str, Any], origin: str, common: dict[str, Any]) -> LLMConfig:
    n_heads, head_dim = _heads(cfg, origin, "n_head", "n_embd", None)
    hidden = _int(cfg, "n_embd", origin)
    n_pos = _int(cfg, "n_positions", origin)
    return LLMConfig(
        **common,
        hidden=hidden,
        n_layers=_int(cfg, "n_layer", origin),
        n_heads=n_heads,
        n_kv_heads=n_heads,
        head_dim=head_dim,
        intermediate=_int(cfg, "n_inner", origin, 4 * hidden),
        vocab=_int(cfg, "vocab_size", origin),
        tied_embeddings=bool(cfg.get("tie_word_embeddings", True)),
        norm="layernorm",
        gated_mlp=False,
        activation=_str(cfg, "activation_function", origin, "gelu_new"),
        max_positions=n_pos,
        positional="learned",
        bias=True,
        n_position_rows=n_pos,
        final_norm=True,
    )


def available_llms() -> list[str]:
    """Names of the LLM configs shipped in ``data/workloads/`` (sorted)."""
    return sorted(p.stem for p in WORKLOAD_DIR.glob("*.json") if _is_llm_file(p))


def _is_llm_file(path: Path) -> bool:
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return False
    return isinstance(d, dict) and "model_type" in d


def _read_json(path: Path) -> Any:
    """The JSON document of a config file; every way it can fail is an LLMConfigError naming the file."""
    where = f"LLM config file {str(path)!r}"
    try:
        text = read_text(path)
    except UnreadableFile as exc:
        raise LLMConfigError(f"{where}: {exc.why}; a JSON config.json in UTF-8 is required") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise LLMConfigError(f"{where}: invalid JSON ({exc})") from None
    except RecursionError:
        raise LLMConfigError(f"{where}: JSON nested too deeply; a config.json is a flat object") from None
    except ValueError as exc:  # an integer of more than 4300 digits
        raise LLMConfigError(f"{where}: invalid JSON number ({str(exc).split(';')[0]})") from None


def load_llm_config(name_or_path: str | Path) -> LLMConfig:
    """Load an LLM config by name (a file in ``data/workloads/``) or from a ``config.json`` path.

    Raises
    ------
    KeyError
        Unknown name (the message lists the available ones), a missing file, or a missing
        field (:class:`LLMConfigMissingField`).
    LLMConfigError
        A file that is not UTF-8 JSON, too deeply nested, not an object, or a field of the
        wrong type or value: the message names the file and the field.
    """
    p = Path(name_or_path)
    if p.suffix == ".json" or p.exists():
        path = p
        if path.is_dir():
            path = path / "config.json"
        if not path.exists():
            raise KeyError(f"LLM config file {str(path)!r} does not exist")
        name = path.stem if path.name != "config.json" else path.parent.name or "custom"
    else:
        path = WORKLOAD_DIR / f"{name_or_path}.json"
        if not path.exists():
            raise KeyError(
                f"unknown LLM workload {str(name_or_path)!r}; "
                f"available: {', '.join(available_llms())}"
            )
        name = str(name_or_path)
    data = _read_json(path)
    if not isinstance(data, dict):
        raise LLMConfigError(
            f"LLM config file {str(path)!r}: expected a JSON object, got {type(data).__name__}"
        )
    source = data.get("_source", str(path))
    source = source if isinstance(source, str) else str(path)
    try:
        return parse_llm_config(data, name=name, source=source)
    except LLMConfigMissingField as exc:
        raise LLMConfigMissingField(f"{exc} (file {str(path)!r})", field=exc.field) from None
    except LLMConfigError as exc:
        raise LLMConfigError(f"{exc} (file {str(path)!r})", field=exc.field) from None


# ---------------------------------------------------------------------------- counts
def expected_distinct_experts(
    n_experts: ArrayLike, top_k: ArrayLike, n_tokens: ArrayLike
) -> np.ndarray:
    """Expected number of distinct experts touched by ``n_tokens`` tokens.

    Assumes uniform, independent routing where each token picks ``top_k`` distinct experts out
    of ``n_experts``: an expert is missed by one token with probability ``1 - k/E``, so
    ``E (1 - (1 - k/E)^T)`` experts are touched. Shapes broadcast; returns float array.
    """
    E = np.asarray(n_experts, dtype=np.float64)
    k = np.asarray(top_k, dtype=np.float64)
    T = np.asarray(n_tokens, dtype=np.float64)
    return E * (1.0 - (1.0 - k / E) ** T)


# the routing knobs of an MoE model (algorithm knob -> LLMConfig field)
ROUTING_KNOBS = {"zc_expert_share": "zc_share", "expert_capacity_factor": "capacity_factor"}


def with_routing(cfg: LLMConfig, routing: Mapping[str, float] | None) -> LLMConfig:
    """``cfg`` with the routing knobs ``routing`` (``zc_expert_share``: MoE++'s zero-computation
    experts; ``expert_capacity_factor``: padded expert buffers), by knob name; unset or 0: as built.

    Raises
    ------
    ValueError
        A routing knob on a dense model (the message names the knob).
    """
    changes: dict[str, Any] = {ROUTING_KNOBS[k]: float(v) for k, v in (routing or {}).items() if v}
    if not changes:
        return cfg
    if not cfg.is_moe:
        k, v = next((k, v) for k, v in (routing or {}).items() if v)
        raise ValueError(f"algorithm knob {k!r} = {v}: a dense model has no routed experts; allowed: unset, or a "
                         "mixture-of-experts LLM workload")
    return replace(cfg, **changes)


def routed_rows(cfg: LLMConfig, tokens: ArrayLike, units: int = 1, skew: float = 0.0
                ) -> tuple[np.ndarray, np.ndarray]:
    """``(rows, experts read)`` of the expert GEMMs of one of ``units`` expert-parallel units (each
    holding ``E / units`` experts) when every unit routes ``tokens`` tokens.

    Dropless: the unit computes its share of the group's ``T k_f`` pairs, ``(1 + skew)`` times the
    mean on the busiest unit, and reads the distinct experts the group's ``units x T`` tokens touch
    among its own. With a capacity factor ``gamma``: each expert computes a padded buffer of
    ``ceil(gamma units T k_f / E)`` rows (over the group's tokens; the busiest unit's excess is
    dropped, so the skew does not add rows) and every expert of the unit is read.
    """
    E, kf = cfg.n_experts, cfg.ffn_top_k
    T = np.asarray(tokens, dtype=np.float64)
    if cfg.capacity_factor:
        cap = np.ceil(cfg.capacity_factor * units * T * kf / E - 1e-9)
        return E / units * cap, np.full(T.shape, E / units)
    return T * kf * (1.0 + skew), expected_distinct_experts(E, kf, units * T) / units


def llm_active_params(cfg: LLMConfig) -> int:
    """Parameters used per token: all parameters less the ``n_experts - top_k`` idle experts."""
    total = _param_total(cfg)
    idle = (cfg.n_experts - cfg.top_k) * cfg.n_moe_layers * _expert_params(cfg)
    return total - idle


def _expert_params(cfg: LLMConfig) -> int:
    # expert matrices carry no biases in this model (Mixtral has none)
    return cfg.n_mlp_matrices * cfg.hidden * cfg.expert_width


def _param_total(cfg: LLMConfig) -> int:
    # Built from a one-token prefill table so the count and the table cannot disagree.
    return int(round(float(llm_prefill(cfg, 1, 1).total_params()[0])))


# ---------------------------------------------------------------------------- builders
def _with(op: Op, **values: Any) -> Op:
    return op.replace(**values)


def _arr(x: ArrayLike, name: str, minimum: float) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.size == 0 or np.any(~np.isfinite(a)) or np.any(a < minimum) or np.any(a != np.floor(a)):
        bad = a[~(np.isfinite(a) & (a >= minimum) & (a == np.floor(a)))].reshape(-1) if a.size else a
        raise ValueError(
            f"knob {name!r} = {bad[:3].tolist() if bad.size else []}; "
            f"allowed: integers >= {minimum:g}"
        )
    return a


class _Builder:
    """Collects the operators of one phase together with their structural multiplicity."""

    def __init__(
        self,
        cfg: LLMConfig,
        phase: str,
        weight_dtype: str,
        act_dtype: str,
        kv_dtype: str,
        repeat: ArrayLike,
    ) -> None:
        self.cfg, self.phase = cfg, phase
        self.wd, self.ad, self.kd = weight_dtype, act_dtype, kv_dtype
        self.repeat = repeat  # 1 in prefill, n_generated in decode
        self.ops: list[Op] = []
        self.stored_B = 0.0  # bytes of weights stored (each parameter once)
        self.stored_params = 0.0  # parameters stored (each once)

    def add(
        self, op: Op, *, per_layer: bool, weight_b: float | None = None, layers: int | None = None
    ) -> None:
        """Append ``op``, repeated in every layer (``per_layer``; ``layers`` instances instead
        when only some layers, or every head of every layer, have it) or once."""
        mult = (self.cfg.n_layers if layers is None else layers) if per_layer else 1
        p = np.asarray(op.values.get("n_params", 0.0), dtype=np.float64)
        self.stored_params += mult * float(np.max(p))
        self.stored_B += (
            mult
            * float(np.max(p))
            * (weight_b if weight_b is not None else bytes_per_element(self.wd))
        )
        self.ops.append(_with(op, count=np.asarray(self.repeat, dtype=np.float64) * mult))

    def linear(
        self,
        name: str,
        m: ArrayLike,
        n: int,
        k: int,
        *,
        per_layer: bool = True,
        bias: bool | None = None,
        layers: int | None = None,
    ) -> None:
        """A weight GEMM ``[m, k] x [k, n]``, with a bias of ``n`` when ``bias`` (default: the
        config's ``bias``)."""
        op = gemm(name, m, n, k, dtype=self.ad, weight_dtype=self.wd, phase=self.phase)
        if self.cfg.bias if bias is None else bias:
            bw = bytes_per_element(self.wd)
            v = op.values
            op = _with(
                op,
                n_params=np.asarray(v["n_params"]) + n,
                weight_read_B=np.asarray(v["weight_read_B"]) + n * bw,
                flop=np.asarray(v["flop"]) + np.asarray(m, dtype=np.float64) * n,
                footprint_B=np.asarray(v["footprint_B"]) + n * bw,
            )
        self.add(op, per_layer=per_layer, layers=layers)

    def norm_op(
        self, name: str, rows: ArrayLike, width: int, *, per_layer: bool = True, layers: int | None = None
    ) -> None:
        n_p = width * {"layernorm": 2, "rmsnorm": 1, "nonparametric": 0}[self.cfg.norm]
        self.add(
            norm(name, rows, width, dtype=self.ad, phase=self.phase, n_params=n_p),
            per_layer=per_layer,
            weight_b=bytes_per_element(self.ad),
            layers=layers,
        )

    def elementwise(self, name: str, n_elements: ArrayLike, *, layers: int | None = None, **kw: Any) -> None:
        """A per-layer elementwise operator in the builder's activation datatype and phase."""
        self.add(elementwise(name, n_elements, dtype=self.ad, phase=self.phase, **kw), per_layer=True,
                 layers=layers)


def _window_mean_kv(window: int, q_len: np.ndarray, kv_len: np.ndarray, n_generated: np.ndarray | None
                    ) -> np.ndarray:
    """Mean keys attended per query of a sliding-window layer.

    Prefill (``n_generated`` None; ``q_len = kv_len = N``, causal): query ``i`` attends
    ``min(i, W)`` keys in the continuous convention of the causal ``N^2 / 2`` pairs, so the pairs
    are ``(N^2 - max(N - W, 0)^2) / 2``, which is ``N^2 / 2`` while ``N <= W``. Decode
    (``kv_len`` = the first context ``C``): step ``j`` of ``G`` attends ``min(C + j, W)``
    cached tokens; the mean over the steps is exact because the totals are what is priced.
    """
    W = float(window)
    if n_generated is None:
        N = q_len
        return (N**2 - np.maximum(N - W, 0.0) ** 2) / (2.0 * N)
    C, G = kv_len, n_generated
    below = np.clip(W - C, 0.0, G)  # steps whose whole context fits in the window
    return (below * C + below * (below - 1.0) / 2.0 + (G - below) * W) / G


def _attention(
    b: _Builder,
    tokens: np.ndarray,
    batch: np.ndarray,
    q_len: np.ndarray,
    kv_len: np.ndarray,
    local_kv_len: np.ndarray | None,
    decode: bool,
) -> None:
    """Q, K, V projections, RoPE, the KV-cache write and the attention of a (GQA/MQA) layer."""
    cfg = b.cfg
    h = cfg.hidden
    ab, kb = bytes_per_element(b.ad), bytes_per_element(b.kd)
    qkv_bias = cfg.bias or cfg.qkv_bias
    b.linear("q_proj", tokens, cfg.q_dim, h, bias=qkv_bias)
    b.linear("k_proj", tokens, cfg.kv_dim, h, bias=qkv_bias)
    b.linear("v_proj", tokens, cfg.kv_dim, h, bias=qkv_bias)
    if cfg.qk_norm:
        b.norm_op("q_norm", tokens * cfg.n_heads, cfg.head_dim)
        b.norm_op("k_norm", tokens * cfg.n_kv_heads, cfg.head_dim)
    if cfg.positional == "rope":
        # rotate q and k: x*cos + rotate_half(x)*sin = 3 FLOP per element
        b.elementwise("rope", tokens * (cfg.n_heads + cfg.n_kv_heads) * cfg.rope_dim, flop_per_element=3.0)
    _kv_write(b, tokens, ab, kb)
    rows = [("attention", cfg.n_full_layers, kv_len, False)]
    if local_kv_len is not None:
        rows.append(("attention_local", cfg.n_sliding_layers, local_kv_len, True))
    for name, layers, kv, windowed in rows:
        if layers == 0:
            continue
        op = attention_op(name, batch, cfg.n_heads, q_len, kv, cfg.head_dim, n_kv_heads=cfg.n_kv_heads,
                          causal=not decode and not windowed, dtype=b.ad, kv_dtype=b.kd, phase=b.phase,
                          kv_in_cache=decode)
        if windowed and not decode:
            # prefill of a windowed layer: the scores are those of the window (priced as a
            # non-causal attention over the mean attended length), the traffic that of the causal
            # layer (each K and V row is still read once)
            full = attention_op(name, batch, cfg.n_heads, q_len, kv_len, cfg.head_dim, n_kv_heads=cfg.n_kv_heads,
                                causal=True, dtype=b.ad, kv_dtype=b.kd, phase=b.phase)
            op = _with(full, flop=op.values["flop"], n=kv)
        b.add(op, per_layer=True, layers=layers)
    if cfg.n_sublayer_norms:
        b.norm_op("attn_sub_norm", tokens, cfg.q_dim)
    b.linear("o_proj", tokens, h, cfg.q_dim)


def _kv_write(b: _Builder, tokens: np.ndarray, ab: float, kb: float) -> None:
    kv_elems = tokens * float(b.cfg.kv_cache_elems)
    # one op per element (copy/convert into the cache layout); also keeps flop > 0, see _embed
    kvw = elementwise(
        "kv_write", kv_elems, dtype=b.ad, flop_per_element=1.0, n_outputs=0, phase=b.phase
    )
    b.add(_with(kvw, kv_write_B=kv_elems * kb, footprint_B=kv_elems * (ab + kb)), per_layer=True)


def _head_batched_gemm(b: _Builder, name: str, tokens: np.ndarray, heads: int, n: int, k: int) -> None:
    """``heads`` GEMMs ``[tokens, k] x [k, n]``, each head with its own weights, as one batched
    kernel per layer: the FLOPs and weights of ``gemm(tokens, heads x n, k)``, and every head
    reads its own ``k``-wide input."""
    op = gemm(name, tokens, heads * n, k, dtype=b.ad, weight_dtype=b.wd, phase=b.phase)
    v = op.values
    act_in = tokens * float(heads * k) * bytes_per_element(b.ad)
    b.add(_with(op, act_read_B=act_in, footprint_B=np.asarray(v["footprint_B"]) - np.asarray(v["act_read_B"])
                + act_in), per_layer=True)


def _mla_attention(
    b: _Builder,
    tokens: np.ndarray,
    batch: np.ndarray,
    q_len: np.ndarray,
    kv_len: np.ndarray,
    decode: bool,
) -> None:
    """Multi-head latent attention (DeepSeek-V2/V3).

    The cache holds, per token and layer, the latent ``c_KV`` (``kv_lora_rank``) and one RoPE key
    shared by all heads (``qk_rope_head_dim``). Prefill decompresses the latent of every prompt
    token (``kv_b_proj``) and runs multi-head attention with ``qk = nope + rope`` and ``v``
    head widths. Decode runs the absorbed form (DeepSeek-V2 paper, section 2.1.2): the key
    up-projection is folded into each query (``q_absorb``: per head ``nope -> kv_lora_rank``)
    and the value up-projection into the output (``v_absorb``: ``kv_lora_rank -> v``), so the
    attention is multi-query over the compressed cache itself, with score width ``kv_lora_rank
    + rope`` and value width ``kv_lora_rank``; ``q_absorb`` and ``v_absorb`` hold exactly the
    ``kv_b_proj`` weights.
    """
    cfg = b.cfg
    h, H, r, rope = cfg.hidden, cfg.n_heads, cfg.kv_lora_rank, cfg.qk_rope_head_dim
    nope, v = cfg.head_dim - rope, cfg.v_head_dim
    ab, kb = bytes_per_element(b.ad), bytes_per_element(b.kd)
    if cfg.q_lora_rank:
        b.linear("q_a_proj", tokens, cfg.q_lora_rank, h)
        b.norm_op("q_a_norm", tokens, cfg.q_lora_rank)
        b.linear("q_b_proj", tokens, cfg.q_dim, cfg.q_lora_rank)
    else:
        b.linear("q_proj", tokens, cfg.q_dim, h)
    b.linear("kv_a_proj", tokens, r + rope, h)  # the latent and the shared RoPE key
    b.norm_op("kv_a_norm", tokens, r)
    b.elementwise("rope", tokens * (H + 1) * rope, flop_per_element=3.0)
    _kv_write(b, tokens, ab, kb)
    if not decode:
        b.linear("kv_b_proj", tokens, H * (nope + v), r)
        # q/k heads of nope + rope and v heads of v: one attention of mean head width (its FLOPs
        # and bytes are linear in the q/k and v widths, so the mean makes both exact)
        b.add(attention_op("attention", batch, H, q_len, kv_len, (cfg.head_dim + v) / 2.0, n_kv_heads=H,
                           causal=True, dtype=b.ad, kv_dtype=b.kd, phase=b.phase), per_layer=True)
    else:
        _head_batched_gemm(b, "q_absorb", tokens, H, r, nope)
        op = attention_op("attention", batch, H, q_len, kv_len, (2.0 * r + rope) / 2.0, n_kv_heads=1,
                          dtype=b.ad, kv_dtype=b.kd, phase=b.phase, kv_in_cache=True)
        # K and V are one cached latent (V is its first kv_lora_rank elements): read once
        kv_read = batch * kv_len * float(cfg.kv_cache_elems) * kb
        old = np.asarray(op.values["kv_read_B"], dtype=np.float64)
        op = _with(op, kv_read_B=kv_read, footprint_B=np.asarray(op.values["footprint_B"]) - old + kv_read)
        b.add(op, per_layer=True)
        _head_batched_gemm(b, "v_absorb", tokens, H, v, r)
    b.linear("o_proj", tokens, h, cfg.v_dim)


def _dense_mlp(b: _Builder, tokens: np.ndarray, width: int, layers: int, prefix: str = "") -> None:
    """A dense MLP of hidden ``width`` in ``layers`` layers (``prefix`` names a shared expert)."""
    cfg = b.cfg
    h = cfg.hidden
    if cfg.gated_mlp:
        b.linear(prefix + "gate_proj", tokens, width, h, layers=layers)
        b.linear(prefix + "up_proj", tokens, width, h, layers=layers)
        # act(gate) * up: ~5 FLOP (SiLU/GELU ~4 + multiply)
        b.elementwise(prefix + "act", tokens * width, flop_per_element=5.0, n_inputs=2, layers=layers)
    else:
        b.linear(prefix + "fc1", tokens, width, h, layers=layers)
        b.elementwise(prefix + "act", tokens * width, flop_per_element=4.0, layers=layers)
    if cfg.n_sublayer_norms:
        b.norm_op("ffn_sub_norm", tokens, width, layers=layers)
    b.linear(prefix + ("down_proj" if cfg.gated_mlp else "fc2"), tokens, h, width, layers=layers)


def _layers(
    b: _Builder,
    tokens: np.ndarray,
    batch: np.ndarray,
    q_len: np.ndarray,
    kv_len: np.ndarray,
    local_kv_len: np.ndarray | None,
    decode: bool,
) -> None:
    """Per-layer operators for ``tokens = batch x q_len`` new tokens attending to ``kv_len``
    (``local_kv_len`` in the sliding-window layers)."""
    cfg = b.cfg
    h = cfg.hidden
    b.norm_op("attn_norm", tokens, h)
    if cfg.is_mla:
        _mla_attention(b, tokens, batch, q_len, kv_len, decode)
    else:
        _attention(b, tokens, batch, q_len, kv_len, local_kv_len, decode)
    if cfg.post_norms:
        b.norm_op("attn_post_norm", tokens, h)
    if not cfg.parallel_block:
        b.elementwise("residual_add", tokens * h, n_inputs=2)
    if cfg.n_pre_norms == 2:
        b.norm_op("mlp_norm", tokens, h)
    n_dense = cfg.n_layers - cfg.n_moe_layers
    if n_dense:
        _dense_mlp(b, tokens, cfg.intermediate, n_dense)
    if cfg.n_moe_layers:
        _moe(b, tokens)
    if cfg.post_norms:
        b.norm_op("mlp_post_norm", tokens, h)
    if cfg.parallel_block:
        # x + attention(x) + mlp(x): one add of three inputs, 2 FLOP per element
        b.elementwise("residual_add", tokens * h, n_inputs=3, flop_per_element=2.0)
    else:
        b.elementwise("residual_add_mlp", tokens * h, n_inputs=2)


def _moe(b: _Builder, tokens: np.ndarray) -> None:
    cfg = b.cfg
    h, i, E, k = cfg.hidden, cfg.expert_width, cfg.n_experts, cfg.top_k
    L = cfg.n_moe_layers
    wb = bytes_per_element(b.wd)
    b.linear("router", tokens, E, h, layers=L)
    kf = cfg.ffn_top_k  # FFN slots per token: the others go to zero-computation experts (MoE++)
    routed, distinct = routed_rows(cfg, tokens)  # token-FFN-expert pairs (padded buffers with a capacity)
    shapes = (
        [("expert_gate", i, h), ("expert_up", i, h)] if cfg.gated_mlp else [("expert_fc1", i, h)]
    )

    def expert_gemm(name: str, n: int, kk: int, extra_flop: ArrayLike = 0.0) -> None:
        # all E experts are stored, only the distinct routed ones are read
        op = gemm(name, routed, n, kk, dtype=b.ad, weight_dtype=b.wd, phase=b.phase)
        w_read = distinct * n * kk * wb
        b.add(
            _with(
                op,
                n_params=float(E * n * kk),
                weight_read_B=w_read,
                flop=np.asarray(op.values["flop"]) + extra_flop,
                footprint_B=w_read
                + np.asarray(op.values["act_read_B"])
                + np.asarray(op.values["act_write_B"]),
            ),
            per_layer=True,
            layers=L,
        )

    for name, n, kk in shapes:
        expert_gemm(name, n, kk)
    b.elementwise(
        "act",
        routed * i,
        flop_per_element=5.0 if cfg.gated_mlp else 4.0,
        n_inputs=2 if cfg.gated_mlp else 1,
        layers=L,
    )
    # the weighted sum of the k slot outputs per token (FFN and zero-computation): 2 FLOP per element
    expert_gemm("expert_down", h, i, extra_flop=2.0 * tokens * k * h)
    if cfg.zc_share > 0:
        # zero / copy / constant experts, priced as the constant one: its hidden -> 2 projection for the
        # two softmax weights (4 FLOP per element) and a x + b v (3)
        b.elementwise("zc_experts", tokens * (k - kf) * h, flop_per_element=7.0, n_inputs=1, layers=L)
    if cfg.shared_expert_intermediate:
        # the always-active shared expert(s): one dense MLP every token goes through
        _dense_mlp(b, tokens, cfg.shared_expert_intermediate, L, prefix="shared_")
        if cfg.shared_expert_gate:
            b.linear("shared_expert_gate", tokens, 1, h, layers=L)
        # added to the routed output (scaled by the sigmoid gate when there is one)
        b.elementwise("shared_expert_add", tokens * h, n_inputs=2, flop_per_element=3.0 if cfg.shared_expert_gate
                      else 1.0, layers=L)


def _embed(b: _Builder, tokens: np.ndarray) -> None:
    cfg = b.cfg
    h = cfg.hidden
    ab, wb = bytes_per_element(b.ad), bytes_per_element(b.wd)
    # A gather is counted as one op per element written (a copy; the position embedding's add
    # likewise). A zero would also turn into NaN in the roofline (0 FLOP x an infinite time per
    # FLOP on engines that cannot run the kind).
    for name, rows in (("embedding", cfg.vocab), ("pos_embedding", cfg.n_position_rows)):
        if rows == 0:
            continue
        vals: dict[str, ArrayLike] = {
            "count": 1.0,
            "m": tokens,
            "n": float(h),
            "k": 1.0,
            "flop": tokens * h,
            "n_params": float(rows * h),
            "weight_read_B": tokens * h * wb,
            "act_read_B": 0.0,
            "act_write_B": tokens * h * ab,
            "kv_read_B": 0.0,
            "kv_write_B": 0.0,
            "footprint_B": tokens * h * (wb + ab),
        }
        meta = {
            "name": name,
            "phase": b.phase,
            "kind": "embedding",
            "compute_dtype": b.ad,
            "weight_dtype": b.wd,
            "act_dtype": b.ad,
            "kv_dtype": "",
            "acc_dtype": "fp32",
        }
        b.add(Op(meta=meta, values=vals), per_layer=False)


def _head(b: _Builder, rows: np.ndarray) -> None:
    cfg = b.cfg
    if cfg.final_norm:
        b.norm_op("final_norm", rows, cfg.hidden, per_layer=False)
    op = gemm("lm_head", rows, cfg.vocab, cfg.hidden, dtype=b.ad, weight_dtype=b.wd, phase=b.phase)
    if cfg.tied_embeddings:
        op = _with(op, n_params=0.0)  # the embedding matrix is re-read but not stored twice
    b.add(op, per_layer=False)


def _finish(
    b: _Builder,
    *,
    workload: str,
    kv_cache_B: np.ndarray,
    n_items: np.ndarray,
    item_name: str,
    knobs: Mapping[str, np.ndarray],
) -> OperatorTable:
    live = broadcast_max(
        np.asarray(op.values.get("act_read_B", 0.0), dtype=np.float64) + op.values.get("act_write_B", 0.0)
        for op in b.ops
    )
    parts = {"weights": np.asarray(b.stored_B), "kv_cache": kv_cache_B, "activations": live}
    return table_from_ops(
        b.ops,
        workload=workload,
        n_items=n_items,
        item_name=item_name,
        peak_memory_B={b.phase: b.stored_B + kv_cache_B + live},
        knobs=knobs,
        stored_params=b.stored_params,
        memory_parts_B={b.phase: parts},
    )


def _dtypes(weight_dtype: str, act_dtype: str, kv_dtype: str | None) -> tuple[str, str, str]:
    for fld, d in (
        ("weight_dtype", weight_dtype),
        ("act_dtype", act_dtype),
        ("kv_dtype", kv_dtype or act_dtype),
    ):
        check_dtype(d, where=f"LLM builder field {fld!r}")
    return weight_dtype, act_dtype, kv_dtype or act_dtype


def _kv_cache_B(cfg: LLMConfig, batch: np.ndarray, ctx: np.ndarray, kv_dtype: str) -> np.ndarray:
    """KV cache held for ``batch`` sequences of ``ctx`` tokens: ``kv_cache_elems`` per token and
    layer; a sliding-window layer keeps only the last ``sliding_window`` tokens."""
    held = cfg.n_full_layers * ctx + cfg.n_sliding_layers * np.minimum(ctx, float(cfg.sliding_window))
    return float(cfg.kv_cache_elems) * bytes_per_element(kv_dtype) * batch * held


def llm_prefill(
    cfg: LLMConfig,
    batch: ArrayLike,
    prompt_len: ArrayLike,
    *,
    weight_dtype: str = "bf16",
    act_dtype: str = "bf16",
    kv_dtype: str | None = None,
) -> OperatorTable:
    """Operator table of the prefill (prompt processing) phase.

    Parameters
    ----------
    cfg
        The model.
    batch, prompt_len
        Sequences per batch and prompt tokens per sequence; scalars or 1-D arrays of shape
        ``(n_points,)`` that broadcast together.
    weight_dtype, act_dtype, kv_dtype
        Storage datatypes of weights, activations (also the compute datatype) and the KV cache
        (default: ``act_dtype``).

    Returns
    -------
    OperatorTable
        Phase ``"prefill"``; ``n_items = batch x prompt_len`` tokens; attention is causal
        (FLOP ``2 B N^2 H d``); logits only for the last token of each sequence; peak memory =
        weights + KV cache of the prompt + the largest operator's activations.
    """
    wd, ad, kd = _dtypes(weight_dtype, act_dtype, kv_dtype)
    B = _arr(batch, "batch", 1)
    N = _arr(prompt_len, "prompt_len", 1)
    tokens = B * N
    b = _Builder(cfg, "prefill", wd, ad, kd, 1.0)
    _embed(b, tokens)
    local = _window_mean_kv(cfg.sliding_window, N, N, None) if cfg.n_sliding_layers else None
    _layers(b, tokens, B, N, N, local, decode=False)
    _head(b, B)
    return _finish(
        b,
        workload=cfg.name,
        kv_cache_B=_kv_cache_B(cfg, B, N, kd),
        n_items=tokens,
        item_name="token",
        knobs={"batch": B, "prompt_len": N},
    )


def llm_decode(
    cfg: LLMConfig,
    batch: ArrayLike,
    context_len: ArrayLike,
    n_generated: ArrayLike,
    *,
    weight_dtype: str = "bf16",
    act_dtype: str = "bf16",
    kv_dtype: str | None = None,
) -> OperatorTable:
    """Operator table of the decode (token generation) phase.

    Models the generation of ``n_generated`` tokens per sequence, the first one attending to
    ``context_len`` cached tokens. Every operator is one row with ``count = n_generated`` (x
    ``n_layers`` for per-layer operators); the attention operator and its KV-cache read use the
    **mean context** ``context_len + (n_generated - 1) / 2``, which gives exact totals because
    attention FLOPs and KV bytes are linear in the context length.

    Parameters
    ----------
    cfg
        The model.
    batch, context_len, n_generated
        Sequences decoded together, tokens already in the KV cache, tokens generated; scalars or
        1-D arrays of shape ``(n_points,)`` that broadcast together.
    weight_dtype, act_dtype, kv_dtype
        As in :func:`llm_prefill`.

    Returns
    -------
    OperatorTable
        Phase ``"decode"``; ``n_items = batch x n_generated`` tokens; projections are ``gemm``
        with ``m = batch``; peak memory = weights + KV cache at the final context
        (``context_len + n_generated``) + the largest operator's activations.
    """
    wd, ad, kd = _dtypes(weight_dtype, act_dtype, kv_dtype)
    B = _arr(batch, "batch", 1)
    C = _arr(context_len, "context_len", 0)
    G = _arr(n_generated, "n_generated", 1)
    mean_ctx = C + (G - 1.0) / 2.0
    b = _Builder(cfg, "decode", wd, ad, kd, G)
    _embed(b, B)
    local = _window_mean_kv(cfg.sliding_window, np.ones(1), C, G) if cfg.n_sliding_layers else None
    _layers(b, B, B, np.ones(1), mean_ctx, local, decode=True)
    _head(b, B)
    shape = np.broadcast(B, C, G).shape
    return _finish(
        b,
        workload=cfg.name,
        kv_cache_B=_kv_cache_B(cfg, B, C + G, kd),
        n_items=np.broadcast_to(B * G, shape),
        item_name="token",
        knobs={"batch": B, "context_len": C, "n_generated": G},
    )


def llm_inference(
    cfg: LLMConfig,
    batch: ArrayLike,
    prompt_len: ArrayLike,
    n_generated: ArrayLike,
    *,
    weight_dtype: str = "bf16",
    act_dtype: str = "bf16",
    kv_dtype: str | None = None,
) -> OperatorTable:
    """Prefill of ``prompt_len`` tokens followed by decode of ``n_generated`` tokens.

    The concatenation of :func:`llm_prefill` and :func:`llm_decode` with ``context_len =
    prompt_len``; ``n_items = batch x n_generated`` tokens (item ``"token"``), so tokens/s and
    J/token are end-to-end generation figures. Knobs broadcast as in the two builders.
    """
    pre = llm_prefill(
        cfg, batch, prompt_len, weight_dtype=weight_dtype, act_dtype=act_dtype, kv_dtype=kv_dtype
    )
    dec = llm_decode(
        cfg,
        batch,
        prompt_len,
        n_generated,
        weight_dtype=weight_dtype,
        act_dtype=act_dtype,
        kv_dtype=kv_dtype,
    )
    t = concat_tables([pre, dec], workload=cfg.name)
    return replace(
        t,
        knobs={
            "batch": np.atleast_1d(np.asarray(batch)),
            "prompt_len": np.atleast_1d(np.asarray(prompt_len)),
            "n_generated": np.atleast_1d(np.asarray(n_generated)),
        },
    )


def llm_serving_step(
    cfg: LLMConfig,
    n_decode: ArrayLike,
    decode_context: ArrayLike,
    chunk_len: ArrayLike,
    chunk_past: ArrayLike,
    *,
    weight_dtype: str = "bf16",
    act_dtype: str = "bf16",
    kv_dtype: str | None = None,
) -> OperatorTable:
    """One step of a continuously batched server that carries a prefill chunk (chunked prefill).

    The step runs one forward pass over ``n_decode + chunk_len`` tokens: ``n_decode`` sequences
    each decode one token attending to ``decode_context`` cached tokens (their mean context), and
    one prompt contributes a chunk of ``chunk_len`` tokens whose ``chunk_past`` earlier tokens are
    already in the KV cache (Sarathi-Serve's piggybacking: the weights are read once for both).
    Every weight GEMM, norm, KV write and the LM head see the combined tokens (the LM head: one
    row per decoded sequence and one for the chunk); attention is three rows per layer:

    - ``attention`` (decode): ``n_decode`` queries over the cache, as in :func:`llm_decode`;
    - ``attention_chunk_past``: the chunk's queries over its ``chunk_past`` cached tokens
      (non-causal, read from the KV cache);
    - ``attention_chunk``: the chunk's causal self-attention (as in :func:`llm_prefill`).

    The two chunk rows together give the FLOPs ``4 c p H d + 2 c^2 H d`` of ``c`` queries over
    ``p + c`` keys with a causal mask on the last ``c``; each reads the chunk's queries and writes
    an output (the merge of the two partial outputs is not priced separately).

    Parameters
    ----------
    cfg
        The model (dense or MoE, full attention; latent attention and sliding windows are refused).
    n_decode, decode_context, chunk_len, chunk_past
        Decoded sequences (>= 0), their mean cached context (>= 0, any real: attention is linear
        in it), chunk tokens (>= 1) and the chunk's cached prefix (>= 0); scalars or arrays that
        broadcast.
    weight_dtype, act_dtype, kv_dtype
        As in :func:`llm_prefill`.

    Returns
    -------
    OperatorTable
        Phase ``"decode"``, ``count = n_layers`` per layer row (one step); ``n_items = n_decode``
        (tokens generated by the step; the chunk's last token may also yield one, not counted);
        peak memory = weights + the KV cache of the decoded sequences and the chunk + the largest
        operator's activations (a server passes its own resident state to the perf model).
    """
    if cfg.is_mla or cfg.n_sliding_layers:
        fld = "kv_lora_rank" if cfg.is_mla else "sliding_window"
        raise LLMConfigError(
            f"LLM config {cfg.name!r}: field {fld!r} = {getattr(cfg, fld)}: a chunked-prefill serving step is "
            "modelled for full-attention GQA/MHA models, not latent attention or sliding windows (leave "
            "chunk_tokens unset)", field=fld)
    wd, ad, kd = _dtypes(weight_dtype, act_dtype, kv_dtype)
    D = _arr(n_decode, "n_decode", 0)
    Cd = np.asarray(decode_context, dtype=np.float64)
    if Cd.size == 0 or np.any(~np.isfinite(Cd)) or np.any(Cd < 0):
        raise ValueError(f"knob 'decode_context' = {Cd.reshape(-1)[:3].tolist()}; allowed: finite numbers >= 0")
    c = _arr(chunk_len, "chunk_len", 1)
    p = np.asarray(chunk_past, dtype=np.float64)
    if p.size == 0 or np.any(~np.isfinite(p)) or np.any(p < 0):
        raise ValueError(f"knob 'chunk_past' = {p.reshape(-1)[:3].tolist()}; allowed: finite numbers >= 0")
    tokens = D + c
    b = _Builder(cfg, "decode", wd, ad, kd, 1.0)
    _embed(b, tokens)
    # per-layer rows of the combined tokens; the decode attention row is built here
    _layers(b, tokens, D, np.ones(1), Cd, None, decode=True)
    ops = b.ops
    # the chunk's own attention rows go right after the decode attention row of every layer
    at = next(i for i, op in enumerate(ops) if op.meta["name"] == "attention")
    past = attention_op("attention_chunk_past", 1.0, cfg.n_heads, c, p, cfg.head_dim, n_kv_heads=cfg.n_kv_heads,
                        dtype=ad, kv_dtype=kd, phase="decode", kv_in_cache=True)
    own = attention_op("attention_chunk", 1.0, cfg.n_heads, c, c, cfg.head_dim, n_kv_heads=cfg.n_kv_heads,
                       causal=True, dtype=ad, kv_dtype=kd, phase="decode")
    layers = float(cfg.n_full_layers)
    # an empty attention (no decodes, no cached prefix) is no kernel: count 0, no per-kernel overhead
    dec_att = _with(ops[at], count=np.asarray(ops[at].values["count"]) * (D > 0))
    b.ops = [*ops[:at], dec_att, _with(past, count=layers * (p > 0)), _with(own, count=layers), *ops[at + 1:]]
    _head(b, D + 1.0)
    shape = np.broadcast(D, Cd, c, p).shape
    return _finish(
        b,
        workload=cfg.name,
        kv_cache_B=_kv_cache_B(cfg, D, Cd + 1.0, kd) + _kv_cache_B(cfg, np.ones(()), p + c, kd),
        n_items=np.broadcast_to(D, shape),
        item_name="token",
        knobs={"n_decode": D, "decode_context": Cd, "chunk_len": c, "chunk_past": p},
    )
