"""The job flows driven through the main window, as a technician runs them in demo mode.

For handover, pairing, meter change and device discovery: the embedded default starts on the
scenario the flow starts from (``app.sim.demo_site.FLOW_SCENARIOS``); the work order is imported in
the "Aufträge" tab and selected; the flow is picked in the flow list and started with the start
button; every question is answered in its non-modal prompt dialog (the answers of
``tests/fixtures/answers``). The steps must all end green, the flow's verdict view must come to
the front with its key line, and the job must list the run. Every page of the wizard (each prompt
over the window, the window at each step, the verdict) is saved in German and English to
``screenshots/wizards/<flow>/<lang>/`` and checked for clipped text. One failure on site goes the
same way: the pairing-refused scenario (FE 09 even after a Crypto-Reset) must be explained with
cause and next action in the verdict and the step view (``screenshots/wizards/pairing-refused``).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QPoint, Qt, QTimer
from PySide6.QtGui import QColor, QPainter, QPixmap
from PySide6.QtWidgets import QApplication, QWidget

from app.processes.events import Event, StepStarted
from app.processes.flows import registry
from app.resources import resource_path
from app.sim.demo_site import scenario_for_flow
from tests.ui.conftest import SCREENSHOTS
from tests.ui.helpers import answer_prompts, clipped_widgets, wait_until
from ui.views.main_window import JOBS_TOOL, MainWindow
from ui.views.verdicts import VerdictView
from ui.widgets.status import StepStatus

pytestmark = pytest.mark.timeout(60)

JOBS = resource_path("demo", "jobs")
ANSWERS = Path(__file__).resolve().parents[1] / "fixtures" / "answers"
WIZARDS = SCREENSHOTS / "wizards"
#: a whole flow through the window, prompts included (the headless runs take 1-5 s)
RUN_TIMEOUT = 40.0

SMGW = "ETHE0390000001"
HOUSEHOLD = "1EMH0012345678"
HEAT_PUMP = "1DZG0042123440"
SEAL = "DE-4711-0815"


def answers(name: str, **changes: Any) -> dict[str, Any]:
    """An answers file of ``tests/fixtures/answers`` (what the headless demo runs answer)."""
    return {**json.loads((ANSWERS / name).read_text("utf-8")), **changes}


def settle() -> None:
    """Let Qt finish its layout: a changed text asks for a new layout, and laying out one box can
    ask again for its parent's, so one round of events is not always enough."""
    for _ in range(3):
        QApplication.processEvents()


