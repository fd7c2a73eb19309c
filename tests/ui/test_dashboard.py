"""The dashboard in real headless Chromium against ``tradespace serve`` (issue 7)."""

from __future__ import annotations

import json
import time
import urllib.parse
from typing import Any

import numpy as np
import polars as pl
import pytest
from playwright.sync_api import Page, expect

from models.dse import read_json_results
from tests.ui.conftest import SCREENSHOTS, Server

pytestmark = pytest.mark.browser

DOC_READY = "() => window.Bokeh && Bokeh.documents.length > 0 && Bokeh.documents[0].roots().length > 0"
# every ColumnDataSource holding column `col`, as plain arrays
CDS_JS = """(col) => [...Bokeh.documents[0].all_models]
   .filter(m => m.type === 'ColumnDataSource' && col in m.data)
   .map(m => Array.from(m.data[col]))"""
IGNORED_CONSOLE = ("allowHTML will default", "GL Driver Message", "WebGL")


def open_page(page: Page, url: str, errors: list[str] | None = None) -> list[str]:
    """Go to ``url`` and wait for the Bokeh document; collect console errors."""
    errs = errors if errors is not None else []
    page.route("**/fonts.googleapis.com/**", lambda r: r.abort())
    page.on("console", lambda m: errs.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errs.append(str(e)))
    page.goto(url)
    page.wait_for_function(DOC_READY, timeout=30_000)
    return errs


def cds(page: Page, col: str) -> list[list[Any]]:
    return page.evaluate(CDS_JS, col)


def wait_cds(page: Page, col: str, pred: str, timeout: int = 30_000) -> None:
    """Wait until some CDS column ``col`` satisfies the JS predicate ``pred`` (of the array ``a``)."""
    page.wait_for_function(f"() => ({CDS_JS})({json.dumps(col)}).some(a => {pred})", timeout=timeout)


def shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def no_server_traceback(server: Server) -> None:
    tbs = server.tracebacks()
    assert not tbs, "server traceback:\n" + tbs[0][:3000]


def test_every_page_loads_without_errors(page: Page, server: Server) -> None:
    for name in ("roofline", "compare", "explore", "targets"):
        errs = open_page(page, f"{server.url}/{name}")
        page.wait_for_timeout(800)  # let late renders log their errors
        shot(page, name)
        real = [e for e in errs if not any(s in e for s in IGNORED_CONSOLE)]
        assert real == [], f"{name}: console errors {real}"
    # the roofline page plots operators (points) and ceilings (lines)
    page.goto(f"{server.url}/roofline")
    page.wait_for_function(DOC_READY)
    wait_cds(page, "intensity_FLOP_per_B", "a.length > 5")
    no_server_traceback(server)


def test_knob_change_updates_plot_and_url_restores_state(page: Page, server: Server, browser: Any) -> None:
    open_page(page, f"{server.url}/roofline")
    wait_cds(page, "achieved_FLOP_per_s", "a.length > 5")
    before = cds(page, "intensity_FLOP_per_B")
    assert len(before) == 1  # one points source, updated in place (DynamicMap)
    # weight datatype bf16 -> int4: a decode GEMV reads 4x fewer weight bytes, so its
    # arithmetic intensity rises from about 1 FLOP/B to about 4 FLOP/B
    assert max(before[0]) < 1.5
    page.locator(".knob-weight_dtype select").select_option("int4")
    wait_cds(page, "intensity_FLOP_per_B", "Math.max(...a) > 3.5")
    after = cds(page, "intensity_FLOP_per_B")
    assert len(after) == 1 and after[0] != before[0]
    # the URL now carries the state; a second browser context opening it sees the same view
    page.wait_for_function("() => window.location.search.includes('int4')")
    shared = page.url
    q = urllib.parse.parse_qs(urllib.parse.urlparse(shared).query)
    assert json.loads(q["knobs"][0])["weight_dtype"] == "int4"
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        other = ctx.new_page()
        open_page(other, shared)
        wait_cds(other, "intensity_FLOP_per_B", "Math.max(...a) > 3.5")
        assert sorted(cds(other, "intensity_FLOP_per_B")[0]) == pytest.approx(sorted(after[0]))
        expect(other.locator(".knob-weight_dtype select")).to_have_value("int4")
    finally:
        ctx.close()
    no_server_traceback(server)


