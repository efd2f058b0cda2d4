"""Photos of a job (Fotodokumentation) in the window: picking one and storing it.

The job store checks the file (a picture, recognised by its content; see
:mod:`app.store.photos`) and the caption; :func:`store_photo` runs in a worker thread. The caption
input takes at most :data:`~app.store.photos.MAX_CAPTION` characters, and a caption the store
would refuse is asked again for the same file, with the text typed so far.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QFileDialog, QInputDialog, QLineEdit, QWidget

from app.errors import InvalidValue
from app.store.jobs import Photo, WorkOrderStore
from app.store.photos import MAX_CAPTION, PHOTO_PATTERNS, check_caption
from ui.i18n import text


def store_photo(store: WorkOrderStore, job_id: str, path: Path, caption: str | None) -> Photo:
    """Worker thread: check the photo and its caption, then copy it into the job's folder."""
    return store.add_photo(job_id, path, caption)


def forget_deleted(owner: object, name: str, gone: object) -> None:
    """Clear ``owner.<name>`` once the dialog it named is deleted, unless a newer one took its
    place meanwhile (closing the old box and opening the next happen before the deletion)."""
    if getattr(owner, name, None) is gone:
        setattr(owner, name, None)


class PhotoPicker(QObject):
    """"Foto anhängen…": pick an image file, then type an optional caption; both non-modal.

    :attr:`chosen` carries ``(job_id, path, caption)``; the job is the one the picker was
    opened for, even if another job is selected meanwhile. Cancelling either dialog attaches
    nothing; a caption with control characters reopens the caption input (same file, same text,
    the reason above it) instead of dropping the pick.
    """

    chosen = Signal(str, object, str)

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self._parent = parent
        self.file_dialog: QFileDialog | None = None
        self.caption_dialog: QInputDialog | None = None

    def open(self, job_id: str) -> QFileDialog:
        self.close()
        dialog = QFileDialog(self._parent, self.tr("Attach a photo"), str(Path.home()),
                             self.tr("Photos ({patterns})").format(patterns=PHOTO_PATTERNS))
        dialog.setObjectName("job-photo-dialog")
        dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.fileSelected.connect(lambda path: self.ask_caption(job_id, Path(path)))
        dialog.destroyed.connect(lambda *_, gone=dialog: forget_deleted(self, "file_dialog", gone))
        self.file_dialog = dialog
        dialog.open()
        return dialog

    def ask_caption(self, job_id: str, path: Path, caption: str = "",
                    problem: str | None = None) -> QInputDialog:
        """The caption input for ``path`` (``caption``: text to start with; ``problem``: why the
        previous text was refused, shown above the input)."""
        if self.caption_dialog is not None:
            self.caption_dialog.close()
        dialog = QInputDialog(self._parent)
        dialog.setObjectName("job-photo-caption")
        dialog.setWindowTitle(self.tr("Photo"))
        label = self.tr("Caption for {file} (optional):").format(file=path.name)
        dialog.setLabelText(label if problem is None else f"{problem}\n\n{label}")
        dialog.setInputMode(QInputDialog.InputMode.TextInput)
        edit = dialog.findChild(QLineEdit)
        if edit is not None:  # the store's limit, while typing
            edit.setMaxLength(MAX_CAPTION)
        dialog.setTextValue(caption)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.textValueSelected.connect(
            lambda typed: self._caption_typed(job_id, path, typed))
        dialog.destroyed.connect(
            lambda *_, gone=dialog: forget_deleted(self, "caption_dialog", gone))
        self.caption_dialog = dialog
        dialog.open()
        return dialog

    def _caption_typed(self, job_id: str, path: Path, caption: str) -> None:
        """Check the caption as the store will (cheap, no file access) before handing it on."""
        try:
            check_caption(caption)
        except InvalidValue as exc:
            self.ask_caption(job_id, path, caption, text(exc.message))
            return
        self.chosen.emit(job_id, path, caption)

    def close(self) -> None:
        for dialog in (self.file_dialog, self.caption_dialog):
            if dialog is not None:
                dialog.close()


__all__ = ["PhotoPicker", "forget_deleted", "store_photo"]
