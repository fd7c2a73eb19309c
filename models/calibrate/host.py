"""What the operating system says about this machine: CPU model, cores, caches, ISA, clock, memory.

Read from ``/proc/cpuinfo``, ``/sys/devices/system/cpu/cpu*/cache``, ``/proc/meminfo``,
``lscpu`` (when installed) and :func:`os.sched_getaffinity`; never guessed. A field the OS does
not report is None, and the calibration leaves the matching target field to a measurement or
names what was missing.
"""

from __future__ import annotations

import contextlib
import os
import platform
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["CacheLevel", "HostInfo", "host_info", "parse_cache_size", "parse_cpuinfo"]

_SYS_CPU = Path("/sys/devices/system/cpu")


@dataclass(frozen=True, kw_only=True)
class CacheLevel:
    """One data (or unified) cache level as the OS reports it for cpu0.

    ``size_B`` is one instance; ``n_instances`` how many of them the usable cores have (a
    private L1/L2 per core, one shared L3), so ``total_B = size_B x n_instances``.
    """

    level: int
    size_B: int
    n_instances: int
    shared_by: int

    @property
    def total_B(self) -> int:
        return self.size_B * self.n_instances


@dataclass(frozen=True, kw_only=True)
class HostInfo:
    """Facts about the host CPU; ``where`` names the file or command each came from."""

    cpu_model: str
    arch: str
    n_cores: int
    clock_Hz: float | None
    caches: tuple[CacheLevel, ...]
    flags: frozenset[str]
    memory_B: int | None
    where: dict[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        """``<cpu model>, <n> cores`` as used in every source of a calibrated target."""
        return f"{self.cpu_model}, {self.n_cores} core{'s' if self.n_cores != 1 else ''}"

    def has(self, *flags: str) -> bool:
        return all(f in self.flags for f in flags)


def parse_cache_size(text: str) -> int:
    """``"48K"``, ``"2048K"``, ``"32 MiB"``, ``"1M"`` as bytes (binary prefixes, as the kernel writes them)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGkmg])?(?:i?B)?\s*", text)
    if not m:
        raise ValueError(f"cache size {text!r}: expected a number with an optional K/M/G suffix")
    scale = {None: 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}[m.group(2).lower() if m.group(2) else None]
    return int(float(m.group(1)) * scale)


def parse_cpuinfo(text: str) -> dict[str, str]:
    """The first processor block of ``/proc/cpuinfo`` as ``{key: value}``."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if out:
                break
            continue
        if ":" in line:
            k, v = line.split(":", 1)
            out.setdefault(k.strip(), v.strip())
    return out


def _cpu_list_len(text: str) -> int:
    n = 0
    for part in text.strip().split(","):
        if "-" in part:
            a, b = part.split("-")
            n += int(b) - int(a) + 1
        elif part:
            n += 1
    return n


def _caches(cpus: list[int]) -> tuple[CacheLevel, ...]:
    """Data and unified caches of cpu0 with how many instances the usable cores hold."""
    base = _SYS_CPU / f"cpu{cpus[0] if cpus else 0}" / "cache"
    out: dict[int, CacheLevel] = {}
    if not base.is_dir():
        return ()
    for idx in sorted(base.glob("index*")):
        try:
            kind = (idx / "type").read_text().strip()
            if kind not in ("Data", "Unified"):
                continue
            level = int((idx / "level").read_text())
            size = parse_cache_size((idx / "size").read_text())
            shared = _cpu_list_len((idx / "shared_cpu_list").read_text())
        except (OSError, ValueError):
            continue
        shared = max(shared, 1)
        n_inst = max(1, -(-len(cpus) // shared)) if cpus else 1
        out[level] = CacheLevel(level=level, size_B=size, n_instances=n_inst, shared_by=shared)
    return tuple(out[k] for k in sorted(out))


def _lscpu_model() -> str | None:
    exe = shutil.which("lscpu")
    if exe is None:
        return None
    try:
        text = subprocess.run([exe], capture_output=True, text=True, timeout=10, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r"^Model name:\s*(.+)$", text, re.M)
    return m.group(1).strip() if m else None


def host_info() -> HostInfo:
    """Read the host's facts from the OS (see the module docstring)."""
    where: dict[str, str] = {}
    try:
        cpus = sorted(os.sched_getaffinity(0))
        where["n_cores"] = f"os.sched_getaffinity(0): {len(cpus)} usable CPUs"
    except AttributeError:  # not Linux
        cpus = list(range(os.cpu_count() or 1))
        where["n_cores"] = f"os.cpu_count(): {len(cpus)}"
    info: dict[str, str] = {}
    with contextlib.suppress(OSError):  # no /proc/cpuinfo: lscpu / platform below
        info = parse_cpuinfo(Path("/proc/cpuinfo").read_text())
    model = info.get("model name") or _lscpu_model() or platform.processor() or platform.machine()
    where["cpu_model"] = "/proc/cpuinfo 'model name'" if "model name" in info else "lscpu / platform"
    clock = None
    if "cpu MHz" in info:
        clock = float(info["cpu MHz"]) * 1e6
        where["clock"] = f"/proc/cpuinfo 'cpu MHz: {info['cpu MHz']}' of cpu0"
    else:
        f = _SYS_CPU / "cpu0" / "cpufreq" / "cpuinfo_max_freq"
        with contextlib.suppress(OSError, ValueError):  # unknown clock: left None
            clock = int(f.read_text()) * 1e3
            where["clock"] = f"{f}"
    flags = frozenset((info.get("flags") or info.get("Features") or "").split())
    where["flags"] = "/proc/cpuinfo 'flags'"
    mem = None
    with contextlib.suppress(OSError):  # no /proc/meminfo: size unknown
        m = re.search(r"^MemTotal:\s*(\d+)\s*kB", Path("/proc/meminfo").read_text(), re.M)
        if m:
            mem = int(m.group(1)) * 1024
            where["memory"] = f"/proc/meminfo 'MemTotal: {m.group(1)} kB'"
    caches = _caches(cpus)
    where["caches"] = "/sys/devices/system/cpu/cpu0/cache/index*/{level,type,size,shared_cpu_list}"
    return HostInfo(cpu_model=model, arch=platform.machine(), n_cores=len(cpus), clock_Hz=clock, caches=caches,
                    flags=flags, memory_B=mem, where=where)
