"""Dialog "Signaturzertifikat für Protokolle einrichten": the technician certificate that signs
commissioning reports (Inbetriebnahmeprotokolle) outside demo mode.

Non-modal: shown with ``show()``; file choosers open with ``open()``. "Check" loads the signer
with :func:`app.report.signer.load_report_signer` in a worker thread and shows subject, issuer,
validity, SHA-256 fingerprint and where the trust anchor came from (a root CA taken from the
certificate file itself is marked, with its fingerprint to compare); errors appear under the
field at fault. "OK" checks again and, when the files are usable, saves a typed password in the
keyring (never in the settings) and emits :attr:`configured` once with the
:class:`~app.report.signer.SignerFiles`. The dialog stays busy (no second check) until the
password is saved - the keyring may ask the operating system first; a close meanwhile waits
for the save, so a saved password and the configured files always go together.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QEvent, QSize, Qt, Signal
from PySide6.QtGui import QCloseEvent, QFontDatabase
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from app.errors import InvalidValue, SmgwctError, Text
from app.report.signer import (
    FIELD_CERT,
    FIELD_KEY,
    FIELD_PASSWORD,
    FIELD_TRUST,
    PasswordNeeded,
    ReportSigner,
    SignerFiles,
    SignerPasswords,
    load_report_signer,
)
from app.security.secrets import SecretStore, SecretStoreUnavailable
from app.security.tls import format_fingerprint
from ui.i18n import language
from ui.widgets.file_rows import FileRows

log = logging.getLogger(__name__)

PREFERRED_WIDTH = 640
ERROR_COLOUR = "#a50e0e"
WARNING_COLOUR = "#7a4100"


class SignerSetupDialog(QDialog):
    """Choose and check the report signing certificate (PEM + key, or PKCS#12) and its CA."""

    configured = Signal(object)
    """The checked :class:`~app.report.signer.SignerFiles` after "OK"."""
    checked = Signal(object)
    """The :class:`~app.report.signer.ReportSigner` after a successful check."""

    def __init__(self, parent: QWidget | None = None, files: SignerFiles | None = None,
                 secrets: SecretStore | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("signer-setup")
        self.setModal(False)
        self.setWindowModality(Qt.WindowModality.NonModal)
        self.store = secrets
        self.signer: ReportSigner | None = None
        self._task: asyncio.Task[Any] | None = None
        self._error: SmgwctError | None = None
        self._checking = False
        self._saving = False
        self._finished = False
        self._key_row_hidden: bool | None = None
        self.file_rows = FileRows(self, self._pattern, lambda: self.tr("Choose a file"))

        self.intro = QLabel(self)
        self.intro.setObjectName("signer-intro")
        self.intro.setWordWrap(True)
        self.cert_file, self.cert_browse, cert_row = self.file_rows.row("signer-cert-file")
        self.key_file, self.key_browse, key_row = self.file_rows.row("signer-key-file")
        self.trust_file, self.trust_browse, trust_row = self.file_rows.row("signer-trust-file")
        self.password = QLineEdit(self)
        self.password.setObjectName("signer-password")
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.save_password = QCheckBox(self)
        self.save_password.setObjectName("signer-save-password")
        self.save_password.setChecked(secrets is not None)
        self.save_password.setEnabled(secrets is not None)
        self.keyring_note = QLabel(self)
        self.keyring_note.setObjectName("signer-keyring-note")
        self.keyring_note.setWordWrap(True)

        self.field_errors: dict[str, QLabel] = {}
        for field in (FIELD_CERT, FIELD_KEY, FIELD_TRUST, FIELD_PASSWORD):
            label = QLabel(self)
            label.setObjectName(f"signer-error-{field.removeprefix('report_')}")
            label.setWordWrap(True)
            label.setStyleSheet(f"color: {ERROR_COLOUR};")
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            label.hide()
            self.field_errors[field] = label
        self._edits = {FIELD_CERT: self.cert_file, FIELD_KEY: self.key_file,
                       FIELD_TRUST: self.trust_file, FIELD_PASSWORD: self.password}

        self._captions = [QLabel(self) for _ in range(4)]
        self.form = QFormLayout()
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.DontWrapRows)
        password_row = QHBoxLayout()
        password_row.addWidget(self.password)
        rows = ((cert_row, FIELD_CERT), (key_row, FIELD_KEY), (trust_row, FIELD_TRUST),
                (password_row, FIELD_PASSWORD))
        for caption, (row, field) in zip(self._captions, rows, strict=True):
            cell = QVBoxLayout()  # the field with its error line right below it
            cell.setSpacing(2)
            cell.addLayout(row)
            cell.addWidget(self.field_errors[field])
            self.form.addRow(caption, cell)
        self.form.addRow("", self.save_password)
        for caption, edit in zip(self._captions, self._edits.values(), strict=True):
            caption.setBuddy(edit)

        self.details = QGroupBox(self)
        self.details.setObjectName("signer-details")
        self._detail_captions = [QLabel(self.details) for _ in range(5)]
        self.subject = self._detail_value("signer-subject")
        self.issuer = self._detail_value("signer-issuer")
        self.validity = self._detail_value("signer-validity")
        self.sha256 = self._detail_value("signer-sha256")
        self.sha256.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.anchor = self._detail_value("signer-anchor")
        self.anchor_note = QLabel(self.details)
        self.anchor_note.setObjectName("signer-anchor-note")
        self.anchor_note.setWordWrap(True)
        self.anchor_note.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.anchor_note.setStyleSheet(f"color: {WARNING_COLOUR};")
        self.anchor_note.hide()
        details_form = QFormLayout(self.details)
        details_form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        for caption, value in zip(self._detail_captions, (self.subject, self.issuer,
                                                          self.validity, self.sha256,
                                                          self.anchor), strict=True):
            details_form.addRow(caption, value)
        details_form.addRow("", self.anchor_note)
        self.details.hide()

        self.status = QLabel(self)
        self.status.setObjectName("signer-status")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.buttons = QDialogButtonBox(self)
        self.check_button = self.buttons.addButton("", QDialogButtonBox.ButtonRole.ActionRole)
        self.check_button.setObjectName("signer-check")
        self.ok_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setObjectName("signer-ok")
        self.ok_button.setDefault(True)
        self.cancel_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.check_button.clicked.connect(lambda: self.check())
        self.ok_button.clicked.connect(lambda: self.apply())
        self.cancel_button.clicked.connect(self.close)

        layout = QVBoxLayout(self)
        layout.addWidget(self.intro)
        layout.addLayout(self.form)
        layout.addWidget(self.keyring_note)
        layout.addWidget(self.details)
        layout.addWidget(self.status)
        layout.addStretch(1)
        layout.addWidget(self.buttons)

        if files is not None:
            self.set_files(files)
        for field, edit in self._edits.items():
            edit.textChanged.connect(lambda _t, f=field: self._input_changed(f))
        self._update_key_row()
        self.retranslate()
        self.resize(self.sizeHint())

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt override)
        """Wide enough for file paths, tall enough for every wrapped line."""
        width = max(PREFERRED_WIDTH, self.minimumSizeHint().width())
        layout = self.layout()
        height = layout.totalHeightForWidth(width) if layout is not None else -1
        # the base class measures wrapped labels at its own, narrower width: too tall
        return QSize(width, height if height > 0 else super().sizeHint().height())

    def _detail_value(self, name: str) -> QLabel:
        label = QLabel(self.details)
        label.setObjectName(name)
        label.setWordWrap(True)
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        return label

    # --- values --------------------------------------------------------------------------------

    def set_files(self, files: SignerFiles) -> None:
        self.cert_file.setText(str(files.cert))
        self.key_file.setText(str(files.key) if files.key else "")
        self.trust_file.setText(str(files.trust) if files.trust else "")

    def files(self) -> SignerFiles:
        """What the fields say (the key file is left out for a PKCS#12 certificate)."""
        cert = Path(self.cert_file.text().strip())
        key, trust = self.key_file.text().strip(), self.trust_file.text().strip()
        setup = SignerFiles(cert, None, Path(trust) if trust else None)
        if key and not setup.is_pkcs12:
            setup = SignerFiles(cert, Path(key), setup.trust)
        return setup

    @property
    def is_pkcs12(self) -> bool:
        return SignerFiles(Path(self.cert_file.text().strip())).is_pkcs12

    @property
    def checking(self) -> bool:
        return self._checking

    @property
    def error(self) -> SmgwctError | None:
        return self._error

    def _input_changed(self, field: str) -> None:
        """An edited field: the last check's errors and details no longer apply."""
        if field == FIELD_CERT:
            self._update_key_row()
        if self._checking:
            return
        for label in self.field_errors.values():
            label.hide()
        self._error = None
        self.signer = None
        self.details.hide()
        self._set_status("")

    def _update_key_row(self) -> None:
        """A PKCS#12 file holds its key: the key row is hidden then."""
        pkcs12 = self.is_pkcs12
        if pkcs12 == self._key_row_hidden:
            return
        self._key_row_hidden = pkcs12
        self.form.setRowVisible(1, not pkcs12)  # the key row
        self.key_file.setEnabled(not pkcs12)
        self.key_browse.setEnabled(not pkcs12)
        if pkcs12:
            self.field_errors[FIELD_KEY].hide()
        if self.isVisible():
            self.resize(self.width(), self.sizeHint().height())

    def _pattern(self, edit: QLineEdit) -> str:
        """The chooser's name filter for the field ``edit``."""
        if edit is self.cert_file:
            return self.tr("Certificates (*.pem *.crt *.cer *.p12 *.pfx)")
        if edit is self.key_file:
            return self.tr("Private keys (*.key *.pem)")
        return self.tr("CA certificates (*.pem *.crt *.cer)")

    # --- checking ------------------------------------------------------------------------------

    def _spawn(self, apply: bool) -> asyncio.Task[Any] | None:
        if self._checking:  # one run at a time (busy until a save has ended): emitted once
            return None
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = asyncio.get_event_loop()
        self._set_checking(True)  # at once: a second click must not start a second check
        self._task = loop.create_task(self._run(apply))
        self._task.add_done_callback(self._ended)
        return self._task

    def _ended(self, _task: asyncio.Task[Any]) -> None:
        """The run is over (also cancelled before it began): the buttons are usable again."""
        self._saving = self._finished = False
        if self._checking:
            with contextlib.suppress(RuntimeError):  # the dialog may be gone
                self._set_checking(False)

    def check(self) -> asyncio.Task[Any] | None:
        """Load the signer in a worker thread and show its certificate (or the error)."""
        return self._spawn(apply=False)

    def apply(self) -> asyncio.Task[Any] | None:
        """Check; when usable save a typed password in the keyring, emit, close."""
        return self._spawn(apply=True)

    async def _run(self, apply: bool) -> bool:
        """Check (and with ``apply`` save and emit); busy until the very end (see _ended)."""
        files = self.files()
        passwords = SignerPasswords(self.password.text() or None, self.store)
        try:
            if not self.cert_file.text().strip():
                raise _missing_certificate()
            signer = await asyncio.to_thread(load_report_signer, files, passwords)
        except SmgwctError as exc:
            self._show_error(exc)
            return False
        self._error = None
        self.signer = signer
        self._show_signer(signer)
        self.checked.emit(signer)
        if not apply:
            self._set_status(self.tr("The certificate can sign commissioning reports."),
                             "#137333")
            return True
        # Accepted: from here on the run is not cancelled, so that a saved password and the
        # configured files always go together (a close waits for the save, see closeEvent).
        self._finished = True
        remember = passwords.to_remember
        if remember is not None and self.save_password.isChecked() and self.store is not None:
            await self._save_password(self.store, remember)
        with contextlib.suppress(RuntimeError):  # the dialog may be gone with its parent
            self.configured.emit(files)
            self.close()
        return True

    async def _save_password(self, store: SecretStore, remember: tuple[str, str]) -> None:
        """Save in the keyring (may wait for the operating system); busy meanwhile."""
        self._saving = True
        self.cancel_button.setEnabled(False)
        self._set_status(self.tr("Saving the password in the keyring…"))
        try:
            await asyncio.to_thread(store.set, *remember)
        except SecretStoreUnavailable as exc:
            log.warning("signing key password not saved: %s", exc.message.en)
        finally:
            self._saving = False
            with contextlib.suppress(RuntimeError):
                self.cancel_button.setEnabled(True)

    @property
    def saving(self) -> bool:
        """Whether the password is being saved in the keyring (the dialog is busy)."""
        return self._saving

    def _set_checking(self, on: bool) -> None:
        self._checking = on
        self.ok_button.setEnabled(not on)
        self.check_button.setEnabled(not on)
        if on:
            self._error = None
            for label in self.field_errors.values():
                label.hide()
            self._set_status(self.tr("Checking the certificate…"))

    def _show_error(self, error: SmgwctError) -> None:
        self._error = error
        self.signer = None
        self.details.hide()
        label = self.field_errors.get(error.field or "")
        message = _describe(error)
        if label is not None and (error.field != FIELD_KEY or not self.is_pkcs12):
            label.setText(message)
            label.show()
            self._set_status(self.tr("The certificate cannot be used; see the field marked "
                                     "above."), ERROR_COLOUR)
            edit = self._edits[error.field or ""]
            edit.setFocus()
            edit.selectAll()
        else:
            self._set_status(message, ERROR_COLOUR)
        if isinstance(error, PasswordNeeded):
            self.password.setFocus()

    def _show_signer(self, signer: ReportSigner) -> None:
        info = signer.info
        self.subject.setText(info.subject)
        self.issuer.setText(info.issuer)
        self.validity.setText(self.tr("{start} to {end}").format(
            start=info.not_before.astimezone().strftime("%Y-%m-%d %H:%M"),
            end=info.not_after.astimezone().strftime("%Y-%m-%d %H:%M")))
        pairs = format_fingerprint(info.sha256)
        self.sha256.setText(pairs[:47] + "\n" + pairs[48:])
        self.anchor.setText("\n".join(c.subject.rfc4514_string() for c in signer.trust))
        if signer.anchor_from_certificate_file:
            prints = ", ".join(format_fingerprint(p) for p in signer.anchor_fingerprints)
            self.anchor_note.setText(self.tr(
                "Root CA taken from the certificate file (SHA-256 {fingerprint}): compare the "
                "fingerprint with the one your PKI published, or choose the CA certificate "
                "file.").format(fingerprint=prints))
            self.anchor_note.show()
        else:
            self.anchor_note.hide()
        self.details.show()

    # --- language and lifecycle ----------------------------------------------------------------

    def retranslate(self) -> None:
        self.setWindowTitle(self.tr("Set up the report signing certificate"))
        self.intro.setText(self.tr(
            "Commissioning reports are signed with your technician certificate (EC key). "
            "Choose it as a PEM file with its private key, or as a PKCS#12 file, and the CA "
            "certificate that verifies it. Only the file locations are saved in the settings."))
        for caption, label in zip(self._captions, (
                self.tr("Certificate:"), self.tr("Private key:"), self.tr("CA certificate:"),
                self.tr("Password:")), strict=True):
            caption.setText(label)
        self.file_rows.retranslate(self.tr("Browse…"))
        self.cert_file.setPlaceholderText(self.tr("PEM (sub-CA may follow) or PKCS#12 "
                                                  "(.p12/.pfx)"))
        self.key_file.setPlaceholderText(self.tr("PEM, only if the certificate file has no key"))
        self.trust_file.setPlaceholderText(self.tr("optional if the certificate file holds the "
                                                   "root CA"))
        self.password.setPlaceholderText(self.tr("only if the key is protected"))
        self.save_password.setText(self.tr("Save the password in the keyring"))
        if self.store is None:
            self.keyring_note.setText(self.tr(
                "No secure keyring is available on this computer: the password cannot be saved, "
                "so only certificates without a password can sign from the window."))
            self.keyring_note.setStyleSheet("color: #7a4100;")
        else:
            self.keyring_note.setText(self.tr(
                "The password is kept only in the operating system's keyring, never in the "
                "settings."))
            self.keyring_note.setStyleSheet("color: #3c4043;")
        self.details.setTitle(self.tr("Signing certificate"))
        for caption, label in zip(self._detail_captions, (
                self.tr("Subject:"), self.tr("Issuer:"), self.tr("Valid:"),
                self.tr("SHA-256:"), self.tr("Trust anchor:")), strict=True):
            caption.setText(label)
        if self.signer is not None:
            self._show_signer(self.signer)
        self.check_button.setText(self.tr("Check"))
        self.ok_button.setText(self.tr("OK"))
        self.cancel_button.setText(self.tr("Cancel"))
        if self._error is not None:
            self._show_error(self._error)
        elif not self._checking and self.signer is None:
            self._set_status("")

    def _set_status(self, message: str, colour: str | None = None) -> None:
        self.status.setText(message)
        self.status.setStyleSheet(f"color: {colour};" if colour else "")
        self.status.setVisible(bool(message))

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt override)
        if event.type() == QEvent.Type.LanguageChange:
            self.retranslate()
        super().changeEvent(event)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt override)
        if self._saving:  # the keyring is saving the password: the run closes when done
            event.ignore()
            return
        self._stop()
        super().closeEvent(event)

    def reject(self) -> None:
        """Escape or Cancel: like closing, and likewise waits for a running save."""
        if self._saving:
            return
        self._stop()
        super().reject()

    def _stop(self) -> None:
        """Close the file choosers and cancel a check that was not yet accepted."""
        self.file_rows.close_all()
        if self._task is not None and not self._task.done() and not self._finished:
            self._task.cancel()

    async def wait_checked(self) -> None:
        """Wait until a running check has ended (tests, shutdown)."""
        task = self._task
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.shield(task)


def _describe(error: SmgwctError) -> str:
    """Message and hint without the field name (the error stands next to its field)."""
    lang = language()
    hint = f" {error.hint.get(lang)}" if error.hint is not None else ""
    return error.message.get(lang) + hint


def _missing_certificate() -> SmgwctError:
    return InvalidValue(Text("Choose the certificate file.", "Wählen Sie die Zertifikatsdatei."),
                        field=FIELD_CERT)


__all__ = ["SignerSetupDialog"]
