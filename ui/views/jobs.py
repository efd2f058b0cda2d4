"""Job list (Auftragsliste) of the main window: import work orders or type one in on site, pick
the current job, add notes, seal numbers and photos, and build the signed commissioning report
(Inbetriebnahmeprotokoll).

The panel keeps one :class:`~app.store.jobs.WorkOrderStore` over the data folder and lends it to
the job flows (``AppContext.extras[JOB_STORE_EXTRA]``), so that a run started for the current job
is attached to it in the same store. Every store call and every file read runs in a worker
thread (``asyncio.to_thread``); dialogs are opened with ``open()`` and answer through signals.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QMessageBox,
    QPushButton,
    QSplitter,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.context import AppContext
from app.errors import SmgwctError, Text
from app.processes.flows.job_common import JOB_STORE_EXTRA
from app.report import ReportPaths, ReportVerification, build_report, verify_report
from app.report.signer import ReportSigner, demo_report_signer
from app.store.audit import AuditLog
from app.store.db import JobStore
from app.store.jobs import (
    DB_FILE,
    FILES_DIR,
    Job,
    JobFileError,
    JobSummary,
    Seal,
    WorkOrder,
    WorkOrderStore,
)
from app.store.work_order import PlannedFlow
from app.workbench import store_folder
from ui.i18n import language, text
from ui.views.job_form import JobFormDialog
from ui.views.job_photos import PhotoPicker, forget_deleted, store_photo
from ui.views.tasks import TaskGroup

log = logging.getLogger(__name__)

JOB_FILE_PATTERNS = "*.json *.xml"


@dataclass(frozen=True)
class ReportOutcome:
    """A built report and what :func:`app.report.verify_report` says about it."""

    paths: ReportPaths
    verification: ReportVerification


#: (data folder, SMGW ID) -> the report's signer; blocking, called in a worker thread.
SignerFactory = Callable[[Path, str], ReportSigner]


def _add_typed(store: WorkOrderStore, order: WorkOrder) -> Job:
    return store.add(order, source="typed")


def flow_text(name: str) -> str:
    """A run's flow in words ("Zähler wechseln"), its name when this version does not know it."""
    try:
        return text(PlannedFlow(name).title)
    except ValueError:
        return name


def job_data(job: Job | None) -> dict[str, Any]:
    """The job data a flow run gets for ``job`` (as ``smgwct flow run --job FILE``)."""
    return {"job": job.order.to_dict()} if job is not None else {}


