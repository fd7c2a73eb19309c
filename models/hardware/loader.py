"""Strict TOML loading of targets: parse -> validate -> construct.

Every numeric field in a target file is an inline table ``{ value = ..., unit = "...",
source = "..." }``. The unit may be left out only for dimensionless fields, counts and
per-cycle rates. Unknown keys, missing keys, duplicate keys (TOML itself refuses them),
non-finite or out-of-range values, unknown datatypes and unknown units are all errors that
name the file, the field, the value received and what is allowed.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from models.hardware.dtypes import DTYPES
from models.hardware.schema import (
    CONTENDED_FIELDS,
    ENGINE_KIND_TABLES,
    ENGINE_KINDS,
    FIELD_SPECS,
    HOST_CHANNEL_FIELDS,
    MEMORY_KINDS,
    OP_KINDS,
    OVERLAP_POLICIES,
    PROVENANCES,
    TARGET_CLASSES,
    Engine,
    MemoryLevel,
    Target,
)
from models.io import UnreadableFile, read_text
from models.params import Param, ParamError

__all__ = ["TargetFileError", "check_target", "load_target_file", "parse_target", "target_to_toml"]

_UNITLESS_DIMENSIONS = ("dimensionless", "ops_per_cycle")


class TargetFileError(ValueError):
    """A target file that does not follow the schema.

    Attributes name the file, the field (dotted path), the value received and what is allowed.
    """

    def __init__(self, file: str, field: str, value: object, allowed: str) -> None:
        self.file, self.field, self.value, self.allowed = file, field, value, allowed
        super().__init__(f"{file}: field {field!r}: got {_short(value)!r}; {allowed}")


class _Ctx:
    def __init__(self, file: str) -> None:
        self.file = file

    def fail(self, field: str, value: object, allowed: str) -> TargetFileError:
        return TargetFileError(self.file, field, value, allowed)

    def keys(self, table: Mapping[str, Any], where: str, required: set[str],
             optional: set[str]) -> None:
        for k in table:
            if k not in required | optional:
                raise self.fail(f"{where}{k}", table[k],
                                f"unknown key; allowed keys here: {', '.join(sorted(required | optional))}")
        for k in sorted(required):
            if k not in table:
                raise self.fail(f"{where}{k}", "<missing>", "this key is required")

    def string(self, table: Mapping[str, Any], key: str, where: str,
               choices: tuple[str, ...] | None = None) -> str:
        v = table[key]
        if not isinstance(v, str) or not v.strip():
            raise self.fail(where + key, v, "a non-empty string is required")
        if choices is not None and v not in choices:
            raise self.fail(where + key, v, f"allowed: {', '.join(choices)}")
        return v

    def quantity(self, raw: object, path: str, spec: Param) -> tuple[float, str]:
        """Parse ``{value, unit, source}`` into (SI value, source)."""
        if not isinstance(raw, Mapping):
            raise self.fail(path, raw, 'an inline table { value = ..., unit = "...", source = "..." } is required')
        self.keys(raw, path + ".", {"value", "source"}, {"unit"})
        value = raw["value"]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(path + ".value", value, "a number is required")
        try:
            finite = math.isfinite(value)
        except OverflowError:  # an integer beyond any float (TOML integers are unbounded)
            finite = False
        if not finite:
            raise self.fail(path + ".value", value, "a finite number is required; " + spec.allowed())
        source = raw["source"]
        if not isinstance(source, str) or len(source.strip()) < 3:
            raise self.fail(path + ".source", source,
                            "every number needs a source: a document with table/page, or a URL, or 'derived: ...'")
        unit = raw.get("unit")
        if unit is not None and not isinstance(unit, str):
            raise self.fail(path + ".unit", unit, f"a unit name (a string) is required, e.g. {spec.unit!r}")
        if unit is None:
            if spec.dimension is not None and spec.dimension not in _UNITLESS_DIMENSIONS:
                raise self.fail(path + ".unit", "<missing>", f"a {spec.dimension} unit is required, e.g. {spec.unit!r}")
            si = float(value)
        else:
            try:
                si = spec.to_si(value, unit)
            except ParamError as exc:
                raise self.fail(path + ".unit", unit, exc.allowed) from None
        problem = spec.problem(si)
        if problem:
            raise self.fail(path + ".value", value, problem)
        return si, source

    def per_dtype(self, raw: object, path: str, spec: Param) -> tuple[dict[str, float], dict[str, str]]:
        if not isinstance(raw, Mapping) or not raw:
            raise self.fail(path, raw, f"a table keyed by datatype is required; datatypes: {', '.join(DTYPES)}")
        values: dict[str, float] = {}
        sources: dict[str, str] = {}
        for d, q in raw.items():
            if d not in DTYPES:
                raise self.fail(f"{path}.{d}", d, f"unknown datatype; allowed: {', '.join(DTYPES)}")
            values[d], sources[d] = self.quantity(q, f"{path}.{d}", spec)
        return values, sources


def _per_kind(ctx: _Ctx, raw: Mapping[str, Any], key: str, where: str, spec: Param,
              sources: dict[str, str]) -> dict[str, float]:
    """An optional table keyed by operator kind, e.g. ``efficiency_by_kind``; fills ``sources``."""
    out: dict[str, float] = {}
    if key not in raw:
        return out
    tbl = raw[key]
    if not isinstance(tbl, Mapping):
        raise ctx.fail(where + key, tbl, "a table keyed by operator kind is required")
    for k, q in tbl.items():
        if k not in OP_KINDS:
            raise ctx.fail(f"{where}{key}.{k}", k, f"unknown operator kind; allowed: {', '.join(OP_KINDS)}")
        out[k], sources[f"{key}.{k}"] = ctx.quantity(q, f"{where}{key}.{k}", spec)
    return out


def _parse_engine(ctx: _Ctx, raw: object, i: int) -> Engine:
    where = f"engines[{i}]."
    if not isinstance(raw, Mapping):
        raise ctx.fail(where[:-1], raw, "a table is required")
    ctx.keys(raw, where, {"name", "kind", "n_units", "efficiency", "ops_per_cycle", "energy_per_op"},
             {"clock", "efficiency_by_kind", "efficiency_half_k", "efficiency_half_m", "efficiency_half_m_by_dtype",
              "runs", "zero_skip_efficiency", "zero_skip_index_bits"})
    name = ctx.string(raw, "name", where)
    where = f"engines.{name}."
    kind = ctx.string(raw, "kind", where, ENGINE_KINDS)
    sources: dict[str, str] = {}
    n_units, sources["n_units"] = ctx.quantity(raw["n_units"], where + "n_units", FIELD_SPECS["n_units"])
    eff, sources["efficiency"] = ctx.quantity(raw["efficiency"], where + "efficiency", FIELD_SPECS["efficiency"])
    clock = None
    if "clock" in raw:
        clock, sources["clock"] = ctx.quantity(raw["clock"], where + "clock", FIELD_SPECS["engine_clock"])
    rates, rs = ctx.per_dtype(raw["ops_per_cycle"], where + "ops_per_cycle", FIELD_SPECS["ops_per_cycle"])
    energies, es = ctx.per_dtype(raw["energy_per_op"], where + "energy_per_op", FIELD_SPECS["energy_per_op"])
    sources.update({f"ops_per_cycle.{d}": s for d, s in rs.items()})
    sources.update({f"energy_per_op.{d}": s for d, s in es.items()})
    for d in rates:
        if d not in energies:
            raise ctx.fail(f"{where}energy_per_op.{d}", "<missing>",
                           "every datatype with a rate in ops_per_cycle needs an energy_per_op")
    for d in energies:
        if d not in rates:
            raise ctx.fail(f"{where}ops_per_cycle.{d}", "<missing>",
                           "every datatype with an energy_per_op needs a rate in ops_per_cycle")
    by_kind = _per_kind(ctx, raw, "efficiency_by_kind", where, FIELD_SPECS["efficiency"], sources)
    half_k = _per_kind(ctx, raw, "efficiency_half_k", where, FIELD_SPECS["half_k"], sources)
    half_m = _per_kind(ctx, raw, "efficiency_half_m", where, FIELD_SPECS["half_m"], sources)
    half_m_dt: dict[str, dict[str, float]] = {}
    if "efficiency_half_m_by_dtype" in raw:
        key = "efficiency_half_m_by_dtype"
        tbl = raw[key]
        if not isinstance(tbl, Mapping):
            raise ctx.fail(where + key, tbl, "a table keyed by datatype, each a table keyed by operator kind, "
                                             "is required")
        for d, inner in tbl.items():
            if d not in DTYPES:
                raise ctx.fail(f"{where}{key}.{d}", d, f"unknown datatype; allowed: {', '.join(DTYPES)}")
            if d not in rates:  # another datatype runs in a fallback of it: its curve would never apply
                raise ctx.fail(f"{where}{key}.{d}", d, "a tile-fill curve is for a datatype the engine computes "
                                                       f"in (its ops_per_cycle: {', '.join(rates)})")
            got: dict[str, str] = {}
            half_m_dt[d] = _per_kind(ctx, {d: inner}, d, f"{where}{key}.", FIELD_SPECS["half_m"], got)
            sources.update({f"{key}.{k}": v for k, v in got.items()})
    runs = OP_KINDS
    if "runs" in raw:
        r = raw["runs"]
        if not isinstance(r, list) or not r or not all(isinstance(x, str) for x in r):
            raise ctx.fail(where + "runs", r,
                           f"a non-empty list of operator kinds is required; allowed: {', '.join(OP_KINDS)}")
        for x in r:
            if x not in OP_KINDS:
                raise ctx.fail(where + "runs", x, f"unknown operator kind; allowed: {', '.join(OP_KINDS)}")
        runs = tuple(r)
    zs_eff, zs_bits = None, 0.0
    if "zero_skip_index_bits" in raw and "zero_skip_efficiency" not in raw:
        raise ctx.fail(where + "zero_skip_efficiency", "<missing>",
                       "a zero-skipping engine declares zero_skip_efficiency with its zero_skip_index_bits")
    if "zero_skip_efficiency" in raw:
        zs_eff, sources["zero_skip_efficiency"] = ctx.quantity(raw["zero_skip_efficiency"],
                                                               where + "zero_skip_efficiency",
                                                               FIELD_SPECS["zero_skip_efficiency"])
        if "zero_skip_index_bits" not in raw:
            raise ctx.fail(where + "zero_skip_index_bits", "<missing>",
                           "a zero-skipping engine declares its index bits per nonzero (0 if it has none)")
        zs_bits, sources["zero_skip_index_bits"] = ctx.quantity(raw["zero_skip_index_bits"],
                                                                where + "zero_skip_index_bits",
                                                                FIELD_SPECS["zero_skip_index_bits"])
    return Engine(name=name, kind=kind, n_units=n_units, clock_Hz=clock, ops_per_cycle=rates,
                  energy_J_per_op=energies, efficiency=eff, efficiency_by_kind=by_kind,
                  efficiency_half_k=half_k, efficiency_half_m=half_m, efficiency_half_m_by_dtype=half_m_dt,
                  runs=runs,
                  sources=sources, zero_skip_efficiency=zs_eff, zero_skip_index_bits=zs_bits)


def _parse_memory(ctx: _Ctx, raw: object, i: int, engine_names: list[str]) -> MemoryLevel:
    where = f"memories[{i}]."
    if not isinstance(raw, Mapping):
        raise ctx.fail(where[:-1], raw, "a table is required")
    ctx.keys(raw, where, {"name", "kind", "read_by", "capacity", "bandwidth", "energy_per_byte"},
             {"efficiency", "efficiency_by_kind", "per_unit_bandwidth", "sustained_bandwidth", *CONTENDED_FIELDS,
              *HOST_CHANNEL_FIELDS})
    name = ctx.string(raw, "name", where)
    where = f"memories.{name}."
    kind = ctx.string(raw, "kind", where, MEMORY_KINDS)
    read_by = raw["read_by"]
    if not isinstance(read_by, list) or not read_by or not all(isinstance(x, str) for x in read_by):
        raise ctx.fail(where + "read_by", read_by, "a non-empty list of engine names is required")
    for e in read_by:
        if e not in engine_names:
            raise ctx.fail(where + "read_by", e, f"unknown engine; engines: {', '.join(engine_names)}")
    sources: dict[str, str] = {}
    cap, sources["capacity"] = ctx.quantity(raw["capacity"], where + "capacity", FIELD_SPECS["capacity"])
    bw, sources["bandwidth"] = ctx.quantity(raw["bandwidth"], where + "bandwidth", FIELD_SPECS["bandwidth"])
    epb, sources["energy_per_byte"] = ctx.quantity(raw["energy_per_byte"], where + "energy_per_byte",
                                                   FIELD_SPECS["energy_per_byte"])
    eff = 1.0
    if "efficiency" in raw:
        eff, sources["efficiency"] = ctx.quantity(raw["efficiency"], where + "efficiency",
                                                  FIELD_SPECS["memory_efficiency"])
    eff_kind = _per_kind(ctx, raw, "efficiency_by_kind", where, FIELD_SPECS["memory_efficiency"], sources)
    per_unit = None
    if "per_unit_bandwidth" in raw:
        per_unit, sources["per_unit_bandwidth"] = ctx.quantity(
            raw["per_unit_bandwidth"], where + "per_unit_bandwidth", FIELD_SPECS["per_unit_bandwidth"])
    sustained = None
    if "sustained_bandwidth" in raw:
        sustained, sources["sustained_bandwidth"] = ctx.quantity(
            raw["sustained_bandwidth"], where + "sustained_bandwidth", FIELD_SPECS["sustained_bandwidth"])
    contended: dict[str, float] = {}
    for k in CONTENDED_FIELDS:
        if k in raw:
            contended[k], sources[k] = ctx.quantity(raw[k], where + k, FIELD_SPECS[k])
    host: dict[str, float] = {}
    given = [k for k in HOST_CHANNEL_FIELDS if k in raw]
    if given and kind != "pim_bank":
        raise ctx.fail(where + given[0], raw[given[0]], "a host channel belongs to a processing-in-memory level "
                                                         "(kind = \"pim_bank\")")
    if given and not {"host_bandwidth", "host_energy_per_byte"} <= set(given):
        missing = sorted({"host_bandwidth", "host_energy_per_byte"} - set(given))
        raise ctx.fail(where + given[0], raw[given[0]],
                       f"a host channel needs {' and '.join(missing)} too (host_bandwidth, host_energy_per_byte; "
                       "host_channels optional)")
    for k in given:
        host[k], sources[k] = ctx.quantity(raw[k], where + k, FIELD_SPECS[k])
    return MemoryLevel(name=name, kind=kind, capacity_B=cap, bandwidth_B_per_s=bw, energy_J_per_B=epb,
                       efficiency=eff, efficiency_by_kind=eff_kind, per_unit_bandwidth_B_per_s=per_unit,
                       sustained_bandwidth_B_per_s=sustained,
                       contended_bandwidth_B_per_s=contended.get("contended_bandwidth"),
                       contended_units=contended.get("contended_units"),
                       host_bandwidth_B_per_s=host.get("host_bandwidth"),
                       host_energy_J_per_B=host.get("host_energy_per_byte"),
                       host_channels=host.get("host_channels", 1.0), read_by=tuple(read_by), sources=sources)


def _parse_link(ctx: _Ctx, data: Mapping[str, Any], sources: dict[str, str]) -> dict[str, Any]:
    """The interconnect: ``interconnect = "<data/links.toml name>"`` fills the three link fields from
    the catalogue (with its sources); a field given in the file itself wins over the catalogue's."""
    out: dict[str, Any] = {}
    if "interconnect" in data:
        from models.parallel.links import LinkError, load_links

        name = ctx.string(data, "interconnect", "")
        try:
            links = load_links()
        except LinkError as exc:
            raise ctx.fail("interconnect", name, f"the link catalogue cannot be read: {exc}") from None
        if name not in links:
            from models.params import did_you_mean

            raise ctx.fail("interconnect", name, f"unknown link{did_you_mean(name, links)}; allowed: "
                                                 f"{', '.join(links)} (data/links.toml)")
        ln = links[name]
        src = f"data/links.toml [{name}]: {ln.source}"
        out.update(interconnect=name, link_bandwidth_B_per_s=ln.bandwidth_B_per_s, link_latency_s=ln.latency_s,
                   link_energy_J_per_B=ln.energy_J_per_B)
        sources.update(link_bandwidth=src, link_latency=src)
        if ln.energy_J_per_B is not None:
            sources["link_energy_per_byte"] = src
    for key, attr in (("link_bandwidth", "link_bandwidth_B_per_s"), ("link_latency", "link_latency_s"),
                      ("link_energy_per_byte", "link_energy_J_per_B")):
        if key in data:
            out[attr], sources[key] = ctx.quantity(data[key], key, FIELD_SPECS[key])
    if out and out.get("link_bandwidth_B_per_s") is None:
        raise ctx.fail("link_bandwidth", None, "a target with link fields needs link_bandwidth (or an interconnect "
                                               "from data/links.toml)")
    return out


