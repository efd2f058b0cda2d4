"""The report signing certificate of the main window (Signaturzertifikat für Protokolle): what
signs the commissioning reports, set up in the dialog "Signaturzertifikat für Protokolle
einrichten".

In demo mode the demo PKI signs; otherwise the certificate named in the settings, its password
taken from the keyring when the report is built.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QWidget

from app.context import AppContext
from app.report.signer import (
    ReportSigner,
    SignerFiles,
    SignerPasswords,
    demo_report_signer,
    load_report_signer,
)
from ui.views.gwa_control import secret_store
from ui.views.jobs import SignerFactory
from ui.views.signer_setup import SignerSetupDialog


class SignerControl(QObject):
    """Builds the report signer from the settings; one set-up dialog at a time."""

    configured = Signal(object)
    """The checked :class:`~app.report.signer.SignerFiles` after the technician set them up."""

    def __init__(self, window: QWidget, context: AppContext, *, demo: bool) -> None:
        super().__init__(window)
        self.window = window
        self.context = context
        self.demo = demo
        self.dialog: SignerSetupDialog | None = None

    def factory(self, files: SignerFiles | None) -> SignerFactory | None:
        """What signs reports: the demo PKI in demo mode, else the certificate in ``files``
        (``None``: none is set up)."""
        if self.demo:
            return demo_report_signer
        if files is None:
            return None
        store = secret_store(self.context)

        def load(_folder: Path, _smgw_id: str) -> ReportSigner:  # worker thread
            return load_report_signer(files, SignerPasswords(None, store))

        return load

    def open_setup(self, files: SignerFiles | None) -> SignerSetupDialog:
        """Show the non-modal set-up dialog (the open one again, if there is one)."""
        if self.dialog is not None:
            self.dialog.show()
            self.dialog.raise_()
            return self.dialog
        dialog = SignerSetupDialog(self.window, files, secret_store(self.context))
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.configured.connect(self.configured.emit)
        dialog.destroyed.connect(lambda *_: setattr(self, "dialog", None))
        self.dialog = dialog
        dialog.show()
        dialog.raise_()
        dialog.activateWindow()
        return dialog
