"""Message boxes that do not block: opened with ``open()``, deleted when closed."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QWidget


def message_box(parent: QWidget, icon: QMessageBox.Icon, title: str, body: str) -> QMessageBox:
    """Show ``body`` with an OK button over ``parent`` without waiting for the answer."""
    box = QMessageBox(icon, title, body, QMessageBox.StandardButton.Ok, parent)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.open()
    return box
