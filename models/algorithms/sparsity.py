"""Activation sparsity (spatial zeros, temporal deltas) on zero-skipping engines.

A MAC of an activation by a weight can be skipped when the activation is zero. Yousefzadeh &
Sifalakis ("Training for temporal sparsity in deep neural networks, application in video
processing", arXiv 2107.07305) add a *Delta Activation Layer*: a layer sends the change of its
activations since the previous frame, ``x_t - x_{t-1}``, so an unchanged activation becomes a
zero the next layer skips (temporal sparsity cast into spatial sparsity); they report about 3x
more activation sparsity on UCF101.

Knobs (:data:`models.point.ALGORITHM_KNOBS`): ``act_sparsity = s`` in ``[0, 1)``, the fraction of
input activations of each weight-bearing MAC row (GEMM, GEMV, conv, depthwise conv) that are
zero (``spatial``) or unchanged since the previous frame (``delta``); ``sparsity_mode``.

Only an engine that declares zero-skipping (``zero_skip_efficiency`` ``eta`` and
``zero_skip_index_bits`` ``beta`` in its target file, :class:`models.hardware.Engine`) skips
anything; on a dense engine the row is unchanged. On a zero-skipping engine, with ``b`` bytes
per activation element and ``A`` input elements:

- MACs kept: ``flop' = flop (1 - eta s)`` (``eta``: the fraction of zero operands the engine
  really skips, load balance and pipeline bubbles lose the rest);
- input bytes: the nonzeros only, plus ``beta`` bits of index per nonzero:
  ``act_read' = A b (1 - eta s) + A (1 - s) beta / 8``;
- ``delta`` mode also keeps the state of delta inference (Neil et al., "Delta Networks for
  Optimized Recurrent Network Computation", ICML 2017; the Delta Activation Layer): the
  previous input ``x_{t-1}`` (to form the delta) and the previous output ``y_{t-1}`` (``y_t =
  y_{t-1} + W (x_t - x_{t-1})``). Per row instance that is ``A b + O b`` bytes of resident
  state (``O`` output elements) for the whole stream, and per frame both are read and the
  changed ``(1 - s)`` share of the input reference is written back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["SPARSITY_MODES", "SparsityCost", "sparsity_cost"]

SPARSITY_MODES = ("spatial", "delta")


def _f(x: Any) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


@dataclass(frozen=True)
class SparsityCost:
    """A MAC row under activation sparsity (arrays broadcast over design points).

    Attributes
    ----------
    flop
        Operations kept (2 per MAC).
    act_read_B, act_write_B
        Activation bytes read and written per instance (state traffic included in delta mode).
    state_B
        Resident bytes of delta-inference state per instance (0 in spatial mode, and on a
        dense engine).
    skipped_flop
        Operations skipped.
    """

    flop: np.ndarray
    act_read_B: np.ndarray
    act_write_B: np.ndarray
    state_B: np.ndarray
    skipped_flop: np.ndarray


def sparsity_cost(*, flop: Any, act_read_B: Any, act_write_B: Any, bytes_per_element: Any, sparsity: Any,
                  mode: str = "spatial", skip_efficiency: float | None = None,
                  index_bits: float = 0.0) -> SparsityCost:
    """Price one MAC row under activation sparsity ``sparsity`` (module docstring).

    ``skip_efficiency`` None is a dense engine: every value is returned unchanged, whatever the
    sparsity (no skipped MAC, no state: a dense engine runs delta inference no faster than the
    frame itself, so nothing runs it).

    Raises
    ------
    ValueError
        ``sparsity`` outside ``[0, 1)``, an unknown mode, ``skip_efficiency`` outside ``(0, 1]``
        or negative ``index_bits``; the message names the value and what is allowed.
    """
    s = _f(sparsity)
    if np.any(~np.isfinite(s)) or np.any(s < 0) or np.any(s >= 1):
        raise ValueError(f"act_sparsity: got {sparsity!r}; allowed: a fraction in [0, 1)")
    if mode not in SPARSITY_MODES:
        raise ValueError(f"sparsity_mode: got {mode!r}; allowed: {', '.join(SPARSITY_MODES)}")
    fl, ar, aw, b = _f(flop), _f(act_read_B), _f(act_write_B), _f(bytes_per_element)
    if skip_efficiency is None:
        z = np.zeros(())
        return SparsityCost(flop=fl, act_read_B=ar, act_write_B=aw, state_B=z, skipped_flop=z)
    if not 0.0 < skip_efficiency <= 1.0:
        raise ValueError(f"zero_skip_efficiency: got {skip_efficiency!r}; allowed: a fraction in (0, 1]")
    if not index_bits >= 0.0:
        raise ValueError(f"zero_skip_index_bits: got {index_bits!r}; allowed: >= 0 bits per nonzero")
    kept = 1.0 - skip_efficiency * s
    elems = ar / b
    read = ar * kept + elems * (1.0 - s) * index_bits / 8.0
    write = aw
    state = np.zeros(())
    if mode == "delta":
        read = read + ar + aw  # previous input reference and previous output accumulator
        write = aw + (1.0 - s) * ar  # the changed share of the input reference
        state = ar + aw
    return SparsityCost(flop=fl * kept, act_read_B=read, act_write_B=write, state_B=state,
                        skipped_flop=fl * (1.0 - kept))
