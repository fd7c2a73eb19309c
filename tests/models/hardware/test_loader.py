"""Strict loading of target files: one test per kind of bad input, each checking that the
error names the file, the field, the value and what is allowed."""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path

import pytest

from models.hardware import TargetFileError, load_target_file, parse_target, target_to_toml, with_overrides

GOOD = """
name = "toy"
display_name = "Toy device"
class = "cpu"
description = "A small valid target used by the loader tests."
overlap = "max"
clock = { value = 2.0, unit = "GHz", source = "test fixture" }
tdp = { value = 10, unit = "W", source = "test fixture" }
static_power = { value = 1, unit = "W", source = "test fixture" }
process_node = { value = 7, unit = "nm", source = "test fixture" }
op_overhead = { value = 1, unit = "us", source = "test fixture" }

[[engines]]
name = "simd"
kind = "vector"
n_units = { value = 4, source = "test fixture" }
efficiency = { value = 0.5, source = "test fixture" }
ops_per_cycle = { fp32 = { value = 16, source = "test fixture" } }
energy_per_op = { fp32 = { value = 10, unit = "pJ/op", source = "test fixture" } }

[[memories]]
name = "l2"
kind = "cache"
read_by = ["simd"]
capacity = { value = 1, unit = "MiB", source = "test fixture" }
bandwidth = { value = 200, unit = "GB/s", source = "test fixture" }
energy_per_byte = { value = 1, unit = "pJ/B", source = "test fixture" }

[[memories]]
name = "dram"
kind = "dram"
read_by = ["simd"]
capacity = { value = 8, unit = "GB", source = "test fixture" }
bandwidth = { value = 20, unit = "GB/s", source = "test fixture" }
energy_per_byte = { value = 20, unit = "pJ/bit", source = "test fixture" }
"""


def good() -> dict:
    return tomllib.loads(GOOD)


def check(data: dict, field: str, value_fragment: str, allowed_fragment: str) -> None:
    with pytest.raises(TargetFileError) as info:
        parse_target(data, file="toy.toml")
    err = info.value
    msg = str(err)
    assert "toy.toml" in msg
    assert field in msg, msg
    assert value_fragment in msg, msg
    assert allowed_fragment in msg, msg


def test_good_file_parses_to_si():
    t = parse_target(good(), file="toy.toml")
    assert t.clock_Hz == 2.0e9
    assert t.memory("l2").capacity_B == 2**20  # MiB is binary
    assert t.memory("dram").capacity_B == 8e9  # GB is decimal
    assert t.memory("dram").energy_J_per_B == pytest.approx(160e-12)  # 20 pJ/bit x 8
    # peak = 4 units x 16 FLOP/cycle x 2 GHz = 128 GFLOP/s
    assert t.peak_op_per_s("fp32") == pytest.approx(128e9)
    assert t.ridge_point_FLOP_per_B("fp32") == pytest.approx(128e9 / 20e9)


def test_missing_key():
    d = good()
    del d["tdp"]
    check(d, "tdp", "<missing>", "required")


def test_unknown_key():
    d = good()
    d["tdpp"] = d["tdp"]
    check(d, "tdpp", "", "unknown key")


def test_unknown_key_inside_quantity():
    d = good()
    d["memories"][0]["bandwidth"]["sauce"] = "x"
    check(d, "memories.l2.bandwidth.sauce", "x", "unknown key")


def test_duplicate_key(tmp_path: Path):
    f = tmp_path / "toy.toml"
    f.write_text(GOOD.replace('overlap = "max"', 'overlap = "max"\noverlap = "sum"'))
    with pytest.raises(TargetFileError) as info:
        load_target_file(f)
    assert str(f) in str(info.value)
    assert "overlap" in str(info.value)
    assert "duplicate" in str(info.value)


def test_negative_bandwidth():
    d = good()
    d["memories"][1]["bandwidth"]["value"] = -20
    check(d, "memories.dram.bandwidth.value", "-20", "allowed: (0")


