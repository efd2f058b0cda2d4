"""Technician API documents of the GWA link (ARCHITECTURE.md §3.2, docs/protocol/gwa-link.md).

The tool POSTs a :class:`ProcessRequest` (one administration operation for one gateway, with a
client-chosen idempotency key); the GWA answers 202 with the job's URL and a :class:`JobStatus`,
and reports progress as :class:`JobEvent` records (long-poll batch :class:`JobEvents` or
server-sent events).
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from datetime import datetime

from lxml import etree

from app.domain import SmgwId
from app.errors import Text
from app.protocols.admin import _xml as x
from app.protocols.admin import events, management, responses
from app.protocols.admin.catalog import NS_GWA_LINK
from app.protocols.admin.events import Event
from app.protocols.admin.management import Operation
from app.protocols.admin.responses import Response


@dataclass(frozen=True)
class ProcessRequest:
    """Ask the GWA to run ``operation`` on gateway ``smgw_id``.

    A repeated request with the same ``idempotency_key`` returns the existing job instead of
    starting a second one.
    """

    idempotency_key: uuid.UUID
    smgw_id: SmgwId
    operation: Operation
    work_order: str | None = None


def encode_process_request(r: ProcessRequest) -> etree._Element:
    x.expect(r, ProcessRequest, "processRequest")
    out = x.Out.root(NS_GWA_LINK, "processRequest",
                     idempotencyKey=x.uuid_text(r.idempotency_key, "processRequest.idempotencyKey"))
    out.add("smgwId", x.smgw_text(r.smgw_id, "processRequest.smgwId"))
    out.opt("workOrder", r.work_order)
    management.encode_operation(out, r.operation, "processRequest")
    return out.element


def decode_process_request(el: etree._Element) -> ProcessRequest:
    r = x.In(el)
    op = next(e for e in r.elements() if management.is_operation_element(e))
    return ProcessRequest(
        idempotency_key=x.read_uuid(r.attr("idempotencyKey")),
        smgw_id=x.read_smgw_id(r.text_of("smgwId"), "processRequest.smgwId"),
        operation=management.decode_operation(op),
        work_order=r.opt_text("workOrder"),
    )


class JobState(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def final(self) -> bool:
        return self in (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED)


class FailureReason(enum.StrEnum):
    """Why a job failed without (or before) a gateway answer."""

    UNKNOWN_GATEWAY = "unknown-gateway"
    WAKE_UP_UNANSWERED = "wake-up-unanswered"
    SESSION_DROPPED = "session-dropped"
    REJECTED_BY_GATEWAY = "rejected-by-gateway"
    TIMEOUT = "timeout"
    GWA_ERROR = "gwa-error"


FAILURE_TEXTS: dict[FailureReason, Text] = {
    FailureReason.UNKNOWN_GATEWAY: Text(
        "The GWA does not administer this gateway; check the SMGW ID.",
        "Der GWA administriert dieses Gateway nicht; SMGW-ID prüfen."),
    FailureReason.WAKE_UP_UNANSWERED: Text(
        "The gateway did not answer the wake-up; check its WAN connection and LEDs.",
        "Das Gateway hat auf den Wake-Up nicht reagiert; WAN-Verbindung und LEDs prüfen."),
    FailureReason.SESSION_DROPPED: Text(
        "The connection to the gateway dropped and did not come back in time.",
        "Die Verbindung zum Gateway ist abgebrochen und kam nicht rechtzeitig wieder."),
    FailureReason.REJECTED_BY_GATEWAY: Text(
        "The gateway refused the request; see its answer.",
        "Das Gateway hat die Anfrage abgelehnt; siehe seine Antwort."),
    FailureReason.TIMEOUT: Text(
        "The process did not finish in time.", "Der Vorgang wurde nicht rechtzeitig fertig."),
    FailureReason.GWA_ERROR: Text(
        "The GWA back end failed; try again later.",
        "Im GWA-System ist ein Fehler aufgetreten; später erneut versuchen."),
}


@dataclass(frozen=True)
class JobFailure:
    reason: FailureReason
    detail: str | None = None

    @property
    def text(self) -> Text:
        return FAILURE_TEXTS[FailureReason(self.reason)]


@dataclass(frozen=True)
class JobStatus:
    """State of one job; ``response`` is the gateway's answer once there is one."""

    job_id: uuid.UUID
    idempotency_key: uuid.UUID
    smgw_id: SmgwId
    state: JobState
    created: datetime
    updated: datetime
    last_event: int
    """Sequence of the newest progress event (0: none yet)."""
    response: Response | None = None
    failure: JobFailure | None = None


