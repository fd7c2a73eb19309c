"""``tradespace roofline TARGET``: the roofline ceilings of one target."""

from __future__ import annotations

import argparse

from app.commands._common import print_json, print_table
from models.hardware import get_target
from models.perf import roofline_ceilings
from models.units import format_si


def _run(args: argparse.Namespace) -> int:
    t = get_target(args.target)
    df = roofline_ceilings(t, efficiency=args.achievable)
    if args.json:
        print_json({"target": t.name, "class": t.target_class, "achievable": args.achievable,
                    "ceilings": df.to_dicts()})
        return 0
    print(f"{t.display_name} ({t.target_class}) — {'achievable' if args.achievable else 'peak'} ceilings")
    print_table(["engine", "dtype", "level", "peak", "bandwidth", "ridge FLOP/B"],
                [[r["engine"], r["dtype"], r["level"], format_si(r["peak_op_per_s"], "OP/s"),
                  format_si(r["bandwidth_B_per_s"], "B/s"), f"{r['ridge_FLOP_per_B']:.2f}"]
                 for r in df.iter_rows(named=True)])
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("roofline", help="roofline ceilings of one target",
                       description="Peak per (engine, datatype), bandwidth per memory level and the ridge "
                                   "point of each pair, with sources in --json.")
    p.add_argument("target", help="preset name (see `tradespace targets`) or path to a .toml file")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--achievable", action="store_true", help="apply efficiencies (calibrated ceilings)")
    p.set_defaults(func=_run)
