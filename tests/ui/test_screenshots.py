"""Screenshots of the main window in German and English, and no clipped text in them.

The window is shown at its default size after a connection test ran: against the embedded
default when it is available in this tree, else against a fake context and flow. The PNGs go
to ``screenshots/`` (git-ignored) for a human to look at.
"""

from __future__ import annotations

import asyncio

import pytest
from PySide6.QtCore import QRect, Qt
from PySide6.QtWidgets import QAbstractButton, QApplication, QLabel, QTableView, QWidget

from app.context import AppContext, GwaTarget, HanTarget, Link, LinkState
from app.errors import SmgwctError, Text
from tests.ui.conftest import SCREENSHOTS
from tests.ui.helpers import fake_flow
from ui.models.steps import StepModel
from ui.views.main_window import DEFAULT_SIZE, MainWindow


def _real_demo_available() -> bool:
    """The embedded default and the connection test exist in this tree."""
    try:
        from app.processes.flows.connection_test import CONNECTION_TEST  # noqa: F401
        from app.sim.embedded import EmbeddedDefault  # noqa: F401
        from app.sim.smgw import Scenario, start_han_server  # noqa: F401

        Scenario.load("default")
    except (ImportError, SmgwctError):
        return False
    return True


def _fake_demo_context(tmp_path) -> AppContext:
    ctx = AppContext(
        han=HanTarget("127.0.0.1", 40443, smgw_id="EDEM0100000001"),
        gwa=GwaTarget("https://127.0.0.1:40444", trust_pem=b""),
        data_dir=tmp_path,
        demo=object(),
    )
    ctx.update_link(Link.HAN, state=LinkState.CONNECTED, peer="EDEM0100000001",
                    fingerprint="3f9a1c" * 10 + "beef")
    ctx.update_link(Link.GWA, state=LinkState.CONNECTED, peer="CN=Referenz-GWA, O=Demo",
                    fingerprint="c0ffee12" * 8)
    ctx.update_link(Link.OPTICAL, state=LinkState.FAILED,
                    last_error=Text("No read head found on the serial ports.",
                                    "Kein Lesekopf an den seriellen Schnittstellen gefunden."))
    return ctx


def _wrapped_cells(table: QTableView, column: int, name: str) -> list[str]:
    """Cells of a word-wrapped column whose text needs more height than the row has."""
    problems = []
    metrics = table.fontMetrics()
    width = table.columnWidth(column) - 8  # the item's margins
    for row in range(table.model().rowCount()):
        text = str(table.model().index(row, column).data() or "")
        needed = metrics.boundingRect(
            QRect(0, 0, width, 10_000), Qt.TextFlag.TextWordWrap, text
        )
        if needed.width() > width or needed.height() + 4 > table.rowHeight(row):
            problems.append(f"{name} row {row}: {text!r} needs {needed.width()}x"
                            f"{needed.height()}, has {width}x{table.rowHeight(row)}")
    return problems


def clipped_widgets(window: QWidget) -> list[str]:
    """Labels and buttons whose text needs more room than they got (visible ones only)."""
    problems = []
    for widget in window.findChildren(QWidget):
        if not widget.isVisibleTo(window) or widget.width() == 0:
            continue
        name = f"{type(widget).__name__} {widget.objectName()!r}"
        if isinstance(widget, QLabel) and widget.text():
            if widget.wordWrap():
                needed = widget.heightForWidth(widget.width())
                if needed > widget.height() + 1:
                    problems.append(f"{name} {widget.text()!r}: height {widget.height()} < "
                                    f"{needed}")
                continue
            if widget.sizeHint().width() > widget.width():
                problems.append(f"{name} {widget.text()!r}: width {widget.width()} < "
                                f"{widget.sizeHint().width()}")
        elif isinstance(widget, QAbstractButton) and widget.text():
            if widget.sizeHint().width() > widget.width():
                problems.append(f"{name} {widget.text()!r}: width {widget.width()} < "
                                f"{widget.sizeHint().width()}")
        elif isinstance(widget, QTableView) and widget.model() is not None:
            model = widget.model()
            header = widget.horizontalHeader()
            for column in range(model.columnCount()):
                if widget.isColumnHidden(column):
                    continue
                width = widget.columnWidth(column)
                if header.sectionSizeHint(column) > width:
                    problems.append(f"{name} header {column}: {width} < "
                                    f"{header.sectionSizeHint(column)}")
                if column == StepModel.MESSAGE:  # wraps: every line must fit the row
                    problems += _wrapped_cells(widget, column, name)
                elif column != StepModel.PROGRESS and widget.sizeHintForColumn(column) > width:
                    problems.append(f"{name} column {column}: {width} < "
                                    f"{widget.sizeHintForColumn(column)}")
    return problems


