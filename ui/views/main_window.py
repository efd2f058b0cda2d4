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

from app.context import AppContext, GwaTarget, Link, LinkState, OpticalTarget
from app.errors import SmgwctError, Text
from app.processes.engine import Engine, RunResult
from app.processes.events import Event, FlowFinished, FlowStarted
from app.processes.interaction import UserInteraction
from app.report.signer import (
    ReportSigner,
    SignerFiles,
    SignerPasswords,
    demo_report_signer,
    load_report_signer,
)
from app.sim import demo_switch
from app.sim.demo_switch import (
    ScenarioSwitchError,
    add_demo_jobs,
    current_scenario,
    running_embedded,
    scenario_info,
    scenario_infos,
    scenario_label,
    start_failure,
    suggested_scenario,
)
from app.store.audit import AuditLog
from app.store.db import JobStore
from app.store.settings import LoadResult, Settings, SettingsStore, data_dir
from app.transports.optical import OpticalSnapshot, public_key_fingerprint
from app.workbench import store_folder
from ui.bridge import EngineBridge, QtUserInteraction
from ui.gwa_link import GwaLinkFiles
from ui.i18n import Translations, language, text
from ui.models.flows import available_flows, flow_name, flow_steps, flow_title
from ui.views.about import about_box
from ui.views.connections import ConnectionPanel
from ui.views.demo_scenario import DemoScenarioDialog, FlowScenarioQuestion
from ui.views.flows import FlowListPanel
from ui.views.gwa_control import GwaLinkControl, secret_store
from ui.views.gwa_setup import GwaSetupDialog
from ui.views.jobs import JobsPanel, job_data
from ui.views.optical_view import OpticalReadView
from ui.views.signer_setup import SignerSetupDialog
from ui.views.steps import StepView
from ui.views.trace import TracePanel
from ui.views.unfinished_runs import UnfinishedRunsPanel
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
        self._tasks: set[asyncio.Task[Any]] = set()
        # demo mode: the embedded default a switch copies its settings from (also after a
        # failed switch left nothing running), the open dialog and question, a running switch
        self._demo_template = running_embedded(context)
        self._switching = False
        self.scenario_dialog: DemoScenarioDialog | None = None
        self.scenario_question: FlowScenarioQuestion | None = None
        self.switch_error_box: QMessageBox | None = None

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
        self.signer_dialog: SignerSetupDialog | None = None
        self.jobs = JobsPanel(context, self, audit=self.engine.audit, runs=self.engine.store,
                              demo=self.demo, signer=self._signer_factory())
        self.workspace.add_tool(JOBS_TOOL, self.jobs)
        flow_list = self._load_flows() if flows is None else list(flows)
        self.unfinished = UnfinishedRunsPanel(self.engine.store, flow_list,
                                              active_run=self._active_run, parent=self)
        self.workspace.add_tool(UNFINISHED_TOOL, self.unfinished)
        self.resume_box: QMessageBox | None = None
        self.gwa = GwaLinkControl(self, context, self.connections)
        self.gwa.configured.connect(self._gwa_configured)
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
        self.optical_view.running_changed.connect(self._on_optical_running)
        self.optical_view.snapshot_received.connect(self._on_optical_snapshot)
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
        #: :meth:`offer_interrupted_runs`
        self.interrupted_task = self._spawn(self.offer_interrupted_runs())
        #: adding the demo work orders to the job list (demo mode), see :meth:`import_demo_jobs`
        self.demo_jobs_task: asyncio.Task[list[str]] | None = None
        if self.demo and self._demo_template is not None:
            self.demo_jobs_task = self._spawn(self.import_demo_jobs())

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

        self._build_demo_menu()

        self.help_menu = bar.addMenu("")
        self.about_action = QAction(self)
        self.about_action.triggered.connect(self.show_about)
        self.help_menu.addAction(self.about_action)

    def _build_demo_menu(self) -> None:
        """Menu "Demo" (demo mode only): switch the scenario; further demo actions go here."""
        self.demo_menu = self.menuBar().addMenu("")
        self.demo_menu.setObjectName("demo-menu")
        self.demo_menu.menuAction().setVisible(self.demo)
        self.switch_scenario_action = QAction(self)
        self.switch_scenario_action.setObjectName("switch-scenario-action")
        self.switch_scenario_action.triggered.connect(lambda: self.open_scenario_dialog())
        self.demo_menu.addAction(self.switch_scenario_action)

    def _build_status_bar(self) -> None:
        status = self.statusBar()
        self.run_label = QLabel(self)
        self.run_label.setObjectName("run-state")
        self.demo_badge = QLabel("DEMO", self)
        self.demo_badge.setObjectName("demo-badge")
        self.demo_badge.setStyleSheet(
            "QLabel { color: #ffffff; background: #e37400; border-radius: 4px;"
            " padding: 1px 8px; font-weight: 700; }"
        )
        self.demo_badge.setVisible(self.demo)
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
        self.demo_menu.setTitle(self.tr("&Demo"))
        self.switch_scenario_action.setText(self.tr("&Switch scenario…"))
        self._render_demo_state()
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
        switch to it (see :meth:`ask_flow_scenario`); the returned task then ends with the run.
        """
        if self.bridge.running or self._switching:
            return None
        wanted = suggested_scenario(self.context, flow_name(flow)) if self.demo else None
        if wanted is None:
            return self._run_flow(flow)
        if self.scenario_question is not None:  # asked already: bring the question back
            self.scenario_question.raise_()
            self.scenario_question.activateWindow()
            return None
        return self._spawn(self._ask_then_run(flow, wanted))

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
        if self.bridge.running or self._switching:
            return None
        self._close_resume_box()
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

    async def offer_interrupted_runs(self) -> list[Any]:
        """After a start: when the program was stopped during a run, say so and offer to resume
        the newest such run (non-modal; the tab "Nicht abgeschlossene Abläufe" lists all)."""
        runs = await self.unfinished.refresh()
        interrupted = [r for r in runs if r.interrupted]
        if interrupted and not self._closing and not self.bridge.running:
            self._offer_resume(interrupted[0], len(interrupted))
        return interrupted

    def _offer_resume(self, run: Any, count: int) -> QMessageBox:
        panel = self.unfinished
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
        self._close_resume_box()
        box = QMessageBox(QMessageBox.Icon.Question, self.tr("Interrupted flow"), body,
                          QMessageBox.StandardButton.NoButton, self)
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
                self.workspace.show_tool(UNFINISHED_TOOL)

        box.buttonClicked.connect(answered)
        box.destroyed.connect(lambda *_, gone=box: self._forget_resume_box(gone))
        self.resume_box = box
        box.open()
        return box

    def _forget_resume_box(self, gone: QMessageBox) -> None:
        if self.resume_box is gone:
            self.resume_box = None

    def _close_resume_box(self) -> None:
        box, self.resume_box = self.resume_box, None
        if box is not None:
            with contextlib.suppress(RuntimeError):
                box.close()

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
        self.flow_panel.set_busy(busy or self._switching)
        self.unfinished.set_busy(busy or self._switching)
        self._render_run_state()
        if self.scenario_dialog is not None:
            self.scenario_dialog.set_blocked(self._switch_refusal())

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
        if self._switching:
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

    # --- demo mode: scenarios and demo work orders ---------------------------------------------

    @property
    def demo_scenario(self) -> str | None:
        """The scenario the demo environment runs (``None``: none, or not in demo mode)."""
        return current_scenario(self.context)

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # built before the loop runs
            loop = asyncio.get_event_loop()
        task = loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("a task of the window failed", exc_info=task.exception())

    async def _finish_tasks(self) -> None:
        """Let a running switch end (it must not leave simulators behind), cancel the rest."""
        pending = [t for t in self._tasks if not t.done()]
        if pending:
            _done, still = await asyncio.wait(pending, timeout=15)
            for task in still:
                task.cancel()
            if still:
                await asyncio.wait(still, timeout=2)

    def _render_demo_state(self) -> None:
        """Badge and window title name the running scenario ("DEMO · delivery")."""
        scenario = self.demo_scenario
        mark = f"DEMO · {scenario_label(scenario)}" if scenario else "DEMO"
        self.demo_badge.setText(mark)
        self.setWindowTitle(
            self.tr("smgwct – SMGW commissioning") + (f"  [{mark}]" if self.demo else ""))
        tip = self.tr("Connected to the built-in demo environment (virtual gateway and GWA).")
        if scenario:
            info = scenario_info(scenario)
            tip += "\n" + self.tr("Scenario '{name}': {title}").format(
                name=info.label, title=text(info.title))
        self.demo_badge.setToolTip(tip)

    def _switch_refusal(self) -> str | None:
        """Why the scenario cannot be switched now, or ``None``."""
        if self._demo_template is None:
            return self.tr("This window is not connected to the built-in demo environment, so "
                           "there is no scenario to switch.")
        if self._switching:
            return self.tr("The demo scenario is being switched.")
        if self.bridge.running:
            return self.tr("A flow is running. Switch the scenario when it has ended, or "
                           "cancel it first.")
        return None

    def open_scenario_dialog(self) -> DemoScenarioDialog:
        """Show the non-modal dialog "Szenario wechseln…" (the open one again, if any)."""
        if self.scenario_dialog is not None:
            self.scenario_dialog.show()
            self.scenario_dialog.raise_()
            return self.scenario_dialog
        current = self.demo_scenario
        dialog = DemoScenarioDialog(self, scenario_infos(current), current)
        dialog.chosen.connect(
            lambda name, fresh: self.switch_scenario_later(name, fresh=fresh))
        dialog.finished.connect(self._scenario_dialog_closed)
        dialog.set_blocked(self._switch_refusal())
        self.scenario_dialog = dialog
        dialog.show()
        dialog.raise_()
        dialog.activateWindow()
        return dialog

    def _scenario_dialog_closed(self) -> None:
        dialog, self.scenario_dialog = self.scenario_dialog, None
        if dialog is not None:
            dialog.deleteLater()

    def switch_scenario_later(self, scenario: str, *,
                              fresh: bool = False) -> asyncio.Task[bool] | None:
        """Start :meth:`switch_scenario` on the loop (nothing to do: the scenario runs already)."""
        if scenario == self.demo_scenario and not fresh:
            self.statusBar().showMessage(self.tr("The scenario '{name}' is running already.")
                                         .format(name=scenario_label(scenario)), 10000)
            return None
        return self._spawn(self.switch_scenario(scenario, fresh=fresh))

    async def switch_scenario(self, scenario: str, *, fresh: bool = False) -> bool:
        """Stop the demo environment and start it in ``scenario``; this window's context follows
        it. Refused while a flow runs; a start error is shown and the window keeps working."""
        refusal = self._switch_refusal()
        if refusal is not None:
            box = self._message_box(QMessageBox.Icon.Information,
                                    self.tr("Demo scenario not switched"), refusal)
            box.setObjectName("demo-switch-refused")
            return False
        status = self.statusBar()
        self._set_switching(True)
        try:
            self.optical_view.stop()  # the read head goes away with the old site
            await self.optical_view.wait_stopped()
            embedded = await demo_switch.switch_scenario(
                self.context, scenario, fresh=fresh, template=self._demo_template,
                progress=lambda step: status.showMessage(text(step)))
        except Exception as exc:  # noqa: BLE001 - the window must keep working
            error = exc if isinstance(exc, SmgwctError) else start_failure(
                exc, scenario_label(scenario))
            if not isinstance(exc, ScenarioSwitchError):
                log.exception("switching the demo scenario failed")
            self._demo_template = running_embedded(self.context) or self._demo_template
            self._after_switch()
            status.showMessage(text(error.message), 15000)
            if self.switch_error_box is not None:
                self.switch_error_box.close()
            box = self._message_box(QMessageBox.Icon.Critical,
                                    self.tr("Demo scenario not switched"),
                                    error.describe(language()))
            box.setObjectName("demo-switch-error")
            box.destroyed.connect(lambda *_: setattr(self, "switch_error_box", None))
            self.switch_error_box = box
            return False
        finally:
            self._set_switching(False)
        self._demo_template = embedded
        self._after_switch()
        info = scenario_info(embedded.scenario_name)
        status.showMessage(self.tr("Demo scenario '{name}' is running: {title}").format(
            name=info.label, title=text(info.title)), 15000)
        return True

    def _set_switching(self, switching: bool) -> None:
        self._switching = switching
        self.flow_panel.setEnabled(not switching)
        self.flow_panel.set_busy(switching or self.bridge.running)
        self.switch_scenario_action.setEnabled(not switching)
        if self.scenario_dialog is not None:
            self.scenario_dialog.set_blocked(self._switch_refusal())
        self._render_run_state()

    def _after_switch(self) -> None:
        """The views show the context's new targets (the link states were reset)."""
        optical = self.context.optical
        if optical is not None:
            self.optical_view.set_port(optical.port)
        self.connections.bind(self.context)
        self._render_demo_state()

    def ask_flow_scenario(self, flow: Any, wanted: str) -> FlowScenarioQuestion:
        """The non-modal question before a flow made for the scenario ``wanted``."""
        current = self.demo_scenario or ""
        question = FlowScenarioQuestion(self, flow=text(flow_title(flow)),
                                        current=scenario_info(current),
                                        wanted=scenario_info(wanted))
        question.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        question.destroyed.connect(lambda *_: setattr(self, "scenario_question", None))
        self.scenario_question = question
        question.show()  # non-modal: the window stays usable while the question waits
        question.raise_()
        question.activateWindow()
        return question

    async def _ask_then_run(self, flow: Any, wanted: str) -> Any:
        question = self.ask_flow_scenario(flow, wanted)
        answer: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        question.answered.connect(lambda a: answer.done() or answer.set_result(a))
        choice = await answer
        self.scenario_question = None
        if choice == FlowScenarioQuestion.CANCEL or self._closing:
            return None
        if choice == FlowScenarioQuestion.SWITCH and not await self.switch_scenario(
                wanted, fresh=True):
            return None
        task = self._run_flow(flow)
        return await task if task is not None else None

    def _close_demo_dialogs(self) -> None:
        for dialog in (self.scenario_question, self.scenario_dialog):
            if dialog is not None:
                with contextlib.suppress(RuntimeError):  # deleted with the window already
                    dialog.close()

    async def import_demo_jobs(self) -> list[str]:
        """Add the demo work orders (handover, meter change) to the job list unless it holds
        them; the current job stays as it is. Returns the job numbers added.

        They go in through a store of their own (one transaction each, a job added meanwhile is
        left alone), not through the panel's import, which would make each the current job. The
        panel opens the job list first (a new file is set up once, not by two connections).
        """
        await self.jobs.refresh()
        if self.jobs.store is None:  # the job list cannot be opened; the panel said why
            return []
        audit = self.engine.audit
        try:
            added = await asyncio.to_thread(
                lambda: add_demo_jobs(store_folder(self.context), audit))
        except SmgwctError as exc:
            log.warning("demo work orders not added: %s", exc)
            self.statusBar().showMessage(exc.describe(language()), 15000)
            return []
        await self.jobs.refresh()
        if added:
            self.statusBar().showMessage(
                self.tr("Demo work orders added to the job list: {jobs}").format(
                    jobs=", ".join(added)), 10000)
        return added

    # --- optical read head ---------------------------------------------------------------------

    def _on_optical_running(self, running: bool) -> None:
        """The optical card follows the optical view: connecting, then failed or kept."""
        view = self.optical_view
        if running:
            port, protocol = view.port, view.protocol
            self.context.optical = OpticalTarget(port, protocol)
            self.connections.cards[Link.OPTICAL].set_target(port)
            self.context.update_link(Link.OPTICAL, state=LinkState.CONNECTING, peer=None,
                                     fingerprint=None, last_error=None)
            return
        current = self.context.link(Link.OPTICAL)
        if view.error is not None:
            self.context.update_link(Link.OPTICAL, state=LinkState.FAILED,
                                     last_error=view.error.message)
        elif current.state is LinkState.CONNECTING:  # stopped before any telegram came
            self.context.update_link(Link.OPTICAL, state=LinkState.UNKNOWN)

    def _on_optical_snapshot(self, snapshot: OpticalSnapshot) -> None:
        if snapshot.status.frames_ok == 0:
            return
        identity = snapshot.identity
        sid = identity.server_id
        peer = sid.display if sid is not None else None
        if peer and identity.manufacturer:
            peer = f"{peer} ({identity.manufacturer})"
        key = identity.public_key
        fingerprint = public_key_fingerprint(key) if key else None
        hint = snapshot.status.hint if snapshot.status.noisy else None
        current = self.context.link(Link.OPTICAL)
        wanted = (LinkState.CONNECTED, peer, fingerprint, hint)
        if (current.state, current.peer, current.fingerprint, current.last_error) != wanted:
            self.context.update_link(Link.OPTICAL, state=LinkState.CONNECTED, peer=peer,
                                     fingerprint=fingerprint, last_error=hint)

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

    def open_signer_setup(self) -> SignerSetupDialog:
        """Show the non-modal dialog "Signaturzertifikat für Protokolle einrichten"."""
        if self.signer_dialog is not None:
            self.signer_dialog.show()
            self.signer_dialog.raise_()
            return self.signer_dialog
        dialog = SignerSetupDialog(self, SignerFiles.from_settings(self.settings),
                                   secret_store(self.context))
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.configured.connect(self._signer_configured)
        dialog.destroyed.connect(lambda *_: setattr(self, "signer_dialog", None))
        self.signer_dialog = dialog
        dialog.show()
        dialog.raise_()
        dialog.activateWindow()
        return dialog

    def _signer_configured(self, files: SignerFiles) -> None:
        self.settings = files.to_settings(self.settings)
        self._save_settings()
        self.jobs.set_signer(self._signer_factory())
        self.statusBar().showMessage(
            self.tr("Reports are now signed with {path}.").format(path=files.cert), 15000)

    def _signer_factory(self) -> Callable[[Path, str], ReportSigner] | None:
        """What signs reports: the demo PKI in demo mode, else the configured certificate."""
        if self.demo:
            return demo_report_signer
        files = SignerFiles.from_settings(self.settings)
        if files is None:
            return None
        store = secret_store(self.context)

        def load(_folder: Path, _smgw_id: str) -> ReportSigner:  # worker thread
            return load_report_signer(files, SignerPasswords(None, store))

        return load

    # --- messages ------------------------------------------------------------------------------

    def _message_box(self, icon: QMessageBox.Icon, title: str, body: str) -> QMessageBox:
        """A message box opened without blocking (``open()``), deleted when closed."""
        box = QMessageBox(icon, title, body, QMessageBox.StandardButton.Ok, self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
        return box

    def _show_notice(self, notice: Text) -> QMessageBox:
        self.statusBar().showMessage(text(notice), 15000)
        box = self._message_box(
            QMessageBox.Icon.Warning, self.tr("Settings were reset"), text(notice)
        )
        box.setObjectName("settings-notice")
        return box

    def _show_error(self, error: SmgwctError) -> QMessageBox:
        return self._message_box(
            QMessageBox.Icon.Critical, self.tr("Error"), error.describe(language())
        )

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
        self._close_demo_dialogs()
        self._close_resume_box()
        self.optical_view.stop()
        self.connections.unbind()
        super().closeEvent(event)
        self.closed.emit()

    async def shutdown(self) -> None:
        """Stop the running flow, stop listening and close the job database and audit log."""
        self._close_demo_dialogs()
        await self.bridge.shutdown()
        await self._finish_tasks()
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
