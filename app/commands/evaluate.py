"""``tradespace evaluate``: one workload on one target: totals and the per-operator breakdown."""

from __future__ import annotations

import argparse

from app.commands._common import print_json, print_table
from models.hardware import get_target
from models.perf import evaluate
from models.units import format_si
from models.workloads.registry import parse_knob, workload_spec


def evaluation_summary(target_name: str, workload: str, knobs: dict, *, mode: str = "calibrated",
                       engine: dict[str, str] | None = None) -> dict:
    """Totals and breakdown of one design point, JSON-ready (SI units in every key)."""
    spec = workload_spec(workload)
    table = spec.build(**knobs)
    t = get_target(target_name)
    r = evaluate(t, table, mode=mode, engine=engine or None)
    item = r.item_name
    totals = {k: v[0] for k, v in r.totals().to_dict(as_series=False).items()}
    main = max(t.memories, key=lambda m: m.capacity_B)
    totals["fits_in_memory"] = bool(totals["peak_memory_B"] <= main.capacity_B)
    totals["memory_capacity_B"] = main.capacity_B
    return {"target": t.name, "workload": workload, "knobs": {**spec.defaults(), **knobs}, "mode": mode,
            "result_kind": "ideal roofline bound" if mode == "ideal" else "calibrated estimate",
            "item": item, "totals": totals, "operators": r.breakdown().to_dicts()}


def _run(args: argparse.Namespace) -> int:
    spec = workload_spec(args.workload)
    knobs = dict(parse_knob(spec, s) for s in args.set or [])
    engine = {}
    for s in args.engine or []:
        if "=" not in s:
            raise ValueError(f"--engine {s!r}: expected KIND=ENGINE, e.g. gemv=pim")
        k, v = s.split("=", 1)
        engine[k.strip()] = v.strip()
    out = evaluation_summary(args.target, args.workload, knobs, mode=args.mode, engine=engine)
    if args.json:
        print_json(out)
        return 0
    tt, item = out["totals"], out["item"]
    print(f"{out['workload']} on {out['target']} ({out['result_kind']}); knobs: "
          + ", ".join(f"{k}={v}" for k, v in out["knobs"].items()))
    print(f"  latency      {format_si(tt['latency_s'], 's')}")
    print(f"  energy       {format_si(tt['energy_J'], 'J')}  (static {format_si(tt['static_energy_J'], 'J')})")
    print(f"  throughput   {tt[f'{item}s_per_s']:.4g} {item}s/s")
    print(f"  energy/{item:<6} {format_si(tt[f'energy_J_per_{item}'], 'J')}")
    print(f"  avg power    {format_si(tt['average_power_W'], 'W')}")
    fits = "fits" if tt["fits_in_memory"] else "DOES NOT FIT"
    print(f"  peak memory  {format_si(tt['peak_memory_B'], 'B')} ({fits} in {format_si(tt['memory_capacity_B'], 'B')})")
    ops = sorted(out["operators"], key=lambda o: -o["total_latency_s"])[: args.top]
    print(f"\nTop {len(ops)} operators by time:")
    print_table(["operator", "phase", "kind", "count", "time", "share", "bound", "engine", "dtype"],
                [[o["name"], o["phase"], o["kind"], f"{o['count']:g}", format_si(o["total_latency_s"], "s"),
                  f"{100 * o['share_of_latency']:.1f}%", o["bound"], o["engine"],
                  o["compute_dtype"] + (" (fallback)" if o["fallback"] else "")] for o in ops])
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="evaluate a workload on a target",
                       description="Latency, energy, throughput, energy per item and peak memory of one "
                                   "workload on one target, with the per-operator breakdown and its bound.")
    p.add_argument("--target", required=True, help="target preset name or .toml path")
    p.add_argument("--workload", required=True, help="workload name (see `tradespace workloads`)")
    p.add_argument("--set", action="append", metavar="KNOB=VALUE", help="set a workload knob (repeatable)")
    p.add_argument("--engine", action="append", metavar="KIND=ENGINE",
                   help="force an operator kind onto an engine, e.g. gemv=pim (repeatable)")
    p.add_argument("--mode", choices=("calibrated", "ideal"), default="calibrated",
                   help="calibrated estimate (default) or ideal roofline bound")
    p.add_argument("--top", type=int, default=12, help="operators to list (text output)")
    p.add_argument("--json", action="store_true", help="print JSON with every operator")
    p.set_defaults(func=_run)
