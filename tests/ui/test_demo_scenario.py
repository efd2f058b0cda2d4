"""Demo menu "Szenario wechseln…", the scenario question before a flow, the demo work orders.

The windows here work on the demo environment as ``smgwct demo`` starts it
(``app.cli.demo.demo_context_factory``: simulators in their own thread, the data folder from
``SMGWCT_DATA_DIR``, which the tests point at a folder of their own).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QMessageBox

from app.cli.demo import demo_context_factory
from app.context import AppContext, Link, LinkState
from app.errors import Text
from app.processes.engine import Flow, Step, StepContext, StepOutcome
from app.processes.events import StepSucceeded
from tests.ui.conftest import SCREENSHOTS
from tests.ui.helpers import answer_prompts, clipped_widgets, wait_until
from ui.views.demo_scenario import DemoScenarioDialog, FlowScenarioQuestion
from ui.views.main_window import MainWindow

HANDOVER_JOB = "DEMO-2025-0001"


@pytest.fixture
def demo_app(run: Any) -> Iterator[Callable[..., AppContext]]:
    """``demo_app(scenario)``: the context of a started demo environment (threaded); whatever
    the context runs at the end (after switches) is stopped."""
    contexts: list[AppContext] = []

    def start(scenario: str = "default", **kwargs: Any) -> AppContext:
        context = run(demo_context_factory(scenario, **kwargs)(None))
        contexts.append(context)
        return context

    yield start
    for context in contexts:
        if context.demo is not None:
            run(context.demo.stop())


def _slow_step(seconds: float) -> Callable[[StepContext], Any]:
    async def step(ctx: StepContext) -> StepOutcome:
        await asyncio.sleep(seconds)
        return StepOutcome({"scenario": getattr(ctx.services.demo, "scenario_name", None)},
                           Text("done", "erledigt"))

    return step


def fake_flow(name: str, seconds: float = 0.0) -> Flow:
    """A quick flow under a real flow's name (the question follows the name)."""
    return Flow(name, Text(f"Fake {name}", f"Fake {name}"),
                [Step("one", Text("One", "Eins"), _slow_step(seconds))])


def _run_flow(run: Any, window: MainWindow, flow: Any) -> Any:
    """Start ``flow`` as the flow list's button does and wait for its end (one loop run:
    qasync steps tasks outside the loop when ``run_until_complete`` ends)."""

    async def scenario() -> Any:
        task = window.start_flow(flow)
        return await task if task is not None else None

    return run(scenario())


async def _question(window: MainWindow) -> FlowScenarioQuestion:
    await wait_until(lambda: window.demo_control.question is not None
                     and window.demo_control.question.isVisible())
    question = window.demo_control.question
    assert question is not None
    return question


def _rows(window: MainWindow) -> list[str]:
    panel = window.jobs
    return [panel.list.topLevelItem(i).text(0) for i in range(panel.list.topLevelItemCount())]


def test_switch_from_the_menu_follows_the_new_gateway(make_window, translations, demo_app, run):
    translations.apply("en")
    context = demo_app()
    old_demo, old_han = context.demo, context.han
    from app.processes.flows import registry
    from app.processes.flows.technical_data import TECHNICAL_DATA

    window = make_window(context, registry(), demo=True)
    window.show()
    assert window.demo_control.menu.menuAction().isVisible()
    assert window.demo_badge.text() == "DEMO · default"
    assert "[DEMO · default]" in window.windowTitle()
    assert window.demo_control.menu.title() == "&Demo"

    window.demo_control.switch_action.trigger()
    dialog = window.demo_control.dialog
    assert isinstance(dialog, DemoScenarioDialog) and dialog.isVisible() and not dialog.isModal()
    rows = {dialog.list.topLevelItem(i).data(0, Qt.ItemDataRole.UserRole):
            dialog.list.topLevelItem(i)
            for i in range(dialog.list.topLevelItemCount())}
    assert {"default", "delivery", "meter-change", "gwa-outage"} <= set(rows)
    assert rows["default"].text(0) == "default (running)" and rows["default"].font(0).bold()
    assert rows["delivery"].text(1) == "CONEXA 3.0 in delivery state (Gütesiegel)"
    assert dialog.selected().name == "default"
    dialog.list.setCurrentItem(rows["delivery"])
    assert "Gütesiegel WAN certificates" in dialog.description.text()
    assert dialog.fresh.text() == "Start from the initial state"
    dialog.ok_button.click()

    demo = window.demo_control
    run(wait_until(lambda: demo.scenario == "delivery" and not demo.switching, timeout=10))
    assert window.context is context and context.demo is not old_demo
    assert context.han.port != old_han.port
    assert window.connections.cards[Link.HAN].target.text() == \
        f"{context.han.host}:{context.han.port}"
    assert window.connections.cards[Link.GWA].target.text() == context.gwa.base_url
    assert window.optical_view.port == context.optical.port
    assert all(s.state is LinkState.UNKNOWN for s in context.links())
    assert window.demo_badge.text() == "DEMO · delivery"
    assert "[DEMO · delivery]" in window.windowTitle()
    assert "delivery state" in window.demo_badge.toolTip()
    assert window.flow_panel.isEnabled() and window.demo_control.switch_action.isEnabled()
    assert window.statusBar().currentMessage().startswith("Demo scenario 'delivery' is running")
    assert window.demo_control.dialog is None or not window.demo_control.dialog.isVisible()
    QApplication.processEvents()
    SCREENSHOTS.mkdir(exist_ok=True)
    assert window.grab().save(str(SCREENSHOTS / "main-window-demo-delivery-en.png"))
    assert [p for p in clipped_widgets(window) if "demo-badge" in p or "run-state" in p] == []

    # a flow started now talks to the new gateway
    answer_prompts(window)

    async def scenario() -> Any:
        return await window.start_flow(TECHNICAL_DATA)

    result = run(scenario())
    assert result.succeeded, result.error
    assert context.link(Link.HAN).state is LinkState.CONNECTED
    assert window.connections.cards[Link.HAN].badge.property("state") == "connected"


