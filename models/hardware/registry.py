"""Discovery of target presets and overrides of their numeric fields.

Presets live in ``data/targets/*.toml``. Targets saved by the dashboard's Targets page live in
the user's folder (:func:`user_targets_dir`: ``$TRADESPACE_USER_TARGETS``, default
``~/.tradespace/targets``) and resolve by name everywhere (``--target NAME``, design spaces,
searches). Extra folders can be added with the ``TRADESPACE_TARGETS_PATH`` environment
variable, a ``os.pathsep``-separated list of folders. A built-in preset always wins a name.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from models.hardware.loader import TargetFileError, check_target, load_target_file
from models.hardware.schema import (
    CONTENDED_FIELDS,
    ENGINE_KIND_TABLES,
    HOST_CHANNEL_FIELDS,
    TARGET_CLASSES,
    Target,
    field_spec,
)
from models.params import did_you_mean

__all__ = [
    "DATA_DIR",
    "TARGETS_DIR",
    "USER_TARGETS_ENV",
    "available_targets",
    "get_target",
    "load_all_targets",
    "saved_target_path",
    "scan_targets",
    "target_dirs",
    "user_targets_dir",
    "with_overrides",
]

DATA_DIR = Path(__file__).resolve().parents[2] / "data"
TARGETS_DIR = DATA_DIR / "targets"

_cache: dict[Path, tuple[float, Target]] = {}


USER_TARGETS_ENV = "TRADESPACE_USER_TARGETS"


def user_targets_dir() -> Path:
    """Folder of the user's saved targets: ``$TRADESPACE_USER_TARGETS``, default ``~/.tradespace/targets``.

    The dashboard's Targets page saves edited copies here; it need not exist.
    """
    env = os.environ.get(USER_TARGETS_ENV)
    return Path(env) if env else Path.home() / ".tradespace" / "targets"


def target_dirs() -> list[Path]:
    """Folders searched for target files, in order: built-in presets, ``TRADESPACE_TARGETS_PATH``,
    then the user's saved targets (:func:`user_targets_dir`)."""
    dirs = [TARGETS_DIR]
    extra = os.environ.get("TRADESPACE_TARGETS_PATH", "")
    dirs += [Path(p) for p in extra.split(os.pathsep) if p]
    user = user_targets_dir()
    if user not in dirs:
        dirs.append(user)
    return dirs


def saved_target_path(target: Target) -> Path | None:
    """The file of ``target`` if it is one of the user's saved targets (in :func:`user_targets_dir`), else None."""
    if target.path is None:
        return None
    path = Path(target.path)
    try:
        return path if path.resolve().parent == user_targets_dir().resolve() else None
    except OSError:
        return None


def _files() -> dict[str, Path]:
    out: dict[str, Path] = {}
    for d in target_dirs():
        if d.is_dir():
            for f in sorted(d.glob("*.toml")):
                out.setdefault(f.stem, f)
    return out


def available_targets() -> list[str]:
    """Names (file stems) of every target file found."""
    return sorted(_files())


def _load_cached(path: Path) -> Target:
    mtime = path.stat().st_mtime
    hit = _cache.get(path)
    if hit is not None and hit[0] == mtime:
        return hit[1]
    t = load_target_file(path)
    if t.name != path.stem:
        raise TargetFileError(str(path), "name", t.name, f"must equal the file name {path.stem!r}")
    _cache[path] = (mtime, t)
    return t


def get_target(name_or_path: str | Path) -> Target:
    """A preset by name (``"h100-sxm"``) or a target file by path."""
    p = Path(name_or_path)
    try:
        is_file = p.suffix == ".toml" and p.exists()
    except (OSError, ValueError):  # a name too long for a path, or holding a NUL byte: not a file
        is_file = False
    if is_file:
        return load_target_file(p)
    files = _files()
    key = str(name_or_path)
    if key not in files:
        raise KeyError(f"unknown target {key!r}{did_you_mean(key, files)}; available: {', '.join(sorted(files))}")
    return _load_cached(files[key])


def load_all_targets() -> list[Target]:
    """Every target found, sorted by class then name; the first invalid file raises
    :class:`TargetFileError` (:func:`scan_targets` reports them instead)."""
    ts, errors = scan_targets()
    if errors:
        raise errors[0]
    return ts


