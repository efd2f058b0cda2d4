"""Result views per flow (Ergebnisansichten): which widget shows a finished run of which flow.

The main window asks :func:`result_view_for` after every run and, when a factory is registered
for the flow's name, shows the run in that view (one tab per flow, created on first use and
reused for later runs). A flow's view registers itself in one of two ways, without touching the
main window:

* a line in :data:`BUILTIN` (``flow name -> "module:Class"`` or ``"module:factory"``, imported
  on first use; flows in :data:`BUILTIN_ON_FAILURE` show failed runs too), or
* :func:`register_result_view` at run time (tests, plug-ins, a view module imported anyway).

A result view is a ``QWidget`` with ``show_result(run_result)`` and a ``title`` label whose text is
the tab's caption (see :class:`ResultView`). Views of verdicts (handover, pairing, meter change)
pass ``on_failure=True`` so that a failed run's verdict is shown as well.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from PySide6.QtWidgets import QWidget


@runtime_checkable
class ResultView(Protocol):
    """What the main window needs of a result view (besides being a ``QWidget``)."""

    def show_result(self, result: Any) -> None:
        """Show a finished run (:class:`app.processes.engine.RunResult`)."""
        ...


ResultViewFactory = Callable[[QWidget | None], QWidget]
"""Builds the view with the given parent."""


@dataclass(frozen=True)
class Registration:
    """One flow's result view: how to build it and when to show it."""

    flow: str
    factory: ResultViewFactory
    on_failure: bool = False
    """Also show runs that failed (verdict views); by default only succeeded runs."""


#: Result views of the flows this build ships: flow name -> ``"module:Class"``.
BUILTIN: dict[str, str] = {
    "technical_data": "ui.views.han_technical_view:HanTechnicalView",
    "logs": "ui.views.han_logs_view:HanLogsView",
    "handover": "ui.views.verdicts:handover_view",
    "pairing": "ui.views.verdicts:pairing_view",
    "meter_change": "ui.views.verdicts:meter_change_view",
    "discovery": "ui.views.verdicts:discovery_view",
}
#: Built-in views that show failed runs as well (verdicts: which check failed, and why).
BUILTIN_ON_FAILURE: frozenset[str] = frozenset({"handover", "pairing", "meter_change",
                                                "discovery"})

_registered: dict[str, Registration] = {}


def register_result_view(flow: str, factory: ResultViewFactory, *,
                         on_failure: bool = False) -> Callable[[], None]:
    """Show finished runs of ``flow`` in views built by ``factory``; returns an undo function."""
    previous = _registered.get(flow)
    _registered[flow] = Registration(flow, factory, on_failure)

    def undo() -> None:
        if previous is None:
            _registered.pop(flow, None)
        else:
            _registered[flow] = previous

    return undo


def _lazy(target: str) -> ResultViewFactory:
    module_name, _, attribute = target.partition(":")

    def build(parent: QWidget | None) -> QWidget:
        cls = getattr(importlib.import_module(module_name), attribute)
        view: QWidget = cls(parent)
        return view

    return build


def registration_for(flow: str) -> Registration | None:
    """The registration of ``flow`` (run-time ones first), or ``None``."""
    found = _registered.get(flow)
    if found is not None:
        return found
    target = BUILTIN.get(flow)
    if target is None:
        return None
    return Registration(flow, _lazy(target), on_failure=flow in BUILTIN_ON_FAILURE)


def result_view_for(flow: str) -> ResultViewFactory | None:
    """The factory of ``flow``'s result view, or ``None`` when the flow has none."""
    found = registration_for(flow)
    return found.factory if found is not None else None


def view_title(view: QWidget, fallback: str) -> str:
    """The tab caption of a result view: its ``title`` label's text, else ``fallback``."""
    title = getattr(view, "title", None)
    value = title.text() if hasattr(title, "text") else title
    return str(value) if value else fallback
