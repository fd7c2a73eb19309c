"""Vision Transformer ViT-B/16 (Dosovitskiy et al., ICLR 2021) as an operator table.

ViT-B: 12 layers, hidden 768, 12 heads, MLP 3072, patch 16, a class token and learned
position embeddings; pre-norm LayerNorm; the classifier reads the class token.

Conventions: all linear layers have biases (counted); attention is one ``attention`` row
(``attention_op``: 4 B N^2 H d FLOP, Q K^T and P V, fused traffic) so tiling models can price
it; MAC totals include the patch embedding, the four linear layers per block, attention's
two matmuls and the classifier head; LayerNorm, GELU, softmax (inside the attention row)
and residual adds are not MACs.
"""

from __future__ import annotations

import numpy as np

from models.workloads.cnn import NetBuilder, check_positive, patch
from models.workloads.ops import attention_op, elementwise, norm
from models.workloads.table import OperatorTable

__all__ = ["vit", "vit_b16"]

ArrayLike = float | int | np.ndarray


def vit(
    batch: ArrayLike = 1,
    resolution: ArrayLike = 224,
    *,
    patch_size: int = 16,
    hidden: int = 768,
    n_layers: int = 12,
    n_heads: int = 12,
    mlp_dim: int = 3072,
    n_classes: int = 1000,
    dtype: str = "fp16",
    workload: str = "vit",
) -> OperatorTable:
    """A ViT encoder classifier.

    Parameters
    ----------
    batch, resolution
        Images per run and input height = width (pixels, a multiple of ``patch_size``);
        scalars or ``(P,)``. Tokens = ``(resolution / patch_size)^2 + 1``.
    patch_size, hidden, n_layers, n_heads, mlp_dim, n_classes
        Architecture; ``n_heads`` must divide ``hidden``.
    dtype
        Weight and activation datatype.
    """
    batch = check_positive("batch", batch, integer=True)
    res = check_positive("resolution", resolution, integer=True)
    if np.any(np.mod(res, patch_size) != 0):
        raise ValueError(
            f"resolution must be a multiple of patch_size={patch_size}, got {resolution!r}"
        )
    if n_heads < 1 or hidden % n_heads != 0:
        raise ValueError(f"n_heads must divide hidden={hidden}, got n_heads={n_heads!r}")
    nb = NetBuilder(batch, dtype)
    b = nb.b
    grid = res / patch_size
    n_tok = grid * grid + 1
    rows = batch * n_tok
    nb.conv(
        "patch_embed",
        res,
        res,
        3,
        hidden,
        patch_size,
        stride=patch_size,
        bias=True,
        bn=False,
        act=None,
    )
    # Class token and position embeddings (parameters; the add reads and writes the tokens).
    pos = patch(
        elementwise("pos_embed_add", rows * hidden, dtype=dtype, n_inputs=2),
        n_params=hidden + n_tok * hidden,
        weight_read_B=(hidden + n_tok * hidden) * b,
    )
    nb.add(pos)
    held = rows * hidden * b  # residual stream kept across each sub-block
    L = n_layers
    nb.add(norm("ln1", rows, hidden, dtype=dtype, count=L, n_params=2 * hidden), held)
    nb.linear("qkv", rows, hidden, 3 * hidden, count=L, held_B=held)
    nb.add(
        attention_op(
            "attention",
            batch,
            n_heads,
            n_tok,
            n_tok,
            hidden // n_heads,
            dtype=dtype,
            count=L,
            phase="forward",
        ),
        held,
    )
    nb.linear("proj", rows, hidden, hidden, count=L, held_B=held)
    nb.add(elementwise("residual_add1", rows * hidden, dtype=dtype, n_inputs=2, count=L))
    nb.add(norm("ln2", rows, hidden, dtype=dtype, count=L, n_params=2 * hidden), held)
    nb.linear("fc1", rows, hidden, mlp_dim, count=L, held_B=held)
    # GELU (tanh form): about 8 FLOP per element.
    nb.act("gelu", rows * mlp_dim, count=L, flop_per_element=8.0, held_B=held)
    nb.linear("fc2", rows, mlp_dim, hidden, count=L, held_B=held)
    nb.add(elementwise("residual_add2", rows * hidden, dtype=dtype, n_inputs=2, count=L))
    nb.add(norm("ln_final", batch, hidden, dtype=dtype, n_params=2 * hidden))
    nb.linear("head", batch, hidden, n_classes)
    return nb.table(workload, knobs={"batch": batch, "resolution": res})


def vit_b16(
    batch: ArrayLike = 1, resolution: ArrayLike = 224, *, n_classes: int = 1000, dtype: str = "fp16"
) -> OperatorTable:
    """ViT-B/16: 12 layers, hidden 768, 12 heads, MLP 3072 (see :func:`vit`)."""
    return vit(batch, resolution, n_classes=n_classes, dtype=dtype, workload="vit_b16")
