"""The commissioning report (Inbetriebnahmeprotokoll) as data, assembled from a stored job.

The report holds what DOMAIN.md §9.3 lists: job and metering point, technician and time, the
expected and the observed identities (SMGW ID, meter server IDs), firmware versions and hashes,
certificate fingerprints, readings of the old and the new meter, seal numbers, photos (by
SHA-256), notes, every flow run with each step's result and time, the identity checks, and the
audit log's head hash. Its XML form is ``app.report.xml``, its PDF form ``app.report.pdf``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from enum import StrEnum

from cryptography.x509.oid import NameOID

from app import __version__
from app.domain import ServerId
from app.errors import InvalidValue, Text
from app.security.pki import CertifiedKey, describe_certificate
from app.store.audit import AuditLog
from app.store.db import JobStore
from app.store.jobs import (
    CertificateRecord,
    DeviceRecord,
    Job,
    MeterRole,
    Note,
    Photo,
    Reading,
    Seal,
    WorkOrder,
    WorkOrderStore,
)


class CheckResult(StrEnum):
    """Outcome of one evidence line."""

    OK = "ok"
    MISMATCH = "mismatch"
    MISSING = "missing"
    NOT_CHECKED = "not_checked"


class Verdict(StrEnum):
    """Overall result: all planned flows succeeded and nothing contradicts the work order."""

    PASSED = "passed"
    FAILED = "failed"
    INCOMPLETE = "incomplete"


@dataclass(frozen=True)
class Check:
    """An evidence line: what the work order expects against what was observed."""

    name: str  # smgw_id, meter, old_meter_reading, unexpected_meter, flow
    subject: str
    expected: str | None
    observed: str | None
    result: CheckResult


@dataclass(frozen=True)
class StepLine:
    """One visit of a step of a flow run, as stored by the engine."""

    step: str
    state: str
    started: dt.datetime
    finished: dt.datetime | None
    summary: Text | None = None
    error: Text | None = None
    title: Text | None = None
    """The step's title in its flow (what the technician saw), when this version knows it."""


@dataclass(frozen=True)
class RunLine:
    """A flow run of the job with its steps."""

    run_id: str
    flow: str
    state: str
    started: dt.datetime | None
    updated: dt.datetime | None
    steps: tuple[StepLine, ...] = ()


@dataclass(frozen=True)
class AuditSummary:
    """The audit log at the time of the report: its head hash and whether the chain is intact."""

    head_hash: str
    entries: int
    job_entries: int
    intact: bool
    problem: str | None = None


@dataclass(frozen=True)
class SignerInfo:
    """The certificate the report is signed with (the technician's)."""

    subject: str
    issuer: str
    sha256: str
    common_name: str


@dataclass(frozen=True)
class CommissioningReport:
    """Everything the report states; built by :func:`assemble_report`."""

    report_id: str
    generated: dt.datetime
    tool_version: str
    technician: str
    signer: SignerInfo
    order: WorkOrder
    job_state: str
    source_format: str
    source_name: str | None
    source_sha256: str | None
    devices: tuple[DeviceRecord, ...]
    certificates: tuple[CertificateRecord, ...]
    readings: tuple[Reading, ...]
    seals: tuple[Seal, ...]
    notes: tuple[Note, ...]
    photos: tuple[Photo, ...]
    runs: tuple[RunLine, ...]
    checks: tuple[Check, ...]
    audit: AuditSummary
    verdict: Verdict

    @property
    def gateway(self) -> DeviceRecord | None:
        gateways = [d for d in self.devices if d.kind == "gateway"]
        return gateways[-1] if gateways else None


def signer_info(signer: CertifiedKey) -> SignerInfo:
    info = describe_certificate(signer.cert)
    names = signer.cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    common = str(names[0].value) if names else info.subject
    return SignerInfo(info.subject, info.issuer, info.sha256, common)


def _latest(records: tuple[DeviceRecord, ...]) -> tuple[DeviceRecord, ...]:
    """The newest record per (kind, identifier), in the order they were first seen."""
    latest: dict[tuple[str, str], DeviceRecord] = {}
    for record in records:
        latest[(record.kind, _same_id(record.identifier))] = record
    return tuple(latest.values())


def _latest_certs(records: tuple[CertificateRecord, ...]) -> tuple[CertificateRecord, ...]:
    latest: dict[tuple[str, str], CertificateRecord] = {}
    for record in records:
        latest[(record.owner, record.purpose)] = record
    return tuple(latest.values())


def _same_id(text: str) -> str:
    """A comparable form of a server ID or SMGW ID (binary hex); the text itself if unparsable."""
    try:
        return ServerId.parse(text, strict=False).hex
    except InvalidValue:
        return text.strip().upper()


def _step_titles(flow_name: str) -> dict[str, Text]:
    """The titles of the steps of ``flow_name`` (empty for a flow this version does not have)."""
    from app.processes.flows import by_name  # the flows import the report's neighbours

    try:
        flow = by_name(flow_name)
    except KeyError:
        return {}
    return {step.name: step.title for step in flow.steps}