def parse_target(data: Mapping[str, Any], file: str = "<memory>", path: Path | None = None) -> Target:
    """Validate a parsed TOML document and build a :class:`Target`."""
    ctx = _Ctx(file)
    ctx.keys(data, "", {"name", "display_name", "class", "description", "overlap", "clock", "tdp",
                        "static_power", "process_node", "op_overhead", "engines", "memories"},
             {"area", "stall_power", "provenance", "interconnect", "link_bandwidth", "link_latency",
              "link_energy_per_byte", "first_touch_threshold", "first_touch_bandwidth"})
    name = ctx.string(data, "name", "")
    display = ctx.string(data, "display_name", "")
    cls = ctx.string(data, "class", "", TARGET_CLASSES)
    desc = ctx.string(data, "description", "")
    overlap = ctx.string(data, "overlap", "", OVERLAP_POLICIES)
    provenance = ctx.string(data, "provenance", "", PROVENANCES) if "provenance" in data else "datasheet"
    sources: dict[str, str] = {}
    vals: dict[str, float] = {}
    for key in ("clock", "tdp", "static_power", "process_node", "op_overhead"):
        vals[key], sources[key] = ctx.quantity(data[key], key, FIELD_SPECS[key])
    area = None
    if "area" in data:
        area, sources["area"] = ctx.quantity(data["area"], "area", FIELD_SPECS["area"])
    stall = None
    if "stall_power" in data:
        stall, sources["stall_power"] = ctx.quantity(data["stall_power"], "stall_power", FIELD_SPECS["stall_power"])
    touch: dict[str, float | None] = {"first_touch_threshold": None, "first_touch_bandwidth": None}
    for key in touch:
        if key in data:
            touch[key], sources[key] = ctx.quantity(data[key], key, FIELD_SPECS[key])
    link = _parse_link(ctx, data, sources)
    raw_engines = data["engines"]
    if not isinstance(raw_engines, list) or not raw_engines:
        raise ctx.fail("engines", raw_engines, "a non-empty array of tables [[engines]] is required")
    engines = [_parse_engine(ctx, r, i) for i, r in enumerate(raw_engines)]
    names = [e.name for e in engines]
    if len(set(names)) != len(names):
        raise ctx.fail("engines.name", names, "engine names must be unique")
    raw_mems = data["memories"]
    if not isinstance(raw_mems, list) or not raw_mems:
        raise ctx.fail("memories", raw_mems, "a non-empty array of tables [[memories]] is required")
    mems = [_parse_memory(ctx, r, i, names) for i, r in enumerate(raw_mems)]
    mnames = [m.name for m in mems]
    if len(set(mnames)) != len(mnames):
        raise ctx.fail("memories.name", mnames, "memory level names must be unique")
    t = Target(name=name, display_name=display, target_class=cls, description=desc,
               clock_Hz=vals["clock"], tdp_W=vals["tdp"], static_power_W=vals["static_power"],
               process_node_m=vals["process_node"], area_m2=area, op_overhead_s=vals["op_overhead"],
               overlap=overlap, engines=tuple(engines), memories=tuple(mems), sources=sources, path=path,
               stall_power_W=stall, provenance=provenance, first_touch_threshold_B=touch["first_touch_threshold"],
               first_touch_bandwidth_B_per_s=touch["first_touch_bandwidth"], **link)
    check_target(t, file)
    return t


