"""``tradespace workloads``: every named workload and its knobs."""

from __future__ import annotations

import argparse

from app.commands._common import print_json, print_table
from models.workloads.registry import available_workloads, workload_spec


def _run(args: argparse.Namespace) -> int:
    specs = [workload_spec(n) for n in available_workloads()]
    if args.json:
        print_json({"workloads": [
            {"name": s.name, "family": s.family, "description": s.description, "item": s.item_name,
             "knobs": [{"name": k.name, "kind": k.kind, "default": k.default, "low": k.low, "high": k.high,
                        "choices": list(k.choices), "unit": k.unit, "log": k.log, "description": k.description}
                       for k in s.knobs]} for s in specs]})
        return 0
    print_table(["workload", "family", "per", "knobs (default)", "description"],
                [[s.name, s.family, s.item_name, ", ".join(f"{k.name}={k.default}" for k in s.knobs),
                  s.description] for s in specs])
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("workloads", help="list workloads and their knobs",
                       description="List every named workload (LLMs from data/workloads/*.json, CNNs, "
                                   "super-resolution, keyword spotting, TDNN, ViT) with its knobs.")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_run)