def _runs(job: Job, runs: JobStore | None) -> tuple[RunLine, ...]:
    lines = []
    for attached in job.runs:
        record = runs.get_run(attached.run_id) if runs is not None else None
        if record is None:
            lines.append(RunLine(attached.run_id, attached.flow, "unknown", None, None))
            continue
        titles = _step_titles(record.flow)
        steps = tuple(
            StepLine(v.step, str(v.state), v.started, v.finished, v.summary,
                     v.error.message if v.error is not None else None, titles.get(v.step))
            for v in runs.steps(attached.run_id)  # type: ignore[union-attr]
        )
        lines.append(RunLine(record.id, record.flow, str(record.state), record.created,
                             record.updated, steps))
    return tuple(lines)


def _checks(order: WorkOrder, devices: tuple[DeviceRecord, ...],
            readings: tuple[Reading, ...], runs: tuple[RunLine, ...]) -> tuple[Check, ...]:
    checks: list[Check] = []
    gateways = [d for d in devices if d.kind == "gateway"]
    if not gateways:
        checks.append(Check("smgw_id", order.smgw_id.text, order.smgw_id.text, None,
                            CheckResult.NOT_CHECKED))
    for gw in gateways:
        same = _same_id(gw.identifier) == order.smgw_id.server_id.hex
        checks.append(Check("smgw_id", order.smgw_id.text, order.smgw_id.text, gw.identifier,
                            CheckResult.OK if same else CheckResult.MISMATCH))
    meters = {_same_id(d.identifier): d for d in devices if d.kind == "meter"}
    expected = {m.server_id.hex for m in order.meters}
    for meter in order.meters:
        name = meter.server_id_text
        if meter.role is MeterRole.OLD:
            final = [r for r in readings if _same_id(r.server_id) == meter.server_id.hex]
            checks.append(Check("old_meter_reading", name, name,
                                f"{final[-1].obis} = {final[-1].value}" if final else None,
                                CheckResult.OK if final else CheckResult.MISSING))
            continue
        seen = meters.get(meter.server_id.hex)
        if seen is not None:
            result = CheckResult.OK
        else:
            result = CheckResult.MISSING if meters else CheckResult.NOT_CHECKED
        checks.append(Check("meter", name, name, seen.identifier if seen else None, result))
    for key, device in meters.items():
        if key not in expected:
            checks.append(Check("unexpected_meter", device.identifier, None, device.identifier,
                                CheckResult.MISMATCH))
    for flow in order.flows:
        states = [r.state for r in runs if r.flow == flow.value]
        if "succeeded" in states:
            result = CheckResult.OK
        elif states:
            result = CheckResult.MISMATCH if states[-1] == "failed" else CheckResult.MISSING
        else:
            result = CheckResult.MISSING
        checks.append(Check("flow", flow.value, "succeeded", states[-1] if states else None,
                            result))
    return tuple(checks)


def _verdict(checks: tuple[Check, ...], runs: tuple[RunLine, ...]) -> Verdict:
    if any(c.result is CheckResult.MISMATCH for c in checks) or any(
        r.state == "failed" for r in runs
    ):
        return Verdict.FAILED
    if not runs or any(c.result is not CheckResult.OK for c in checks):
        return Verdict.INCOMPLETE
    return Verdict.PASSED


def assemble_report(
    job: Job,
    *,
    signer: CertifiedKey,
    store: WorkOrderStore | None = None,
    runs: JobStore | None = None,
    audit: AuditLog | None = None,
    technician: str | None = None,
    now: dt.datetime | None = None,
) -> CommissioningReport:
    """The report of ``job`` (as stored now); ``runs`` and ``audit`` add steps and the head hash."""
    devices = _latest(job.devices)
    run_lines = _runs(job, runs)
    checks = _checks(job.order, devices, job.readings, run_lines)
    if audit is not None:
        verdict = audit.verify()
        trail = store.audit_trail(job.job_id, audit) if store is not None else []
        summary = AuditSummary(
            head_hash=audit.head_hash(), entries=len(audit), job_entries=len(trail),
            intact=verdict.ok, problem=None if verdict.message is None else verdict.message.en)
    else:
        summary = AuditSummary("0" * 64, 0, 0, False, "no audit log given")
    who = signer_info(signer)
    return CommissioningReport(
        report_id=str(uuid.uuid4()),
        generated=(now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).replace(microsecond=0),
        tool_version=__version__,
        technician=technician or who.common_name,
        signer=who,
        order=job.order,
        job_state=str(job.state),
        source_format=job.source,
        source_name=job.source_name,
        source_sha256=job.source_sha256,
        devices=devices,
        certificates=_latest_certs(job.certificates),
        readings=job.readings,
        seals=job.seals,
        notes=job.notes,
        photos=job.photos,
        runs=run_lines,
        checks=checks,
        audit=summary,
        verdict=_verdict(checks, run_lines),
    )


__all__ = [
    "AuditSummary",
    "Check",
    "CheckResult",
    "CommissioningReport",
    "RunLine",
    "SignerInfo",
    "StepLine",
    "Verdict",
    "assemble_report",
    "signer_info",
]
