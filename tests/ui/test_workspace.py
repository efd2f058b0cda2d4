"""The work area of the main window against the embedded default: flows run through the GUI show
their result views, the optical tool reads the demo meter and drives the optical link card.

Screenshots ``screenshots/main-technical-{de,en}.png``, ``main-logs-{de,en}.png``,
``main-optical-{de,en}.png`` and ``trust-{de,en}.png`` are written for a human to look at.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QFontInfo
from PySide6.QtWidgets import QApplication, QLabel, QWidget

from app.context import AppContext, HanTarget, Link, LinkState
from app.processes.engine import Flow, Step, StepContext, StepOutcome
from app.processes.flows import registry
from app.processes.flows.logs import LOGS
from app.processes.flows.technical_data import TECHNICAL_DATA
from app.transports.han.base import LogKind
from tests.ui.conftest import SCREENSHOTS
from tests.ui.helpers import answer_prompts, clipped_widgets, fake_flow, wait_until
from ui.views.han_logs_view import PAGE_SIZE, HanLogsView
from ui.views.han_technical_view import HanTechnicalView
from ui.views.optical_view import OpticalReadView
from ui.views.prompt import PromptDialog
from ui.views.results import BUILTIN, register_result_view, result_view_for


def shoot(widget: QWidget, name: str, *, settle: bool = True) -> None:
    if settle:
        QApplication.processEvents()
    SCREENSHOTS.mkdir(exist_ok=True)
    target = SCREENSHOTS / name
    assert widget.grab().save(str(target))
    assert target.stat().st_size > 10_000


def until(run, condition, timeout: float = 10.0) -> None:
    async def wait() -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            assert time.monotonic() < deadline, "condition not met in time"
            await asyncio.sleep(0.03)

    run(wait())


def run_in_window(run, window, flow) -> Any:
    async def scenario():
        task = window.start_flow(flow)
        assert task is not None
        return await task

    return run(scenario())


def check_trust_dialog(dialog: PromptDialog, lang: str, han_sha256: str) -> None:
    """The trust question on first contact: subject and a monospaced, complete fingerprint."""
    if dialog.request.kind != "confirm" or dialog.fingerprint is None:
        return
    shown = dialog.fingerprint.text()
    assert len(shown.splitlines()) == 2
    assert shown.replace(":", "").replace("\n", "").lower() == han_sha256
    assert QFontInfo(dialog.fingerprint.font()).fixedPitch()
    values = [w.text() for w in dialog.fields.findChildren(QLabel)]
    assert ("Inhaber:" if lang == "de" else "Subject:") in values
    assert any("CN=" in v for v in values)
    assert clipped_widgets(dialog) == []
    shoot(dialog, f"trust-{lang}.png", settle=False)


# --- the registry ---------------------------------------------------------------------------------


def test_registry_knows_the_han_views_and_takes_new_ones(make_window, context, run):
    assert set(BUILTIN) >= {"technical_data", "logs"}
    assert isinstance(result_view_for("technical_data")(None), HanTechnicalView)
    assert result_view_for("no_such_flow") is None

    class Verdict(QLabel):
        def __init__(self, parent=None):
            super().__init__(parent)
            self.title = QLabel("Verdict", self)
            self.runs: list[Any] = []

        def show_result(self, result):
            self.runs.append(result)
            self.setText(f"{result.flow}: {result.outcome}")

    undo = register_result_view("fake_connection_test", Verdict, on_failure=True)
    try:
        window = make_window(context, [fake_flow()])
        window.show()
        assert run_in_window(run, window, fake_flow()).succeeded
        view = window.workspace.result_view("fake_connection_test")
        assert isinstance(view, Verdict) and view.text() == "fake_connection_test: succeeded"
        assert window.workspace.currentWidget() is view
        assert window.workspace.tabText(window.workspace.indexOf(view)) == "Verdict"
        # a failed run: the verdict view is reused and shows it too (on_failure=True)
        assert run_in_window(run, window, fake_flow(fail=True)).outcome == "failed"
        assert window.workspace.result_view("fake_connection_test") is view
        assert len(view.runs) == 2 and view.text().endswith("failed")
        # steps, optical tool, jobs, unfinished runs, one verdict
        assert window.workspace.count() == 5
    finally:
        undo()
    assert result_view_for("fake_connection_test") is None


def test_a_failed_run_does_not_open_a_plain_result_view(make_window, context, run):
    async def broken(ctx: StepContext) -> StepOutcome:
        raise RuntimeError("boom")

    flow = Flow("technical_data", TECHNICAL_DATA.title, [Step("read", TECHNICAL_DATA.title,
                                                               broken)])
    window = make_window(context, [flow])
    window.show()
    result = run_in_window(run, window, flow)
    assert result is None or not result.succeeded
    assert window.workspace.result_view("technical_data") is None
    assert window.workspace.currentWidget() is window.step_view


# --- HAN flows through the GUI --------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["de", "en"])
def test_technical_data_flow_shows_the_gateways_data(make_window, translations, run, demo,
                                                     lang):
    translations.apply(lang)
    window = make_window(demo.context, registry(), demo=True)
    window.show()
    han_sha256 = demo.pki["han"].sha256
    seen = answer_prompts(window, before=lambda d: check_trust_dialog(d, lang, han_sha256))
    result = run_in_window(run, window, TECHNICAL_DATA)
    assert result.succeeded, result.error
    assert [d.request.prompt.en for d in seen] == ["Trust this gateway certificate?"]
    assert seen[0].fingerprint is not None  # the trust question showed the fingerprint block

    view = window.workspace.currentWidget()
    assert isinstance(view, HanTechnicalView)
    smgw_id = demo.context.han.smgw_id
    assert smgw_id and view.smgw_id.text() == smgw_id == result.results["read"].data["smgw_id"]
    title = {"de": "Technische Gerätedaten", "en": "Technical data of the gateway"}[lang]
    assert window.workspace.tabText(window.workspace.currentIndex()) == title
    assert view.certificates.rowCount() >= 1 and view.firmware.rowCount() >= 1
    card = window.connections.cards[Link.HAN]
    assert card.badge.property("state") == "connected" and card.peer.text() == smgw_id
    QApplication.processEvents()
    assert clipped_widgets(window) == []
    shoot(window, f"main-technical-{lang}.png")

    # the tabs follow a language switch
    other = "en" if lang == "de" else "de"
    window.set_language(other)
    QApplication.processEvents()
    QApplication.processEvents()
    titles = {"de": ["Ablauf", "Zähler optisch auslesen", "Aufträge",
                     "Nicht abgeschlossene Abläufe", "Technische Gerätedaten"],
              "en": ["Flow", "Read meter optically", "Jobs", "Unfinished flows",
                     "Technical data of the gateway"]}
    tabs = window.workspace
    assert [tabs.tabText(i) for i in range(tabs.count())] == titles[other]
    window.set_language(lang)

    # back to the steps when the next flow starts; the result tab is reused afterwards
    async def again():
        task = window.start_flow(TECHNICAL_DATA)
        assert window.workspace.currentWidget() is window.step_view
        return await task

    assert run(again()).succeeded
    assert window.workspace.result_view("technical_data") is view
    assert window.workspace.currentWidget() is view


@pytest.mark.parametrize("lang", ["de", "en"])
def test_logs_flow_shows_the_entries(make_window, translations, run, demo, tmp_path, lang):
    translations.apply(lang)
    window = make_window(demo.context, registry(), demo=True)
    window.show()
    seen = answer_prompts(window, {"Which log should be read?": "both"})
    result = run_in_window(run, window, LOGS)
    assert result.succeeded, result.error
    asked = [d.request.prompt.en for d in seen]
    assert asked[:2] == ["Trust this gateway certificate?", "Which log should be read?"]

    view = window.workspace.currentWidget()
    assert isinstance(view, HanLogsView)
    total = result.results["system"].data["count"]
    assert view.kind is LogKind.SYSTEM and len(view.entries) == total > PAGE_SIZE
    first = view.entries[0]
    model = view.model
    assert model.rowCount() == PAGE_SIZE
    assert model.index(0, 0).data() == str(first.index)
    assert model.index(0, 5).data() == first.message
    assert demo.context.han.smgw_id in view.status.text()
    view.set_kind(LogKind.CONSUMER)
    assert view.entries and result.results["consumer"].data["count"] == len(view.entries)
    view.set_kind(LogKind.SYSTEM)
    title = {"de": "Logs des Gateways", "en": "Gateway logs"}[lang]
    assert window.workspace.tabText(window.workspace.currentIndex()) == title
    QApplication.processEvents()
    assert clipped_widgets(window) == []
    shoot(window, f"main-logs-{lang}.png")

    # export through the save dialog (opened without a nested event loop)
    target = tmp_path / f"log-{lang}.csv"
    view.csv_button.click()
    dialog = view.save_dialog
    assert dialog is not None and dialog.isVisible()
    dialog.selectFile(str(target))
    dialog.accept()
    run(wait_until(lambda: target.exists() and str(target) in view.status.text()))
    assert view.save_dialog is None


# --- the optical tool ---------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["de", "en"])
def test_optical_tool_reads_the_demo_meter_and_drives_the_card(make_window, translations, run,
                                                               demo, qtbot, lang):
    translations.apply(lang)
    window = make_window(demo.context, registry(), demo=True)
    window.show()
    view = window.optical_view
    assert isinstance(view, OpticalReadView)
    assert view.port == demo.context.optical.port  # the demo meter is the default port
    window.optical_action.trigger()
    assert window.workspace.currentWidget() is view
    title = {"de": "Zähler optisch auslesen", "en": "Read meter optically"}[lang]
    assert window.workspace.tabText(window.workspace.currentIndex()) == title

    card = window.connections.cards[Link.OPTICAL]
    qtbot.mouseClick(view.start_button, Qt.MouseButton.LeftButton)
    assert card.badge.property("state") == "connecting"
    until(run, lambda: card.badge.property("state") == "connected")
    snapshot = view.snapshot
    assert snapshot is not None and snapshot.identity.server_id is not None
    sid = snapshot.identity.server_id.display
    assert card.peer.text().startswith(sid)
    assert view.server_id_text.text() == sid
    assert card.target.text() == demo.context.optical.port
    until(run, lambda: view.registers.rowCount() > 0)
    QApplication.processEvents()
    assert clipped_widgets(window) == []
    shoot(window, f"main-optical-{lang}.png")

    view.stop_button.click()
    run(view.wait_stopped())
    assert not view.running
    assert card.badge.property("state") == "connected"  # the meter was read; it stays shown


def test_optical_failure_shows_on_the_card_and_no_port_is_explained(make_window, run,
                                                                   tmp_path, monkeypatch):
    monkeypatch.setattr("ui.views.optical_view.list_ports", lambda: [])
    context = AppContext(han=HanTarget("192.0.2.10", 443), data_dir=tmp_path)
    window = make_window(context, [])
    view = window.optical_view
    assert view.port == ""
    assert view.hint.text().startswith("Für den Lesekopf ist kein Anschluss eingerichtet.")
    view.set_port("socket://127.0.0.1:1")
    view.start()
    run(view.wait_stopped())
    card = window.connections.cards[Link.OPTICAL]
    assert context.link(Link.OPTICAL).state is LinkState.FAILED
    assert card.badge.property("state") == "failed"
    assert "socket://127.0.0.1:1" in card.error.text()
    assert context.optical is not None and context.optical.port == "socket://127.0.0.1:1"


def test_closing_the_window_stops_the_optical_reading(make_window, run, demo, translations):
    window = make_window(demo.context, [], demo=True)
    window.show()
    window.optical_view.start()
    until(run, lambda: window.optical_view.snapshot is not None)
    window.close()
    run(window.shutdown())
    assert not window.optical_view.running
