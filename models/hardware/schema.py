"""The Target schema: one device of any class (gpu, cpu, mcu, npu, pim).

A target has compute *engines* (tensor cores, vector units, systolic arrays, PIM bank units,
LUT units ...) and *memory levels* (SRAM, caches, DRAM/HBM, PIM-internal bank bandwidth).
Each memory level says which engines read from it; an engine's *path* is the list of levels
that it reads from, innermost first.

All numbers are SI. Every number has a source, kept in ``sources`` under the field's path.
Field ranges and units are declared once, in :data:`FIELD_SPECS`, and drive validation,
dashboard widget bounds and search bounds alike.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from models.hardware.dtypes import DTYPES, fallback_chain
from models.params import Param
from models.workloads.kinds import OP_KINDS

__all__ = [
    "ENGINE_KINDS",
    "FIELD_SPECS",
    "MEMORY_KINDS",
    "OP_KINDS",
    "PROVENANCES",
    "TARGET_CLASSES",
    "Engine",
    "MemoryLevel",
    "Target",
    "field_spec",
]

TARGET_CLASSES = ("gpu", "cpu", "mcu", "npu", "pim")
ENGINE_KINDS = (
    "tensor",  # matrix units: tensor cores, cube units
    "vector",  # SIMD / CUDA cores / Helium / NEON
    "scalar",
    "systolic",
    "lut",  # table-lookup units
    "pim",  # processing units at the memory banks or on the memory logic die
)
MEMORY_KINDS = ("register", "sram", "cache", "dram", "hbm", "pim_bank")
CONTENDED_FIELDS = ("contended_bandwidth", "contended_units")
"""Optional fields of a memory level with a shared limit: what more streams draw past its peak."""
HOST_CHANNEL_FIELDS = ("host_bandwidth", "host_energy_per_byte", "host_channels")
"""Optional fields of a ``pim_bank`` level: the channel its activations cross (kernel.Channel)."""
OVERLAP_POLICIES = ("max", "sum")
# How a target's numbers were obtained, the rungs of the calibration ladder (docs/calibration.md):
# an ideal roofline, efficiencies from documents, measured on the device by `tradespace calibrate`,
# fitted to measured workloads. A file that does not say is a datasheet preset.
PROVENANCES = ("ideal", "datasheet", "calibrated-microbenchmark", "calibrated-trace")
# Per-operator-kind tables of an engine: an efficiency, and the two size curves.
ENGINE_KIND_TABLES = ("efficiency_by_kind", "efficiency_half_k", "efficiency_half_m")


def _F(*, name: str, dimension: str, unit: str, low: float, high: float, low_open: bool = False,
       log: bool = False, description: str = "", kind: str = "float") -> Param:
    # counts are plain numbers (no unit conversion); every other field has a physical dimension
    return Param(name=name, kind=kind, dimension=None if dimension == "count" else dimension,
                 unit=unit, low=low, high=high, low_open=low_open, log=log, help=description, role="field",
                 applies_to="target")


# The one declaration of every numeric field. Keys are the field names used in TOML files
# and, prefixed with "engines.<name>." or "memories.<name>.", in override paths.
FIELD_SPECS: dict[str, Param] = {
    # target level
    "clock": _F(name="clock", dimension="frequency", unit="GHz", low=0, high=1e11,
                low_open=True, log=True, description="reference clock"),
    "tdp": _F(name="tdp", dimension="power", unit="W", low=0, high=1e5, low_open=True,
              log=True, description="thermal design power"),
    "static_power": _F(name="static_power", dimension="power", unit="W", low=0, high=1e5,
                       log=False, description="power drawn whenever the device is on"),
    "stall_power": _F(name="stall_power", dimension="power", unit="W", low=0, high=1e5,
                      log=False, description="power drawn above static_power while the device runs a job but "
                                             "its engine is not computing (waiting on memory or launches: "
                                             "clock tree, schedulers, memory controllers and PHYs kept "
                                             "active); charged over latency - compute time"),
    # the device's interconnect to its peers (models.parallel: collectives of tensor / pipeline /
    # expert parallelism); optional: a target without one cannot run a multi-device plan
    "link_bandwidth": _F(name="link_bandwidth", dimension="bandwidth", unit="GB/s", low=0, high=1e16,
                         low_open=True, log=True,
                         description="interconnect bandwidth per device and direction (collectives)"),
    "link_latency": _F(name="link_latency", dimension="time", unit="us", low=0, high=1.0,
                       description="per-message latency of one collective step on the interconnect"),
    "link_energy_per_byte": _F(name="link_energy_per_byte", dimension="energy_per_byte", unit="pJ/B", low=0,
                               high=1e-6, description="energy per byte sent over the interconnect"),
    "process_node": _F(name="process_node", dimension="length", unit="nm", low=0, high=1e-6,
                       low_open=True, description="process node"),
    "area": _F(name="area", dimension="area", unit="mm2", low=0, high=1e-2, low_open=True,
               description="die area"),
    "op_overhead": _F(name="op_overhead", dimension="time", unit="us", low=0, high=1.0,
                      description="fixed time per operator invocation (launch, dispatch)"),
    "first_touch_threshold": _F(name="first_touch_threshold", dimension="bytes", unit="MiB", low=0, high=1e15,
                                low_open=True, log=True,
                                description="size from which an operator's output is a fresh mapping from the "
                                            "OS on every call (an eager runtime's allocator: glibc maps "
                                            "requests of at least its mmap threshold and unmaps them on free)"),
    "first_touch_bandwidth": _F(name="first_touch_bandwidth", dimension="bandwidth", unit="GB/s", low=0,
                                high=1e16, low_open=True, log=True,
                                description="rate at which such a fresh output's pages are faulted in and "
                                            "zeroed by the OS on first write, paid in series with the operator"),
    # engine level
    # a whole number of units: the loader, overrides and design spaces all refuse 0.5 units
    "n_units": _F(name="n_units", dimension="count", unit="count", low=0, high=1e9, kind="int",
                  low_open=True, log=True, description="parallel units (SMs' tensor cores, cores, PEs)"),
    "engine_clock": _F(name="clock", dimension="frequency", unit="GHz", low=0, high=1e11,
                       low_open=True, log=True, description="engine clock, if not the target's"),
    "efficiency": _F(name="efficiency", dimension="dimensionless", unit="1", low=0, high=1,
                     low_open=True, description="achievable fraction of peak"),
    "half_k": _F(name="efficiency_half_k", dimension="count", unit="count", low=0, high=1e9,
                 low_open=True, log=True,
                 description="size curve: reduction length k at which an operator kind reaches half "
                             "its efficiency (efficiency x k / (k + half_k))"),
    "half_m": _F(name="efficiency_half_m", dimension="count", unit="count", low=0, high=1e9,
                 low_open=True, log=True,
                 description="tile fill: output rows m at which an operator kind reaches half its "
                             "efficiency (efficiency x m / (m + half_m)); a matrix engine's tiles are "
                             "padded when m (tokens x batch) is small"),
    "ops_per_cycle": _F(name="ops_per_cycle", dimension="ops_per_cycle", unit="op/cycle",
                        low=0, high=1e9, low_open=True, log=True,
                        description="operations (FLOP: 2 per MAC) per cycle per unit"),
    "energy_per_op": _F(name="energy_per_op", dimension="energy_per_op", unit="pJ/op", low=0,
                        high=1e-6, low_open=True, log=True,
                        description="dynamic energy per operation (FLOP: 2 per MAC)"),
    # zero-skipping (sparsity-aware engines; models.algorithms.sparsity)
    "zero_skip_efficiency": _F(name="zero_skip_efficiency", dimension="dimensionless", unit="1", low=0, high=1,
                               low_open=True, description="zero-skipping engine: fraction of the MACs with a zero "
                                                          "activation operand it really skips (absent: a dense "
                                                          "engine, activation sparsity changes nothing)"),
    "zero_skip_index_bits": _F(name="zero_skip_index_bits", dimension="count", unit="count", low=0, high=64,
                               description="zero-skipping engine: index / metadata bits stored and read per "
                                           "nonzero activation"),
    # memory level
    "capacity": _F(name="capacity", dimension="bytes", unit="GB", low=0, high=1e15,
                   low_open=True, log=True, description="capacity"),
    "bandwidth": _F(name="bandwidth", dimension="bandwidth", unit="GB/s", low=0, high=1e16,
                    low_open=True, log=True, description="peak bandwidth"),
    "per_unit_bandwidth": _F(name="per_unit_bandwidth", dimension="bandwidth", unit="GB/s", low=0,
                             high=1e16, low_open=True, log=True,
                             description="most one unit (core) of a reading engine can draw from this "
                                         "level; the engine gets min(bandwidth, n_units x this, "
                                         "sustained_bandwidth)"),
    "sustained_bandwidth": _F(name="sustained_bandwidth", dimension="bandwidth", unit="GB/s", low=0,
                              high=1e16, low_open=True, log=True,
                              description="most all units of one reading engine together sustain from this "
                                          "level (a STREAM-type measurement of the core complex); shared by "
                                          "the engine's units: it gets min(bandwidth, n_units x "
                                          "per_unit_bandwidth, this)"),
    "contended_bandwidth": _F(name="contended_bandwidth", dimension="bandwidth", unit="GB/s", low=0,
                              high=1e16, low_open=True, log=True,
                              description="what contended_units units of a reading engine draw together when all "
                                          "of them stream (a STREAM-type run at that thread count), below "
                                          "sustained_bandwidth: the shared limit falls linearly from "
                                          "sustained_bandwidth at the units where n x per_unit_bandwidth reaches "
                                          "it to this at contended_units"),
    "contended_units": _F(name="contended_units", dimension="count", unit="count", low=1, high=1e6,
                          description="the unit (thread) count of contended_bandwidth's measurement"),
    "energy_per_byte": _F(name="energy_per_byte", dimension="energy_per_byte", unit="pJ/B",
                          low=0, high=1e-6, low_open=False, log=False,
                          description="dynamic energy per byte moved"),
    # the host channel of a processing-in-memory level (kind pim_bank; kernel.Channel)
    "host_bandwidth": _F(name="host_bandwidth", dimension="bandwidth", unit="GB/s", low=0, high=1e16,
                         low_open=True, log=True,
                         description="PIM banks: bandwidth of the channels between the host (or controller) and "
                                     "the banks, all channels together, which an operator's activations in and "
                                     "out cross (x this level's efficiency)"),
    "host_energy_per_byte": _F(name="host_energy_per_byte", dimension="energy_per_byte", unit="pJ/B", low=0,
                               high=1e-6, low_open=False, log=False,
                               description="PIM banks: energy per byte crossing the host channel"),
    "host_channels": _F(name="host_channels", dimension="count", unit="count", low=1, high=1e6, kind="int",
                        description="PIM banks: independent channels behind the host channel; each holds its "
                                    "rows of a matrix and receives the whole input vector, so an input "
                                    "crosses it this many times"),
    "memory_efficiency": _F(name="efficiency", dimension="dimensionless", unit="1", low=0,
                            high=1, low_open=True, description="achievable fraction of peak bandwidth"),
}


@functools.cache
def field_spec(path: str) -> Param:
    """The declaration of an override path such as ``memories.hbm.bandwidth``, named by the path.

    Raises KeyError for a path no field has.
    """
    try:
        return dataclasses.replace(_leaf_spec(path), name=path)
    except (KeyError, IndexError):
        raise KeyError(f"no target field {path!r}") from None


def _leaf_spec(path: str) -> Param:
    parts = path.split(".")
    if parts[0] == "engines" and len(parts) >= 3:
        leaf = parts[2]
        if leaf == "clock":
            return FIELD_SPECS["engine_clock"]
        if leaf == "efficiency_half_m_by_dtype" and len(parts) == 5:
            return FIELD_SPECS["half_m"]
        if leaf in ("ops_per_cycle", "energy_per_op") + ENGINE_KIND_TABLES and len(parts) == 4:
            return FIELD_SPECS[{"efficiency_by_kind": "efficiency", "efficiency_half_k": "half_k",
                                "efficiency_half_m": "half_m"}.get(leaf, leaf)]
        return FIELD_SPECS[leaf]
    if parts[0] == "memories" and len(parts) == 3:
        return FIELD_SPECS["memory_efficiency" if parts[2] == "efficiency" else parts[2]]
    if parts[0] == "memories" and len(parts) == 4 and parts[2] == "efficiency_by_kind":
        return FIELD_SPECS["memory_efficiency"]
    return FIELD_SPECS[parts[0]]


@dataclass(frozen=True, kw_only=True)
class Engine:
    """A compute engine. Rates are per unit per cycle; peak = n_units x rate x clock.

    Attributes
    ----------
    ops_per_cycle
        Operations per cycle per unit, per datatype (FLOP for floats, OP for integers; a MAC
        is 2 operations).
    energy_J_per_op
        Dynamic energy per operation (J), per datatype. Every datatype with a rate has one.
    efficiency
        Achievable fraction of peak for operators of any kind; ``efficiency_by_kind`` refines
        it for some operator kinds (for example GEMV on a GPU).
    efficiency_half_k
        Optional size curve per operator kind: the efficiency of an operator of that kind is
        multiplied by ``k / (k + half_k)``, ``k`` being its reduction length (GEMM K, a group
        conv's ``c_in/groups x kh x kw``): short reductions cannot keep the datapath busy.
    efficiency_half_m
        Optional tile-fill curve per operator kind: the efficiency is multiplied by
        ``m / (m + half_m)``, ``m`` being the operator's output rows (tokens x batch of a
        projection): a matrix engine pads small ``m`` to its tile height.
    efficiency_half_m_by_dtype
        Optional tile-fill curves of one datatype (``{dtype: {kind: half_m}}``), in place of
        ``efficiency_half_m[kind]`` for operators the engine computes in that datatype: a CPU
        runtime's bf16 kernels can fill their tiles at another ``m`` than its fp32 ones.
    runs
        Operator kinds the engine can execute (tensor cores run matrix kinds only; a vector
        unit runs everything). Default: every kind.
    """

    name: str
    kind: str
    n_units: float
    clock_Hz: float | None
    ops_per_cycle: Mapping[str, float]
    energy_J_per_op: Mapping[str, float]
    efficiency: float
    efficiency_by_kind: Mapping[str, float] = field(default_factory=dict)
    efficiency_half_k: Mapping[str, float] = field(default_factory=dict)
    efficiency_half_m: Mapping[str, float] = field(default_factory=dict)
    efficiency_half_m_by_dtype: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    runs: tuple[str, ...] = OP_KINDS
    sources: Mapping[str, str] = field(default_factory=dict)
    # zero-skipping (models.algorithms.sparsity): None is a dense engine
    zero_skip_efficiency: float | None = None
    zero_skip_index_bits: float = 0.0

    def peak_op_per_s(self, dtype: str, target_clock_Hz: float) -> float:
        """Native peak rate for ``dtype`` in OP/s (FLOP/s), or 0.0 if the engine lacks it."""
        rate = self.ops_per_cycle.get(dtype)
        if rate is None:
            return 0.0
        clock = self.clock_Hz if self.clock_Hz is not None else target_clock_Hz
        return self.n_units * rate * clock

    def resolve_dtype(self, dtype: str) -> str | None:
        """The datatype this engine really computes ``dtype`` in (itself, or its fallback)."""
        for d in fallback_chain(dtype):
            if d in self.ops_per_cycle:
                return d
        return None


@dataclass(frozen=True, kw_only=True)
class MemoryLevel:
    """A memory level: capacity, bandwidth, energy per byte, and the engines that read it.

    ``per_unit_bandwidth_B_per_s`` (optional) caps what one unit (core, SM) of a reading engine
    can draw, and ``sustained_bandwidth_B_per_s`` (optional) what all its units together can
    draw (the cluster's shared limit, from a STREAM-type measurement): an engine with ``n``
    units gets ``min(bandwidth x efficiency, n x per_unit, sustained)``, so a single CPU core
    cannot stream at the whole socket's DRAM bandwidth, and adding cores stops helping once
    the core complex saturates. ``contended_bandwidth_B_per_s`` / ``contended_units`` (optional,
    both or neither, with both of the former) say that more streams than that draw less (DRAM
    page conflicts, fabric arbitration): ``contended_units`` units together draw
    ``contended_bandwidth``, and the shared limit falls linearly to it from ``sustained`` at the
    knee ``sustained / per_unit`` (flat beyond ``contended_units``;
    :func:`models.perf.compiled.shared_limit`).

    ``efficiency_by_kind`` (optional) refines ``efficiency`` per operator kind, as an engine's
    table does for its rate: an operator of a listed kind draws ``bandwidth x
    efficiency_by_kind[kind]`` from this level (under the same caps) in place of ``bandwidth x
    efficiency``. It is what a kernel class really streams, measured or documented: a runtime's
    GEMV can read weights from DRAM at a fraction of what a STREAM loop draws (it blocks,
    packs or prefetches differently), which one level-wide efficiency cannot say without
    slowing every other kind too.
    """

    name: str
    kind: str
    capacity_B: float
    bandwidth_B_per_s: float
    energy_J_per_B: float
    efficiency: float = 1.0
    efficiency_by_kind: Mapping[str, float] = field(default_factory=dict)
    per_unit_bandwidth_B_per_s: float | None = None
    sustained_bandwidth_B_per_s: float | None = None
    contended_bandwidth_B_per_s: float | None = None
    contended_units: float | None = None
    # processing-in-memory banks only: the host channel (None: not declared, every byte at the
    # level's own bandwidth)
    host_bandwidth_B_per_s: float | None = None
    host_energy_J_per_B: float | None = None
    host_channels: float = 1.0
    read_by: tuple[str, ...] = ()
    sources: Mapping[str, str] = field(default_factory=dict)


_LINK_ATTR = {"link_bandwidth": "link_bandwidth_B_per_s", "link_latency": "link_latency_s",
              "link_energy_per_byte": "link_energy_J_per_B"}


@dataclass(frozen=True, kw_only=True)
class Target:
    """One device. See the module docstring."""

    name: str
    display_name: str
    target_class: str
    description: str
    clock_Hz: float
    tdp_W: float
    static_power_W: float
    process_node_m: float
    area_m2: float | None
    op_overhead_s: float
    overlap: str
    engines: tuple[Engine, ...]
    memories: tuple[MemoryLevel, ...]
    sources: Mapping[str, str] = field(default_factory=dict)
    path: Path | None = None
    # active-but-stalled power above static (None: not declared, priced as 0 W)
    stall_power_W: float | None = None
    # outputs of at least first_touch_threshold_B bytes are fresh OS mappings, first written at
    # first_touch_bandwidth_B_per_s (both or neither; None: no such cost)
    first_touch_threshold_B: float | None = None
    first_touch_bandwidth_B_per_s: float | None = None
    # the rung of the calibration ladder the numbers stand on (one of PROVENANCES)
    provenance: str = "datasheet"
    # the interconnect (a data/links.toml name, or "" when the file gives the link fields itself) and
    # its figures; None: no interconnect declared (multi-device plans are refused)
    interconnect: str = ""
    link_bandwidth_B_per_s: float | None = None
    link_latency_s: float | None = None
    link_energy_J_per_B: float | None = None

    # ------------------------------------------------------------------ lookups
    def engine(self, name: str) -> Engine:
        for e in self.engines:
            if e.name == name:
                return e
        raise KeyError(
            f"target {self.name!r} has no engine {name!r}; engines: "
            f"{', '.join(e.name for e in self.engines)}"
        )

    def memory(self, name: str) -> MemoryLevel:
        for m in self.memories:
            if m.name == name:
                return m
        raise KeyError(
            f"target {self.name!r} has no memory level {name!r}; levels: "
            f"{', '.join(m.name for m in self.memories)}"
        )

    def path_of(self, engine: str) -> tuple[MemoryLevel, ...]:
        """Memory levels ``engine`` reads from, innermost first."""
        return tuple(m for m in self.memories if engine in m.read_by)

    def main_memory(self, engine: str | None = None) -> MemoryLevel:
        """The outermost level an engine (default: the first engine) reads from."""
        return self.path_of(engine or self.engines[0].name)[-1]

    def pim_engines(self) -> frozenset[int]:
        """Indices of the engines of kind ``pim``, for NPU/PIM concurrency (``pim_concurrency``).

        Raises ValueError naming the knob when the target has no PIM engine beside another engine.
        """
        pim = frozenset(i for i, e in enumerate(self.engines) if e.kind == "pim")
        if not pim or len(pim) == len(self.engines):
            raise ValueError(f"algorithm knob 'pim_concurrency' = 'interleaved' needs a target with a PIM engine and "
                             f"another engine (NeuPIMs: an NPU beside PIM banks); target {self.name!r} has "
                             f"{', '.join(f'{e.name} ({e.kind})' for e in self.engines)}")
        return pim

    def peak_op_per_s(self, dtype: str, engine: str | None = None) -> float:
        """Native peak of one engine (default: the fastest engine for ``dtype``)."""
        if engine is not None:
            return self.engine(engine).peak_op_per_s(dtype, self.clock_Hz)
        return max(e.peak_op_per_s(dtype, self.clock_Hz) for e in self.engines)

    def ridge_point_FLOP_per_B(self, dtype: str, engine: str | None = None,
                               memory: str | None = None) -> float:
        """Peak / bandwidth: the arithmetic intensity where an operator turns compute-bound."""
        eng = engine or max(self.engines, key=lambda e: e.peak_op_per_s(dtype, self.clock_Hz)).name
        mem = self.memory(memory) if memory else self.main_memory(eng)
        return self.peak_op_per_s(dtype, eng) / mem.bandwidth_B_per_s

    # ------------------------------------------------------------------ numeric fields
    def numeric_fields(self) -> dict[str, tuple[float | None, Param, str]]:
        """Every numeric field as ``path -> (SI value, Param, source)``.

        The paths are the ones :func:`models.hardware.with_overrides` and design spaces use.
        """
        out: dict[str, tuple[float | None, Param, str]] = {}

        def put(path: str, value: float | None, source: str) -> None:
            out[path] = (value, field_spec(path), source)

        s = self.sources
        put("clock", self.clock_Hz, s.get("clock", ""))
        put("tdp", self.tdp_W, s.get("tdp", ""))
        put("static_power", self.static_power_W, s.get("static_power", ""))
        if self.stall_power_W is not None:
            put("stall_power", self.stall_power_W, s.get("stall_power", ""))
        for key in ("link_bandwidth", "link_latency", "link_energy_per_byte"):
            v = getattr(self, _LINK_ATTR[key])
            if v is not None:
                put(key, v, s.get(key, ""))
        put("process_node", self.process_node_m, s.get("process_node", ""))
        if self.area_m2 is not None:
            put("area", self.area_m2, s.get("area", ""))
        put("op_overhead", self.op_overhead_s, s.get("op_overhead", ""))
        if self.first_touch_threshold_B is not None and self.first_touch_bandwidth_B_per_s is not None:
            put("first_touch_threshold", self.first_touch_threshold_B, s.get("first_touch_threshold", ""))
            put("first_touch_bandwidth", self.first_touch_bandwidth_B_per_s, s.get("first_touch_bandwidth", ""))
        for e in self.engines:
            p = f"engines.{e.name}."
            put(p + "n_units", e.n_units, e.sources.get("n_units", ""))
            if e.clock_Hz is not None:
                put(p + "clock", e.clock_Hz, e.sources.get("clock", ""))
            put(p + "efficiency", e.efficiency, e.sources.get("efficiency", ""))
            for k, v in e.efficiency_by_kind.items():
                put(p + f"efficiency_by_kind.{k}", v, e.sources.get(f"efficiency_by_kind.{k}", ""))
            for k, v in e.efficiency_half_k.items():
                put(p + f"efficiency_half_k.{k}", v, e.sources.get(f"efficiency_half_k.{k}", ""))
            for k, v in e.efficiency_half_m.items():
                put(p + f"efficiency_half_m.{k}", v, e.sources.get(f"efficiency_half_m.{k}", ""))
            for d, tbl in e.efficiency_half_m_by_dtype.items():
                for k, v in tbl.items():
                    key = f"efficiency_half_m_by_dtype.{d}.{k}"
                    put(p + key, v, e.sources.get(key, ""))
            for d, v in e.ops_per_cycle.items():
                put(p + f"ops_per_cycle.{d}", v, e.sources.get(f"ops_per_cycle.{d}", ""))
            for d, v in e.energy_J_per_op.items():
                put(p + f"energy_per_op.{d}", v, e.sources.get(f"energy_per_op.{d}", ""))
            if e.zero_skip_efficiency is not None:
                put(p + "zero_skip_efficiency", e.zero_skip_efficiency, e.sources.get("zero_skip_efficiency", ""))
                put(p + "zero_skip_index_bits", e.zero_skip_index_bits, e.sources.get("zero_skip_index_bits", ""))
        for m in self.memories:
            p = f"memories.{m.name}."
            put(p + "capacity", m.capacity_B, m.sources.get("capacity", ""))
            put(p + "bandwidth", m.bandwidth_B_per_s, m.sources.get("bandwidth", ""))
            put(p + "energy_per_byte", m.energy_J_per_B, m.sources.get("energy_per_byte", ""))
            put(p + "efficiency", m.efficiency, m.sources.get("efficiency", "model default: 1.0 (ideal)"))
            for k, v in m.efficiency_by_kind.items():
                put(p + f"efficiency_by_kind.{k}", v, m.sources.get(f"efficiency_by_kind.{k}", ""))
            if m.per_unit_bandwidth_B_per_s is not None:
                put(p + "per_unit_bandwidth", m.per_unit_bandwidth_B_per_s, m.sources.get("per_unit_bandwidth", ""))
            if m.sustained_bandwidth_B_per_s is not None:
                put(p + "sustained_bandwidth", m.sustained_bandwidth_B_per_s,
                    m.sources.get("sustained_bandwidth", ""))
            if m.contended_bandwidth_B_per_s is not None and m.contended_units is not None:
                put(p + "contended_bandwidth", m.contended_bandwidth_B_per_s, m.sources.get("contended_bandwidth", ""))
                put(p + "contended_units", m.contended_units, m.sources.get("contended_units", ""))
            if m.host_bandwidth_B_per_s is not None:
                put(p + "host_bandwidth", m.host_bandwidth_B_per_s, m.sources.get("host_bandwidth", ""))
                put(p + "host_energy_per_byte", m.host_energy_J_per_B, m.sources.get("host_energy_per_byte", ""))
                put(p + "host_channels", m.host_channels, m.sources.get("host_channels", "model default: 1"))
        return out

    def native_dtypes(self) -> tuple[str, ...]:
        """Datatypes that at least one engine runs natively, in :data:`DTYPES` order."""
        have = {d for e in self.engines for d in e.ops_per_cycle}
        return tuple(d for d in DTYPES if d in have)

    def replace(self, **changes: object) -> Target:
        return replace(self, **changes)  # type: ignore[arg-type]
