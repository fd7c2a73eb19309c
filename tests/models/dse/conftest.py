"""Fixtures for the DSE tests: a throw-away PostgreSQL server on loopback.

The server is initialised in a temporary directory and run as an unprivileged user
(``nobody`` when the tests run as root), on a free port with its unix socket in the same
temporary directory. Where it cannot start the tests that need it skip, saying why; with
``CI=true`` they fail instead.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"PostgreSQL server needed in CI but unavailable: {reason}")
    pytest.skip(f"PostgreSQL server unavailable: {reason}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not bins:
        _unavailable(
            "no /usr/lib/postgresql/*/bin/initdb (install the Debian package 'postgresql')"
        )
    bindir = Path(bins[-1]).parent
    user = "nobody" if os.geteuid() == 0 else None
    root = Path(tempfile.mkdtemp(prefix="tradespace-pg-", dir="/tmp"))
    os.chmod(root, 0o755)
    data = root / "data"
    data.mkdir()
    if user:
        shutil.chown(root, user=user)
        shutil.chown(data, user=user)
    port = _free_port()
    kw: dict = {"user": user} if user else {}
    started = False
    try:
        r = subprocess.run(
            [
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
            ],
            capture_output=True,
            text=True,
            cwd=root,
            **kw,
        )
        if r.returncode != 0:
            _unavailable(f"initdb failed: {r.stderr.strip()[-400:]}")
        r = subprocess.run(
            [
                str(bindir / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(root / "log"),
                "-w",
                "-t",
                "30",
                "-o",
                f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off",
                "start",
            ],
            capture_output=True,
            text=True,
            cwd=root,
            **kw,
        )
        if r.returncode != 0:
            log = (root / "log").read_text()[-400:] if (root / "log").exists() else ""
            _unavailable(f"pg_ctl start failed: {r.stderr.strip()[-300:]} {log}")
        started = True
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        if started:
            subprocess.run(
                [str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                capture_output=True,
                cwd=root,
                **kw,
            )
        shutil.rmtree(root, ignore_errors=True)
