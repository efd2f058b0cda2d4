"""Path fields with a "Durchsuchen…" button (Dateiauswahl) for the set-up dialogs.

Each button opens a non-modal file chooser (``open()``, never ``exec()``) that fills its field;
the dialog closes the choosers still open when it closes (:meth:`FileRows.close_all`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLineEdit, QPushButton, QWidget


class FileRows:
    """The file rows of one dialog and the choosers they opened.

    ``pattern(edit)`` gives the name filter for the field ``edit`` and ``title()`` the chooser's
    caption, both in the dialog's words (its own translations).
    """

    def __init__(self, dialog: QWidget, pattern: Callable[[QLineEdit], str],
                 title: Callable[[], str]) -> None:
        self.dialog = dialog
        self._pattern = pattern
        self._title = title
        self.buttons: list[QPushButton] = []
        self.pickers: list[QFileDialog] = []

    def row(self, name: str) -> tuple[QLineEdit, QPushButton, QHBoxLayout]:
        """A path field named ``name`` and its button ``<name>-browse``, side by side."""
        edit = QLineEdit(self.dialog)
        edit.setObjectName(name)
        browse = QPushButton(self.dialog)
        browse.setObjectName(f"{name}-browse")
        browse.clicked.connect(lambda: self.choose(edit))
        self.buttons.append(browse)
        row = QHBoxLayout()
        row.addWidget(edit, 1)
        row.addWidget(browse)
        return edit, browse, row

    def choose(self, edit: QLineEdit) -> QFileDialog:
        """A non-modal file chooser that fills ``edit``, starting in the folder it names."""
        start = str(Path(edit.text()).parent) if edit.text() else ""
        picker = QFileDialog(self.dialog, self._title(), start, self._pattern(edit))
        picker.setFileMode(QFileDialog.FileMode.ExistingFile)
        picker.fileSelected.connect(edit.setText)
        picker.finished.connect(lambda _r: self._forget(picker))
        self.pickers.append(picker)
        picker.open()
        return picker

    def retranslate(self, text: str) -> None:
        """Caption every browse button with ``text`` ("Durchsuchen…")."""
        for button in self.buttons:
            button.setText(text)

    def close_all(self) -> None:
        for picker in list(self.pickers):
            picker.close()

    def _forget(self, picker: QFileDialog) -> None:
        if picker in self.pickers:
            self.pickers.remove(picker)
        picker.deleteLater()


__all__ = ["FileRows"]