def _check_status(s: JobStatus) -> None:
    x.expect(s, JobStatus, "jobStatus")
    state = JobState(s.state)
    if s.failure is not None and state is not JobState.FAILED:
        raise x.fail("jobStatus.failure", f"Only a failed job has a failure, not a {state} one.",
                     f"Nur ein fehlgeschlagener Auftrag hat eine Fehlerursache, nicht ein {state}.")
    if state is JobState.FAILED and s.failure is None:
        raise x.fail("jobStatus.failure", "A failed job names its failure.",
                     "Ein fehlgeschlagener Auftrag nennt seine Fehlerursache.")
    if state is JobState.SUCCEEDED and (s.response is None or not s.response.ok):
        raise x.fail("jobStatus.response",
                     "A succeeded job carries the gateway's successful answer.",
                     "Ein erfolgreicher Auftrag enthält die erfolgreiche Antwort des Gateways.")
    if x.aware(s.updated, "jobStatus.updated") < x.aware(s.created, "jobStatus.created"):
        raise x.fail("jobStatus.updated", "The job was updated before it was created.",
                     "Der Auftrag wurde vor seiner Anlage aktualisiert.")


def encode_job_status(s: JobStatus) -> etree._Element:
    _check_status(s)
    out = x.Out.root(NS_GWA_LINK, "jobStatus", jobId=x.uuid_text(s.job_id, "jobStatus.jobId"),
                     idempotencyKey=x.uuid_text(s.idempotency_key, "jobStatus.idempotencyKey"))
    out.add("smgwId", x.smgw_text(s.smgw_id, "jobStatus.smgwId"))
    out.add("state", JobState(s.state).value)
    out.add("created", x.fmt_time(s.created, "jobStatus.created"))
    out.add("updated", x.fmt_time(s.updated, "jobStatus.updated"))
    out.add("lastEvent", x.expect_int(s.last_event, "jobStatus.lastEvent"))
    if s.response is not None:
        out.append(responses.encode_response(s.response))
    if s.failure is not None:
        f = out.add("failure", reason=FailureReason(s.failure.reason).value)
        f.opt("detail", s.failure.detail)
    return out.element


def decode_job_status(el: etree._Element) -> JobStatus:
    r = x.In(el)
    response_el = next((e for e in r.elements() if x.split_qname(e.tag)[1] == "response"), None)
    failure = r.maybe("failure")
    status = JobStatus(
        job_id=x.read_uuid(r.attr("jobId")),
        idempotency_key=x.read_uuid(r.attr("idempotencyKey")),
        smgw_id=x.read_smgw_id(r.text_of("smgwId"), "jobStatus.smgwId"),
        state=JobState(r.text_of("state")),
        created=x.parse_time(r.text_of("created"), "jobStatus.created"),
        updated=x.parse_time(r.text_of("updated"), "jobStatus.updated"),
        last_event=int(r.text_of("lastEvent")),
        response=None if response_el is None else responses.decode_response(response_el),
        failure=None if failure is None
        else JobFailure(FailureReason(failure.attr("reason")), failure.opt_text("detail")),
    )
    _check_status(status)
    return status


class Step(enum.StrEnum):
    """Progress steps of a job."""

    ACCEPTED = "accepted"
    WAKE_UP_SENT = "wake-up-sent"
    SESSION_STARTED = "session-started"
    REQUEST_SENT = "request-sent"
    RESULT_RECEIVED = "result-received"
    SESSION_ENDED = "session-ended"
    SMGW_EVENT = "smgw-event"
    FINISHED = "finished"


