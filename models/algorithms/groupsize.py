"""Group size of group convolutions (Jha, Saini, Nag & Mittal, "E2GC", VLSID 2020, arXiv
2006.15100).

A 3x3 group convolution over ``c`` channels with ``g`` groups has group size ``G = c / g``.
Per layer (batch ``n``, output ``h x w``, kernel ``k``, element size ``b``):

- MACs            ``n h w c G k^2``
- parameters      ``c G k^2``
- bytes moved     ``b (n h_in w_in c + n h w c + c G k^2)`` (input, output and weights once)
- data reuse      ``MACs / bytes`` (MAC per byte): grows with ``G`` until the weights dominate.

A fixed number of groups (FgGC: ResNeXt's 32 groups) makes ``G`` grow with the channel count,
so late layers do much more work per byte than early ones; a constant group size (E2GC) keeps
the reuse balanced. This module counts; the energy and time of a group size on a target, the
energy-optimal group size and the E2GC gain are in :mod:`models.studies` (they evaluate).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.workloads.cnn import check_divides
from models.workloads.micro import group_conv_workload
from models.workloads.table import OperatorTable

__all__ = ["GroupConvCost", "group_conv_counts", "group_conv_table", "groups_of"]

ArrayLike = float | int | np.ndarray


@dataclass(frozen=True, kw_only=True)
class GroupConvCost:
    """Per-layer counts (arrays broadcast over design points) and, with a target, energy."""

    group_size: np.ndarray
    n_groups: np.ndarray
    n_mac: np.ndarray
    n_params: np.ndarray
    bytes_B: np.ndarray
    reuse_MAC_per_B: np.ndarray
    energy_J: np.ndarray | None = None
    latency_s: np.ndarray | None = None

    @property
    def energy_J_per_MAC(self) -> np.ndarray | None:
        return None if self.energy_J is None else self.energy_J / self.n_mac


def groups_of(channels: ArrayLike, group_size: ArrayLike | None, n_groups: ArrayLike | None) -> np.ndarray:
    """The group size of a layer from exactly one of ``group_size`` and ``n_groups``."""
    c = np.asarray(channels, dtype=np.float64)
    if group_size is not None and n_groups is None:
        check_divides("group_size", group_size, c, "the layer")
        return np.broadcast_to(np.asarray(group_size, dtype=np.float64),
                               np.broadcast_shapes(np.shape(group_size), c.shape))
    if n_groups is not None and group_size is None:
        check_divides("n_groups", n_groups, c, "the layer")
        return c / np.asarray(n_groups, dtype=np.float64)
    raise ValueError("give exactly one of group_size and n_groups")


def group_conv_table(channels: ArrayLike, h_out: ArrayLike, w_out: ArrayLike, *,
                     group_size: ArrayLike | None = None, n_groups: ArrayLike | None = None, kernel: int = 3,
                     stride: int = 1, batch: ArrayLike = 1, dtype: str = "fp16") -> OperatorTable:
    """One group conv ``channels -> channels`` as an operator table (the ``group-conv`` workload)."""
    g = groups_of(channels, group_size, n_groups)
    return group_conv_workload(batch=batch, channels=channels, h_out=h_out, w_out=w_out, group_size=g,
                               kernel=kernel, stride=stride, dtype=dtype)


def group_conv_counts(channels: ArrayLike, h_out: ArrayLike, w_out: ArrayLike, *,
                      group_size: ArrayLike | None = None, n_groups: ArrayLike | None = None, kernel: int = 3,
                      stride: int = 1, batch: ArrayLike = 1, dtype: str = "fp16") -> GroupConvCost:
    """MACs, parameters, bytes moved and data reuse of one group conv (no target: no energy).

    Raises
    ------
    ValueError
        A ``group_size`` (or ``n_groups``) that does not divide ``channels``; the message names
        the field and the failing values.
    """
    c = np.asarray(channels, dtype=np.float64)
    g = groups_of(c, group_size, n_groups)
    tab = group_conv_table(c, h_out, w_out, group_size=g, kernel=kernel, stride=stride, batch=batch, dtype=dtype)
    mac = tab.total("mac")
    nbytes = np.atleast_1d(tab.column_bytes_B(0) * tab.columns[0]["count"])
    return GroupConvCost(group_size=g, n_groups=c / g, n_mac=mac, n_params=tab.total_params(), bytes_B=nbytes,
                         reuse_MAC_per_B=mac / nbytes)
