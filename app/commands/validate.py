"""``tradespace validate``: predicted vs published for every validation case."""

from __future__ import annotations

import argparse
import html
from pathlib import Path
from typing import Any

from app.commands._common import print_json, print_table
from models.io import atomic_write_text, check_writable
from models.validation import CaseResult, SuiteResult, load_cases, run_suite


def _published(r: CaseResult) -> str:
    """The published value, or its range."""
    c = r.case
    return f"{c.published:.6g}" if c.published is not None else str(list(c.published_range or ()))


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.1%}"


def headline(s: dict) -> str:
    """The first line: |relative error| over every measured case, gaps included, with the count."""
    groups = ", ".join(f"{g} {v['n']} (median {_pct(v['median_abs_error'])})" for g, v in s["by_group"].items())
    return (f"{s['n_measured']} measured cases from {s['n_sources']} sources ({s['n_energy']} energy or power), "
            f"gaps included: median |error| {_pct(s['median_abs_error_measured'])}, 90th percentile "
            f"{_pct(s['p90_abs_error_measured'])}. By quantity: {groups}.")


def _counts_line(s: dict) -> str:
    return (f"Checks: {s['n_check_within']}/{s['n_check']} within tolerance. Known gaps: {s['n_gap']} (median |error| "
            f"{_pct(s['median_abs_error_gap'])}), each with the mechanism the model lacks. Calibration cases (a factor "
            f"was set from them; in no figure above): {s['n_calibration']}.")


def _row(r: CaseResult) -> list[str]:
    """One table row of the text output."""
    return [
        r.case.id,
        f"{r.predicted:.6g}",
        _published(r),
        r.case.unit,
        f"{r.relative_error:+.2%}",
        f"{r.case.tolerance:.0%}",
        "yes" if r.within_tolerance else "NO",
        r.case.role,
    ]


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "validate",
        help="check the models against published numbers",
        description="Run every measured case of data/validation/*.toml through the public model path. Prints "
        "first the median and 90th-percentile |error| over every measured case, gaps included; then the checks, "
        "the known gaps by reason and the calibration cases. Exit 1 if a check or calibration case is out of "
        "tolerance.",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object {summary, cases, gaps, calibration}")
    p.add_argument("--report", metavar="FILE.html",
                   help="write an offline HTML report with a parity plot per kind of quantity")
    p.add_argument("--cases", metavar="PATH", action="append", help="validation file or folder (repeatable)")
    p.add_argument("--host", action="store_true",
                   help="time real workloads on this machine (PyTorch LLM prefill/decode, CNNs, softmax, attention, "
                        "GEMMs; random weights, nothing downloaded) and compare each with the model's prediction for "
                        "the calibrated target (`tradespace calibrate` first); prints median_abs_error= last")
    p.add_argument("--quick", action="store_true", help="with --host: smaller sizes and fewer runs")
    p.add_argument("--target", default="host", help="with --host: the calibrated target (default: host)")
    p.add_argument("--html", metavar="FILE.html", help="with --host: write an HTML report with a parity plot")
    p.set_defaults(func=run)


def parity_data(result: SuiteResult, group: str | None = None) -> dict[str, list[Any]]:
    """Columns of the parity plot: published (or range middle) vs predicted, per case (of ``group``)."""
    rs = [r for r in result.results if group is None or r.case.group == group]
    return {
        "id": [r.case.id for r in rs],
        "unit": [r.case.unit for r in rs],
        "published": [r.case.reference_value for r in rs],
        "predicted": [r.predicted for r in rs],
        "role": [r.case.role for r in rs],
        "within": ["yes" if r.within_tolerance else "no" for r in rs],
        "colour": [_ROLE_COLOURS[r.case.role] for r in rs],
    }


_ROLE_COLOURS = {"check": "#1f77b4", "calibration": "#2ca02c", "gap": "#d62728"}


