"""Prompt and output length distributions of a served request stream.

A distribution is given by its mean and its 99th percentile (the two figures serving papers and
trace summaries quote), per design point (arrays broadcast), and a shape:

- ``fixed``: every request has the mean length (the p99 must be absent or equal to it);
- ``uniform``: uniform on ``[lo, hi]`` with that mean and p99: ``hi - lo = (p99 - mean) / 0.49``;
- ``lognormal``: ``exp(N(mu, sigma^2))`` with that mean and p99: ``sigma = z - sqrt(z^2 - 2 ln(p99 /
  mean))`` (the smaller root of ``ln(p99 / mean) = z sigma - sigma^2 / 2``, ``z = Phi^-1(0.99)``),
  ``mu = ln(mean) - sigma^2 / 2``.

The serving model needs means of functions of the length (the prefill time of a prompt), which it
takes over :data:`N_NODES` equal-probability nodes (the quantiles ``(k + 1/2) / K``; each node
weighs ``1 / K``), percentiles of monotone functions (the TTFT of a prompt), which are the function
at the length's percentile, and the first two moments of the output length, which are closed form.
Lengths are in tokens; nodes are rounded to whole tokens (>= 1) because the operator tables count
whole tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from models.point.knobs import LENGTH_DISTRIBUTIONS

__all__ = ["LENGTH_DISTRIBUTIONS", "N_NODES", "LengthDistribution", "ServingError", "length_distribution"]

N_NODES = 8  # equal-probability nodes of a non-fixed distribution
_Z99 = NormalDist().inv_cdf(0.99)
_UNIFORM_P99 = 0.99 - 0.5  # p99 - mean of a uniform, in widths


class ServingError(ValueError):
    """A serving setting that is not allowed; the message names the knob, the value and what is allowed."""

    def __init__(self, message: str, *, knob: str | None = None) -> None:
        super().__init__(message)
        self.knob = knob


@dataclass(frozen=True, kw_only=True)
class LengthDistribution:
    """A length distribution over design points (every array broadcasts to the knobs' shape).

    Attributes
    ----------
    kind
        One of :data:`LENGTH_DISTRIBUTIONS`.
    mean, p50, p99, max
        Mean, median, 99th percentile and the largest length a request may have (the upper end of
        a uniform, the p99 of a lognormal: longer requests are taken as truncated there), tokens.
    second_moment
        ``E[x^2]`` in tokens^2.
    nodes
        Equal-probability nodes (whole tokens, >= 1), one array per node; one node for ``fixed``.
    """

    kind: str
    mean: np.ndarray
    p50: np.ndarray
    p99: np.ndarray
    max: np.ndarray
    second_moment: np.ndarray
    nodes: tuple[np.ndarray, ...]

    @property
    def weight(self) -> float:
        """Probability of each node."""
        return 1.0 / len(self.nodes)


def _whole(x: np.ndarray) -> np.ndarray:
    return np.maximum(np.round(x), 1.0)


def length_distribution(kind: str, mean: object, p99: object = None, *, what: str = "prompt") -> LengthDistribution:
    """The :class:`LengthDistribution` of ``kind`` with ``mean`` and ``p99`` (tokens; arrays broadcast).

    Raises
    ------
    ServingError
        Unknown kind; a mean below 1 token; a p99 below the mean; a p99 with ``fixed`` that differs
        from the mean; a missing p99 for a spread distribution; a uniform whose lower end would fall
        below 1 token; a lognormal whose p99 is more than ``exp(z^2 / 2) = 14.97`` times its mean.
    """
    knob = f"{'prompt' if what == 'prompt' else 'output'}_p99"
    if kind not in LENGTH_DISTRIBUTIONS:
        raise ServingError(f"algorithm knob 'length_dist': got {kind!r}; allowed: {', '.join(LENGTH_DISTRIBUTIONS)}",
                           knob="length_dist")
    m = np.asarray(mean, dtype=np.float64)
    if m.size == 0 or not np.all(np.isfinite(m)) or np.any(m < 1):
        raise ServingError(f"{what} length mean: got {m.reshape(-1)[:3].tolist()}; allowed: >= 1 token")
    if kind == "fixed":
        if p99 is not None and np.any(np.asarray(p99, dtype=np.float64) != m):
            raise ServingError(f"algorithm knob {knob!r}: got {np.asarray(p99).reshape(-1)[:3].tolist()} with "
                               f"length_dist = 'fixed' (mean {m.reshape(-1)[:3].tolist()}); allowed: the mean, or "
                               "a spread distribution (uniform, lognormal)", knob=knob)
        return LengthDistribution(kind=kind, mean=m, p50=m, p99=m, max=m, second_moment=m * m, nodes=(_whole(m),))
    if p99 is None:
        raise ServingError(f"algorithm knob {knob!r} is required with length_dist = {kind!r} (the spread of the "
                           f"{what} lengths); allowed: a length >= the mean", knob=knob)
    q = np.asarray(p99, dtype=np.float64)
    if np.any(q < m):
        bad = np.broadcast_to(q, np.broadcast_shapes(q.shape, m.shape))[np.broadcast_to(q < m, np.broadcast_shapes(
            q.shape, m.shape))]
        raise ServingError(f"algorithm knob {knob!r}: got {bad[:3].tolist()}, below the {what} length mean "
                           f"{m.reshape(-1)[:3].tolist()}; allowed: a p99 >= the mean", knob=knob)
    u = (np.arange(N_NODES) + 0.5) / N_NODES
    if kind == "uniform":
        w = (q - m) / _UNIFORM_P99
        lo, hi = m - w / 2.0, m + w / 2.0
        if np.any(lo < 1.0):
            raise ServingError(f"algorithm knob {knob!r}: a uniform {what} length with mean "
                               f"{m.reshape(-1)[:3].tolist()} and p99 {q.reshape(-1)[:3].tolist()} would start below "
                               "1 token; allowed: p99 <= mean + 0.49 x 2 (mean - 1), or length_dist = 'lognormal'",
                               knob=knob)
        nodes = tuple(_whole(lo + uk * w) for uk in u.tolist())
        return LengthDistribution(kind=kind, mean=m, p50=m, p99=q, max=hi, second_moment=m * m + w * w / 12.0,
                                  nodes=nodes)
    r = np.log(q / m)
    if np.any(r > _Z99**2 / 2.0):
        raise ServingError(f"algorithm knob {knob!r}: p99 {q.reshape(-1)[:3].tolist()} is more than "
                           f"{np.exp(_Z99**2 / 2.0):.2f} x the {what} length mean {m.reshape(-1)[:3].tolist()}, which "
                           "no lognormal has; allowed: p99 <= 14.97 x mean", knob=knob)
    sigma = _Z99 - np.sqrt(_Z99**2 - 2.0 * r)
    mu = np.log(m) - sigma**2 / 2.0
    nodes = tuple(_whole(np.exp(mu + sigma * NormalDist().inv_cdf(uk))) for uk in u.tolist())
    return LengthDistribution(kind=kind, mean=m, p50=np.exp(mu), p99=q, max=q, second_moment=m * m * np.exp(sigma**2),
                              nodes=nodes)
