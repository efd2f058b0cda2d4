"""Entry point of the desktop application (Programmstart): Qt, translations, the qasync loop.

:func:`run` creates the ``QApplication``, installs our and Qt's translations, runs one asyncio
loop on Qt's event loop (qasync) and inside it: obtains the :class:`~app.context.AppContext`
from ``context_factory`` (for the demo this starts the embedded default, with a splash while it
comes up), shows the main window and, when the window is closed, shuts everything down in order:
the running flow, the job database, the embedded default, then every task that is still left.
"""

from __future__ import annotations

import asyncio
import errno
import inspect
import logging
import logging.handlers
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

# PySide6 is imported before qasync (sorted so), so that qasync picks this Qt binding.
import PySide6  # noqa: F401
import qasync
from PySide6.QtCore import QCoreApplication, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from app import __version__
from app.context import AppContext
from app.errors import ConfigurationError, SmgwctError, Text
from app.store.settings import LoadResult, SettingsStore, data_dir
from ui.i18n import Translations, normalise
from ui.runtime_guards import GuiThreadCollector, guard_bool_refcounts
from ui.views.about import StartupSplash
from ui.views.main_window import EngineFactory, MainWindow, default_engine
from ui.widgets.status import app_icon

log = logging.getLogger(__name__)

Progress = Callable[[Text], None]
ContextFactory = Callable[[Progress], AppContext | Awaitable[AppContext]]
"""Gives the context the window works in; called with a progress callback for start-up messages.
May be a coroutine function (the demo starts its servers in it)."""

STOP_TIMEOUT_S = 10.0


def startup_error(exc: BaseException) -> SmgwctError:
    """A start-up failure as a message for the technician (no traceback)."""
    if isinstance(exc, SmgwctError):
        return exc
    in_use = (errno.EADDRINUSE, getattr(errno, "WSAEADDRINUSE", -1))
    if isinstance(exc, OSError) and exc.errno in in_use:
        return SmgwctError(
            Text(
                f"A network port the demo environment needs is already in use ({exc.strerror}).",
                f"Ein Netzwerk-Port, den die Demo-Umgebung braucht, ist bereits belegt "
                f"({exc.strerror}).",
            ),
            hint=Text(
                "Close the other program (or a second smgwct) that uses it, then start again.",
                "Beenden Sie das andere Programm (oder ein zweites smgwct), das ihn nutzt, und "
                "starten Sie erneut.",
            ),
        )
    if isinstance(exc, OSError):
        return SmgwctError(
            Text(f"Start-up failed: {exc}", f"Der Start ist fehlgeschlagen: {exc}"),
            hint=Text("Check the message, then start again.",
                      "Prüfen Sie die Meldung und starten Sie erneut."),
        )
    return SmgwctError(
        Text(
            f"Start-up failed with an internal error: {type(exc).__name__}: {exc}",
            f"Der Start ist an einem internen Fehler gescheitert: {type(exc).__name__}: {exc}",
        ),
        hint=Text(
            "The details are in the log file.", "Die Einzelheiten stehen in der Protokolldatei."
        ),
    )


LOG_FILE = "smgwct.log"


def configure_logging() -> Path | None:
    """Log to ``<data dir>/logs/smgwct.log`` (rotating) unless logging is set up already.

    Tracebacks of unexpected errors go there, not to the console.
    """
    root = logging.getLogger()
    if root.handlers:
        return None
    folder = data_dir() / "logs"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(
            folder / LOG_FILE, maxBytes=2_000_000, backupCount=3, encoding="utf-8"
        )
    except OSError:
        root.addHandler(logging.NullHandler())  # never a traceback on the console
        return None
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    return folder / LOG_FILE


def check_display() -> None:
    """Refuse clearly (instead of Qt aborting) when Linux has no display to show windows on."""
    if not sys.platform.startswith("linux") or os.environ.get("QT_QPA_PLATFORM"):
        return
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return
    raise ConfigurationError(
        Text("No graphical display was found, so the window cannot open.",
             "Es wurde keine grafische Anzeige gefunden, daher kann das Fenster nicht öffnen."),
        field="DISPLAY",
        hint=Text(
            "Start the tool in a desktop session; for a headless demo use 'smgwct sim'.",
            "Starten Sie das Werkzeug in einer Desktop-Sitzung; ohne Anzeige bietet "
            "'smgwct sim' die Demo-Umgebung.",
        ),
    )


def application() -> QApplication:
    """The one ``QApplication`` (created on first use)."""
    app = QApplication.instance()
    if app is None:
        check_display()
        app = QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setApplicationName("smgwct")
    app.setApplicationDisplayName("smgwct")
    app.setOrganizationName("smgwct")
    app.setApplicationVersion(__version__)
    app.setWindowIcon(app_icon())
    return app


async def _await_box(box: QMessageBox) -> None:
    """Wait until a box opened with ``open()`` is closed (no nested event loop)."""
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    box.finished.connect(lambda _r: done.done() or done.set_result(None))
    if not box.isVisible():
        box.open()
    await done


async def _make_context(factory: ContextFactory, progress: Progress) -> AppContext:
    made = factory(progress)
    if inspect.isawaitable(made):
        made = await made
    if not isinstance(made, AppContext):
        raise TypeError(f"the context factory returned {type(made).__name__}")
    return made


