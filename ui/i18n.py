"""Language of the user interface (Sprache der Oberfläche).

Source strings are English; ``resources/i18n/app_de.qm`` holds the German translation, which is
the default. Qt's own strings (standard buttons, context menus) come from the ``qtbase``
catalogue of the Qt installation. Switching the language installs new translators; Qt then sends
every widget a ``LanguageChange`` event and the views translate themselves again.

Texts of the core (:class:`app.errors.Text`) are not Qt strings; views render them with
:func:`text`, which follows the active language.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QLibraryInfo, QLocale, QTranslator

from app.errors import Text
from app.resources import resource_path

SUPPORTED: tuple[str, ...] = ("de", "en")
DEFAULT = "de"

_active = DEFAULT
#: translators installed by :class:`Translations` (shared: one set per process)
_installed: list[QTranslator] = []


def normalise(lang: str | None) -> str:
    """``"de"`` or ``"en"`` for any locale-like string; the default for anything unknown."""
    if not lang:
        return DEFAULT
    short = lang.strip().lower()[:2]
    return short if short in SUPPORTED else DEFAULT


def language() -> str:
    """The active UI language (``"de"`` or ``"en"``)."""
    return _active


def text(value: Text | str | None) -> str:
    """A core text in the active language (empty for ``None``)."""
    if value is None:
        return ""
    if isinstance(value, Text):
        return value.get(_active)
    return str(value)


def app_catalogue(lang: str) -> Path:
    """The compiled catalogue of our own strings for ``lang``."""
    return resource_path("i18n", f"app_{lang}.qm")


def qt_translations_dir() -> Path:
    """Where Qt's own catalogues are (inside a frozen bundle: next to our resources)."""
    frozen = getattr(sys, "_MEIPASS", None)
    if frozen:
        bundled = Path(frozen) / "PySide6" / "Qt" / "translations"
        if bundled.is_dir():
            return bundled
    return Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.TranslationsPath))


class Translations:
    """Installs and swaps the translators of the application (our catalogue and Qt's)."""

    def __init__(self, app: QCoreApplication) -> None:
        self._app = app
        #: catalogues that could not be loaded at the last :meth:`apply` (for the self-test)
        self.missing: list[str] = []

    @property
    def language(self) -> str:
        return _active

    def apply(self, lang: str | None) -> str:
        """Make ``lang`` the active language; returns the language actually set."""
        global _active
        lang = normalise(lang)
        for translator in _installed:
            self._app.removeTranslator(translator)
        _installed.clear()
        self.missing = []
        # Qt's catalogue first: a translator installed later is asked first, so ours wins.
        qt = QTranslator(self._app)
        if qt.load(f"qtbase_{lang}", str(qt_translations_dir())):
            _installed.append(qt)
        elif lang != "en":
            self.missing.append(f"qtbase_{lang}.qm")
        ours = QTranslator(self._app)
        if ours.load(str(app_catalogue(lang))):
            _installed.append(ours)
        elif lang != "en":
            self.missing.append(app_catalogue(lang).name)
        _active = lang
        locale = QLocale.Language.German if lang == "de" else QLocale.Language.English
        QLocale.setDefault(QLocale(locale))
        for translator in _installed:
            self._app.installTranslator(translator)
        return lang