@dataclass(frozen=True)
class JobEvent:
    """One progress record; ``sequence`` starts at 1 and is the resume cursor."""

    job_id: uuid.UUID
    sequence: int
    time: datetime
    state: JobState
    step: Step
    detail: str | None = None
    event: Event | None = None
    """A gateway event relayed to the technician (step ``smgw-event``)."""


def _check_job_event(e: JobEvent, field: str) -> None:
    x.expect(e, JobEvent, field)
    if (Step(e.step) is Step.SMGW_EVENT) != (e.event is not None):
        raise x.fail(f"{field}.event",
                     "A gateway event is relayed exactly in steps of type smgw-event.",
                     "Ein Gateway-Ereignis wird genau in Schritten vom Typ smgw-event "
                     "weitergegeben.")
    if x.expect_int(e.sequence, f"{field}.sequence") < 1:
        raise x.fail(f"{field}.sequence", "Progress events are numbered from 1.",
                     "Fortschrittsereignisse werden ab 1 gezählt.")


def _encode_job_event(e: JobEvent, field: str) -> etree._Element:
    _check_job_event(e, field)
    out = x.Out.root(NS_GWA_LINK, "jobEvent", jobId=x.uuid_text(e.job_id, f"{field}.jobId"),
                     sequence=e.sequence)
    out.add("time", x.fmt_time(e.time, f"{field}.time"))
    out.add("state", JobState(e.state).value)
    out.add("step", Step(e.step).value)
    out.opt("detail", e.detail)
    if e.event is not None:
        out.append(events.encode_event(e.event, f"{field}.event"))
    return out.element


def encode_job_event(e: JobEvent) -> etree._Element:
    return _encode_job_event(e, "jobEvent")


def decode_job_event(el: etree._Element) -> JobEvent:
    r = x.In(el)
    ev = next((e for e in r.elements() if x.split_qname(e.tag)[1] == "event"), None)
    job_event = JobEvent(
        job_id=x.read_uuid(r.attr("jobId")),
        sequence=int(r.attr("sequence")),
        time=x.parse_time(r.text_of("time"), "jobEvent.time"),
        state=JobState(r.text_of("state")),
        step=Step(r.text_of("step")),
        detail=r.opt_text("detail"),
        event=None if ev is None else events.decode_event(ev),
    )
    _check_job_event(job_event, "jobEvent")
    return job_event


@dataclass(frozen=True)
class JobEvents:
    """Long-poll answer: progress events after the cursor; ``next`` is the cursor to send next."""

    job_id: uuid.UUID
    next: int
    events: tuple[JobEvent, ...] = ()


def _check_job_events(b: JobEvents) -> None:
    x.expect(b, JobEvents, "jobEvents")
    for i, e in enumerate(b.events):
        _check_job_event(e, f"jobEvents.jobEvent[{i}]")
        if e.job_id != b.job_id:
            raise x.fail("jobEvents.jobEvent", "A batch holds the events of one job only.",
                         "Ein Stapel enthält nur Ereignisse eines Auftrags.")
    if b.events and x.expect_int(b.next, "jobEvents.next") < max(e.sequence for e in b.events):
        raise x.fail("jobEvents.next", "The cursor lies before events in the batch.",
                     "Der Cursor liegt vor Ereignissen des Stapels.")


def encode_job_events(b: JobEvents) -> etree._Element:
    _check_job_events(b)
    out = x.Out.root(NS_GWA_LINK, "jobEvents", jobId=x.uuid_text(b.job_id, "jobEvents.jobId"),
                     next=b.next)
    for i, e in enumerate(b.events):
        out.append(_encode_job_event(e, f"jobEvents.jobEvent[{i}]"))
    return out.element


def decode_job_events(el: etree._Element) -> JobEvents:
    r = x.In(el)
    batch = JobEvents(
        job_id=x.read_uuid(r.attr("jobId")),
        next=int(r.attr("next")),
        events=tuple(decode_job_event(e.element) for e in r.many("jobEvent")),
    )
    _check_job_events(batch)
    return batch