def _html(result: SuiteResult) -> str:
    from bokeh.embed import components
    from bokeh.models import ColumnDataSource, HoverTool, Range1d
    from bokeh.plotting import figure
    from bokeh.resources import INLINE

    figs = []
    for group in sorted({r.case.group for r in result.results}):
        d = parity_data(result, group)
        pos = [abs(v) for v in d["published"] + d["predicted"] if v]
        lo, hi = min(pos) / 2, max(pos) * 2
        units = ", ".join(sorted(set(d["unit"])))
        fig = figure(title=f"{group}: predicted vs published ({len(d['id'])} cases)", x_axis_type="log",
                     y_axis_type="log", width=460, height=440, x_axis_label=f"published ({units})",
                     y_axis_label=f"predicted ({units})", x_range=Range1d(lo, hi), y_range=Range1d(lo, hi))
        fig.line([lo, hi], [lo, hi], color="gray", line_dash="dashed")
        src = ColumnDataSource({k: [abs(v) if isinstance(v, float) else v for v in vals] for k, vals in d.items()})
        fig.scatter("published", "predicted", source=src, size=8, color="colour", legend_group="role")
        fig.legend.location = "top_left"
        fig.add_tools(HoverTool(tooltips=[("case", "@id"), ("published", "@published @unit"),
                                          ("predicted", "@predicted @unit"), ("within tolerance", "@within"),
                                          ("role", "@role")]))
        figs.append(fig)
    from bokeh.layouts import row

    script, div = components(row(*figs))

    s = result.summary()

    def table(rs: tuple[CaseResult, ...], last: str) -> str:
        rows = "".join(
            f"<tr><td>{html.escape(r.case.id)}</td><td>{html.escape(r.case.quantity)}</td>"
            f"<td>{r.predicted:.6g}</td><td>{html.escape(_published(r))}</td>"
            f"<td>{html.escape(r.case.unit)}</td><td>{r.relative_error:+.2%}</td><td>{r.case.tolerance:.0%}</td>"
            f"<td>{'yes' if r.within_tolerance else 'NO'}</td><td>{r.case.role}</td>"
            f"<td>{html.escape(r.case.source)}</td>"
            + (f"<td>{html.escape(r.case.gap_reason or '')}</td>" if last else "")
            + "</tr>"
            for r in rs
        )
        return (
            "<table border='1' cellspacing='0' cellpadding='3'><tr><th>id</th><th>quantity</th><th>predicted</th>"
            "<th>published</th><th>unit</th><th>rel. error</th><th>tolerance</th><th>within</th><th>role</th>"
            f"<th>source</th>{f'<th>{last}</th>' if last else ''}</tr>{rows}</table>"
        )

    by_reason: dict[str, list[CaseResult]] = {}
    for r in result.gaps:
        by_reason.setdefault(r.case.gap_reason or "", []).append(r)
    gaps = (
        "<h2>Known gaps, by reason</h2><p>Published numbers the model does not meet. They count in the "
        "headline error, not as passes or failures, and no factor is fitted to them.</p>"
        + "".join(f"<h3>{len(rs)} case(s)</h3><p>{html.escape(reason)}</p>{table(tuple(rs), '')}"
                  for reason, rs in by_reason.items())
        if result.gaps
        else ""
    )
    checks = tuple(r for r in result.results if r.case.role == "check")
    calib = (
        "<h2>Calibration cases</h2><p>A target-wide factor was set from each; they are in no error figure.</p>"
        + table(result.calibration, "") if result.calibration else ""
    )
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Tradespace validation</title>"
        f"{INLINE.render()}{script}</head><body><h1>Tradespace validation</h1>"
        f"<p><b>{html.escape(headline(s))}</b></p><p>{html.escape(_counts_line(s))}</p>{div}"
        f"<h2>Checks</h2>{table(checks, '')}{gaps}{calib}</body></html>"
    )


def write_report(result: SuiteResult, path: str | Path) -> None:
    """Write the HTML report atomically (temporary file in the same folder, then os.replace)."""
    atomic_write_text(path, _html(result))


def run(args: argparse.Namespace) -> int:
    if args.host:
        from app.commands.calibrate import run_host  # the live validation lives beside calibration

        return run_host(args)
    for flag, v in (("--quick", args.quick), ("--html", args.html), ("--target", args.target != "host")):
        if v:
            raise ValueError(f"{flag} goes with --host (live validation on this machine); the published-number "
                             "suite takes --json, --report and --cases")
    if args.report:
        check_writable(args.report)  # refused before the suite runs
    cases = load_cases(args.cases) if args.cases else load_cases()
    result = run_suite(cases)
    if args.report:
        write_report(result, args.report)
    if args.json:
        print_json(result.as_dict())
    else:
        s = result.summary()
        print(headline(s) + "\n")
        header = ["id", "predicted", "published", "unit", "rel_error", "tol", "ok", "role"]
        print("Checks:")
        print_table(header, [_row(r) for r in result.results if r.case.role == "check"])
        if result.gaps:
            print("\nKnown gaps (published numbers the model does not meet; in the headline, not failures):")
            print_table(header, [_row(r) for r in result.gaps])
            by_reason: dict[str, list[str]] = {}
            for r in result.gaps:
                by_reason.setdefault(r.case.gap_reason or "", []).append(r.case.id)
            for reason, ids in by_reason.items():
                print(f"- {', '.join(ids)}:\n    {reason}")
        if result.calibration:
            print("\nCalibration cases (a target-wide factor was set from each; in no error figure):")
            print_table(header, [_row(r) for r in result.calibration])
        print("\n" + _counts_line(s))
    return 0 if result.all_within else 1
