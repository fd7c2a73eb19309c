"""Screenshots of every dashboard page, for the README gallery (``docs/img/<page>.png``).

Starts ``tradespace serve`` on a free loopback port, opens each page in headless Chromium at
1600x1000 with Playwright (``/usr/bin/chromium`` or ``$CHROMIUM_PATH``; never ``playwright
install``), waits for the page to settle, saves one PNG per page and stops the server. On
Explore a small sweep (2 x 2 x 2 grid) is run first, so the plot has points.

    .venv/bin/python scripts/screenshots.py [--out docs/img] [--pages landing fidelity]

Edited targets the pages might save go to a temporary folder, never to the user's.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import Page

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars"]
WIDTH, HEIGHT = 1600, 1000
# page name -> URL path (and query); Explore runs a small sweep before its screenshot
PAGES = {
    "landing": "/",
    "roofline": "/roofline",
    "compare": "/compare",
    "explore": "/explore?axis1_n=2&axis2_n=2&axis3_n=2",
    "targets": "/targets",
    "fidelity": "/fidelity",
}
DOC_READY = "() => window.Bokeh && Bokeh.documents.length > 0 && Bokeh.documents[0].roots().length > 0"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def serve(log: Path, user_targets: Path) -> Iterator[str]:
    """``tradespace serve`` on a free loopback port; yields its base URL, stops it afterwards."""
    port = free_port()
    exe = Path(sys.executable).parent / "tradespace"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "app.cli"]
    env = dict(os.environ, TRADESPACE_USER_TARGETS=str(user_targets))
    with log.open("wb") as fh:
        proc = subprocess.Popen([*cmd, "serve", "--port", str(port), "--address", "127.0.0.1"], cwd=ROOT,
                                stdout=fh, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 90
        while True:
            with contextlib.suppress(OSError):  # not listening yet
                if urllib.request.urlopen(url + "/", timeout=5).status == 200:
                    break
            if proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("tradespace serve did not start:\n" + log.read_text(errors="replace"))
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def settle(page: Page, ms: int = 1500) -> None:
    """Wait until no ``.ts-result`` says "computing", then a moment for the last renders."""
    from playwright.sync_api import Error

    with contextlib.suppress(Error):  # still computing after 30 s: take it as it is
        page.wait_for_function(
            "() => ![...document.querySelectorAll('*')].some(e => e.shadowRoot && "
            "e.shadowRoot.querySelector('.ts-result[data-status=computing]'))", timeout=30_000)
    page.wait_for_timeout(ms)


def run_explore_sweep(page: Page) -> None:
    """Click Run on Explore and wait for the sweep to finish (its status says ``done:``)."""
    from playwright.sync_api import expect

    page.locator(".w-run button").click()
    expect(page.locator(".w-status")).to_contain_text("done:", timeout=120_000)


def take(out: Path, names: list[str], *, full_page: bool = False) -> list[Path]:
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    saved: list[Path] = []
    with tempfile.TemporaryDirectory() as tmp, serve(Path(tmp) / "server.log", Path(tmp) / "user-targets") as url, \
            sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        ctx = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT})
        ctx.route("**/fonts.googleapis.com/**", lambda r: r.abort())
        for name in names:
            page = ctx.new_page()
            page.goto(url + PAGES[name])
            page.wait_for_function(DOC_READY, timeout=60_000)
            settle(page)
            if name == "explore":
                run_explore_sweep(page)
                settle(page)
            # clicking Run scrolled the page: show its top, as a user arriving there sees it
            page.evaluate("() => { window.scrollTo(0, 0); for (const e of document.querySelectorAll('*')) "
                          "{ if (e.scrollTop) e.scrollTop = 0; } }")
            page.wait_for_timeout(300)
            path = out / f"{name}.png"
            page.screenshot(path=str(path), full_page=full_page)  # by default the first 1600x1000
            saved.append(path)
            print(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}", flush=True)
            page.close()
        browser.close()
    return saved


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "img", help="folder of the PNGs (default docs/img)")
    ap.add_argument("--pages", nargs="+", choices=list(PAGES), default=list(PAGES), help="pages to capture")
    ap.add_argument("--full-page", action="store_true", help="the whole scrollable page, not only the viewport")
    args = ap.parse_args(argv)
    if not Path(CHROMIUM).exists():
        print(f"Chromium not found at {CHROMIUM}: install the Debian package `chromium` or set CHROMIUM_PATH",
              file=sys.stderr)
        return 2
    take(args.out, args.pages, full_page=args.full_page)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
