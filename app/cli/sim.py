"""``smgwct sim``: run the embedded default headless (training rigs, support, external tests)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from app.cli import language
from app.sim.embedded import EmbeddedDefault


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("sim", help="run the virtual SMGW and reference GWA headless "
                                        "(Simulatoren ohne Oberfläche)")
    parser.add_argument("--scenario", default="default", help="scenario name in resources/demo")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind")
    parser.add_argument("--han-port", type=int, default=0, help="HAN port (0: any free port)")
    parser.add_argument("--gwa-port", type=int, default=0, help="GWA port (0: any free port)")
    parser.add_argument("--fresh", action="store_true",
                        help="start from the scenario again (forget earlier changes)")
    parser.add_argument("--json", action="store_true", help="one JSON object per endpoint")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    return asyncio.run(_serve(args))


async def _serve(args: argparse.Namespace) -> int:
    embedded = EmbeddedDefault(scenario=args.scenario, host=args.host, han_port=args.han_port,
                               gwa_port=args.gwa_port, threaded=True, fresh=args.fresh)
    lang = language()
    await embedded.start(
        progress=None if args.json else (lambda text: print(text.get(lang), file=sys.stderr))
    )
    try:
        for endpoint in embedded.describe():
            if args.json:
                print(json.dumps(endpoint), flush=True)
            else:
                print(f"{endpoint['role']}\t{endpoint['host']}\t{endpoint['port']}\t"
                      f"{endpoint['protocol']}\t{endpoint['certificate_sha256']}", flush=True)
        if not args.json:
            print("Ctrl+C beendet die Simulatoren." if lang == "de" else "Ctrl+C stops the "
                  "simulators.", file=sys.stderr, flush=True)
        await asyncio.Event().wait()
    except asyncio.CancelledError:
        pass
    finally:
        await embedded.stop()
    return 0
