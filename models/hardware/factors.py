"""The table of efficiency factors of every preset, as docs/models.md lists it.

A factor is any field that scales achievable rates below the datasheet: engine efficiencies
(per engine and per operator kind), size curves, memory-level efficiencies other than the
ideal default, and per-unit and sustained (core-complex) bandwidth caps.
``scripts/update_docs.py`` writes the table into docs/models.md between its markers (models
never write files); a test checks the docs are current.
"""

from __future__ import annotations

from pathlib import Path

from models.hardware.registry import TARGETS_DIR, scan_targets

__all__ = ["BEGIN", "END", "FACTOR_LEAVES", "factor_rows", "factor_table_markdown"]

FACTOR_LEAVES = ("efficiency", "efficiency_by_kind", "efficiency_half_k", "efficiency_half_m",
                 "efficiency_half_m_by_dtype", "per_unit_bandwidth", "sustained_bandwidth", "contended_bandwidth",
                 "zero_skip_efficiency")
BEGIN = "<!-- factor-table:begin -->"
END = "<!-- factor-table:end -->"


def factor_rows() -> list[tuple[str, str, float, str]]:
    """``(target, override path, SI value, source)`` of every factor of every shipped preset (a
    user's saved or calibrated targets, which differ per machine, are not the docs' table)."""
    shipped = TARGETS_DIR.resolve()
    targets, broken = scan_targets()
    for exc in broken:  # a broken preset is a bug here; a broken file of the user's is not this table's
        if exc.file and Path(exc.file).resolve().parent == shipped:
            raise exc
    rows = []
    for t in targets:
        if t.path is None or t.path.parent.resolve() != shipped:
            continue
        for path, (value, _spec, source) in t.numeric_fields().items():
            parts = path.split(".")
            if parts[0] not in ("engines", "memories") or parts[2] not in FACTOR_LEAVES:
                continue
            if parts[0] == "memories" and parts[2] == "efficiency" and value == 1.0:
                continue  # the ideal default, no factor
            rows.append((t.name, path, float(value), source))  # type: ignore[arg-type]
    return rows


def factor_table_markdown() -> str:
    lines = [BEGIN, "| target | factor (override path) | value (SI) | source |", "|---|---|---|---|"]
    for name, path, value, source in factor_rows():
        lines.append(f"| {name} | `{path}` | {value:.6g} | {source.replace('|', '/')} |")
    lines.append(END)
    return "\n".join(lines)
