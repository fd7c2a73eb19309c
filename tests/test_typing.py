"""Typing: mypy is clean on the files listed in pyproject.toml's [tool.mypy] section
(models/, the CLI entry point and its subcommands), with that section's settings."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_mypy_config_names_the_checked_files() -> None:
    # The checked set lives in the config: keep it covering what house style 9 asks for.
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]
    assert set(cfg["files"]) >= {"models", "app/cli.py", "app/commands"}, cfg["files"]


def test_mypy_clean() -> None:
    # mypy is a dev dependency (pyproject dependency-groups.dev). Run from the repo root so
    # it reads pyproject.toml (settings and the files to check); the incremental cache
    # (.mypy_cache, self-ignored by git) makes repeat runs fast.
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--show-error-codes"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    report = (proc.stdout + proc.stderr).strip()
    assert proc.returncode == 0, f"mypy found type errors (exit {proc.returncode}):\n{report}"
