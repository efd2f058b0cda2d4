"""``smgwct gui``: open the main window on the targets remembered in the settings."""

from __future__ import annotations

import argparse

from app.context import AppContext, HanTarget, OpticalTarget
from app.store.settings import Settings, data_dir, load_settings

LANGUAGE_HELP = "user interface language (Sprache der Oberfläche); default: the stored setting"


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("gui", help="open the commissioning tool (Werkzeug öffnen)")
    parser.add_argument("--lang", choices=("de", "en"), default=None, help=LANGUAGE_HELP)
    parser.set_defaults(func=run)


def context_from_settings(settings: Settings) -> AppContext:
    """The working context from the last targets (HAN address, serial port).

    The GWA link needs its trust anchor and technician certificate as well, which the settings
    do not hold; it stays unconfigured until a flow sets it up.
    """
    return AppContext(
        han=HanTarget(host=settings.han_host) if settings.han_host else None,
        optical=OpticalTarget(port=settings.serial_port) if settings.serial_port else None,
        data_dir=data_dir(create=True),
    )


def settings_context(_progress: object = None) -> AppContext:
    """Context factory of the GUI: the targets of the stored settings."""
    return context_from_settings(load_settings().settings)


def run(args: argparse.Namespace) -> int:
    from ui.main import run as run_gui  # the composition root may reach into ui/

    return run_gui(settings_context, language=args.lang)
