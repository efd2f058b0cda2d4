"""Events of a running flow (Ablaufereignisse).

The engine emits these plain, immutable objects; the UI, the CLI and the tests only read them.
Every event names its run, its flow and the moment (UTC) it happened, and turns into plain JSON
with :meth:`Event.to_dict` (for ``--json`` output, logs and the trace panel).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from app.errors import Text
from app.processes.interaction import InteractionRequest

FlowOutcome = Literal["succeeded", "failed", "cancelled"]
"""How a flow ended."""

TraceDirection = Literal["tx", "rx", "info"]
"""``tx``: sent by us, ``rx``: received from the peer, ``info``: a note of the transport."""


def utc_now() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


def to_jsonable(value: Any) -> Any:
    """``value`` as plain JSON types (Text becomes ``{"en", "de"}``, datetimes ISO 8601)."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, Text):
        return {"en": value.en, "de": value.de}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, InteractionRequest):
        return value.to_dict()
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    raise TypeError(f"cannot express {type(value).__name__} as JSON")


@dataclass(frozen=True, kw_only=True)
class Event:
    """Common part of all events: which run, which flow, when (UTC)."""

    run_id: str
    flow: str
    timestamp: datetime = field(default_factory=utc_now)

    @property
    def type(self) -> str:
        """The event's kind, e.g. ``"StepStarted"``."""
        return type(self).__name__

    def to_dict(self) -> dict[str, Any]:
        """The event as plain JSON types, with its kind under ``"type"``."""
        out: dict[str, Any] = {"type": self.type}
        for f in dataclasses.fields(self):
            out[f.name] = to_jsonable(getattr(self, f.name))
        return out


@dataclass(frozen=True, kw_only=True)
class FlowStarted(Event):
    """A flow began (``resumed``: it continues a run interrupted earlier)."""

    title: Text | None = None
    resumed: bool = False


@dataclass(frozen=True)
class StepStarted(Event):
    """A step began to run."""

    step: str
    title: Text


@dataclass(frozen=True)
class StepProgress(Event):
    """Progress of the running step; ``fraction`` is 0..1 or ``None`` when unknown."""

    step: str
    fraction: float | None
    message: Text


@dataclass(frozen=True)
class NeedsInput(Event):
    """The running step waits for the technician (the request says what to show)."""

    step: str
    request: InteractionRequest


@dataclass(frozen=True)
class StepSucceeded(Event):
    """A step finished; ``data`` is its stored outcome."""

    step: str
    summary: Text | None
    data: Mapping[str, Any]


@dataclass(frozen=True)
class StepFailed(Event):
    """A step failed.

    ``kind`` is ``"timeout"``, ``"internal"`` (a programming error, details in the log),
    ``"storage"`` (the job database could not be written), ``"interrupted"`` (not repeated after a
    crash) or the ``kind`` of the :class:`~app.errors.SmgwctError` raised (``"error"`` by default).
    """

    step: str
    error: Text
    hint: Text | None
    kind: str


@dataclass(frozen=True)
class StepSkipped(Event):
    """On resume: a step that had already succeeded, with its stored outcome."""

    step: str
    summary: Text | None = None
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FlowFinished(Event):
    """The flow ended."""

    outcome: FlowOutcome


@dataclass(frozen=True)
class TraceLine(Event):
    """One line of protocol trace for the trace panel (``channel``: ``"han"``, ``"optical"`` …)."""

    channel: str
    direction: str
    text: str
    step: str | None = None


__all__ = [
    "Event",
    "FlowFinished",
    "FlowOutcome",
    "FlowStarted",
    "NeedsInput",
    "StepFailed",
    "StepProgress",
    "StepSkipped",
    "StepStarted",
    "StepSucceeded",
    "TraceDirection",
    "TraceLine",
    "to_jsonable",
    "utc_now",
]
