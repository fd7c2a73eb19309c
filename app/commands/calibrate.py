"""``tradespace calibrate``: micro-benchmark this machine and write its target file; and the live
validation against it that ``tradespace validate --host`` runs (:func:`run_host`)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from app.commands._common import print_json, print_table
from models.calibrate import DEVICES, HostValidation, calibrate, default_out_path, run_host_validation
from models.units import format_si


def register(sub: Any) -> None:
    p = sub.add_parser(
        "calibrate",
        help="measure this machine and write a calibrated target (provenance calibrated-microbenchmark)",
        description="Micro-benchmarks of this host: STREAM bandwidth of each cache level and main memory for "
                    "1..N threads, GEMM rate per datatype over sizes (numpy BLAS fp32/fp64, PyTorch bf16/fp16/int8 "
                    "where the CPU has them) with the size curve fitted, GEMV rate, exp throughput and the fixed "
                    "per-call overhead; cores, caches, clock and ISA from the OS. Writes a target whose every number "
                    "names its measurement, and the raw measurements beside it (NAME.measurements.json); "
                    f"`--target host` then finds the default file ({default_out_path()}). Needs PyTorch: "
                    'pip install -e ".[measure]". See docs/calibration.md.')
    p.add_argument("--quick", action="store_true", help="fewer sizes and repeats (about 30-90 s on 2 cores)")
    p.add_argument("--device", choices=DEVICES, default="cpu", help="what to calibrate (default: cpu)")
    p.add_argument("--out", metavar="PATH.toml",
                   help="target file to write (default: host.toml in the user targets folder); its name is the "
                        "file stem")
    p.add_argument("--json", action="store_true", help="print a JSON summary instead of text")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    r = calibrate(args.out, quick=args.quick, device=args.device,
                  progress=lambda s: print(f"calibrate: {s}", file=sys.stderr, flush=True))
    t = r.target
    e = t.engines[0]
    summary = {"target": t.name, "path": str(r.path), "measurements": str(r.measurements_path),
               "provenance": t.provenance, "elapsed_s": r.elapsed_s, "quick": bool(args.quick),
               "n_units": e.n_units, "clock_Hz": t.clock_Hz,
               "peak_op_per_s": {d: e.peak_op_per_s(d, t.clock_Hz) for d in e.ops_per_cycle},
               "efficiency_half_k": dict(e.efficiency_half_k), "op_overhead_s": t.op_overhead_s,
               "memories": {m.name: {"capacity_B": m.capacity_B, "bandwidth_B_per_s": m.bandwidth_B_per_s,
                                     "per_unit_bandwidth_B_per_s": m.per_unit_bandwidth_B_per_s}
                            for m in t.memories}}
    if args.json:
        print_json(summary)
        return 0
    print(f"wrote {r.path} (target {t.name!r}, provenance {t.provenance}) and {r.measurements_path} "
          f"in {r.elapsed_s:.1f} s")
    print(f"  {t.display_name}")
    for d, v in summary["peak_op_per_s"].items():
        print(f"  gemm {d:<5} {v / 1e9:10.1f} GOP/s")
    for m in t.memories:
        print(f"  {m.name:<5} {m.capacity_B / 1e6:12.4g} MB  {m.bandwidth_B_per_s / 1e9:8.1f} GB/s"
              + (f" (1 core {m.per_unit_bandwidth_B_per_s / 1e9:.1f} GB/s)" if m.per_unit_bandwidth_B_per_s else ""))
    print(f"  op_overhead {t.op_overhead_s * 1e6:.2f} us")
    print(f"use it: tradespace evaluate --target {t.name if r.path == default_out_path(t.name) else r.path} ...")
    return 0


# ---------------------------------------------------------------------- validate --host
def host_parity_data(v: HostValidation) -> dict[str, list[Any]]:
    """Columns of the parity plot of ``validate --host``: measured vs predicted seconds per workload."""
    return {"id": [r.id for r in v.results], "group": [r.group for r in v.results],
            "measured_s": [r.measured_s for r in v.results], "predicted_s": [r.predicted_s for r in v.results],
            "relative_error": [r.relative_error for r in v.results], "bound": [r.bound for r in v.results],
            "colour": [_GROUP_COLOURS.get(r.group, "#7f7f7f") for r in v.results]}


_GROUP_COLOURS = {"llm": "#1f77b4", "cnn": "#2ca02c", "kernel": "#ff7f0e"}


def host_headline(v: HostValidation) -> str:
    w = v.worst
    return (f"{len(v.results)} workloads timed on this host vs target {v.target!r} ({v.provenance}): median |error| "
            f"{v.median_abs_error:.1%}, worst {w.id} {w.relative_error:+.1%} ({v.elapsed_s:.0f} s)")


def host_html(v: HostValidation) -> str:
    """The offline HTML report: headline, parity plot (log-log), table."""
    import html

    from bokeh.embed import components
    from bokeh.models import ColumnDataSource, HoverTool, Range1d
    from bokeh.plotting import figure
    from bokeh.resources import INLINE

    d = host_parity_data(v)
    vals = [x for x in d["measured_s"] + d["predicted_s"] if x > 0]
    lo, hi = min(vals) / 2, max(vals) * 2
    fig = figure(title=f"predicted vs measured on this host ({len(v.results)} workloads)", x_axis_type="log",
                 y_axis_type="log", width=520, height=500, x_axis_label="measured (s)",
                 y_axis_label=f"predicted for {v.target} (s)", x_range=Range1d(lo, hi), y_range=Range1d(lo, hi))
    fig.line([lo, hi], [lo, hi], color="gray", line_dash="dashed")
    fig.scatter("measured_s", "predicted_s", source=ColumnDataSource(d), size=9, color="colour", legend_group="group")
    fig.legend.location = "top_left"
    fig.add_tools(HoverTool(tooltips=[("workload", "@id"), ("measured", "@measured_s s"),
                                      ("predicted", "@predicted_s s"), ("error", "@relative_error{+0.0%}"),
                                      ("bound", "@bound")]))
    script, div = components(fig)
    rows = "".join(f"<tr><td>{html.escape(r.id)}</td><td>{html.escape(r.description)}</td><td>{r.measured_s:.6g}</td>"
                   f"<td>{r.predicted_s:.6g}</td><td>{r.relative_error:+.1%}</td><td>{html.escape(r.bound)}</td></tr>"
                   for r in v.results)
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Tradespace host validation</title>"
            f"{INLINE.render()}{script}</head><body><h1>Tradespace host validation</h1>"
            f"<p><b>{html.escape(host_headline(v))}</b></p>{div}"
            "<table border='1' cellspacing='0' cellpadding='3'><tr><th>id</th><th>workload</th><th>measured (s)</th>"
            f"<th>predicted (s)</th><th>error</th><th>bound</th></tr>{rows}</table>"
            f"<p>median_abs_error={v.median_abs_error:.4f}</p></body></html>")


def run_host(args: argparse.Namespace) -> int:
    """``tradespace validate --host``: the text table (or JSON), the HTML report, ``median_abs_error=`` last."""
    from models.io import atomic_write_text, check_writable

    html_path = args.html or args.report
    if html_path:
        check_writable(html_path)  # refused before anything is timed
    v = run_host_validation(args.target, quick=args.quick,
                            progress=lambda s: print(f"validate --host: {s}", file=sys.stderr, flush=True))
    if html_path:
        atomic_write_text(html_path, host_html(v))
    if args.json:
        print_json(v.as_dict())
        return 0
    print(host_headline(v) + "\n")
    print_table(["workload", "measured", "predicted", "error", "bound"],
                [[r.id, format_si(r.measured_s, "s"), format_si(r.predicted_s, "s"), f"{r.relative_error:+.1%}",
                  r.bound] for r in v.results])
    w = v.worst
    print(f"\nworst_abs_error={abs(w.relative_error):.4f} ({w.id})")
    print(f"median_abs_error={v.median_abs_error:.4f}")
    return 0
