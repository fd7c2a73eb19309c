"""Group size (E2GC): per-layer counts and divisibility errors (the pure cost model)."""

from __future__ import annotations

import numpy as np
import pytest

from models.algorithms.groupsize import group_conv_counts


def test_layer_counts_hand_computed() -> None:
    # c = 256, 28x28 output, 3x3, G = 4, batch 1: MACs = 28*28*256*4*9 = 7,225,344;
    # params = 256*4*9 = 9216; bytes fp16 = 2*(2*28*28*256 + 9216) = 821,248.
    c = group_conv_counts(256, 28, 28, group_size=4)
    assert c.n_mac[0] == 7_225_344
    assert c.n_params[0] == 9216
    assert c.bytes_B[0] == 821_248
    assert c.reuse_MAC_per_B[0] == pytest.approx(7_225_344 / 821_248)
    # the same layer given by its number of groups: 256 / 64 = 4 channels per group
    assert group_conv_counts(256, 28, 28, n_groups=64).n_mac[0] == 7_225_344


def test_reuse_grows_with_group_size() -> None:
    c = group_conv_counts(256, 28, 28, group_size=np.array([1, 4, 16, 64]))
    assert np.all(np.diff(c.reuse_MAC_per_B) > 0)


def test_group_size_must_divide_channels() -> None:
    with pytest.raises(ValueError, match="group_size"):
        group_conv_counts(96, 14, 14, group_size=64)
    with pytest.raises(ValueError, match="exactly one"):
        group_conv_counts(96, 14, 14)
