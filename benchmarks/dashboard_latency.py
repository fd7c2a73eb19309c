"""Knob change -> updated plot data on the Roofline page, in real headless Chromium.

Starts ``tradespace serve`` on a free port, opens the Roofline page (Llama-2-7B decode on
h100-sxm), flips the weight datatype between bf16 and int4 and times, in the browser, from the
``<select>`` change to the moment the points' ColumnDataSource holds the new intensities.
Prints ``p95_ms=N`` last.
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
            browser.close()
    finally:
        proc.terminate()
        proc.wait(10)
    t = np.asarray(times)
    print(f"n={t.size} median_ms={np.median(t):.0f} max_ms={t.max():.0f}")
    print(f"p95_ms={np.percentile(t, 95):.0f}")


if __name__ == "__main__":
    main()
