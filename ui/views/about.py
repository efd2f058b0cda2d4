"""About dialog (Über smgwct) and the start-up splash."""

from __future__ import annotations

import platform
import ssl

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import QCoreApplication, Qt, qVersion
from PySide6.QtWidgets import QLabel, QMessageBox, QProgressBar, QVBoxLayout, QWidget

from app import __version__
from ui.widgets.status import app_icon


def about_box(parent: QWidget | None) -> QMessageBox:
    """A non-modal about box (show it with ``open()``)."""
    translate = QCoreApplication.translate
    box = QMessageBox(parent)
    box.setObjectName("about-box")
    box.setIconPixmap(app_icon().pixmap(64, 64))
    box.setWindowTitle(translate("AboutBox", "About smgwct"))
    box.setTextFormat(Qt.TextFormat.RichText)
    box.setText(translate("AboutBox", "<b>smgwct {version}</b>").format(version=__version__))
    box.setInformativeText(
        translate(
            "AboutBox",
            "Commissioning tool for German smart meter gateways: guided installation, pairing "
            "and diagnostics over the HAN interface, the optical interface and the GWA link."
        )
        + "<br><br>"
        + translate("AboutBox", "Qt {qt}, PySide6 {pyside}, Python {python}, {openssl}").format(
            qt=qVersion(),
            pyside=pyside_version,
            python=platform.python_version(),
            openssl=ssl.OPENSSL_VERSION,
        )
    )
    box.setStandardButtons(QMessageBox.StandardButton.Close)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    return box


class StartupSplash(QWidget):
    """A small frameless window with a message and a busy bar while the app gets ready."""

    def __init__(self, message: str, parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.SplashScreen | Qt.WindowType.FramelessWindowHint)
        self.setObjectName("startup-splash")
        self.setWindowIcon(app_icon())
        icon = QLabel(self)
        icon.setPixmap(app_icon().pixmap(48, 48))
        icon.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message = QLabel(message, self)
        self.message.setObjectName("splash-message")
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message.setStyleSheet("font-size: 11pt;")
        bar = QProgressBar(self)
        bar.setRange(0, 0)
        bar.setTextVisible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(32, 24, 32, 24)
        layout.addWidget(icon)
        layout.addWidget(self.message)
        layout.addWidget(bar)
        self.setStyleSheet("QWidget#startup-splash { background: #ffffff; }")
        self.setMinimumWidth(380)
