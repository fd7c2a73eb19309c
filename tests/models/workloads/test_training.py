"""Training step: forward + backward + weight update."""

import numpy as np
import pytest

from models.workloads.cnn import resnet
from models.workloads.kws import resnet8
from models.workloads.training import training_step
from models.workloads.vit import vit_b16


def test_resnet50_training_flops_about_3x_forward():
    fwd = resnet(50, batch=32)
    t = training_step(fwd)
    ratio = t.total("flop")[0] / fwd.total("flop")[0]
    assert 2.9 < ratio < 3.1
    assert set(t.meta["phase"].to_list()) == {"forward", "backward", "update"}


def test_backward_macs_by_hand():
    fwd = resnet8(batch=4)
    t = training_step(fwd)
    stem = 4 * 32 * 32 * 16 * 27
    # dgrad + wgrad per layer, minus the first layer's dgrad.
    assert t.total("mac", "backward")[0] == 2 * fwd.total("mac")[0] - stem
    assert t.total("mac", "forward")[0] == fwd.total("mac")[0]


@pytest.mark.parametrize(
    ("opt", "n_state", "flop"), [("sgd", 0, 2), ("momentum", 1, 4), ("adam", 2, 12)]
)
def test_update_bytes(opt, n_state, flop):
    fwd = resnet8()
    p = fwd.total_params()[0]
    up = training_step(fwd, opt).phase("update")
    # Reads weights, grads and state; writes weights and state (fp16: 2 B each).
    assert up.total("bytes_B")[0] == (1 + 1 + n_state + 1 + n_state) * p * 2
    assert up.total("flop")[0] == flop * p


def test_peak_memory_grows_with_saved_activations():
    fwd = resnet(18, batch=16)
    t = training_step(fwd, "adam")
    w = fwd.total("weight_read_B")[0]
    assert t.peak_memory_B["backward"][0] > fwd.peak_memory_B["forward"][0]
    assert t.peak_memory_B["update"][0] == pytest.approx(4 * w)  # weights + grads + 2 Adam moments
    assert t.total_params()[0] == fwd.total_params()[0]


def test_attention_backward_is_2_5x():
    t = training_step(vit_b16())
    f = t.frame()
    fw = f.filter(f["name"] == "attention")["flop"][0]
    bw = f.filter(f["name"] == "attention.bwd")["flop"][0]
    assert bw == 2.5 * fw


def test_vectorized_training():
    b = np.array([1, 8])
    t = training_step(resnet(18, batch=b))
    for i in range(2):
        one = training_step(resnet(18, batch=int(b[i])))
        assert t.total("flop")[i] == pytest.approx(one.total("flop")[0], rel=1e-12)
        assert t.peak_memory_B["backward"][i] == pytest.approx(
            one.peak_memory_B["backward"][0], rel=1e-12
        )


def test_unknown_optimizer():
    with pytest.raises(ValueError, match="optimizer"):
        training_step(resnet8(), "lion")
