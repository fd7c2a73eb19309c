"""Atomic writes: nothing half-written is ever left, whatever stops the writer.

Real processes and real filesystems: a streamed sweep to Parquet killed by SIGTERM (and by
SIGINT, and by SIGKILL, whose leftover the next write removes), a 0600 file overwritten, a
symlink to another filesystem (``/dev/shm``) as ``--out``, and a read-only folder as a user
without the right to write there (``nobody`` through ``setpriv`` when the tests run as root).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from models.io import STALE_AFTER_S, OutputPathError, atomic_write, atomic_write_text, check_writable
from tests.security._spaces import two_axis_space

ROOT = Path(__file__).resolve().parents[2]
SMALL = ROOT / "data" / "spaces" / "tdnn-h100-small.toml"  # 900 points, a second or two

# a sweep that runs for minutes (50 M points, under the default budget): long enough to be
# signalled while it writes; every test stops it within seconds
LONG = two_axis_space("long", "gemm", 5000, 10000, energy=True)


def _tmp_files(folder: Path) -> list[str]:
    return sorted(n for n in os.listdir(folder) if ".~tradespace." in n)


def _cli(*args: str, **kw: object) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "app.cli", *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)  # type: ignore[call-overload]


def _wait_for_tmp(folder: Path, proc: subprocess.Popen, timeout_s: float = 120.0) -> Path:
    """The temporary file of the running sweep, once it holds data."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        assert proc.poll() is None, f"the sweep ended early: {proc.communicate()}"
        for n in _tmp_files(folder):
            p = folder / n
            try:
                if p.stat().st_size > 0:
                    return p
            except FileNotFoundError:
                continue
        time.sleep(0.05)
    raise AssertionError("the sweep wrote no temporary file")


@pytest.fixture
def long_space(tmp_path: Path) -> Path:
    p = tmp_path / "long.toml"
    p.write_text(LONG)
    return p


@pytest.fixture
def proc_guard() -> Iterator[list[subprocess.Popen]]:
    """Processes a test started; killed at the end if a broken implementation left them running."""
    procs: list[subprocess.Popen] = []
    yield procs
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_during_a_streamed_sweep_leaves_no_temporary_file(tmp_path, long_space, proc_guard, sig):
    out = tmp_path / "out" / "sweep.parquet"
    out.parent.mkdir()
    proc = _cli("sweep", str(long_space), "--out", str(out), "--no-progress")
    proc_guard.append(proc)
    tmp = _wait_for_tmp(out.parent, proc)
    assert tmp.name.startswith(".sweep.parquet.~tradespace.")
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    if sig == signal.SIGTERM:
        assert proc.returncode == -signal.SIGTERM  # it still dies by the signal, as without the handler
    else:
        assert proc.returncode == 130
        assert err.strip().splitlines() == ["tradespace sweep: interrupted"]
    assert "Traceback" not in err
    assert os.listdir(out.parent) == []  # neither a temporary file nor a partial destination


def test_sigkill_leaves_a_recognisable_file_that_the_next_write_removes(tmp_path, long_space, proc_guard):
    out = tmp_path / "sweep.parquet"
    proc = _cli("sweep", str(long_space), "--out", str(out), "--no-progress")
    proc_guard.append(proc)
    tmp = _wait_for_tmp(tmp_path, proc)
    proc.kill()  # SIGKILL cannot be caught: the file stays (the documented limit) ...
    proc.wait()
    assert tmp.exists() and f".{proc.pid}." in tmp.name
    # ... with a name that says whose it is: the next write into the folder removes it
    atomic_write_text(tmp_path / "other.txt", "x")
    assert not tmp.exists()
    assert sorted(os.listdir(tmp_path)) == ["long.toml", "other.txt"]


def test_only_stale_files_of_our_own_pattern_are_removed(tmp_path):
    host = socket.gethostname().replace(".", "-")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    dead_pid = int(dead.stdout)
    files = {
        "dead": f".a.csv.~tradespace.{host}.{dead_pid}.abcd1234.tmp",  # its process is gone: removed
        "alive": f".b.csv.~tradespace.{host}.{os.getpid()}.abcd1234.tmp",  # ours, still writing: kept
        "foreign_old": ".c.csv.~tradespace.otherhost.12.abcd1234.tmp",  # another host's, an hour idle
        "foreign_new": ".d.csv.~tradespace.otherhost.13.abcd1234.tmp",  # another host's, fresh: kept
        "user": ".e.csv.12345.tmp",  # not ours at all: never touched
        "user2": f"notes.~tradespace.{host}.{dead_pid}.txt",
    }
    for n in files.values():
        (tmp_path / n).write_text("partial")
    old = time.time() - STALE_AFTER_S - 60
    os.utime(tmp_path / files["foreign_old"], (old, old))
    os.utime(tmp_path / files["user"], (old, old))
    atomic_write_text(tmp_path / "x.csv", "a\n1\n")
    left = set(os.listdir(tmp_path))
    assert files["dead"] not in left and files["foreign_old"] not in left
    assert {files["alive"], files["foreign_new"], files["user"], files["user2"], "x.csv"} <= left


def test_an_exception_in_the_writer_removes_the_temporary_file_and_keeps_the_old_content(tmp_path):
    dest = tmp_path / "r.csv"
    dest.write_text("old\n")

    def fail(p: Path) -> None:
        p.write_text("half")
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError, match="disk on fire"):
        atomic_write(dest, fail)
    assert os.listdir(tmp_path) == ["r.csv"] and dest.read_text() == "old\n"


