"""Rewrite the generated parts of docs/models.md (the table of efficiency factors of every preset).

    .venv/bin/python scripts/update_docs.py

The table comes from models.hardware.factors; tests/models/hardware/test_factors.py fails when
docs/models.md is not current.
"""

from __future__ import annotations

import sys
from pathlib import Path

from models.hardware.factors import BEGIN, END, factor_table_markdown
from models.io import atomic_write_text

DOCS = Path(__file__).resolve().parents[1] / "docs" / "models.md"


def main() -> int:
    text = DOCS.read_text(encoding="utf-8")
    a, b = text.index(BEGIN), text.index(END) + len(END)
    new = text[:a] + factor_table_markdown() + text[b:]
    if new != text:
        atomic_write_text(DOCS, new)
    print("docs/models.md factor table " + ("updated" if new != text else "already current"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
