"""Demo scenarios in the window (Demo-Szenario): the dialog "Szenario wechseln…" and the question
before a flow that is made for another scenario.

Both are non-modal (``show()``/``open()``, never ``exec()``) and answer through signals; the
window does the switch itself (:func:`app.sim.demo_switch.switch_scenario`). Titles and
descriptions come from the scenario files (German and English), see docs/demo.md.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QEvent, QSize, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractButton,
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QMessageBox,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.sim.demo_switch import ScenarioInfo
from ui.i18n import text

PREFERRED_SIZE = QSize(700, 470)
NameRole = Qt.ItemDataRole.UserRole


class DemoScenarioDialog(QDialog):
    """Pick the demo scenario the virtual gateway runs (title and description of each, the
    running one marked) and whether it starts from its initial state."""

    chosen = Signal(str, bool)
    """``(scenario, fresh)`` when the technician pressed OK on a scenario."""

    def __init__(self, parent: QWidget | None, scenarios: Sequence[ScenarioInfo],
                 current: str | None) -> None:
        super().__init__(parent)
        self.setObjectName("demo-scenario-dialog")
        self.setModal(False)
        self.setWindowModality(Qt.WindowModality.NonModal)
        self.scenarios = list(scenarios)
        self.current = current
        self._blocked: str | None = None

        self.intro = QLabel(self)
        self.intro.setObjectName("demo-scenario-intro")
        self.intro.setWordWrap(True)
        self.list = QTreeWidget(self)
        self.list.setObjectName("demo-scenario-list")
        self.list.setRootIsDecorated(False)
        self.list.setColumnCount(2)
        self.list.setUniformRowHeights(True)
        self.list.header().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.list.header().setStretchLastSection(True)
        self.list.currentItemChanged.connect(lambda *_: self._render_selection())
        self.list.itemDoubleClicked.connect(lambda *_: self.choose())
        self.description = QLabel(self)
        self.description.setObjectName("demo-scenario-description")
        self.description.setWordWrap(True)
        self.description.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.description.setMinimumHeight(self.fontMetrics().lineSpacing() * 4)
        self.description.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.fresh = QCheckBox(self)
        self.fresh.setObjectName("demo-scenario-fresh")
        self.fresh_note = QLabel(self)
        self.fresh_note.setObjectName("demo-scenario-fresh-note")
        self.fresh_note.setWordWrap(True)
        self.fresh_note.setStyleSheet("color: #5f6368;")
        self.blocked = QLabel(self)
        self.blocked.setObjectName("demo-scenario-blocked")
        self.blocked.setWordWrap(True)
        self.blocked.setStyleSheet("color: #7a4100;")
        self.blocked.setVisible(False)
        self.buttons = QDialogButtonBox(self)
        self.ok_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setObjectName("demo-scenario-ok")
        self.ok_button.setDefault(True)
        self.cancel_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.ok_button.clicked.connect(self.choose)
        self.cancel_button.clicked.connect(self.close)

        layout = QVBoxLayout(self)
        layout.addWidget(self.intro)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.description)
        layout.addWidget(self.fresh)
        layout.addWidget(self.fresh_note)
        layout.addWidget(self.blocked)
        layout.addWidget(self.buttons)
        self.retranslate()
        self.select(current)
        self.resize(PREFERRED_SIZE)

    # --- selection -----------------------------------------------------------------------------

    def select(self, scenario: str | None) -> None:
        """Make ``scenario`` the selected row (the first one if it is not listed)."""
        for row in range(self.list.topLevelItemCount()):
            item = self.list.topLevelItem(row)
            if item.data(0, NameRole) == scenario:
                self.list.setCurrentItem(item)
                return
        if self.list.topLevelItemCount():
            self.list.setCurrentItem(self.list.topLevelItem(0))

    def selected(self) -> ScenarioInfo | None:
        item = self.list.currentItem()
        name = item.data(0, NameRole) if item is not None else None
        return next((s for s in self.scenarios if s.name == name), None)

    def set_blocked(self, reason: str | None) -> None:
        """Say why no switch is possible now (a flow runs, a switch runs) and disable OK."""
        self._blocked = reason
        self.blocked.setText(reason or "")
        self.blocked.setVisible(bool(reason))
        self._render_selection()

    def choose(self) -> None:
        """OK: emit :attr:`chosen` for the selected scenario and close."""
        info = self.selected()
        if info is None or self._blocked:
            return
        self.chosen.emit(info.name, self.fresh.isChecked())
        self.accept()

    # --- rendering -----------------------------------------------------------------------------

    def _fill(self) -> None:
        selected = self.selected()
        self.list.blockSignals(True)
        try:
            self.list.clear()
            for info in self.scenarios:
                name = info.label
                if info.name == self.current:
                    name = self.tr("{name} (running)").format(name=name)
                item = QTreeWidgetItem([name, text(info.title)])
                item.setData(0, NameRole, info.name)
                item.setToolTip(1, text(info.description))
                if info.name == self.current:
                    font = item.font(0)
                    font.setBold(True)
                    item.setFont(0, font)
                    item.setFont(1, font)
                self.list.addTopLevelItem(item)
        finally:
            self.list.blockSignals(False)
        self.select(selected.name if selected is not None else self.current)

    def _render_selection(self) -> None:
        info = self.selected()
        self.description.setText(text(info.description) if info is not None else "")
        self.ok_button.setEnabled(info is not None and not self._blocked)

    def retranslate(self) -> None:
        self.setWindowTitle(self.tr("Switch demo scenario"))
        self.intro.setText(self.tr(
            "Choose the state the virtual gateway is in. The running demo environment stops and "
            "starts again in the chosen scenario; the flows then talk to it."))
        self.list.setHeaderLabels([self.tr("Scenario"), self.tr("Gateway and site")])
        self.fresh.setText(self.tr("Start from the initial state"))
        self.fresh_note.setText(self.tr(
            "Without this, the scenario continues where its last demo session stopped (paired "
            "meters, profiles, a changed meter)."))
        self._fill()
        self._render_selection()

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt override)
        if event.type() == QEvent.Type.LanguageChange:
            self.retranslate()
        super().changeEvent(event)


class FlowScenarioQuestion(QMessageBox):
    """Before a flow made for another scenario: Switch / Run anyway / Cancel (non-modal)."""

    SWITCH = "switch"
    RUN = "run"
    CANCEL = "cancel"

    answered = Signal(str)
    """:attr:`SWITCH`, :attr:`RUN` or :attr:`CANCEL` (also when the box is closed), once."""

    def __init__(self, parent: QWidget | None, *, flow: str, current: ScenarioInfo,
                 wanted: ScenarioInfo) -> None:
        super().__init__(parent)
        self.setObjectName("demo-flow-question")
        self.setIcon(QMessageBox.Icon.Question)
        self.setModal(False)
        self.setWindowModality(Qt.WindowModality.NonModal)
        self.setWindowTitle(self.tr("Demo scenario"))
        self.setText(self.tr(
            "“{flow}” finds the demo gateway as: {current_title} (scenario '{current}'). The "
            "flow is made for: {wanted_title} (scenario '{wanted}').\n\n"
            "Switch to the scenario '{wanted}'?").format(
                flow=flow, current=current.label, current_title=text(current.title),
                wanted=wanted.label, wanted_title=text(wanted.title)))
        self.setInformativeText(self.tr(
            "Switch: the demo environment starts again in '{wanted}', from its initial state, "
            "then the flow starts. Run anyway: the flow runs against the gateway as it is.")
            .format(wanted=wanted.label))
        self.switch_button = self.addButton(self.tr("Switch"),
                                            QMessageBox.ButtonRole.AcceptRole)
        self.switch_button.setObjectName("demo-question-switch")
        self.run_button = self.addButton(self.tr("Run anyway"),
                                         QMessageBox.ButtonRole.ActionRole)
        self.run_button.setObjectName("demo-question-run")
        self.cancel_button = self.addButton(QMessageBox.StandardButton.Cancel)
        self.cancel_button.setObjectName("demo-question-cancel")
        self.setDefaultButton(self.switch_button)
        self.setEscapeButton(self.cancel_button)
        self.answer: str | None = None
        self.buttonClicked.connect(self._clicked)
        self.finished.connect(lambda _result: self._answer(self.CANCEL))

    def _clicked(self, button: QAbstractButton) -> None:
        if button is self.switch_button:
            self._answer(self.SWITCH)
        elif button is self.run_button:
            self._answer(self.RUN)
        else:
            self._answer(self.CANCEL)

    def _answer(self, answer: str) -> None:
        if self.answer is None:
            self.answer = answer
            self.answered.emit(answer)


__all__ = ["DemoScenarioDialog", "FlowScenarioQuestion"]
