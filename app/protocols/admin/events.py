"""Events (spec ch. 4.2.6, 5.14): what the gateway reports to the GWA over INFO-REPORT.

Each event has a UUID (the GWA de-duplicates by it) and a per-gateway sequence number (the
gateway's persistent retry queue sends in that order). Codes, default severity, component and
subject kind come from :data:`~app.protocols.admin.catalog.EVENT_TYPES`; unknown codes are kept
and shown as such, so a newer gateway never gets its events refused.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from lxml import etree

from app.domain import LogicalName, ServerId, SmgwId
from app.errors import Text
from app.protocols.admin import _xml as x
from app.protocols.admin.catalog import (
    EVENT_CODES,
    EVENT_TYPES,
    NS_EVENT,
    EventType,
    ProfileKind,
    Severity,
    SubjectKind,
)
from app.protocols.admin.profiles import ProfileRef


class Component(enum.StrEnum):
    """Part of the gateway an event comes from."""

    SYSTEM = "system"
    WAN = "wan"
    LMN = "lmn"
    HAN = "han"
    CLS = "cls"
    SECURITY_MODULE = "security-module"
    PROFILES = "profiles"
    CLOCK = "clock"
    SELF_TEST = "self-test"


class Interface(enum.StrEnum):
    WAN = "wan"
    LMN = "lmn"
    HAN = "han"


# --- subjects ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class GatewaySubject:
    """The gateway itself."""

    kind = SubjectKind.GATEWAY


@dataclass(frozen=True)
class MeterSubject:
    server_id: ServerId
    kind = SubjectKind.METER


@dataclass(frozen=True)
class ProfileSubject:
    ref: ProfileRef
    kind = SubjectKind.PROFILE


@dataclass(frozen=True)
class PeerSubject:
    """A peer, named by its communication profile ID."""

    profile_id: LogicalName
    kind = SubjectKind.PEER


@dataclass(frozen=True)
class InterfaceSubject:
    interface: Interface
    kind = SubjectKind.INTERFACE


@dataclass(frozen=True)
class CertificateSubject:
    """A certificate, named by its SHA-256 fingerprint."""

    fingerprint: str
    kind = SubjectKind.CERTIFICATE


Subject = (
    GatewaySubject | MeterSubject | ProfileSubject | PeerSubject | InterfaceSubject
    | CertificateSubject
)


# --- event -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EventDetail:
    """A named detail, e.g. ``meterStatus = fe09`` or ``newAddress = 192.0.2.7``."""

    name: str
    value: str


@dataclass(frozen=True)
class Event:
    """One event record (Ereignis) of a gateway."""

    id: uuid.UUID
    sequence: int
    code: int
    severity: Severity
    time: datetime
    smgw_id: SmgwId
    component: Component
    subject: Subject
    details: tuple[EventDetail, ...] = ()

    @property
    def type(self) -> EventType | None:
        """The catalogue entry of the code; None for a code this version does not know."""
        return EVENT_TYPES.get(self.code)

    @property
    def title(self) -> Text:
        known = self.type
        if known is not None:
            return known.title
        return Text(f"Unknown event {self.code}", f"Unbekanntes Ereignis {self.code}")

    def detail(self, name: str) -> str | None:
        for d in self.details:
            if d.name == name:
                return d.value
        return None

    @classmethod
    def new(
        cls,
        name: str,
        *,
        smgw_id: SmgwId,
        sequence: int,
        subject: Subject | None = None,
        details: dict[str, str] | None = None,
        time: datetime | None = None,
    ) -> Event:
        """An event of the catalogued type ``name`` (e.g. ``"METER_DETECTED"``) with a new UUID.

        Severity and component come from the catalogue; ``subject`` defaults to the gateway.
        """
        etype = EVENT_TYPES[EVENT_CODES[name]]
        return cls(
            id=uuid.uuid4(),
            sequence=sequence,
            code=etype.code,
            severity=etype.severity,
            time=time or datetime.now(UTC),
            smgw_id=smgw_id,
            component=Component(etype.component),
            subject=subject or GatewaySubject(),
            details=tuple(EventDetail(k, v) for k, v in (details or {}).items()),
        )


def _check_event(e: Event, field: str) -> None:
    x.expect(e, Event, field)
    known = e.type
    if known is None:
        return
    if Severity(e.severity) is not known.severity:
        raise x.fail(
            f"{field}.severity",
            f"Event {e.code} ({known.name}) has severity {known.severity}, not {e.severity}.",
            f"Ereignis {e.code} ({known.name}) hat den Schweregrad {known.severity}, nicht "
            f"{e.severity}.",
        )
    kind = getattr(e.subject, "kind", None)
    if kind is not known.subject:
        raise x.fail(
            f"{field}.subject",
            f"Event {e.code} ({known.name}) is about a {known.subject}, not a {kind}.",
            f"Ereignis {e.code} ({known.name}) betrifft {known.subject}, nicht {kind}.",
        )


def _encode_subject(parent: x.Out, subject: Subject, field: str) -> None:
    out = parent.add("subject")
    if isinstance(subject, GatewaySubject):
        out.add("gateway")
    elif isinstance(subject, MeterSubject):
        out.add("meter", x.server_hex(subject.server_id, field))
    elif isinstance(subject, ProfileSubject):
        ref = x.expect(subject.ref, ProfileRef, field)
        out.add("profile", kind=ProfileKind(ref.kind).value, id=x.ln_text(ref.id, field))
    elif isinstance(subject, PeerSubject):
        out.add("peer", x.ln_text(subject.profile_id, field))
    elif isinstance(subject, InterfaceSubject):
        out.add("interface", Interface(subject.interface).value)
    elif isinstance(subject, CertificateSubject):
        out.add("certificate", subject.fingerprint)
    else:
        raise x.fail(field, f"{type(subject).__name__} is not an event subject.",
                     f"{type(subject).__name__} ist kein Ereignis-Gegenstand.")


def _decode_subject(el: x.In) -> Subject:
    (child,) = el.elements()
    s = x.In(child)
    name = s.local
    if name == "gateway":
        return GatewaySubject()
    if name == "meter":
        return MeterSubject(x.read_server_id(s.text, "event.subject.meter"))
    if name == "profile":
        return ProfileSubject(
            ProfileRef(ProfileKind(s.attr("kind")), x.read_ln(s.attr("id"), "event.subject"))
        )
    if name == "peer":
        return PeerSubject(x.read_ln(s.text, "event.subject.peer"))
    if name == "interface":
        return InterfaceSubject(Interface(s.text))
    return CertificateSubject(s.text)


def encode_event(e: Event, field: str = "event") -> etree._Element:
    _check_event(e, field)
    out = x.Out.root(NS_EVENT, "event", id=x.uuid_text(e.id, f"{field}.id"),
                     sequence=x.expect_int(e.sequence, f"{field}.sequence"))
    out.add("code", x.expect_int(e.code, f"{field}.code"))
    out.add("severity", Severity(e.severity).value)
    out.add("time", x.fmt_time(e.time, f"{field}.time"))
    out.add("source", smgwId=x.smgw_text(e.smgw_id, f"{field}.source"),
            component=Component(e.component).value)
    _encode_subject(out, e.subject, f"{field}.subject")
    for d in e.details:
        out.add("detail", d.value, name=d.name)
    return out.element


def decode_event(el: etree._Element) -> Event:
    r = x.In(el)
    source = r.one("source")
    event = Event(
        id=x.read_uuid(r.attr("id")),
        sequence=int(r.attr("sequence")),
        code=int(r.text_of("code")),
        severity=Severity(r.text_of("severity")),
        time=x.parse_time(r.text_of("time"), "event.time"),
        smgw_id=x.read_smgw_id(source.attr("smgwId"), "event.source"),
        component=Component(source.attr("component")),
        subject=_decode_subject(r.one("subject")),
        details=tuple(EventDetail(d.attr("name"), d.text) for d in r.many("detail")),
    )
    _check_event(event, "event")
    return event


# --- INFO-REPORT batch and acknowledgement -----------------------------------------------------


@dataclass(frozen=True)
class EventReport:
    """Body of one INFO-REPORT POST: 1 to 100 events of one gateway, oldest first."""

    events: tuple[Event, ...]

    @property
    def smgw_id(self) -> SmgwId:
        return self.events[0].smgw_id


def _check_report(report: EventReport) -> None:
    events = report.events
    for i, e in enumerate(events):
        _check_event(e, f"eventReport.event[{i}]")
    if len({e.smgw_id for e in events}) > 1:
        raise x.fail("eventReport", "An event report carries events of one gateway only.",
                     "Ein Ereignisbericht enthält nur Ereignisse eines Gateways.")
    for before, after in zip(events, events[1:], strict=False):
        if after.sequence <= before.sequence:
            raise x.fail(
                "eventReport.event",
                f"Events must be sent oldest first; sequence {after.sequence} follows "
                f"{before.sequence}.",
                f"Ereignisse werden ältestes zuerst gesendet; Sequenz {after.sequence} folgt auf "
                f"{before.sequence}.",
            )


def encode_report(report: EventReport) -> etree._Element:
    x.expect(report, EventReport, "eventReport")
    _check_report(report)
    out = x.Out.root(NS_EVENT, "eventReport")
    for i, e in enumerate(report.events):
        out.append(encode_event(e, f"eventReport.event[{i}]"))
    return out.element


def decode_report(el: etree._Element) -> EventReport:
    report = EventReport(tuple(decode_event(e.element) for e in x.In(el).many("event")))
    _check_report(report)
    return report


@dataclass(frozen=True)
class EventAck:
    """The GWA's answer to an event report: the IDs it has stored (duplicates included)."""

    accepted: tuple[uuid.UUID, ...]


def encode_ack(ack: EventAck) -> etree._Element:
    out = x.Out.root(NS_EVENT, "eventAck")
    for i, event_id in enumerate(ack.accepted):
        out.add("accepted", x.uuid_text(event_id, f"eventAck.accepted[{i}]"))
    return out.element


def decode_ack(el: etree._Element) -> EventAck:
    return EventAck(tuple(x.read_uuid(a.text) for a in x.In(el).many("accepted")))
