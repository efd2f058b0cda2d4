"""Trace panel (Protokollmitschnitt): the protocol lines of the running flow, copyable."""

from __future__ import annotations

from PySide6.QtCore import QEvent
from PySide6.QtGui import QFontDatabase, QGuiApplication, QTextOption
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.processes.events import TraceLine

MAX_LINES = 20_000
"""Older lines are dropped beyond this (the audit log keeps what matters)."""

_ARROWS = {"tx": "→", "rx": "←", "info": "·"}


def format_trace(line: TraceLine) -> str:
    """``12:00:01.234  han  →  text`` (local time, channel, direction, text)."""
    stamp = line.timestamp.astimezone().strftime("%H:%M:%S.%f")[:-3]
    arrow = _ARROWS.get(line.direction, line.direction)
    return f"{stamp}  {line.channel:<8} {arrow}  {line.text}"


class TracePanel(QWidget):
    """Monospace, read-only trace with “copy” and “clear”."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("trace-panel")
        self.title = QLabel(self)
        self.title.setObjectName("section-title")
        self.view = QPlainTextEdit(self)
        self.view.setObjectName("trace-text")
        self.view.setReadOnly(True)
        self.view.setMaximumBlockCount(MAX_LINES)
        self.view.setWordWrapMode(QTextOption.WrapMode.NoWrap)
        self.view.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.copy_button = QPushButton(self)
        self.copy_button.setObjectName("trace-copy")
        self.copy_button.clicked.connect(self.copy_to_clipboard)
        self.clear_button = QPushButton(self)
        self.clear_button.setObjectName("trace-clear")
        self.clear_button.clicked.connect(self.view.clear)
        head = QHBoxLayout()
        head.addWidget(self.title)
        head.addStretch(1)
        head.addWidget(self.copy_button)
        head.addWidget(self.clear_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(head)
        layout.addWidget(self.view)
        self.retranslate()

    def append(self, line: TraceLine) -> None:
        self.view.appendPlainText(format_trace(line))

    def append_text(self, line: str) -> None:
        """A note that is not a protocol line (flow start, flow end)."""
        self.view.appendPlainText(line)

    def text(self) -> str:
        return self.view.toPlainText()

    def copy_to_clipboard(self) -> None:
        QGuiApplication.clipboard().setText(self.text())

    def retranslate(self) -> None:
        self.title.setText(self.tr("Protocol trace"))
        self.copy_button.setText(self.tr("Copy"))
        self.copy_button.setToolTip(self.tr("Copy the whole trace to the clipboard"))
        self.clear_button.setText(self.tr("Clear"))
        self.view.setPlaceholderText(self.tr("Protocol lines of the running flow appear here."))

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt override)
        if event.type() == QEvent.Type.LanguageChange:
            self.retranslate()
        super().changeEvent(event)
