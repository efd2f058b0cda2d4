"""Status colours, icons and the coloured state badge (Statusanzeige)."""

from __future__ import annotations

import enum
from functools import cache

from PySide6.QtCore import Qt
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QLabel, QWidget

from app.context import LinkState
from app.resources import resource_path


class StepStatus(enum.StrEnum):
    """State of one step in the step view."""

    PENDING = "pending"
    RUNNING = "running"
    WAITING = "waiting"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"


#: (text colour, background colour) per link state
LINK_COLOURS: dict[LinkState, tuple[str, str]] = {
    LinkState.UNKNOWN: ("#3c4043", "#e8eaed"),
    LinkState.CONNECTING: ("#7a4100", "#feefc3"),
    LinkState.CONNECTED: ("#0d652d", "#ceead6"),
    LinkState.FAILED: ("#a50e0e", "#fad2cf"),
}

#: text colour per step status (used for the step's status word)
STEP_COLOURS: dict[StepStatus, str] = {
    StepStatus.PENDING: "#5f6368",
    StepStatus.RUNNING: "#1a73e8",
    StepStatus.WAITING: "#b06000",
    StepStatus.SUCCEEDED: "#188038",
    StepStatus.FAILED: "#d93025",
    StepStatus.SKIPPED: "#5f6368",
    StepStatus.CANCELLED: "#5f6368",
}


@cache
def status_icon(status: StepStatus) -> QIcon:
    """The 16 px icon of a step status (from ``resources/icons``)."""
    return QIcon(str(resource_path("icons", f"status-{status.value}.svg")))


@cache
def app_icon() -> QIcon:
    """The application icon."""
    return QIcon(str(resource_path("icons", "smgwct.svg")))


class StateBadge(QLabel):
    """A rounded, coloured label showing a state word (e.g. “Verbunden”)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.set_colours("#3c4043", "#e8eaed")

    def set_colours(self, foreground: str, background: str) -> None:
        self.setStyleSheet(
            f"QLabel {{ color: {foreground}; background: {background}; border-radius: 4px;"
            " padding: 2px 8px; font-weight: 600; }"
        )

    def show_state(self, state: LinkState, label: str) -> None:
        self.setText(label)
        self.setProperty("state", state.value)
        self.set_colours(*LINK_COLOURS[state])
