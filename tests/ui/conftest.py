"""Browser-test fixtures: one ``tradespace serve`` subprocess per session, Debian Chromium.

Without ``/usr/bin/chromium`` (or ``CHROMIUM_PATH``) the browser tests are skipped with the
reason, except under ``CI=true`` where they fail: CI must run them.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"


def _chromium_missing() -> str | None:
    if Path(CHROMIUM).exists():
        return None
    return (f"browser tests skipped: Chromium not found at {CHROMIUM} (install the Debian package "
            "`chromium` or set CHROMIUM_PATH; never `playwright install`)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = _chromium_missing()
    if reason is None or os.environ.get("CI", "").lower() == "true":
        return
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session", autouse=True)
def _chromium_required() -> None:
    reason = _chromium_missing()
    if reason and os.environ.get("CI", "").lower() == "true":
        pytest.fail("CI=true but " + reason, pytrace=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    url: str
    log: Path
    user_targets: Path
    proc: subprocess.Popen

    def tracebacks(self) -> list[str]:
        """Tracebacks in the server log, less Tornado's report of a browser that closed its
        websocket while the server was writing to it (a page closed by an earlier test; the
        server goes on serving, nothing of ours failed)."""
        text = self.log.read_text(errors="replace")
        blocks = text.split("Traceback (most recent call last)")[1:]
        return [b for b in blocks if not _client_went_away(b)]


_LOG_LINE = re.compile(r"^(?:(?:DEBUG|INFO|WARNING|ERROR|CRITICAL):|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)")


def _client_went_away(block: str) -> bool:
    # the exception is the block's last line that is not a log record written after it (the
    # server logs "Failed sending message as connection was closed" right after the traceback, or
    # asyncio's "Task exception was never retrieved" record and its "future: <Task ...>" line)
    lines = [ln.strip() for ln in block.strip().splitlines()
             if ln.strip() and not _LOG_LINE.match(ln.strip()) and not ln.strip().startswith("future: <Task ")]
    last = lines[-1] if lines else ""
    return last in ("tornado.websocket.WebSocketClosedError", "tornado.iostream.StreamClosedError: Stream is closed") \
        or (last.startswith("During handling of the above exception") and "StreamClosedError" in block)


@contextlib.contextmanager
def serve(d: Path, extra_env: dict[str, str] | None = None) -> Iterator[Server]:
    """A ``tradespace serve`` subprocess on a free port, logging to ``d/server.log``, saving edited
    targets to ``d/user-targets`` (files put there before the start are listed too); ``extra_env``
    is added to its environment."""
    if _chromium_missing() and os.environ.get("CI", "").lower() != "true":
        pytest.skip(_chromium_missing() or "")
    port = free_port()
    log = d / "server.log"
    user = d / "user-targets"
    exe = Path(sys.executable).parent / "tradespace"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "app.cli"]
    env = dict(os.environ, TRADESPACE_USER_TARGETS=str(user), **(extra_env or {}))
    with log.open("wb") as fh:
        proc = subprocess.Popen([*cmd, "serve", "--port", str(port), "--address", "127.0.0.1"], cwd=ROOT,
                                stdout=fh, stderr=subprocess.STDOUT, env=env)
    try:
        url, deadline = f"http://127.0.0.1:{port}", time.time() + 60
        while True:
            with contextlib.suppress(OSError):  # not listening yet
                if urllib.request.urlopen(url + "/roofline", timeout=5).status == 200:
                    break
            if time.time() > deadline or proc.poll() is not None:
                raise RuntimeError("tradespace serve did not start:\n" + log.read_text(errors="replace"))
            time.sleep(0.3)
        yield Server(url=url, log=log, user_targets=user, proc=proc)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serve(tmp_path_factory.mktemp("serve")) as s:
        yield s


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict) -> dict:
    return {**browser_context_args, "accept_downloads": True, "viewport": {"width": 1400, "height": 1000}}
