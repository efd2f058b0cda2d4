"""Qt model of the available flows (Abläufe) and how the UI reads a flow's description."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import QAbstractListModel, QModelIndex, QObject, QPersistentModelIndex, Qt

from app.errors import Text
from ui.i18n import text

log = logging.getLogger(__name__)

FlowRole = Qt.ItemDataRole.UserRole + 1


def flow_name(flow: Any) -> str:
    return str(getattr(flow, "name", None) or type(flow).__name__)


def flow_title(flow: Any) -> Text | str:
    return getattr(flow, "title", None) or flow_name(flow)


def flow_description(flow: Any) -> Text | str | None:
    return getattr(flow, "description", None)


def flow_steps(flow: Any) -> list[tuple[str, Text | str]]:
    """(key, title) of the steps a flow declares up front (branches may add more)."""
    steps = getattr(flow, "steps", None) or ()
    if isinstance(steps, dict):
        steps = list(steps.values())
    out: list[tuple[str, Text | str]] = []
    for step in steps:
        key = getattr(step, "name", None) or getattr(step, "key", None) or getattr(step, "id", "")
        out.append((str(key), getattr(step, "title", None) or str(key)))
    return out


def available_flows() -> list[Any]:
    """The flows of ``app.processes.flows.registry()``; an empty list when there is none yet."""
    try:
        module = importlib.import_module("app.processes.flows")
    except ImportError:
        log.warning("no flow package")
        return []
    registry = getattr(module, "registry", None)
    if callable(registry):
        return list(registry())
    # Before the registry exists: the connection test alone, when it is there.
    try:
        test = importlib.import_module("app.processes.flows.connection_test")
    except ImportError:
        return []
    flow = getattr(test, "CONNECTION_TEST", None)
    return [flow] if flow is not None else []


class FlowListModel(QAbstractListModel):
    """One row per flow, shown by its title in the active language."""

    def __init__(self, flows: Sequence[Any] = (), parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.flows: list[Any] = list(flows)

    def set_flows(self, flows: Sequence[Any]) -> None:
        self.beginResetModel()
        self.flows = list(flows)
        self.endResetModel()

    def flow_at(self, row: int) -> Any | None:
        return self.flows[row] if 0 <= row < len(self.flows) else None

    def retranslate(self) -> None:
        if self.flows:
            self.dataChanged.emit(self.index(0), self.index(len(self.flows) - 1))

    def rowCount(  # noqa: N802 (Qt override)
        self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()  # noqa: B008
    ) -> int:
        return 0 if parent.isValid() else len(self.flows)

    def data(
        self,
        index: QModelIndex | QPersistentModelIndex,
        role: int = Qt.ItemDataRole.DisplayRole,
    ) -> object:
        flow = self.flow_at(index.row()) if index.isValid() else None
        if flow is None:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return text(flow_title(flow))
        if role == Qt.ItemDataRole.ToolTipRole:
            return text(flow_description(flow)) or None
        if role == FlowRole:
            return flow
        return None
