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


def _summary_line(s: dict) -> str:
    """The one-line summary: counts, sources, and the check cases' errors."""

    def pct(v: float | None) -> str:
        return "n/a" if v is None else f"{v:.2%}"

    line = (
        f"{s['n_within']}/{s['n_cases']} within tolerance ({s['n_check']} check, {s['n_calibration']} "
        f"calibration); {s['n_papers']} sources; median |rel. error| of check cases "
        f"{pct(s['median_abs_relative_error_check'])} (range cases count 0 inside their range); "
        f"of point-valued check cases: median {pct(s['median_abs_relative_error_check_point_values'])}, "
        f"max {pct(s['max_abs_relative_error_check_point_values'])}"
    )
    if s["n_gap"]:
        line += (
            f". Known gaps (published numbers the model does not meet, reported, not counted): "
            f"{s['n_gap']} from {s['n_gap_papers']} sources, median |rel. error| "
            f"{pct(s['median_abs_relative_error_gap'])}"
        )
    return line


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
        description="Run every case of data/validation/*.toml; exit 1 if any is out of tolerance.",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object {cases, summary}")
    p.add_argument("--report", metavar="FILE.html", help="write an offline HTML report with a parity plot")
    p.add_argument("--cases", metavar="PATH", action="append", help="validation file or folder (repeatable)")
    p.set_defaults(func=run)


def parity_data(result: SuiteResult) -> dict[str, list[Any]]:
    """Columns of the parity plot: published (or range middle) vs predicted, per case."""
    rs = result.results
    return {
        "id": [r.case.id for r in rs],
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

    d = parity_data(result)
    pos = [abs(v) for v in d["published"] + d["predicted"] if v]
    lo, hi = min(pos) / 2, max(pos) * 2
    fig = figure(
        title="Predicted vs published",
        x_axis_type="log",
        y_axis_type="log",
        width=560,
        height=520,
        x_axis_label="published",
        y_axis_label="predicted",
        x_range=Range1d(lo, hi),
        y_range=Range1d(lo, hi),
    )
    fig.line([lo, hi], [lo, hi], color="gray", line_dash="dashed")
    src = ColumnDataSource({k: [abs(v) if isinstance(v, float) else v for v in vals] for k, vals in d.items()})
    fig.scatter("published", "predicted", source=src, size=8, color="colour", legend_group="role")
    fig.legend.location = "top_left"
    fig.add_tools(
        HoverTool(
            tooltips=[
                ("case", "@id"),
                ("published", "@published"),
                ("predicted", "@predicted"),
                ("within tolerance", "@within"),
                ("role", "@role"),
            ]
        )
    )
    script, div = components(fig)
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

    gaps = (
        "<h2>Known gaps</h2><p>Published numbers the model does not meet. They are run and shown "
        "here, not counted as passing or failing, and no factor is fitted to them.</p>"
        + table(result.gaps, "why the model misses it")
        if result.gaps
        else ""
    )
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Tradespace validation</title>"
        f"{INLINE.render()}{script}</head><body><h1>Tradespace validation</h1>"
        f"<p>{html.escape(_summary_line(s))}</p>{div}<h2>Cases</h2>{table(result.checked, '')}{gaps}"
        "</body></html>"
    )


def write_report(result: SuiteResult, path: str | Path) -> None:
    """Write the HTML report atomically (temporary file in the same folder, then os.replace)."""
    atomic_write_text(path, _html(result))


def run(args: argparse.Namespace) -> int:
    if args.report:
        check_writable(args.report)  # refused before the suite runs
    cases = load_cases(args.cases) if args.cases else load_cases()
    result = run_suite(cases)
    if args.report:
        write_report(result, args.report)
    if args.json:
        print_json(result.as_dict())
    else:
        header = ["id", "predicted", "published", "unit", "rel_error", "tol", "ok", "role"]
        print_table(header, [_row(r) for r in result.checked])
        if result.gaps:
            print("\nKnown gaps (published numbers the model does not meet; reported, not counted):")
            print_table(header, [_row(r) for r in result.gaps])
            by_reason: dict[str, list[str]] = {}
            for r in result.gaps:
                by_reason.setdefault(r.case.gap_reason or "", []).append(r.case.id)
            for reason, ids in by_reason.items():
                print(f"- {', '.join(ids)}:\n    {reason}")
        s = result.summary()
        print("\n" + _summary_line(s))
    return 0 if result.all_within else 1
