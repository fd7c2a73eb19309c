"""The catalogue of device interconnects (``data/links.toml``): bandwidth, latency, energy per bit.

Each entry is one kind of link between devices (NVLink generations, PCIe generations, InfiniBand,
Ethernet, CXL) with the three figures a collective's cost needs (:mod:`models.parallel.collectives`):
bandwidth per device and direction, the per-message latency of one step, and (where a source gives
it) the energy per bit moved. A target file names its link with ``interconnect = "<name>"``; the
loader copies the figures into the target's ``link_bandwidth``, ``link_latency`` and
``link_energy_per_byte`` fields (overridable per design point like any other field).

A scale-up link may say how many devices it joins (``domain_devices``: an NVLink/NVSwitch node) and
which link joins those nodes (``scaleout``): a plan's collectives whose devices span nodes are
priced on both (:func:`models.parallel.collectives.placed_cost`).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from models.io import read_text
from models.params import did_you_mean

__all__ = ["LINKS_FILE", "Link", "LinkError", "get_link", "load_links"]

LINKS_FILE = Path(__file__).resolve().parents[2] / "data" / "links.toml"


class LinkError(ValueError):
    """An unknown link name or a malformed catalogue entry; the message names it and what is allowed."""


@dataclass(frozen=True, kw_only=True)
class Link:
    """One interconnect (SI units)."""

    name: str
    description: str
    bandwidth_B_per_s: float
    latency_s: float
    energy_J_per_B: float | None
    source: str
    domain_devices: int | None = None
    scaleout: str | None = None


def _number(entry: dict[str, object], key: str, where: str, *, required: bool) -> float | None:
    if key not in entry:
        if required:
            raise LinkError(f"{where}: field {key!r} is missing; required")
        return None
    v = entry[key]
    if isinstance(v, bool) or not isinstance(v, int | float) or not v >= 0 or v != v or v == float("inf"):
        raise LinkError(f"{where}: field {key!r} = {v!r}; allowed: a finite number >= 0")
    return float(v)


@cache
def load_links() -> dict[str, Link]:
    """Every link of ``data/links.toml`` by name."""
    data = tomllib.loads(read_text(LINKS_FILE))
    out: dict[str, Link] = {}
    allowed = {"name", "description", "bandwidth_GBps", "latency_us", "energy_pJ_per_bit", "source", "domain_devices",
               "scaleout"}
    for i, entry in enumerate(data.get("link", [])):
        where = f"{LINKS_FILE.name}: link[{i}]"
        unknown = sorted(set(entry) - allowed)
        if unknown:
            raise LinkError(f"{where}: unknown field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")
        name = entry.get("name")
        if not isinstance(name, str) or not name or name in out:
            raise LinkError(f"{where}: field 'name' = {name!r}; allowed: a unique non-empty string")
        bw = _number(entry, "bandwidth_GBps", f"{where} ({name})", required=True)
        assert bw is not None
        if bw <= 0:
            raise LinkError(f"{where} ({name}): field 'bandwidth_GBps' = {bw:g}; allowed: > 0 (a link with no "
                            "bandwidth carries nothing)")
        lat = _number(entry, "latency_us", f"{where} ({name})", required=True)
        assert lat is not None
        epb = _number(entry, "energy_pJ_per_bit", f"{where} ({name})", required=False)
        src = entry.get("source")
        if not isinstance(src, str) or not src.strip():
            raise LinkError(f"{where} ({name}): field 'source' is missing; every figure needs its source")
        dom = entry.get("domain_devices")
        if dom is not None and (isinstance(dom, bool) or not isinstance(dom, int) or dom < 1):
            raise LinkError(f"{where} ({name}): field 'domain_devices' = {dom!r}; allowed: a whole number >= 1")
        so = entry.get("scaleout")
        if (so is None) != (dom is None) or (so is not None and not isinstance(so, str)):
            raise LinkError(f"{where} ({name}): fields 'domain_devices' and 'scaleout' go together (the devices one "
                            "link joins, and the link between those groups)")
        out[name] = Link(name=name, description=str(entry.get("description", "")), bandwidth_B_per_s=bw * 1e9,
                         latency_s=lat * 1e-6, energy_J_per_B=None if epb is None else epb * 8e-12, source=src,
                         domain_devices=dom, scaleout=so)
    for ln in out.values():
        if ln.scaleout is not None and ln.scaleout not in out:
            raise LinkError(f"{LINKS_FILE.name} ({ln.name}): scaleout = {ln.scaleout!r} is not a link of the "
                            f"catalogue; allowed: {', '.join(out)}")
    return out


def get_link(name: str) -> Link:
    """The link named ``name``; LinkError naming the known ones otherwise."""
    links = load_links()
    if name not in links:
        raise LinkError(f"unknown interconnect {name!r}{did_you_mean(name, links)}; allowed: {', '.join(links)}")
    return links[name]
