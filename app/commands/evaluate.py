"""``tradespace evaluate``: one design point: totals and the per-operator breakdown."""

from __future__ import annotations

import argparse
from typing import Any

from app.commands._common import print_json, print_table
from models.hardware import field_spec, get_target
from models.perf import evaluate_point
from models.point import knob, setting
from models.systems import system_metrics, system_model
from models.units import format_si, si_name
from models.workloads import workload_spec
from models.workloads.onnx_import import is_onnx_path, read_onnx


def parse_settings(texts: list[str], target: str, workload: str) -> dict[str, Any]:
    """``NAME=VALUE`` strings as checked values, by qualified name.

    ``NAME`` is a workload knob or an algorithm knob (``batch``, ``weight_format``), or a
    qualified setting: ``workload.<knob>``, ``algorithm.<knob>``, ``target.<field>`` (a number
    with an optional unit: ``target.memories.hbm.bandwidth=4TB/s``) or ``engine.<kind>``. Each
    value is parsed and checked by its declaration, as in a design-space file.
    """
    spec = workload_spec(workload)
    t = get_target(target)
    out: dict[str, Any] = {}
    for text in texts:
        if "=" not in text:
            raise ValueError(f"--set {text!r}: expected NAME=VALUE; knobs: {', '.join(k.name for k in spec.knobs)}")
        name, raw = (s.strip() for s in text.split("=", 1))
        head = name.partition(".")[0]
        if head in ("target", "engine"):
            q, decl = name, setting(name, target=t)
        else:
            q, decl = knob(name, spec)
        out[q] = decl.parse(raw)
    return out


def parse_engine(texts: list[str]) -> dict[str, str]:
    """``--engine KIND=ENGINE`` strings as ``{kind: engine}`` (checked when the point is built)."""
    engine = {}
    for s in texts:
        if "=" not in s:
            raise ValueError(f"--engine {s!r}: expected KIND=ENGINE, e.g. gemv=pim")
        k, v = s.split("=", 1)
        engine[k.strip()] = v.strip()
    return engine


def evaluation_summary(target_name: str, workload: str, settings: dict[str, Any], *, mode: str = "calibrated",
                       engine: dict[str, str] | None = None) -> dict[str, Any]:
    """Totals and breakdown of one design point, JSON-ready (SI units in every key)."""
    r = evaluate_point(target_name, workload, settings, engine=engine or None, mode=mode)
    out = r.summary()
    out["operators"] = r.perf.breakdown().to_dicts()
    return out


def _shown(name: str, v: float) -> str:
    """A unit-suffixed metric for display (a plain number for counts and ratios)."""
    if "_per_s" in name:
        return f"{v:.4g} /s"
    for part, unit in (("_J", "J"), ("_W", "W"), ("_B", "B")):
        if part in name:
            return format_si(v, unit)
    return format_si(v, "s") if name.endswith("_s") else f"{v:.4g}"


