"""Helpers shared by CLI subcommands: JSON output and table printing."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np


def _clean(o: Any) -> Any:
    if isinstance(o, dict):
        return {str(k): _clean(v) for k, v in o.items()}
    if isinstance(o, list | tuple):
        return [_clean(v) for v in o]
    if isinstance(o, np.ndarray):
        return _clean(o.tolist())
    if isinstance(o, np.generic):
        return _clean(o.item())
    if isinstance(o, float) and not math.isfinite(o):
        return None if math.isnan(o) else ("inf" if o > 0 else "-inf")
    return o


def print_json(obj: Any) -> None:
    """Print ``obj`` as JSON (numpy values converted, non-finite floats as null/"inf")."""
    json.dump(_clean(obj), sys.stdout, indent=2)
    sys.stdout.write("\n")


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Print an aligned plain-text table."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for j, r in enumerate(cells):
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
        if j == 0:
            print("  ".join("-" * w for w in widths))


def check_out_format(flag: str, path: str, allowed: Sequence[str], command: str) -> None:
    """Refuse an output path whose suffix ``command`` cannot write, naming exactly what it writes.

    ``allowed`` holds format names without the dot (``("csv", "parquet", "json")``).
    """
    suffix = path.rsplit(".", 1)[-1].lower() if "." in path.rsplit("/", 1)[-1] else ""
    if suffix not in allowed:
        got = f"format {'.' + suffix!r}" if suffix else "no suffix"
        raise ValueError(f"{flag} {path!r}: {got}; `tradespace {command}` writes "
                         f"{', '.join('.' + f for f in allowed)}")
