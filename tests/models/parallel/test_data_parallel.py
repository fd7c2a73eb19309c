"""Data-parallel training steps with an aggregation rule (models.parallel.data_parallel), by hand."""

from __future__ import annotations

import numpy as np
import pytest

from models.hardware import get_target
from models.parallel.collectives import collective_cost
from models.parallel.data_parallel import AggregationError, apply_data_parallel, default_flag_rank
from models.perf import evaluate, evaluate_point
from models.point import build_point

T, W = "h100-sxm", "resnet-18"
STEP = {"training": True, "batch": 128, "resolution": 32}
# ResNet-18's 11,689,512 parameters; gradients in the step's fp16: 23,379,024 B
P, G = 11_689_512, 23_379_024


def _table(**kn):
    return build_point(W, {**STEP, **kn}, target=get_target(T)).table


def _added(rows_of, name_prefix="dp."):
    names = rows_of.meta["name"].to_list()
    keys = ("flop", "act_read_B", "act_write_B", "count")
    return {n: {k: float(np.asarray(rows_of.columns[i][k], dtype=np.float64).reshape(-1)[0]) for k in keys}
            for i, n in enumerate(names) if n.startswith(name_prefix)}


def test_mean_is_one_ring_allreduce_of_the_gradients_in_series():
    one = evaluate_point(T, W, STEP).perf
    r = evaluate_point(T, W, {**STEP, "data_parallel": 8}).perf
    # NVLink 4: 450 GB/s per direction, 0.6 us per step (data/links.toml), NCCL ring base latency 6.6 us
    t, moved = collective_cost("all_reduce", 8, G, 450e9, 0.6e-6)
    assert float(r.comm_s[0]) == pytest.approx(float(t), rel=1e-12)
    assert float(t) == pytest.approx(6.6e-6 + 2 * 7 / 8 * G / 450e9 + 14 * 0.6e-6, rel=1e-12)
    assert float(r.latency_s[0]) == pytest.approx(float(one.latency_s[0]) + float(t), rel=1e-12)
    # eight workers: eight batches, eight devices' energy
    assert float(r.n_items[0]) == 8 * 128 and r.n_devices == 8
    assert float(r.dynamic_energy_J[0]) == pytest.approx(8 * float(one.dynamic_energy_J[0]), rel=1e-9)


def test_median_sorts_the_gathered_gradients():
    t = _table(data_parallel=5, aggregation_rule="median")
    rows = _added(t)
    med = rows["dp.median"]
    # five values per coordinate: 5 x ceil(log2 5) = 15 comparisons, reading the 5 gradients, writing one
    assert float(med["flop"]) == P * 15
    assert float(med["act_read_B"]) == 5 * G and float(med["act_write_B"]) == G
    (c,) = t.collectives
    assert c.op == "all_gather" and float(c.bytes_B.reshape(-1)[0]) == 5 * G and c.group == 5
    trim = _added(_table(data_parallel=5, aggregation_rule="trimmed_mean", failed_workers=2))["dp.trimmed_mean"]
    assert float(trim["flop"]) == P * (15 + 5 - 4)


def test_flag_rows_by_hand():
    n, r = 15, 8
    rows = _added(_table(data_parallel=n, aggregation_rule="flag"))  # default rank 2^ceil(log2 7.5) = 8
    assert float(rows["dp.flag.gram"]["flop"]) == 2 * P * n * n
    assert float(rows["dp.flag.singular_vectors"]["flop"]) == 2 * P * r * n
    assert float(rows["dp.flag.projections"]["flop"]) == 2 * r * n * P
    assert float(rows["dp.flag.eigensolver"]["flop"]) == 10 * n ** 3
    three = _added(_table(data_parallel=n, aggregation_rule="flag", flag_iterations=3, flag_rank=4))
    assert float(three["dp.flag.gram"]["count"]) == 3.0  # one SVD per iteration
    assert float(three["dp.flag.singular_vectors"]["flop"]) == 2 * P * 4 * n
    assert float(three["dp.flag.sum"]["count"]) == 1.0  # the output once


def test_robust_rules_cost_more_than_the_mean():
    lat = {rule: float(evaluate_point(T, W, {**STEP, "data_parallel": 15, "aggregation_rule": rule}).perf.latency_s[0])
           for rule in ("mean", "median", "flag")}
    assert lat["mean"] < lat["median"] < lat["flag"]
    # the gather moves (n - 1) G per device where the ring all-reduce moves 2 (n - 1) / n G
    t = get_target(T)
    gathered = evaluate(t, _table(data_parallel=15, aggregation_rule="median"))
    t_gather, _ = collective_cost("all_gather", 15, 15 * G, 450e9, 0.6e-6)
    assert float(gathered.comm_s[0]) == pytest.approx(float(t_gather), rel=1e-12)


def test_one_worker_with_the_mean_is_the_step():
    t = _table()
    assert apply_data_parallel(t, workers=1) is t


def test_bad_settings_are_named():
    t = _table()
    with pytest.raises(AggregationError, match="aggregation_rule = 'krum'; allowed: mean, median"):
        apply_data_parallel(t, workers=4, rule="krum")
    with pytest.raises(AggregationError, match="failed_workers = 2 of 4 with aggregation_rule = 'median'"):
        apply_data_parallel(t, workers=4, rule="median", failed=2)
    with pytest.raises(AggregationError, match="failed_workers = 4; allowed: a whole number from 0 to"):
        apply_data_parallel(t, workers=4, rule="flag", failed=4)
    with pytest.raises(AggregationError, match="flag_rank = 2: needs aggregation_rule = flag"):
        apply_data_parallel(t, workers=4, rule="median", flag_rank=2)
    with pytest.raises(AggregationError, match="flag_rank = 9: allowed: a whole number from 1 to 4"):
        apply_data_parallel(t, workers=4, rule="flag", flag_rank=9)
    with pytest.raises(AggregationError, match="training = true"):
        evaluate_point(T, W, {"data_parallel": 4})
    with pytest.raises(ValueError, match="data_parallel"):
        evaluate_point(T, W, {**STEP, "data_parallel": 0})
    with pytest.raises(AggregationError, match="flag_iterations = 3: needs aggregation_rule = flag"):
        apply_data_parallel(t, workers=4, rule="median", flag_iterations=3)


def test_default_flag_rank_is_the_released_scripts():
    # the released experiment scripts: r = 8, 16, 32 for 15, 30, 60 workers
    assert [default_flag_rank(n) for n in (15, 30, 60)] == [8, 16, 32]
    assert default_flag_rank(1) == 1 and default_flag_rank(3) == 2


def test_a_sweep_over_batch_equals_point_by_point():
    batches = np.array([32.0, 128.0, 256.0])
    swept = evaluate_point(T, W, {**STEP, "batch": batches, "data_parallel": 15, "aggregation_rule": "flag"},
                           detail=False).perf
    for i, b in enumerate(batches):
        one = evaluate_point(T, W, {**STEP, "batch": float(b), "data_parallel": 15, "aggregation_rule": "flag"}).perf
        assert swept.latency_s[i] == pytest.approx(float(one.latency_s[0]), rel=1e-12)
        assert swept.energy_J[i] == pytest.approx(float(one.energy_J[0]), rel=1e-12)
