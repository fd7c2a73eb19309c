"""Decoder-only LLMs as operator tables, built from Hugging Face ``config.json`` files.

A config is parsed into an :class:`LLMConfig` (one schema for the llama, mistral, mixtral, opt,
gpt2 and bitnet families); :func:`llm_prefill`, :func:`llm_decode` and :func:`llm_inference`
turn it into an :class:`~models.workloads.table.OperatorTable` for many (batch, length)
design points at once: every knob may be a 1-D array, all knobs broadcast together.

Operators (one row each; per-layer rows have ``count = n_layers`` in prefill and
``n_layers x n_generated`` in decode):

- ``embedding`` (token gather; ``pos_embedding`` for learned positions);
- ``attn_norm``, ``q_proj``, ``k_proj``, ``v_proj``, ``rope`` (rope families), ``kv_write``
  (K and V stored to the KV cache), ``attention`` (its own kind: QK^T, softmax, PV; the KV-cache
  read is accounted here in decode), ``o_proj``, ``mlp_norm``;
- dense MLP: ``gate_proj``/``up_proj``/``act``/``down_proj`` (gated SwiGLU, 3 matrices) or
  ``fc1``/``act``/``fc2`` (GELU/ReLU MLP, 2 matrices);
- MoE: ``router`` (gemm to n_experts) and ``expert_gate``/``expert_up``/``act``/``expert_down``;
- ``residual_add`` (two per layer), ``final_norm`` and ``lm_head``.

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
- Tied embeddings: the LM head re-reads the embedding matrix (weight bytes) but adds no
  parameters.
- ``footprint_B`` is each operator's own working set; the perf model serves operators that read
  weights or the KV cache from the level that holds the phase's peak memory (a layer's weights
  are re-read only after every other layer's went through), see ``models.perf.roofline``.
- Peak memory per phase = all weights + KV cache at the largest context + the largest single
  operator's activations (input + output).
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

__all__ = [
    "LLM_FAMILIES",
    "LLMConfig",
    "LLMConfigError",
    "LLMConfigMissingField",
    "available_llms",
    "expected_distinct_experts",
    "llm_active_params",
    "llm_decode",
    "llm_inference",
    "llm_prefill",
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
LLM_FAMILIES = ("llama", "mistral", "mixtral", "opt", "gpt2", "bitnet")
_ROPE_FAMILIES = ("llama", "mistral", "mixtral", "bitnet")
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
        Model width, decoder blocks, query heads, key/value heads (GQA when fewer), per-head
        width, MLP (per-expert) hidden width, vocabulary size.
    n_experts, top_k
        Experts per MoE layer and experts per token (1 and 1 for a dense model).
    tied_embeddings
        LM head shares the token-embedding matrix.
    norm
        ``"rmsnorm"`` (gain only) or ``"layernorm"`` (gain and bias).
    gated_mlp
        SwiGLU-style MLP with gate, up and down matrices (3) instead of up and down (2).
    activation
        Activation function name from the config.
    max_positions
        Maximum sequence length (position-embedding rows for learned positions).
    positional
        ``"rope"`` or ``"learned"``.
    bias
        Linear layers carry biases (gpt2, opt; for the llama family ``attention_bias``, applied
        to every dense projection, a simplification: expert matrices never carry biases).
    n_position_rows
        Rows of the learned position table (OPT stores two extra rows), 0 for RoPE.
    n_sublayer_norms
        Extra norms inside each block (BitNet's sub-LN: 2), besides the two pre-norms.
    final_norm
        A norm after the last block.
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
    tied_embeddings: bool = False
    norm: str = "rmsnorm"
    gated_mlp: bool = True
    activation: str = "silu"
    max_positions: int = 2048
    positional: str = "rope"
    bias: bool = False
    n_position_rows: int = 0
    n_sublayer_norms: int = 0
    final_norm: bool = True
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
        if self.norm not in ("rmsnorm", "layernorm"):
            raise LLMConfigError(f"{where}: field 'norm' = {self.norm!r}; allowed: rmsnorm, layernorm",
                                 field="norm")
        if self.positional not in ("rope", "learned"):
            raise LLMConfigError(
                f"{where}: field 'positional' = {self.positional!r}; allowed: rope, learned", field="positional"
            )

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
    if mt not in LLM_FAMILIES:
        raise LLMConfigError(
            f"LLM config {origin}: field 'model_type' = {_show(cfg['model_type'])} is not a supported "
            f"architecture; allowed: {', '.join(LLM_FAMILIES)}", field="model_type"
        )
    return mt


def parse_llm_config(
    cfg: Mapping[str, Any], *, name: str = "custom", source: str = ""
) -> LLMConfig:
    """Build an :class:`LLMConfig` from the dictionary of a Hugging Face ``config.json``.

    Keys starting with ``_`` (such as ``_source``) are ignored.

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
    cfg = {k: v for k, v in cfg.items() if not str(k).startswith("_")}
    origin = repr(name)
    fam = _family(cfg, origin)
    common: dict[str, Any] = {"name": name, "family": fam, "source": source}
    if fam in ("llama", "mistral", "mixtral", "bitnet"):
        # an explicit head_dim (Mistral, Gemma-style configs) must be a positive integer: 1.5 is
        # not truncated and 0 is not taken as "derive it"
        hd = _int(cfg, "head_dim", origin) if cfg.get("head_dim") is not None else None
        n_heads, head_dim = _heads(cfg, origin, "num_attention_heads", "hidden_size", hd)
        kv_default: Any = n_heads if fam in ("llama", "bitnet") else ...
        n_kv = _int(cfg, "num_key_value_heads", origin, kv_default)
        if n_heads % n_kv != 0:
            raise LLMConfigError(
                f"LLM config {origin}: field 'num_key_value_heads' = {n_kv} does not divide "
                f"num_attention_heads = {n_heads}; allowed: a divisor of num_attention_heads",
                field="num_key_value_heads",
            )
        act = _str(cfg, "hidden_act", origin, "silu")
        n_exp = _int(cfg, "num_local_experts", origin, ...) if fam == "mixtral" else 1
        top_k = _int(cfg, "num_experts_per_tok", origin, ...) if fam == "mixtral" else 1
        return LLMConfig(
            **common,
            hidden=_int(cfg, "hidden_size", origin),
            n_layers=_int(cfg, "num_hidden_layers", origin),
            n_heads=n_heads,
            n_kv_heads=n_kv,
            head_dim=head_dim,
            intermediate=_int(cfg, "intermediate_size", origin),
            vocab=_int(cfg, "vocab_size", origin),
            n_experts=n_exp,
            top_k=top_k,
            tied_embeddings=_bool(cfg, "tie_word_embeddings", origin, False),
            norm="rmsnorm",
            gated_mlp=True,
            activation=act,
            max_positions=_int(cfg, "max_position_embeddings", origin),
            positional="rope",
            bias=_bool(cfg, "attention_bias", origin, False),
            n_position_rows=0,
            n_sublayer_norms=2 if fam == "bitnet" else 0,
            final_norm=True,
        )
    if fam == "opt":
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
    # gpt2
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


