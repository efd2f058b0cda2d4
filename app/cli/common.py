"""Small helpers shared by the subcommands: argument types, usage, localised one-liners."""

from __future__ import annotations

import argparse

from app.cli import language
from app.errors import Text


def usage(parser: argparse.ArgumentParser) -> int:
    """Print ``parser``'s help and return the usage exit code (2)."""
    parser.print_help()
    return 2


def positive_number(text: str) -> float:
    """argparse type: a number greater than zero."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be positive")
    return value


def say(en: str, de: str) -> str:
    """The sentence in the command line's language."""
    return Text(en, de).get(language())
