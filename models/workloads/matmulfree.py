"""MatMul-free language model (Zhu et al., "Scalable MatMul-free Language Modeling", arXiv 2406.02528).

The HGRN-bit architecture of ``ridgerchu/matmulfreellm`` (``mmfreelm/models/hgrn_bit/
modeling_hgrn_bit.py``), one forward pass over ``seq_len`` tokens (the paper's inference
measurement: batch 1, sequence 2048). Per layer:

- **token mixer, MLGRU** (``HGRNBitAttention``): RMSNorm; ternary BitLinear projections
  ``i``, ``f``, ``g`` (``hidden -> hidden`` each, one ``ifg_proj`` row of ``n = 3 hidden``);
  the recurrence ``f_t = sigmoid(f)``, ``c_t = silu(i)``, ``h_t = f_t h_{t-1} + (1 - f_t) c_t``
  (element-wise only: no matrix product, about 13 operations per element); the output gate
  ``o = RMSNorm(h) silu(g)`` (about 10 per element); the ternary ``o_proj``; a residual add.
  The recurrent state is one ``hidden`` vector per layer and sequence (no KV cache).
- **channel mixer, GLU** (``HGRNBitMLP``): RMSNorm; ternary ``gate_proj`` ``hidden -> 2 I``;
  SwiGLU; ternary ``down_proj`` ``I -> hidden``; a residual add. ``I`` is the multiple of
  256 nearest above ``8/3 hidden`` (the module's own rule).
- the token embedding (full precision) and a ternary BitLinear LM head.

Every BitLinear quantizes its input to int8 (absmax) and multiplies by a ternary weight
matrix: with weights in ``{-1, 0, +1}`` the product is additions only. On a GPU the
optimized inference kernel (BitBLAS ``W_INT2 A_INT8``, ``mmfreelm.ops.bitnet``) packs the
weights in 2 bits and runs int8 MACs; ``weight_dtype = "int2"`` (default) prices that, a
wider ``weight_dtype`` the unoptimized model (ternary values held in bf16/fp32, a GEMM in that
datatype). The accumulate-only price of the same GEMMs (``m n k`` additions, no multiply) is
``gemm_strategy = "accumulate"`` with ``weight_format = "ternary"``
(:func:`models.algorithms.lowbit_gemm.accumulate_gemm`).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from models.hardware.dtypes import check_dtype
from models.workloads.cnn import NetBuilder, check_positive, patch
from models.workloads.ops import elementwise, gemm, norm
from models.workloads.table import OperatorTable

__all__ = ["MATMULFREE_CONFIGS", "MatMulFreeConfig", "glu_intermediate", "matmulfree_lm"]

ArrayLike = float | int | np.ndarray


class MatMulFreeConfig:
    """Layers, hidden size and vocabulary of one MatMul-free LM."""

    __slots__ = ("hidden", "n_layers", "source", "vocab")

    def __init__(self, *, n_layers: int, hidden: int, vocab: int = 32000, source: str) -> None:
        if n_layers < 1 or hidden < 1 or vocab < 1:
            raise ValueError(f"matmul-free config: n_layers={n_layers!r}, hidden={hidden!r}, vocab={vocab!r}; "
                             "each must be >= 1")
        self.n_layers, self.hidden, self.vocab, self.source = n_layers, hidden, vocab, source

    @property
    def intermediate(self) -> int:
        return glu_intermediate(self.hidden)


_ZOO = ("ridgerchu/matmulfreellm README.md, 'Pre-trained Model Zoo' table (Layer, Hidden dimension); vocab "
        "32000 from the README's HGRNBitConfig() printout (Embedding(32000, 2048))")
MATMULFREE_CONFIGS: dict[str, MatMulFreeConfig] = {
    "370m": MatMulFreeConfig(n_layers=24, hidden=1024, source=_ZOO),
    "1.3b": MatMulFreeConfig(n_layers=24, hidden=2048, source=_ZOO),
    "2.7b": MatMulFreeConfig(n_layers=32, hidden=2560, source=_ZOO),
    # The paper's inference comparison goes to 13B, whose layout we did not find published: the
    # LLaMA-13B layout (Touvron et al. 2023, Table 2: dimension 5120, 40 layers) is assumed; with
    # the GLU rule it gives 13.0 B parameters, the size the paper names.
    "13b": MatMulFreeConfig(n_layers=40, hidden=5120, source="assumed: LLaMA-13B layout (5120 x 40 layers); "
                                                             "13.0 B parameters with this module's GLU rule"),
}


def glu_intermediate(hidden: int, hidden_ratio: int = 4) -> int:
    """``HGRNBitMLP``'s intermediate size: ``int(hidden x ratio x 2/3)`` rounded up to a multiple of 256."""
    i = int(hidden * hidden_ratio * 2 / 3)
    return 256 * ((i + 256 - 1) // 256)


def matmulfree_lm(
    config: str | MatMulFreeConfig,
    batch: ArrayLike = 1,
    seq_len: ArrayLike = 2048,
    *,
    weight_dtype: str = "int2",
    act_dtype: str = "bf16",
    workload: str | None = None,
) -> OperatorTable:
    """One forward pass of a MatMul-free LM over ``batch x seq_len`` tokens (see the module docstring).

    Parameters
    ----------
    config
        A key of :data:`MATMULFREE_CONFIGS` (``370m``, ``1.3b``, ``2.7b``, ``13b``) or a config.
    batch, seq_len
        Sequences and tokens per sequence; scalars or ``(P,)``.
    weight_dtype
        Storage of the ternary weights: ``int2`` (2-bit packed, int8 MACs), or a float/int8
        datatype holding the ternary values (the GEMM then runs in it; int8: int8 MACs).
    act_dtype
        Datatype of the activations between layers (bf16 in the paper).
    """
    cfg = MATMULFREE_CONFIGS.get(config) if isinstance(config, str) else config
    if cfg is None:
        raise KeyError(f"matmul-free config {config!r}; allowed: {', '.join(MATMULFREE_CONFIGS)}")
    check_dtype(weight_dtype, where="matmulfree weight_dtype")
    check_dtype(act_dtype, where="matmulfree act_dtype")
    batch = check_positive("batch", batch, integer=True)
    seq = check_positive("seq_len", seq_len, integer=True)
    d, L, V, inter = cfg.hidden, cfg.n_layers, cfg.vocab, cfg.intermediate
    # BitLinear: int8 activations; packed ternary (int2) or int8 weights run int8 MACs, wider
    # weights (the unoptimized model) a GEMM in their own datatype
    mac_dt = "int8" if weight_dtype.startswith("int") else weight_dtype
    nb = NetBuilder(batch, act_dtype)
    b = nb.b
    tokens = batch * seq
    held = tokens * d * b  # the residual stream kept across each sub-block
    state_B = batch * d * 4.0  # the MLGRU hidden state of one layer (fp32), kept across tokens

    def bitlinear(name: str, k: int, n: int, count: int = L) -> None:
        # the fused RMSNorm + absmax int8 quantization of the BitLinear input, then the ternary GEMM
        q = elementwise(f"{name}.act_quant", tokens * k, dtype=act_dtype, flop_per_element=3.0, count=count)
        nb.add(patch(q, act_write_B=tokens * k * 1.0, footprint_B=tokens * k * (b + 1.0)), held)
        g = gemm(name, tokens, n, k, dtype=mac_dt, weight_dtype=weight_dtype, count=count, phase="forward")
        # the output is written in the activation datatype (rescaled by the two absmax scales)
        a_in = tokens * k * (1.0 if mac_dt == "int8" else b)
        a_out = tokens * n * b
        g = patch(g, act_read_B=a_in, act_write_B=a_out,
                  footprint_B=a_in + a_out + np.asarray(g.values["weight_read_B"]))
        nb.add(g, held)

    # token gather: reads tokens x hidden rows of the (full-precision) embedding matrix
    emb = elementwise("embedding", tokens * d, dtype=act_dtype, flop_per_element=0.0, n_inputs=1)
    nb.add(patch(emb, n_params=V * d, weight_read_B=tokens * d * b, act_read_B=0.0))
    nb.add(norm("attn_norm", tokens, d, dtype=act_dtype, count=L, n_params=d), held)
    bitlinear("ifg_proj", d, 3 * d)
    nb.add(elementwise("mlgru_recurrence", tokens * d, dtype=act_dtype, flop_per_element=13.0, n_inputs=2,
                       count=L), held + state_B)
    nb.add(elementwise("mlgru_out_gate", tokens * d, dtype=act_dtype, flop_per_element=10.0, n_inputs=2,
                       count=L), held)
    bitlinear("o_proj", d, d)
    nb.add(elementwise("residual_add1", tokens * d, dtype=act_dtype, n_inputs=2, count=L))
    nb.add(norm("mlp_norm", tokens, d, dtype=act_dtype, count=L, n_params=d), held)
    bitlinear("gate_proj", d, 2 * inter)
    nb.add(elementwise("swiglu", tokens * inter, dtype=act_dtype, flop_per_element=5.0, n_inputs=2, count=L),
           held)
    bitlinear("down_proj", inter, d)
    nb.add(elementwise("residual_add2", tokens * d, dtype=act_dtype, n_inputs=2, count=L))
    nb.add(norm("final_norm", tokens, d, dtype=act_dtype, n_params=d))
    bitlinear("lm_head", d, V, count=1)
    name = workload or (f"matmulfree-{config}" if isinstance(config, str) else "matmulfree")
    table = nb.table(name, item_name="token", n_items=tokens, knobs={"batch": batch, "seq_len": seq})
    # the embedding matrix is resident (full precision) though a forward reads only its rows
    emb_B = V * d * b - tokens * d * b
    peak = {ph: v + emb_B for ph, v in table.peak_memory_B.items()}
    parts = {ph: {**p, "weights": p.get("weights", 0.0) + emb_B} for ph, p in table.memory_parts_B.items()}
    return replace(table, peak_memory_B=peak, memory_parts_B=parts)
