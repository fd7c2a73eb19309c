"""``tradespace serve``: start the Panel dashboard (localhost by default) and print its URL."""

from __future__ import annotations

import argparse
import errno
import socket


def _busy(address: str, port: int) -> ValueError:
    return ValueError(f"port {port} on {address} is already in use (another dashboard or server); "
                      f"choose a free one with --port N, e.g. --port {port + 1 if port < 65535 else 5006}")


def _check_port(address: str, port: int) -> None:
    """Refuse a port another process listens on, before anything is imported or printed.

    Bound as the server binds it (SO_REUSEADDR): a port left in TIME_WAIT by an earlier run
    passes, one with a listener does not.
    """
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((address, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise _busy(address, port) from None
            raise


def _run(args: argparse.Namespace) -> int:
    if not 0 < args.port < 65536:
        raise ValueError(f"--port {args.port}: allowed 1-65535")
    _check_port(args.address, args.port)
    from models.hardware.registry import user_targets_dir

    # edited copies saved by the Targets page land here; the registry searches it by name
    user_dir = user_targets_dir()
    user_dir.mkdir(parents=True, exist_ok=True)

    import logging

    import panel as pn

    # the dashboard logs unexpected errors (with an id the browser shows) through `logging`:
    # give them a handler with a time stamp unless the embedding program configured one
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    from app.dashboard.app import routes

    host = "localhost" if args.address in ("127.0.0.1", "localhost") else args.address
    origins = [f"{args.address}:{args.port}", f"localhost:{args.port}", f"127.0.0.1:{args.port}"]
    from app.dashboard.state import PAGES

    print(f"Tradespace dashboard: http://{host}:{args.port}/  (pages: {', '.join(PAGES)}; "
          f"edited targets saved to {user_dir})", flush=True)
    try:
        pn.serve(routes(), port=args.port, address=args.address, show=args.show, start=True, threaded=False,
                 title="Tradespace", websocket_origin=origins, print_url=False)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:  # taken between the check and the bind
            raise _busy(args.address, args.port) from None
        raise
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="start the dashboard", description="Serve the Panel dashboard "
                       "(a landing page at /, Roofline, Compare, Explore, Targets, Fidelity) and print its URL.")
    p.add_argument("--port", type=int, default=5006, help="port (default 5006); a busy port is refused with one line")
    p.add_argument("--address", default="127.0.0.1", help="address to bind (default 127.0.0.1, localhost only)")
    p.add_argument("--show", action="store_true", help="open a browser tab")
    p.set_defaults(func=_run)