def check_target(t: Target, file: str) -> None:
    """The rules between fields of a target: the same for a target file and an overridden copy.

    Every single field is checked against its declaration (:data:`FIELD_SPECS`) where it is
    read (:func:`parse_target`) or set (:func:`models.hardware.with_overrides`); this checks
    what no single field can: static power within TDP, a memory path for every engine, and
    capacities that do not shrink along an engine's path.

    Raises
    ------
    TargetFileError
        Naming ``file``, the field and what is allowed.
    """
    ctx = _Ctx(file)
    if t.static_power_W > t.tdp_W:
        raise ctx.fail("static_power", t.static_power_W, f"must not exceed tdp ({t.tdp_W:g} W)")
    if t.stall_power_W is not None and t.static_power_W + t.stall_power_W > t.tdp_W:
        # the stalled state (static + stall) is one of the device's power states: within its TDP
        raise ctx.fail("stall_power", t.stall_power_W,
                       f"static_power + stall_power must not exceed tdp ({t.static_power_W:g} W + "
                       f"{t.stall_power_W:g} W > {t.tdp_W:g} W)")
    if (t.first_touch_threshold_B is None) != (t.first_touch_bandwidth_B_per_s is None):
        missing = "first_touch_bandwidth" if t.first_touch_bandwidth_B_per_s is None else "first_touch_threshold"
        raise ctx.fail(missing, "<missing>", "first_touch_threshold and first_touch_bandwidth go together: give both "
                                      "(an output size and the rate its fresh pages are written at) or neither")
    for e in t.engines:
        path_levels = [m for m in t.memories if e.name in m.read_by]
        if not path_levels:
            raise ctx.fail(f"engines.{e.name}", e.name, "no memory level lists this engine in read_by")
        caps = [m.capacity_B for m in path_levels]
        if any(b < a for a, b in zip(caps, caps[1:], strict=False)):
            raise ctx.fail(f"engines.{e.name}", [m.name for m in path_levels],
                           "memory levels must be listed innermost first: "
                           "capacities along an engine's path must not shrink "
                           f"({', '.join(f'{m.name} {m.capacity_B:g} B' for m in path_levels)})")
    for m in t.memories:
        _check_contended(ctx, m)
        if (m.host_bandwidth_B_per_s is None) != (m.host_energy_J_per_B is None):
            have, lack = ("host_bandwidth", "host_energy_per_byte") if m.host_energy_J_per_B is None \
                else ("host_energy_per_byte", "host_bandwidth")
            raise ctx.fail(f"memories.{m.name}.{have}", "<set>", f"a host channel needs {lack} too")