@dataclass
class Camera:
    """Saves the pages of one wizard run as ``NN-<what>.png`` and collects clipped texts."""

    folder: Path
    shots: list[str] = field(default_factory=list)
    clipped: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def for_run(cls, flow: str, lang: str) -> Camera:
        folder = WIZARDS / flow / lang
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("*.png"):
            old.unlink()
        return cls(folder)

    def _name(self, what: str) -> str:
        """The next file name, taken before Qt gets to run anything else (a picture whose
        layout settles may let the next page's picture be taken meanwhile)."""
        name = f"{len(self.shots) + 1:02d}-{re.sub(r'[^a-z0-9_-]+', '-', what.lower())}.png"
        self.shots.append(name)
        return name

    def _save(self, pixmap: QPixmap, name: str, widget: QWidget) -> str:
        assert pixmap.save(str(self.folder / name)), name
        if problems := clipped_widgets(widget):
            self.clipped[name] = problems
        return name

    def window(self, window: MainWindow, what: str) -> str:
        name = self._name(what)
        settle()
        return self._save(window.grab(), name, window)

    def widget(self, widget: QWidget, what: str) -> str:
        name = self._name(what)
        settle()
        return self._save(widget.grab(), name, widget)

    def prompt(self, window: MainWindow, dialog: QWidget, what: str) -> str:
        """The dialog as the technician sees it: in front of the window, which stays usable
        (the dialog is not modal). The offscreen platform has no window manager, so the dialog
        is drawn where one would place it: centred in the upper part, with a shadow."""
        name = self._name(what)
        settle()
        back = window.grab()
        front = dialog.grab()
        page = QPixmap(back.size())
        painter = QPainter(page)
        painter.drawPixmap(0, 0, back)
        at = QPoint((back.width() - front.width()) // 2, (back.height() - front.height()) // 3)
        painter.fillRect(front.rect().translated(at + QPoint(5, 5)), QColor(0, 0, 0, 80))
        painter.drawPixmap(at, front)
        painter.setPen(QColor("#5f6368"))
        painter.drawRect(front.rect().translated(at).adjusted(0, 0, -1, -1))
        painter.end()
        return self._save(page, name, dialog)


@dataclass
class Wizard:
    """One flow run through the window and what the technician saw on the way."""

    window: MainWindow
    result: Any
    camera: Camera
    dialogs: list[Any]
    started: list[str]
    #: the status each step's row showed the moment the step started
    running: dict[str, StepStatus]
    #: steps whose row was scrolled out of the step view while their question was open
    out_of_sight: list[str]
    seconds: float


def row_in_sight(window: MainWindow, step: str) -> bool:
    """Whether the step's row is within the visible part of the step table."""
    table = window.step_view.table
    row = next(i for i, r in enumerate(window.step_view.model.rows) if r.key == step)
    rect = table.visualRect(table.model().index(row, 1))
    return table.viewport().rect().contains(rect)


def select_flow(qtbot: Any, window: MainWindow, name: str) -> None:
    """Click the flow in the flow list, as the technician does."""
    panel = window.flow_panel
    row = next(i for i, f in enumerate(panel.model.flows) if f.name == name)
    index = panel.model.index(row)
    panel.list.scrollTo(index)
    qtbot.mouseClick(panel.list.viewport(), Qt.MouseButton.LeftButton,
                     pos=panel.list.visualRect(index).center())
    assert panel.current_flow().name == name


def import_job(run: Any, window: MainWindow, path: Path) -> str:
    """Import the work order file in the jobs panel; its job number.

    A demo window may add the demo work orders to the job list by itself when it opens: that is
    awaited first (a selection made meanwhile would not survive it), and a work order it added
    already is only picked, not imported twice.
    """
    opening = window.demo_control.jobs_task
    if opening is not None:
        run(asyncio.wait_for(opening, 10))
    job_id = json.loads(path.read_text("utf-8"))["job_id"]
    run(window.jobs.refresh())
    if any(summary.job_id == job_id for summary in window.jobs.jobs):
        return job_id
    imported = run(window.jobs.import_file(path))
    assert imported is not None and imported.job_id == job_id
    return job_id


def select_job(qtbot: Any, window: MainWindow, job_id: str) -> None:
    """Click the job in the "Aufträge" tab's list."""
    jobs = window.jobs
    window.workspace.show_tool(JOBS_TOOL)
    item = next(jobs.list.topLevelItem(i) for i in range(jobs.list.topLevelItemCount())
                if jobs.list.topLevelItem(i).text(0) == job_id)
    qtbot.mouseClick(jobs.list.viewport(), Qt.MouseButton.LeftButton,
                     pos=jobs.list.visualItemRect(item).center())


def drive(qtbot: Any, run: Any, make_window: Callable[..., MainWindow], translations: Any,
          embedded: Any, flow: str, job: str | None, given: dict[str, Any], lang: str,
          shots: str | None = None) -> Wizard:
    """Import and select ``job``, start ``flow`` from the flow list, answer every prompt with
    ``given`` and photograph each page (into ``wizards/<shots or flow>/<lang>``); returns when
    the run has ended.

    Everything that lets Qt process events happens inside ``run(...)``: the window's jobs panel
    starts asyncio tasks, which must only be stepped while the qasync loop runs.
    """
    translations.apply(lang)
    camera = Camera.for_run(shots or flow, lang)

    def open_window() -> MainWindow:
        window = make_window(embedded.context, flows=registry(), demo=True)
        window.show()
        return window

    window = in_loop(run, open_window)
    run(wait_until(window.isVisible))
    if job is not None:
        job_id = import_job(run, window, JOBS / job)
        select_job(qtbot, window, job_id)
        run(wait_until(lambda: window.jobs.current_job is not None
                       and window.jobs.current_job.job_id == job_id))
        in_loop(run, lambda: camera.window(window, "job"))
        assert window.flow_panel.job_label.text().endswith(job_id)
    window.workspace.show_steps()
    select_flow(qtbot, window, flow)
    in_loop(run, lambda: camera.window(window, "flow-selected"))

    started: list[str] = []
    running: dict[str, StepStatus] = {}

    def on_event(event: Event) -> None:
        if isinstance(event, StepStarted):
            started.append(event.step)
            # the window has applied the event already (connected first): the row runs now
            row = next(r for r in window.step_view.model.rows if r.key == event.step)
            running[event.step] = row.status
            # later, from the loop: the step view has drawn the new state by then
            QTimer.singleShot(0, window, lambda step=event.step: camera.window(
                window, f"step-{step}"))

    window.bridge.event.connect(on_event)
    out_of_sight: list[str] = []

    def before_answer(dialog: QWidget) -> None:
        step = started[-1] if started else "start"
        camera.prompt(window, dialog, f"prompt-{step}")
        if not row_in_sight(window, step):  # the technician sees which step asks
            out_of_sight.append(step)

    dialogs = answer_prompts(window, given, before=before_answer)

    async def scenario() -> tuple[Any, float]:
        qtbot.mouseClick(window.flow_panel.start_button, Qt.MouseButton.LeftButton)
        task = window.bridge.task
        assert task is not None, "the start button did not start the flow"
        began = time.monotonic()
        result = await asyncio.wait_for(task, RUN_TIMEOUT)
        seconds = time.monotonic() - began
        await wait_until(lambda: not window.bridge.running)
        await asyncio.sleep(0.05)
        camera.window(window, "verdict")
        view = window.workspace.currentWidget()
        if isinstance(view, VerdictView):  # the whole verdict, also what needs scrolling
            camera.widget(view.scroll.widget(), "verdict-full")
        return result, seconds

    result, seconds = run_long(scenario())
    return Wizard(window, result, camera, dialogs, started, running, out_of_sight, seconds)


def run_long(coro: Any) -> Any:
    """Like the ``run`` fixture (the test's qasync loop) but bounded by :data:`RUN_TIMEOUT`
    plus the pictures after it instead of 15 s."""
    loop = asyncio.get_event_loop()
    return loop.run_until_complete(asyncio.wait_for(coro, RUN_TIMEOUT + 10))


async def _later(fn: Callable[[], Any]) -> Any:
    await asyncio.sleep(0.02)
    return fn()


def in_loop(run: Any, fn: Callable[[], Any]) -> Any:
    """``fn()`` from inside the running qasync loop (see :func:`drive`)."""
    return run(_later(fn))


# --- what the technician notices ---------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """A flow as support runs it in demo mode (tests/e2e/test_demo_flows.py)."""

    flow: str
    job: str | None
    answers: str
    scenario: str = ""

    @property
    def start_scenario(self) -> str:
        return self.scenario or scenario_for_flow(self.flow)


CASES = {
    "handover": Case("handover", "handover.json", "handover.json"),
    "pairing": Case("pairing", "handover.json", "pairing.json"),
    "meter_change": Case("meter_change", "meter-change.json", "meter_change.json"),
    "discovery": Case("discovery", "handover.json", "trust-only.json"),
}


def run_case(qtbot: Any, run: Any, make_window: Any, translations: Any, demo_site: Any,
             case: Case, lang: str, shots: str | None = None) -> Wizard:
    embedded = demo_site(case.start_scenario)
    return drive(qtbot, run, make_window, translations, embedded, case.flow, case.job,
                 answers(case.answers), lang, shots=shots)


def statuses(window: MainWindow) -> list[StepStatus]:
    return [row.status for row in window.step_view.model.rows]


def flow_steps(name: str) -> list[str]:
    return [step.name for step in next(f for f in registry() if f.name == name).steps]


def verdict_of(window: MainWindow, flow: str) -> VerdictView:
    """The flow's verdict view, which must be the workspace's current tab."""
    view = window.workspace.result_view(flow)
    assert isinstance(view, VerdictView), f"no verdict view for {flow}"
    assert window.workspace.currentWidget() is view
    return view


def tree_texts(tree: Any) -> list[str]:
    """Every text of a QTreeWidget (sections and their rows)."""
    found = []
    for i in range(tree.topLevelItemCount()):
        top = tree.topLevelItem(i)
        found += [top.text(0), top.text(1)]
        for j in range(top.childCount()):
            found += [top.child(j).text(0), top.child(j).text(1)]
    return found


def job_after_run(qtbot: Any, run: Any, wizard: Wizard) -> Any:
    """The current job once the jobs panel has read it again after the run; its tab is
    clicked and photographed."""
    jobs = wizard.window.jobs
    run_id = wizard.result.run_id
    run(wait_until(lambda: jobs.current_job is not None
                   and any(r.run_id == run_id for r in jobs.current_job.runs)))
    assert any(run_id in t for t in tree_texts(jobs.detail)), "the run is not listed"
    window = wizard.window
    bar = window.workspace.tabBar()

    def show_jobs() -> None:
        qtbot.mouseClick(bar, Qt.MouseButton.LeftButton,
                         pos=bar.tabRect(window.workspace.indexOf(jobs)).center())
        assert window.workspace.currentWidget() is jobs

    in_loop(run, show_jobs)
    in_loop(run, lambda: wizard.camera.window(window, "job-after"))
    assert wizard.camera.clipped == {}, wizard.camera.clipped
    return jobs.current_job


def look_back(qtbot: Any, run: Any, wizard: Wizard, flow: str) -> None:
    """Click the step view's tab (every step's final state), then the verdict's tab again."""
    workspace = wizard.window.workspace
    bar = workspace.tabBar()

    def click(view: QWidget) -> None:
        qtbot.mouseClick(bar, Qt.MouseButton.LeftButton,
                         pos=bar.tabRect(workspace.indexOf(view)).center())
        assert workspace.currentWidget() is view

    in_loop(run, lambda: click(workspace.step_view))
    in_loop(run, lambda: wizard.camera.window(wizard.window, "steps-done"))
    in_loop(run, lambda: click(workspace.result_view(flow)))


def check_run(qtbot: Any, run: Any, wizard: Wizard, flow: str) -> VerdictView:
    """Every step green, every prompt photographed, the verdict in front, nothing clipped."""
    result = wizard.result
    assert result.succeeded, (result.failed_step, result.error)
    steps = flow_steps(flow)
    assert [row.key for row in wizard.window.step_view.model.rows] == steps
    assert statuses(wizard.window) == [StepStatus.SUCCEEDED] * len(steps)
    assert wizard.started == steps
    assert set(wizard.running.values()) == {StepStatus.RUNNING}, wizard.running
    assert wizard.window.flow_panel.start_button.isEnabled()
    view = verdict_of(wizard.window, flow)
    assert view.headline.text().startswith("✓")
    assert all(line.state == "ok" for line in view.lines)
    look_back(qtbot, run, wizard, flow)
    prompts = [s for s in wizard.camera.shots if "-prompt-" in s]
    assert len(prompts) == len(wizard.dialogs) >= 1
    assert wizard.out_of_sight == []
    assert wizard.camera.clipped == {}, "\n".join(
        f"{shot}: {p}" for shot, problems in wizard.camera.clipped.items() for p in problems)
    assert wizard.seconds < RUN_TIMEOUT / 2, f"{flow} took {wizard.seconds:.1f} s"
    return view


LANGS = pytest.mark.parametrize("lang", ["de", "en"])


@LANGS
def test_handover_through_the_window(qtbot, run, make_window, translations, demo_site, lang):
    wizard = run_case(qtbot, run, make_window, translations, demo_site, CASES["handover"], lang)
    view = check_run(qtbot, run, wizard, "handover")
    assert ("System im Normalbetrieb" if lang == "de" else "System in normal operation") \
        in view.headline.text()
    facts = dict(view.facts)
    assert facts["Gateway"] == SMGW
    state = facts["Betriebszustand" if lang == "de" else "Operating state"]
    if lang == "en":
        assert state == "delivery state → normal operation"
    else:  # "Auslieferungszustand → Normalbetrieb" once the catalogue has the words
        assert state != "delivery → normal" and "→" in state
    assert any(HOUSEHOLD in line.title for line in view.lines)
    assert any(HEAT_PUMP in line.title for line in view.lines)
    job_after_run(qtbot, run, wizard)


@LANGS
def test_pairing_through_the_window(qtbot, run, make_window, translations, demo_site, lang):
    wizard = run_case(qtbot, run, make_window, translations, demo_site, CASES["pairing"], lang)
    # the technician was asked which meter to pair and picked the household meter
    asked = [d.request.prompt.en for d in wizard.dialogs]
    assert "Which meter?" in asked
    view = check_run(qtbot, run, wizard, "pairing")
    assert HOUSEHOLD in view.headline.text() and SMGW in view.headline.text()
    facts = dict(view.facts)
    assert facts["Zähler" if lang == "de" else "Meter"] == HOUSEHOLD
    assert facts["Ergebnis" if lang == "de" else "Outcome"] == ("gepaart" if lang == "de"
                                                                else "paired")
    job_after_run(qtbot, run, wizard)


@LANGS
def test_meter_change_through_the_window(qtbot, run, make_window, translations, demo_site,
                                         lang):
    wizard = run_case(qtbot, run, make_window, translations, demo_site, CASES["meter_change"],
                      lang)
    asked = [d.request.prompt.en for d in wizard.dialogs]
    assert "Seal number (Plombennummer) removed from the old meter" in asked
    assert "New meter installed and read head attached?" in asked
    view = check_run(qtbot, run, wizard, "meter_change")
    assert HOUSEHOLD in view.headline.text() and HEAT_PUMP in view.headline.text()
    facts = dict(view.facts)
    assert facts["Alter Zähler" if lang == "de" else "Old meter"] == HOUSEHOLD
    assert facts["Neuer Zähler" if lang == "de" else "New meter"] == HEAT_PUMP
    assert facts["Plombe" if lang == "de" else "Seal"] == SEAL
    # both readings, register by register
    assert view.readings
    assert all(old not in ("", "–") and new not in ("", "–") for _, old, new in view.readings)
    job = job_after_run(qtbot, run, wizard)
    assert [s.number for s in job.seals] == [SEAL]
    # the old meter's final and the new meter's first reading are in the job
    assert {HOUSEHOLD, HEAT_PUMP} <= {r.server_id for r in job.readings}, job.readings
    shown = tree_texts(wizard.window.jobs.detail)
    assert any(SEAL in t for t in shown)
    assert any(HOUSEHOLD in t for t in shown) and any(HEAT_PUMP in t for t in shown)


@LANGS
def test_discovery_through_the_window(qtbot, run, make_window, translations, demo_site, lang):
    wizard = run_case(qtbot, run, make_window, translations, demo_site, CASES["discovery"],
                      lang)
    view = check_run(qtbot, run, wizard, "discovery")
    assert SMGW in view.headline.text()
    facts = dict(view.facts)
    gateway = embedded_han(wizard)
    assert gateway in facts["Gefundene Gateways" if lang == "de" else "Gateways found"]
    assert facts["Identitätsprüfung" if lang == "de" else "Identity check"].count(SMGW) == 2
    job_after_run(qtbot, run, wizard)


def embedded_han(wizard: Wizard) -> str:
    han = wizard.window.context.han
    assert han is not None
    return f"{han.host}:{han.port}"


# --- a failure on site --------------------------------------------------------------------------


@LANGS
def test_pairing_refused_is_explained_in_the_window(qtbot, run, make_window, translations,
                                                    demo_site, lang):
    """pairing-refused: the meter answers FE 09, the technician accepts the offered Crypto-Reset,
    the meter refuses again - the window names the cause and the next action."""
    case = Case("pairing", "handover.json", "pairing.json", scenario="pairing-refused")
    wizard = run_case(qtbot, run, make_window, translations, demo_site, case, lang,
                      shots="pairing-refused")
    result = wizard.result
    assert result.outcome == "failed" and result.failed_step == "pairing", result.error
    asked = [d.request.prompt.en for d in wizard.dialogs]
    assert any("FE 09" in a for a in asked), asked  # the Crypto-Reset was offered
    window = wizard.window
    steps = flow_steps("pairing")
    failed_at = steps.index("pairing")
    assert statuses(window)[:failed_at] == [StepStatus.SUCCEEDED] * failed_at
    assert statuses(window)[failed_at] is StepStatus.FAILED
    assert all(s is StepStatus.PENDING for s in statuses(window)[failed_at + 1:])
    key_material = "Schlüsselmaterial" if lang == "de" else "key material"
    # the verdict view comes to the front with the explanation
    view = verdict_of(window, "pairing")
    assert view.headline.text().startswith("✗")
    assert "FE 09" in view.error_text.text()
    assert key_material in view.hint_text.text() and "Crypto-Reset" in view.hint_text.text()
    assert view.hint_title.text() == ("Wahrscheinliche Ursache und nächster Schritt"
                                      if lang == "de" else "Likely cause and next action")
    facts = dict(view.facts)
    assert facts["Ergebnis" if lang == "de" else "Outcome"] == (
        "nicht gepaart" if lang == "de" else "not paired")
    # the technician accepted the Crypto-Reset after FE 09: "not requested" would be wrong
    assert facts.get("Crypto-Reset") not in ("nicht gewünscht", "not requested")
    # ... and the step view says the same under the failed step
    look_back(qtbot, run, wizard, "pairing")
    assert "FE 09" in window.step_view.error_text.text()
    assert key_material in window.step_view.hint_text.text()
    assert wizard.camera.clipped == {}
    job_after_run(qtbot, run, wizard)
