"""Federated training clocks (models.systems.federated): closed forms over deterministic populations."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.dse import parse_space, sweep
from models.params import ParamError
from models.perf import evaluate_point
from models.systems.federated import FederatedError, client_factors, fedavg_round_s, federated_clock

T, W = "jetson-orin-gpu", "resnet-18"
STEP = {"training": True, "batch": 32, "resolution": 32}


def _step() -> tuple[float, float]:
    """(latency, weights' bytes) of one local training step, the one-request evaluation."""
    r = evaluate_point(T, W, STEP)
    return float(r.perf.latency_s[0]), float(r.built.table.memory_parts_B["forward"]["weights"][0])


def _m(r, name: str) -> float:
    return float(np.asarray(r.perf.metrics()[name]).reshape(-1)[0])


def test_fedavg_round_is_the_slowest_selected_client():
    # 10 identical clients but the slowest 2 (share 0.2) three times slower; all ten in every round
    t, w = _step()
    kn = {**STEP, "federated": "fedavg", "fl_clients": 10, "fl_local_steps": 50, "fl_slow_share": 0.2,
          "fl_slowdown": 3.0, "fl_server_updates": 7, "fl_client_bandwidth": 2e6}
    r = evaluate_point(T, W, kn)
    slowest = 3.0 * 50 * t + 2 * w / 2e6
    assert _m(r, "server_update_s") == pytest.approx(slowest, rel=1e-12)
    assert _m(r, "latency_s") == pytest.approx(7 * slowest, rel=1e-12)
    mean = (8 * (50 * t + 2 * w / 2e6) + 2 * slowest) / 10
    assert _m(r, "client_idle_fraction") == pytest.approx(1 - mean / slowest, rel=1e-12)
    assert _m(r, "total_bytes_B") == pytest.approx(7 * 10 * 2 * w, rel=1e-12)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(0.01, 100.0), min_size=1, max_size=7), st.data())
def test_fedavg_sampling_is_the_mean_slowest_of_every_sample(tau, data):
    m = data.draw(st.integers(1, len(tau)))
    brute = np.mean([max(c) for c in itertools.combinations(tau, m)])
    assert fedavg_round_s(np.array(tau), m) == pytest.approx(brute, rel=1e-9)


def test_async_fedbuff_and_fedfix_by_hand():
    tau = np.array([1.0, 2.0, 4.0])  # clients' update times, s; arrival rate 1 + 1/2 + 1/4 = 1.75 per s
    a = federated_clock("async", tau, updates=7)
    assert a["time_to_updates_s"] == pytest.approx(7 / 1.75)
    b = federated_clock("fedbuff", tau, updates=7, buffer=2)
    assert b["time_to_updates_s"] == pytest.approx(7 * 2 / 1.75)
    # FedFix every 1.5 s: the clients finish once every ceil(tau / 1.5) = 1, 2, 3 periods
    f = federated_clock("fedfix", tau, updates=10, period_s=1.5)
    assert f["time_to_updates_s"] == pytest.approx(15.0)
    assert f["client_updates_per_server_update"] == pytest.approx(1 + 1 / 2 + 1 / 3)
    assert f["client_idle_fraction"] == pytest.approx(1 - (1 / 1 + 2 / 2 + 4 / 3) / (3 * 1.5))


def test_the_population_quantiles():
    s = client_factors(4, sigma=0.5)
    assert np.all(np.diff(s[:, ]) > 0) and s[0] * s[3] == pytest.approx(1.0)  # symmetric about the median 1
    assert client_factors(3).tolist() == [1.0, 1.0, 1.0]
    assert client_factors(5, slow_share=0.4, slowdown=10.0).tolist() == [1.0, 1.0, 1.0, 10.0, 10.0]


