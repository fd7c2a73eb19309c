"""The ``sustained_bandwidth`` field of a memory level: declared once (unit, range), loaded with
its source, refused when out of range, overridable, listed with the other fields, and set on
the CPU presets from published STREAM-type measurements only."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from models.hardware import (
    FIELD_SPECS,
    TargetFileError,
    field_spec,
    get_target,
    load_target_file,
    parse_target,
    target_to_toml,
    with_overrides,
)
from models.hardware.factors import factor_rows

TOY = """
name = "toy"
display_name = "Toy"
class = "cpu"
description = "test"
overlap = "max"
clock = { value = 2.0, unit = "GHz", source = "test" }
tdp = { value = 10, unit = "W", source = "test" }
static_power = { value = 1, unit = "W", source = "test" }
process_node = { value = 7, unit = "nm", source = "test" }
op_overhead = { value = 1, unit = "us", source = "test" }

[[engines]]
name = "simd"
kind = "vector"
n_units = { value = 4, source = "test" }
efficiency = { value = 1.0, source = "test" }
ops_per_cycle = { fp32 = { value = 16, source = "test" } }
energy_per_op = { fp32 = { value = 10, unit = "pJ/op", source = "test" } }

[[memories]]
name = "dram"
kind = "dram"
read_by = ["simd"]
capacity = { value = 8, unit = "GB", source = "test" }
bandwidth = { value = 20, unit = "GB/s", source = "test" }
energy_per_byte = { value = 20, unit = "pJ/B", source = "test" }
sustained_bandwidth = { value = 13.5, unit = "GB/s", source = "test: STREAM all cores" }
"""


def test_declared_once_with_unit_and_range():
    spec = FIELD_SPECS["sustained_bandwidth"]
    assert spec.unit == "GB/s" and spec.dimension == "bandwidth"
    assert spec.low == 0 and spec.low_open
    assert field_spec("memories.dram.sustained_bandwidth").unit == "GB/s"


def test_loads_to_si_with_its_source_and_is_listed():
    t = parse_target(tomllib.loads(TOY), file="toy.toml")
    m = t.memory("dram")
    assert m.sustained_bandwidth_B_per_s == pytest.approx(13.5e9)
    value, spec, source = t.numeric_fields()["memories.dram.sustained_bandwidth"]
    assert value == pytest.approx(13.5e9) and spec.unit == "GB/s" and source == "test: STREAM all cores"


def test_out_of_range_is_refused_by_file_and_by_override():
    d = tomllib.loads(TOY)
    d["memories"][0]["sustained_bandwidth"]["value"] = -1
    with pytest.raises(TargetFileError) as info:
        parse_target(d, file="toy.toml")
    msg = str(info.value)
    assert "toy.toml" in msg and "memories.dram.sustained_bandwidth" in msg and "-1" in msg and "allowed: (0" in msg
    t = parse_target(tomllib.loads(TOY), file="toy.toml")
    with pytest.raises(TargetFileError, match="sustained_bandwidth"):
        with_overrides(t, {"memories.dram.sustained_bandwidth": 0.0})
    with pytest.raises(KeyError):
        with_overrides(t, {"memories.nowhere.sustained_bandwidth": 1e9})


def test_roundtrip_through_toml(tmp_path: Path):
    t = parse_target(tomllib.loads(TOY), file="toy.toml")
    t2 = with_overrides(t, {"memories.dram.sustained_bandwidth": 7e9}, source="test: halved")
    f = tmp_path / "toy.toml"
    f.write_text(target_to_toml(t2))
    m = load_target_file(f).memory("dram")
    assert m.sustained_bandwidth_B_per_s == pytest.approx(7e9)
    assert m.sources["sustained_bandwidth"] == "test: halved"


def test_cpu_presets_carry_only_sourced_figures():
    # set where a published measurement was found (docs/models.md, "CPU DRAM bandwidth"), absent
    # elsewhere: an absent field does not limit
    expected = {"raspberry-pi-5": ("lpddr4x", 13.23e9), "m2-ultra-cpu": ("lpddr5", 311e9)}
    for name in ("raspberry-pi-5", "m2-ultra-cpu", "jetson-orin-cpu", "skylake-x-i9-7900x", "zen2-ryzen9-3900x"):
        t = get_target(name)
        dram = t.main_memory()
        if name in expected:
            level, value = expected[name]
            assert dram.name == level
            assert dram.sustained_bandwidth_B_per_s == pytest.approx(value)
            src = dram.sources["sustained_bandwidth"]
            assert "measured" in src and ("github.com" in src)
            # a complex never sustains more than the level's peak
            assert dram.sustained_bandwidth_B_per_s <= dram.bandwidth_B_per_s
        else:
            assert dram.sustained_bandwidth_B_per_s is None


def test_listed_in_the_factor_table():
    rows = {(t, p) for t, p, _, _ in factor_rows()}
    assert ("raspberry-pi-5", "memories.lpddr4x.sustained_bandwidth") in rows
    assert ("m2-ultra-cpu", "memories.lpddr5.sustained_bandwidth") in rows
