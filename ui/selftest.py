"""Self-checks of the Qt side: platform plugins and translations (``smgwct selftest``)."""

from __future__ import annotations

from pathlib import Path

from app.errors import Text
from app.resources import resource_path
from app.selfcheck import Check, Verdict


def run_qt_checks() -> list[Check]:
    try:
        from PySide6 import __version__ as pyside_version
        from PySide6.QtCore import QLibraryInfo
    except ImportError as exc:
        return [Check("qt", Verdict.FAIL, str(exc),
                      Text("Reinstall the tool: Qt (PySide6) is missing.",
                           "Installieren Sie das Werkzeug neu: Qt (PySide6) fehlt."))]
    checks = [Check("qt", Verdict.OK, f"PySide6 {pyside_version}")]
    plugins = Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath)) / "platforms"
    found = sorted(p.stem for p in plugins.glob("*") if p.is_file()) if plugins.is_dir() else []
    checks.append(
        Check("qt-platform-plugins", Verdict.OK if found else Verdict.FAIL,
              ", ".join(found) or f"none in {plugins}",
              None if found else Text("Reinstall the tool: Qt's platform plugins are missing.",
                                      "Installieren Sie das Werkzeug neu: die Qt-Plattform-Plugins "
                                      "fehlen."))
    )
    missing = [name for name in ("app_de.qm", "app_en.qm")
               if not resource_path("i18n", name).is_file()]
    qt_dir = Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.TranslationsPath))
    if not (qt_dir / "qtbase_de.qm").is_file():
        missing.append("qtbase_de.qm")
    checks.append(
        Check("translations", Verdict.FAIL if missing else Verdict.OK,
              ("missing: " + ", ".join(missing)) if missing else "de, en",
              Text("Reinstall the tool: translations are missing.",
                   "Installieren Sie das Werkzeug neu: Übersetzungen fehlen.") if missing else None)
    )
    return checks