class JobsPanel(QWidget):
    """Tab "Aufträge": the job list, the current job's details and its actions.

    ``audit`` and ``runs`` are the engine's audit log and run database (not closed here); the
    report reads the job's runs and audit trail from them. ``demo`` signs reports with the demo
    technician key; outside demo mode no signing key is configured, so the button is disabled.
    """

    current_changed = Signal(object)
    """The current job (:class:`~app.store.jobs.Job`) or ``None``."""
    report_built = Signal(object)
    """A :class:`ReportOutcome` after "Protokoll erstellen"."""

    def __init__(self, context: AppContext, parent: QWidget | None = None, *,
                 audit: AuditLog | None = None, runs: JobStore | None = None,
                 demo: bool = False, signer: SignerFactory | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("jobs-panel")
        self.context = context
        self.audit = audit
        self.runs = runs
        self.demo = demo
        self.signer_factory: SignerFactory | None = (
            signer if signer is not None else demo_report_signer if demo else None)
        self.store: WorkOrderStore | None = None
        self.jobs: list[JobSummary] = []
        self.current_job: Job | None = None
        self.last_report: ReportOutcome | None = None
        self.last_error: SmgwctError | None = None
        self.error_box: QMessageBox | None = None
        self.file_dialog: QFileDialog | None = None
        self.input_dialog: QInputDialog | None = None
        self.job_form: JobFormDialog | None = None
        self.tasks = TaskGroup("the job list")
        self._report_running = False
        self._selection = 0  # counts selections, so that a stale read never replaces a newer one
        self._build()
        self.retranslate()

    # --- construction --------------------------------------------------------------------------

    def _build(self) -> None:
        self.title = QLabel(self)
        self.title.setObjectName("section-title")
        self.import_button = QPushButton(self)
        self.import_button.setObjectName("import-job")
        self.import_button.clicked.connect(lambda: self.open_import_dialog())
        self.new_button = QPushButton(self)
        self.new_button.setObjectName("new-job")
        self.new_button.clicked.connect(lambda: self.open_new_job_form())
        top = QHBoxLayout()
        top.addWidget(self.title, 1)
        top.addWidget(self.new_button)
        top.addWidget(self.import_button)

        self.list = QTreeWidget(self)
        self.list.setObjectName("job-list")
        self.list.setRootIsDecorated(False)
        self.list.setColumnCount(4)
        self.list.setUniformRowHeights(True)
        self.list.header().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.list.header().setStretchLastSection(True)
        self.list.currentItemChanged.connect(self._selection_changed)
        self.empty = QLabel(self)
        self.empty.setObjectName("jobs-empty")
        self.empty.setWordWrap(True)
        self.empty.setStyleSheet("color: #5f6368;")

        self.heading = QLabel(self)
        self.heading.setObjectName("job-heading")
        self.heading.setWordWrap(True)
        self.heading.setStyleSheet("font-weight: 600;")
        self.detail = QTreeWidget(self)
        self.detail.setObjectName("job-detail")
        self.detail.setColumnCount(2)
        self.detail.header().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.detail.header().setStretchLastSection(True)
        self.note_button = QPushButton(self)
        self.note_button.setObjectName("job-note")
        self.note_button.clicked.connect(lambda: self.open_note_dialog())
        self.seal_button = QPushButton(self)
        self.seal_button.setObjectName("job-seal")
        self.seal_button.clicked.connect(lambda: self.open_seal_dialog())
        self.photo_button = QPushButton(self)
        self.photo_button.setObjectName("job-photo")
        self.photo_button.clicked.connect(lambda: self.open_photo_dialog())
        self.photo_picker = PhotoPicker(self)
        self.photo_picker.chosen.connect(
            lambda job_id, path, caption: self._spawn(self.add_photo(path, caption, job_id)))
        self.report_button = QPushButton(self)
        self.report_button.setObjectName("job-report")
        self.report_button.clicked.connect(lambda: self.build_report_later())
        buttons = QHBoxLayout()
        buttons.addWidget(self.note_button)
        buttons.addWidget(self.seal_button)
        buttons.addWidget(self.photo_button)
        buttons.addStretch(1)
        buttons.addWidget(self.report_button)
        self.report_label = QLabel(self)
        self.report_label.setObjectName("job-report-result")
        self.report_label.setWordWrap(True)
        self.report_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        upper = QWidget(self)
        upper_layout = QVBoxLayout(upper)
        upper_layout.setContentsMargins(0, 0, 0, 0)
        upper_layout.addLayout(top)
        upper_layout.addWidget(self.list, 1)
        upper_layout.addWidget(self.empty)
        lower = QWidget(self)
        lower_layout = QVBoxLayout(lower)
        lower_layout.setContentsMargins(0, 0, 0, 0)
        lower_layout.addWidget(self.heading)
        lower_layout.addWidget(self.detail, 1)
        lower_layout.addLayout(buttons)
        lower_layout.addWidget(self.report_label)
        self.splitter = QSplitter(Qt.Orientation.Vertical, self)
        self.splitter.addWidget(upper)
        self.splitter.addWidget(lower)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.setSizes([150, 420])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.splitter)

    # --- tasks ---------------------------------------------------------------------------------

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        return self.tasks.spawn(coro)

    _store_lock: asyncio.Lock | None = None

    async def _open_store(self) -> WorkOrderStore:
        if self.store is None:
            folder = store_folder(self.context)
            self.store = await asyncio.to_thread(
                WorkOrderStore, folder / DB_FILE, folder / FILES_DIR, self.audit)
            self.context.extras[JOB_STORE_EXTRA] = self.store
        return self.store

    async def _call(self, function: Any, *args: Any,
                    on_error: Callable[[SmgwctError], None] | None = None) -> Any:
        """``function(store, *args)`` in a worker thread; errors are shown (by ``on_error`` if
        given), then ``None``.

        Calls are serialised: the store is opened once, and its SQLite connection is never used
        by two worker threads at the same time (a start-up refresh racing an import did that).
        """
        if self._store_lock is None:
            self._store_lock = asyncio.Lock()
        try:
            async with self._store_lock:
                store = await self._open_store()
                return await asyncio.to_thread(function, store, *args)
        except SmgwctError as exc:
            (on_error or self.show_error)(exc)
            return None

    # --- the job list --------------------------------------------------------------------------

    def refresh_later(self) -> asyncio.Task[None]:
        return self._spawn(self.refresh())

    async def refresh(self) -> None:
        """Read the job list again (and the current job, which a run may have changed)."""
        jobs = await self._call(WorkOrderStore.list)
        if jobs is None:
            return
        self.jobs = list(jobs)
        current = self.current_job.job_id if self.current_job is not None else None
        self._fill_list(current)
        if current is not None:
            generation = self._selection
            job = await self._call(WorkOrderStore.get, current)
            # a selection made meanwhile wins over this (older) read of the job
            still = self.current_job is not None and self.current_job.job_id == current
            if job is not None and still and generation == self._selection:
                self._set_current(job)

    def _fill_list(self, select: str | None) -> None:
        self.list.blockSignals(True)
        try:
            self.list.clear()
            for summary in self.jobs:
                item = QTreeWidgetItem([summary.job_id, summary.site, summary.smgw_id,
                                        self._state_text(str(summary.state))])
                item.setData(0, Qt.ItemDataRole.UserRole, summary.job_id)
                self.list.addTopLevelItem(item)
                if select is not None and summary.job_id.lower() == select.lower():
                    self.list.setCurrentItem(item)
        finally:
            self.list.blockSignals(False)
        self.empty.setVisible(not self.jobs)

    def _state_text(self, state: str) -> str:
        return {"open": self.tr("open"), "completed": self.tr("completed")}.get(state, state)

    def _selection_changed(self, item: QTreeWidgetItem | None, _previous: Any = None) -> None:
        job_id = item.data(0, Qt.ItemDataRole.UserRole) if item is not None else None
        if job_id:
            self._spawn(self.select(str(job_id)))

    async def select(self, job_id: str | None) -> Job | None:
        """Make ``job_id`` the current job (``None``: no current job); the latest call wins."""
        self._selection += 1
        generation = self._selection
        job = None if job_id is None else await self._call(WorkOrderStore.get, job_id)
        if job_id is not None and job is None:
            return None
        if generation != self._selection:  # the technician picked another job meanwhile
            return job
        self._set_current(job)
        if job is not None:
            self._fill_list(job.job_id)
        else:
            self.list.setCurrentItem(None)
        return job

    def _set_current(self, job: Job | None) -> None:
        changed = (job.job_id if job else None) != (
            self.current_job.job_id if self.current_job else None)
        self.current_job = job
        if changed:
            self.last_report = None
            self.report_label.clear()
        self._render_detail()
        self._update_buttons()
        self.current_changed.emit(job)

    # --- import --------------------------------------------------------------------------------

    def open_import_dialog(self) -> QFileDialog:
        """The non-modal file picker; the chosen file is imported when it is accepted."""
        dialog = QFileDialog(self, self.tr("Import a work order"), str(Path.home()),
                             self.tr("Work orders ({patterns})").format(
                                 patterns=JOB_FILE_PATTERNS))
        dialog.setObjectName("import-job-dialog")
        dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.fileSelected.connect(lambda path: self._spawn(self.import_file(Path(path))))
        dialog.destroyed.connect(lambda *_, gone=dialog: forget_deleted(self, "file_dialog", gone))
        self.file_dialog = dialog
        dialog.open()
        return dialog

    async def import_file(self, path: Path) -> Job | None:
        """Check and add a work order file; on a bad file show the line and field at fault."""
        job = await self._call(WorkOrderStore.import_file, path)
        if job is None:
            return None
        await self.refresh()
        return await self.select(job.job_id)

    # --- a job typed in on site ----------------------------------------------------------------

    def open_new_job_form(self) -> JobFormDialog:
        """The non-modal form "Auftrag anlegen" (an open one is brought to the front)."""
        if self.job_form is not None:
            self.job_form.show()
            self.job_form.raise_()
            self.job_form.activateWindow()
            return self.job_form
        han = self.context.han
        form = JobFormDialog(self, smgw_id=han.smgw_id if han is not None else None)
        form.submitted.connect(lambda order: self._spawn(self.create_job(order)))
        form.destroyed.connect(lambda *_, gone=form: forget_deleted(self, "job_form", gone))
        self.job_form = form
        form.show()
        return form

    async def create_job(self, order: WorkOrder) -> Job | None:
        """Store a typed work order; a refusal (job number taken) goes back to the form."""
        form = self.job_form

        def refused(error: SmgwctError) -> None:
            if form is not None and self.job_form is form:
                form.show_error(error)
            else:  # the form was closed meanwhile
                self.show_error(error)

        job = await self._call(_add_typed, order, on_error=refused)
        if job is None:
            return None
        if form is not None and self.job_form is form:
            form.saved()
        await self.refresh()
        return await self.select(job.job_id)

    # --- notes, seals and photos -----------------------------------------------------------------

    def _input(self, name: str, title: str, label: str, on_value: Any) -> QInputDialog:
        if self.input_dialog is not None:
            self.input_dialog.close()
        dialog = QInputDialog(self)
        dialog.setObjectName(name)
        dialog.setWindowTitle(title)
        dialog.setLabelText(label)
        dialog.setInputMode(QInputDialog.InputMode.TextInput)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.textValueSelected.connect(on_value)
        dialog.destroyed.connect(lambda *_, gone=dialog: forget_deleted(self, "input_dialog", gone))
        self.input_dialog = dialog
        dialog.open()
        return dialog

    def open_note_dialog(self) -> QInputDialog | None:
        if self.current_job is None:
            return None
        return self._input("job-note-dialog", self.tr("Note"),
                           self.tr("Note for job {job}:").format(job=self.current_job.job_id),
                           lambda value: self._spawn(self.add_note(value)))

    def open_seal_dialog(self) -> QInputDialog | None:
        if self.current_job is None:
            return None
        return self._input("job-seal-dialog", self.tr("Seal"),
                           self.tr("Number of the seal fitted (e.g. DE-123456):"),
                           lambda value: self._spawn(self.add_seal(value)))

    async def add_note(self, note: str) -> bool:
        job = self.current_job
        if job is None or not note.strip():
            return False
        added = await self._call(WorkOrderStore.add_note, job.job_id, note)
        await self.refresh()
        return added is not None

    def open_photo_dialog(self) -> QFileDialog | None:
        """Pick an image file (non-modal), then an optional caption (see :class:`PhotoPicker`)."""
        if self.current_job is None:
            return None
        return self.photo_picker.open(self.current_job.job_id)

    async def add_photo(self, path: Path, caption: str | None = None,
                        job_id: str | None = None) -> bool:
        """Check the photo and copy it into the folder of ``job_id`` (default: the current
        job) in a worker thread."""
        job_id = job_id or (self.current_job.job_id if self.current_job else None)
        if job_id is None:
            return False
        added = await self._call(store_photo, job_id, path, caption)
        await self.refresh()
        return added is not None

    async def add_seal(self, number: str) -> bool:
        job = self.current_job
        if job is None:
            return False
        try:
            seal = Seal.create(number)
        except SmgwctError as exc:
            self.show_error(exc)
            return False
        added = await self._call(WorkOrderStore.add_seal, job.job_id, seal)
        await self.refresh()
        return added is not None

    # --- the commissioning report --------------------------------------------------------------

    def can_sign(self) -> bool:
        return self.signer_factory is not None

    def set_signer(self, factory: SignerFactory | None) -> None:
        """Sign with ``factory`` from now on (``None``: no signing certificate set up)."""
        self.signer_factory = factory
        self._update_buttons()

    def build_report_later(self) -> asyncio.Task[ReportOutcome | None] | None:
        if self.current_job is None or self._report_running or not self.can_sign():
            return None
        return self._spawn(self.build_report())

    async def build_report(self) -> ReportOutcome | None:
        """Build report.xml, report.pdf and the signature into the job folder, then verify."""
        job = self.current_job
        if job is None or not self.can_sign():
            return None
        self._report_running = True
        self._update_buttons()
        self.report_label.setText(self.tr("Building the commissioning report…"))
        try:
            store = await self._open_store()
            outcome = await asyncio.to_thread(self._build_report, store, job.job_id,
                                              language())
        except SmgwctError as exc:
            self.report_label.clear()
            self.show_error(exc)
            return None
        finally:
            self._report_running = False
            self._update_buttons()
        self.last_report = outcome
        self._render_report()
        self.report_built.emit(outcome)
        return outcome

    def _build_report(self, store: WorkOrderStore, job_id: str, lang: str) -> ReportOutcome:
        """Worker thread: sign with the configured (or demo) signer and check the result."""
        job = store.get(job_id)
        folder = store_folder(self.context)
        factory = self.signer_factory
        if factory is None:
            raise SmgwctError(Text("No report signing certificate is set up.",
                                   "Kein Signaturzertifikat für Protokolle eingerichtet."))
        signer = factory(folder, job.order.smgw_id.text)
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
        out = job.folder / "reports" / stamp
        paths = build_report(job, signer=signer.key, extra_certs=signer.extra_certs, out_dir=out,
                             lang=lang, store=store, runs=self.runs,
                             audit=self.audit or store.audit)
        return ReportOutcome(paths, verify_report(paths.xml, trust=signer.trust))

    def _render_report(self) -> None:
        outcome = self.last_report
        if outcome is None:
            self.report_label.clear()
            return
        result = outcome.verification
        mark = "✔" if result.ok else "✘"
        lines = [
            self.tr("Report: {path}").format(path=outcome.paths.pdf),
            self.tr("Data: {path}").format(path=outcome.paths.xml),
            self.tr("Signature: {path}").format(path=outcome.paths.signature),
            f"{mark} {text(result.reason)}",
        ]
        self.report_label.setText("\n".join(lines))
        self.report_label.setStyleSheet(f"color: {'#137333' if result.ok else '#c5221f'};")

    # --- details -------------------------------------------------------------------------------

    def _render_detail(self) -> None:
        self.detail.clear()
        job = self.current_job
        if job is None:
            self.heading.setText(self.tr("No job selected. Flows run without a work order."))
            return
        order = job.order
        self.heading.setText(self.tr("Current job {job}: {site}").format(
            job=order.job_id, site=order.site.one_line))

        def section(title: str, rows: list[tuple[str, str]]) -> None:
            parent = QTreeWidgetItem([f"{title} ({len(rows)})", ""])
            self.detail.addTopLevelItem(parent)
            for key, value in rows:
                parent.addChild(QTreeWidgetItem([key, value]))
            parent.setExpanded(True)

        def when(value: dt.datetime | None) -> str:
            return value.astimezone().strftime("%Y-%m-%d %H:%M") if value else ""

        section(self.tr("Work order"), [
            (self.tr("SMGW ID"), order.smgw_id.text),
            (self.tr("GWA tenant"), order.gwa_tenant),
            *[(self.tr("Meter"), f"{m.server_id_text} ({text(m.role.title)})")
              for m in order.meters],
        ])
        section(self.tr("Planned flows"), [(str(i + 1), text(f.title)) for i, f in
                                           enumerate(order.flows)])
        section(self.tr("Runs"), [(when(r.attached), f"{flow_text(r.flow)}  {r.run_id}")
                                  for r in job.runs])
        section(self.tr("Readings"), [
            (when(r.time), f"{r.server_id}  {r.obis} = {r.value} {r.unit or ''}".rstrip())
            for r in job.readings])
        actions = {"fitted": self.tr("fitted"), "removed": self.tr("removed"),
                   "checked": self.tr("checked")}
        section(self.tr("Seals"), [(when(s.time), f"{s.number} ({actions.get(s.action, s.action)})")
                                   for s in job.seals])
        section(self.tr("Notes"), [(when(n.time), n.text) for n in job.notes])
        if job.photos:
            section(self.tr("Photos"), [
                (when(p.time), f"{p.caption} ({p.original_name})" if p.caption
                 else p.original_name) for p in job.photos])

    def _update_buttons(self) -> None:
        has_job = self.current_job is not None
        self.note_button.setEnabled(has_job)
        self.seal_button.setEnabled(has_job)
        self.photo_button.setEnabled(has_job)
        self.report_button.setEnabled(has_job and self.can_sign() and not self._report_running)
        if not self.can_sign():
            self.report_button.setToolTip(self.tr(
                "No certificate is set up for signing reports. Set it up under Settings, "
                "or build the report with: smgwct report build --job JOB --cert CERT --out "
                "FOLDER"))
        else:
            self.report_button.setToolTip(self.tr(
                "Writes the signed report (PDF, XML, signature) into the job's folder and "
                "verifies it."))

    # --- messages ------------------------------------------------------------------------------

    def show_error(self, error: SmgwctError) -> QMessageBox:
        """Show ``error`` without blocking (a bad job file: every problem, with its line)."""
        self.last_error = error
        body = error.describe(language())
        if isinstance(error, JobFileError) and len(error.problems) > 1:
            body += "\n\n" + "\n".join(f"• {p.describe(language())}" for p in error.problems)
        if self.error_box is not None:
            self.error_box.close()
        box = QMessageBox(QMessageBox.Icon.Warning, self.tr("Job list"), body,
                          QMessageBox.StandardButton.Ok, self)
        box.setObjectName("jobs-error")
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.destroyed.connect(lambda *_, gone=box: forget_deleted(self, "error_box", gone))
        self.error_box = box
        box.open()
        return box

    # --- language and shutdown -----------------------------------------------------------------

    def retranslate(self) -> None:
        self.title.setText(self.tr("Jobs"))
        self.import_button.setText(self.tr("Import…"))
        self.new_button.setText(self.tr("New…"))
        self.new_button.setToolTip(self.tr("Type in a work order on site"))
        self.list.setHeaderLabels([self.tr("Job"), self.tr("Site"), self.tr("SMGW ID"),
                                   self.tr("State")])
        self.detail.setHeaderLabels([self.tr("Entry"), self.tr("Value")])
        self.empty.setText(self.tr(
            "No jobs yet. Import a work order file (XML or JSON) or type one in with New…."))
        self.note_button.setText(self.tr("Note…"))
        self.seal_button.setText(self.tr("Seal…"))
        self.photo_button.setText(self.tr("Attach photo…"))
        self.report_button.setText(self.tr("Build report"))
        self._fill_list(self.current_job.job_id if self.current_job else None)
        self._render_detail()
        self._render_report()
        self._update_buttons()

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt override)
        if event.type() == QEvent.Type.LanguageChange:
            self.retranslate()
        super().changeEvent(event)

    async def shutdown(self) -> None:
        """Wait for running work, then close the job store (the audit log is the engine's)."""
        await self.tasks.finish(timeout=10)
        store, self.store = self.store, None
        if store is not None:
            if self.context.extras.get(JOB_STORE_EXTRA) is store:
                del self.context.extras[JOB_STORE_EXTRA]
            with contextlib.suppress(Exception):
                await asyncio.to_thread(store.close)


__all__ = ["JobsPanel", "ReportOutcome", "SignerFactory", "job_data"]
