"""The GWA link of the main window (GWA-Anbindung): restored from the settings at start, set up
in the dialog "GWA-Anbindung einrichten", reflected on the GWA card of the connection panel.

The technician key is handed to ``app.security.tls`` re-encrypted with a one-time password in a
private temporary folder, which :meth:`GwaLinkControl.shutdown` removes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QWidget

from app.context import AppContext, GwaTarget, Link, LinkState
from app.errors import SmgwctError, Text
from app.processes.flows.han_common import SECRET_STORE_EXTRA
from app.security.secrets import KeyringSecretStore, SecretStore, SecretStoreUnavailable
from ui.gwa_link import GwaLinkFiles, LinkPasswords, PasswordNeeded, load_target
from ui.views.connections import ConnectionPanel
from ui.views.gwa_setup import GwaSetupDialog

log = logging.getLogger(__name__)

ASK_EACH_START = Text(
    "No secure keyring is available, so the password of the technician certificate is not "
    "saved: enter it to connect the GWA link.",
    "Es ist kein sicherer Schlüsselbund verfügbar, daher wird das Passwort des "
    "Techniker-Zertifikats nicht gespeichert: Geben Sie es ein, um die GWA-Anbindung "
    "herzustellen.",
)
ASK_PASSWORD = Text(
    "Enter the password of the technician certificate to connect the GWA link.",
    "Geben Sie das Passwort des Techniker-Zertifikats ein, um die GWA-Anbindung herzustellen.",
)


def secret_store(context: AppContext) -> SecretStore | None:
    """Where passwords go: the context's store (tests), else the OS keyring if it is secure."""
    given = context.extras.get(SECRET_STORE_EXTRA)
    if given is not None:
        return given  # type: ignore[no-any-return]
    try:
        return KeyringSecretStore()
    except SecretStoreUnavailable:
        return None
    except Exception:  # noqa: BLE001 - a broken keyring package must not break the window
        log.exception("the keyring could not be opened")
        return None


class GwaLinkControl(QObject):
    """Sets the context's GWA target from files; one set-up dialog at a time."""

    configured = Signal(object, object)
    """``(GwaTarget, GwaLinkFiles)`` after the technician set the link up in the dialog."""

    def __init__(self, window: QWidget, context: AppContext, panel: ConnectionPanel) -> None:
        super().__init__(window)
        self.window = window
        self.context = context
        self.panel = panel
        self.dialog: GwaSetupDialog | None = None
        self._folder: tempfile.TemporaryDirectory[str] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    def workdir(self) -> Path:
        """The private folder of the re-encrypted technician key (created on first use)."""
        if self._folder is None:
            self._folder = tempfile.TemporaryDirectory(prefix="smgwct-gwa-")
        return Path(self._folder.name)

    def use(self, target: GwaTarget) -> None:
        """Work with ``target`` as the GWA link from now on (not checked yet)."""
        self.context.gwa = target
        self.panel.cards[Link.GWA].set_target(target.base_url)
        self.context.update_link(Link.GWA, state=LinkState.UNKNOWN, peer=None,
                                 fingerprint=None, last_error=None)

    # --- the dialog ----------------------------------------------------------------------------

    def open_setup(self, files: GwaLinkFiles | None,
                   notice: Text | None = None) -> GwaSetupDialog:
        """Show the non-modal set-up dialog (the open one again, if there is one)."""
        if self.dialog is not None:
            self.dialog.show()
            self.dialog.raise_()
            return self.dialog
        dialog = GwaSetupDialog(self.window, files=files, secret_store=secret_store(self.context),
                                workdir=self.workdir(), notice=notice)
        if files is None and self.context.gwa is not None:
            dialog.url.setText(self.context.gwa.base_url)
        dialog.applied.connect(self._applied)
        dialog.finished.connect(self._closed)
        self.dialog = dialog
        dialog.show()
        dialog.raise_()
        dialog.activateWindow()
        return dialog

    def _applied(self, target: GwaTarget, files: GwaLinkFiles) -> None:
        self.use(target)
        self.configured.emit(target, files)

    def _closed(self) -> None:
        dialog, self.dialog = self.dialog, None
        if dialog is not None:
            dialog.deleteLater()

    # --- at start ------------------------------------------------------------------------------

    def restore_later(self, files: GwaLinkFiles) -> asyncio.Task[GwaTarget | None]:
        """Start :meth:`restore` on the loop (the window is built before the loop runs)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = asyncio.get_event_loop()
        task = loop.create_task(self.restore(files))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def restore(self, files: GwaLinkFiles) -> GwaTarget | None:
        """The stored set-up: password from the keyring, else asked for in the dialog."""
        self.panel.cards[Link.GWA].set_target(files.url)
        store = secret_store(self.context)
        try:
            target = await asyncio.to_thread(load_target, files, LinkPasswords(None, store),
                                             self.workdir())
        except PasswordNeeded:
            self.open_setup(files, ASK_EACH_START if store is None else ASK_PASSWORD)
            return None
        except SmgwctError as exc:
            self.context.update_link(Link.GWA, state=LinkState.FAILED, last_error=exc.message)
            return None
        self.use(target)
        return target

    # --- end -----------------------------------------------------------------------------------

    def close_dialog(self) -> None:
        if self.dialog is not None:
            self.dialog.close()

    async def shutdown(self) -> None:
        """Cancel what still runs and remove the private key folder."""
        self.close_dialog()
        pending = [t for t in self._tasks if not t.done()]
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=2.0)
        if self._folder is not None:
            with contextlib.suppress(OSError):
                self._folder.cleanup()
            self._folder = None