def test_heterogeneity_slows_fedavg_more_than_async():
    base = {**STEP, "fl_clients": 50, "fl_local_steps": 20, "fl_server_updates": 100}
    ratio = {}
    for alg in ("fedavg", "async"):
        even = _m(evaluate_point(T, W, {**base, "federated": alg}), "latency_s")
        skew = _m(evaluate_point(T, W, {**base, "federated": alg, "fl_speed_sigma": 1.0}), "latency_s")
        ratio[alg] = skew / even
    # the slowest of 50 lognormal(0, 1) quantiles is exp(Phi^-1(0.99)) = 10x the median; the arrival rate
    # of all clients grows with the fast ones (mean of 1 / s = exp(1 / 2) over the median)
    assert ratio["fedavg"] > 8.0 and ratio["async"] < 1.0


def test_bad_settings_are_named():
    with pytest.raises(ParamError, match="fl_clients"):
        evaluate_point(T, W, {**STEP, "federated": "fedavg", "fl_clients": 0})
    with pytest.raises(FederatedError, match="fl_buffer = 20: the server waits for 20 updates from 10 clients"):
        evaluate_point(T, W, {**STEP, "federated": "fedbuff", "fl_clients": 10, "fl_buffer": 20})
    with pytest.raises(FederatedError, match="needs fl_period_s"):
        evaluate_point(T, W, {**STEP, "federated": "fedfix"})
    with pytest.raises(FederatedError, match="training = true"):
        evaluate_point(T, W, {"federated": "fedavg"})
    with pytest.raises(FederatedError, match="no training step"):
        evaluate_point(T, "llama-2-7b", {"federated": "fedavg"})
    with pytest.raises(FederatedError, match="fl_sampled = 11"):
        evaluate_point(T, W, {**STEP, "federated": "fedavg", "fl_clients": 10, "fl_sampled": 11})
    with pytest.raises(FederatedError, match="fl_buffer with federated = 'fedavg'"):
        evaluate_point(T, W, {**STEP, "federated": "fedavg", "fl_buffer": 2})


def test_a_sweep_equals_point_by_point():
    space = parse_space({
        "name": "fl", "target": T, "workload": W,
        "workload_knobs": {"training": True, "batch": 32, "resolution": 32},
        "algorithm_knobs": {"federated": "fedbuff", "fl_clients": 20, "fl_buffer": 4, "fl_local_steps": 10},
        "parameters": [
            {"name": "sigma", "sets": "algorithm.fl_speed_sigma", "kind": "float", "values": [0.0, 0.5, 1.5]},
            {"name": "bw", "sets": "algorithm.fl_client_bandwidth", "kind": "float", "values": [1, 100],
             "unit": "MB/s"},
        ],
        "objectives": [{"metric": "time_to_updates_s"}, {"metric": "total_bytes_B"}],
    })
    df = sweep(space, progress=False)
    assert df.height == 6
    for row in df.iter_rows(named=True):
        one = evaluate_point(T, W, {**STEP, "federated": "fedbuff", "fl_clients": 20, "fl_buffer": 4,
                                    "fl_local_steps": 10, "fl_speed_sigma": row["sigma"],
                                    "fl_client_bandwidth": row["bw"]})
        assert row["latency_s"] == pytest.approx(_m(one, "latency_s"), rel=1e-12)
        assert row["energy_J"] == pytest.approx(_m(one, "energy_J"), rel=1e-12)


def test_fedfix_population_and_its_fedavg_rounds():
    # FedFix's F-80 population of 5 clients: update times 1, 0.8, 0.6, 0.4, 0.2 of the slowest (sorted ascending)
    assert client_factors(5, speed_range=0.8).tolist() == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])
    tau = client_factors(5, speed_range=0.8)
    # over a time budget of 50 slowest-client units FedAvg updates 50 times, FedFix at 0.5 a hundred times
    assert 50.0 / federated_clock("fedavg", tau, updates=1)["server_update_s"] == pytest.approx(50.0)
    fix = federated_clock("fedfix", tau, updates=1, period_s=0.5)
    assert 50.0 / fix["server_update_s"] == pytest.approx(100.0)
    # every FedFix period, clients finishing within 1 period (0.2, 0.4) and within 2 (0.6, 0.8, 1.0) contribute
    assert fix["client_updates_per_server_update"] == pytest.approx(2 + 3 / 2)
    with pytest.raises(FederatedError, match="fl_speed_range with fl_speed_sigma"):
        client_factors(5, sigma=0.5, speed_range=0.8)
