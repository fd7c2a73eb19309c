"""``tradespace serve``: start the Panel dashboard (localhost by default) and print its URL."""

from __future__ import annotations

import argparse
import os


def _run(args: argparse.Namespace) -> int:
    if not 0 < args.port < 65536:
        raise ValueError(f"--port {args.port}: allowed 1-65535")
    from app.dashboard.data import user_targets_dir

    # edited copies saved by the Targets page land here; the registry finds them via the path
    user_dir = user_targets_dir()
    user_dir.mkdir(parents=True, exist_ok=True)
    extra = [p for p in os.environ.get("TRADESPACE_TARGETS_PATH", "").split(os.pathsep) if p]
    if str(user_dir) not in extra:
        os.environ["TRADESPACE_TARGETS_PATH"] = os.pathsep.join([*extra, str(user_dir)])

    import logging

    import panel as pn

    # the dashboard logs unexpected errors (with an id the browser shows) through `logging`:
    # give them a handler with a time stamp unless the embedding program configured one
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    from app.dashboard.app import routes

    host = "localhost" if args.address in ("127.0.0.1", "localhost") else args.address
    origins = [f"{args.address}:{args.port}", f"localhost:{args.port}", f"127.0.0.1:{args.port}"]
    print(f"Tradespace dashboard: http://{host}:{args.port}/roofline  (pages: roofline, compare, explore, "
          f"targets; edited targets saved to {user_dir})", flush=True)
    pn.serve(routes(), port=args.port, address=args.address, show=args.show, start=True, threaded=False,
             title="Tradespace", websocket_origin=origins, print_url=False)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="start the dashboard", description="Serve the Panel dashboard "
                       "(Roofline, Compare, Explore, Targets) and print its URL.")
    p.add_argument("--port", type=int, default=5006, help="port (default 5006)")
    p.add_argument("--address", default="127.0.0.1", help="address to bind (default 127.0.0.1, localhost only)")
    p.add_argument("--show", action="store_true", help="open a browser tab")
    p.set_defaults(func=_run)


