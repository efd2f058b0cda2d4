"""``smgwct demo``: start the embedded default on loopback and open the tool connected to it."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from app.cli.gui import LANGUAGE_HELP
from app.context import AppContext
from app.errors import ConfigurationError, Text

Progress = Callable[[Text], None]


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "demo", help="open the tool on the built-in demo environment (Demo-Modus)"
    )
    parser.add_argument("--lang", choices=("de", "en"), default=None, help=LANGUAGE_HELP)
    parser.add_argument("--scenario", default="default", help="demo scenario (default: default)")
    parser.add_argument(
        "--han-port", type=int, default=0, help="HAN port of the virtual SMGW (0: any free port)"
    )
    parser.add_argument(
        "--gwa-port", type=int, default=0, help="port of the reference GWA (0: any free port)"
    )
    parser.add_argument(
        "--fresh", action="store_true",
        help="start from the scenario again (forget what earlier demo sessions changed)",
    )
    parser.set_defaults(func=run)


def demo_context_factory(
    scenario: str = "default", *, han_port: int = 0, gwa_port: int = 0, fresh: bool = False
) -> Callable[[Progress | None], object]:
    """A context factory that starts the embedded default (its simulators in their own thread,
    so that they never stall the window's event loop) and returns its context.

    The window stops it again when it closes (``context.demo.stop()``).
    """

    async def start(progress: Progress | None = None) -> AppContext:
        try:
            from app.sim.embedded import EmbeddedDefault

            embedded = EmbeddedDefault(scenario=scenario, han_port=han_port, gwa_port=gwa_port,
                                       threaded=True, fresh=fresh)
            await embedded.start(progress)
        except ModuleNotFoundError as exc:
            if not (exc.name or "").startswith("app."):
                raise
            raise ConfigurationError(
                Text(
                    f"The demo environment is not complete in this installation ({exc.name}).",
                    f"Die Demo-Umgebung ist in dieser Installation unvollständig ({exc.name}).",
                ),
                hint=Text(
                    "Reinstall the tool, then run 'smgwct selftest'.",
                    "Installieren Sie das Werkzeug neu und führen Sie 'smgwct selftest' aus.",
                ),
            ) from exc
        embedded.context.demo = embedded
        return embedded.context

    return start


def run(args: argparse.Namespace) -> int:
    from ui.main import run as run_gui  # the composition root may reach into ui/

    factory = demo_context_factory(args.scenario, han_port=args.han_port, gwa_port=args.gwa_port,
                                   fresh=args.fresh)
    return run_gui(factory, language=args.lang, demo=True)