def test_handover_under_default_asks_and_switch_then_runs(make_window, translations, demo_app,
                                                          run):
    translations.apply("en")
    context = demo_app()
    from app.processes.flows import registry
    from app.processes.flows.handover import HANDOVER

    window = make_window(context, registry(), demo=True)
    window.show()
    run(window.demo_control.jobs_task)
    run(window.jobs.select(HANDOVER_JOB))
    answer_prompts(window)
    first_steps: list[str] = []
    window.bridge.event.connect(
        lambda e: first_steps.append(e.step) if isinstance(e, StepSucceeded) else None)

    began = time.monotonic()

    async def scenario() -> Any:
        task = window.start_flow(HANDOVER)
        assert task is not None
        question = await _question(window)
        assert not question.isModal()
        body = question.text()
        assert "“Transfer into normal operation” finds the demo gateway as: Theben CONEXA 3.0 " \
               "in normal operation (scenario 'default')" in body
        assert "CONEXA 3.0 in delivery state (Gütesiegel) (scenario 'delivery')" in body
        assert body.endswith("Switch to the scenario 'delivery'?")
        assert [b.text() for b in (question.switch_button, question.run_button)] == \
            ["Switch", "Run anyway"]
        assert not window.bridge.running  # nothing runs before the answer
        question.switch_button.click()
        # switched first (from the initial state), then the handover runs against delivery
        await wait_until(lambda: window.bridge.running, timeout=10)
        assert window.demo_control.scenario == "delivery"
        assert window.demo_badge.text() == "DEMO · delivery"
        return await task

    outcome = run(scenario())  # the whole handover takes about 2 s against the demo
    assert outcome.succeeded, outcome.error
    assert first_steps == [step.name for step in HANDOVER.steps]
    handover = outcome.results["handover"].data
    assert (handover["state_before"], handover["state_after"]) == ("delivery", "normal")
    assert time.monotonic() - began < 12


def test_question_cancel_and_run_anyway(make_window, translations, demo_app, run):
    translations.apply("en")
    context = demo_app()
    window = make_window(context, [fake_flow("meter_change"), fake_flow("technical_data")],
                         demo=True)
    window.show()

    async def scenario() -> list[Any]:
        # a flow without a usual start scenario just runs
        results = [await window.start_flow(fake_flow("technical_data"))]
        assert window.demo_control.question is None
        task = window.start_flow(fake_flow("meter_change"))
        question = await _question(window)
        assert "(scenario 'meter-change')" in question.text()
        assert window.start_flow(fake_flow("meter_change")) is None  # one question at a time
        question.cancel_button.click()
        results.append(await task)
        assert not window.bridge.running and window.demo_control.scenario == "default"
        task = window.start_flow(fake_flow("meter_change"))
        (await _question(window)).run_button.click()
        results.append(await task)
        return results

    plain, cancelled, anyway = run(scenario())
    assert plain.succeeded and cancelled is None
    assert anyway.succeeded and anyway.results["one"].data["scenario"] == "default"
    assert window.demo_control.scenario == "default"


def test_no_question_without_a_usual_scenario_or_outside_the_demo(make_window, context,
                                                                  translations, demo_app, run):
    translations.apply("en")
    window = make_window(context, [fake_flow("handover")], demo=True)  # no embedded default
    assert _run_flow(run, window, fake_flow("handover")) is not None
    assert window.demo_control.question is None
    faults = demo_app("gwa-outage")  # chosen on purpose for the handover: no question
    window2 = make_window(faults, [fake_flow("handover")], demo=True)
    result = _run_flow(run, window2, fake_flow("handover"))
    assert result.succeeded and window2.demo_control.question is None
    assert window2.demo_badge.text() == "DEMO · gwa-outage"


