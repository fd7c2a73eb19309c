"""Knob change -> updated plot data on the Roofline page, in real headless Chromium.

Starts ``tradespace serve`` on a free port, opens the Roofline page (Llama-2-7B decode on
h100-sxm), flips the weight datatype between bf16 and int4 and times, in the browser, from the
``<select>`` change to the moment the points' ColumnDataSource holds the new intensities.
Prints ``p95_ms=N`` last.

Compare: the same flip with six targets of four classes (``compare_p95_ms``), timed to the
result header saying "ready" for the new inputs (the table and bars are drawn from that result).

Explore: from the click on Run of a 1,000-point sweep (``explore_first_points_ms``) to the first
ColumnDataSource of the new run holding points, and to the status saying it is done
(``explore_sweep_done_ms``); N_EXPLORE repeats.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
N_REPEATS = int(os.environ.get("N_REPEATS", "30"))
N_EXPLORE = int(os.environ.get("N_EXPLORE", "8"))
# In-page timing of an Explore run: click Run, then poll every animation frame until a new
# ColumnDataSource (one not there before the click) holds at least one point.
TIMED_RUN = """async (btn) => {
  const sources = () => [...Bokeh.documents[0].all_models].filter(m => m.type === 'ColumnDataSource' &&
                         'energy_J_per_item' in m.data && 'latency_s' in m.data);
  const before = new Set(sources().map(m => m.id));
  const t0 = performance.now();
  btn.click();
  while (true) {
    if (sources().some(m => !before.has(m.id) && m.get_length() > 0)) return performance.now() - t0;
    await new Promise(r => requestAnimationFrame(r));
  }
}"""


def explore_first_points(browser: object, base: str) -> tuple[list[float], list[float]]:
    """Click-to-first-points and click-to-done times (ms) of a 1,000-point Explore sweep."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})  # type: ignore[attr-defined]
    page.goto(f"{base}/explore?axis1_n=10&axis2_n=10&axis3_n=10")
    page.wait_for_function("() => window.Bokeh && Bokeh.documents.length > 0", timeout=60_000)
    btn = page.locator(".w-run button")
    btn.wait_for()
    first, done = [], []
    for i in range(N_EXPLORE + 1):
        t0 = time.perf_counter()
        ms = page.evaluate(TIMED_RUN, btn.element_handle())
        page.locator(".w-status").get_by_text("done: 1000 points").wait_for(timeout=60_000)
        if i >= 1:  # first: warm-up (imports, first render)
            first.append(ms)
            done.append(1000 * (time.perf_counter() - t0))
    page.close()
    return first, done

# In-page timing: change the select, then poll the CDS every animation frame until the max
# intensity crosses 2.5 FLOP/B (bf16 decode GEMV ~1, int4 ~4).
TIMED_CHANGE = """async ([sel, value]) => {
  const want = value === 'int4';
  const src = () => [...Bokeh.documents[0].all_models].find(m => m.type === 'ColumnDataSource' &&
                     'intensity_FLOP_per_B' in m.data);
  const t0 = performance.now();
  sel.value = value; sel.dispatchEvent(new Event('change', {bubbles: true}));
  while (true) {
    const a = Array.from(src().data['intensity_FLOP_per_B']);
    if ((Math.max(...a) > 2.5) === want) return performance.now() - t0;
    await new Promise(r => requestAnimationFrame(r));
  }
}"""


