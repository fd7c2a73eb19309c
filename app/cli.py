"""The ``tradespace`` command line.

Each subcommand lives in ``app/commands/<name>.py`` and exposes ``register(subparsers)``,
which adds its parser and sets ``func`` (a callable taking the parsed args and returning an
exit code). Exit codes: 0 success, 1 a run that failed (for example a validation case out of
tolerance, a full disk), 2 bad input (unknown target, malformed file, bad option, a grid over
the point budget, an output path that cannot be written), 130 interrupted (Ctrl-C: one line,
no traceback, no partial file).
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

import app.commands

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for a Ctrl-C'd command


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tradespace",
        description="Design-space exploration of hardware x algorithm trade-offs for ML workloads.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for mod in sorted(pkgutil.iter_modules(app.commands.__path__), key=lambda m: m.name):
        if mod.name.startswith("_"):
            continue
        module = importlib.import_module(f"app.commands.{mod.name}")
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; returns its exit code (see the module docstring)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    # named before the parser is built: a Ctrl-C while the subcommands import names the command too
    command = f"tradespace {argv[0]}" if argv and not argv[0].startswith("-") else "tradespace"
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        command = f"tradespace {args.command}"
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        # Ctrl-C: one line, no traceback; atomic writes have removed their temporary files
        print(f"{command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_OK
    except (KeyError, ValueError, FileNotFoundError, PermissionError, IsADirectoryError,
            NotADirectoryError) as exc:
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        print(f"{command}: error: {msg}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except MemoryError:
        print(f"{command}: error: out of memory; lower the grid size (--max-points) or --chunk-size",
              file=sys.stderr)
        return EXIT_FAILED
    except OSError as exc:  # a disk that fills up, a file that vanishes mid-run
        print(f"{command}: error: {exc}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
