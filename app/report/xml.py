"""The report's XML form (``resources/schemas/commissioning-report.xsd``) and its content hash.

The *content hash* (Inhalts-Prüfsumme) is what the PDF prints in its footer: SHA-256 over the
exclusive XML canonicalisation (C14N 1.0, no comments) of the report with the ``<pdf>`` element
removed and whitespace-only text between elements dropped. It identifies the report's content
independently of line breaks and indentation, and it can be printed in the PDF before the PDF's own
hash is written into the XML (see docs/report.md).
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib

from lxml import etree

from app.errors import Text
from app.report.model import CommissioningReport
from app.security.xml import to_bytes, validate
from app.store.jobs import CertificateRecord, DeviceRecord, Photo, Reading, Seal

NAMESPACE = "urn:smgwct:commissioning-report:1"
SCHEMA = "commissioning-report.xsd"
PDF_ELEMENT = "pdf"


def q(name: str) -> str:
    """The qualified name of a report element."""
    return f"{{{NAMESPACE}}}{name}"


def utc(moment: dt.datetime | None) -> str | None:
    """``2025-03-03T14:05:12Z`` (seconds, UTC)."""
    if moment is None:
        return None
    return moment.astimezone(dt.UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def _set(element: etree._Element, **attrs: object) -> etree._Element:
    for key, value in attrs.items():
        if value is not None:
            element.set(key, str(value))
    return element


def _sub(parent: etree._Element, tag: str, text: str | None = None, /, **attrs: object
         ) -> etree._Element:
    element = etree.SubElement(parent, q(tag))
    if text is not None:
        element.text = text
    return _set(element, **attrs)


def _text(parent: etree._Element, name: str, text: Text | None) -> None:
    if text is not None:
        _sub(parent, name, en=text.en, de=text.de)


def report_element(report: CommissioningReport) -> etree._Element:
    """The report as an XML tree without the ``<pdf>`` reference (valid against the XSD)."""
    order = report.order
    root = etree.Element(q("commissioningReport"), nsmap={None: NAMESPACE})
    _set(root, version=1, id=report.report_id, generated=utc(report.generated))
    _sub(root, "tool", name="smgwct", version=report.tool_version)
    _sub(root, "technician", report.technician)
    _sub(root, "signer", sha256=report.signer.sha256, subject=report.signer.subject,
         issuer=report.signer.issuer)

    job = _sub(root, "job", id=order.job_id, state=report.job_state)
    _sub(job, "meteringPointId", order.metering_point_id)
    if order.customer_name:
        _sub(job, "customerName", order.customer_name)
    _sub(job, "site", street=order.site.street, postalCode=order.site.postal_code,
         city=order.site.city, location=order.site.location)
    _sub(job, "gwaTenant", order.gwa_tenant)
    flows = _sub(job, "plannedFlows")
    for flow in order.flows:
        _sub(flows, "flow", flow.value)
    if order.planned_date is not None:
        _sub(job, "plannedDate", order.planned_date.isoformat())
    _sub(job, "workOrderSource", format=report.source_format, file=report.source_name,
         sha256=report.source_sha256)
    if order.notes:
        _sub(job, "notes", order.notes)

    expected = _sub(root, "expected")
    _sub(expected, "smgw", id=order.smgw_id.text)
    for meter in order.meters:
        _sub(expected, "meter", serverId=meter.server_id_text, role=meter.role.value,
             keyRef=meter.key_ref)

    devices = _sub(root, "devices")
    for d in report.devices:
        _device(devices, d)
    certificates = _sub(root, "certificates")
    for c in report.certificates:
        _certificate(certificates, c)
    readings = _sub(root, "readings")
    for r in report.readings:
        _reading(readings, r)
    seals = _sub(root, "seals")
    for s in report.seals:
        _seal(seals, s)
    photos = _sub(root, "photos")
    for p in report.photos:
        _photo(photos, p)
    notes = _sub(root, "notes")
    for n in report.notes:
        _sub(notes, "note", n.text, author=n.author, time=utc(n.time))
    checks = _sub(root, "checks")
    for c in report.checks:
        _sub(checks, "check", name=c.name, subject=c.subject, expected=c.expected,
             observed=c.observed, result=c.result.value)
    runs = _sub(root, "runs")
    for run in report.runs:
        r_el = _sub(runs, "run", id=run.run_id, flow=run.flow, state=run.state,
                    started=utc(run.started), updated=utc(run.updated))
        for step in run.steps:
            s_el = _sub(r_el, "step", name=step.step, state=step.state,
                        started=utc(step.started), finished=utc(step.finished))
            _text(s_el, "summary", step.summary)
            _text(s_el, "error", step.error)
    a = report.audit
    _sub(root, "audit", headHash=a.head_hash, entries=a.entries, jobEntries=a.job_entries,
         intact="true" if a.intact else "false", problem=a.problem)
    _sub(root, "verdict", report.verdict.value)
    return root


def _device(parent: etree._Element, d: DeviceRecord) -> None:
    _sub(parent, "device", kind=d.kind, id=d.identifier, role=d.role, vendor=d.vendor,
         model=d.model, firmwareVersion=d.firmware_version, firmwareHash=d.firmware_hash,
         publicKeySha256=d.public_key_sha256, source=d.source, runId=d.run_id,
         time=utc(d.time))


def _certificate(parent: etree._Element, c: CertificateRecord) -> None:
    _sub(parent, "certificate", owner=c.owner, purpose=c.purpose, sha256=c.sha256,
         subject=c.subject, issuer=c.issuer, notAfter=c.not_after, state=c.state,
         runId=c.run_id, time=utc(c.time))


def _reading(parent: etree._Element, r: Reading) -> None:
    _sub(parent, "reading", serverId=r.server_id, obis=r.obis, value=r.value, unit=r.unit,
         source=r.source, role=r.role, runId=r.run_id, time=utc(r.time))


def _seal(parent: etree._Element, s: Seal) -> None:
    _sub(parent, "seal", number=s.number, action=s.action, location=s.location,
         serverId=s.server_id, time=utc(s.time))


def _photo(parent: etree._Element, p: Photo, attached: bool = True) -> None:
    _sub(parent, "photo", file=p.file, sha256=p.sha256, size=p.size,
         originalName=p.original_name, caption=p.caption,
         attached="true" if attached else "false", time=utc(p.time))


def mark_photos(root: etree._Element, attached: bool) -> None:
    """Set whether the photos travel with the report (copied beside it) or stay in the job."""
    for photo in root.iter(q("photo")):
        photo.set("attached", "true" if attached else "false")


def content_digest(root: etree._Element) -> str:
    """The content hash: SHA-256 of the normalised, canonical report without ``<pdf>``."""
    work = copy.deepcopy(root)
    for pdf in work.findall(q(PDF_ELEMENT)):
        work.remove(pdf)
    for element in work.iter():
        if len(element) and element.text is not None and not element.text.strip():
            element.text = None
        if element.tail is not None and not element.tail.strip():
            element.tail = None
    canonical = etree.tostring(work, method="c14n", exclusive=True, with_comments=False)
    return hashlib.sha256(canonical).hexdigest()


def add_pdf_reference(root: etree._Element, file: str, data: bytes, lang: str) -> None:
    """Record the PDF rendering by name, size and SHA-256 (last element of the report)."""
    for old in root.findall(q(PDF_ELEMENT)):
        root.remove(old)
    _sub(root, PDF_ELEMENT, file=file, sha256=hashlib.sha256(data).hexdigest(), size=len(data),
         lang=lang)


def report_bytes(root: etree._Element) -> bytes:
    """Validated, indented UTF-8 XML of the report."""
    validate(root, SCHEMA, field="report")
    return to_bytes(root, pretty=True)


__all__ = [
    "NAMESPACE",
    "SCHEMA",
    "add_pdf_reference",
    "content_digest",
    "mark_photos",
    "q",
    "report_bytes",
    "report_element",
    "utc",
]