def test_invalid_input_notifies_and_saved_target_is_found(page: Page, server: Server) -> None:
    open_page(page, f"{server.url}/targets")
    page.locator(".w-name input").fill("Bad Name!")
    page.locator(".w-name input").press("Enter")
    page.locator(".w-save button").click()
    expect(page.get_by_text("name 'Bad Name!'").first).to_be_visible(timeout=10_000)
    shot(page, "targets-invalid-name")
    # a valid edit within bounds, saved under a new name, is then listed by the registry
    page.locator(".w-field select").select_option("memories.hbm.bandwidth")
    expect(page.locator(".w-bounds")).to_contain_text("GB/s")  # the server set the field's bounds
    expect(page.locator(".w-value input")).to_have_value("3350")
    page.locator(".w-value input").fill("5000")
    page.locator(".w-value input").press("Enter")
    page.locator(".w-apply button").click()
    expect(page.get_by_text("memories.hbm.bandwidth = 5000")).to_be_visible()
    page.locator(".w-name input").fill("h100-fast-hbm")
    page.locator(".w-name input").press("Enter")
    page.locator(".w-save button").click()
    expect(page.get_by_text("saved h100-fast-hbm").first).to_be_visible(timeout=10_000)
    assert (server.user_targets / "h100-fast-hbm.toml").exists()
    expect(page.locator(".w-target select option[value='h100-fast-hbm']")).to_have_count(1)
    no_server_traceback(server)


def test_small_search_shows_progress_then_front(page: Page, server: Server) -> None:
    open_page(page, f"{server.url}/explore?method=search&n_trials=120&axis1_high=32")
    page.locator(".w-run button").click()
    seen: set[float] = set()
    deadline = time.time() + 60
    while time.time() < deadline:
        seen.add(page.locator(".w-progress progress").evaluate("e => e.value"))
        # the text is inside the pane's shadow root: a locator into it (the host's inner_text is empty)
        if "done" in " ".join(page.locator(".w-status pre").all_inner_texts()):
            break
        page.wait_for_timeout(100)
    expect(page.locator(".w-status")).to_contain_text("done: 120 points")
    assert any(0 < v < 1000 for v in seen), f"no intermediate progress seen: {sorted(seen)}"
    wait_cds(page, "memories_hbm_bandwidth", "a.length >= 1")
    shot(page, "explore-search")
    no_server_traceback(server)


