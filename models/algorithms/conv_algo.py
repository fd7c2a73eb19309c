"""Convolution algorithms: direct, im2col + GEMM, im2win + GEMM-like kernel; memory and traffic.

A convolution of a batch of ``N`` images, ``C_in`` input channels, a ``K_h x K_w`` kernel at
stride ``s`` and an ``H_out x W_out`` output, in GEMM view ``m = N H_out W_out`` output rows and
``k = C_in / g K_h K_w`` reduction (``g`` groups), is computed in one of three ways:

``direct``
    loops over the input in place: no transformed tensor, the input read once (compulsory
    traffic at main memory, reuse served on chip). This is what every conv row of
    :func:`models.workloads.conv` already prices ("im2col reuse is the engine's job"), so it
    is the default and changes nothing.
``im2col``
    lowers the input into the GEMM's ``A`` operand: every output pixel gets a row of its
    ``C_in K_h K_w`` window elements, ``K_h K_w C_in H_out W_out`` elements per image (each
    input element copied ``K_h K_w / s^2`` times). The lowering kernel reads the input and
    writes the buffer; the GEMM reads the buffer back: ``+E`` written and ``+E`` read, ``E`` the
    lowered elements of the whole batch. PyTorch's GEMM convolution (``slow_conv2d``, the
    "cuBLAS" baseline of Im2win) lowers one image at a time into one reused buffer, so the
    resident memory grows by one image's lowered matrix.
``im2win``
    (Lu, Chu, Guo, Liu, "Im2win: An Efficient Convolution Paradigm on GPU", arXiv 2306.14316;
    "Im2win: Memory Efficient Convolution On SIMD Architectures", arXiv 2306.14320) flattens the
    *unique* elements of one output row's windows into a row: per channel and output row, the
    ``K_h`` input rows the windows span, ``K_h x W_in`` elements instead of ``K_h K_w W_out``.
    Derived from that description: ``W = C_in H_out K_h W_in`` elements per image, i.e. the
    im2col count times ``W_in / (K_w W_out) = s / K_w``. The authors' code
    (github.com/seth-lu/Im2win, ``src/cpp/Convolution.hpp``, ``Im2winConvBase::image2window``)
    allocates exactly that, ``{N, C_in, H_out, W_in K_h}``, for the whole batch when the kernel
    is larger than the stride, else a copy of the input. Traffic as im2col with ``W`` in place
    of ``E``; the whole window tensor is resident while the row runs.

The operator table keeps the GEMM view of a conv row (``m``, ``n``, ``k``) and its input bytes,
not the kernel or the stride, so :func:`conv_algorithm_cost` takes the row's *lowering factor*
``L = K_h K_w / s^2`` (lowered elements per input element): ``E = L x input elements`` and, for a
square kernel and stride, ``W = sqrt(L) x input elements`` (``s / K_w = 1 / sqrt(L)``).
:func:`lowering_factor` reads ``L`` off a row: ``k g / (C_in s^2)``, with ``g = 1`` for ``conv``
rows and ``g = c_out`` for depthwise rows (the table does not hold the group count of a grouped,
non-depthwise conv: such a row is lowered as one group, a lower bound; docs/models.md).
Where ``L <= 1`` (a 1x1 stride-1 conv, a non-overlapping patch conv) the input already is the
GEMM operand: im2col builds no buffer, im2win copies the input (its code's other branch).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["CONV_ALGORITHMS", "ConvAlgoCost", "conv_algorithm_cost", "im2col_elements", "im2win_elements",
           "lowering_factor"]

CONV_ALGORITHMS = ("direct", "im2col", "im2win")


def _f(x: Any) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def im2col_elements(kernel_h: Any, kernel_w: Any, c_in: Any, h_out: Any, w_out: Any) -> np.ndarray:
    """Elements of one image's im2col matrix: ``K_h K_w C_in H_out W_out``."""
    return _f(kernel_h) * _f(kernel_w) * _f(c_in) * _f(h_out) * _f(w_out)