def _run(args: argparse.Namespace) -> int:
    if args.top < 0:
        raise ValueError(f"--top {args.top}: allowed: an integer >= 0")
    settings = parse_settings(args.set or [], args.target, args.workload)
    engine = parse_engine(args.engine or [])
    out = evaluation_summary(args.target, args.workload, settings, mode=args.mode, engine=engine)
    # an ONNX graph's nodes of op types the model does not price are listed, never dropped silently
    unknown = read_onnx(args.workload).unknown_ops if is_onnx_path(args.workload) else {}
    if args.json:
        if unknown:
            out["unknown_onnx_ops"] = dict(unknown)
        print_json(out)
        return 0
    tt, item = out["totals"], out["item"]
    print(f"{out['workload']} on {out['target']} ({out['result_kind']}; provenance {out['provenance']}); knobs: "
          + ", ".join(f"{k}={v}" for k, v in out["knobs"].items()))
    for note in out.get("notes", ()):  # what a knob did not change, and why
        print(f"  note         {note}")
    if unknown:
        print(f"  note         {sum(unknown.values())} ONNX node(s) of op types the model does not price were left "
              "out: " + ", ".join(f"{k} x{v}" for k, v in unknown.items()))
    extra = [f"{k}={v}" for k, v in out["algorithm"].items()]
    for k, v in out["overrides"].items():
        dim = field_spec(k).dimension
        extra.append(f"target.{k}=" + (format_si(v, si_name(dim)).replace(" ", "") if dim else f"{v:g}"))
    extra += [f"engine.{k}={v}" for k, v in out["engine"].items()]
    if extra:
        print("  settings     " + ", ".join(extra))
    print(f"  latency      {format_si(tt['latency_s'], 's')}")
    print(f"  energy       {format_si(tt['energy_J'], 'J')}  (static {format_si(tt['static_energy_J'], 'J')}, "
          f"stalled {format_si(tt['stalled_energy_J'], 'J')})")
    # a multi-device plan's unit: its rate and power, and one device's share (a per-GPU table's figure)
    rate, per_dev = tt[f"{item}s_per_s"], tt.get(f"{item}s_per_s_per_device", tt[f"{item}s_per_s"])
    shared = per_dev != rate
    print(f"  throughput   {rate:.4g} {item}s/s" + (f"  ({per_dev:.4g} per device)" if shared else ""))
    print(f"  energy/{item:<6} {format_si(tt[f'energy_J_per_{item}'], 'J')}")
    print(f"  avg power    {format_si(tt['average_power_W'], 'W')}"
          + (f"  ({format_si(tt['average_power_W_per_device'], 'W')} per device)" if shared else ""))
    fits = "fits" if tt["fits_in_memory"] else "DOES NOT FIT"
    print(f"  peak memory  {format_si(tt['peak_memory_B'], 'B')} ({fits} in {format_si(tt['memory_capacity_B'], 'B')})")
    print(f"  error proxy  {tt['error_proxy']:.4g} (relative L2 error of the formats)")
    switch = system_model({**out["algorithm"]})
    if switch is not None:  # a system model's own figures (a request stream, an agent's task, federated rounds)
        print(f"  {switch}:")
        for k in system_metrics(switch):
            if k in tt:
                print(f"    {k:<34} {_shown(k, float(tt[k]))}")
    if args.top == 0:
        return 0
    ops = sorted(out["operators"], key=lambda o: -o["total_latency_s"])[: args.top]
    print(f"\nTop {len(ops)} operators by time:")
    print_table(["operator", "phase", "kind", "count", "time", "share", "bound", "engine", "dtype"],
                [[o["name"], o["phase"], o["kind"], f"{o['count']:g}", format_si(o["total_latency_s"], "s"),
                  f"{100 * o['share_of_latency']:.1f}%", o["bound"], o["engine"],
                  o["compute_dtype"] + (" (fallback)" if o["fallback"] else "")] for o in ops])
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="evaluate one design point",
                       description="Latency, energy, throughput, energy per item, peak memory and the accuracy "
                                   "proxy of one workload on one target with any workload knob, algorithm knob, "
                                   "target field or engine assignment, with the per-operator breakdown and its "
                                   "bound. Knobs are declared once: `tradespace workloads` lists them.")
    p.add_argument("--target", required=True, help="target preset name or .toml path")
    p.add_argument("--workload", required=True, help="workload name (see `tradespace workloads`)")
    p.add_argument("--set", action="append", metavar="NAME=VALUE",
                   help="a workload knob (batch=8), an algorithm knob (weight_format=int4-g128, "
                        "gemm_strategy=lut, attention_tiling=flash2, softmax_variant=two_pass), a target field "
                        "(target.memories.hbm.bandwidth=4TB/s) or an engine (engine.gemv=pim); repeatable")
    p.add_argument("--engine", action="append", metavar="KIND=ENGINE",
                   help="force an operator kind onto an engine, e.g. gemv=pim (repeatable)")
    p.add_argument("--mode", choices=("calibrated", "ideal"), default="calibrated",
                   help="calibrated estimate (default) or ideal roofline bound")
    p.add_argument("--top", type=int, default=12, help="operators to list (text output; 0: none)")
    p.add_argument("--json", action="store_true", help="print JSON with every operator")
    p.set_defaults(func=_run)
