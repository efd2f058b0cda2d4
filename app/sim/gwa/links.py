"""Per-gateway session state of the reference GWA: what to send next on MANAGEMENT (5.2/5.3).

The GWA cannot call a gateway; it can only answer the gateway's POSTs. A :class:`GatewayLink`
therefore keeps the requests processes want to send (:meth:`submit`) until a session of that
gateway asks for its next document (:meth:`next_document`), remembers the one request whose
answer is outstanding, and matches answers to it, also when they arrive as ``pendingResult`` of a
resumed session. While a process still runs, an answered POST is *held* for a while, so that the
process's next request goes out in the same session.
"""

from __future__ import annotations

import asyncio
import collections
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from app.domain import SmgwId
from app.processes.micro.channels import NIL_REQUEST_ID
from app.protocols.admin import (
    EndReason,
    Operation,
    Response,
    SessionEnd,
    SessionRequest,
    SessionStart,
)


@dataclass(eq=False)
class PendingRequest:
    """One request a process wants answered."""

    request_id: uuid.UUID
    operation: Operation
    result_timeout: float
    future: asyncio.Future[Response]
    delivered: asyncio.Event = field(default_factory=asyncio.Event)
    deliveries: int = 0


class GatewayLink:
    """Requests waiting for, sent to and answered by one gateway."""

    def __init__(self, smgw_id: SmgwId, *, hold: float) -> None:
        self.smgw_id = smgw_id
        self.hold = hold
        self.queue: collections.deque[PendingRequest] = collections.deque()
        self.outstanding: PendingRequest | None = None
        self.session_id: uuid.UUID | None = None
        self.session_active = False
        self.demand = 0
        """Processes running or waiting for this gateway (a held POST waits only while > 0)."""
        self.requests_in_session = 0
        self.lock = asyncio.Lock()
        """One process at a time per gateway."""
        self.observers: list[Callable[[str], None]] = []
        self.repeat_requests = 0
        """Fault injection: send the last answered request this many more times (same ID)."""
        self.repeated_answers: list[Response] = []
        self._last_delivered: PendingRequest | None = None
        self._repeating: uuid.UUID | None = None
        self._changed = asyncio.Event()

    # -- process side -----------------------------------------------------------------------------

    def submit(self, operation: Operation, result_timeout: float) -> PendingRequest:
        pending = PendingRequest(uuid.uuid4(), operation, result_timeout,
                                 asyncio.get_running_loop().create_future())
        self.queue.append(pending)
        self.notify()
        return pending

    def requeue(self, pending: PendingRequest) -> None:
        """The answer did not come in time: the session is gone; send the request again later
        (same ``requestId``: the gateway answers from its store if it carried it out)."""
        if self.outstanding is pending:
            self.outstanding = None
        self.abandon_session()
        pending.delivered.clear()
        if pending not in self.queue:
            self.queue.appendleft(pending)
        self.notify()

    def discard(self, pending: PendingRequest) -> None:
        if pending in self.queue:
            self.queue.remove(pending)
        if self.outstanding is pending:
            self.outstanding = None

    def abandon_session(self) -> None:
        """Forget the current session (it is considered broken)."""
        self.session_active = False
        self.session_id = None
        self.notify()

    def notify(self) -> None:
        self._changed.set()

    # -- channel side -----------------------------------------------------------------------------

    def on_start(self, start: SessionStart) -> None:
        """A session starts; a ``pendingResult`` answers the outstanding request."""
        self.session_id = start.session_id
        self.session_active = True
        self.requests_in_session = 0
        answer = start.pending_result
        if answer is not None:
            waiting = [self.outstanding, *self.queue]
            match = next((p for p in waiting if p is not None
                          and p.request_id == answer.request_id), None)
            if match is not None:
                self._resolve(match, answer)
                if match in self.queue:
                    self.queue.remove(match)
        self._tell("session-started")
        self.notify()

    def on_result(self, session_id: uuid.UUID, response: Response) -> bool:
        """The gateway answered in session ``session_id``; False if that session is not current."""
        if session_id != self.session_id:
            return False
        if self._repeating is not None and response.request_id == self._repeating:
            self._repeating = None
            self.repeated_answers.append(response)
            return True
        pending = self.outstanding
        if pending is not None and response.request_id in (pending.request_id, NIL_REQUEST_ID):
            self._resolve(pending, response)
        return True

    async def next_document(self, alive: Callable[[], bool] = lambda: True
                            ) -> SessionRequest | SessionEnd:
        """The answer to the gateway's POST: the next request, or the end of the session."""
        sid = self.session_id
        assert sid is not None
        if self.outstanding is not None and not self.outstanding.future.done():
            return self._deliver(sid, self.outstanding)  # sent before, never answered
        last = self._last_delivered
        if self.repeat_requests > 0 and last is not None and last.future.done():
            self.repeat_requests -= 1
            self._repeating = last.request_id
            return SessionRequest(sid, last.request_id, last.operation)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.hold
        while self.session_id == sid:
            while self.queue and self.queue[0].future.done():
                self.queue.popleft()
            if self.queue:
                if not alive():
                    break  # the connection is gone: keep the request for the next session
                pending = self.queue.popleft()
                self.outstanding = pending
                return self._deliver(sid, pending)
            remaining = deadline - loop.time()
            if self.demand <= 0 or remaining <= 0:
                break
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                break
        reason = EndReason.DONE if self.requests_in_session else EndReason.NO_WORK
        if self.session_id == sid:
            self.session_active = False
            self.session_id = None
            self._tell("session-ended")
        else:
            reason = EndReason.ERROR
        return SessionEnd(sid, reason)

    def _deliver(self, sid: uuid.UUID, pending: PendingRequest) -> SessionRequest:
        pending.deliveries += 1
        pending.delivered.set()
        self._last_delivered = pending
        self.requests_in_session += 1
        return SessionRequest(sid, pending.request_id, pending.operation)

    def _resolve(self, pending: PendingRequest, response: Response) -> None:
        if not pending.future.done():
            pending.future.set_result(response)
        if self.outstanding is pending:
            self.outstanding = None

    def _tell(self, what: str) -> None:
        for observer in list(self.observers):
            observer(what)
