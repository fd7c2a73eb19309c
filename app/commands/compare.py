"""``tradespace compare``: one workload across targets, or one target across knob settings.

Each column (a target, or the base settings and each ``--vs`` variant) is one design point
evaluated by :func:`app.commands.evaluate.evaluation_summary`, the path `tradespace evaluate`
takes; this module only lays the totals side by side with their ratios to a baseline. A column
that cannot be evaluated (a target without the workload's datatypes, a setting it refuses)
gets a row with its reason; the others still print.
"""

from __future__ import annotations

import argparse
import math
import sys
from typing import Any

from app.commands._common import print_json, print_table
from app.commands.evaluate import evaluation_summary, parse_engine, parse_settings
from models.hardware.loader import TargetFileError
from models.params import did_you_mean
from models.point import SettingError
from models.units import format_si
from models.workloads import workload_spec

# (key in the totals, column header, unit for display; None: a plain number)
_METRICS: tuple[tuple[str, str, str | None], ...] = (
    ("latency_s", "latency", "s"),
    ("energy_J", "energy", "J"),
    ("{item}s_per_s", "{item}s/s", None),
    ("energy_J_per_{item}", "energy/{item}", "J"),
    ("average_power_W", "avg power", "W"),
    ("peak_memory_B", "peak memory", "B"),
    ("error_proxy", "error proxy", None),
)
# a failed column: what `tradespace evaluate` would refuse for that point (bad input for it)
_POINT_ERRORS = (KeyError, ValueError, SettingError, TargetFileError)


def _columns(args: argparse.Namespace) -> list[dict[str, Any]]:
    """The design points to compare: ``{"name", "target", "set": [NAME=VALUE, ...]}`` each."""
    base = list(args.set or [])
    if args.targets is not None:
        if args.target is not None:
            raise ValueError("--target and --targets: give one target with --vs variants, or several with --targets")
        if args.vs:
            raise ValueError("--targets with --vs: compare one workload across targets, or one target across "
                             "settings (--target T --vs NAME=VALUE), not both at once")
        names = [n.strip() for n in args.targets.split(",") if n.strip()]
        if len(names) < 2:
            raise ValueError(f"--targets {args.targets!r}: allowed: two or more comma-separated target names "
                             "(`tradespace targets` lists them)")
        if len(set(names)) != len(names):
            raise ValueError(f"--targets {args.targets!r}: a target is named twice")
        return [{"name": n, "target": n, "set": base} for n in names]
    if args.target is None:
        raise ValueError("give --targets a,b,... (one workload across targets) or --target T with --vs NAME=VALUE "
                         "(one target across settings)")
    if not args.vs:
        raise ValueError("--target without --vs: nothing to compare; add --vs NAME=VALUE (repeatable, e.g. "
                         "--vs weight_format=int4-g128), or give --targets a,b,...")
    cols = [{"name": "base", "target": args.target, "set": base}]
    for v in args.vs:
        parts = [p.strip() for p in v.split(",") if p.strip()]
        if not parts or any("=" not in p for p in parts):
            raise ValueError(f"--vs {v!r}: expected NAME=VALUE[,NAME=VALUE...], e.g. --vs weight_format=int4-g128")
        if v in [c["name"] for c in cols]:
            raise ValueError(f"--vs {v!r} is given twice")
        cols.append({"name": v, "target": args.target, "set": base + parts})
    return cols


def _evaluate(col: dict[str, Any], workload: str, mode: str, engine: dict[str, str]) -> dict[str, Any]:
    """One column: its totals (through `tradespace evaluate`'s path), or the reason it has none."""
    try:
        settings = parse_settings(col["set"], col["target"], workload)
        out = evaluation_summary(col["target"], workload, settings, mode=mode, engine=engine)
    except _POINT_ERRORS as exc:
        reason = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        return {**col, "ok": False, "reason": str(reason)}
    return {**col, "ok": True, "reason": None, "item": out["item"], "result_kind": out["result_kind"],
            "target_display_name": out["target"], "knobs": out["knobs"], "algorithm": out["algorithm"],
            "overrides": out["overrides"], "totals": out["totals"]}


def _keys(item: str) -> list[tuple[str, str, str | None]]:
    return [(k.format(item=item), h.format(item=item), u) for k, h, u in _METRICS]


def _ratio(v: float, b: float) -> float | None:
    if not (math.isfinite(v) and math.isfinite(b)) or b == 0:
        return None
    return v / b