def scan_targets() -> tuple[list[Target], list[TargetFileError]]:
    """Every target that loads, sorted by class then name, and the error of every file that does not.

    One broken file in a user's folder then costs that file only: a listing shows the others
    and names the broken one.
    """
    ts: list[Target] = []
    errors: list[TargetFileError] = []
    for _, path in sorted(_files().items()):
        try:
            ts.append(_load_cached(path))
        except TargetFileError as exc:
            errors.append(exc)
    order = {c: i for i, c in enumerate(TARGET_CLASSES)}
    return sorted(ts, key=lambda t: (order.get(t.target_class, 9), t.name)), errors


def with_overrides(target: Target, overrides: Mapping[str, float], *,
                   source: str = "design point override") -> Target:
    """A copy of ``target`` with numeric fields replaced (SI values, override paths).

    Paths are those of :meth:`Target.numeric_fields`, for example ``"memories.hbm.bandwidth"``,
    ``"engines.tensor.n_units"``, ``"engines.tensor.ops_per_cycle.int4"`` (adds a native rate;
    give its ``energy_per_op`` too) or ``"clock"``.

    The copy passes the checks a target file does: each value against its field's declaration
    (a finite number in range, a whole number of units, never a bool), then the rules between
    fields (:func:`models.hardware.loader.check_target`: static power within TDP, capacities
    along each engine's path).

    Raises
    ------
    KeyError
        An unknown field path.
    TargetFileError
        A value the loader would refuse; the message names the target, the field and what is allowed.
    """
    if not overrides:
        return target
    t = target
    known = target.numeric_fields()
    where = f"target {target.name!r} (overrides)"
    for path, value in overrides.items():
        try:
            spec = field_spec(path)
        except KeyError:
            spec = None
        if spec is None or (path not in known and not _adds_entry(target, path)):
            raise KeyError(f"unknown field {path!r} for target {target.name!r}; allowed: {', '.join(sorted(known))}")
        # the loader's check of one value (TargetFileError with the same words as for a file)
        is_number = isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool | np.bool_)
        problem = spec.problem(value) if is_number else f"a number is required; {spec.allowed()}"
        if problem:
            raise TargetFileError(where, path, value, problem)
        t = _set(t, path, float(value), source)
    check_target(t, where)
    return t


def _adds_entry(target: Target, path: str) -> bool:
    """True for a new per-datatype rate/energy or per-kind efficiency of an existing engine."""
    from models.hardware.dtypes import DTYPE_INDEX
    from models.workloads.kinds import OP_KINDS

    parts = path.split(".")
    if path in ("stall_power", "link_bandwidth", "link_latency", "link_energy_per_byte", "first_touch_threshold",
                "first_touch_bandwidth"):
        return True  # optional target fields: a design point may add them to any target
    if len(parts) == 3 and parts[0] == "memories" and parts[2] in ("per_unit_bandwidth", "sustained_bandwidth",
                                                                    *CONTENDED_FIELDS):
        return parts[1] in {m.name for m in target.memories}
    if len(parts) == 4 and parts[0] == "memories" and parts[2] == "efficiency_by_kind":
        return parts[1] in {m.name for m in target.memories} and parts[3] in OP_KINDS
    if len(parts) == 3 and parts[0] == "memories" and parts[2] in HOST_CHANNEL_FIELDS:
        return parts[1] in {m.name for m in target.memories if m.kind == "pim_bank"}
    if len(parts) == 5 and parts[0] == "engines" and parts[2] == "efficiency_half_m_by_dtype":
        # a datatype the engine computes in (a fallback's curve is the datatype it runs in)
        return any(e.name == parts[1] and parts[3] in e.ops_per_cycle for e in target.engines) \
            and parts[3] in DTYPE_INDEX and parts[4] in OP_KINDS
    if len(parts) != 4 or parts[0] != "engines" or parts[1] not in {e.name for e in target.engines}:
        return False
    if parts[2] in ("ops_per_cycle", "energy_per_op"):
        return parts[3] in DTYPE_INDEX
    return parts[2] in ENGINE_KIND_TABLES and parts[3] in OP_KINDS


