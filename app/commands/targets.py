"""``tradespace targets``: every preset with its peaks, bandwidths, ridge points and sources."""

from __future__ import annotations

import argparse
import sys

from app.commands._common import print_json, print_table
from models.hardware import TARGET_CLASSES, Target, scan_targets
from models.hardware.registry import saved_target_path, user_targets_dir
from models.units import format_si, from_si


def target_summary(t: Target) -> dict:
    """A JSON-ready description of one target: every number with its unit and source."""
    fields = {path: {"value": None if v is None else from_si(v, spec.unit), "unit": spec.unit,
                     "si_unit_value": v, "source": src}
              for path, (v, spec, src) in t.numeric_fields().items()}
    engines = [{"name": e.name, "kind": e.kind, "runs": list(e.runs),
                "peak_op_per_s": {d: e.peak_op_per_s(d, t.clock_Hz) for d in e.ops_per_cycle},
                "energy_J_per_op": dict(e.energy_J_per_op),
                "efficiency": e.efficiency,
                "reads_from": [m.name for m in t.path_of(e.name)]} for e in t.engines]
    memories = [{"name": m.name, "kind": m.kind, "capacity_B": m.capacity_B,
                 "bandwidth_B_per_s": m.bandwidth_B_per_s, "energy_J_per_B": m.energy_J_per_B,
                 "efficiency": m.efficiency, "read_by": list(m.read_by)} for m in t.memories]
    ridges = {}
    for e in t.engines:
        main = t.main_memory(e.name)
        for d in e.ops_per_cycle:
            ridges[f"{e.name}/{d}/{main.name}"] = t.ridge_point_FLOP_per_B(d, e.name)
    saved = saved_target_path(t)
    return {"name": t.name, "display_name": t.display_name, "class": t.target_class,
            "description": t.description, "file": str(t.path) if t.path else None,
            "saved": saved is not None,
            "engines": engines, "memories": memories, "ridge_points_FLOP_per_B": ridges,
            "fields": fields}


def _run(args: argparse.Namespace) -> int:
    targets, broken = scan_targets()
    # a broken file (say, one of the user's, in TRADESPACE_TARGETS_PATH) costs itself only: the
    # others are listed, and it is named on stderr with what is wrong
    for exc in broken:
        print(f"tradespace targets: warning: skipped a target file that does not load: {exc}", file=sys.stderr)
    if args.cls:
        targets = [t for t in targets if t.target_class == args.cls]
    if args.json:
        print_json({"targets": [target_summary(t) for t in targets],
                    "skipped": [{"file": e.file, "field": e.field, "error": str(e)} for e in broken]})
        return 0
    rows = []
    n_saved = 0
    for t in targets:
        peaks = ", ".join(f"{d} {format_si(t.peak_op_per_s(d), 'OP/s')}" for d in t.native_dtypes())
        bws = ", ".join(f"{m.name} {format_si(m.bandwidth_B_per_s, 'B/s')}" for m in t.memories)
        best = max(t.native_dtypes(), key=lambda d: t.peak_op_per_s(d))
        saved = saved_target_path(t)
        n_saved += saved is not None
        rows.append([t.name + (" *" if saved else ""), t.target_class, peaks, bws,
                     f"{best}: {t.ridge_point_FLOP_per_B(best):.1f}", f"saved: {saved}" if saved else ""])
    print_table(["target", "class", "peak per datatype", "bandwidth per level", "ridge FLOP/B", "file"], rows)
    print(f"\n{len(targets)} targets" + (f" ({len(broken)} file(s) skipped, see above)" if broken else "")
          + ". Every number's source: tradespace targets --json (or tradespace roofline TARGET).")
    if n_saved:
        print(f"* {n_saved} saved target(s) from {user_targets_dir()} (the dashboard's Targets page); "
              "use them by name: --target NAME")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("targets", help="list hardware target presets",
                       description="List every target preset: class, peak per datatype, bandwidth per "
                                   "memory level, ridge points, and (with --json) the source of each number. "
                                   "Targets saved by the dashboard (in $TRADESPACE_USER_TARGETS, default "
                                   "~/.tradespace/targets) are listed too, marked * with their file; they "
                                   "resolve by name in every command and design space.")
    p.add_argument("--json", action="store_true", help="print JSON with every number and its source")
    p.add_argument("--class", dest="cls", choices=TARGET_CLASSES, help="only one class")
    p.set_defaults(func=_run)
