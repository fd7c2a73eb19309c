"""``tradespace workloads``: every named workload with its knobs, and every algorithm knob."""

from __future__ import annotations

import argparse
from typing import Any

from app.commands._common import print_json, print_table
from models.params import Param
from models.point import ALGORITHM_KNOBS
from models.workloads.registry import available_workloads, workload_spec


def _decl(k: Param) -> dict[str, Any]:
    return {"name": k.name, "kind": k.kind, "default": k.default, "low": k.low, "high": k.high,
            "choices": list(k.choices), "unit": k.unit, "log": k.log, "applies_to": k.applies_to,
            "description": k.help}


def _show(k: Param) -> str:
    if k.numeric:
        return f"{k.low:g}..{k.high:g}" + ("" if k.unit in ("1", "") else f" {k.unit}")
    return ", ".join(map(str, k.choices)) + (", ..." if k.accepts is not None else "")


def _run(args: argparse.Namespace) -> int:
    specs = [workload_spec(n) for n in available_workloads()]
    if args.json:
        print_json({"workloads": [{"name": s.name, "family": s.family, "description": s.description,
                                   "item": s.item_name, "knobs": [_decl(k) for k in s.knobs]} for s in specs],
                    "algorithm_knobs": [_decl(k) for k in ALGORITHM_KNOBS.values()]})
        return 0
    print_table(["workload", "family", "per", "knobs (default)", "description"],
                [[s.name, s.family, s.item_name, ", ".join(f"{k.name}={k.default}" for k in s.knobs),
                  s.description] for s in specs])
    print("\nAlgorithm knobs (any workload they apply to; `--set NAME=VALUE`):")
    print_table(["knob", "values", "applies to"],
                [[k.name, _show(k), k.applies_to] for k in ALGORITHM_KNOBS.values()])
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("workloads", help="list workloads, their knobs and the algorithm knobs",
                       description="List every named workload (LLMs from data/workloads/*.json, CNNs, "
                                   "super-resolution, keyword spotting, TDNN, ViT, and single-operator "
                                   "workloads: gemm, attention, softmax, group-conv) with its knobs, and every "
                                   "algorithm knob.")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_run)
