"""Cost models of algorithmic techniques: each a pure function of array-valued knobs.

- :mod:`models.algorithms.scaling`: model scaling strategies (Dollar et al. 2021).
- :mod:`models.algorithms.groupsize`: group-convolution group size (E2GC).
- :mod:`models.algorithms.softmax`: softmax pass counts (two-pass vs three-pass, online, fused).
- :mod:`models.algorithms.quant`: quantization formats and their effective bits.
- :mod:`models.algorithms.lowbit_gemm`: mixed-precision GEMM strategies (dequantize, native,
  table lookup, bit-serial, per-group integer, L-Mul).
- :mod:`models.algorithms.error_proxy`: SQNR of formats on seeded synthetic tensors.
- :mod:`models.algorithms.attention`: standard, FlashAttention-1/2, cascaded and decode attention.
"""

from models.algorithms.attention import (
    AttentionCost,
    attention_flop,
    cascade_attention,
    decode_attention,
    flash_attention,
    flash_block_sizes,
    standard_attention,
)
from models.algorithms.error_proxy import QuantError, quant_error, quant_error_table, quantize, synthetic_tensor
from models.algorithms.groupsize import GroupConvCost, group_conv_counts, group_conv_table, groups_of
from models.algorithms.launch import LAUNCH_MODES, LaunchMode, launch_mode
from models.algorithms.lowbit_gemm import (
    STRATEGIES,
    GemmCost,
    bitserial_gemm,
    dequant_gemm,
    lmul_energy,
    lut_gemm,
    mixpe_gemm,
    native_gemm,
    price_gemm,
)
from models.algorithms.quant import (
    FORMATS,
    Format,
    QuantConfig,
    apply_quant,
    available_formats,
    bfp_format,
    effective_bits,
    get_format,
    grouped,
    parse_quant_config,
)
from models.algorithms.scaling import (
    SCALING_STRATEGIES,
    regnetx_base,
    scale_anynet,
    scale_factors,
    scaling_cost,
    scaling_exponents,
)
from models.algorithms.softmax import (
    SOFTMAX_VARIANTS,
    softmax_counts,
    softmax_passes,
    softmax_table,
)

__all__ = [
    "FORMATS",
    "LAUNCH_MODES",
    "LaunchMode",
    "launch_mode",
    "SCALING_STRATEGIES",
    "SOFTMAX_VARIANTS",
    "STRATEGIES",
    "AttentionCost",
    "Format",
    "GemmCost",
    "QuantConfig",
    "QuantError",
    "apply_quant",
    "attention_flop",
    "available_formats",
    "bfp_format",
    "bitserial_gemm",
    "cascade_attention",
    "decode_attention",
    "dequant_gemm",
    "effective_bits",
    "flash_attention",
    "flash_block_sizes",
    "get_format",
    "GroupConvCost",
    "group_conv_counts",
    "groups_of",
    "group_conv_table",
    "grouped",
    "lmul_energy",
    "lut_gemm",
    "mixpe_gemm",
    "native_gemm",
    "parse_quant_config",
    "price_gemm",
    "quant_error",
    "quant_error_table",
    "quantize",
    "regnetx_base",
    "scale_anynet",
    "scale_factors",
    "scaling_cost",
    "scaling_exponents",
    "softmax_counts",
    "softmax_passes",
    "softmax_table",
    "standard_attention",
    "synthetic_tensor",
]
