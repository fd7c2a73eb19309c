"""BatchNorm folding at inference (issue 14): the knob every BN network has, and what it removes."""

from __future__ import annotations

import numpy as np
import pytest

from models.hardware import get_target
from models.perf import evaluate_point
from models.point import build_point
from models.workloads import workload_spec

BN_NETS = ["resnet-18", "resnet-50", "resnext-50-32x4d", "mobilenet-v1", "mobilenet-v2", "regnetx-400mf", "resnet8",
           "ds-cnn", "tdnn-xvector"]


def _table(name: str, **knobs: object):  # type: ignore[no-untyped-def]
    return build_point(name, dict(knobs), target=get_target("h100-sxm")).table


@pytest.mark.parametrize("name", BN_NETS)
def test_inference_folds_bn_and_keeps_every_mac(name: str) -> None:
    assert workload_spec(name).knob("fold_bn").default is True
    folded, eager = _table(name), _table(name, fold_bn=False)
    kinds = folded.meta["kind"].to_list()
    assert "norm" not in kinds and "norm" in eager.meta["kind"].to_list()
    # folding moves BN into the conv's weights and bias: no MAC disappears, only the BN passes
    assert folded.total("mac")[0] == pytest.approx(eager.total("mac")[0])
    assert folded.total("flop")[0] < eager.total("flop")[0]
    n_norm = sum(k == "norm" for k in eager.meta["kind"].to_list())
    assert len(eager.meta) - len(folded.meta) == n_norm


@pytest.mark.parametrize("name", ["resnet-50", "regnetx-400mf", "ds-cnn"])
def test_a_training_step_keeps_bn_whatever_fold_bn_says(name: str) -> None:
    a = _table(name, training=True)
    b = _table(name, training=True, fold_bn=False)
    assert a.total("flop")[0] == pytest.approx(b.total("flop")[0])
    assert any("norm" in str(k) for k in a.meta["kind"].to_list())


def test_scaled_regnet_folds_too() -> None:
    t = _table("regnetx-400mf", scaling_strategy="fast", scaling_factor=2.0)
    assert "norm" not in t.meta["kind"].to_list()
    assert "norm" in _table("regnetx-400mf", scaling_strategy="fast", scaling_factor=2.0,
                            fold_bn=False).meta["kind"].to_list()


def test_ethos_u65_runs_the_tdnn_once_bn_is_folded() -> None:
    # the microNPU has no standalone BN/ReLU pass: unfolded, its relu_bn rows have no engine
    r = evaluate_point("ethos-u65", "tdnn-xvector", {"dtype": "int8"}, detail=False)
    assert np.isfinite(r.perf.latency_s[0]) and r.perf.latency_s[0] > 0
    with pytest.raises((KeyError, ValueError), match="relu_bn"):
        evaluate_point("ethos-u65", "tdnn-xvector", {"dtype": "int8", "fold_bn": False}, detail=False)
