"""Demo mode of the main window (Demo-Modus): the menu "Demo > Szenario wechseln…", the badge
naming the running scenario, the question before a flow made for another scenario and the demo
work orders in the job list.

A switch stops the built-in demo environment and starts it in the chosen scenario
(:func:`app.sim.demo_switch.switch_scenario`); the window's context follows it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QLabel, QMainWindow, QMenu, QMenuBar, QMessageBox

from app.context import AppContext
from app.errors import SmgwctError
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
from app.workbench import store_folder
from ui.bridge import EngineBridge
from ui.i18n import language, text
from ui.models.flows import flow_name, flow_title
from ui.views.demo_scenario import DemoScenarioDialog, FlowScenarioQuestion
from ui.views.jobs import JobsPanel
from ui.views.messages import message_box
from ui.views.tasks import TaskGroup

log = logging.getLogger(__name__)


class DemoControl(QObject):
    """Scenario switching and demo work orders of one window; inert outside demo mode.

    The window hands in what a switch touches besides this control: ``leave_site`` stops what
    talks to the old site (the optical read head), ``run_flow`` starts a flow once the question
    is answered, ``closing`` tells whether the window is closing. The window follows
    :attr:`switching_changed` and :attr:`site_changed`.
    """

    switching_changed = Signal(bool)
    """A switch began (``True``) or ended (``False``); no flow starts meanwhile."""
    site_changed = Signal()
    """After a switch, also a failed one: the context names the demo environment's targets."""

    def __init__(self, window: QMainWindow, context: AppContext, bridge: EngineBridge,
                 jobs: JobsPanel, audit: AuditLog, tasks: TaskGroup, *, enabled: bool,
                 leave_site: Callable[[], Awaitable[None]],
                 run_flow: Callable[[Any], asyncio.Task[Any] | None],
                 closing: Callable[[], bool]) -> None:
        super().__init__(window)
        self.window = window
        self.context = context
        self.bridge = bridge
        self.jobs = jobs
        self.audit = audit
        self.tasks = tasks
        self.enabled = enabled
        self._leave_site = leave_site
        self._run_flow = run_flow
        self._closing = closing
        # the embedded default a switch copies its settings from (also after a failed switch
        # left nothing running)
        self.template = running_embedded(context)
        self.switching = False
        self.dialog: DemoScenarioDialog | None = None
        self.question: FlowScenarioQuestion | None = None
        self.error_box: QMessageBox | None = None
        # adding the demo work orders to the job list, see :meth:`start`
        self.jobs_task: asyncio.Task[list[str]] | None = None
        self.menu: QMenu | None = None
        self.switch_action = QAction(self)
        self.switch_action.setObjectName("switch-scenario-action")
        self.switch_action.triggered.connect(lambda: self.open_dialog())
        self.badge = QLabel("DEMO", window)
        self.badge.setObjectName("demo-badge")
        self.badge.setStyleSheet(
            "QLabel { color: #ffffff; background: #e37400; border-radius: 4px;"
            " padding: 1px 8px; font-weight: 700; }"
        )
        self.badge.setVisible(enabled)
        bridge.busy_changed.connect(self._update_dialog)

    def build_menu(self, bar: QMenuBar) -> QMenu:
        """Menu "Demo" (demo mode only): switch the scenario; further demo actions go here."""
        self.menu = bar.addMenu("")
        self.menu.setObjectName("demo-menu")
        self.menu.menuAction().setVisible(self.enabled)
        self.menu.addAction(self.switch_action)
        return self.menu

    def start(self) -> None:
        """After the window is built: add the demo work orders (demo mode only)."""
        if self.enabled and self.template is not None:
            self.jobs_task = self.tasks.spawn(self.import_demo_jobs())

    # --- state ---------------------------------------------------------------------------------

    @property
    def scenario(self) -> str | None:
        """The scenario the demo environment runs (``None``: none, or not in demo mode)."""
        return current_scenario(self.context)

    def mark(self) -> str:
        """What badge and window title show: "DEMO · delivery", or "DEMO"."""
        scenario = self.scenario
        return f"DEMO · {scenario_label(scenario)}" if scenario else "DEMO"

    def render(self) -> None:
        """The badge names the running scenario; its tool tip says what it is."""
        scenario = self.scenario
        self.badge.setText(self.mark())
        tip = self.tr("Connected to the built-in demo environment (virtual gateway and GWA).")
        if scenario:
            info = scenario_info(scenario)
            tip += "\n" + self.tr("Scenario '{name}': {title}").format(
                name=info.label, title=text(info.title))
        self.badge.setToolTip(tip)

    def retranslate(self) -> None:
        if self.menu is not None:
            self.menu.setTitle(self.tr("&Demo"))
        self.switch_action.setText(self.tr("&Switch scenario…"))
        self.render()

    def refusal(self) -> str | None:
        """Why the scenario cannot be switched now, or ``None``."""
        if self.template is None:
            return self.tr("This window is not connected to the built-in demo environment, so "
                           "there is no scenario to switch.")
        if self.switching:
            return self.tr("The demo scenario is being switched.")
        if self.bridge.running:
            return self.tr("A flow is running. Switch the scenario when it has ended, or "
                           "cancel it first.")
        return None

    def _update_dialog(self, *_busy: bool) -> None:
        if self.dialog is not None:
            self.dialog.set_blocked(self.refusal())

    # --- switching -----------------------------------------------------------------------------

    def open_dialog(self) -> DemoScenarioDialog:
        """Show the non-modal dialog "Szenario wechseln…" (the open one again, if any)."""
        if self.dialog is not None:
            self.dialog.show()
            self.dialog.raise_()
            return self.dialog
        current = self.scenario
        dialog = DemoScenarioDialog(self.window, scenario_infos(current), current)
        dialog.chosen.connect(
            lambda name, fresh: self.switch_scenario_later(name, fresh=fresh))
        dialog.finished.connect(self._dialog_closed)
        dialog.set_blocked(self.refusal())
        self.dialog = dialog
        dialog.show()
        dialog.raise_()
        dialog.activateWindow()
        return dialog

    def _dialog_closed(self) -> None:
        dialog, self.dialog = self.dialog, None
        if dialog is not None:
            dialog.deleteLater()

    def switch_scenario_later(self, scenario: str, *,
                              fresh: bool = False) -> asyncio.Task[bool] | None:
        """Start :meth:`switch_scenario` on the loop (nothing to do: the scenario runs already)."""
        if scenario == self.scenario and not fresh:
            self.window.statusBar().showMessage(
                self.tr("The scenario '{name}' is running already.").format(
                    name=scenario_label(scenario)), 10000)
            return None
        return self.tasks.spawn(self.switch_scenario(scenario, fresh=fresh))

    async def switch_scenario(self, scenario: str, *, fresh: bool = False) -> bool:
        """Stop the demo environment and start it in ``scenario``; the window's context follows
        it. Refused while a flow runs; a start error is shown and the window keeps working."""
        refusal = self.refusal()
        if refusal is not None:
            box = message_box(self.window, QMessageBox.Icon.Information,
                              self.tr("Demo scenario not switched"), refusal)
            box.setObjectName("demo-switch-refused")
            return False
        status = self.window.statusBar()
        self._set_switching(True)
        try:
            await self._leave_site()  # the read head goes away with the old site
            embedded = await demo_switch.switch_scenario(
                self.context, scenario, fresh=fresh, template=self.template,
                progress=lambda step: status.showMessage(text(step)))
        except Exception as exc:  # noqa: BLE001 - the window must keep working
            error = exc if isinstance(exc, SmgwctError) else start_failure(
                exc, scenario_label(scenario))
            if not isinstance(exc, ScenarioSwitchError):
                log.exception("switching the demo scenario failed")
            self.template = running_embedded(self.context) or self.template
            self._after_switch()
            status.showMessage(text(error.message), 15000)
            self._show_switch_error(error)
            return False
        finally:
            self._set_switching(False)
        self.template = embedded
        self._after_switch()
        info = scenario_info(embedded.scenario_name)
        status.showMessage(self.tr("Demo scenario '{name}' is running: {title}").format(
            name=info.label, title=text(info.title)), 15000)
        return True

    def _show_switch_error(self, error: SmgwctError) -> None:
        if self.error_box is not None:
            self.error_box.close()
        box = message_box(self.window, QMessageBox.Icon.Critical,
                          self.tr("Demo scenario not switched"), error.describe(language()))
        box.setObjectName("demo-switch-error")
        box.destroyed.connect(lambda *_: setattr(self, "error_box", None))
        self.error_box = box

    def _set_switching(self, switching: bool) -> None:
        self.switching = switching
        self.switch_action.setEnabled(not switching)
        self._update_dialog()
        self.switching_changed.emit(switching)

    def _after_switch(self) -> None:
        """The link states were reset; badge and window show the context's new targets."""
        self.render()
        self.site_changed.emit()

    # --- the question before a flow ------------------------------------------------------------

    def start_flow(self, flow: Any) -> asyncio.Task[Any] | None:
        """Run ``flow``; in demo mode a flow made for another scenario (``FLOW_SCENARIOS``)
        first asks whether to switch to it, and the returned task ends with the run."""
        wanted = suggested_scenario(self.context, flow_name(flow)) if self.enabled else None
        if wanted is None:
            return self._run_flow(flow)
        if self.question is not None:  # asked already: bring the question back
            self.question.raise_()
            self.question.activateWindow()
            return None
        return self.tasks.spawn(self._ask_then_run(flow, wanted))

    def ask_flow_scenario(self, flow: Any, wanted: str) -> FlowScenarioQuestion:
        """The non-modal question before a flow made for the scenario ``wanted``."""
        current = self.scenario or ""
        question = FlowScenarioQuestion(self.window, flow=text(flow_title(flow)),
                                        current=scenario_info(current),
                                        wanted=scenario_info(wanted))
        question.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        question.destroyed.connect(lambda *_: setattr(self, "question", None))
        self.question = question
        question.show()  # non-modal: the window stays usable while the question waits
        question.raise_()
        question.activateWindow()
        return question

    async def _ask_then_run(self, flow: Any, wanted: str) -> Any:
        question = self.ask_flow_scenario(flow, wanted)
        answer: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        question.answered.connect(lambda a: answer.done() or answer.set_result(a))
        choice = await answer
        self.question = None
        if choice == FlowScenarioQuestion.CANCEL or self._closing():
            return None
        if choice == FlowScenarioQuestion.SWITCH and not await self.switch_scenario(
                wanted, fresh=True):
            return None
        task = self._run_flow(flow)
        return await task if task is not None else None

    def close_dialogs(self) -> None:
        for dialog in (self.question, self.dialog):
            if dialog is not None:
                with contextlib.suppress(RuntimeError):  # deleted with the window already
                    dialog.close()

    # --- demo work orders ----------------------------------------------------------------------

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
        audit = self.audit
        try:
            added = await asyncio.to_thread(
                lambda: add_demo_jobs(store_folder(self.context), audit))
        except SmgwctError as exc:
            log.warning("demo work orders not added: %s", exc)
            self.window.statusBar().showMessage(exc.describe(language()), 15000)
            return []
        await self.jobs.refresh()
        if added:
            self.window.statusBar().showMessage(
                self.tr("Demo work orders added to the job list: {jobs}").format(
                    jobs=", ".join(added)), 10000)
        return added
