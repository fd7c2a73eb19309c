"""Atomic file writes: a temporary file beside the destination, then one rename.

An interrupted write never leaves a partial file at the destination, and a reader never sees
one. What :func:`atomic_write` guarantees:

- the temporary file is created in the folder of the *real* destination (symlinks resolved), so
  the final rename never crosses filesystems (no ``EXDEV`` after all the work), and an ``--out``
  symlink keeps pointing at the file it named, which receives the new content;
- overwriting keeps the destination's permission bits (a 0600 file stays 0600); a new file gets
  what a plain ``open()`` would give it (0666 less the umask);
- the temporary file is removed when the write raises (any exception, Ctrl-C included) and
  when the process receives SIGTERM or SIGHUP during the write (in the main thread, where the
  default action was to die: the handler removes the file, then the signal is delivered again
  with its previous disposition, so the process still dies by it);
- SIGKILL cannot be caught: the temporary file then stays. Its name is recognisable
  (``.NAME.~tradespace.HOST.PID.RANDOM.tmp``), and every later write into the same folder
  removes those of a process of this host that no longer runs, and any of ours older than
  :data:`STALE_AFTER_S` (another host's, on a shared filesystem). Other files are never touched.

:func:`check_writable` is the same check the write starts with, for callers that can refuse a
bad destination before a long computation.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import signal
import socket
import stat
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType

__all__ = [
    "STALE_AFTER_S",
    "OutputPathError",
    "UnreadableFile",
    "atomic_write",
    "atomic_write_text",
    "check_writable",
    "read_text",
]

# A temporary file of another host (where we cannot ask whether its process lives) is stale
# once it has not been written for this long. A streaming sweep appends every few seconds.
STALE_AFTER_S = 3600.0
_TAG = "~tradespace"
_TMP_RE = re.compile(rf"^\..+\.{re.escape(_TAG)}\.(?P<host>[A-Za-z0-9_-]+)\.(?P<pid>\d+)\.[A-Za-z0-9_-]+\.tmp$")
_CAUGHT = tuple(s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)) if s is not None)


class OutputPathError(ValueError):
    """A destination that cannot be written; the message names the path and why."""


class UnreadableFile(ValueError):
    """A file that cannot be read as UTF-8 text.

    ``where`` is ``"<file>"`` or ``"<file> (line N)"`` (the line of the first bad byte), ``why``
    what went wrong; loaders turn both into their own error type, naming the file.
    """

    def __init__(self, path: str | Path, where: str, why: str) -> None:
        self.path, self.where, self.why = str(path), where, why
        super().__init__(f"{self.path}: {where}: {why}")


def read_text(path: str | Path) -> str:
    """The content of a UTF-8 text file; any failure is an :class:`UnreadableFile`."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise UnreadableFile(p, "<file>", f"cannot read it: {exc.strerror or exc}") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise UnreadableFile(p, f"<file> (line {line})", f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset "
                                                         f"{exc.start})") from None


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "-", socket.gethostname() or "host")[:40] or "host"


def _real(path: Path) -> Path:
    """The file a write to ``path`` must replace: symlinks resolved (a dangling link: its target)."""
    return Path(os.path.realpath(path))


def check_writable(path: str | Path) -> Path:
    """Refuse a destination :func:`atomic_write` could not write, before any work is done.

    The folder of the real destination (symlinks resolved) must exist, be a folder and accept a
    new file (tried for real: read-only mounts and permissions are both caught); the
    destination must not be a folder.

    Returns
    -------
    pathlib.Path
        The real destination (``path`` with symlinks resolved).

    Raises
    ------
    OutputPathError
        Naming the path and what is wrong with it.
    """
    path = Path(path)
    if str(path) == "" or path.name in ("", ".", ".."):
        raise OutputPathError(f"cannot write {str(path)!r}: a file name is required")
    real = _real(path)
    shown = repr(str(path)) if real == path.absolute() else f"{str(path)!r} (-> {str(real)!r})"
    parent = real.parent
    if not parent.exists():
        raise OutputPathError(f"cannot write {shown}: folder {str(parent)!r} does not exist")
    if not parent.is_dir():
        raise OutputPathError(f"cannot write {shown}: {str(parent)!r} is not a folder")
    if real.is_dir():
        raise OutputPathError(f"cannot write {shown}: it is a folder; give a file name")
    tmp = _create_tmp(real, shown)
    os.unlink(tmp)
    return real


