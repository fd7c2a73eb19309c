"""How a runtime launches the operators of a step: host dispatch per kernel and its overlap.

A GPU (or any host-launched accelerator) runs each operator as a kernel. Two costs come with a
kernel besides its roofline time:

- a *device-side* cost (launch latency and tail on the device), the target's ``op_overhead``,
  paid with every runtime and priced per operator by :func:`models.perf.kernel.price`;
- a *host-side* dispatch cost, which depends on the runtime (:data:`LAUNCH_MODES`, figures and
  sources in ``data/launch_modes.toml``).

With asynchronous launch the host enqueues ahead of the device, so the host cost of a kernel
hides behind the execution of the kernels before it and a step takes ``max(device + h,
n x h + device / n)`` (:func:`models.perf.kernel.launch_time`); with CUDA graphs there is no
host cost per kernel; with a synchronisation after each kernel (``serial``) the two add up. On
CPU and MCU targets the host *is* the device: dispatch never overlaps there.
"""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass

from models.hardware.registry import DATA_DIR
from models.units import to_si

__all__ = ["LAUNCH_MODES", "LaunchMode", "launch_mode"]

LAUNCH_MODES = ("graph", "async", "eager", "serial")
LAUNCH_FILE = DATA_DIR / "launch_modes.toml"


@dataclass(frozen=True, kw_only=True)
class LaunchMode:
    """One runtime's launch policy.

    Attributes
    ----------
    name
        One of :data:`LAUNCH_MODES`.
    overlap
        The host runs ahead of the device (asynchronous launch).
    host_dispatch_s
        Host time to dispatch one operator (s).
    source, help
        Where the figure comes from; one line for users.
    """

    name: str
    overlap: bool
    host_dispatch_s: float
    source: str
    help: str


@functools.cache
def _modes() -> dict[str, LaunchMode]:
    with LAUNCH_FILE.open("rb") as f:
        raw = tomllib.load(f)
    if set(raw) != set(LAUNCH_MODES):
        raise ValueError(f"{LAUNCH_FILE}: launch modes {sorted(raw)}; expected {', '.join(LAUNCH_MODES)}")
    out = {}
    for name in LAUNCH_MODES:
        d = raw[name]
        h = d["host_dispatch"]
        if not h.get("source"):
            raise ValueError(f"{LAUNCH_FILE}: [{name}] host_dispatch has no source")
        out[name] = LaunchMode(name=name, overlap=bool(d["overlap"]),
                               host_dispatch_s=to_si(float(h["value"]), h["unit"], dimension="time"),
                               source=str(h["source"]), help=str(d["help"]))
    return out


def launch_mode(name: str) -> LaunchMode:
    """The :class:`LaunchMode` called ``name``.

    Raises
    ------
    ValueError
        ``name`` is not one of :data:`LAUNCH_MODES` (the message lists them).
    """
    if name not in LAUNCH_MODES:
        raise ValueError(f"launch_mode {name!r}; allowed: {', '.join(LAUNCH_MODES)}")
    return _modes()[name]
