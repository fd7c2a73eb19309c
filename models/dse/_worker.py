"""Entry point of one search worker process: ``python -m models.dse._worker``.

Its settings (space, storage URL, budget) arrive as one JSON line on standard input, never on
the command line, where ``ps`` would show the storage password; the pipe then stays open as the
parent's lifeline (see :func:`models.dse.search._worker_main`).
"""

from __future__ import annotations

import sys


def main() -> int:
    from models.dse.search import _worker_main

    return _worker_main()


if __name__ == "__main__":
    sys.exit(main())