def test_zero_bandwidth():
    d = good()
    d["memories"][1]["bandwidth"]["value"] = 0
    check(d, "memories.dram.bandwidth.value", "0", "allowed: (0")


def test_unknown_datatype():
    d = good()
    d["engines"][0]["ops_per_cycle"]["fp12"] = {"value": 1, "source": "x" * 5}
    check(d, "engines.simd.ops_per_cycle.fp12", "fp12", "allowed: fp64")


def test_nan_value():
    d = good()
    d["clock"]["value"] = float("nan")
    check(d, "clock.value", "nan", "finite")


def test_unknown_unit():
    d = good()
    d["memories"][0]["bandwidth"]["unit"] = "GB/fortnight"
    check(d, "memories.l2.bandwidth.unit", "GB/fortnight", "allowed")


def test_wrong_dimension_unit():
    d = good()
    d["memories"][0]["bandwidth"]["unit"] = "GB"
    check(d, "memories.l2.bandwidth.unit", "GB", "bandwidth unit")


def test_missing_source():
    d = good()
    del d["tdp"]["source"]
    check(d, "tdp.source", "<missing>", "required")


def test_efficiency_above_one():
    d = good()
    d["engines"][0]["efficiency"]["value"] = 1.5
    check(d, "engines.simd.efficiency.value", "1.5", "allowed: (0, 1]")


def test_rate_without_energy():
    d = good()
    d["engines"][0]["ops_per_cycle"]["fp16"] = {"value": 32, "source": "test fixture"}
    check(d, "engines.simd.energy_per_op.fp16", "<missing>", "needs an energy_per_op")


def test_read_by_unknown_engine():
    d = good()
    d["memories"][0]["read_by"] = ["gpu"]
    check(d, "memories.l2.read_by", "gpu", "unknown engine")


def test_shrinking_path():
    d = good()
    d["memories"][0]["capacity"]["value"] = 100  # 100 MiB L2 inside an 8 GB DRAM: fine
    parse_target(copy.deepcopy(d), file="toy.toml")
    d["memories"][0]["capacity"] = {"value": 16, "unit": "GB", "source": "test fixture"}
    check(d, "engines.simd", "l2", "innermost first")


def test_unknown_class():
    d = good()
    d["class"] = "fpga"
    check(d, "class", "fpga", "allowed: gpu, cpu, mcu, npu, pim")


def test_roundtrip_through_toml(tmp_path: Path):
    t = parse_target(good(), file="toy.toml")
    t2 = with_overrides(t, {"memories.dram.bandwidth": 40e9}, source="test: doubled")
    f = tmp_path / "toy.toml"
    f.write_text(target_to_toml(t2))
    t3 = load_target_file(f)
    assert t3.memory("dram").bandwidth_B_per_s == pytest.approx(40e9)
    assert t3.memory("dram").sources["bandwidth"] == "test: doubled"
    assert t3.peak_op_per_s("fp32") == pytest.approx(t.peak_op_per_s("fp32"))


def test_override_unknown_field_and_bad_value():
    t = parse_target(good(), file="toy.toml")
    with pytest.raises(KeyError, match="memories.hbm.bandwidth"):
        with_overrides(t, {"memories.hbm.bandwidth": 1e12})
    with pytest.raises(ValueError, match="allowed"):
        with_overrides(t, {"memories.dram.bandwidth": -1.0})


# ------------------------------------------------------------------------------ overrides = files
# (override path, SI value, file path of the same field, the value as written in the file, what
# both must say). The loader and with_overrides share the declaration and check_target.
PARITY = [
    ("static_power", 20.0, ("static_power", "value"), 20, "must not exceed tdp"),  # above the 10 W TDP
    ("tdp", 0.5, ("tdp", "value"), 0.5, "must not exceed tdp"),  # below the 1 W static power
    ("engines.simd.n_units", 0.5, ("engines", 0, "n_units", "value"), 0.5, "an integer is required"),
    ("engines.simd.n_units", True, ("engines", 0, "n_units", "value"), True, "a number is required"),
    ("engines.simd.efficiency", float("nan"), ("engines", 0, "efficiency", "value"), float("nan"), "finite"),
    ("memories.l2.capacity", 16e9, ("memories", 0, "capacity"), {"value": 16, "unit": "GB", "source": "test"},
     "innermost first"),
]