async def stop_demo(context: AppContext | None) -> None:
    """Stop the embedded default a context points to (bounded in time)."""
    demo = getattr(context, "demo", None)
    stop = getattr(demo, "stop", None)
    if stop is None:
        return
    try:
        result = stop()
        if inspect.isawaitable(result):
            await asyncio.wait_for(result, STOP_TIMEOUT_S)
    except Exception:  # stopping must not keep the app from ending
        log.exception("the demo environment did not stop cleanly")


class Session:
    """One run of the application inside the loop (kept as an object so tests can drive it)."""

    def __init__(
        self,
        app: QApplication,
        context_factory: ContextFactory,
        *,
        translations: Translations,
        settings_store: SettingsStore,
        loaded: LoadResult,
        demo: bool = False,
        engine_factory: EngineFactory = default_engine,
        on_window: Callable[[MainWindow], Any] | None = None,
    ) -> None:
        self.app = app
        self.context_factory = context_factory
        self.translations = translations
        self.settings_store = settings_store
        self.loaded = loaded
        self.demo = demo
        self.engine_factory = engine_factory
        self.on_window = on_window
        self.window: MainWindow | None = None
        self.context: AppContext | None = None
        self.error: SmgwctError | None = None
        self.splash: QWidget | None = None
        self._closed: asyncio.Future[None] | None = None
        self._error_box: QMessageBox | None = None

    def _progress(self, message: Text) -> None:
        if isinstance(self.splash, StartupSplash):
            self.splash.message.setText(message.get(self.translations.language))

    def request_close(self) -> None:
        """Close the window (Ctrl+C on the console does this)."""
        if self.window is not None:
            self.window.close()
        elif self._error_box is not None:
            self._error_box.close()
        elif self._closed is not None and not self._closed.done():
            self._closed.set_result(None)

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        self._closed = loop.create_future()
        if self.demo:
            self.splash = StartupSplash(
                QCoreApplication.translate("Session", "Starting the demo environment…")
            )
            self.splash.show()
        try:
            self.context = await _make_context(self.context_factory, self._progress)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if not isinstance(exc, SmgwctError):
                log.exception("start-up failed")
            self.error = startup_error(exc)
        finally:
            if self.splash is not None:
                self.splash.close()
        if self.error is not None:
            await self._report_startup_error(self.error)
            return 1
        try:
            window = MainWindow(
                self.context,
                engine_factory=self.engine_factory,
                settings_store=self.settings_store,
                loaded=self.loaded,
                translations=self.translations,
                demo=self.demo or bool(self.context.demo),
            )
        except SmgwctError as exc:  # e.g. the job database cannot be opened
            await stop_demo(self.context)
            self.error = exc
            await self._report_startup_error(exc)
            return 1
        self.window = window
        closed = self._closed
        window.closed.connect(lambda: closed.done() or closed.set_result(None))
        window.show()
        if self.on_window is not None:
            self.on_window(window)
        try:
            await closed
        finally:
            await self.shutdown()
        return 0

    async def _report_startup_error(self, error: SmgwctError) -> None:
        lang = self.translations.language
        print(f"smgwct: {error.describe(lang)}", file=sys.stderr)
        box = QMessageBox(
            QMessageBox.Icon.Critical,
            QCoreApplication.translate("Session", "smgwct could not start"),
            error.message.get(lang),
            QMessageBox.StandardButton.Close,
        )
        box.setObjectName("startup-error")
        if error.hint is not None:
            box.setInformativeText(error.hint.get(lang))
        box.open()
        self._error_box = box
        if self.on_window is not None:
            self.on_window(box)  # type: ignore[arg-type]
        await _await_box(box)

    async def shutdown(self) -> None:
        if self.window is not None:
            await self.window.shutdown()
        await stop_demo(self.context)


def run(
    context_factory: ContextFactory,
    *,
    language: str | None = None,
    demo: bool = False,
    settings_path: str | Path | None = None,
) -> int:
    """Start the GUI; returns the process exit code (0 after a normal close).

    ``language`` (``"de"``/``"en"``) overrides the stored setting; German is the default.
    ``demo`` shows the start-up splash for the embedded default and the DEMO badge.
    """
    configure_logging()
    app = application()
    if guard_bool_refcounts():
        log.info("PySide6 disconnect() steals references of True; True/False protected")
    collector = GuiThreadCollector(app)
    collector.start()  # Qt objects in reference cycles die in the GUI thread only
    store = SettingsStore(settings_path)
    loaded = store.load()
    translations = Translations(app)
    translations.apply(normalise(language or loaded.settings.language))
    if loaded.notice is not None:
        print(f"smgwct: {loaded.notice.get(translations.language)}", file=sys.stderr)
    app.setQuitOnLastWindowClosed(False)  # the session decides when the loop ends
    session = Session(
        app, context_factory, translations=translations, settings_store=store, loaded=loaded,
        demo=demo,
    )
    previous = signal.getsignal(signal.SIGINT)
    # Qt's loop runs in C++; a periodic no-op lets Python see Ctrl+C promptly.
    wake = QTimer()
    wake.start(300)
    wake.timeout.connect(lambda: None)
    try:
        with asyncio.Runner(loop_factory=lambda: qasync.QEventLoop(app)) as runner:
            loop = runner.get_loop()
            signal.signal(
                signal.SIGINT, lambda *_: loop.call_soon_threadsafe(session.request_close)
            )
            return runner.run(session.run())
    finally:
        wake.stop()
        signal.signal(signal.SIGINT, previous)
        collector.stop()
