"""The main window (Hauptfenster): connections, flows, live steps and the protocol trace."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QEvent, QSize, Qt, Signal
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QLabel,
    QMainWindow,
    QMessageBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from app.context import AppContext, GwaTarget
from app.errors import SmgwctError, Text
from app.processes.engine import Engine, RunResult
from app.processes.events import Event, FlowFinished, FlowStarted
from app.processes.interaction import UserInteraction
from app.report.signer import SignerFiles
from app.store.audit import AuditLog
from app.store.db import JobStore
from app.store.settings import LoadResult, Settings, SettingsStore, data_dir
from ui.bridge import EngineBridge, QtUserInteraction
from ui.gwa_link import GwaLinkFiles
from ui.i18n import Translations, language, text
from ui.models.flows import available_flows, flow_steps, flow_title
from ui.views.about import about_box
from ui.views.connections import ConnectionPanel
from ui.views.demo_control import DemoControl
from ui.views.flows import FlowListPanel
from ui.views.gwa_control import GwaLinkControl
from ui.views.gwa_setup import GwaSetupDialog
from ui.views.jobs import JobsPanel, SignerFactory, job_data
from ui.views.messages import message_box
from ui.views.optical_link import OpticalLinkFollower
from ui.views.optical_view import OpticalReadView
from ui.views.signer_control import SignerControl
from ui.views.signer_setup import SignerSetupDialog
from ui.views.steps import StepView
from ui.views.tasks import TaskGroup
from ui.views.trace import TracePanel
from ui.views.unfinished_runs import ResumeOffer, UnfinishedRunsPanel
from ui.views.workspace import Workspace
from ui.widgets.status import app_icon
from ui.widgets.style import WINDOW_STYLE

log = logging.getLogger(__name__)

DEFAULT_SIZE = QSize(1280, 800)
OPTICAL_TOOL = "optical"
JOBS_TOOL = "jobs"
UNFINISHED_TOOL = "unfinished"


EngineFactory = Callable[[UserInteraction, AppContext], Engine]
"""Builds the engine for a window from its interaction port and context."""


def default_engine(interaction: UserInteraction, context: AppContext) -> Engine:
    """An engine over the job database and audit log in the user's data folder."""
    folder: Path = context.data_dir or data_dir(create=True)
    return Engine(
        JobStore(folder / "jobs.sqlite3"),
        AuditLog(folder / "audit.sqlite3"),
        interaction,
        services=context,
    )


