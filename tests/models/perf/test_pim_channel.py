"""The host channel of processing-in-memory banks: hand-computed toy cases, engine choice,
sweeps, bad fields, and the shipped PIM targets.

A PIM engine reads its weights (and KV cache) in the banks, but an operator's activations cross
the channel between the host and the banks: ``t = max(t_c, resident / bank bw) + (in x copies +
out) / channel bw + overhead`` (docs/models.md, "Host channel of PIM banks").
"""

from __future__ import annotations

import tomllib

import numpy as np
import pytest

from models.hardware import TargetFileError, get_target, parse_target, with_overrides
from models.perf import compile_target, evaluate
from models.workloads import attention_op, elementwise, gemv, table_from_ops

# A host vector engine (1e12 op/s fp16) on a 100 GB/s DRAM, and a PIM engine (100 units x 10 op/clk
# x 1 GHz = 1e12 op/s fp16) on banks of 500 GB/s behind a 100 GB/s host channel of 4 channels.
# 1 us per operator. Round numbers.
TOY = """
name = "toy-pim"
display_name = "Toy PIM"
class = "pim"
description = "test"
overlap = "max"
clock = { value = 1, unit = "GHz", source = "test" }
tdp = { value = 100, unit = "W", source = "test" }
static_power = { value = 2, unit = "W", source = "test" }
process_node = { value = 7, unit = "nm", source = "test" }
op_overhead = { value = 1, unit = "us", source = "test" }

[[engines]]
name = "vec"
kind = "vector"
n_units = { value = 10, source = "test" }
efficiency = { value = 1.0, source = "test" }
ops_per_cycle = { fp16 = { value = 100, source = "test" } }
energy_per_op = { fp16 = { value = 5, unit = "pJ/op", source = "test" } }

[[engines]]
name = "pim"
kind = "pim"
runs = ["gemv", "elementwise"]
n_units = { value = 100, source = "test" }
efficiency = { value = 1.0, source = "test" }
ops_per_cycle = { fp16 = { value = 10, source = "test" } }
energy_per_op = { fp16 = { value = 1, unit = "pJ/op", source = "test" } }

[[memories]]
name = "dram"
kind = "dram"
read_by = ["vec"]
capacity = { value = 8, unit = "GB", source = "test" }
bandwidth = { value = 100, unit = "GB/s", source = "test" }
energy_per_byte = { value = 10, unit = "pJ/B", source = "test" }

[[memories]]
name = "bank"
kind = "pim_bank"
read_by = ["pim"]
capacity = { value = 8, unit = "GB", source = "test" }
bandwidth = { value = 500, unit = "GB/s", source = "test" }
energy_per_byte = { value = 1, unit = "pJ/B", source = "test" }
host_bandwidth = { value = 100, unit = "GB/s", source = "test" }
host_energy_per_byte = { value = 10, unit = "pJ/B", source = "test" }
host_channels = { value = 4, source = "test" }
"""

CHANNEL_LINES = ("host_bandwidth", "host_energy_per_byte", "host_channels")


def _toy(text: str = TOY):
    return parse_target(tomllib.loads(text), file="toy-pim.toml")


def _no_channel():
    return _toy("\n".join(line for line in TOY.splitlines() if not line.startswith(CHANNEL_LINES)))


# GEMV 1000 x 1000 fp16: 2e6 op (2 us of PIM compute), 2e6 B of weights (4 us at 500 GB/s),
# 2000 B of input sent to 4 channels + 2000 B of output = 10,000 B on the channel (0.1 us)
GEMV = table_from_ops([gemv("proj", 1000, 1000, dtype="fp16")])
T_GEMV = 4e-6 + 0.1e-6 + 1e-6
E_GEMV = 2e6 * 1e-12 + 2e6 * 1e-12 + 10_000 * 10e-12  # ops + bank bytes + channel bytes