def im2win_elements(kernel_h: Any, c_in: Any, h_out: Any, w_in: Any) -> np.ndarray:
    """Elements of one image's im2win window tensor: ``C_in H_out K_h W_in`` (module docstring)."""
    return _f(c_in) * _f(h_out) * _f(kernel_h) * _f(w_in)


def lowering_factor(*, m: Any, k: Any, n: Any, input_elements: Any, depthwise: bool) -> np.ndarray:
    """``L = K_h K_w / s^2``: lowered elements per input element, from a conv row's GEMM view.

    ``input_elements`` is the row's input activation count (``act_read_B`` over the element
    size); ``k g`` is the window size ``C_in K_h K_w`` (``g`` = ``n`` for a depthwise row, 1
    otherwise), so ``L = m k g / input_elements``.
    """
    g = _f(n) if depthwise else 1.0
    inp = _f(input_elements)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(inp > 0, _f(m) * _f(k) * g / np.where(inp > 0, inp, 1.0), 0.0)
    return np.asarray(out)


@dataclass(frozen=True)
class ConvAlgoCost:
    """What a convolution algorithm adds to a conv row (bytes; arrays broadcast over points).

    Attributes
    ----------
    buffer_elements
        Elements of the transformed tensor for the whole batch (0 for direct).
    extra_read_B, extra_write_B
        Main-memory bytes the algorithm adds: the buffer written by the transform and read by
        the GEMM.
    resident_B
        Resident memory the algorithm adds while the row runs: im2col one image's buffer (reused
        image after image, as PyTorch's ``slow_conv2d``), im2win the whole batch's window tensor.
    """

    buffer_elements: np.ndarray
    extra_read_B: np.ndarray
    extra_write_B: np.ndarray
    resident_B: np.ndarray


def conv_algorithm_cost(algorithm: str, *, input_elements: Any, lowering: Any, bytes_per_element: Any,
                        batch: Any = 1.0) -> ConvAlgoCost:
    """The buffer, traffic and resident memory of ``algorithm`` for one conv instance.

    Parameters
    ----------
    algorithm
        One of :data:`CONV_ALGORITHMS`.
    input_elements
        Input activation elements of the whole batch.
    lowering
        ``L = K_h K_w / s^2`` (:func:`lowering_factor`); with ``L <= 1`` im2col builds no buffer
        and im2win copies the input.
    bytes_per_element
        Storage bytes of one activation element.
    batch
        Images in the batch (the buffer is one image's, reused).

    Raises
    ------
    ValueError
        An unknown algorithm, or a negative lowering factor or batch.
    """
    if algorithm not in CONV_ALGORITHMS:
        raise ValueError(f"conv_algorithm {algorithm!r}: unknown; allowed: {', '.join(CONV_ALGORITHMS)}")
    L, inp, b, nb = _f(lowering), _f(input_elements), _f(bytes_per_element), _f(batch)
    if np.any(L < 0) or np.any(~np.isfinite(L)):
        raise ValueError(f"conv_algorithm {algorithm!r}: lowering factor must be finite and >= 0, got {L}")
    if np.any(nb < 1):
        raise ValueError(f"conv_algorithm {algorithm!r}: batch must be >= 1, got {nb}")
    zero = np.zeros(np.broadcast_shapes(L.shape, inp.shape))
    if algorithm == "direct":
        return ConvAlgoCost(zero, zero, zero, zero)
    if algorithm == "im2col":
        elems = np.where(L > 1.0, L * inp, 0.0)
        by = elems * b
        return ConvAlgoCost(buffer_elements=elems, extra_read_B=by, extra_write_B=by, resident_B=by / nb)
    # im2win: the window tensor of the whole batch (Im2winConvBase::image2window); a window that
    # does not overlap the next (kernel <= stride) is the input copied as it is
    elems = np.where(L > 1.0, np.sqrt(L), 1.0) * inp
    by = elems * b
    return ConvAlgoCost(buffer_elements=elems, extra_read_B=by, extra_write_B=by, resident_B=by)
