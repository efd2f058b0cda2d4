"""The ``smgwct`` command: one entry point, one module per subcommand.

Each module in :data:`COMMANDS` defines ``register(subparsers)`` which adds its sub-parser and sets
``func`` (a callable taking the parsed namespace and returning the exit code). Errors meant for the
user (:class:`app.errors.SmgwctError`) are printed as one line, never as a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from app import __version__
from app.errors import SmgwctError

#: Subcommand modules below ``app.cli``, in the order ``--help`` lists them.
COMMANDS = (
    "gui", "demo", "sim", "selftest", "meter", "han", "discover", "gwa", "flow", "job", "report",
)


def language() -> str:
    """The language of command-line messages: ``SMGWCT_LANG``, else the locale, else German."""
    lang = os.environ.get("SMGWCT_LANG") or os.environ.get("LANG", "de")
    return "en" if lang.lower().startswith("en") else "de"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="smgwct",
        description="SMGW commissioning tool (Inbetriebnahme-Werkzeug für Smart-Meter-Gateways)",
    )
    parser.add_argument("--version", action="version", version=f"smgwct {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"app.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"app.cli.{name}":
                continue  # command not part of this build
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except SmgwctError as exc:
        print(f"smgwct: {exc.describe(language())}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