def test_overwriting_keeps_the_mode_and_a_new_file_gets_the_umask_default(tmp_path):
    dest = tmp_path / "secret.csv"
    dest.write_text("old\n")
    os.chmod(dest, 0o600)
    atomic_write_text(dest, "new\n")
    assert stat.S_IMODE(dest.stat().st_mode) == 0o600 and dest.read_text() == "new\n"
    os.chmod(dest, 0o640)
    atomic_write_text(dest, "newer\n")
    assert stat.S_IMODE(dest.stat().st_mode) == 0o640
    old = os.umask(0o027)
    try:
        atomic_write_text(tmp_path / "fresh.csv", "x\n")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "fresh.csv").stat().st_mode) == 0o640  # 0666 less the umask


def test_the_cli_keeps_a_0600_result_file_0600(tmp_path):
    out = tmp_path / "sweep.csv"
    out.write_text("")
    os.chmod(out, 0o600)
    r = subprocess.run([sys.executable, "-m", "app.cli", "sweep", str(SMALL), "--out", str(out), "--no-progress"],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600 and pl.read_csv(out).height == 900


def test_a_symlink_is_followed_and_stays_a_link(tmp_path):
    real = tmp_path / "data" / "real.csv"
    real.parent.mkdir()
    real.write_text("old\n")
    os.chmod(real, 0o600)
    link = tmp_path / "link.csv"
    link.symlink_to(real)
    atomic_write_text(link, "new\n")
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert real.read_text() == "new\n" and stat.S_IMODE(real.stat().st_mode) == 0o600
    assert os.listdir(real.parent) == ["real.csv"] and sorted(os.listdir(tmp_path)) == ["data", "link.csv"]
    # a dangling link: the file it names is created
    dangling = tmp_path / "dangling.csv"
    dangling.symlink_to(tmp_path / "data" / "new.csv")
    atomic_write_text(dangling, "fresh\n")
    assert dangling.is_symlink() and (tmp_path / "data" / "new.csv").read_text() == "fresh\n"


def test_an_out_symlink_to_another_filesystem_gets_the_sweep(tmp_path):
    shm = Path("/dev/shm")
    if not shm.is_dir() or os.stat(shm).st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("no second filesystem at /dev/shm to link to")
    other = Path(tempfile.mkdtemp(prefix="tradespace-test-", dir=shm))
    try:
        link = tmp_path / "sweep.parquet"
        link.symlink_to(other / "sweep.parquet")
        r = subprocess.run([sys.executable, "-m", "app.cli", "sweep", str(SMALL), "--out", str(link),
                            "--no-progress"], cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr  # no EXDEV: the temporary file was beside the real target
        assert "Traceback" not in r.stderr
        assert link.is_symlink() and pl.read_parquet(other / "sweep.parquet").height == 900
        assert os.listdir(other) == ["sweep.parquet"] and sorted(os.listdir(tmp_path)) == ["sweep.parquet"]
    finally:
        shutil.rmtree(other)


def test_missing_folder_file_as_folder_and_folder_as_file_are_refused_by_name(tmp_path):
    (tmp_path / "f").write_text("")
    for bad, words in [(tmp_path / "nope" / "x.csv", "does not exist"), (tmp_path / "f" / "x.csv", "not a folder"),
                       (tmp_path, "it is a folder")]:
        with pytest.raises(OutputPathError, match=words) as ei:
            check_writable(bad)
        assert str(bad) in str(ei.value)
        with pytest.raises(OutputPathError):
            atomic_write_text(bad, "x")
    assert sorted(os.listdir(tmp_path)) == ["f"]


def _as_unprivileged(cmd: list[str]) -> list[str]:
    """``cmd`` run as a user who cannot write into a 0555 folder (``nobody`` when we are root)."""
    if os.geteuid() != 0:
        return cmd
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: no way to be refused by a read-only folder")
    return [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", *cmd]


@pytest.mark.parametrize("command", ["sweep", "export", "pareto"])
def test_a_read_only_folder_is_refused_before_any_work(command, long_space, tmp_path):
    base = Path(tempfile.mkdtemp(prefix="tradespace-ro-", dir="/tmp"))  # reachable by nobody
    try:
        os.chmod(base, 0o755)
        ro = base / "ro"
        ro.mkdir()
        space = base / "long.toml"
        shutil.copy(long_space, space)
        results = base / "r.csv"
        pl.DataFrame({"latency_s": [1.0, 2.0], "energy_J": [2.0, 1.0]}).write_csv(results)
        for p in (space, results):
            os.chmod(p, 0o644)
        os.chmod(ro, 0o555)
        args = {"sweep": ["sweep", str(space), "--out", str(ro / "o.parquet"), "--no-progress"],
                "export": ["export", str(results), "--format", "png", "--out", str(ro / "o.png")],
                "pareto": ["pareto", str(results), "--objective", "latency_s:min", "--out", str(ro / "o.csv")]}
        env = {**os.environ, "HOME": str(base), "MPLCONFIGDIR": str(base)}
        # the 50 M-point sweep would run for minutes before it could fail at the rename
        r = subprocess.run(_as_unprivileged([sys.executable, "-m", "app.cli", *args[command]]), cwd=ROOT,
                           capture_output=True, text=True, timeout=120, env=env)
        assert r.returncode == 2, r.stderr
        assert "Traceback" not in r.stderr
        line = r.stderr.strip().splitlines()[-1]
        assert line.startswith(f"tradespace {command}: error: cannot write ") and str(ro) in line
        assert "read-only" in line
        assert os.listdir(ro) == []
    finally:
        os.chmod(base / "ro", 0o755)
        shutil.rmtree(base)
