"""Technician prompt (Rückfrage an den Monteur) as a non-modal dialog.

The dialog never blocks: it is shown with :meth:`QDialog.show` and reports the answer through its
``answered`` signal (or ``cancelled`` when the technician breaks the flow off). The coroutine that
asked waits on a future (see :class:`ui.bridge.QtUserInteraction`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from PySide6.QtCore import QEvent, QSize, Qt, Signal
from PySide6.QtGui import QCloseEvent, QFontDatabase, QKeyEvent
from PySide6.QtWidgets import (
    QButtonGroup,
    QDialog,
    QDialogButtonBox,
    QFrame,
    QGridLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from app.errors import Text
from app.processes.interaction import InteractionRequest, Validator, check_value
from ui.i18n import text

#: up to this many options are shown as radio buttons, more as a list
RADIO_LIMIT = 8
PREFERRED_WIDTH = 520
#: pairs of hex digits per line of a fingerprint block (SHA-256: two lines of 16)
PAIRS_PER_LINE = 16

_FIELD = re.compile(r"^(?P<label>[^:\n]{1,24}):[ \t]+(?P<value>\S.*)$")
_DN_COMMA = re.compile(r"(?<!\\),(?! )")
_FINGERPRINT = re.compile(r"^(?:[0-9A-Fa-f]{2}:){15,}[0-9A-Fa-f]{2}$")


@dataclass(frozen=True)
class DetailPart:
    """One piece of a question's detail: a paragraph, or a ``label: value`` field.

    Fields whose value is a certificate fingerprint are shown monospaced, 16 pairs a line."""

    text: str
    label: str | None = None
    fingerprint: bool = False


def detail_parts(detail: str) -> list[DetailPart]:
    """Split a detail text into paragraphs and fields (``Inhaber: CN=…``, ``SHA-256: AB:CD:…``).

    A line is a field when it starts with a short label and a colon, and a block of such lines
    holds a fingerprint; other lines are paragraphs."""
    lines = [line.strip() for line in detail.splitlines() if line.strip()]
    matches = [_FIELD.match(line) for line in lines]
    has_fingerprint = any(m is not None and _FINGERPRINT.match(m["value"]) for m in matches)
    parts = []
    for line, match in zip(lines, matches, strict=True):
        if has_fingerprint and match is not None:
            value = match["value"].strip()
            parts.append(DetailPart(value, match["label"].strip(),
                                    bool(_FINGERPRINT.match(value))))
        else:
            parts.append(DetailPart(line))
    return parts


def fingerprint_lines(value: str) -> str:
    """``AB:CD:…`` broken into lines of :data:`PAIRS_PER_LINE` pairs (upper case)."""
    pairs = value.upper().split(":")
    return "\n".join(":".join(pairs[i:i + PAIRS_PER_LINE])
                     for i in range(0, len(pairs), PAIRS_PER_LINE))


class PromptDialog(QDialog):
    """One question: yes/no, a choice, or a typed value (validated before it is accepted)."""

    answered = Signal(object)
    """The answer: ``bool`` for confirm, the option key for choose, the text for enter_value."""
    cancelled = Signal()
    """The technician broke the flow off instead of answering."""

    def __init__(
        self,
        request: InteractionRequest,
        validator: Validator | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("prompt-dialog")
        self.setModal(False)
        self.setWindowModality(Qt.WindowModality.NonModal)
        self.request = request
        self._validator = validator
        self._done = False
        self.prompt = QLabel(self)
        self.prompt.setObjectName("prompt-text")
        self.prompt.setWordWrap(True)
        self.prompt.setStyleSheet("font-weight: 600;")
        self.detail = QLabel(self)
        self.detail.setObjectName("prompt-detail")
        self.detail.setWordWrap(True)
        self.detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        # certificate details: fields (subject, fingerprint in monospace) and the advice
        self.fields = QFrame(self)
        self.fields.setObjectName("prompt-fields")
        self.fields.setStyleSheet(
            "QFrame#prompt-fields { background: #f8f9fa; border: 1px solid #dadce0;"
            " border-radius: 4px; }")
        self._fields_layout = QGridLayout(self.fields)
        self._fields_layout.setColumnStretch(1, 1)
        self._fields_layout.setHorizontalSpacing(12)
        self.fingerprint: QLabel | None = None
        self.after = QLabel(self)
        self.after.setObjectName("prompt-detail-after")
        self.after.setWordWrap(True)
        self.error = QLabel(self)
        self.error.setObjectName("prompt-error")
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #a50e0e;")
        layout = QVBoxLayout(self)
        layout.addWidget(self.prompt)
        layout.addWidget(self.detail)
        layout.addWidget(self.fields)
        layout.addWidget(self.after)
        self.value_edit: QLineEdit | None = None
        self.option_group: QButtonGroup | None = None
        self.option_list: QListWidget | None = None
        self._keys = request.option_keys()
        if request.kind == "enter_value":
            self.value_edit = QLineEdit(self)
            self.value_edit.setObjectName("prompt-value")
            if request.secret:
                self.value_edit.setEchoMode(QLineEdit.EchoMode.Password)
            if request.default is not None:
                self.value_edit.setText(request.default)
            self.value_edit.textEdited.connect(lambda _t: self.error.hide())
            layout.addWidget(self.value_edit)
        elif request.kind == "choose":
            self._build_choice(layout)
        layout.addWidget(self.error)
        self.buttons = QDialogButtonBox(self)
        if request.kind == "confirm":
            self.yes_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Yes)
            self.no_button = self.buttons.addButton(QDialogButtonBox.StandardButton.No)
            self.yes_button.clicked.connect(lambda: self._finish(True))
            self.no_button.clicked.connect(lambda: self._finish(False))
            self.ok_button = None
        else:
            self.ok_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Ok)
            self.ok_button.setObjectName("prompt-ok")
            self.ok_button.clicked.connect(self._accept_value)
        self.cancel_button = QPushButton(self)
        self.cancel_button.setObjectName("prompt-cancel")
        self.buttons.addButton(self.cancel_button, QDialogButtonBox.ButtonRole.RejectRole)
        self.cancel_button.clicked.connect(self._cancel)
        layout.addWidget(self.buttons)
        self.retranslate()
        self._show_error(request.error)

    def _build_choice(self, layout: QVBoxLayout) -> None:
        options = self.request.options
        if len(options) <= RADIO_LIMIT:
            self.option_group = QButtonGroup(self)
            for index, (key, label) in enumerate(options):
                radio = QRadioButton(text(label), self)
                radio.setObjectName(f"option-{key}")
                self.option_group.addButton(radio, index)
                layout.addWidget(radio)
                if key == self.request.default or (index == 0 and not self.request.default):
                    radio.setChecked(True)
        else:
            self.option_list = QListWidget(self)
            self.option_list.setObjectName("prompt-options")
            for key, label in options:
                item = QListWidgetItem(text(label), self.option_list)
                item.setData(Qt.ItemDataRole.UserRole, key)
            self.option_list.setCurrentRow(max(0, self._index_of(self.request.default)))
            self.option_list.itemDoubleClicked.connect(lambda _i: self._accept_value())
            layout.addWidget(self.option_list)

    def _index_of(self, key: str | None) -> int:
        return self._keys.index(key) if key in self._keys else 0

    def _show_error(self, message: Text | None) -> None:
        self.error.setText(text(message))
        self.error.setVisible(message is not None)

    def selected_key(self) -> str | None:
        if self.option_group is not None:
            index = self.option_group.checkedId()
            return self._keys[index] if index >= 0 else None
        if self.option_list is not None:
            item = self.option_list.currentItem()
            return None if item is None else str(item.data(Qt.ItemDataRole.UserRole))
        return None

    def _accept_value(self) -> None:
        if self.request.kind == "choose":
            key = self.selected_key()
            if key is None:
                self.error.setText(self.tr("Please choose one of the options."))
                self.error.show()
                return
            self._finish(key)
            return
        assert self.value_edit is not None
        value = self.value_edit.text()
        reason = check_value(value, self._validator)
        if reason is not None:
            self._show_error(reason)
            self.value_edit.setFocus()
            self.value_edit.selectAll()
            return
        self._finish(value)

    def _finish(self, answer: object) -> None:
        if self._done:
            return
        self._done = True
        self.answered.emit(answer)
        self.close()

    def _cancel(self) -> None:
        if self._done:
            return
        self._done = True
        self.cancelled.emit()
        self.close()

    def dismiss(self) -> None:
        """Close without answering (the flow was cancelled elsewhere)."""
        self._done = True
        self.close()

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt override)
        """Wide enough for the longest word, tall enough for every wrapped line."""
        width = max(PREFERRED_WIDTH, self.minimumSizeHint().width())
        layout = self.layout()
        height = layout.totalHeightForWidth(width) if layout is not None else -1
        return QSize(width, max(height, super().sizeHint().height()))

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt override)
        if not self._done:  # the window's close button: the same as “cancel flow”
            self._cancel()
        super().closeEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt override)
        if event.key() == Qt.Key.Key_Escape:
            self._cancel()
            return
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.ok_button is not None:
            self._accept_value()
            return
        super().keyPressEvent(event)

    def retranslate(self) -> None:
        self.setWindowTitle(self.tr("Question"))
        self.prompt.setText(text(self.request.prompt))
        self._render_detail(text(self.request.detail))
        self.cancel_button.setText(self.tr("Cancel flow"))

    def _render_detail(self, detail: str) -> None:
        """Paragraphs before the fields, the fields as a framed grid, paragraphs after it."""
        while self._fields_layout.count():
            item = self._fields_layout.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.hide()
                widget.deleteLater()
        self.fingerprint = None
        parts = detail_parts(detail)
        fields = [p for p in parts if p.label is not None]
        first = next((i for i, p in enumerate(parts) if p.label is not None), len(parts))
        before = [p.text for p in parts[:first] if p.label is None]
        after = [p.text for p in parts[first:] if p.label is None]
        if not fields:  # plain text: keep the author's line breaks
            before, after = ([detail] if detail else []), []
        self.detail.setText("\n".join(before))
        self.detail.setVisible(bool(before))
        self.after.setText("\n".join(after))
        self.after.setVisible(bool(after))
        self.fields.setVisible(bool(fields))
        mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        for row, part in enumerate(fields):
            caption = QLabel(f"{part.label}:", self.fields)
            caption.setObjectName("prompt-field-label")
            caption.setStyleSheet("color: #5f6368;")
            value = QLabel(self.fields)
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            if part.fingerprint:
                value.setObjectName("prompt-fingerprint")
                value.setFont(mono)
                value.setText(fingerprint_lines(part.text))
                self.fingerprint = value
            else:
                value.setObjectName("prompt-field-value")
                value.setWordWrap(True)
                # distinguished names come without spaces after commas: give them room to wrap
                value.setText(_DN_COMMA.sub(", ", part.text))
                value.setStyleSheet("font-weight: 600;")
            self._fields_layout.addWidget(caption, row, 0, Qt.AlignmentFlag.AlignTop)
            self._fields_layout.addWidget(value, row, 1)

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt override)
        if event.type() == QEvent.Type.LanguageChange:
            self.retranslate()
        super().changeEvent(event)
