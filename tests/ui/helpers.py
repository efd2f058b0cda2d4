"""Fake flows and small helpers of the GUI tests."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Mapping
from typing import Any

from PySide6.QtCore import QRect, Qt, QTimer
from PySide6.QtWidgets import QAbstractButton, QLabel, QStyle, QTableView, QWidget

from app.errors import SmgwctError, Text
from app.processes.engine import Flow, Step, StepContext, StepOutcome
from app.security.secrets import MemorySecretStore
from ui.models.steps import StepModel

# --- fake flows -------------------------------------------------------------------------------


async def reach_han(ctx: StepContext) -> StepOutcome:
    ctx.progress(0.5, Text("Handshake…", "Handshake…"))
    ctx.trace("han", "tx", "GET /smgw/info HTTP/1.1")
    await asyncio.sleep(0.01)
    ctx.trace("han", "rx", "HTTP/1.1 200 OK")
    return StepOutcome({"peer": "EDEM0100000001"},
                       Text("Connected to EDEM0100000001", "Verbunden mit EDEM0100000001"))


async def reach_gwa_ok(ctx: StepContext) -> StepOutcome:
    return StepOutcome({}, Text("GWA answered", "GWA hat geantwortet"))


GWA_REFUSED = Text("The GWA refused the client certificate.",
                   "Der GWA hat das Client-Zertifikat abgelehnt.")
GWA_HINT = Text("Check the technician certificate.", "Prüfen Sie das Techniker-Zertifikat.")


async def reach_gwa_refused(ctx: StepContext) -> StepOutcome:
    raise SmgwctError(GWA_REFUSED, hint=GWA_HINT)


def fake_flow(*, fail: bool = False) -> Flow:
    return Flow(
        "fake_connection_test",
        Text("Connection test", "Verbindungstest"),
        [
            Step("han", Text("Reach the SMGW over HAN", "SMGW über HAN erreichen"), reach_han),
            Step("gwa", Text("Reach the GWA", "GWA erreichen"),
                 reach_gwa_refused if fail else reach_gwa_ok),
        ],
    )


async def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Let the loop (and Qt) run until ``predicate()`` holds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


def answer_prompts(window: Any, answers: Mapping[str, Any] | None = None,
                   before: Callable[[Any], None] | None = None) -> list[Any]:
    """Answer every question the window's flows ask, like a technician would.

    ``answers`` maps an English prompt to the answer (confirm: bool, choose: option key,
    value: text); without one, confirmations are answered yes and other questions take their
    default. ``before(dialog)`` runs while the dialog is still open (checks, screenshots).
    Returns the dialogs seen (their requests stay readable after closing).
    """
    given = dict(answers or {})
    seen: list[Any] = []

    def answer(dialog: Any) -> None:
        # Later, from the event loop: the signal comes inside the flow's task, and whatever
        # ``before`` does with Qt must not run other tasks' steps inside that one.
        seen.append(dialog)
        QTimer.singleShot(0, dialog, lambda: check_and_answer(dialog))

    def check_and_answer(dialog: Any) -> None:
        try:
            if before is not None:
                before(dialog)
        finally:  # a failed check must not leave the flow waiting for an answer
            _answer(dialog, given.get(dialog.request.prompt.en))

    def _answer(dialog: Any, value: Any) -> None:
        request = dialog.request
        if request.kind == "confirm":
            (dialog.yes_button if value is None or value else dialog.no_button).click()
        elif request.kind == "choose":
            key = value if value is not None else request.option_keys()[0]
            if dialog.option_group is not None:
                dialog.option_group.button(request.option_keys().index(key)).setChecked(True)
            dialog.ok_button.click()
        else:
            if value is not None:
                dialog.value_edit.setText(str(value))
            dialog.ok_button.click()

    window.interaction.prompt_opened.connect(answer)
    return seen


class SlowKeyring(MemorySecretStore):
    """A keyring whose ``set`` waits (like an operating-system prompt) until released."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.release = threading.Event()
        self.saves = 0

    def set(self, key: str, value: str) -> None:
        self.saves += 1
        self.entered.set()
        assert self.release.wait(10), "never released"
        super().set(key, value)


# --- layout checks ------------------------------------------------------------------------------


def _wrapped_cells(table: QTableView, column: int, name: str) -> list[str]:
    """Cells of a word-wrapped column whose text needs more height than the row has."""
    problems = []
    metrics = table.fontMetrics()
    # the text rectangle the style lays the cell out in: its focus frame margin plus one pixel
    # on either side (QCommonStyle's item text margin)
    margin = table.style().pixelMetric(QStyle.PixelMetric.PM_FocusFrameHMargin, None, table) + 1
    width = table.columnWidth(column) - 2 * margin
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
                if widget.objectName() != "step-table":
                    continue  # result tables elide long cells on purpose (full text in tooltips)
                if column == StepModel.MESSAGE:  # wraps: every line must fit the row
                    problems += _wrapped_cells(widget, column, name)
                elif column != StepModel.PROGRESS and widget.sizeHintForColumn(column) > width:
                    problems.append(f"{name} column {column}: {width} < "
                                    f"{widget.sizeHintForColumn(column)}")
    return problems