def _run(args: argparse.Namespace) -> int:
    cols = _columns(args)  # bad options are refused before anything is evaluated
    names = [c["name"] for c in cols]
    baseline = args.baseline or names[0]
    if baseline not in names:
        raise ValueError(f"--baseline {baseline!r}{did_you_mean(baseline, names)}; allowed: {', '.join(names)}")
    engine = parse_engine(args.engine or [])
    item = workload_spec(args.workload).item_name  # an unknown workload is bad input for every column
    res = [_evaluate(c, args.workload, args.mode, engine) for c in cols]
    base = next(r for r in res if r["name"] == baseline)
    # a system model reports per its own item (an agent's task, a server update): the columns compare per
    # the baseline's, and a column of another item has no comparable rates
    item = base["item"] if base["ok"] else item
    for r in res:
        if r["ok"] and r["item"] != item:
            r.update(ok=False, reason=f"its rates are per {r['item']}, the baseline's per {item} (a system model "
                                      "such as function_calling or federated changes the item); allowed: columns "
                                      "of the same kind, e.g. the switch set in --set for all of them")
    keys = _keys(item)
    for r in res:
        if r["ok"] and base["ok"]:
            r["ratio_to_baseline"] = {k: _ratio(float(r["totals"][k]), float(base["totals"][k])) for k, _, _ in keys}
        else:
            r["ratio_to_baseline"] = None
    n_ok = sum(r["ok"] for r in res)
    if args.json:
        print_json({"workload": args.workload, "mode": args.mode, "baseline": baseline, "item": item,
                    "columns": res})
    else:
        head = (f"{args.workload} across {len(res)} targets" if args.targets is not None
                else f"{args.workload} on {cols[0]['target']} across {len(res)} settings")
        kind = next((r["result_kind"] for r in res if r["ok"]), "")
        print(f"{head} ({kind}); ratios (x) to {baseline!r}" + ("" if base["ok"] else
                                                                 " (not available: the baseline failed)"))
        rows = []
        for r in res:
            if not r["ok"]:  # its reason follows the table (it would stretch a column)
                rows.append([r["name"] + (" (baseline)" if r["name"] == baseline else ""), "failed"]
                            + ["-"] * len(keys))
                continue
            cells = []
            for k, _, unit in keys:
                v = float(r["totals"][k])
                shown = format_si(v, unit) if unit else f"{v:.4g}"
                ratio = r["ratio_to_baseline"][k] if r["ratio_to_baseline"] else None
                cells.append(shown + (f" ({ratio:.3g}x)" if ratio is not None else ""))
            fits = "yes" if r["totals"]["fits_in_memory"] else "NO"
            rows.append([r["name"] + (" (baseline)" if r["name"] == baseline else ""), fits, *cells])
        print_table(["design", "fits", *[h for _, h, _ in keys]], rows)
        failed = [r for r in res if not r["ok"]]
        if failed:
            print(f"\n{len(failed)} of {len(res)} could not be evaluated:")
            for r in failed:
                print(f"  {r['name']}: {r['reason']}")
    if not n_ok:
        print("tradespace compare: error: no column could be evaluated (reasons above)", file=sys.stderr)
    return 0 if n_ok else 2


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compare",
        help="compare one workload across targets, or one target across knob settings",
        description="Evaluate one workload on several targets (--targets a,b,c), or on one target with the "
        "base settings and each --vs variant (--target T --vs weight_format=int4-g128 --vs ...), through the "
        "path `tradespace evaluate` takes, and print latency, energy, throughput, energy per item, power, "
        "peak memory and the accuracy proxy side by side with their ratio to a baseline (the first column, "
        "or --baseline NAME). A column that cannot be evaluated shows its reason; the others still print. "
        "Exit 0 if any column was evaluated, 2 on bad input or when none could be.",
    )
    p.add_argument("--workload", required=True, help="workload name (see `tradespace workloads`)")
    p.add_argument("--targets", metavar="A,B,...", help="targets to compare (comma-separated names or .toml paths)")
    p.add_argument("--target", help="the one target of a comparison across --vs settings")
    p.add_argument("--vs", action="append", metavar="NAME=VALUE[,NAME=VALUE]",
                   help="a variant of the base settings: one column each (repeatable); with --target")
    p.add_argument("--set", action="append", metavar="NAME=VALUE",
                   help="settings every column shares (as in `tradespace evaluate --set`); repeatable")
    p.add_argument("--engine", action="append", metavar="KIND=ENGINE",
                   help="force an operator kind onto an engine in every column, e.g. gemv=pim (repeatable)")
    p.add_argument("--mode", choices=("calibrated", "ideal"), default="calibrated",
                   help="calibrated estimate (default) or ideal roofline bound")
    p.add_argument("--baseline", metavar="NAME",
                   help="column the ratios are to: a target of --targets, 'base' or a --vs text (default: the first)")
    p.add_argument("--json", action="store_true", help="print JSON: every column's totals and ratios")
    p.set_defaults(func=_run)
