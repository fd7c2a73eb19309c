"""Issue 21: the landing page, the fidelity page and readable numbers, in real headless Chromium.

The fidelity page is held to what ``tradespace validate`` prints (a subprocess, not the
dashboard's own code path); the browser's SI formatter (``fmt.SI_JS``, used by every axis and
tooltip) is held to the Python one.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from app.dashboard import fmt
from app.dashboard.state import PAGES
from tests.ui.conftest import ROOT, Server
from tests.ui.test_dashboard import CDS_JS, DOC_READY, IGNORED_CONSOLE, no_server_traceback, open_page

pytestmark = pytest.mark.browser


def _cli(*args: str) -> str:
    exe = Path(sys.executable).parent / "tradespace"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "app.cli"]
    done = subprocess.run([*cmd, *args], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode in (0, 1), done.stderr  # 1: a check out of tolerance (still a report)
    return done.stdout


@pytest.fixture(scope="module")
def validate_json() -> dict[str, Any]:
    return json.loads(_cli("validate", "--json"))


@pytest.fixture(scope="module")
def validate_headline() -> str:
    return _cli("validate").splitlines()[0]


def _luminance(rgb: str) -> float:
    """Relative luminance (WCAG) of a CSS ``rgb(r, g, b)``."""
    parts = [int(float(v)) for v in rgb[rgb.index("(") + 1: rgb.index(")")].split(",")[:3]]

    def lin(c: float) -> float:
        c = c / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (lin(c) for c in parts)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


# the title's colour and the background of the first ancestor (across shadow roots) that has one
TITLE_COLOURS_JS = """() => {
  const t = document.querySelector('*') && (function find(root) {
    const hit = root.querySelector('.ts-title'); if (hit) return hit;
    for (const e of root.querySelectorAll('*')) if (e.shadowRoot) { const h = find(e.shadowRoot); if (h) return h; }
    return null; })(document);
  let e = t, bg = 'rgba(0, 0, 0, 0)';
  while (e) {
    const c = getComputedStyle(e).backgroundColor;
    if (c && c !== 'rgba(0, 0, 0, 0)' && c !== 'transparent') { bg = c; break; }
    e = e.parentElement || (e.getRootNode() && e.getRootNode().host) || null;
  }
  return [getComputedStyle(t).color, bg];
}"""


def _header_contrast(page: Page) -> float:
    fg, bg = page.evaluate(TITLE_COLOURS_JS)
    a, b = sorted((_luminance(fg), _luminance(bg)), reverse=True)
    return (a + 0.05) / (b + 0.05)


def test_landing_links_reach_every_page(page: Page, server: Server) -> None:
    errs = open_page(page, server.url + "/")
    links = page.locator(".ts-landing a.ts-page-link")
    expect(links).to_have_count(len(PAGES))
    hrefs = [links.nth(i).get_attribute("href") for i in range(len(PAGES))]
    assert hrefs == [f"/{p}" for p in PAGES]
    # it says what the tool is, and its fidelity line is the suite's (a number, not a blank)
    expect(page.locator(".ts-landing")).to_contain_text("hardware × algorithm trade-offs")
    expect(page.locator(".ts-landing-fidelity")).to_contain_text("median |error|")
    assert _header_contrast(page) >= 7, "header title must be light on the dark bar (WCAG AAA)"
    for p, href in zip(PAGES, hrefs, strict=True):
        page.goto(server.url + "/")
        page.wait_for_function(DOC_READY, timeout=30_000)
        with page.expect_navigation() as nav:
            page.locator(f".ts-landing a.ts-page-link[href='{href}']").click()
        assert nav.value is not None and nav.value.status == 200, p
        page.wait_for_function(DOC_READY, timeout=30_000)
        assert page.url.rstrip("/").endswith(f"/{p}")
        # every page has the same header: title (linking home) and the navigation to every page
        expect(page.locator(".ts-nav")).to_contain_text(" · ".join(q.title() for q in PAGES))
        expect(page.locator(".ts-title a[href='/']")).to_have_count(1)
        assert _header_contrast(page) >= 7, p
    real = [e for e in errs if not any(s in e for s in IGNORED_CONSOLE)]
    assert real == [], real
    no_server_traceback(server)


def _case_ids(page: Page) -> list[str]:
    """The case ids of the fidelity table (its ColumnDataSource: Tabulator renders rows lazily)."""
    cols = page.evaluate(CDS_JS, "quantity")
    assert len(cols) == 1, cols
    ids = page.evaluate("""() => [...Bokeh.documents[0].all_models].find(m =>
        m.type === 'ColumnDataSource' && 'quantity' in m.data && 'case' in m.data).data['case']""")
    return list(ids)


def test_fidelity_page_matches_tradespace_validate(page: Page, server: Server, validate_json: dict[str, Any],
                                                  validate_headline: str) -> None:
    open_page(page, server.url + "/fidelity")
    head = page.locator(".ts-fidelity-headline")
    # the first line the CLI prints, word for word (its median and p90 included)
    expect(head).to_contain_text(validate_headline)
    s = validate_json["summary"]
    shown = json.loads(head.get_attribute("data-summary") or "{}")
    assert math.isclose(shown["median"], s["median_abs_error_measured"], rel_tol=1e-12)
    assert math.isclose(shown["p90"], s["p90_abs_error_measured"], rel_tol=1e-12)
    every = validate_json["cases"] + validate_json["gaps"] + validate_json["calibration"]
    # the table has every case the CLI reports, once
    page.wait_for_function("() => [...Bokeh.documents[0].all_models].some(m => m.type === 'ColumnDataSource'"
                           " && 'quantity' in m.data)", timeout=30_000)
    assert sorted(_case_ids(page)) == sorted(c["id"] for c in every)
    # the parity plots hold every case too, split by kind of quantity
    per_plot = page.evaluate(CDS_JS, "published_text")
    assert sum(len(a) for a in per_plot) == len(every)
    assert len(per_plot) == len({c["group"] for c in every})
    # the gaps, grouped by reason: each reason the CLI gives is there
    gaps = page.locator(".ts-gaps")
    expect(gaps).to_contain_text(f"({len(validate_json['gaps'])} cases,")
    for reason in {c["gap_reason"] for c in validate_json["gaps"]}:
        expect(gaps).to_contain_text(reason[:60])
    # one paper: the table and plots show its cases only; the headline stays the whole suite's
    paper = max({c["paper"] for c in every}, key=lambda p: sum(c["paper"] == p for c in every))
    want = sorted(c["id"] for c in every if c["paper"] == paper)
    page.locator(".fidelity-paper select").select_option(paper)
    page.wait_for_function("(n) => [...Bokeh.documents[0].all_models].some(m => m.type === 'ColumnDataSource'"
                           " && 'quantity' in m.data && 'case' in m.data && m.data['case'].length === n)",
                           arg=len(want), timeout=30_000)
    ids = page.evaluate("""() => [...Bokeh.documents[0].all_models].filter(m => m.type === 'ColumnDataSource'
        && 'quantity' in m.data && 'case' in m.data).map(m => Array.from(m.data['case']))""")
    assert want in [sorted(a) for a in ids]
    expect(head).to_contain_text(validate_headline)
    no_server_traceback(server)


# values around every prefix boundary, rounding carries, negatives, zero and missing values
JS_VALUES: list[tuple[Any, str]] = [
    (1.098e-4, "s"), (1.554e-6, "J"), (8e12, "B/s"), (999.97e-6, "s"), (0.9996, "s"), (1e3, "B"),
    (-2.5e-3, "W"), (0.0, "J"), (2.58, "1"), (0.764, "1"), (2.5e7, "1"), (1e-4, "1"), (1e-18, "J"),
    (2e18, "B"), (12345678.0, "FLOP/s"), (3.35e12, "B/s"), (989.4e12, "FLOP/s"), (7.77e-9, "s"),
    (123.4567, "J/item"), (None, "s"), (float("inf"), "J"),
]


def test_browser_si_formatter_matches_python(page: Page, server: Server) -> None:
    open_page(page, server.url + "/fidelity")
    values = [None if v is None or not math.isfinite(v) else v for v, _ in JS_VALUES]
    js = page.evaluate("([vals, units]) => { " + fmt.SI_JS + " return vals.map((v, i) => si(v, units[i], 3)); }",
                       [values, [u for _, u in JS_VALUES]])
    # JSON cannot carry inf: check it apart
    inf = page.evaluate("() => { " + fmt.SI_JS + " return si(Infinity, 'J', 3); }")
    want = [fmt.si(v, u) for v, u in JS_VALUES]
    assert [*js[:-1], inf] == want
    # the parity plots' axes use it: their tick formatters are SI formatters with the group's unit
    units = page.evaluate("""() => [...Bokeh.documents[0].all_models]
        .filter(m => m.type === 'CustomJSTickFormatter').map(m => m.args.get ? m.args.get('unit') : m.args.unit)""")
    assert {"J", "W", "s", "/s", "1"} <= set(units)


def test_fidelity_selection_lives_in_the_url(page: Page, server: Server, validate_json: dict[str, Any]) -> None:
    every = validate_json["cases"] + validate_json["gaps"] + validate_json["calibration"]
    papers = sorted({c["paper"] for c in validate_json["gaps"]})
    paper = papers[len(papers) // 2]
    want = sorted(c["id"] for c in every if c["paper"] == paper and c["role"] == "gap")
    open_page(page, server.url + "/fidelity?" + urllib.parse.urlencode({"paper": paper, "role": "gap"}))
    page.wait_for_function("() => [...Bokeh.documents[0].all_models].some(m => m.type === 'ColumnDataSource'"
                           " && 'quantity' in m.data)", timeout=30_000)
    assert sorted(_case_ids(page)) == want
    assert page.locator(".fidelity-paper select").input_value() == paper
    # a value the page does not offer: one message naming it, and the default (all cases)
    open_page(page, server.url + "/fidelity?role=failed")
    expect(page.locator(".ts-message .ts-error")).to_contain_text("role='failed' is not one of: all, check, gap")
    page.wait_for_function("() => [...Bokeh.documents[0].all_models].some(m => m.type === 'ColumnDataSource'"
                           " && 'quantity' in m.data)", timeout=30_000)
    assert len(_case_ids(page)) == len(every)
    # choosing in the sidebar rewrites the URL, so a copied link reopens the same selection
    page.locator(".fidelity-paper select").select_option(paper)
    page.wait_for_function("(p) => new URLSearchParams(location.search).get('paper') === p", arg=paper,
                           timeout=15_000)
    no_server_traceback(server)
