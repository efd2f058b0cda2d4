"""Tab "Fortsetzen": unfinished runs (interrupted, failed, cancelled) that can be resumed.

The list comes from :func:`app.processes.unfinished.unfinished_runs` on the job database's own
worker thread; "Fortsetzen" asks the main window to resume the selected run, which continues at
the step where it stopped (steps that succeeded are shown as done and not repeated). After a
start, :class:`ResumeOffer` offers the newest run the program was stopped in.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.errors import SmgwctError
from app.processes.unfinished import UnfinishedRun, unfinished_runs
from app.store.db import JobStore, RunState
from ui.i18n import language, text
from ui.models.flows import flow_name, flow_title

log = logging.getLogger(__name__)


class UnfinishedRunsPanel(QWidget):
    """The resumable runs of the window's job database, newest first.

    ``flows`` are the flows the window offers (runs of other flows are not listed);
    ``active_run`` returns the id of the run the window drives right now (never offered).
    """

    resume_requested = Signal(object, str)
    """(flow, run id) of the run the technician wants to continue."""
    changed = Signal(list)
    """The runs listed after a refresh (:class:`~app.processes.unfinished.UnfinishedRun`)."""

    def __init__(self, store: JobStore, flows: Sequence[Any],
                 active_run: Callable[[], str | None] = lambda: None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("unfinished-runs")
        self.store = store
        self.flows = {flow_name(f): f for f in flows}
        self.active_run = active_run
        self.runs: list[UnfinishedRun] = []
        self.error: SmgwctError | None = None
        self._busy = False
        self._refreshing: asyncio.Task[None] | None = None

        self.title = QLabel(self)
        self.title.setObjectName("section-title")
        self.explanation = QLabel(self)
        self.explanation.setObjectName("unfinished-explanation")
        self.explanation.setWordWrap(True)
        self.explanation.setStyleSheet("color: #5f6368;")
        self.list = QTreeWidget(self)
        self.list.setObjectName("unfinished-list")
        self.list.setRootIsDecorated(False)
        self.list.setColumnCount(5)
        self.list.setUniformRowHeights(True)
        self.list.header().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.list.header().setStretchLastSection(True)
        self.list.currentItemChanged.connect(lambda *_: self._update_buttons())
        self.list.itemDoubleClicked.connect(lambda *_: self.resume_current())
        self.empty = QLabel(self)
        self.empty.setObjectName("unfinished-empty")
        self.empty.setWordWrap(True)
        self.empty.setStyleSheet("color: #5f6368;")
        self.refresh_button = QPushButton(self)
        self.refresh_button.setObjectName("unfinished-refresh")
        self.refresh_button.clicked.connect(lambda: self.refresh_later())
        self.resume_button = QPushButton(self)
        self.resume_button.setObjectName("unfinished-resume")
        self.resume_button.clicked.connect(lambda: self.resume_current())
        buttons = QHBoxLayout()
        buttons.addWidget(self.refresh_button)
        buttons.addStretch(1)
        buttons.addWidget(self.resume_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.title)
        layout.addWidget(self.explanation)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.empty)
        layout.addLayout(buttons)
        self.retranslate()

    # --- data ----------------------------------------------------------------------------------

    def refresh_later(self) -> asyncio.Task[None]:
        """Read the list again in the background (a refresh already under way is reused)."""
        if self._refreshing is None or self._refreshing.done():
            self._refreshing = asyncio.get_event_loop().create_task(self.refresh())
        return self._refreshing

    async def refresh(self) -> list[UnfinishedRun]:
        """Read the resumable runs from the job database (on its worker thread)."""
        active = self.active_run()
        try:
            runs = await self.store.db.call(
                unfinished_runs, self.store, list(self.flows), active=[active] if active else [])
        except SmgwctError as exc:  # the database cannot be read: say so in the panel
            self.error = exc
            self.runs = []
        else:
            self.error = None
            self.runs = runs
        self._fill()
        self.changed.emit(list(self.runs))
        return self.runs

    def interrupted(self) -> list[UnfinishedRun]:
        """The listed runs the program was stopped in (crash, power cut, killed)."""
        return [run for run in self.runs if run.interrupted]

    # --- actions -------------------------------------------------------------------------------

    def set_busy(self, busy: bool) -> None:
        """While a flow runs nothing can be resumed."""
        self._busy = busy
        self._update_buttons()

    def current_run(self) -> UnfinishedRun | None:
        item = self.list.currentItem()
        if item is None:
            return None
        run_id = item.data(0, Qt.ItemDataRole.UserRole)
        return next((run for run in self.runs if run.run_id == run_id), None)

    def resume_current(self) -> bool:
        run = self.current_run()
        if run is None or self._busy:
            return False
        return self.request_resume(run)

    def request_resume(self, run: UnfinishedRun) -> bool:
        flow = self.flows.get(run.flow)
        if flow is None:
            return False
        self.resume_requested.emit(flow, run.run_id)
        return True

    # --- rendering -----------------------------------------------------------------------------

    def state_text(self, run: UnfinishedRun) -> str:
        return {
            RunState.RUNNING: self.tr("interrupted"),
            RunState.FAILED: self.tr("failed"),
            RunState.CANCELLED: self.tr("cancelled"),
        }.get(run.state, str(run.state))

    def step_text(self, run: UnfinishedRun) -> str:
        flow = self.flows.get(run.flow)
        if run.last_step is None or flow is None:
            return ""
        has = getattr(flow, "has", None)
        if callable(has) and has(run.last_step):
            return text(flow.step(run.last_step).title)
        return run.last_step

    def flow_text(self, run: UnfinishedRun) -> str:
        flow = self.flows.get(run.flow)
        return text(flow_title(flow)) if flow is not None else run.flow

    def _fill(self) -> None:
        selected = self.current_run()
        self.list.clear()
        for run in self.runs:
            item = QTreeWidgetItem([
                self.flow_text(run), run.job_id or "–", self.state_text(run),
                self.step_text(run), run.updated.astimezone().strftime("%Y-%m-%d %H:%M"),
            ])
            item.setData(0, Qt.ItemDataRole.UserRole, run.run_id)
            item.setToolTip(0, self.tr("Run {run}").format(run=run.run_id))
            self.list.addTopLevelItem(item)
            if selected is not None and selected.run_id == run.run_id:
                self.list.setCurrentItem(item)
        if self.list.currentItem() is None and self.runs:
            self.list.setCurrentItem(self.list.topLevelItem(0))
        if self.error is not None:
            self.empty.setText(self.error.describe(language()))
        else:
            self.empty.setText(self.tr("No unfinished flows. Every run so far has ended "
                                       "successfully."))
        self.empty.setVisible(not self.runs)
        self._update_buttons()

    def _update_buttons(self) -> None:
        self.resume_button.setEnabled(self.current_run() is not None and not self._busy)

    def retranslate(self) -> None:
        self.title.setText(self.tr("Unfinished flows"))
        self.explanation.setText(self.tr(
            "Flows that were interrupted (the program or the laptop stopped), failed or were "
            "cancelled. Resuming continues at the step where the flow stopped; steps that "
            "succeeded are not repeated, and nothing the GWA did already is requested twice."))
        self.list.setHeaderLabels([self.tr("Flow"), self.tr("Job"), self.tr("State"),
                                   self.tr("Stopped at"), self.tr("Time")])
        self.refresh_button.setText(self.tr("Refresh"))
        self.resume_button.setText(self.tr("Resume"))
        self._fill()

    async def shutdown(self) -> None:
        """Let a refresh under way finish (the job database closes after this)."""
        task = self._refreshing
        if task is not None and not task.done():
            await asyncio.wait({task}, timeout=5)

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt override)
        if event.type() == QEvent.Type.LanguageChange:
            self.retranslate()
        super().changeEvent(event)


class ResumeOffer(QObject):
    """The non-modal question after a start: resume the run the program was stopped in?

    "Fortsetzen" resumes it through ``panel`` (:attr:`UnfinishedRunsPanel.resume_requested`),
    "Später" calls ``show_list`` (the tab "Nicht abgeschlossene Abläufe" lists every run).
    """

    def __init__(self, window: QWidget, panel: UnfinishedRunsPanel,
                 show_list: Callable[[], None]) -> None:
        super().__init__(window)
        self.window = window
        self.panel = panel
        self.show_list = show_list
        self.box: QMessageBox | None = None

    async def offer_interrupted_runs(self, allowed: Callable[[], bool]) -> list[UnfinishedRun]:
        """Read the list; when the program was stopped during a run, say so and offer to resume
        the newest such run if ``allowed()`` (the window is not closing, no flow runs)."""
        runs = await self.panel.refresh()
        interrupted = [r for r in runs if r.interrupted]
        if interrupted and allowed():
            self.offer(interrupted[0], len(interrupted))
        return interrupted

    def offer(self, run: UnfinishedRun, count: int) -> QMessageBox:
        """Ask about ``run``, one of ``count`` interrupted runs (replaces an open question)."""
        panel = self.panel
        body = self.tr(
            "The flow “{flow}” was interrupted at the step “{step}” (job {job}, {time}): the "
            "program or the laptop stopped while it ran.\n\nResume it now? Steps that "
            "succeeded are not repeated.").format(
                flow=panel.flow_text(run), step=panel.step_text(run) or "–",
                job=run.job_id or "–",
                time=run.updated.astimezone().strftime("%Y-%m-%d %H:%M"))
        if count > 1:
            body += "\n\n" + self.tr(
                "{count} interrupted flows in all: see View > Unfinished flows.").format(
                    count=count)
        self.close()
        box = QMessageBox(QMessageBox.Icon.Question, self.tr("Interrupted flow"), body,
                          QMessageBox.StandardButton.NoButton, self.window)
        box.setObjectName("resume-offer")
        resume = box.addButton(self.tr("Resume"), QMessageBox.ButtonRole.AcceptRole)
        later = box.addButton(self.tr("Later"), QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(resume)
        box.setEscapeButton(later)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

        def answered(button: Any) -> None:
            if button is resume:
                panel.request_resume(run)
            else:
                self.show_list()

        box.buttonClicked.connect(answered)
        box.destroyed.connect(lambda *_, gone=box: self._forget(gone))
        self.box = box
        box.open()
        return box

    def _forget(self, gone: QMessageBox) -> None:
        if self.box is gone:
            self.box = None

    def close(self) -> None:
        """Close the open question, if any."""
        box, self.box = self.box, None
        if box is not None:
            with contextlib.suppress(RuntimeError):
                box.close()


__all__ = ["ResumeOffer", "UnfinishedRunsPanel"]