def test_demo_jobs_are_added_once(make_window, translations, demo_app, run):
    context = demo_app()
    window = make_window(context, [], demo=True)
    added = run(window.demo_control.jobs_task)
    assert added == ["DEMO-2025-0001", "DEMO-2025-0002"]
    assert sorted(_rows(window)) == ["DEMO-2025-0001", "DEMO-2025-0002"]
    assert window.jobs.current_job is None  # the technician picks one
    assert window.jobs.error_box is None
    run(window.shutdown())

    # a second start over the same data folder: nothing is added again
    again = make_window(context, [], demo=True)
    assert run(again.demo_control.jobs_task) == []
    run(again.jobs.refresh())
    assert sorted(_rows(again)) == ["DEMO-2025-0001", "DEMO-2025-0002"]
    assert again.jobs.error_box is None


def test_a_failing_switch_is_shown_and_the_window_keeps_working(make_window, translations,
                                                                 demo_app, run):
    translations.apply("en")
    context = demo_app()
    demo, han = context.demo, context.han
    window = make_window(context, [fake_flow("technical_data")], demo=True)
    window.show()
    assert run(window.demo_control.switch_scenario("no-such-scenario")) is False
    box = window.demo_control.error_box
    assert box is not None and box.isVisible() and box.objectName() == "demo-switch-error"
    assert "no-such-scenario" in box.text() and "The scenario 'default' keeps running." \
        in box.text()
    assert context.demo is demo and context.han is han and demo.running
    assert window.demo_badge.text() == "DEMO · default"
    assert window.flow_panel.isEnabled() and window.demo_control.switch_action.isEnabled()
    box.close()
    # still usable: a flow runs, a proper switch works
    assert _run_flow(run, window, fake_flow("technical_data")).succeeded

    async def switch() -> bool:
        task = window.demo_control.switch_scenario_later("meter-change")
        assert task is not None
        await wait_until(lambda: window.demo_control.switching)
        # locked while it switches: flow list, menu entry, a second switch
        assert not window.flow_panel.isEnabled()
        assert not window.demo_control.switch_action.isEnabled()
        assert window.start_flow(fake_flow("technical_data")) is None
        assert window.run_label.text() == "Switching the demo scenario…"
        return await task

    assert run(switch()) is True
    assert window.demo_control.scenario == "meter-change" and window.flow_panel.isEnabled()


def test_switch_is_refused_while_a_flow_runs(make_window, translations, demo_app, run):
    translations.apply("en")
    context = demo_app()
    slow = fake_flow("technical_data", seconds=0.5)
    window = make_window(context, [slow], demo=True)
    window.show()
    dialog = window.demo_control.open_dialog()
    assert dialog.ok_button.isEnabled() and not dialog.blocked.isVisible()

    async def scenario() -> Any:
        task = window.start_flow(slow)
        assert not await window.demo_control.switch_scenario("delivery")
        assert dialog.blocked.isVisible() and not dialog.ok_button.isEnabled()
        assert "A flow is running" in dialog.blocked.text()
        return await task

    assert run(scenario()).succeeded
    refused = [w for w in window.findChildren(QMessageBox)
               if w.objectName() == "demo-switch-refused"]
    assert refused and "A flow is running" in refused[0].text()
    assert window.demo_control.scenario == "default"
    assert dialog.ok_button.isEnabled()  # enabled again after the run
    # picking the running scenario again without "initial state" changes nothing
    assert window.demo_control.switch_scenario_later("default") is None
    assert "running already" in window.statusBar().currentMessage()


@pytest.mark.parametrize("lang", ["de", "en"])
def test_dialog_and_question_screenshots(make_window, translations, demo_app, run, lang):
    translations.apply(lang)
    context = demo_app()
    window = make_window(context, [fake_flow("handover")], demo=True)
    window.show()
    dialog = window.demo_control.open_dialog()
    dialog.list.setCurrentItem(dialog.list.topLevelItem(1))  # delivery
    run(asyncio.sleep(0.1))
    QApplication.processEvents()
    SCREENSHOTS.mkdir(exist_ok=True)
    assert dialog.grab().save(str(SCREENSHOTS / f"demo-scenario-{lang}.png"))
    assert clipped_widgets(dialog) == []
    title = {"de": "CONEXA 3.0 im Auslieferungszustand (Gütesiegel)",
             "en": "CONEXA 3.0 in delivery state (Gütesiegel)"}[lang]
    assert dialog.list.topLevelItem(1).text(1) == title
    dialog.close()

    async def scenario() -> Any:
        task = window.start_flow(fake_flow("handover"))
        question = await _question(window)
        assert title in question.text()
        await asyncio.sleep(0.1)
        QApplication.processEvents()
        assert question.grab().save(str(SCREENSHOTS / f"demo-flow-question-{lang}.png"))
        question.cancel_button.click()
        return await task

    assert run(scenario()) is None
