"""Work area of the main window (Arbeitsbereich): the step view, tools and result views as tabs.

The first tab is the live step view of the running (or last) flow. Tools such as
"Zähler optisch auslesen" follow. After a run, the flow's result view (see
:mod:`ui.views.results`) gets its own tab, created on first use and reused for later runs of the
same flow; it is brought to the front when the run succeeded.
"""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import QEvent, QTimer
from PySide6.QtWidgets import QTabWidget, QWidget

from ui.i18n import text
from ui.models.flows import flow_title
from ui.views.results import registration_for, view_title

log = logging.getLogger(__name__)


class Workspace(QTabWidget):
    """Tabs: step view first, then tools, then one result view per flow that has one."""

    def __init__(self, step_view: QWidget, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("workspace")
        self.setDocumentMode(True)
        self.step_view = step_view
        self.addTab(step_view, "")
        self.tools: dict[str, QWidget] = {}
        self.results: dict[str, QWidget] = {}
        self._fallback_titles: dict[str, Any] = {}
        self.retranslate()

    # --- tools ---------------------------------------------------------------------------------

    def add_tool(self, key: str, view: QWidget) -> int:
        """Add a tool tab (after the step view and earlier tools, before result views)."""
        index = 1 + len(self.tools)
        self.tools[key] = view
        view.setParent(self)
        self.insertTab(index, view, view_title(view, key))
        return index

    def show_tool(self, key: str) -> QWidget:
        view = self.tools[key]
        self.setCurrentWidget(view)
        return view

    def show_steps(self) -> None:
        self.setCurrentWidget(self.step_view)

    # --- results -------------------------------------------------------------------------------

    def result_view(self, flow: str) -> QWidget | None:
        """The result view of ``flow`` if one was created already."""
        return self.results.get(flow)

    def show_result(self, result: Any, flow: Any = None) -> QWidget | None:
        """Show a finished run in its flow's result view (created on first use).

        ``result`` is a :class:`~app.processes.engine.RunResult`; ``flow`` (optional) gives the
        tab's caption until the view has a title of its own. Returns the view, or ``None`` when
        the flow has no result view or the run is not one the view shows.
        """
        name = str(getattr(result, "flow", "") or "")
        registration = registration_for(name)
        if registration is None:
            return None
        succeeded = bool(getattr(result, "succeeded", False))
        if not succeeded and not registration.on_failure:
            return None
        view = self.results.get(name)
        if view is None:
            try:
                view = registration.factory(self)
            except Exception:  # a broken result view must not break the window
                log.exception("the result view of %s could not be built", name)
                return None
            self.results[name] = view
            self._fallback_titles[name] = flow_title(flow) if flow is not None else name
            self.addTab(view, "")
        try:
            view.show_result(result)  # type: ignore[attr-defined]
        except Exception:
            log.exception("the result view of %s failed to show the run", name)
            return None
        self._retitle()
        if succeeded or registration.on_failure:
            self.setCurrentWidget(view)
        return view

    # --- language ------------------------------------------------------------------------------

    def _retitle(self) -> None:
        self.setTabText(self.indexOf(self.step_view), self.tr("Flow"))
        for key, view in self.tools.items():
            self.setTabText(self.indexOf(view), view_title(view, key))
        for name, view in self.results.items():
            fallback = text(self._fallback_titles.get(name)) or name
            self.setTabText(self.indexOf(view), view_title(view, fallback))

    def retranslate(self) -> None:
        self._retitle()

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt override)
        if event.type() == QEvent.Type.LanguageChange:
            self.retranslate()
            # the tabs' own views translate their titles when they get the same event
            QTimer.singleShot(0, self, self._retitle)
        super().changeEvent(event)