def test_gemv_on_pim_by_hand():
    r = evaluate(_toy(), GEMV, engine="pim")
    assert r.latency_s[0] == pytest.approx(T_GEMV, rel=1e-12)
    assert r.dynamic_energy_J[0] == pytest.approx(E_GEMV, rel=1e-12)
    # the memory time reported is the bank side and the channel together
    assert r.breakdown()["memory_s"][0] == pytest.approx(4.1e-6, rel=1e-12)


def test_every_input_is_sent_to_every_channel():
    one = evaluate(with_overrides(_toy(), {"memories.bank.host_channels": 1}), GEMV, engine="pim")
    # (2000 + 2000) B at 100 GB/s = 0.04 us instead of 0.1 us
    assert one.latency_s[0] == pytest.approx(4e-6 + 0.04e-6 + 1e-6, rel=1e-12)


def test_without_a_channel_every_byte_is_at_bank_bandwidth():
    r = evaluate(_no_channel(), GEMV, engine="pim")
    assert r.latency_s[0] == pytest.approx((2e6 + 4000) / 500e9 + 1e-6, rel=1e-12)
    assert compile_target(_no_channel()).host_bandwidth_B_per_s is None


def test_activations_stay_off_the_banks_when_the_channel_is_slow():
    # elementwise over 1e6 fp16 elements: 2e6 B in, 2e6 B out, no weights. On the PIM all of it
    # crosses the channel once (4e6 B = 40 us, bound by the channel, after 1 us of compute on
    # nothing resident): 42 us; on the host 4e6 B of DRAM = 40 us + 1 us. Without the channel the
    # PIM would read it at 500 GB/s (8 us) and take it.
    add = table_from_ops([elementwise("act", 1e6, dtype="fp16")])
    pim = evaluate(_toy(), add, engine="pim")
    assert pim.latency_s[0] == pytest.approx(1e-6 + 40e-6 + 1e-6, rel=1e-12)
    assert pim.breakdown()["bound"].to_list() == ["bank host channel"]
    chosen = evaluate(_toy(), add)
    assert chosen.breakdown()["engine"].to_list() == ["vec"]
    assert chosen.latency_s[0] == pytest.approx(40e-6 + 1e-6, rel=1e-12)
    assert evaluate(_no_channel(), add).breakdown()["engine"].to_list() == ["pim"]


def test_an_attention_query_goes_only_to_its_own_channels():
    # decode attention of 10 sequences x 8 heads x 128 dims over 1000 cached positions (fp16):
    # query 20,480 B and output 20,480 B cross once (not once per channel): 40,960 B = 0.4096 us;
    # the KV cache (2 x 10 x 1000 x 8 x 128 x 2 = 40.96 MB) is resident: 81.92 us at 500 GB/s;
    # compute 4 x 10 x 1000 x 8 x 128 = 40.96 MFLOP = 40.96 us
    att = table_from_ops([attention_op("att", 10, 8, 1, 1000, 128, dtype="fp16", phase="decode",
                                       kv_in_cache=True)])
    toy = _toy(TOY.replace('runs = ["gemv", "elementwise"]', 'runs = ["gemv", "elementwise", "attention"]'))
    r = evaluate(toy, att, engine="pim")
    assert r.latency_s[0] == pytest.approx(81.92e-6 + 0.4096e-6 + 1e-6, rel=1e-12)


def test_ideal_mode_uses_the_peak_channel_bandwidth():
    line = 'host_channels = { value = 4, source = "test" }'
    eff = _toy(TOY.replace(line, line + '\nefficiency = { value = 0.5, source = "test" }'))
    cal = evaluate(eff, GEMV, engine="pim")
    ideal = evaluate(eff, GEMV, engine="pim", mode="ideal")
    # calibrated: banks and channel at half bandwidth: 8 us + 0.2 us + 1 us; ideal: 4 us + 0.1 us
    assert cal.latency_s[0] == pytest.approx(8e-6 + 0.2e-6 + 1e-6, rel=1e-12)
    assert ideal.latency_s[0] == pytest.approx(4e-6 + 0.1e-6, rel=1e-12)