def _create_tmp(real: Path, shown: str) -> Path:
    """A new empty temporary file of our pattern beside ``real`` (mode 0600)."""
    name = f".{real.name}.{_TAG}.{_host()}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    tmp = real.parent / name
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        why = exc.strerror or str(exc)
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            why += " (the folder is read-only for this user)"
        raise OutputPathError(f"cannot write {shown}: cannot create a file in {str(real.parent)!r}: {why}") from None
    os.close(fd)
    return tmp


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by someone else
        return True
    return True


def _remove_stale(folder: Path) -> None:
    """Remove our temporary files in ``folder`` that no live writer owns (left by SIGKILL)."""
    host, now = _host(), time.time()
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for e in entries:
        m = _TMP_RE.match(e.name)
        if m is None:
            continue
        try:
            st = e.stat(follow_symlinks=False)
        except OSError:
            continue
        if not stat.S_ISREG(st.st_mode):
            continue
        pid = int(m.group("pid"))
        if m.group("host") == host:
            stale = pid != os.getpid() and not _pid_alive(pid)
        else:
            stale = now - st.st_mtime > STALE_AFTER_S
        if stale:
            with contextlib.suppress(OSError):
                os.unlink(e.path)


def _umask() -> int:
    """The process umask, read without changing it (os.umask(0) would race other threads)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


class _Signalled(BaseException):
    """Raised in the main thread by SIGTERM/SIGHUP during a write (never caught by ``except Exception``)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


@contextlib.contextmanager
def _signals_raise() -> Iterator[bool]:
    """While inside: SIGTERM/SIGHUP whose action is the default raise :class:`_Signalled`.

    Yields whether handlers were installed (False outside the main thread, inside another
    write, or where the program handles or ignores the signals itself).
    """
    previous: dict[int, object] = {}

    def handler(signum: int, frame: FrameType | None) -> None:
        for s in previous:  # a second signal while cleaning up must not interrupt the clean-up
            signal.signal(s, signal.SIG_IGN)
        raise _Signalled(signum)

    if threading.current_thread() is threading.main_thread():
        for s in _CAUGHT:
            if signal.getsignal(s) is signal.SIG_DFL:
                previous[s] = signal.signal(s, handler)
    try:
        yield bool(previous)
    finally:
        for s, h in previous.items():
            signal.signal(s, h)  # type: ignore[arg-type]


def _replace(tmp: Path, real: Path) -> None:
    """Give ``tmp`` the mode (and, as root, the owner) of ``real``, flush it, rename it over ``real``."""
    try:
        st: os.stat_result | None = os.stat(real)
    except FileNotFoundError:
        st = None
    if st is None:
        os.chmod(tmp, 0o666 & ~_umask())
    else:
        if os.geteuid() == 0:
            with contextlib.suppress(OSError):  # root overwriting a user's file keeps it the user's
                os.chown(tmp, st.st_uid, st.st_gid)
        os.chmod(tmp, stat.S_IMODE(st.st_mode))
    with open(tmp, "rb") as fh:  # on disk before it takes the name: a crash leaves the old or the new
        os.fsync(fh.fileno())
    os.replace(tmp, real)
    with contextlib.suppress(OSError):
        dfd = os.open(real.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def atomic_write(path: str | Path, write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp_path)`` on a temporary file beside ``path``, then rename it over ``path``.

    Whatever ``write`` returns (e.g. the byte count of ``Path.write_text``) is ignored. See the
    module docstring for symlinks, permissions, signals and stale temporary files.

    Returns
    -------
    pathlib.Path
        ``path`` as given (a symlink stays a symlink; its target got the content).

    Raises
    ------
    OutputPathError
        The folder is missing, not a folder or not writable, or ``path`` is a folder. Whatever
        ``write`` raises propagates; the temporary file is removed in every case.
    """
    path = Path(path)
    real = check_writable(path)
    _remove_stale(real.parent)
    tmp = _create_tmp(real, repr(str(path)))
    installed = False
    try:
        with _signals_raise() as installed:
            try:
                write(tmp)
                _replace(tmp, real)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
                raise
    except _Signalled as sig:
        if not installed:  # an outer write installed the handlers: it re-delivers the signal
            raise
        # the previous dispositions are back: deliver the signal again, so the process ends by it
        signal.raise_signal(sig.signum)
        raise SystemExit(128 + sig.signum) from None
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))
