"""Qt model of the steps of one flow run (Schrittübersicht), fed by engine events."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from PySide6.QtCore import (
    QAbstractTableModel,
    QCoreApplication,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
)
from PySide6.QtGui import QBrush, QColor

from app.errors import Text
from app.processes.events import (
    Event,
    FlowFinished,
    NeedsInput,
    StepFailed,
    StepProgress,
    StepSkipped,
    StepStarted,
    StepSucceeded,
)
from ui.i18n import text
from ui.widgets.status import STEP_COLOURS, StepStatus, status_icon

ProgressRole = Qt.ItemDataRole.UserRole + 1
"""``float`` 0..1, ``-1.0`` for “busy, amount unknown”, ``None`` for no bar."""
StatusRole = Qt.ItemDataRole.UserRole + 2


@dataclass
class StepRow:
    """What the step view shows for one step."""

    key: str
    title: Text | str
    status: StepStatus = StepStatus.PENDING
    fraction: float | None = None
    message: Text | None = None
    error: Text | None = None
    hint: Text | None = None


def status_label(status: StepStatus) -> str:
    """The status word in the active language."""
    translate = QCoreApplication.translate
    return {
        StepStatus.PENDING: translate("StepModel", "Pending"),
        StepStatus.RUNNING: translate("StepModel", "Running"),
        StepStatus.WAITING: translate("StepModel", "Waiting for input"),
        StepStatus.SUCCEEDED: translate("StepModel", "Succeeded"),
        StepStatus.FAILED: translate("StepModel", "Failed"),
        StepStatus.SKIPPED: translate("StepModel", "Done earlier"),
        StepStatus.CANCELLED: translate("StepModel", "Cancelled"),
    }[status]


class StepModel(QAbstractTableModel):
    """Rows are steps; columns status, step, progress, message."""

    STATUS, TITLE, PROGRESS, MESSAGE = range(4)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.rows: list[StepRow] = []
        self._index: dict[str, int] = {}

    # --- feeding -------------------------------------------------------------------------------

    def reset(self, steps: Iterable[tuple[str, Text | str]] = ()) -> None:
        """Start over with ``steps`` (key, title) all pending."""
        self.beginResetModel()
        self.rows = [StepRow(key, title) for key, title in steps]
        self._index = {row.key: i for i, row in enumerate(self.rows)}
        self.endResetModel()

    def row_of(self, key: str) -> StepRow | None:
        i = self._index.get(key)
        return None if i is None else self.rows[i]

    def _ensure(self, key: str, title: Text | str | None = None) -> int:
        i = self._index.get(key)
        if i is None:
            i = len(self.rows)
            self.beginInsertRows(QModelIndex(), i, i)
            self.rows.append(StepRow(key, title if title is not None else key))
            self._index[key] = i
            self.endInsertRows()
        elif title is not None:
            self.rows[i].title = title
        return i

    def _changed(self, i: int) -> None:
        self.dataChanged.emit(self.index(i, 0), self.index(i, self.columnCount() - 1))

    def apply(self, event: Event) -> None:
        """Update the rows from one engine event (others are ignored)."""
        match event:
            case StepStarted(step=step, title=title):
                i = self._ensure(step, title)
                row = self.rows[i]
                row.status, row.fraction, row.message = StepStatus.RUNNING, -1.0, None
                row.error = row.hint = None
            case StepProgress(step=step, fraction=fraction, message=message):
                i = self._ensure(step)
                row = self.rows[i]
                row.status = StepStatus.RUNNING
                row.fraction = -1.0 if fraction is None else max(0.0, min(1.0, fraction))
                row.message = message
            case NeedsInput(step=step, request=request):
                i = self._ensure(step)
                self.rows[i].status = StepStatus.WAITING
                self.rows[i].message = request.prompt
            case StepSucceeded(step=step, summary=summary):
                i = self._ensure(step)
                row = self.rows[i]
                row.status, row.fraction = StepStatus.SUCCEEDED, 1.0
                row.message = summary
            case StepSkipped(step=step, summary=summary):
                i = self._ensure(step)
                row = self.rows[i]
                row.status, row.fraction, row.message = StepStatus.SKIPPED, 1.0, summary
            case StepFailed(step=step, error=error, hint=hint):
                i = self._ensure(step)
                row = self.rows[i]
                row.status, row.fraction = StepStatus.FAILED, None
                row.message, row.error, row.hint = error, error, hint
            case FlowFinished(outcome=outcome):
                self._finish(outcome)
                return
            case _:
                return
        self._changed(i)

    def _finish(self, outcome: str) -> None:
        """Steps still open when the flow ends: running ones are cancelled (or failed)."""
        for i, row in enumerate(self.rows):
            if row.status in (StepStatus.RUNNING, StepStatus.WAITING):
                row.status = (
                    StepStatus.CANCELLED if outcome != "succeeded" else StepStatus.SUCCEEDED
                )
                row.fraction = None
                self._changed(i)

    def retranslate(self) -> None:
        """The language changed: every text is shown again."""
        if self.rows:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self.rows) - 1, 3))
        self.headerDataChanged.emit(Qt.Orientation.Horizontal, 0, 3)

    # --- Qt model interface --------------------------------------------------------------------

    def rowCount(  # noqa: N802 (Qt override)
        self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()  # noqa: B008
    ) -> int:
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(  # noqa: N802 (Qt override)
        self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()  # noqa: B008
    ) -> int:
        return 0 if parent.isValid() else 4

    def headerData(  # noqa: N802 (Qt override)
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> object:
        if orientation != Qt.Orientation.Horizontal or role != Qt.ItemDataRole.DisplayRole:
            return None
        translate = QCoreApplication.translate
        return (
            translate("StepModel", "Status"),
            translate("StepModel", "Step"),
            translate("StepModel", "Progress"),
            translate("StepModel", "Message"),
        )[section]

    def data(
        self,
        index: QModelIndex | QPersistentModelIndex,
        role: int = Qt.ItemDataRole.DisplayRole,
    ) -> object:
        if not index.isValid() or index.row() >= len(self.rows):
            return None
        row = self.rows[index.row()]
        column = index.column()
        if role == StatusRole:
            return row.status.value
        if role == ProgressRole and column == self.PROGRESS:
            return row.fraction
        if column == self.STATUS:
            if role == Qt.ItemDataRole.DisplayRole:
                return status_label(row.status)
            if role == Qt.ItemDataRole.DecorationRole:
                return status_icon(row.status)
            if role == Qt.ItemDataRole.ForegroundRole:
                return QBrush(QColor(STEP_COLOURS[row.status]))
        elif column == self.TITLE and role == Qt.ItemDataRole.DisplayRole:
            return text(row.title)
        elif column == self.MESSAGE:
            if role == Qt.ItemDataRole.DisplayRole:
                return text(row.message)
            if role == Qt.ItemDataRole.ToolTipRole:
                return "\n".join(t for t in (text(row.error or row.message), text(row.hint)) if t)
            if role == Qt.ItemDataRole.ForegroundRole and row.status is StepStatus.FAILED:
                return QBrush(QColor(STEP_COLOURS[StepStatus.FAILED]))
        return None