def test_a_sweep_over_the_channel_equals_point_by_point():
    bws = np.array([25e9, 50e9, 100e9, 400e9])
    chans = np.array([1, 2, 4, 32])
    table = table_from_ops([gemv("proj", 1000, 1000, dtype="fp16"), elementwise("act", 1e5, dtype="fp16")])
    swept = evaluate(_toy(), table, overrides={"memories.bank.host_bandwidth": bws,
                                               "memories.bank.host_channels": chans}, detail=False)
    for i, (b, c) in enumerate(zip(bws, chans, strict=True)):
        one = evaluate(with_overrides(_toy(), {"memories.bank.host_bandwidth": b,
                                               "memories.bank.host_channels": c}), table)
        assert swept.latency_s[i] == pytest.approx(one.latency_s[0], rel=1e-12)
        assert swept.energy_J[i] == pytest.approx(one.energy_J[0], rel=1e-12)
    faster = evaluate(_toy(), table, overrides={"memories.bank.host_bandwidth": bws}, detail=False)
    assert np.all(np.diff(faster.latency_s) < 0)  # a faster channel never hurts


def test_a_design_point_may_add_a_channel():
    r = evaluate(_no_channel(), GEMV, engine="pim",
                 overrides={"memories.bank.host_bandwidth": 100e9, "memories.bank.host_energy_per_byte": 10e-12,
                            "memories.bank.host_channels": 4})
    assert r.latency_s[0] == pytest.approx(T_GEMV, rel=1e-12)


@pytest.mark.parametrize(("edit", "match"), [
    # a host channel on a level that is not PIM banks
    (lambda s: s.replace('energy_per_byte = { value = 10, unit = "pJ/B", source = "test" }\n\n[[memories]]',
                         'energy_per_byte = { value = 10, unit = "pJ/B", source = "test" }\n'
                         'host_bandwidth = { value = 1, unit = "GB/s", source = "test" }\n\n[[memories]]'),
     "processing-in-memory level"),
    (lambda s: s.replace('host_energy_per_byte = { value = 10, unit = "pJ/B", source = "test" }\n', ""),
     "host_energy_per_byte"),
    (lambda s: s.replace('host_channels = { value = 4,', 'host_channels = { value = 0,'), "host_channels"),
    (lambda s: s.replace('host_channels = { value = 4,', 'host_channels = { value = 2.5,'), "host_channels"),
    (lambda s: s.replace('host_bandwidth = { value = 100,', 'host_bandwidth = { value = -1,'), "host_bandwidth"),
])
def test_bad_channel_fields_are_refused(edit, match):
    with pytest.raises(TargetFileError, match=match):
        _toy(edit(TOY))


def test_an_override_without_its_energy_is_refused():
    with pytest.raises(TargetFileError, match="host_energy_per_byte"):
        with_overrides(_no_channel(), {"memories.bank.host_bandwidth": 100e9})
    with pytest.raises(KeyError, match="host_bandwidth"):
        with_overrides(_toy(), {"memories.dram.host_bandwidth": 100e9})


@pytest.mark.parametrize(("name", "dtype"), [("neupims", "fp16"), ("hbm-pim", "fp16"), ("duplex-logic-pim", "fp16"),
                                           ("gddr6-aim", "bf16")])
def test_shipped_pim_targets_price_activations_on_their_channel(name, dtype):
    t = get_target(name)
    bank = next(m for m in t.memories if m.kind == "pim_bank")
    assert bank.host_bandwidth_B_per_s is not None and bank.host_bandwidth_B_per_s < bank.bandwidth_B_per_s
    pim = next(e.name for e in t.engines if e.kind == "pim")
    proj = table_from_ops([gemv("proj", 4096, 4096, dtype=dtype)])
    r = evaluate(t, proj, engine=pim)
    slow = evaluate(t, proj, engine=pim, overrides={f"memories.{bank.name}.host_channels": 4 * bank.host_channels})
    assert slow.latency_s[0] > r.latency_s[0]  # the input is sent to each channel
