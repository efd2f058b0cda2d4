"""Dialog "GWA-Anbindung einrichten": URL, CA and technician certificate of the GWA link.

Non-modal: it is shown with ``show()``; file choosers open with ``open()``; the certificate is
checked in a worker thread. When the files are usable the dialog emits :attr:`applied` with the
new :class:`~app.context.GwaTarget` and the :class:`~ui.gwa_link.GwaLinkFiles` (the window keeps
the paths in the settings). The password of a protected certificate goes to the keyring only;
without a secure keyring it is not stored and the dialog says that it will be asked at every start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QEvent, QSize, Qt, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from app.errors import SmgwctError, Text
from app.security.secrets import SecretStore, SecretStoreUnavailable
from ui.gwa_link import GwaLinkFiles, LinkPasswords, PasswordNeeded, load_target
from ui.i18n import language, text
from ui.widgets.file_rows import FileRows

log = logging.getLogger(__name__)

PREFERRED_WIDTH = 620


class GwaSetupDialog(QDialog):
    """Set up the GWA link: URL, CA file, technician certificate (+ key), password."""

    applied = Signal(object, object)
    """``(GwaTarget, GwaLinkFiles)`` after the files were checked successfully."""

    def __init__(
        self,
        parent: QWidget | None = None,
        *,
        files: GwaLinkFiles | None = None,
        secret_store: SecretStore | None = None,
        workdir: Path,
        notice: Text | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("gwa-setup")
        self.setModal(False)
        self.setWindowModality(Qt.WindowModality.NonModal)
        self.store = secret_store
        self.workdir = workdir
        self._notice = notice
        self._task: asyncio.Task[Any] | None = None
        self._error: SmgwctError | None = None
        self._checking = False
        self._finished = False
        self._saving = False
        self.file_rows = FileRows(self, self._pattern, lambda: self.tr("Choose a file"))

        self.intro = QLabel(self)
        self.intro.setObjectName("gwa-intro")
        self.intro.setWordWrap(True)
        self.notice = QLabel(self)
        self.notice.setObjectName("gwa-notice")
        self.notice.setWordWrap(True)
        self.notice.setStyleSheet("color: #7a4100;")

        self.url = QLineEdit(self)
        self.url.setObjectName("gwa-url")
        self.url.setPlaceholderText("https://gwa.example.de:8443")
        self.ca_file, self.ca_browse, ca_row = self.file_rows.row("gwa-ca-file")
        self.cert_file, self.cert_browse, cert_row = self.file_rows.row("gwa-cert-file")
        self.key_file, self.key_browse, key_row = self.file_rows.row("gwa-key-file")
        self.password = QLineEdit(self)
        self.password.setObjectName("gwa-password")
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.save_password = QCheckBox(self)
        self.save_password.setObjectName("gwa-save-password")
        self.save_password.setChecked(secret_store is not None)
        self.save_password.setEnabled(secret_store is not None)
        self.keyring_note = QLabel(self)
        self.keyring_note.setObjectName("gwa-keyring-note")
        self.keyring_note.setWordWrap(True)

        self._captions = [QLabel(self) for _ in range(5)]
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.DontWrapRows)
        for caption, row in zip(self._captions, (self.url, ca_row, cert_row, key_row,
                                                 self.password), strict=True):
            form.addRow(caption, row)
        form.addRow("", self.save_password)
        self._captions[0].setBuddy(self.url)
        self._captions[1].setBuddy(self.ca_file)
        self._captions[2].setBuddy(self.cert_file)
        self._captions[3].setBuddy(self.key_file)
        self._captions[4].setBuddy(self.password)

        self.status = QLabel(self)
        self.status.setObjectName("gwa-status")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.buttons = QDialogButtonBox(self)
        self.apply_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Ok)
        self.apply_button.setObjectName("gwa-apply")
        self.apply_button.setDefault(True)
        self.cancel_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.apply_button.clicked.connect(self.apply)
        self.cancel_button.clicked.connect(self.close)

        layout = QVBoxLayout(self)
        layout.addWidget(self.intro)
        layout.addWidget(self.notice)
        layout.addLayout(form)
        layout.addWidget(self.keyring_note)
        layout.addWidget(self.status)
        layout.addWidget(self.buttons)
        if files is not None:
            self.set_files(files)
        self.retranslate()
        self.resize(self.sizeHint())

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt override)
        """Wide enough for file paths, tall enough for every wrapped line."""
        width = max(PREFERRED_WIDTH, self.minimumSizeHint().width())
        layout = self.layout()
        height = layout.totalHeightForWidth(width) if layout is not None else -1
        return QSize(width, max(height, super().sizeHint().height()))

    # --- values --------------------------------------------------------------------------------

    def set_files(self, files: GwaLinkFiles) -> None:
        self.url.setText(files.url)
        self.ca_file.setText(str(files.ca_file))
        self.cert_file.setText(str(files.cert_file))
        self.key_file.setText(str(files.key_file) if files.key_file else "")

    def files(self) -> GwaLinkFiles:
        key = self.key_file.text().strip()
        return GwaLinkFiles(self.url.text().strip(), Path(self.ca_file.text().strip()),
                            Path(self.cert_file.text().strip()), Path(key) if key else None)

    @property
    def checking(self) -> bool:
        return self._checking

    def _pattern(self, edit: QLineEdit) -> str:
        """The chooser's name filter for the field ``edit``."""
        return (self.tr("Certificates (*.pem *.crt *.cer)") if edit is self.ca_file else
                self.tr("Certificates and keys (*.p12 *.pfx *.pem *.key)"))

    # --- applying ------------------------------------------------------------------------------

    def apply(self) -> asyncio.Task[Any] | None:
        """Check the files in a worker thread; on success store the password and emit."""
        if self._checking:
            return None
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = asyncio.get_event_loop()
        self._task = loop.create_task(self._apply())
        return self._task

    async def _apply(self) -> bool:
        files = self.files()
        passwords = LinkPasswords(self.password.text() or None, self.store)
        self._set_checking(True)
        try:
            try:
                target = await asyncio.to_thread(load_target, files, passwords, self.workdir)
            except SmgwctError as exc:
                self._show_error(exc)
                return False
            self._finished = True  # closing now must not cancel this very task
            remember = passwords.to_remember
            if remember is not None and self.save_password.isChecked() and self.store:
                # busy until the keyring is done (it may wait for the operating system): a
                # second OK would save twice, closing now would lose the set-up
                self._saving = True
                self.cancel_button.setEnabled(False)
                try:
                    await asyncio.to_thread(self.store.set, *remember)
                except SecretStoreUnavailable as exc:
                    log.warning("GWA password not saved: %s", exc.message.en)
                finally:
                    self._saving = False
                    with contextlib.suppress(RuntimeError):
                        self.cancel_button.setEnabled(True)
        finally:
            with contextlib.suppress(RuntimeError):  # the dialog may be gone
                self._set_checking(False)
        self._error = None
        self.applied.emit(target, files)
        self.close()
        return True

    def _set_checking(self, on: bool) -> None:
        self._checking = on
        self.apply_button.setEnabled(not on)
        if on:
            self._error = None
            self._set_status(self.tr("Checking the certificates…"))

    def _show_error(self, error: SmgwctError) -> None:
        self._error = error
        self._set_status(error.describe(language()), "#a50e0e")
        field = {"gwa_url": self.url, "gwa_ca_file": self.ca_file,
                 "gwa_cert_file": self.cert_file, "gwa_key_file": self.key_file,
                 "gwa_password": self.password}.get(error.field or "")
        if field is not None:
            field.setFocus()
            field.selectAll()
        if isinstance(error, PasswordNeeded):
            self.password.setFocus()

    @property
    def error(self) -> SmgwctError | None:
        return self._error

    # --- language and lifecycle ----------------------------------------------------------------

    def retranslate(self) -> None:
        self.setWindowTitle(self.tr("Set up the GWA link"))
        self.intro.setText(self.tr(
            "The Gateway Administrator gives you the address of its technician interface, its "
            "CA certificate and your technician certificate. Only the file locations are saved "
            "in the settings."))
        self.notice.setText(text(self._notice))
        self.notice.setVisible(self._notice is not None)
        for caption, label in zip(self._captions, (
                self.tr("GWA URL:"), self.tr("CA certificate:"),
                self.tr("Technician certificate:"), self.tr("Private key:"),
                self.tr("Password:")), strict=True):
            caption.setText(label)
        self.file_rows.retranslate(self.tr("Browse…"))
        self.ca_file.setPlaceholderText(self.tr("PEM file of the GWA's certificate authority"))
        self.cert_file.setPlaceholderText(self.tr("PKCS#12 (.p12/.pfx) or PEM"))
        self.key_file.setPlaceholderText(self.tr("only for a PEM certificate without its key"))
        self.password.setPlaceholderText(self.tr("only if the certificate is protected"))
        self.save_password.setText(self.tr("Save the password in the keyring"))
        if self.store is None:
            self.keyring_note.setText(self.tr(
                "No secure keyring is available on this computer: the password is not saved "
                "and will be asked at every start."))
            self.keyring_note.setStyleSheet("color: #7a4100;")
        else:
            self.keyring_note.setText(self.tr(
                "The password is kept only in the operating system's keyring, never in the "
                "settings."))
            self.keyring_note.setStyleSheet("color: #3c4043;")
        self.apply_button.setText(self.tr("Check and apply"))
        self.cancel_button.setText(self.tr("Cancel"))
        if self._error is not None:
            self._set_status(self._error.describe(language()), "#a50e0e")
        elif not self._checking:
            self._set_status("")

    def _set_status(self, message: str, colour: str | None = None) -> None:
        self.status.setText(message)
        self.status.setStyleSheet(f"color: {colour};" if colour else "")
        self.status.setVisible(bool(message))

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt override)
        if event.type() == QEvent.Type.LanguageChange:
            self.retranslate()
        super().changeEvent(event)

    def reject(self) -> None:
        """Escape: like closing, and likewise waits for a running save."""
        if not self._saving:
            super().reject()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt override)
        if self._saving:  # the keyring is saving the password: the dialog closes when done
            event.ignore()
            return
        self.file_rows.close_all()
        if self._task is not None and not self._task.done() and not self._finished:
            self._task.cancel()
        super().closeEvent(event)

    async def wait_checked(self) -> None:
        """Wait until a running check has ended (tests, shutdown)."""
        task = self._task
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.shield(task)