def llm_active_params(cfg: LLMConfig) -> int:
    """Parameters used per token: all parameters less the ``n_experts - top_k`` idle experts."""
    total = _param_total(cfg)
    idle = (cfg.n_experts - cfg.top_k) * cfg.n_layers * _expert_params(cfg) if cfg.is_moe else 0
    return total - idle


def _expert_params(cfg: LLMConfig) -> int:
    # expert matrices carry no biases in this model (Mixtral has none)
    return cfg.n_mlp_matrices * cfg.hidden * cfg.intermediate


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
        self, op: Op, *, per_layer: bool, weight_b: float | None = None
    ) -> None:
        mult = self.cfg.n_layers if per_layer else 1
        p = np.asarray(op.values.get("n_params", 0.0), dtype=np.float64)
        self.stored_params += mult * float(np.max(p))
        self.stored_B += (
            mult
            * float(np.max(p))
            * (weight_b if weight_b is not None else bytes_per_element(self.wd))
        )
        self.ops.append(_with(op, count=np.asarray(self.repeat, dtype=np.float64) * mult))

    def linear(self, name: str, m: ArrayLike, n: int, k: int, *, per_layer: bool = True) -> None:
        op = gemm(name, m, n, k, dtype=self.ad, weight_dtype=self.wd, phase=self.phase)
        if self.cfg.bias:
            bw = bytes_per_element(self.wd)
            v = op.values
            op = _with(
                op,
                n_params=np.asarray(v["n_params"]) + n,
                weight_read_B=np.asarray(v["weight_read_B"]) + n * bw,
                flop=np.asarray(v["flop"]) + np.asarray(m, dtype=np.float64) * n,
                footprint_B=np.asarray(v["footprint_B"]) + n * bw,
            )
        self.add(op, per_layer=per_layer)

    def norm_op(self, name: str, rows: ArrayLike, width: int, *, per_layer: bool = True) -> None:
        n_p = width * (2 if self.cfg.norm == "layernorm" else 1)
        self.add(
            norm(name, rows, width, dtype=self.ad, phase=self.phase, n_params=n_p),
            per_layer=per_layer,
            weight_b=bytes_per_element(self.ad),
        )