_TARGET_ATTR = {"clock": "clock_Hz", "tdp": "tdp_W", "static_power": "static_power_W",
                "stall_power": "stall_power_W", "link_bandwidth": "link_bandwidth_B_per_s",
                "link_latency": "link_latency_s", "link_energy_per_byte": "link_energy_J_per_B",
                "process_node": "process_node_m", "area": "area_m2", "op_overhead": "op_overhead_s",
                "first_touch_threshold": "first_touch_threshold_B",
                "first_touch_bandwidth": "first_touch_bandwidth_B_per_s"}
_ENGINE_ATTR = {"n_units": "n_units", "clock": "clock_Hz", "efficiency": "efficiency",
                "zero_skip_efficiency": "zero_skip_efficiency", "zero_skip_index_bits": "zero_skip_index_bits"}
_ENGINE_MAPS = {"ops_per_cycle": "ops_per_cycle", "energy_per_op": "energy_J_per_op",
                **{t: t for t in ENGINE_KIND_TABLES}}
_MEMORY_ATTR = {"capacity": "capacity_B", "bandwidth": "bandwidth_B_per_s",
                "energy_per_byte": "energy_J_per_B", "efficiency": "efficiency",
                "per_unit_bandwidth": "per_unit_bandwidth_B_per_s",
                "sustained_bandwidth": "sustained_bandwidth_B_per_s",
                "contended_bandwidth": "contended_bandwidth_B_per_s",
                "contended_units": "contended_units", "host_bandwidth": "host_bandwidth_B_per_s",
                "host_energy_per_byte": "host_energy_J_per_B", "host_channels": "host_channels"}


def _set(t: Target, path: str, value: float, source: str) -> Target:
    parts = path.split(".")
    # the changed field is named at run time, so the keyword arguments are built as a dict
    changes: dict[str, Any]
    if len(parts) == 1 and parts[0] in _TARGET_ATTR:
        changes = {_TARGET_ATTR[parts[0]]: value, "sources": {**t.sources, parts[0]: source}}
        return dataclasses.replace(t, **changes)
    if parts[0] == "engines" and len(parts) == 5 and parts[2] == "efficiency_half_m_by_dtype":
        e = t.engine(parts[1])
        by_dt = {d: dict(v) for d, v in e.efficiency_half_m_by_dtype.items()}
        by_dt.setdefault(parts[3], {})[parts[4]] = value
        e2 = dataclasses.replace(e, efficiency_half_m_by_dtype=by_dt,
                                 sources={**e.sources, ".".join(parts[2:]): source})
        return dataclasses.replace(t, engines=tuple(e2 if x.name == e.name else x for x in t.engines))
    if parts[0] == "engines" and len(parts) in (3, 4):
        e = t.engine(parts[1])
        leaf = parts[2]
        if len(parts) == 3 and leaf in _ENGINE_ATTR:
            changes = {_ENGINE_ATTR[leaf]: value, "sources": {**e.sources, leaf: source}}
        elif len(parts) == 4 and leaf in _ENGINE_MAPS:
            attr = _ENGINE_MAPS[leaf]
            changes = {attr: {**getattr(e, attr), parts[3]: value},
                       "sources": {**e.sources, f"{leaf}.{parts[3]}": source}}
        else:
            raise KeyError(f"unknown field {path!r}")
        e2 = dataclasses.replace(e, **changes)
        return dataclasses.replace(t, engines=tuple(e2 if x.name == e.name else x for x in t.engines))
    if parts[0] == "memories" and len(parts) == 3 and parts[2] in _MEMORY_ATTR:
        m = t.memory(parts[1])
        changes = {_MEMORY_ATTR[parts[2]]: value, "sources": {**m.sources, parts[2]: source}}
        m2 = dataclasses.replace(m, **changes)
        return dataclasses.replace(t, memories=tuple(m2 if x.name == m.name else x for x in t.memories))
    if parts[0] == "memories" and len(parts) == 4 and parts[2] == "efficiency_by_kind":
        m = t.memory(parts[1])
        m2 = dataclasses.replace(m, efficiency_by_kind={**m.efficiency_by_kind, parts[3]: value},
                                 sources={**m.sources, f"efficiency_by_kind.{parts[3]}": source})
        return dataclasses.replace(t, memories=tuple(m2 if x.name == m.name else x for x in t.memories))
    raise KeyError(f"unknown field {path!r}; allowed: {', '.join(sorted(t.numeric_fields()))}")
