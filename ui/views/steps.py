"""Live step view (Ablaufanzeige): status, progress and message of every step of a flow run."""

from __future__ import annotations

from PySide6.QtCore import (
    QEvent,
    QModelIndex,
    QPersistentModelIndex,
    QRect,
    QSize,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionProgressBar,
    QStyleOptionViewItem,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.errors import Text
from app.processes.events import (
    Event,
    FlowFinished,
    FlowStarted,
    NeedsInput,
    StepFailed,
    StepStarted,
)
from ui.i18n import text
from ui.models.steps import ProgressRole, StepModel
from ui.widgets.status import STEP_COLOURS, StepStatus

BAR_HEIGHT = 18


class ProgressDelegate(QStyledItemDelegate):
    """Draws a progress bar in the progress column (busy bar when the amount is unknown)."""

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        fraction = index.data(ProgressRole)
        if fraction is None:
            super().paint(painter, option, index)
            return
        bar = QStyleOptionProgressBar()
        cell = option.rect
        height = min(BAR_HEIGHT, cell.height() - 6)
        bar.rect = QRect(cell.x() + 4, cell.center().y() - height // 2, cell.width() - 8, height)
        bar.state = option.state | QStyle.StateFlag.State_Horizontal
        bar.minimum = 0
        bar.textAlignment = Qt.AlignmentFlag.AlignCenter
        if fraction < 0:  # busy, amount unknown
            bar.maximum = 0
            bar.progress = 0
            bar.text = ""
            bar.textVisible = False
        else:
            bar.maximum = 100
            bar.progress = round(fraction * 100)
            bar.text = f"{bar.progress} %"
            bar.textVisible = True
        style = option.widget.style() if option.widget else QApplication.style()
        style.drawControl(QStyle.ControlElement.CE_ProgressBar, bar, painter, option.widget)

    def sizeHint(  # noqa: N802 (Qt override)
        self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> QSize:
        hint = super().sizeHint(option, index)
        return QSize(max(hint.width(), 140), max(hint.height(), 26))


class RoomyDelegate(QStyledItemDelegate):
    """Default painting with a little air above and below (wrapped messages stay readable)."""

    PADDING = 8

    def sizeHint(  # noqa: N802 (Qt override)
        self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> QSize:
        hint = super().sizeHint(option, index)
        return QSize(hint.width(), hint.height() + self.PADDING)


class StepView(QWidget):
    """The running (or last) flow: a header with the outcome, the step table, failure details."""

    cancel_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("step-view")
        self.model = StepModel(self)
        self._flow_title: Text | str | None = None
        self._outcome: str | None = None
        self.heading = QLabel(self)
        self.heading.setObjectName("step-heading")
        self.heading.setStyleSheet("font-size: 13pt; font-weight: 600;")
        self.outcome = QLabel(self)
        self.outcome.setObjectName("step-outcome")
        self.cancel_button = QPushButton(self)
        self.cancel_button.setObjectName("cancel-flow")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel_requested.emit)
        head = QHBoxLayout()
        head.addWidget(self.heading, 1)
        head.addWidget(self.outcome)
        head.addWidget(self.cancel_button)

        self.table = QTableView(self)
        self.table.setObjectName("step-table")
        self.table.setModel(self.model)
        self.table.setItemDelegate(RoomyDelegate(self.table))
        self.table.setItemDelegateForColumn(StepModel.PROGRESS, ProgressDelegate(self.table))
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.setShowGrid(False)
        # Long messages wrap onto more lines instead of being cut off.
        self.table.setWordWrap(True)
        self.table.setTextElideMode(Qt.TextElideMode.ElideNone)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setMinimumSectionSize(28)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header = self.table.horizontalHeader()
        header.setHighlightSections(False)
        header.setSectionResizeMode(StepModel.STATUS, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(StepModel.TITLE, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(StepModel.PROGRESS, QHeaderView.ResizeMode.Fixed)
        header.setSectionResizeMode(StepModel.MESSAGE, QHeaderView.ResizeMode.Stretch)
        header.resizeSection(StepModel.PROGRESS, 150)
        # Row heights follow the wrapped messages: recompute them whenever a column width changes
        # (Qt sizes rows with the widths it had when the row arrived).
        header.sectionResized.connect(lambda *_: self.table.resizeRowsToContents())
        self.table.selectionModel().currentRowChanged.connect(lambda *_: self._show_details())

        self.details = QFrame(self)
        self.details.setObjectName("step-details")
        self.details.setFrameShape(QFrame.Shape.StyledPanel)
        self.details.setStyleSheet(
            "QFrame#step-details { background: #fce8e6; border: 1px solid #f5c2bd;"
            " border-radius: 4px; }"
        )
        self.error_text = QLabel(self.details)
        self.error_text.setObjectName("step-error")
        self.error_text.setWordWrap(True)
        self.error_text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_text.setStyleSheet("color: #a50e0e; font-weight: 600;")
        self.hint_text = QLabel(self.details)
        self.hint_text.setObjectName("step-hint")
        self.hint_text.setWordWrap(True)
        self.hint_text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        box = QVBoxLayout(self.details)
        box.addWidget(self.error_text)
        box.addWidget(self.hint_text)
        self.details.hide()

        self.placeholder = QLabel(self)
        self.placeholder.setObjectName("step-placeholder")
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setWordWrap(True)
        self.placeholder.setStyleSheet("color: #5f6368;")

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(head)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.placeholder)
        layout.addWidget(self.details)
        self.retranslate()

    # --- feeding -------------------------------------------------------------------------------

    def begin(self, title: Text | str, steps: list[tuple[str, Text | str]]) -> None:
        """A new run of a flow with the given steps (all pending)."""
        self._flow_title = title
        self._outcome = None
        self.model.reset(steps)
        self.details.hide()
        self.cancel_button.setEnabled(True)
        self._render_heading()

    def apply(self, event: Event) -> None:
        """Show one engine event."""
        if isinstance(event, FlowStarted):
            title = event.title or self._flow_title or event.flow
            if self._flow_title is None or self._outcome is not None:
                self.begin(title, [])
            self._flow_title = title
            self._render_heading()
            return
        self.model.apply(event)
        if isinstance(event, StepFailed):
            self._select(event.step)
        elif isinstance(event, StepStarted | NeedsInput):
            self._follow(event.step)
        elif isinstance(event, FlowFinished):
            self._outcome = event.outcome
            self.cancel_button.setEnabled(False)
            self._render_heading()
        self.placeholder.setVisible(not self.model.rows)
        self._show_details()

    def finish(self, outcome: str) -> None:
        """The run ended without a ``FlowFinished`` event (e.g. the engine gave up)."""
        if self._outcome is None:
            self.model.apply(FlowFinished(run_id="", flow="", outcome=outcome))  # type: ignore[arg-type]
            self._outcome = outcome
            self.cancel_button.setEnabled(False)
            self._render_heading()

    @property
    def flow_outcome(self) -> str | None:
        return self._outcome

    def _select(self, key: str) -> None:
        for i, row in enumerate(self.model.rows):
            if row.key == key:
                self.table.selectRow(i)
                return

    def _follow(self, key: str) -> None:
        """Keep the step that runs (or asks) in sight: long flows have more rows than fit."""
        row = next((i for i, r in enumerate(self.model.rows) if r.key == key), None)
        if row is None:
            return

        def scroll() -> None:  # once the rows have their new heights
            if row < self.model.rowCount():
                self.table.scrollTo(self.model.index(row, StepModel.TITLE),
                                    QAbstractItemView.ScrollHint.EnsureVisible)

        QTimer.singleShot(0, self, scroll)

    def _failed_row(self):  # noqa: ANN202
        current = self.table.currentIndex()
        if current.isValid():
            row = self.model.rows[current.row()]
            if row.status is StepStatus.FAILED:
                return row
        for row in self.model.rows:
            if row.status is StepStatus.FAILED:
                return row
        return None

    def _show_details(self) -> None:
        row = self._failed_row()
        if row is None:
            self.details.hide()
            return
        self.error_text.setText(
            self.tr("Step “{step}” failed: {error}").format(
                step=text(row.title), error=text(row.error)
            )
        )
        self.hint_text.setText(text(row.hint))
        self.hint_text.setVisible(row.hint is not None)
        self.details.show()

    def _render_heading(self) -> None:
        if self._flow_title is None:
            self.heading.setText(self.tr("No flow started yet"))
            self.outcome.setText("")
            return
        self.heading.setText(text(self._flow_title))
        labels = {
            None: (self.tr("running…"), STEP_COLOURS[StepStatus.RUNNING]),
            "succeeded": (self.tr("Succeeded"), STEP_COLOURS[StepStatus.SUCCEEDED]),
            "failed": (self.tr("Failed"), STEP_COLOURS[StepStatus.FAILED]),
            "cancelled": (self.tr("Cancelled"), STEP_COLOURS[StepStatus.CANCELLED]),
        }
        label, colour = labels.get(self._outcome, (str(self._outcome), "#3c4043"))
        self.outcome.setText(label)
        self.outcome.setStyleSheet(f"color: {colour}; font-weight: 600;")

    def retranslate(self) -> None:
        self.cancel_button.setText(self.tr("Cancel"))
        self.cancel_button.setToolTip(self.tr("Cancel the running flow"))
        self.placeholder.setText(
            self.tr("Choose a flow on the left and start it. Its steps are shown here.")
        )
        self.placeholder.setVisible(not self.model.rows)
        self.model.retranslate()
        self._render_heading()
        self._show_details()

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt override)
        if event.type() == QEvent.Type.LanguageChange:
            self.retranslate()
        super().changeEvent(event)