def _layers(
    b: _Builder,
    tokens: np.ndarray,
    batch: np.ndarray,
    q_len: np.ndarray,
    kv_len: np.ndarray,
    decode: bool,
) -> None:
    """Per-layer operators for ``tokens = batch x q_len`` new tokens attending to ``kv_len``."""
    cfg = b.cfg
    h, i = cfg.hidden, cfg.intermediate
    ab, kb = bytes_per_element(b.ad), bytes_per_element(b.kd)
    b.norm_op("attn_norm", tokens, h)
    b.linear("q_proj", tokens, cfg.q_dim, h)
    b.linear("k_proj", tokens, cfg.kv_dim, h)
    b.linear("v_proj", tokens, cfg.kv_dim, h)
    if cfg.positional == "rope":
        # rotate q and k: x*cos + rotate_half(x)*sin = 3 FLOP per element
        b.add(
            elementwise(
                "rope",
                tokens * (cfg.q_dim + cfg.kv_dim),
                dtype=b.ad,
                flop_per_element=3.0,
                phase=b.phase,
            ),
            per_layer=True,
        )
    kv_elems = 2.0 * tokens * cfg.kv_dim
    # one op per element (copy/convert into the cache layout); also keeps flop > 0, see _embed
    kvw = elementwise(
        "kv_write", kv_elems, dtype=b.ad, flop_per_element=1.0, n_outputs=0, phase=b.phase
    )
    b.add(
        _with(kvw, kv_write_B=kv_elems * kb, footprint_B=kv_elems * (ab + kb)),
        per_layer=True
    )
    b.add(
        attention_op(
            "attention",
            batch,
            cfg.n_heads,
            q_len,
            kv_len,
            cfg.head_dim,
            n_kv_heads=cfg.n_kv_heads,
            causal=not decode,
            dtype=b.ad,
            kv_dtype=b.kd,
            phase=b.phase,
            kv_in_cache=decode,
        ),
        per_layer=True
    )
    if cfg.n_sublayer_norms:
        b.norm_op("attn_sub_norm", tokens, cfg.q_dim)
    b.linear("o_proj", tokens, h, cfg.q_dim)
    b.add(
        elementwise("residual_add", tokens * h, dtype=b.ad, n_inputs=2, phase=b.phase),
        per_layer=True,
    )
    b.norm_op("mlp_norm", tokens, h)
    if cfg.is_moe:
        _moe(b, tokens)
    else:
        if cfg.gated_mlp:
            b.linear("gate_proj", tokens, i, h)
            b.linear("up_proj", tokens, i, h)
            # act(gate) * up: ~5 FLOP (SiLU ~4 + multiply)
            b.add(
                elementwise(
                    "act", tokens * i, dtype=b.ad, flop_per_element=5.0, n_inputs=2, phase=b.phase
                ),
                per_layer=True,
            )
        else:
            b.linear("fc1", tokens, i, h)
            b.add(
                elementwise("act", tokens * i, dtype=b.ad, flop_per_element=4.0, phase=b.phase),
                per_layer=True,
            )
        if cfg.n_sublayer_norms:
            b.norm_op("ffn_sub_norm", tokens, i)
        b.linear("down_proj" if cfg.gated_mlp else "fc2", tokens, h, i)
    b.add(
        elementwise("residual_add_mlp", tokens * h, dtype=b.ad, n_inputs=2, phase=b.phase),
        per_layer=True,
    )


def _moe(b: _Builder, tokens: np.ndarray) -> None:
    cfg = b.cfg
    h, i, E, k = cfg.hidden, cfg.intermediate, cfg.n_experts, cfg.top_k
    wb = bytes_per_element(b.wd)
    b.linear("router", tokens, E, h)
    distinct = expected_distinct_experts(E, k, tokens)
    routed = tokens * k  # token-expert pairs
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
        )

    for name, n, kk in shapes:
        expert_gemm(name, n, kk)
    b.add(
        elementwise(
            "act",
            routed * i,
            dtype=b.ad,
            flop_per_element=5.0 if cfg.gated_mlp else 4.0,
            n_inputs=2 if cfg.gated_mlp else 1,
            phase=b.phase,
        ),
        per_layer=True,
    )
    # the weighted sum of the k expert outputs per token: 2 FLOP per element
    expert_gemm("expert_down", h, i, extra_flop=2.0 * routed * h)


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
    return 2.0 * cfg.n_layers * cfg.kv_dim * bytes_per_element(kv_dtype) * batch * ctx


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
    _layers(b, tokens, B, N, N, decode=False)
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
    _layers(b, B, B, np.ones(1), mean_ctx, decode=True)
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