COMPARE_TARGETS = ["h100-sxm", "a100-80gb", "v100-sxm2", "jetson-orin-gpu", "raspberry-pi-5", "hbm-pim"]
# In-page timing on Compare: change the select, then poll every animation frame until the result
# header (.ts-result, rendered from the result shown, with the table and bars) says "ready" (or
# "partial": a target that lacks the datatype gets its row with the reason) for
# inputs whose weight datatype is the new one (bf16 is the default: absent from the knobs).
# Panel renders into shadow roots: find the header through them
DEEP_QUERY = """(sel) => {
  const walk = (root) => {
    const hit = root.querySelector(sel);
    if (hit) return hit;
    for (const el of root.querySelectorAll('*')) if (el.shadowRoot) { const h = walk(el.shadowRoot); if (h) return h; }
    return null;
  };
  return walk(document);
}"""
TIMED_COMPARE = """async ([sel, value]) => {
  const deep = """ + DEEP_QUERY + """;
  const shown = () => {
    const el = deep('.ts-result');
    if (!el || !['ready', 'partial'].includes(el.dataset.status)) return false;
    const knobs = (JSON.parse(el.dataset.inputs || '{}').knobs) || {};
    return (knobs.weight_dtype || 'bf16') === value;
  };
  const t0 = performance.now();
  sel.value = value; sel.dispatchEvent(new Event('change', {bubbles: true}));
  while (!shown()) await new Promise(r => requestAnimationFrame(r));
  return performance.now() - t0;
}"""


def compare_six_targets(browser: object, base: str) -> list[float]:
    """Knob-to-result times (ms) on Compare with six targets of four classes."""
    import json
    import urllib.parse

    page = browser.new_page(viewport={"width": 1400, "height": 1000})  # type: ignore[attr-defined]
    q = urllib.parse.quote(json.dumps(COMPARE_TARGETS))
    page.goto(f"{base}/compare?targets={q}&workload=llama-2-7b&phase=decode")
    page.wait_for_function("() => { const el = (" + DEEP_QUERY + ")('.ts-result');"
                           " return el && ['ready', 'partial'].includes(el.dataset.status); }", timeout=60_000)
    select = page.locator(".knob-weight_dtype select").element_handle()
    times = []
    for i in range(N_REPEATS + 2):
        ms = page.evaluate(TIMED_COMPARE, [select, "int4" if i % 2 == 0 else "bf16"])
        if i >= 2:  # first two: warm-up
            times.append(ms)
    page.close()
    return times


def main() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exe = Path(sys.executable).parent / "tradespace"
    env = dict(os.environ, TRADESPACE_USER_TARGETS=tempfile.mkdtemp())
    proc = subprocess.Popen([str(exe), "serve", "--port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/roofline?targets=%5B%22h100-sxm%22%5D&workload=llama-2-7b&phase=decode"
    try:
        deadline = time.time() + 60
        while True:
            try:
                urllib.request.urlopen(url, timeout=5)
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.3)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url)
            page.wait_for_function("() => window.Bokeh && Bokeh.documents.length > 0 && "
                                   "[...Bokeh.documents[0].all_models].some(m => m.type === 'ColumnDataSource'"
                                   " && 'intensity_FLOP_per_B' in m.data)", timeout=60_000)
            page.locator(".knob-weight_dtype select").wait_for()
            select = page.locator(".knob-weight_dtype select").element_handle()
            times = []
            for i in range(N_REPEATS + 2):
                ms = page.evaluate(TIMED_CHANGE, [select, "int4" if i % 2 == 0 else "bf16"])
                if i >= 2:  # first two: warm-up
                    times.append(ms)
            cmp_times = compare_six_targets(browser, f"http://127.0.0.1:{port}")
            first, done = explore_first_points(browser, f"http://127.0.0.1:{port}")
            browser.close()
    finally:
        proc.terminate()
        proc.wait(10)
    c = np.asarray(cmp_times)
    print(f"compare {len(COMPARE_TARGETS)} targets, n={c.size}: compare_median_ms={np.median(c):.0f} "
          f"compare_p95_ms={np.percentile(c, 95):.0f} max_ms={c.max():.0f}")
    f, d = np.asarray(first), np.asarray(done)
    print(f"explore 1000-point sweep, n={f.size}: explore_first_points_ms median={np.median(f):.0f} "
          f"max={f.max():.0f}; explore_sweep_done_ms median={np.median(d):.0f} max={d.max():.0f}")
    t = np.asarray(times)
    print(f"n={t.size} median_ms={np.median(t):.0f} max_ms={t.max():.0f}")
    print(f"p95_ms={np.percentile(t, 95):.0f}")


if __name__ == "__main__":
    main()
