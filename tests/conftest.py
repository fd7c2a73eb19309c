"""Every test runs against the shipped presets and an empty user targets folder of its own.

The user's real folder (``~/.tradespace/targets``) holds whatever a person calibrated or saved
on this machine, in whatever schema version wrote it; a test that read it would pass or fail
with the machine rather than with the code. The folder is set before collection (test ids
parametrized over the available targets are computed then); tests that need a user folder set
their own ``TRADESPACE_USER_TARGETS`` (monkeypatch undoes it), and child processes inherit this
one. ``TRADESPACE_TARGETS_PATH`` (extra folders of the person running the tests) is cleared.
"""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

_KEYS = ("TRADESPACE_USER_TARGETS", "TRADESPACE_TARGETS_PATH")
_saved: dict[str, str | None] = {}
_folder: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    _saved.update({k: os.environ.get(k) for k in _KEYS})
    _folder.append(tempfile.mkdtemp(prefix="tradespace-user-targets-"))
    os.environ["TRADESPACE_USER_TARGETS"] = _folder[0]
    os.environ.pop("TRADESPACE_TARGETS_PATH", None)


def pytest_unconfigure(config: pytest.Config) -> None:
    for k, v in _saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    for f in _folder:
        shutil.rmtree(f, ignore_errors=True)
