"""The "Aufträge" tab: import work orders, pick the current job, notes, seals, signed report."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import QApplication, QFileDialog, QInputDialog, QMessageBox

from app.errors import Text
from app.processes.engine import Flow, Step, StepContext, StepOutcome
from app.processes.flows.job_common import load_job
from app.report import verify_report
from app.resources import resource_path
from tests.ui.conftest import SCREENSHOTS
from tests.ui.helpers import clipped_widgets, wait_until
from ui.views.jobs import JobsPanel
from ui.views.main_window import DEFAULT_SIZE, JOBS_TOOL, MainWindow

DEMO_JOBS = resource_path("demo", "jobs")


def _panel(window: MainWindow) -> JobsPanel:
    return window.jobs


def _import(run: Any, window: MainWindow, path: Path) -> Any:
    return run(_panel(window).import_file(path))


def _start(run: Any, window: MainWindow, flow: Flow) -> Any:
    async def scenario() -> Any:
        return await window.start_flow(flow)

    return run(scenario())


def test_import_lists_the_job_and_makes_it_current(make_window, context, run):
    window = make_window(context)
    panel = _panel(window)
    run(panel.refresh())
    assert panel.list.topLevelItemCount() == 0
    assert panel.empty.isVisibleTo(panel)

    job = _import(run, window, DEMO_JOBS / "handover.json")
    assert job is not None and job.job_id == "DEMO-2025-0001"
    _import(run, window, DEMO_JOBS / "meter-change.xml")
    rows = [[panel.list.topLevelItem(i).text(c) for c in range(4)]
            for i in range(panel.list.topLevelItemCount())]
    assert ["DEMO-2025-0001", "Musterstraße 12, 12345 Musterstadt", "ETHE0390000001",
            "offen"] in rows
    assert len(rows) == 2
    # the last import is the current job, named above the flow list
    assert panel.current_job is not None
    assert window.flow_panel.job_label.text() == f"Für Auftrag {panel.current_job.job_id}"
    # the detail shows the planned flows
    planned = panel.detail.topLevelItem(1)
    assert planned.text(0).startswith("Geplante Abläufe")
    flows = [planned.child(i).text(1) for i in range(planned.childCount())]
    assert flows == ["Zähler wechseln"]  # in words, not the code "meter_change"


def test_import_dialog_is_not_modal_and_imports_the_chosen_file(make_window, context, run):
    window = make_window(context)
    dialog = _panel(window).open_import_dialog()
    assert isinstance(dialog, QFileDialog) and dialog.isVisible()
    assert not dialog.isModal() or dialog.windowModality().name != "ApplicationModal"
    dialog.fileSelected.emit(str(DEMO_JOBS / "handover.xml"))
    run(wait_until(lambda: _panel(window).current_job is not None))
    assert _panel(window).current_job.job_id == "DEMO-2025-0001"
    dialog.close()


def test_broken_job_file_shows_line_and_field(make_window, context, run, tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text((DEMO_JOBS / "handover.json").read_text(encoding="utf-8")
                      .replace('"ETHE0390000001"', '"XYZ"'), encoding="utf-8")
    assert json.loads(broken.read_text(encoding="utf-8"))["smgw_id"] == "XYZ"
    window = make_window(context)
    panel = _panel(window)
    assert _import(run, window, broken) is None
    box = panel.error_box
    assert isinstance(box, QMessageBox) and box.isVisible()
    assert "broken.json, Zeile 12, smgw_id" in box.text()
    assert panel.list.topLevelItemCount() == 0
    assert panel.current_job is None


async def _capture(ctx: StepContext) -> StepOutcome:
    seen.append(dict(ctx.data))
    return StepOutcome({}, Text("captured", "erfasst"))


seen: list[dict[str, Any]] = []
CAPTURE = Flow("capture_job", Text("Capture job", "Auftrag erfassen"),
               [Step("capture", Text("Capture", "Erfassen"), _capture),
                Step("load_job", Text("Load the job", "Auftrag laden"), load_job)])


def test_selected_job_is_passed_to_a_started_flow(make_window, context, run):
    seen.clear()
    window = make_window(context, [CAPTURE])
    job = _import(run, window, DEMO_JOBS / "meter-change.json")
    result = _start(run, window, CAPTURE)
    assert result.succeeded
    assert seen == [{"job": job.order.to_dict()}]
    # the job flow's first step attached the run to the job, through the panel's store
    run(_panel(window).refresh())
    run(wait_until(lambda: len(_panel(window).current_job.runs) == 1))
    assert _panel(window).current_job.runs[0].run_id == result.run_id
    # without a current job the flow gets no job data
    run(_panel(window).select(None))
    assert window.flow_panel.job_label.text() == "Kein Auftrag gewählt"
    result = _start(run, window, CAPTURE)
    assert seen[-1] == {}
    assert not result.succeeded  # a job flow without a work order stops and says so


def test_note_and_seal_dialogs_add_entries(make_window, context, run):
    window = make_window(context)
    panel = _panel(window)
    _import(run, window, DEMO_JOBS / "handover.json")
    run(wait_until(lambda: panel.current_job is not None))  # the import selects the new job
    dialog = panel.open_note_dialog()
    assert isinstance(dialog, QInputDialog)
    run(wait_until(dialog.isVisible))  # shown non-modally, without blocking the loop
    dialog.textValueSelected.emit("Zählerschrank verschlossen")
    run(wait_until(lambda: len(panel.current_job.notes) == 1))
    dialog.close()
    seal = panel.open_seal_dialog()
    seal.textValueSelected.emit("DE-4711")
    run(wait_until(lambda: len(panel.current_job.seals) == 1))
    seal.close()
    assert panel.current_job.notes[0].text == "Zählerschrank verschlossen"
    assert panel.current_job.seals[0].number == "DE-4711"
    # a bad seal number is refused with the field named
    assert run(panel.add_seal("  ")) is False
    run(wait_until(lambda: panel.error_box is not None))
    assert "Plombennummer" in panel.error_box.text()


def test_report_button_disabled_outside_demo(make_window, context, run):
    window = make_window(context, demo=False)
    panel = _panel(window)
    _import(run, window, DEMO_JOBS / "handover.json")
    assert not panel.report_button.isEnabled()
    assert "smgwct report build" in panel.report_button.toolTip()
    assert panel.build_report_later() is None


def test_build_report_for_job_verifies(make_window, context, run):
    window = make_window(context, demo=True)
    panel = _panel(window)
    _import(run, window, DEMO_JOBS / "handover.json")
    run(panel.add_seal("DE-123456"))
    assert panel.report_button.isEnabled()
    task = panel.build_report_later()
    assert task is not None
    outcome = run(task)
    assert outcome is not None and outcome.verification.ok, outcome.verification.reason
    assert outcome.verification.anchored  # checked against the demo PKI's root
    paths = outcome.paths
    job_folder = panel.current_job.folder
    for path in (paths.pdf, paths.xml, paths.signature):
        assert path.is_file() and job_folder in path.parents
    assert verify_report(paths.xml).ok
    assert "DE-123456" in paths.xml.read_text(encoding="utf-8")
    shown = panel.report_label.text()
    assert str(paths.pdf) in shown and "✔" in shown
    # a changed report no longer verifies
    copy = paths.xml.parent.parent / "tampered"
    shutil.copytree(paths.xml.parent, copy)
    (copy / paths.xml.name).write_bytes(
        paths.xml.read_bytes().replace(b"DE-123456", b"DE-654321"))
    assert not verify_report(copy / paths.xml.name).ok


@pytest.mark.parametrize("lang", ["de", "en"])
def test_jobs_screenshot_without_clipped_text(make_window, context, translations, run, lang):
    translations.apply(lang)
    window = make_window(context, [CAPTURE], demo=True)
    panel = _panel(window)
    _import(run, window, DEMO_JOBS / "meter-change.json")
    _import(run, window, DEMO_JOBS / "handover.json")
    run(panel.add_note("Schlüssel beim Hausmeister" if lang == "de" else "Key at the caretaker"))
    run(panel.add_seal("DE-123456"))
    _start(run, window, CAPTURE)
    run(wait_until(lambda: len(panel.current_job.runs) == 1))
    outcome = run(panel.build_report())
    assert outcome is not None and outcome.verification.ok
    window.workspace.show_tool(JOBS_TOOL)
    window.show()
    run(asyncio.sleep(0.1))
    QApplication.processEvents()
    assert window.size() == DEFAULT_SIZE
    SCREENSHOTS.mkdir(exist_ok=True)
    target = SCREENSHOTS / f"jobs-{lang}.png"
    assert window.grab().save(str(target))
    assert clipped_widgets(window) == []
    tab = window.workspace.tabText(window.workspace.indexOf(panel))
    assert tab == {"de": "Aufträge", "en": "Jobs"}[lang]
    assert panel.import_button.text() == {"de": "Importieren…", "en": "Import…"}[lang]
    assert panel.report_button.text() == {"de": "Protokoll erstellen",
                                          "en": "Build report"}[lang]


def test_the_job_picked_last_stays_current_while_the_list_refreshes(make_window, context, run):
    """A refresh that read the old current job must not bring it back after the technician
    picked another one (the demo's start-up import refreshes while the technician clicks)."""
    window = make_window(context)
    panel = _panel(window)
    _import(run, window, DEMO_JOBS / "handover.json")
    _import(run, window, DEMO_JOBS / "meter-change.json")
    run(panel.select("DEMO-2025-0001"))

    async def scenario() -> None:
        refresh = asyncio.ensure_future(panel.refresh())
        await asyncio.sleep(0)  # the refresh is reading the list
        picks = [asyncio.ensure_future(panel.select(job_id))
                 for job_id in ("DEMO-2025-0001", "DEMO-2025-0002")]
        await asyncio.gather(refresh, *picks)

    for _ in range(5):
        run(scenario())
        assert panel.current_job is not None and panel.current_job.job_id == "DEMO-2025-0002"
        assert window.flow_panel.job_label.text() == "Für Auftrag DEMO-2025-0002"
        run(panel.select("DEMO-2025-0001"))