def _check_contended(ctx: _Ctx, m: MemoryLevel) -> None:
    """``contended_bandwidth`` / ``contended_units``: both or neither, on a level with the per-unit and
    sustained limits they refine, at most the sustained limit, measured past its knee."""
    p = f"memories.{m.name}."
    bw, units = m.contended_bandwidth_B_per_s, m.contended_units
    if bw is None and units is None:
        return
    if bw is None or units is None:
        have, lack = ("contended_bandwidth", "contended_units") if units is None \
            else ("contended_units", "contended_bandwidth")
        raise ctx.fail(p + have, "<set>", f"contended_bandwidth and contended_units go together: give {lack} too "
                                          "(the bandwidth and the unit count of one measurement) or neither")
    if m.per_unit_bandwidth_B_per_s is None or m.sustained_bandwidth_B_per_s is None:
        lack = "per_unit_bandwidth" if m.per_unit_bandwidth_B_per_s is None else "sustained_bandwidth"
        raise ctx.fail(p + "contended_bandwidth", bw, f"needs {lack} on the same level (the contention falls from "
                                                      "the sustained limit, reached at sustained / per_unit units)")
    if bw > m.sustained_bandwidth_B_per_s:
        raise ctx.fail(p + "contended_bandwidth", bw, f"must not exceed sustained_bandwidth "
                                                      f"({m.sustained_bandwidth_B_per_s / 1e9:g} GB/s): it is what "
                                                      "more streams draw after the peak")
    knee = m.sustained_bandwidth_B_per_s / m.per_unit_bandwidth_B_per_s
    if units <= knee:
        raise ctx.fail(p + "contended_units", units, f"must exceed sustained_bandwidth / per_unit_bandwidth = "
                                                     f"{knee:.4g} units, where the shared limit is reached")


