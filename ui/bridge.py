"""Between the engine and the widgets (Brücke Ablaufsteuerung – Oberfläche).

:class:`EngineBridge` subscribes to the :class:`~app.processes.engine.Engine` and re-emits every
event as a Qt signal (one generic ``event`` signal plus one per event type), starts and cancels
runs and keeps a reference to each task it creates.

:class:`QtUserInteraction` is the engine's :class:`~app.processes.interaction.UserInteraction`
port for the GUI: every question opens a *non-modal* :class:`~ui.views.prompt.PromptDialog` with
``show()`` and the coroutine waits on an asyncio future that the dialog's buttons resolve. No
``exec()``, no nested event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QWidget

from app.errors import SmgwctError, Text
from app.processes.engine import Engine, Flow, RunResult, new_run_id
from app.processes.events import (
    Event,
    FlowFinished,
    FlowStarted,
    NeedsInput,
    StepFailed,
    StepProgress,
    StepSkipped,
    StepStarted,
    StepSucceeded,
    TraceLine,
)
from app.processes.interaction import (
    InteractionRequest,
    Validator,
    choose_request,
    confirm_request,
    value_request,
)
from ui.views.prompt import PromptDialog

log = logging.getLogger(__name__)


class PromptCancelled(SmgwctError):
    """The technician closed a question without answering and no flow could be cancelled."""


class EngineBridge(QObject):
    """Engine events as Qt signals; starts, cancels and tracks flow runs."""

    event = Signal(object)
    """Every engine event, in order."""
    flow_started = Signal(object)
    step_started = Signal(object)
    step_progress = Signal(object)
    needs_input = Signal(object)
    step_succeeded = Signal(object)
    step_failed = Signal(object)
    step_skipped = Signal(object)
    flow_finished = Signal(object)
    trace_line = Signal(object)
    run_ended = Signal(object)
    """A run's task ended: its :class:`RunResult`, or the :class:`SmgwctError` that stopped it."""
    busy_changed = Signal(bool)

    def __init__(self, engine: Engine, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.engine = engine
        self._typed: dict[type[Event], Any] = {
            FlowStarted: self.flow_started,
            StepStarted: self.step_started,
            StepProgress: self.step_progress,
            NeedsInput: self.needs_input,
            StepSucceeded: self.step_succeeded,
            StepFailed: self.step_failed,
            StepSkipped: self.step_skipped,
            FlowFinished: self.flow_finished,
            TraceLine: self.trace_line,
        }
        self._tasks: set[asyncio.Task[Any]] = set()
        self._run_id: str | None = None
        self._task: asyncio.Task[Any] | None = None
        self._busy = False
        self._unsubscribe: Callable[[], None] | None = engine.subscribe(self.publish)

    # --- events --------------------------------------------------------------------------------

    def publish(self, event: Event) -> None:
        """The engine's subscriber: re-emit ``event`` as Qt signals."""
        try:
            self.event.emit(event)
            signal = self._typed.get(type(event))
            if signal is not None:
                signal.emit(event)
        except RuntimeError:  # the bridge's C++ side is gone (window closed)
            self.detach()

    def detach(self) -> None:
        """Stop listening to the engine."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    # --- control -------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """A run was started and has not ended yet."""
        return self._busy

    @property
    def run_id(self) -> str | None:
        """The id of the running (or last) run."""
        return self._run_id

    @property
    def task(self) -> asyncio.Task[Any] | None:
        return self._task

    def start(self, flow: Flow, data: Mapping[str, Any] | None = None) -> asyncio.Task[Any]:
        """Run ``flow`` as a new job (needs the running loop); refuses a second run."""
        self._refuse_second_run()
        run_id = new_run_id()
        return self._launch(flow, run_id, self.engine.run(flow, data, run_id=run_id))

    def resume(self, flow: Flow, run_id: str) -> asyncio.Task[Any]:
        """Continue the stored run ``run_id`` of ``flow`` (interrupted, failed or cancelled)."""
        self._refuse_second_run()
        return self._launch(flow, run_id, self.engine.resume(run_id, flow))

    def _refuse_second_run(self) -> None:
        if self.running:
            raise SmgwctError(
                Text("A flow is already running.", "Es läuft bereits ein Ablauf."),
                hint=Text("Wait for it to end or cancel it.",
                          "Warten Sie sein Ende ab oder brechen Sie ihn ab."),
            )

    def _launch(self, flow: Flow, run_id: str,
                run: Coroutine[Any, Any, RunResult]) -> asyncio.Task[Any]:
        self._run_id = run_id
        task = asyncio.get_running_loop().create_task(
            self._drive(flow, run), name=f"flow {flow.name} {run_id}"
        )
        self._task = task
        self._busy = True
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        self.busy_changed.emit(True)
        return task

    async def _drive(
        self, flow: Flow, run: Coroutine[Any, Any, RunResult]
    ) -> RunResult | None:
        outcome: RunResult | SmgwctError | None = None
        try:
            outcome = await run
            return outcome
        except SmgwctError as exc:  # e.g. the job database cannot be opened
            outcome = exc
            return None
        except asyncio.CancelledError:
            outcome = None
            raise
        except Exception as exc:  # a programming error: keep the window alive, say so
            log.exception("flow %s crashed", flow.name)
            outcome = SmgwctError(
                Text(f"The flow stopped with an internal error: {exc}",
                     f"Der Ablauf wurde durch einen internen Fehler beendet: {exc}"),
                hint=Text("The details are in the log file.",
                          "Die Einzelheiten stehen in der Protokolldatei."),
            )
            return None
        finally:
            self._busy = False
            with contextlib.suppress(RuntimeError):
                self.busy_changed.emit(False)
                self.run_ended.emit(outcome)

    def cancel(self) -> bool:
        """Ask the running flow to stop (the engine records it as cancelled)."""
        if not self.running or self._run_id is None:
            return False
        if not self.engine.cancel(self._run_id):
            # not (yet or any more) known to the engine: stop the task itself
            assert self._task is not None
            self._task.cancel()
        return True

    async def shutdown(self, timeout: float = 5.0) -> None:
        """Cancel what runs and wait (bounded) for it to finish; then stop listening."""
        self.cancel()
        pending = {t for t in self._tasks if not t.done()}
        if pending:
            _done, still = await asyncio.wait(pending, timeout=timeout)
            for task in still:
                task.cancel()
            if still:
                await asyncio.wait(still, timeout=1.0)
        self.detach()


class QtUserInteraction(QObject):
    """Answers the engine's questions with non-modal dialogs and futures.

    ``on_cancel`` is called when the technician presses “cancel flow” in a dialog; it should
    cancel the running flow (see :meth:`EngineBridge.cancel`) and return ``True``. When it is
    missing or returns ``False`` the question raises :class:`PromptCancelled`.
    """

    prompt_opened = Signal(object)
    """A dialog was shown (tests and the status bar use it)."""

    def __init__(
        self,
        parent_widget: QWidget | None = None,
        on_cancel: Callable[[], bool] | None = None,
    ) -> None:
        super().__init__(parent_widget)
        self.parent_widget = parent_widget
        self.on_cancel = on_cancel
        self.open_dialogs: list[PromptDialog] = []

    async def _ask(self, request: InteractionRequest, validator: Validator | None = None) -> Any:
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[Any] = loop.create_future()
        dialog = PromptDialog(request, validator, self.parent_widget)

        def answered(value: object) -> None:
            if not answer.done():
                answer.set_result(value)

        def cancelled() -> None:
            stopped = self.on_cancel() if self.on_cancel is not None else False
            if not answer.done() and not stopped:
                answer.set_exception(
                    PromptCancelled(
                        Text("The question was closed without an answer.",
                             "Die Rückfrage wurde ohne Antwort geschlossen."),
                        hint=Text("Start the flow again to answer it.",
                                  "Starten Sie den Ablauf erneut, um sie zu beantworten."),
                    )
                )

        dialog.answered.connect(answered)
        dialog.cancelled.connect(cancelled)
        self.open_dialogs.append(dialog)
        dialog.show()
        dialog.raise_()
        dialog.activateWindow()
        self.prompt_opened.emit(dialog)
        try:
            return await answer
        finally:
            if not answer.done():
                answer.cancel()
            self.open_dialogs.remove(dialog)
            dialog.dismiss()
            dialog.deleteLater()

    async def confirm(self, prompt: Text, detail: Text | None = None) -> bool:
        return bool(await self._ask(confirm_request(prompt, detail)))

    async def choose(self, prompt: Text, options: list[tuple[str, Text]]) -> str:
        return str(await self._ask(choose_request(prompt, options)))

    async def enter_value(
        self,
        prompt: Text,
        *,
        validator: Validator | None = None,
        default: str | None = None,
        secret: bool = False,
    ) -> str:
        request = value_request(prompt, default=default, secret=secret)
        return str(await self._ask(request, validator))
