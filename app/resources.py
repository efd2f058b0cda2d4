"""Where the shipped data files live (source tree, installed wheel, or a frozen bundle)."""

from __future__ import annotations

import sys
from pathlib import Path


def resource_root() -> Path:
    """The ``resources`` directory: XSDs, translations, icons, demo scenarios."""
    frozen = getattr(sys, "_MEIPASS", None)
    if frozen:
        return Path(frozen) / "resources"
    import resources

    return Path(resources.__file__).resolve().parent


def resource_path(*parts: str) -> Path:
    """A file below the resource root, e.g. ``resource_path("schemas", "events.xsd")``."""
    return resource_root().joinpath(*parts)
