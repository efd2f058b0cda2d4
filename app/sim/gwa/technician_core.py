"""The reference GWA core as the technician API sees it: the :class:`GwaCore` protocol
and how its stored events, progress reports and process results map onto the API's
documents (jobEvent steps, gateway response, failure reason)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from app.errors import Text
from app.protocols.admin import (
    Event,
    FailureReason,
    JobFailure,
    JobState,
    ProcessRequest,
    Response,
    Step,
    operation_info,
)
from app.protocols.admin.methods import RESULT_ELEMENTS
from app.protocols.admin.profiles import PROFILE_TYPES
from app.sim.gwa.technician_jobs import text_detail


class GwaCore(Protocol):
    """What the technician API needs of the reference GWA (``app.sim.gwa.core.ReferenceGwa``).

    A core that keeps meter keys also offers ``meter_key(server_id) -> bytes | None``: a pairing
    request without ``initialKey`` is accepted only for meters it holds key M for.
    """

    async def run_process(
        self, smgw_id: str, process: str, params: dict[str, Any],
        progress: Callable[[Any], Any] | None = None,
    ) -> Any: ...

    def events(self, smgw_id: str | None = None, since_seq: int = 0) -> list[Any]: ...

    def subscribe_events(self, callback: Callable[[Any], Any]) -> Any: ...


def attr(obj: Any, *candidates: str, default: Any = None) -> Any:
    """The first of ``candidates`` that ``obj`` has (key or attribute), else ``default``."""
    for name in candidates:
        if isinstance(obj, Mapping) and name in obj:
            return obj[name]
        if hasattr(obj, name):
            return getattr(obj, name)
    return default


def stored_seq(stored: Any) -> int:
    """The GWA's storage number of a stored event (the gateway-event cursor)."""
    return int(attr(stored, "seq", "store_seq", "sequence", default=0))


def stored_event(stored: Any) -> Event | None:
    """The event document of a stored event, if any."""
    event = stored if isinstance(stored, Event) else attr(stored, "event")
    return event if isinstance(event, Event) else None


def stored_smgw(stored: Any) -> str | None:
    """The SMGW ID a stored event belongs to."""
    raw = attr(stored, "smgw_id")
    if raw is None:
        event = stored_event(stored)
        raw = event.smgw_id if event is not None else None
    return None if raw is None else str(raw)


_STEP_ALIASES = {"wakeup-sent": Step.WAKE_UP_SENT, "wake-up": Step.WAKE_UP_SENT,
                 "result": Step.RESULT_RECEIVED, "event": Step.SMGW_EVENT}


def progress_fields(update: Any) -> tuple[Step, str | None, Event | None]:
    """Step, detail and relayed event of a progress report of the core."""
    raw_step = attr(update, "step", "phase", default=None)
    text = attr(update, "detail", "text", "message", default=None)
    event = attr(update, "event", default=None)
    event = event if isinstance(event, Event) else None
    step: Step | None = None
    if isinstance(raw_step, Step):
        step = raw_step
    elif raw_step is not None:
        key = str(raw_step).strip().lower().replace("_", "-").replace(" ", "-")
        step = _STEP_ALIASES.get(key)
        if step is None:
            with contextlib.suppress(ValueError):
                step = Step(key)
    detail = text.en if isinstance(text, Text) else (None if text is None else str(text))
    if step is None:
        step = Step.SMGW_EVENT if event is not None else Step.REQUEST_SENT
        if raw_step is not None:
            detail = f"{raw_step}: {detail}" if detail else str(raw_step)
    if step is Step.SMGW_EVENT and event is None:
        step = Step.REQUEST_SENT
    if step is not Step.SMGW_EVENT:
        event = None
    return step, detail, event


_PAYLOAD_TYPES = (*PROFILE_TYPES.values(), *RESULT_ELEMENTS)


def outcome_of(
    result: Any, request: ProcessRequest,
) -> tuple[JobState, Response | None, JobFailure | None, str | None]:
    """Map the core's ProcessResult to state, gateway response and failure."""
    data = attr(result, "data", default=None)
    response = result if isinstance(result, Response) else attr(result, "response", default=None)
    if not isinstance(response, Response):
        response = data if isinstance(data, Response) else attr(data, "response", default=None)
    if not isinstance(response, Response):
        response = None
    ok = bool(attr(result, "ok", default=response is not None and response.ok))
    if ok:
        if response is None or not response.ok:
            payload = data if isinstance(data, _PAYLOAD_TYPES) else attr(data, "result")
            info = operation_info(request.operation)
            response = Response.of(
                request.idempotency_key, info.success_reason,
                result=payload if isinstance(payload, _PAYLOAD_TYPES) else None,
            )
        return JobState.SUCCEEDED, response, None, response.text.en
    code = attr(result, "error_code", "code", default=None)
    text = attr(result, "error_text", "error", "text", default=None)
    detail = text.en if isinstance(text, Text) else (None if text is None else str(text))
    try:
        reason = FailureReason(str(code).replace("_", "-"))
    except ValueError:
        reason = (FailureReason.REJECTED_BY_GATEWAY if response is not None and not response.ok
                  else FailureReason.GWA_ERROR)
        if code is not None:
            detail = f"{code}: {detail}" if detail else str(code)
    if detail is None and response is not None:
        detail = response.detail or response.text.en
    return JobState.FAILED, response, JobFailure(reason, text_detail(detail)), detail
