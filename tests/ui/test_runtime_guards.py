"""Garbage collection only in the GUI thread, and True/False safe from stolen references.

The first guard exists because a closed qasync loop (every GUI test closes one) keeps Qt timer
objects in reference cycles; when a worker thread's allocation triggered the collector, Qt
destroyed them in that thread and the test process crashed now and then.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import threading
import weakref

import qasync
from PySide6.QtCore import QObject, Signal

from ui.runtime_guards import (
    BOOL_HEAD_START,
    GuiThreadCollector,
    collect_in_gui_thread,
    disconnect_steals_true,
    guard_bool_refcounts,
    in_gui_thread,
)


class _Cycle:
    """A reference cycle that records the thread that freed it."""

    freed_in: list[str] = []

    def __init__(self) -> None:
        self.me = self

    def __del__(self) -> None:
        _Cycle.freed_in.append(threading.current_thread().name)


def _allocate_in_worker() -> None:
    """Allocate far past generation 0's threshold in a worker thread."""

    def churn() -> None:
        junk = []
        for _ in range(50 * gc.get_threshold()[0]):
            junk.append([[]])
        junk.clear()

    worker = threading.Thread(target=churn, name="worker")
    worker.start()
    worker.join()


def test_garbage_of_worker_allocations_is_collected_in_the_gui_thread(app,
                                                                      _gc_in_gui_thread):
    collector: GuiThreadCollector = _gc_in_gui_thread
    assert collector.active and not gc.isenabled(), "the GUI-thread collector is not active"
    _Cycle.freed_in.clear()
    _Cycle()
    gc.collect()  # start from empty generations
    assert _Cycle.freed_in == [threading.current_thread().name]
    _Cycle.freed_in.clear()
    _Cycle()
    _allocate_in_worker()
    assert _Cycle.freed_in == []  # the worker did not run the collector
    while collector.check():
        pass
    gc.collect()
    assert _Cycle.freed_in == [threading.current_thread().name]


def test_a_closed_qasync_loop_is_freed_in_the_gui_thread(app):
    # without the guard the worker below would free the loop's timer object and crash
    assert not gc.isenabled(), "the GUI-thread collector is not active"
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(asyncio.wait_for(asyncio.sleep(0.01), 15))  # a pending timer
        timer = weakref.ref(loop._timer)
    finally:
        loop.close()
        asyncio.set_event_loop(None)
    del loop
    try:
        _allocate_in_worker()
        assert timer() is not None  # still waiting for the GUI thread
    finally:
        assert collect_in_gui_thread() > 0
    assert timer() is None


def test_collector_start_and_stop_restore_the_automatic_collector(app):
    gc.enable()
    try:
        collector = GuiThreadCollector(interval_ms=10)
        collector.start()
        assert not gc.isenabled() and collector.active
        collector.stop()
        assert gc.isenabled() and not collector.active
    finally:
        gc.disable()  # as the autouse fixture left it for this test
    assert in_gui_thread()
    done: list[int] = []
    worker = threading.Thread(target=lambda: done.append(collect_in_gui_thread()))
    worker.start()
    worker.join()
    assert done == [0]  # refused outside the GUI thread


class _Probe(QObject):
    ping = Signal()


def test_true_survives_many_disconnects():
    guard_bool_refcounts()  # done once per session already; again is harmless
    if sys.version_info < (3, 12) and disconnect_steals_true():
        assert sys.getrefcount(True) > BOOL_HEAD_START
    probe = _Probe()

    def slot() -> None:
        return None

    for _ in range(5000):
        probe.ping.connect(slot)
        probe.ping.disconnect(slot)
    assert sys.getrefcount(True) > 1000
    assert (1 == 1) is True
