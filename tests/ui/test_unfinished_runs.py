"""Tab "Fortsetzen": unfinished runs are listed and a chosen one is offered for resuming."""

from __future__ import annotations

from PySide6.QtCore import Qt

from app.store.db import JobStore
from tests.ui.conftest import SCREENSHOTS
from tests.ui.helpers import fake_flow, wait_until
from ui.views.unfinished_runs import UnfinishedRunsPanel


def _interrupted_store(tmp_path) -> JobStore:
    store = JobStore(tmp_path / "jobs.sqlite3")
    store.create_run("run-1", "fake_connection_test", {"job": {"job_id": "A-1"}})
    seq = store.start_step("run-1", "han")
    from app.store.db import StepState

    store.finish_step("run-1", seq, StepState.SUCCEEDED, next_step="gwa")
    store.start_step("run-1", "gwa")  # the program stopped here
    return store


def test_panel_lists_the_interrupted_run_and_requests_its_resume(qtbot, translations, run,
                                                                 tmp_path):
    store = _interrupted_store(tmp_path)
    flow = fake_flow()
    panel = UnfinishedRunsPanel(store, [flow])
    qtbot.addWidget(panel)
    try:
        runs = run(panel.refresh())
        assert [r.run_id for r in runs] == ["run-1"] and panel.interrupted() == runs
        row = [panel.list.topLevelItem(0).text(c) for c in range(5)]
        assert row[:4] == ["Verbindungstest", "A-1", "unterbrochen", "GWA erreichen"]
        assert panel.empty.isHidden()
        with qtbot.waitSignal(panel.resume_requested) as signal:
            qtbot.mouseClick(panel.resume_button, Qt.MouseButton.LeftButton)
        assert signal.args == [flow, "run-1"]
        panel.set_busy(True)
        assert not panel.resume_button.isEnabled() and not panel.resume_current()
        translations.apply("en")  # the panel translates itself when Qt delivers the change
        qtbot.waitUntil(lambda: panel.list.topLevelItem(0).text(2) == "interrupted")
    finally:
        store.close()


def test_panel_without_unfinished_runs_says_so(qtbot, translations, run, tmp_path):
    store = JobStore(tmp_path / "jobs.sqlite3")
    panel = UnfinishedRunsPanel(store, [fake_flow()], active_run=lambda: "run-1")
    qtbot.addWidget(panel)
    try:
        translations.apply("en")
        qtbot.waitUntil(lambda: panel.resume_button.text() == "Resume")
        assert run(panel.refresh()) == []
        assert not panel.empty.isHidden() and "No unfinished flows" in panel.empty.text()
        assert not panel.resume_button.isEnabled()
    finally:
        store.close()


def test_window_offers_the_interrupted_run_at_start_and_resumes_it(make_window, context, run,
                                                                    tmp_path, qtbot):
    """The program was stopped during the second step: the next start says so, "Fortsetzen"
    continues at that step (the first one is shown as done, not run again) and the run ends
    successfully; afterwards nothing is left to resume."""
    from app.store.db import StepState
    from ui.models.steps import StepStatus

    store = _interrupted_store(tmp_path / "db0")  # where make_window keeps the first engine
    store.close()
    window = make_window(context, flows=[fake_flow()])

    async def scenario():
        await window.interrupted_task
        box = window.resume_offer.box
        assert box is not None and "Verbindungstest" in box.text()
        assert "GWA erreichen" in box.text() and "A-1" in box.text()
        SCREENSHOTS.mkdir(exist_ok=True)
        window.grab().save(str(SCREENSHOTS / "resume-offer-window-de.png"))
        box.grab().save(str(SCREENSHOTS / "resume-offer-de.png"))
        resume = next(b for b in box.buttons() if b.text() == "Fortsetzen")
        qtbot.mouseClick(resume, Qt.MouseButton.LeftButton)
        await wait_until(lambda: window.bridge.task is not None)
        result = await window.bridge.task
        await wait_until(lambda: not window.unfinished.runs)
        return result

    result = run(scenario())
    assert result.succeeded and result.run_id == "run-1"
    rows = {row.key: row.status for row in window.step_view.model.rows}
    assert rows == {"han": StepStatus.SKIPPED, "gwa": StepStatus.SUCCEEDED}
    visits = window.engine.store.steps("run-1")
    assert [(v.step, v.state) for v in visits] == [
        ("han", StepState.SUCCEEDED), ("gwa", StepState.INTERRUPTED), ("gwa", StepState.SUCCEEDED)]
    assert window.unfinished.empty.isVisibleTo(window.unfinished)