@pytest.mark.parametrize(("path", "value", "where", "raw", "words"), PARITY,
                         ids=[f"{p[0]}={p[1]!r}" for p in PARITY])
def test_with_overrides_refuses_what_the_loader_refuses(path, value, where, raw, words):
    d = good()
    node = d
    for k in where[:-1]:
        node = node[k]
    node[where[-1]] = raw
    with pytest.raises(TargetFileError, match=words):
        parse_target(d, file="toy.toml")
    t = parse_target(good(), file="toy.toml")
    with pytest.raises(TargetFileError, match=words) as info:
        with_overrides(t, {path: value})
    assert "target 'toy' (overrides)" in str(info.value)
    assert info.value.field.split(".value")[0] in (path, "static_power", "engines.simd")


def test_with_overrides_refuses_numpy_bools_and_strings_and_takes_numpy_numbers():
    import numpy as np

    t = parse_target(good(), file="toy.toml")
    for v in (np.bool_(True), "4", None, [1.0]):
        with pytest.raises(TargetFileError, match="a number is required"):
            with_overrides(t, {"clock": v})  # type: ignore[dict-item]
    assert with_overrides(t, {"clock": np.float32(3e9)}).clock_Hz == pytest.approx(3e9)
    assert with_overrides(t, {"engines.simd.n_units": np.int64(8)}).engine("simd").n_units == 8


def test_huge_integers_inf_and_non_utf8_name_the_file(tmp_path: Path):
    f = tmp_path / "toy.toml"
    for text, field, words in [
        (GOOD.replace("value = 10, unit", "value = 1" + "0" * 400 + ", unit"), "tdp.value", "401 digits"),
        (GOOD.replace("value = 10, unit", "value = 1e400, unit"), "tdp.value", "finite"),
        (GOOD.replace("value = 10, unit", "value = inf, unit"), "tdp.value", "finite"),
        (GOOD.replace("value = 10, unit", "value = " + "[" * 5000 + "]" * 5000 + ", unit"), "<toml>", "nested"),
    ]:
        f.write_text(text)
        with pytest.raises(TargetFileError, match=words) as info:
            load_target_file(f)
        assert info.value.field == field and str(f) in str(info.value)
    f.write_bytes(GOOD.encode().replace(b"Toy device", b"Toy\xe9 device"))  # latin-1, not UTF-8
    with pytest.raises(TargetFileError, match="UTF-8") as info:
        load_target_file(f)
    assert info.value.field == "<file> (line 3)" and str(f) in str(info.value) and "0xe9" in str(info.value)


def test_scan_targets_keeps_the_good_files_and_names_the_bad(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from models.hardware import available_targets, load_all_targets, scan_targets

    (tmp_path / "toy.toml").write_text(GOOD)
    bad = GOOD.replace('name = "toy"', 'name = "bad"').replace("value = 4,", "value = -4,")
    (tmp_path / "bad.toml").write_text(bad)
    monkeypatch.setenv("TRADESPACE_TARGETS_PATH", str(tmp_path))
    ts, errors = scan_targets()
    names = {t.name for t in ts}
    assert "toy" in names and "h100-sxm" in names and "bad" not in names
    assert len(names) == len(available_targets()) - 1
    assert [e.file for e in errors] == [str(tmp_path / "bad.toml")] and errors[0].field == "engines.simd.n_units.value"
    with pytest.raises(TargetFileError, match="bad.toml"):
        load_all_targets()  # the strict listing still refuses