def test_million_point_sweep_front_click_and_exports(page: Page, server: Server, tmp_path: Any) -> None:
    # the default axes (batch, HBM bandwidth, clock) on 100-point grids: batch 1..100 is every
    # integer, so exactly 100**3 grid points
    q = "axis1_high=100&axis1_n=100&axis2_n=100&axis3_n=100"
    open_page(page, f"{server.url}/explore?{q}")
    page.locator(".w-run button").click()
    # the page stays responsive while the sweep runs: a widget round-trip answers quickly
    expect(page.locator(".w-status")).to_contain_text("sweep", timeout=20_000)
    t0 = time.time()
    page.evaluate("() => Bokeh.documents[0].all_models.size")
    assert time.time() - t0 < 2.0
    expect(page.locator(".w-status")).to_contain_text("done: 1000000 points", timeout=120_000)
    # the cloud is a server-side raster (an image glyph), the front real points
    page.wait_for_function(f"() => ({CDS_JS})('image').length > 0", timeout=30_000)
    wait_cds(page, "memories_hbm_bandwidth", "a.length >= 1")
    front_len = len(cds(page, "memories_hbm_bandwidth")[0])
    # batching trades latency for energy per token: a front of many points, not a single winner
    assert front_len >= 5
    shot(page, "explore-1M")
    # click a front point on the canvas -> its breakdown is drawn
    xy = page.evaluate("""() => {
        const doc = Bokeh.documents[0];
        const r = [...doc.all_models].find(m => m.type === 'GlyphRenderer' &&
                    'memories_hbm_bandwidth' in m.data_source.data);
        const view = Bokeh.index.find_one(r);
        const pv = view.parent;
        const d = r.data_source.data, x = d[Object.keys(d).find(k => k === 'latency_s')][0],
              y = d['energy_J_per_item'][0];
        const sx = pv.frame.x_scale.compute(x), sy = pv.frame.y_scale.compute(y);
        const rect = pv.canvas_view.el.getBoundingClientRect();
        return [rect.left + sx, rect.top + sy];
    }""")
    page.mouse.click(xy[0], xy[1])
    wait_cds(page, "total_latency_s", "a.length > 3", timeout=20_000)
    page.mouse.move(5, 5)  # hide the hover tooltip before the screenshot
    shot(page, "explore-1M-selected")
    # each export downloads and reads back as the front
    frames = {}
    for fmt in ("csv", "parquet", "json", "html"):
        with page.expect_download() as dl:
            page.locator(f".w-export-{fmt} button").click()
        path = tmp_path / dl.value.suggested_filename
        dl.value.save_as(path)
        frames[fmt] = path
    csv = pl.read_csv(frames["csv"])
    assert csv.height == front_len and {"latency_s", "energy_J_per_item", "clock"} <= set(csv.columns)
    assert pl.read_parquet(frames["parquet"]).equals(csv.with_columns(pl.col("feasible").cast(pl.Boolean))) or \
        pl.read_parquet(frames["parquet"]).height == front_len
    js, meta = read_json_results(frames["json"])  # the export's layout: metadata, columns, data
    assert js.height == front_len and meta.get("space")
    html = frames["html"].read_text()
    assert html.count("<tr>") == front_len + 1 and "latency_s" in html
    lat = np.sort(csv["latency_s"].to_numpy())
    assert np.all(np.diff(lat) >= 0)
    no_server_traceback(server)


def test_ten_concurrent_sessions_do_not_leak(browser: Any, server: Server) -> None:
    contexts = [browser.new_context(viewport={"width": 1200, "height": 900}) for _ in range(10)]
    try:
        pages = [c.new_page() for c in contexts]
        errs: list[str] = []
        for i, p in enumerate(pages):  # session i runs batch i + 1
            knobs = urllib.parse.quote(json.dumps({"batch": i + 1}))
            p.route("**/fonts.googleapis.com/**", lambda r: r.abort())
            p.on("pageerror", lambda e: errs.append(str(e)))
            p.goto(f"{server.url}/roofline?knobs={knobs}", wait_until="commit")
        for p in pages:
            p.wait_for_function(DOC_READY, timeout=60_000)
            wait_cds(p, "flop", "a.length > 5", timeout=60_000)
        flops = [sorted(cds(p, "flop")[0]) for p in pages]
        # FLOPs of a decode GEMM scale with batch: session i sees (i + 1) x session 0's
        for i, f in enumerate(flops):
            assert max(f) == pytest.approx((i + 1) * max(flops[0]), rel=1e-9)
        # a change in session 0 stays in session 0
        before1 = sorted(cds(pages[1], "intensity_FLOP_per_B")[0])
        pages[0].locator(".knob-weight_dtype select").select_option("int8")
        wait_cds(pages[0], "intensity_FLOP_per_B", "Math.max(...a) > 1.5")
        pages[1].wait_for_timeout(500)
        assert sorted(cds(pages[1], "intensity_FLOP_per_B")[0]) == before1
        assert sorted(cds(pages[5], "flop")[0]) == flops[5]
        assert errs == []
    finally:
        for c in contexts:
            c.close()
    no_server_traceback(server)
