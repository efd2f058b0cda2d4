"""The main window: languages, flows through the bridge, prompts, connection panel, settings."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import shiboken6
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QMessageBox

from app.context import Link, LinkState
from app.errors import InvalidValue, Text
from app.processes.engine import Flow, Step, StepContext, StepOutcome
from app.processes.events import FlowFinished, StepFailed, StepSucceeded
from app.store.settings import SettingsStore
from tests.ui.helpers import GWA_HINT, GWA_REFUSED, fake_flow, wait_until
from ui.bridge import QtUserInteraction
from ui.views.prompt import PromptDialog
from ui.widgets.status import StepStatus

# --- building, languages ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lang", "flows_title", "start", "menu", "state"),
    [
        ("de", "Abläufe", "Ablauf starten", "&Sprache", "Nicht geprüft"),
        ("en", "Flows", "Start flow", "&Language", "Not checked"),
    ],
)
def test_main_window_builds_in_both_languages(
    make_window, context, translations, lang, flows_title, start, menu, state
):
    translations.apply(lang)
    window = make_window(context, [fake_flow()])
    window.show()
    assert window.flow_panel.title.text() == flows_title
    assert window.flow_panel.start_button.text() == start
    assert window.language_menu.title() == menu
    assert window.connections.cards[Link.HAN].badge.text() == state
    # the flow's own title follows the language too
    expected = "Verbindungstest" if lang == "de" else "Connection test"
    assert window.flow_panel.model.data(window.flow_panel.model.index(0)) == expected
    assert window.size().width() >= 1280 and window.size().height() >= 800


def test_language_switch_applies_live_and_is_saved(make_window, context, tmp_path):
    store = SettingsStore(tmp_path / "settings.json")
    window = make_window(context, [fake_flow()], settings_store=store, loaded=store.load())
    window.show()
    assert window.step_view.cancel_button.text() == "Abbrechen"
    window.language_actions["en"].trigger()
    QApplication.processEvents()
    assert window.step_view.cancel_button.text() == "Cancel"
    assert window.flow_panel.title.text() == "Flows"
    assert window.language_actions["en"].isChecked()
    assert window.step_view.model.headerData(1, Qt.Orientation.Horizontal) == "Step"
    assert store.load().settings.language == "en"
    window.language_actions["de"].trigger()
    QApplication.processEvents()
    assert window.flow_panel.title.text() == "Abläufe"
    assert store.load().settings.language == "de"


# --- flows through the bridge -------------------------------------------------------------------


def test_successful_flow_shows_every_step_green(make_window, context, run, qtbot):
    window = make_window(context, [fake_flow()])
    window.show()
    seen = []
    window.bridge.event.connect(seen.append)

    async def scenario():
        qtbot.mouseClick(window.flow_panel.start_button, Qt.MouseButton.LeftButton)
        task = window.bridge.task
        assert task is not None and window.bridge.running
        assert not window.flow_panel.start_button.isEnabled()  # no second run meanwhile
        return await task

    result = run(scenario())
    assert result.succeeded
    rows = window.step_view.model.rows
    assert [r.status for r in rows] == [StepStatus.SUCCEEDED, StepStatus.SUCCEEDED]
    assert rows[0].fraction == 1.0
    assert window.step_view.outcome.text() == "Erfolgreich"
    assert window.step_view.details.isHidden()
    assert window.flow_panel.start_button.isEnabled()
    assert window.run_label.text().startswith("Letzter Ablauf")
    assert any(isinstance(e, StepSucceeded) for e in seen)
    assert isinstance(seen[-1], FlowFinished) and seen[-1].outcome == "succeeded"
    trace = window.trace.text()
    assert "GET /smgw/info HTTP/1.1" in trace and "HTTP/1.1 200 OK" in trace
    model = window.step_view.model
    assert model.data(model.index(0, 3)) == "Verbunden mit EDEM0100000001"


def test_failed_step_shows_error_and_hint(make_window, context, run):
    window = make_window(context, [fake_flow(fail=True)])
    window.show()
    failures = []
    window.bridge.step_failed.connect(failures.append)
    async def scenario():
        return await window.start_flow(window.flow_panel.current_flow())

    result = run(scenario())
    assert result.outcome == "failed"
    assert isinstance(failures[0], StepFailed) and failures[0].step == "gwa"
    rows = window.step_view.model.rows
    assert [r.status for r in rows] == [StepStatus.SUCCEEDED, StepStatus.FAILED]
    assert window.step_view.details.isVisible()
    assert GWA_REFUSED.de in window.step_view.error_text.text()
    assert window.step_view.hint_text.text() == GWA_HINT.de
    assert window.step_view.outcome.text() == "Fehlgeschlagen"
    model = window.step_view.model
    tooltip = model.data(model.index(1, 3), Qt.ItemDataRole.ToolTipRole)
    assert GWA_REFUSED.de in tooltip and GWA_HINT.de in tooltip
    # switching the language re-renders the core's texts, too
    window.set_language("en")
    QApplication.processEvents()
    assert GWA_REFUSED.en in window.step_view.error_text.text()
    assert window.step_view.hint_text.text() == GWA_HINT.en


def _slow_flow(started: asyncio.Event) -> Flow:
    async def wait_long(ctx: StepContext) -> StepOutcome:
        started.set()
        await asyncio.sleep(30)
        return StepOutcome()

    return Flow("slow", Text("Slow", "Langsam"),
                [Step("wait", Text("Wait", "Warten"), wait_long)])


def test_cancel_button_cancels_the_running_flow(make_window, context, run, qtbot):
    started = asyncio.Event()
    window = make_window(context, [_slow_flow(started)])
    window.show()

    async def scenario():
        task = window.start_flow(window.flow_panel.current_flow())
        await started.wait()
        assert window.step_view.cancel_button.isEnabled()
        qtbot.mouseClick(window.step_view.cancel_button, Qt.MouseButton.LeftButton)
        return await task

    result = run(scenario())
    assert result.outcome == "cancelled"
    assert window.step_view.model.rows[0].status is StepStatus.CANCELLED
    assert window.step_view.outcome.text() == "Abgebrochen"
    assert not window.step_view.cancel_button.isEnabled()


# --- technician prompts -------------------------------------------------------------------------


def _smgw_id(value: str) -> None:
    if not (value.startswith("E") and len(value) == 14):
        raise InvalidValue(Text("not an SMGW ID", "keine SMGW-ID"), field="smgw_id")


def _asking_flow() -> Flow:
    async def ask(ctx: StepContext) -> StepOutcome:
        value = await ctx.ui.enter_value(
            Text("SMGW ID from the type plate?", "SMGW-ID vom Typenschild?"), validator=_smgw_id
        )
        sure = await ctx.ui.confirm(Text("Use it?", "Verwenden?"))
        vendor = await ctx.ui.choose(
            Text("Vendor?", "Hersteller?"),
            [("emh", Text("EMH", "EMH")), ("ppc", Text("PPC", "PPC"))],
        )
        return StepOutcome({"id": value, "sure": sure, "vendor": vendor})

    return Flow("ask", Text("Ask", "Fragen"), [Step("ask", Text("Ask", "Fragen"), ask)])


def _closed(dialog: PromptDialog) -> bool:
    """Closed and (after ``deleteLater``) possibly deleted already."""
    return not shiboken6.isValid(dialog) or not dialog.isVisible()


def test_prompt_dialogs_are_non_modal_and_resume_the_flow(make_window, context, run, qtbot):
    window = make_window(context, [_asking_flow()])
    window.show()
    opened: list[PromptDialog] = []
    window.interaction.prompt_opened.connect(opened.append)

    async def scenario():
        task = window.start_flow(window.flow_panel.current_flow())
        await wait_until(lambda: len(opened) == 1)
        dialog = opened[0]
        assert dialog.isVisible() and not dialog.isModal()
        assert dialog.windowModality() == Qt.WindowModality.NonModal
        assert dialog.prompt.text() == "SMGW-ID vom Typenschild?"
        # the step view says the flow waits for the technician
        assert window.step_view.model.rows[0].status is StepStatus.WAITING
        # the main window stays usable meanwhile (trace can be copied)
        qtbot.mouseClick(window.trace.copy_button, Qt.MouseButton.LeftButton)
        # a wrong value is refused in the dialog, which stays open
        dialog.value_edit.setText("nonsense")
        qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
        assert dialog.isVisible() and dialog.error.isVisible()
        assert "keine SMGW-ID" in dialog.error.text()
        assert not task.done()
        dialog.value_edit.setText("EDEM0100000001")
        qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
        await wait_until(lambda: len(opened) == 2)
        assert _closed(dialog)
        qtbot.mouseClick(opened[1].yes_button, Qt.MouseButton.LeftButton)
        await wait_until(lambda: len(opened) == 3)
        choice = opened[2]
        choice.option_group.button(1).setChecked(True)
        qtbot.mouseClick(choice.ok_button, Qt.MouseButton.LeftButton)
        return await task

    result = run(scenario())
    assert result.succeeded, result.error
    assert result.results["ask"].data == {"id": "EDEM0100000001", "sure": True, "vendor": "ppc"}
    assert window.interaction.open_dialogs == []


def test_cancel_in_prompt_cancels_the_flow(make_window, context, run, qtbot):
    window = make_window(context, [_asking_flow()])
    window.show()
    opened: list[PromptDialog] = []
    window.interaction.prompt_opened.connect(opened.append)

    async def scenario():
        task = window.start_flow(window.flow_panel.current_flow())
        await wait_until(lambda: bool(opened))
        qtbot.mouseClick(opened[0].cancel_button, Qt.MouseButton.LeftButton)
        return await task

    result = run(scenario())
    assert result.outcome == "cancelled"
    assert _closed(opened[0])
    assert window.step_view.outcome.text() == "Abgebrochen"


def test_interaction_without_a_flow_reports_a_closed_question(app, run, qtbot):
    """Used on its own (no flow to cancel), closing the question raises a clear error."""
    from ui.bridge import PromptCancelled

    ui = QtUserInteraction(None)
    opened: list[PromptDialog] = []
    ui.prompt_opened.connect(opened.append)

    async def scenario():
        task = asyncio.ensure_future(ui.confirm(Text("Go?", "Los?")))
        await wait_until(lambda: bool(opened))
        opened[0].close()
        with pytest.raises(PromptCancelled):
            await task

    run(scenario())


# --- connection panel ---------------------------------------------------------------------------


def test_connection_panel_follows_update_link(make_window, context, qtbot):
    window = make_window(context)
    window.show()
    card = window.connections.cards[Link.HAN]
    assert card.target.text() == "192.0.2.10:443"
    fp = "0123456789abcdef" * 4
    context.update_link(Link.HAN, state=LinkState.CONNECTED, peer="EDEM0100000001",
                        fingerprint=fp)
    QApplication.processEvents()
    assert card.badge.text() == "Verbunden"
    assert card.badge.property("state") == "connected"
    assert card.peer.text() == "EDEM0100000001"
    assert card.fingerprint.text() == "01:23:45:67 … CD:EF"
    assert card.fingerprint.toolTip() == "SHA-256: " + ":".join(
        fp.upper()[i:i + 2] for i in range(0, 64, 2)
    )
    error = Text("TLS handshake failed", "TLS-Handshake fehlgeschlagen")
    context.update_link(Link.GWA, state=LinkState.FAILED, last_error=error)
    QApplication.processEvents()
    gwa = window.connections.cards[Link.GWA]
    assert gwa.badge.text() == "Fehlgeschlagen"
    assert gwa.error.text() == "TLS-Handshake fehlgeschlagen"
    window.set_language("en")
    QApplication.processEvents()
    assert gwa.error.text() == "TLS handshake failed"
    assert gwa.badge.text() == "Failed"


def test_link_change_from_a_worker_thread_reaches_the_panel(make_window, context, run):
    window = make_window(context)

    async def scenario():
        await asyncio.to_thread(
            context.update_link, Link.OPTICAL, state=LinkState.CONNECTING
        )
        card = window.connections.cards[Link.OPTICAL]
        await wait_until(lambda: card.badge.property("state") == "connecting")

    run(scenario())


# --- settings -----------------------------------------------------------------------------------


def test_notice_about_a_broken_settings_file_is_shown(make_window, context, tmp_path):
    path = tmp_path / "settings.json"
    path.write_text("{ this is not json", encoding="utf-8")
    store = SettingsStore(path)
    loaded = store.load()
    assert loaded.notice is not None and loaded.backup is not None
    window = make_window(context, settings_store=store, loaded=loaded)
    window.show()
    box = window.notice_box
    assert isinstance(box, QMessageBox)
    assert box.isVisible()
    assert box.windowModality() != Qt.WindowModality.ApplicationModal  # opened with open()
    assert loaded.backup.name in box.text()
    assert "Einstellungsdatei" in box.text()
    assert loaded.backup.name in window.statusBar().currentMessage()


def test_geometry_language_and_targets_are_saved_on_close(make_window, context, tmp_path):
    store = SettingsStore(tmp_path / "settings.json")
    window = make_window(context, settings_store=store, loaded=store.load(), demo=False)
    window.show()
    window.resize(1300, 820)
    window.trace_action.setChecked(True)
    window.close()
    saved = store.load().settings
    assert saved.window_geometry and saved.window_state
    assert saved.show_trace is True
    assert saved.han_host == "192.0.2.10"
    assert saved.language == "de"
    doc = json.loads(Path(store.path).read_text(encoding="utf-8"))
    assert doc["schema_version"] >= 1


def test_demo_window_keeps_the_real_targets_and_shows_the_badge(make_window, context, tmp_path):
    store = SettingsStore(tmp_path / "settings.json")
    window = make_window(context, settings_store=store, loaded=store.load(), demo=True)
    window.show()
    assert window.demo_badge.isVisible() and window.demo_badge.text() == "DEMO"
    window.close()
    assert store.load().settings.han_host is None


def test_about_box_names_the_version(make_window, context):
    from app import __version__

    window = make_window(context)
    window.show()
    box = window.show_about()
    assert box.isVisible()
    assert __version__ in box.text()
    box.close()


def test_closing_during_a_flow_cancels_it_first(make_window, context, run):
    started = asyncio.Event()
    window = make_window(context, [_slow_flow(started)])
    window.show()
    closed = []
    window.closed.connect(lambda: closed.append(True))

    async def scenario():
        task = window.start_flow(window.flow_panel.current_flow())
        await started.wait()
        window.close()
        assert window.isVisible() and not closed  # not yet: the flow is being cancelled
        result = await task
        await wait_until(lambda: bool(closed))
        return result

    assert run(scenario()).outcome == "cancelled"
    assert not window.isVisible()


def test_trace_is_copied_to_the_clipboard(make_window, context, run, qtbot):
    window = make_window(context, [fake_flow()])
    window.trace_action.setChecked(True)
    window.show()

    async def scenario():
        return await window.start_flow(window.flow_panel.current_flow())

    run(scenario())
    qtbot.mouseClick(window.trace.copy_button, Qt.MouseButton.LeftButton)
    copied = QApplication.clipboard().text()
    assert "GET /smgw/info HTTP/1.1" in copied
    assert copied == window.trace.text()
    lines = copied.splitlines()
    assert any("han" in line and "→" in line for line in lines)
    font = window.trace.view.font()
    assert font.fixedPitch() or "mono" in font.family().lower()


def test_double_click_starts_the_flow(make_window, context, run, qtbot):
    window = make_window(context, [fake_flow()])
    window.show()
    view = window.flow_panel.list

    async def scenario():
        rect = view.visualRect(window.flow_panel.model.index(0))
        # a real double click is press, release, double-click press, release
        qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
        qtbot.mouseDClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
        assert window.bridge.task is not None
        return await window.bridge.task

    assert run(scenario()).succeeded
    assert window.step_view.heading.text() == "Verbindungstest"


def test_secret_value_and_long_choice_dialogs(app, run, qtbot):
    from PySide6.QtWidgets import QLineEdit

    ui = QtUserInteraction(None)
    opened: list[PromptDialog] = []
    ui.prompt_opened.connect(opened.append)
    options = [(f"port{i}", Text(f"Port {i}", f"Anschluss {i}")) for i in range(12)]

    async def scenario():
        secret = asyncio.ensure_future(
            ui.enter_value(Text("Password?", "Passwort?"), secret=True, default="ignored")
        )
        await wait_until(lambda: len(opened) == 1)
        edit = opened[0].value_edit
        assert edit.echoMode() == QLineEdit.EchoMode.Password
        edit.setText("s3cret")
        qtbot.keyClick(edit, Qt.Key.Key_Return)
        assert await secret == "s3cret"
        chosen = asyncio.ensure_future(ui.choose(Text("Port?", "Anschluss?"), options))
        await wait_until(lambda: len(opened) == 2)
        dialog = opened[1]
        assert dialog.option_group is None and dialog.option_list is not None
        assert dialog.option_list.count() == 12
        dialog.option_list.setCurrentRow(7)
        qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
        assert await chosen == "port7"

    run(scenario())


# --- background tasks ---------------------------------------------------------------------------


def test_task_group_logs_failures_and_cancels_what_outlives_the_shutdown(run, caplog):
    from ui.views.tasks import TaskGroup

    async def fail() -> None:
        raise RuntimeError("broken on purpose")

    async def scenario() -> tuple[bool, bool]:
        tasks = TaskGroup("the test")
        quick = tasks.spawn(asyncio.sleep(0.01, result="ok"))
        slow = tasks.spawn(asyncio.sleep(30))
        tasks.spawn(fail())
        await tasks.finish(timeout=0.5)
        return quick.result() == "ok", slow.cancelled() and tasks.pending() == []

    with caplog.at_level("ERROR", logger="ui.views.tasks"):
        assert run(scenario()) == (True, True)
    assert any("a task of the test failed" in r.getMessage() for r in caplog.records)


# --- report signing certificate -----------------------------------------------------------------


def test_signer_setup_opens_one_dialog_and_saves_the_chosen_certificate(make_window, context,
                                                                         tmp_path):
    from PySide6.QtCore import QEvent

    from app.report.signer import SignerFiles, demo_report_signer
    from ui.views.signer_setup import SignerSetupDialog

    store = SettingsStore(tmp_path / "settings.json")
    window = make_window(context, settings_store=store, loaded=store.load(), demo=False)
    window.show()
    assert window.jobs.signer_factory is None  # nothing set up yet: no report can be signed
    window.signer_action.trigger()
    dialog = window.signer_dialog
    assert isinstance(dialog, SignerSetupDialog) and dialog.isVisible() and not dialog.isModal()
    assert window.open_signer_setup() is dialog  # the open dialog again, not a second one

    files = SignerFiles(tmp_path / "technician.p12")
    dialog.configured.emit(files)
    assert store.load().settings.report_cert == str(files.cert)
    assert window.jobs.signer_factory is not None
    assert str(files.cert) in window.statusBar().currentMessage()

    dialog.close()
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    assert window.signer_dialog is None
    demo = make_window(context, demo=True)
    assert demo.jobs.signer_factory is demo_report_signer