def _short(value: object) -> object:
    """A value fit for a message: an integer of 400 digits is shown by its size, a long text cut."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value).bit_length() > 64:
        return f"<an integer of {len(str(abs(value))) if abs(value).bit_length() < 13000 else 'many'} digits>"
    if isinstance(value, str | list | dict) and len(repr(value)) > 200:
        return f"{repr(value)[:160]}... ({type(value).__name__}, cut)"
    return value


def _toml_error_field(text: str, message: str) -> str:
    """Name the key on the line a TOML error points at (tomllib only gives the line)."""
    import re

    m = re.search(r"line (\d+)", message)
    if not m:
        return "<toml>"
    lines = text.splitlines()
    n = int(m.group(1))
    if not 1 <= n <= len(lines):
        return "<toml>"
    line = lines[n - 1].strip()
    key = line.split("=", 1)[0].strip() if "=" in line else line
    return f"{key} (line {n})"


def load_target_file(path: str | Path) -> Target:
    """Load and validate one ``data/targets/*.toml`` file."""
    p = Path(path)
    try:
        text = read_text(p)
    except UnreadableFile as exc:
        raise TargetFileError(str(p), exc.where, exc.why, "a UTF-8 text file is required") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TargetFileError(str(p), _toml_error_field(text, str(exc)), str(exc),
                              "valid TOML is required (duplicate keys are refused)") from None
    except RecursionError:
        raise TargetFileError(str(p), "<toml>", "tables or arrays nested too deeply",
                              "a target file nests a few levels only") from None
    except ValueError as exc:  # e.g. an integer of more than 4300 digits
        raise TargetFileError(str(p), "<toml>", str(exc).split(";")[0], "valid TOML numbers are required") from None
    return parse_target(data, file=str(p), path=p)


def _q(value: float, unit: str, source: str) -> str:
    from models.units import from_si

    v = from_si(value, unit)
    src = source.replace("\\", "\\\\").replace('"', '\\"')
    return f'{{ value = {v:.10g}, unit = "{unit}", source = "{src}" }}'


def target_to_toml(t: Target) -> str:
    """Write a target back as TOML in the loader's format (used to save edited copies)."""
    from models.hardware.schema import field_spec

    def esc(s: str) -> str:
        return s.replace("\\", "\\\\").replace('"', '\\"')

    lines = [f'name = "{esc(t.name)}"', f'display_name = "{esc(t.display_name)}"',
             f'class = "{t.target_class}"', f'description = "{esc(t.description)}"',
             f'overlap = "{t.overlap}"']
    if t.provenance != "datasheet":
        lines.append(f'provenance = "{t.provenance}"')
    fields = t.numeric_fields()
    for key in ("clock", "tdp", "static_power", "stall_power", "process_node", "area", "op_overhead",
                "first_touch_threshold", "first_touch_bandwidth", "link_bandwidth", "link_latency",
                "link_energy_per_byte"):
        if key in fields:
            v, spec, src = fields[key]
            lines.append(f"{key} = {_q(v, spec.unit, src)}")  # type: ignore[arg-type]
    from models.hardware.schema import OP_KINDS as _ALL

    for e in t.engines:
        lines += ["", "[[engines]]", f'name = "{esc(e.name)}"', f'kind = "{e.kind}"']
        if tuple(e.runs) != _ALL:
            lines.append("runs = [" + ", ".join(f'"{r}"' for r in e.runs) + "]")
        p = f"engines.{e.name}."
        for key in ("n_units", "clock", "efficiency", "zero_skip_efficiency", "zero_skip_index_bits"):
            if p + key in fields:
                v, spec, src = fields[p + key]
                lines.append(f"{key} = {_q(v, spec.unit, src)}")  # type: ignore[arg-type]
        for tbl in ("ops_per_cycle", "energy_per_op", *ENGINE_KIND_TABLES):
            items = [(k[len(p + tbl) + 1:], fields[k]) for k in fields if k.startswith(p + tbl + ".")]
            if items:
                inner = ", ".join(f"{d} = {_q(v, field_spec(p + tbl + '.' + d).unit, s)}"  # type: ignore[arg-type]
                                  for d, (v, _, s) in items)
                lines.append(f"{tbl} = {{ {inner} }}")
        by_dt = "efficiency_half_m_by_dtype"
        if e.efficiency_half_m_by_dtype:
            outer = []
            for d, kinds in e.efficiency_half_m_by_dtype.items():
                cells = []
                for k in kinds:
                    v, spec, src = fields[p + f"{by_dt}.{d}.{k}"]
                    cells.append(f"{k} = {_q(v, spec.unit, src)}")  # type: ignore[arg-type]
                outer.append(f"{d} = {{ {', '.join(cells)} }}")
            lines.append(f"{by_dt} = {{ {', '.join(outer)} }}")
    for m in t.memories:
        lines += ["", "[[memories]]", f'name = "{esc(m.name)}"', f'kind = "{m.kind}"',
                  "read_by = [" + ", ".join(f'"{r}"' for r in m.read_by) + "]"]
        p = f"memories.{m.name}."
        for key in ("capacity", "bandwidth", "energy_per_byte", "efficiency", "per_unit_bandwidth",
                    "sustained_bandwidth", *CONTENDED_FIELDS, *HOST_CHANNEL_FIELDS):
            if p + key not in fields:
                continue
            v, spec, src = fields[p + key]
            if key == "efficiency" and "efficiency" not in m.sources:
                continue
            lines.append(f"{key} = {_q(v, spec.unit, src)}")  # type: ignore[arg-type]
        items = [(k[len(p + "efficiency_by_kind") + 1:], fields[k]) for k in fields
                 if k.startswith(p + "efficiency_by_kind.")]
        if items:
            inner = ", ".join(f"{d} = {_q(v, FIELD_SPECS['memory_efficiency'].unit, s)}"  # type: ignore[arg-type]
                              for d, (v, _, s) in items)
            lines.append(f"efficiency_by_kind = {{ {inner} }}")
    return "\n".join(lines) + "\n"
