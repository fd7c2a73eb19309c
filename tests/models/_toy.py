"""A toy target for the kernel's closed-form tests: one vector engine over an SRAM and/or a DRAM,
every efficiency 1, no per-operator overhead, so a memory-bound operator's time is exactly its
bytes over the bandwidth the test computes by hand."""

from __future__ import annotations

SRAM = """
[[memories]]
name = "sram"
kind = "sram"
read_by = ["simd"]
capacity = { value = 1, unit = "MB", source = "test" }
bandwidth = { value = 1, unit = "TB/s", source = "test" }
energy_per_byte = { value = 1, unit = "pJ/B", source = "test" }
"""


def toy_target(name: str, *, ops_per_cycle: float = 1000, n_units: int = 1, sram: bool = True,
               dram_extra: str = "", bf16_ops_per_cycle: float | None = None, engine_extra: str = "",
               dram_GB_per_s: float = 100) -> str:
    """TOML text of the toy: a 1 GHz vector engine of ``n_units`` cores x ``ops_per_cycle`` fp32
    FLOP/cycle (1 pJ/op; bf16 natively at ``bf16_ops_per_cycle`` when given) with
    ``engine_extra`` fields, a 1 MB SRAM at 1 TB/s (1 pJ/B) when ``sram``, over an 8 GB DRAM at
    ``dram_GB_per_s`` (10 pJ/B) with ``dram_extra`` fields."""
    bf16_ops = "" if bf16_ops_per_cycle is None else \
        f'ops_per_cycle.bf16 = {{ value = {bf16_ops_per_cycle:g}, source = "test" }}'
    bf16_energy = "" if bf16_ops_per_cycle is None else \
        'energy_per_op.bf16 = { value = 1, unit = "pJ/op", source = "test" }'
    return f"""
name = "{name}"
display_name = "Toy {name}"
class = "cpu"
description = "test"
overlap = "max"
clock = {{ value = 1, unit = "GHz", source = "test" }}
tdp = {{ value = 10, unit = "W", source = "test" }}
static_power = {{ value = 1, unit = "W", source = "test" }}
process_node = {{ value = 7, unit = "nm", source = "test" }}
op_overhead = {{ value = 0, unit = "us", source = "test" }}

[[engines]]
name = "simd"
kind = "vector"
n_units = {{ value = {n_units}, source = "test" }}
efficiency = {{ value = 1.0, source = "test" }}
ops_per_cycle.fp32 = {{ value = {ops_per_cycle:g}, source = "test" }}
{bf16_ops}
energy_per_op.fp32 = {{ value = 1, unit = "pJ/op", source = "test" }}
{bf16_energy}
{engine_extra}
{SRAM if sram else ""}
[[memories]]
name = "dram"
kind = "dram"
read_by = ["simd"]
capacity = {{ value = 8, unit = "GB", source = "test" }}
bandwidth = {{ value = {dram_GB_per_s:g}, unit = "GB/s", source = "test" }}
energy_per_byte = {{ value = 10, unit = "pJ/B", source = "test" }}
{dram_extra}"""
