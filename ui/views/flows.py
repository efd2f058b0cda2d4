"""List of flows (Abläufe): pick one, start it by double click or with the start button."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import QEvent, QModelIndex, Qt, Signal
from PySide6.QtWidgets import QLabel, QListView, QPushButton, QVBoxLayout, QWidget

from ui.i18n import text
from ui.models.flows import FlowListModel, flow_description


class FlowListPanel(QWidget):
    """The flows the tool offers, with a short description of the selected one."""

    start_requested = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("flow-panel")
        self.model = FlowListModel(parent=self)
        self.title = QLabel(self)
        self.title.setObjectName("section-title")
        self.list = QListView(self)
        self.list.setObjectName("flow-list")
        self.list.setModel(self.model)
        self.list.setUniformItemSizes(True)
        self.list.setSpacing(2)
        self.list.doubleClicked.connect(self._double_clicked)
        self.list.selectionModel().currentChanged.connect(lambda *_: self._update())
        self.description = QLabel(self)
        self.description.setObjectName("flow-description")
        self.description.setWordWrap(True)
        self.description.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.description.setStyleSheet("color: #3c4043;")
        self.job_label = QLabel(self)
        self.job_label.setObjectName("flow-job")
        self.job_label.setWordWrap(True)
        self.job_label.setStyleSheet("color: #174ea6;")
        self._job: str | None = None
        self.empty = QLabel(self)
        self.empty.setObjectName("flow-empty")
        self.empty.setWordWrap(True)
        self.empty.setStyleSheet("color: #5f6368;")
        self.start_button = QPushButton(self)
        self.start_button.setObjectName("start-flow")
        self.start_button.setDefault(True)
        self.start_button.clicked.connect(self._start_current)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.empty)
        layout.addWidget(self.description)
        layout.addWidget(self.job_label)
        layout.addWidget(self.start_button)
        self._busy = False
        self.retranslate()

    def set_flows(self, flows: Sequence[Any]) -> None:
        self.model.set_flows(flows)
        if flows:
            self.list.setCurrentIndex(self.model.index(0))
        self._update()

    def set_busy(self, busy: bool) -> None:
        """While a flow runs no second one can be started."""
        self._busy = busy
        self._update()

    def set_job(self, job_id: str | None) -> None:
        """Name the job the next flow runs for (Auftrag), or none."""
        self._job = job_id
        self._update_job_label()

    def _update_job_label(self) -> None:
        if self._job is None:
            self.job_label.setText(self.tr("No job selected"))
        else:
            self.job_label.setText(self.tr("For job {job}").format(job=self._job))

    def current_flow(self) -> Any | None:
        index = self.list.currentIndex()
        return self.model.flow_at(index.row()) if index.isValid() else None

    def _double_clicked(self, index: QModelIndex) -> None:
        flow = self.model.flow_at(index.row())
        if flow is not None and not self._busy:
            self.start_requested.emit(flow)

    def _start_current(self) -> None:
        flow = self.current_flow()
        if flow is not None and not self._busy:
            self.start_requested.emit(flow)

    def _update(self) -> None:
        flow = self.current_flow()
        self.start_button.setEnabled(flow is not None and not self._busy)
        self.description.setText(text(flow_description(flow)) if flow is not None else "")
        self.empty.setVisible(not self.model.flows)

    def retranslate(self) -> None:
        self.title.setText(self.tr("Flows"))
        self.start_button.setText(self.tr("Start flow"))
        self.empty.setText(self.tr("No flows are available in this build."))
        self._update_job_label()
        self.model.retranslate()
        self._update()

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt override)
        if event.type() == QEvent.Type.LanguageChange:
            self.retranslate()
        super().changeEvent(event)
