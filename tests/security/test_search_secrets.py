"""The storage password never leaks: not in ``--out`` metadata, not on the workers' command
lines or environment (``ps``, /proc), not in errors or log lines; URLs are shown redacted."""

from __future__ import annotations

import json
import signal
import socket

import pytest

from app.cli import main
from models.dse import parse_space, search
from models.dse.search import redact_url
from tests.security import _search_util
from tests.security._search_util import (
    SPACE_TOML,
    children,
    cli,
    cmdline,
    environ,
    kill_tree,
    n_complete,
    unique,
    wait_until,
)

postgres_url = _search_util.postgres_url  # the PostgreSQL server fixture of tests/models/dse

SECRET = "Tr0ub4dor-and-3"  # the test server trusts every client: any password is accepted


def _with_password(url: str, password: str = SECRET) -> str:
    head, rest = url.split("://", 1)
    user, host = rest.split("@", 1)
    return f"{head}://{user}:{password}@{host}"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://alice:s3cret@db.example:5432/dse", "postgresql://alice:***@db.example:5432/dse"),
        ("postgresql+psycopg2://alice:p%40ss@h/db?sslmode=require",
         "postgresql+psycopg2://alice:***@h/db?sslmode=require"),
        # an unescaped @ in the password: everything up to the last @ is hidden
        ("mysql://bob:pa@ss@host/db", "mysql://bob:***@host/db"),
        ("postgresql://carol@h/db?password=hunter2&x=1", "postgresql://carol@h/db?password=***&x=1"),
        ("postgresql://:only-pw@h/db", "postgresql://:***@h/db"),
        ("postgresql://dave@h/db", "postgresql://dave@h/db"),
        ("sqlite:////tmp/a@b/study.db", "sqlite:////tmp/a@b/study.db"),
        ("journal:/tmp/x:y@z/study.log", "journal:/tmp/x:y@z/study.log"),
    ],
)
def test_redact_url(url, shown):
    assert redact_url(url) == shown


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens there once the socket is closed


def test_connection_error_shows_the_url_redacted(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    url = f"postgresql://alice:{SECRET}@127.0.0.1:{_closed_port()}/dse"
    space = parse_space({
        "name": "sec", "workload": "tdnn-xvector", "target": "h100-sxm",
        "parameters": [{"name": "batch", "sets": "workload.batch", "kind": "int", "bounds": [1, 8]}],
        "objectives": [{"metric": "latency_s"}],
    })
    with pytest.raises(ValueError) as ei:
        search(space, 4, storage=url)
    msg = str(ei.value)
    assert SECRET not in msg and f"postgresql://alice:***@127.0.0.1:{url.rsplit(':', 1)[1]}" in msg
    assert "cannot open" in msg
    assert main(["search", SPACE_TOML, "--trials", "4", "--storage", url]) == 2
    err = capsys.readouterr().err
    assert SECRET not in err and "postgresql://alice:***@127.0.0.1" in err
    assert "Traceback" not in err


def test_out_metadata_and_log_lines_hold_no_password(postgres_url, tmp_path):
    url = _with_password(postgres_url)
    study = unique("meta")
    out = tmp_path / "found.json"
    r = main(["search", SPACE_TOML, "--trials", "6", "--storage", url, "--study", study,
              "--population", "3", "--sampler", "random", "--out", str(out)])
    assert r == 0
    text = out.read_text()
    assert SECRET not in text
    meta = json.loads(text)["metadata"]
    assert meta["storage"] == redact_url(url) and ":***@" in meta["storage"]
    assert meta["study"] == study


def test_workers_get_the_url_through_a_pipe_not_their_command_line(postgres_url, tmp_path):
    url = _with_password(postgres_url)
    study = unique("ps")
    proc = cli("search", SPACE_TOML, "--trials", "1000000", "--workers", "2", "--storage", url,
               "--study", study, "--population", "4", "--sampler", "random")
    try:
        kids = wait_until(lambda: len(children(proc.pid)) == 2 and children(proc.pid), 60, "workers")
        wait_until(lambda: n_complete(url, study) >= 8, 120, "the workers to tell trials")
        for k in kids:  # what `ps -ef` and `ps e` would show of each worker
            assert "models.dse._worker" in cmdline(k)
            assert SECRET not in cmdline(k) and postgres_url.split("@")[1] not in cmdline(k)
            assert SECRET not in environ(k)
        assert SECRET not in cmdline(proc.pid).replace(url, "")  # only the user's own argument
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            kill_tree(proc)
    assert proc.returncode == 130
    assert SECRET not in err and redact_url(url) in err  # the interruption line names the study


def test_journal_path_is_not_on_the_workers_command_line_either(tmp_path):
    # no PostgreSQL needed: whatever the URL, it travels through the pipe
    url = f"journal:{tmp_path / 'private-name.log'}"
    proc = cli("search", SPACE_TOML, "--trials", "1000000", "--workers", "2", "--storage", url,
               "--population", "4", "--sampler", "random")
    try:
        kids = wait_until(lambda: len(children(proc.pid)) == 2 and children(proc.pid), 60, "workers")
        # once they tell trials they run their own program (before exec a child shows ours)
        wait_until(lambda: n_complete(url) >= 8, 120, "the workers to tell trials")
        for k in kids:
            assert "models.dse._worker" in cmdline(k)
            assert "private-name" not in cmdline(k) and "private-name" not in environ(k)
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            kill_tree(proc)
    assert proc.returncode == 143