@pytest.mark.parametrize("lang", ["de", "en"])
def test_screenshot_without_clipped_text(make_window, translations, tmp_path, run, lang):
    translations.apply(lang)
    real = _real_demo_available()
    embedded = None
    if real:
        from app.processes.flows.connection_test import CONNECTION_TEST
        from app.sim.embedded import EmbeddedDefault

        embedded = EmbeddedDefault(data_dir=tmp_path / "demo")
        run(embedded.start())
        context, flows = embedded.context, [CONNECTION_TEST]
    else:
        context, flows = _fake_demo_context(tmp_path), [fake_flow()]
    try:
        window: MainWindow = make_window(context, flows, demo=True)
        window.trace_action.setChecked(True)
        window.show()
        # the technician trusts the demo gateway's certificate on first contact
        window.interaction.prompt_opened.connect(
            lambda dialog: dialog.yes_button.click() if dialog.request.kind == "confirm" else None
        )

        async def scenario():
            return await window.start_flow(flows[0])

        result = run(scenario())
        assert result.succeeded, result.error
        run(asyncio.sleep(0.1))
        QApplication.processEvents()
        assert window.size() == DEFAULT_SIZE
        SCREENSHOTS.mkdir(exist_ok=True)
        target = SCREENSHOTS / f"main-window-{lang}.png"
        assert window.grab().save(str(target))
        assert target.stat().st_size > 10_000
        assert clipped_widgets(window) == []
        assert window.demo_badge.isVisible()
        outcome = {"de": "Erfolgreich", "en": "Succeeded"}[lang]
        assert window.step_view.outcome.text() == outcome
        for link in (Link.HAN, Link.GWA):  # both peers reached, fingerprints shown
            card = window.connections.cards[link]
            assert card.badge.property("state") == "connected"
            assert card.fingerprint.toolTip().startswith("SHA-256: ")
    finally:
        if embedded is not None:
            run(embedded.stop())


@pytest.mark.parametrize("lang", ["de", "en"])
def test_failure_view_and_prompt_dialog_without_clipped_text(
    make_window, translations, tmp_path, run, lang
):
    from app.processes.interaction import confirm_request
    from tests.ui.helpers import GWA_REFUSED
    from ui.views.prompt import PromptDialog

    translations.apply(lang)
    window = make_window(_fake_demo_context(tmp_path), [fake_flow(fail=True)], demo=True)
    window.show()

    async def scenario():
        return await window.start_flow(window.flow_panel.current_flow())

    assert run(scenario()).outcome == "failed"
    QApplication.processEvents()
    assert window.step_view.details.isVisible()
    assert GWA_REFUSED.get(lang) in window.step_view.error_text.text()
    assert clipped_widgets(window) == []
    SCREENSHOTS.mkdir(exist_ok=True)
    window.grab().save(str(SCREENSHOTS / f"main-window-failed-{lang}.png"))

    request = confirm_request(
        Text("Trust this gateway certificate?", "Diesem Gateway-Zertifikat vertrauen?"),
        Text("Subject: CN=EDEM0100000001\nSHA-256: " + ":".join(["AB"] * 32) + "\nCompare the "
             "fingerprint with the gateway's label or the operator's data sheet.",
             "Inhaber: CN=EDEM0100000001\nSHA-256: " + ":".join(["AB"] * 32) + "\nVergleichen "
             "Sie den Fingerabdruck mit dem Typschild des Gateways oder dem Datenblatt des "
             "Betreibers."),
    )
    dialog = PromptDialog(request, parent=window)
    dialog.show()
    QApplication.processEvents()
    assert clipped_widgets(dialog) == []
    dialog.grab().save(str(SCREENSHOTS / f"prompt-{lang}.png"))
    dialog.dismiss()
