"""Fixtures of the GUI tests: one qasync loop per test, translations, windows, fake flows.

As in :func:`ui.main.run`, Python's cyclic garbage collector runs only in the GUI thread
(:class:`ui.runtime_guards.GuiThreadCollector`): every test closes a qasync loop, and a closed
loop's timer object that the collector frees in a worker thread (the optical link's reader, an
``asyncio.to_thread`` worker) crashes the process.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import PySide6  # noqa: E402,F401  (before qasync)
import qasync  # noqa: E402
from PySide6.QtCore import QCoreApplication, QEvent  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from app.context import AppContext, HanTarget  # noqa: E402
from app.processes.engine import Engine, Flow  # noqa: E402
from app.processes.interaction import UserInteraction  # noqa: E402
from app.store.audit import AuditLog  # noqa: E402
from app.store.db import JobStore  # noqa: E402
from ui.i18n import Translations  # noqa: E402
from ui.runtime_guards import GuiThreadCollector, guard_bool_refcounts  # noqa: E402
from ui.views.main_window import MainWindow  # noqa: E402

SCREENSHOTS = Path(__file__).resolve().parents[2] / "screenshots"


@pytest.fixture(scope="session", autouse=True)
def _bool_refcounts() -> None:
    """The same protection of True/False as the application has (see ui.runtime_guards)."""
    guard_bool_refcounts()


@pytest.fixture(autouse=True)
def _gc_in_gui_thread(qapp: QApplication) -> Iterator[GuiThreadCollector]:
    """Collect garbage only in the GUI thread during the test and once more after it, when the
    closed widgets have been deleted (pytest-qt closes them before fixtures are torn down)."""
    collector = GuiThreadCollector()
    collector.start()
    yield collector
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    collector.stop()
    collector.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


@pytest.fixture
def app(qapp: QApplication) -> QApplication:
    qapp.setQuitOnLastWindowClosed(False)
    return qapp


class _TestEventLoop(qasync.QEventLoop):
    """qasync's loop without the extra round of Qt events after ``run_until_complete``.

    qasync processes all pending Qt events once more after the loop has stopped - outside the
    loop, where a task step that Qt delivers then finds no running loop ("no running event
    loop" from ``asyncio.to_thread``). The application never stops its loop while it runs, so
    only the tests, which run the loop piece by piece, need this: what is pending simply runs
    at the next ``run_until_complete``.
    """

    def run_until_complete(self, future: Any) -> Any:
        if self.is_running():
            raise RuntimeError("Event loop already running")
        future = asyncio.ensure_future(future, loop=self)

        def stop(*_args: Any) -> None:
            self.stop()

        future.add_done_callback(stop)
        try:
            self.run_forever()
        finally:
            future.remove_done_callback(stop)
        if not future.done():
            raise RuntimeError("Event loop stopped before Future completed.")
        return future.result()


@pytest.fixture
def loop(app: QApplication) -> Iterator[qasync.QEventLoop]:
    """A qasync loop on the test's QApplication (what ``ui.main.run`` uses)."""
    event_loop = _TestEventLoop(app)
    asyncio.set_event_loop(event_loop)
    yield event_loop
    try:
        pending = [t for t in asyncio.all_tasks(event_loop) if not t.done()]
        for task in pending:
            task.cancel()
        if pending:
            event_loop.run_until_complete(asyncio.wait(pending, timeout=2))
    finally:
        event_loop.close()
        asyncio.set_event_loop(None)


Runner = Callable[[Coroutine[Any, Any, Any]], Any]


@pytest.fixture
def run(loop: qasync.QEventLoop) -> Runner:
    """Run a coroutine on the qasync loop, bounded to 15 s."""

    def runner(coro: Coroutine[Any, Any, Any]) -> Any:
        return loop.run_until_complete(asyncio.wait_for(coro, 15))

    return runner


@pytest.fixture
def translations(app: QApplication) -> Iterator[Translations]:
    tr = Translations(app)
    tr.apply("de")
    yield tr
    tr.apply("de")


def engine_factory(folder: Path) -> Callable[[UserInteraction, AppContext], Engine]:
    def make(interaction: UserInteraction, context: AppContext) -> Engine:
        return Engine(
            JobStore(folder / "jobs.sqlite3"),
            AuditLog(folder / "audit.sqlite3"),
            interaction,
            services=context,
        )

    return make


@pytest.fixture
def context(tmp_path: Path) -> AppContext:
    return AppContext(han=HanTarget("192.0.2.10", 443), data_dir=tmp_path)


@pytest.fixture
def make_window(
    qtbot: Any, tmp_path: Path, translations: Translations, loop: qasync.QEventLoop
) -> Iterator[Callable[..., MainWindow]]:
    windows: list[MainWindow] = []

    def make(context: AppContext, flows: list[Flow] | None = None, **kwargs: Any) -> MainWindow:
        window = MainWindow(
            context,
            engine_factory=engine_factory(tmp_path / f"db{len(windows)}"),
            flows=flows if flows is not None else [],
            translations=translations,
            **kwargs,
        )
        qtbot.addWidget(window)
        windows.append(window)
        # Let the window's start-up work (job list, demo work orders, interrupted runs) run
        # inside the loop now: Qt may process events between the test's ``run`` calls, and a
        # task step taken then finds no running loop (the application's loop never stops).
        pending = window.tasks.pending() + window.jobs.tasks.pending()
        if pending and not loop.is_running():
            loop.run_until_complete(asyncio.wait(pending, timeout=10))
        return window

    yield make
    for window in windows:
        if window.bridge.running:
            window.bridge.cancel()
        loop.run_until_complete(window.shutdown())


@pytest.fixture
def demo(run: Runner, tmp_path: Path) -> Iterator[Any]:
    """The embedded default on loopback, with the demo meters on its optical target.

    While the embedded default does not start the scenario's virtual meters itself, the fixture
    starts them and points ``context.optical`` at the first one, as the demo does.
    """
    from app.context import OpticalTarget
    from app.sim.embedded import EmbeddedDefault
    from app.sim.meter import start_demo_meters

    embedded = EmbeddedDefault(data_dir=tmp_path / "demo")
    run(embedded.start())
    meters: list[Any] = []
    try:
        if embedded.context.optical is None:
            meters = run(start_demo_meters(embedded.scenario_name))
            embedded.context.optical = OpticalTarget(port=meters[0].url)
        yield embedded
    finally:
        for meter in meters:
            run(meter.stop())
        run(embedded.stop())


DemoSiteFactory = Callable[..., Any]


@pytest.fixture
def demo_site(run: Runner, tmp_path: Path) -> Iterator[DemoSiteFactory]:
    """Start the embedded default on a chosen demo scenario: ``demo_site("delivery")``.

    Like the demo (``smgwct demo``), the simulators run in their own thread (``threaded``) so
    that their TLS and XML work never stalls the window's event loop, and every start begins
    from the scenario (``fresh``). A scenario may be a name in resources/demo or a file path
    (with its ``<stem>.site.json`` next to it). Everything started is stopped after the test.
    """
    from app.sim.embedded import EmbeddedDefault

    started: list[Any] = []

    def start(scenario: str | Path = "default", *, threaded: bool = True) -> Any:
        embedded = EmbeddedDefault(scenario=scenario, data_dir=tmp_path / f"site{len(started)}",
                                   threaded=threaded, fresh=True)
        started.append(embedded)
        run(embedded.start())
        return embedded

    yield start
    for embedded in reversed(started):
        run(embedded.stop())
