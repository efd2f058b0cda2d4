"""Guards of the Qt process (Laufzeitschutz): garbage collection only in the GUI thread, and a
defence against a reference-count defect of PySide6 6.12.0.

**Garbage collection in the GUI thread.** Python's cyclic garbage collector runs in whichever
thread happens to allocate when a threshold is crossed: the serial reader thread of the optical
link, an ``asyncio.to_thread`` worker, a qasync executor thread. A Qt object that sits in a
reference cycle (a closed qasync loop with its timer object, a widget whose slot is a bound
method stored on itself) is then destroyed in that thread, and Qt aborts or crashes ("Timers
cannot be stopped from another thread"). :class:`GuiThreadCollector` switches the automatic
collector off and collects from a timer of the GUI thread instead, generation by generation, as
often as the automatic collector would have.

**Stolen references of ``True``.** ``SignalInstance.disconnect()`` of PySide6 6.12.0 returns
``True`` without owning a reference, so every disconnect (qasync does one for every socket it
stops watching) takes one reference of ``True`` away. On Python 3.11, where ``True`` is not yet
immortal (PEP 683 made it so in 3.12), the count reaches zero after some thousand connections and
the interpreter aborts. :func:`guard_bool_refcounts` detects the defect and, only then, gives
``True`` and ``False`` the head start that makes them immortal in practice.
"""

from __future__ import annotations

import ctypes
import gc
import sys

from PySide6.QtCore import QCoreApplication, QObject, QThread, QTimer, Signal

#: how often the GUI thread looks at the collector's counters
COLLECT_INTERVAL_MS = 500
#: references added to True/False when disconnect() is found to steal them
BOOL_HEAD_START = 1 << 40
_guarded = False


class GuiThreadCollector(QObject):
    """Runs Python's cyclic garbage collector in the GUI thread only (while started)."""

    def __init__(self, parent: QObject | None = None,
                 interval_ms: int = COLLECT_INTERVAL_MS) -> None:
        super().__init__(parent)
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.check)
        self._was_enabled = gc.isenabled()
        self.active = False

    def start(self) -> None:
        """Switch automatic collection off and collect from the GUI thread's timer."""
        if self.active:
            return
        self._was_enabled = gc.isenabled()
        gc.disable()
        self._timer.start()
        self.active = True

    def stop(self) -> None:
        """Collect once more (in this thread) and restore automatic collection."""
        if not self.active:
            return
        self._timer.stop()
        self.active = False
        collect_in_gui_thread()
        if self._was_enabled:
            gc.enable()

    def check(self) -> int:
        """Collect the oldest generation whose threshold is reached; returns objects freed."""
        threshold = gc.get_threshold()
        counts = gc.get_count()
        for generation in (2, 1, 0):
            if counts[generation] > threshold[generation]:
                return gc.collect(generation)
        return 0


def in_gui_thread() -> bool:
    """Whether the caller runs in the thread of the Qt application object."""
    app = QCoreApplication.instance()
    return app is None or QThread.currentThread() is app.thread()


def collect_in_gui_thread() -> int:
    """A full collection, refused (0) outside the GUI thread."""
    if not in_gui_thread():
        return 0
    return gc.collect()


class _Probe(QObject):
    ping = Signal()


def disconnect_steals_true(rounds: int = 8) -> bool:
    """Whether ``SignalInstance.disconnect()`` leaves ``True`` with fewer references."""
    probe = _Probe()

    def slot() -> None:
        return None

    before = sys.getrefcount(True)
    for _ in range(rounds):
        probe.ping.connect(slot)
        probe.ping.disconnect(slot)
    after = sys.getrefcount(True)
    probe.deleteLater()
    return before - after >= rounds


def guard_bool_refcounts() -> bool:
    """Protect ``True``/``False`` from stolen references where needed; returns whether it did.

    Needed only before Python 3.12 (afterwards they are immortal) and only with a PySide6 whose
    ``disconnect()`` steals references. The extra references are never given back: ``True`` and
    ``False`` live as long as the interpreter anyway.
    """
    global _guarded
    if _guarded:
        return True
    if sys.version_info >= (3, 12) or not disconnect_steals_true():
        return False
    for value in (True, False):
        count = ctypes.c_ssize_t.from_address(id(value))  # ob_refcnt is the first field
        count.value += BOOL_HEAD_START
    _guarded = True
    return True