class MainWindow(QMainWindow):
    """The commissioning tool's main window.

    ``flows`` defaults to :func:`app.processes.flows.registry`. ``settings_store`` (and the
    ``loaded`` result) give geometry and language and receive them back on close; without it
    nothing is saved. ``demo`` marks a window connected to the embedded default.
    """

    closed = Signal()

    def __init__(
        self,
        context: AppContext,
        *,
        engine_factory: EngineFactory = default_engine,
        flows: Sequence[Any] | None = None,
        settings_store: SettingsStore | None = None,
        loaded: LoadResult | None = None,
        translations: Translations | None = None,
        demo: bool | None = None,
    ) -> None:
        super().__init__()
        self.setObjectName("main-window")
        self.setWindowIcon(app_icon())
        self.context = context
        self.demo = bool(context.demo) if demo is None else demo
        self.settings_store = settings_store
        self.settings: Settings = loaded.settings if loaded is not None else Settings()
        self.translations = translations or Translations(QApplication.instance())
        self._closing = False
        self._detached = False
        self._current_flow: Any = None
        self.tasks = TaskGroup()

        self.interaction = QtUserInteraction(self, on_cancel=self._cancel_from_prompt)
        self.engine = engine_factory(self.interaction, context)
        self.bridge = EngineBridge(self.engine, self)

        self.connections = ConnectionPanel(self)
        self.flow_panel = FlowListPanel(self)
        self.step_view = StepView(self)
        self.trace = TracePanel(self)
        optical = context.optical
        self.optical_view = OpticalReadView(
            self, default_port=optical.port if optical else None,
            default_protocol=optical.protocol if optical else None,
        )
        self.workspace = Workspace(self.step_view, self)
        self.workspace.add_tool(OPTICAL_TOOL, self.optical_view)
        self.optical_link = OpticalLinkFollower(self.optical_view, context, self.connections)
        self.signer_control = SignerControl(self, context, demo=self.demo)
        self.signer_control.configured.connect(self._signer_configured)
        self.jobs = JobsPanel(context, self, audit=self.engine.audit, runs=self.engine.store,
                              demo=self.demo, signer=self._signer_factory())
        self.workspace.add_tool(JOBS_TOOL, self.jobs)
        flow_list = self._load_flows() if flows is None else list(flows)
        self.unfinished = UnfinishedRunsPanel(self.engine.store, flow_list,
                                              active_run=self._active_run, parent=self)
        self.workspace.add_tool(UNFINISHED_TOOL, self.unfinished)
        self.resume_offer = ResumeOffer(self, self.unfinished,
                                        lambda: self.workspace.show_tool(UNFINISHED_TOOL))
        self.gwa = GwaLinkControl(self, context, self.connections)
        self.gwa.configured.connect(self._gwa_configured)
        self.demo_control = DemoControl(
            self, context, self.bridge, self.jobs, self.engine.audit, self.tasks,
            enabled=self.demo, leave_site=self._leave_site, run_flow=self._run_flow,
            closing=lambda: self._closing)
        self.demo_control.switching_changed.connect(self._on_switching)
        self.demo_control.site_changed.connect(self._after_switch)
        self.setStyleSheet(WINDOW_STYLE)
        self._build_layout()
        self._build_menus()
        self._build_status_bar()

        self.bridge.event.connect(self._on_event)
        self.bridge.trace_line.connect(self.trace.append)
        self.bridge.busy_changed.connect(self._on_busy)
        self.bridge.run_ended.connect(self._on_run_ended)
        self.flow_panel.start_requested.connect(self.start_flow)
        self.step_view.cancel_requested.connect(self.cancel_flow)
        self.jobs.current_changed.connect(self._on_job_changed)
        self.unfinished.resume_requested.connect(self.resume_flow)

        self.connections.bind(context)
        self.flow_panel.set_flows(flow_list)
        self.resize(DEFAULT_SIZE)
        self._restore_geometry()
        self.retranslate()
        self.notice_box: QMessageBox | None = None
        if loaded is not None and loaded.notice is not None:
            self.notice_box = self._show_notice(loaded.notice)
        stored_gwa = GwaLinkFiles.from_settings(self.settings)
        if context.gwa is None and stored_gwa is not None:
            self.gwa.restore_later(stored_gwa)
        self.jobs.refresh_later()
        #: looking for runs the program was stopped in (offered for resuming), see
        #: :meth:`ResumeOffer.offer_interrupted_runs`
        self.interrupted_task = self.tasks.spawn(self.resume_offer.offer_interrupted_runs(
            lambda: not self._closing and not self.bridge.running))
        self.demo_control.start()

    # --- construction --------------------------------------------------------------------------

    def _build_layout(self) -> None:
        self.work_splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.work_splitter.setObjectName("work-splitter")
        self.work_splitter.addWidget(self.flow_panel)
        self.work_splitter.addWidget(self.workspace)
        self.work_splitter.setStretchFactor(0, 0)
        self.work_splitter.setStretchFactor(1, 1)
        self.work_splitter.setSizes([300, 960])
        self.work_splitter.setChildrenCollapsible(False)

        # The connection panel sits outside the splitter so it always gets the height its
        # texts need (a long error wraps instead of being cut off).
        self.main_splitter = QSplitter(Qt.Orientation.Vertical, self)
        self.main_splitter.setObjectName("main-splitter")
        self.main_splitter.addWidget(self.work_splitter)
        self.main_splitter.addWidget(self.trace)
        self.main_splitter.setStretchFactor(0, 1)
        self.main_splitter.setStretchFactor(1, 0)
        self.main_splitter.setCollapsible(0, False)
        self.main_splitter.setSizes([420, 170])

        central = QWidget(self)
        layout = QVBoxLayout(central)
        layout.setContentsMargins(8, 8, 8, 4)
        layout.addWidget(self.connections, 0)
        layout.addWidget(self.main_splitter, 1)
        self.setCentralWidget(central)
        self.trace.setVisible(self.settings.show_trace)

    def _build_menus(self) -> None:
        bar = self.menuBar()
        self.file_menu = bar.addMenu("")
        self.quit_action = QAction(self)
        self.quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        self.quit_action.triggered.connect(self.close)
        self.file_menu.addAction(self.quit_action)

        self.view_menu = bar.addMenu("")
        self.trace_action = QAction(self)
        self.trace_action.setCheckable(True)
        self.trace_action.setChecked(self.settings.show_trace)
        self.trace_action.toggled.connect(self.trace.setVisible)
        self.view_menu.addAction(self.trace_action)
        self.optical_action = QAction(self)
        self.optical_action.triggered.connect(lambda: self.workspace.show_tool(OPTICAL_TOOL))
        self.view_menu.addAction(self.optical_action)
        self.jobs_action = QAction(self)
        self.jobs_action.triggered.connect(lambda: self.workspace.show_tool(JOBS_TOOL))
        self.view_menu.addAction(self.jobs_action)
        self.unfinished_action = QAction(self)
        self.unfinished_action.triggered.connect(
            lambda: self.workspace.show_tool(UNFINISHED_TOOL))
        self.view_menu.addAction(self.unfinished_action)

        self.settings_menu = bar.addMenu("")
        self.gwa_action = QAction(self)
        self.gwa_action.setObjectName("gwa-setup-action")
        self.gwa_action.triggered.connect(lambda: self.open_gwa_setup())
        self.settings_menu.addAction(self.gwa_action)
        self.signer_action = QAction(self)
        self.signer_action.setObjectName("signer-setup-action")
        self.signer_action.triggered.connect(lambda: self.open_signer_setup())
        self.settings_menu.addAction(self.signer_action)

        self.language_menu = bar.addMenu("")
        self.language_group = QActionGroup(self)
        self.language_group.setExclusive(True)
        self.language_actions: dict[str, QAction] = {}
        # Each language is named in itself, so it can be found whatever is active.
        for code, name in (("de", "Deutsch"), ("en", "English")):
            action = QAction(name, self)
            action.setCheckable(True)
            action.setData(code)
            action.triggered.connect(lambda _checked=False, c=code: self.set_language(c))
            self.language_group.addAction(action)
            self.language_menu.addAction(action)
            self.language_actions[code] = action

        self.demo_control.build_menu(bar)

        self.help_menu = bar.addMenu("")
        self.about_action = QAction(self)
        self.about_action.triggered.connect(self.show_about)
        self.help_menu.addAction(self.about_action)

    def _build_status_bar(self) -> None:
        status = self.statusBar()
        self.run_label = QLabel(self)
        self.run_label.setObjectName("run-state")
        self.demo_badge = self.demo_control.badge
        status.addPermanentWidget(self.run_label)
        status.addPermanentWidget(self.demo_badge)

    def _load_flows(self) -> list[Any]:
        try:
            return available_flows()
        except Exception as exc:  # a broken flow module must not keep the window from opening
            log.exception("the flow registry failed")
            self.statusBar().showMessage(
                self.tr("The list of flows could not be loaded: {error}").format(error=exc)
            )
            return []

    # --- language ------------------------------------------------------------------------------

    def set_language(self, lang: str) -> None:
        """Switch the UI language now (every view translates itself again)."""
        applied = self.translations.apply(lang)
        self.settings = dataclasses.replace(self.settings, language=applied)  # type: ignore[arg-type]
        self._save_settings()

    def retranslate(self) -> None:
        self.file_menu.setTitle(self.tr("&File"))
        self.quit_action.setText(self.tr("&Quit"))
        self.view_menu.setTitle(self.tr("&View"))
        self.trace_action.setText(self.tr("Protocol &trace"))
        self.optical_action.setText(self.tr("Read meter &optically"))
        self.jobs_action.setText(self.tr("&Jobs"))
        self.unfinished_action.setText(self.tr("&Unfinished flows"))
        self.settings_menu.setTitle(self.tr("&Settings"))
        self.gwa_action.setText(self.tr("Set up the &GWA link…"))
        self.signer_action.setText(self.tr("Set up the report &signing certificate…"))
        self.language_menu.setTitle(self.tr("&Language"))
        self.help_menu.setTitle(self.tr("&Help"))
        self.about_action.setText(self.tr("&About smgwct"))
        self.demo_control.retranslate()
        self._render_title()
        for code, action in self.language_actions.items():
            action.setChecked(code == language())
        self._render_run_state()

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt override)
        if event.type() == QEvent.Type.LanguageChange:
            self.retranslate()
        super().changeEvent(event)

    # --- flows ---------------------------------------------------------------------------------

    def start_flow(self, flow: Any) -> asyncio.Task[Any] | None:
        """Start ``flow`` (from the list's button or a double click).

        In demo mode a flow made for another scenario (``FLOW_SCENARIOS``) first asks whether to
        switch to it (see :meth:`DemoControl.start_flow`); the returned task then ends with the
        run.
        """
        if self.bridge.running or self.demo_control.switching:
            return None
        return self.demo_control.start_flow(flow)

    def _run_flow(self, flow: Any) -> asyncio.Task[Any] | None:
        self._current_flow = flow
        self.workspace.show_steps()
        self.step_view.begin(flow_title(flow), flow_steps(flow))
        self.trace.append_text(
            self.tr("--- {flow} started ---").format(flow=text(flow_title(flow)))
        )
        try:
            return self.bridge.start(flow, job_data(self.jobs.current_job) or None)
        except SmgwctError as exc:
            self._show_error(exc)
            return None

    def resume_flow(self, flow: Any, run_id: str) -> asyncio.Task[Any] | None:
        """Continue the stored run ``run_id`` of ``flow`` where it stopped (Fortsetzen): the
        steps that succeeded are shown as done, the interrupted one is asked about first."""
        if self.bridge.running or self.demo_control.switching:
            return None
        self.resume_offer.close()
        self._current_flow = flow
        self.workspace.show_steps()
        self.step_view.begin(flow_title(flow), flow_steps(flow))
        self.trace.append_text(
            self.tr("--- {flow} resumed ---").format(flow=text(flow_title(flow))))
        try:
            return self.bridge.resume(flow, run_id)
        except SmgwctError as exc:
            self._show_error(exc)
            return None

    def _active_run(self) -> str | None:
        return self.bridge.run_id if self.bridge.running else None

    def cancel_flow(self) -> None:
        if self.bridge.cancel():
            self.statusBar().showMessage(self.tr("Cancelling the flow…"), 5000)

    def _cancel_from_prompt(self) -> bool:
        return self.bridge.cancel()

    def _on_event(self, event: Event) -> None:
        self.step_view.apply(event)
        if isinstance(event, FlowStarted):
            self._render_run_state()
        elif isinstance(event, FlowFinished):
            self.trace.append_text(
                self.tr("--- {flow}: {outcome} ---").format(
                    flow=self.step_view.heading.text(), outcome=self.step_view.outcome.text()
                )
            )
            self._render_run_state()

    def _on_busy(self, busy: bool) -> None:
        switching = self.demo_control.switching
        self.flow_panel.set_busy(busy or switching)
        self.unfinished.set_busy(busy or switching)
        self._render_run_state()

    def _on_run_ended(self, outcome: RunResult | SmgwctError | None) -> None:
        if isinstance(outcome, SmgwctError):
            self.step_view.finish("failed")
            self._show_error(outcome)
        elif outcome is None:
            self.step_view.finish("cancelled")
        elif isinstance(outcome, RunResult) and not self._closing:
            self.workspace.show_result(outcome, self._current_flow)
        self._render_run_state()
        if not self._closing:
            self.jobs.refresh_later()  # the run may have added runs, readings and seals
            self.unfinished.refresh_later()
        if self._closing:
            self.close()

    def _on_job_changed(self, job: Any) -> None:
        self.flow_panel.set_job(job.job_id if job is not None else None)

    def _render_run_state(self) -> None:
        if self.demo_control.switching:
            self.run_label.setText(self.tr("Switching the demo scenario…"))
        elif self.bridge.running:
            self.run_label.setText(self.tr("Flow running"))
        elif self.step_view.flow_outcome is not None:
            self.run_label.setText(self.tr("Last flow: {outcome}").format(
                outcome=self.step_view.outcome.text()))
        else:
            self.run_label.setText(self.tr("Ready"))

    def show_result(self, result: RunResult) -> QWidget | None:
        """Show a finished run in its flow's result view (see :mod:`ui.views.results`)."""
        return self.workspace.show_result(result, self._current_flow)

    # --- demo mode ------------------------------------------------------------------------------

    def _render_title(self) -> None:
        """The window title names the running demo scenario ("… [DEMO · delivery]")."""
        mark = f"  [{self.demo_control.mark()}]" if self.demo else ""
        self.setWindowTitle(self.tr("smgwct – SMGW commissioning") + mark)

    def _on_switching(self, switching: bool) -> None:
        self.flow_panel.setEnabled(not switching)
        self.flow_panel.set_busy(switching or self.bridge.running)
        self._render_run_state()

    async def _leave_site(self) -> None:
        """Before a switch: the optical read head goes away with the old site."""
        self.optical_view.stop()
        await self.optical_view.wait_stopped()

    def _after_switch(self) -> None:
        """The views show the context's new targets (the link states were reset)."""
        optical = self.context.optical
        if optical is not None:
            self.optical_view.set_port(optical.port)
        self.connections.bind(self.context)
        self._render_title()

    # --- GWA link ------------------------------------------------------------------------------

    @property
    def gwa_dialog(self) -> GwaSetupDialog | None:
        """The open dialog "GWA-Anbindung einrichten", if any."""
        return self.gwa.dialog

    def open_gwa_setup(self, notice: Text | None = None) -> GwaSetupDialog:
        """Show the non-modal dialog "GWA-Anbindung einrichten"."""
        return self.gwa.open_setup(GwaLinkFiles.from_settings(self.settings), notice)

    def _gwa_configured(self, target: GwaTarget, files: GwaLinkFiles) -> None:
        self.settings = files.to_settings(self.settings)
        self._save_settings()
        self.statusBar().showMessage(
            self.tr("GWA link set up: {url}. Run the connection check to test it.").format(
                url=target.base_url), 15000)

    # --- report signing certificate ------------------------------------------------------------

    @property
    def signer_dialog(self) -> SignerSetupDialog | None:
        """The open dialog "Signaturzertifikat für Protokolle einrichten", if any."""
        return self.signer_control.dialog

    def open_signer_setup(self) -> SignerSetupDialog:
        """Show the non-modal dialog "Signaturzertifikat für Protokolle einrichten"."""
        return self.signer_control.open_setup(SignerFiles.from_settings(self.settings))

    def _signer_configured(self, files: SignerFiles) -> None:
        self.settings = files.to_settings(self.settings)
        self._save_settings()
        self.jobs.set_signer(self._signer_factory())
        self.statusBar().showMessage(
            self.tr("Reports are now signed with {path}.").format(path=files.cert), 15000)

    def _signer_factory(self) -> SignerFactory | None:
        """What signs reports: the demo PKI in demo mode, else the configured certificate."""
        return self.signer_control.factory(SignerFiles.from_settings(self.settings))

    # --- messages ------------------------------------------------------------------------------

    def _show_notice(self, notice: Text) -> QMessageBox:
        self.statusBar().showMessage(text(notice), 15000)
        box = message_box(self, QMessageBox.Icon.Warning, self.tr("Settings were reset"),
                          text(notice))
        box.setObjectName("settings-notice")
        return box

    def _show_error(self, error: SmgwctError) -> QMessageBox:
        return message_box(self, QMessageBox.Icon.Critical, self.tr("Error"),
                           error.describe(language()))

    def show_about(self) -> QMessageBox:
        box = about_box(self)
        box.open()
        return box

    # --- settings and shutdown -----------------------------------------------------------------

    def _restore_geometry(self) -> None:
        for raw, restore in (
            (self.settings.window_geometry, self.restoreGeometry),
            (self.settings.window_state, self.restoreState),
        ):
            if raw:
                with contextlib.suppress(ValueError):
                    restore(QByteArray(base64.b64decode(raw)))

    def _collect_settings(self) -> Settings:
        def b64(data: QByteArray) -> str:
            return base64.b64encode(bytes(data.data())).decode("ascii")

        changes: dict[str, Any] = {
            "language": language(),
            "window_geometry": b64(self.saveGeometry()),
            "window_state": b64(self.saveState()),
            "show_trace": self.trace_action.isChecked(),
        }
        if not self.demo:  # the demo's loopback targets must not replace the real ones
            ctx = self.context
            changes["han_host"] = ctx.han.host if ctx.han else self.settings.han_host
            changes["serial_port"] = ctx.optical.port if ctx.optical else self.settings.serial_port
            changes["gwa_url"] = ctx.gwa.base_url if ctx.gwa else self.settings.gwa_url
        return dataclasses.replace(self.settings, **changes)

    def _save_settings(self) -> None:
        if self.settings_store is None:
            return
        try:
            self.settings = self._collect_settings()
            self.settings_store.save(self.settings)
        except SmgwctError as exc:
            self.statusBar().showMessage(exc.describe(language()), 15000)
        except ValueError as exc:  # a field the settings refuse: keep running, say so
            log.warning("settings not saved: %s", exc)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt override)
        form = self.jobs.job_form
        if form is not None and form.isVisible() and form.is_modified():
            # a work order typed on site is not saved yet: never lose it by closing the window
            form.raise_()
            form.activateWindow()
            form.ask_discard()
            self.statusBar().showMessage(self.tr(
                "A typed work order is not saved yet: save or discard it, then close again."),
                15000)
            event.ignore()
            return
        if self.bridge.running:
            # Cancel first; the window closes when the run has ended (see _on_run_ended).
            self._closing = True
            self.bridge.cancel()
            self.statusBar().showMessage(self.tr("Cancelling the flow before closing…"))
            event.ignore()
            return
        self._save_settings()
        for dialog in list(self.interaction.open_dialogs):
            dialog.dismiss()
        self.gwa.close_dialog()
        self.demo_control.close_dialogs()
        self.resume_offer.close()
        self.optical_view.stop()
        self.connections.unbind()
        super().closeEvent(event)
        self.closed.emit()

    async def shutdown(self) -> None:
        """Stop the running flow, stop listening and close the job database and audit log."""
        self.demo_control.close_dialogs()
        await self.bridge.shutdown()
        await self.tasks.finish()  # a running switch must not leave simulators behind
        await self.optical_view.shutdown()
        await self.gwa.shutdown()
        await self.jobs.shutdown()
        await self.unfinished.shutdown()
        self.connections.unbind()
        if not self._detached:
            self._detached = True
            for store in (self.engine.store, self.engine.audit):
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(store.close)
