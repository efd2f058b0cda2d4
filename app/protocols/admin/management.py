"""MANAGEMENT channel documents (spec ch. 5.2, 5.3) and the five administration operations.

The gateway opens TLS to the GWA and POSTs a :class:`SessionStart`; the GWA answers with a
:class:`SessionRequest` (one operation) or a :class:`SessionEnd`; the gateway POSTs each
:class:`SessionResult` and gets the next request, until the session ends
(docs/protocol/05-02-channels.md). Operations stand for HTTP methods (ch. 4.2.3):
create = POST, read = GET, update = PUT, delete = DELETE, call = POST.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from datetime import datetime

from lxml import etree

from app.domain import SmgwId
from app.protocols.admin import _xml as x
from app.protocols.admin import methods, profiles, responses
from app.protocols.admin.catalog import NS_MANAGEMENT, OPERATIONS, OperationInfo, ProfileKind
from app.protocols.admin.methods import MethodCall
from app.protocols.admin.profiles import Profile, ProfileRef
from app.protocols.admin.responses import Response

# --- operations --------------------------------------------------------------------------------


@dataclass(frozen=True)
class CreateProfile:
    """Profil anlegen: the profile must not exist yet; its revision is 1."""

    profile: Profile
    element = "create"


@dataclass(frozen=True)
class UpdateProfile:
    """Profil aktualisieren: the full profile with revision = stored revision + 1."""

    profile: Profile
    element = "update"


@dataclass(frozen=True)
class ReadProfile:
    """Profil auslesen."""

    ref: ProfileRef
    element = "read"


@dataclass(frozen=True)
class DeleteProfile:
    """Profil löschen."""

    ref: ProfileRef
    element = "delete"


@dataclass(frozen=True)
class CallMethod:
    """Methodenaufruf."""

    call: MethodCall
    element = "call"


Operation = CreateProfile | UpdateProfile | ReadProfile | DeleteProfile | CallMethod


def operation_info(op: Operation) -> OperationInfo:
    """HTTP method and success status the operation stands for."""
    return OPERATIONS[op.element]


def request_line(op: Operation) -> str:
    """The operation as the HTTP request it stands for, for logs and progress views.

    ``PUT /profiles/meter/01005e318002.1emh0012345678.sm``, ``POST /methods/pairing``.
    """
    method = OPERATIONS[op.element].http_method
    if isinstance(op, CreateProfile):
        return f"{method} /profiles/{op.profile.kind.value}"
    if isinstance(op, UpdateProfile):
        return f"{method} /profiles/{op.profile.kind.value}/{op.profile.id.text}"
    if isinstance(op, ReadProfile | DeleteProfile):
        return f"{method} /profiles/{ProfileKind(op.ref.kind).value}/{op.ref.id.text}"
    return f"{method} /methods/{methods.METHOD_ELEMENTS[type(op.call)]}"


def _check_operation(op: Operation, field: str) -> None:
    x.expect(op, (CreateProfile, UpdateProfile, ReadProfile, DeleteProfile, CallMethod), field)
    if isinstance(op, CreateProfile) and getattr(op.profile, "revision", 1) != 1:
        raise x.fail(
            f"{field}.create",
            f"A new profile has revision 1, not {op.profile.revision}; to change an existing "
            "profile, send an update.",
            f"Ein neues Profil hat Revision 1, nicht {op.profile.revision}; um ein bestehendes "
            "Profil zu ändern, bitte aktualisieren.",
        )


def encode_operation(parent: x.Out, op: Operation, field: str) -> None:
    """Append the operation element (in the management namespace) to ``parent``."""
    _check_operation(op, field)
    el = etree.SubElement(
        parent.element, x.qname(NS_MANAGEMENT, op.element), nsmap={None: NS_MANAGEMENT}
    )
    if isinstance(op, CreateProfile | UpdateProfile):
        el.append(profiles.encode_profile(op.profile))
    elif isinstance(op, ReadProfile | DeleteProfile):
        ref = x.expect(op.ref, ProfileRef, f"{field}.{op.element}")
        el.set("kind", ProfileKind(ref.kind).value)
        el.set("id", x.ln_text(ref.id, f"{field}.{op.element}.id"))
    else:
        el.append(methods.encode_call(op.call))


def decode_operation(el: etree._Element) -> Operation:
    ns, local = x.split_qname(el.tag)
    node = x.In(el)
    if local in ("create", "update"):
        (child,) = node.elements()
        profile = profiles.decode_profile(child)
        op: Operation = CreateProfile(profile) if local == "create" else UpdateProfile(profile)
    elif local in ("read", "delete"):
        ref = ProfileRef(ProfileKind(node.attr("kind")), x.read_ln(node.attr("id"), f"{local}.id"))
        op = ReadProfile(ref) if local == "read" else DeleteProfile(ref)
    else:
        (child,) = node.elements()
        op = CallMethod(methods.decode_call(child))
    _check_operation(op, local)
    return op


def is_operation_element(el: etree._Element) -> bool:
    ns, local = x.split_qname(el.tag)
    return ns == NS_MANAGEMENT and local in OPERATIONS


# --- session documents -------------------------------------------------------------------------


class StartReason(enum.StrEnum):
    """Why the gateway opened the MANAGEMENT channel."""

    WAKE_UP = "wake-up"
    SCHEDULE = "schedule"
    BOOT = "boot"
    RESUME = "resume"
    """Reconnect after a dropped session, to deliver ``pending_result``."""


@dataclass(frozen=True)
class SessionStart:
    """Gateway -> GWA: first POST of a MANAGEMENT session."""

    session_id: uuid.UUID
    smgw_id: SmgwId
    reason: StartReason
    time: datetime
    firmware_version: str
    wake_up_nonce: bytes | None = None
    """The nonce of the wake-up packet that caused this session (reason wake-up only)."""
    pending_result: Response | None = None
    """The answer to the last request of a dropped session."""


def _check_start(s: SessionStart) -> None:
    x.expect(s, SessionStart, "sessionStart")
    woken = StartReason(s.reason) is StartReason.WAKE_UP
    if woken != (s.wake_up_nonce is not None):
        raise x.fail(
            "sessionStart.wakeUpNonce",
            "A session started by a wake-up packet names the packet's nonce; other sessions "
            "carry none.",
            "Eine durch ein Wake-Up-Paket ausgelöste Sitzung nennt dessen Nonce; andere "
            "Sitzungen enthalten keine.",
        )
    if StartReason(s.reason) is StartReason.RESUME and s.pending_result is None:
        raise x.fail("sessionStart.pendingResult",
                     "A resumed session delivers the pending result.",
                     "Eine wieder aufgenommene Sitzung liefert das ausstehende Ergebnis.")


def encode_start(s: SessionStart) -> etree._Element:
    _check_start(s)
    out = x.Out.root(NS_MANAGEMENT, "sessionStart",
                     sessionId=x.uuid_text(s.session_id, "sessionStart.sessionId"))
    out.add("smgwId", x.smgw_text(s.smgw_id, "sessionStart.smgwId"))
    out.add("reason", StartReason(s.reason).value)
    if s.wake_up_nonce is not None:
        out.add("wakeUpNonce", x.hex_bytes(s.wake_up_nonce, "sessionStart.wakeUpNonce"))
    out.add("time", x.fmt_time(s.time, "sessionStart.time"))
    out.add("firmwareVersion", s.firmware_version)
    if s.pending_result is not None:
        out.add("pendingResult").append(responses.encode_response(s.pending_result))
    return out.element


def decode_start(el: etree._Element) -> SessionStart:
    r = x.In(el)
    nonce = r.opt_text("wakeUpNonce")
    pending = r.maybe("pendingResult")
    start = SessionStart(
        session_id=x.read_uuid(r.attr("sessionId")),
        smgw_id=x.read_smgw_id(r.text_of("smgwId"), "sessionStart.smgwId"),
        reason=StartReason(r.text_of("reason")),
        time=x.parse_time(r.text_of("time"), "sessionStart.time"),
        firmware_version=r.text_of("firmwareVersion"),
        wake_up_nonce=None if nonce is None else bytes.fromhex(nonce),
        pending_result=None if pending is None
        else responses.decode_response(pending.elements()[0]),
    )
    _check_start(start)
    return start


@dataclass(frozen=True)
class SessionRequest:
    """GWA -> gateway (body of the HTTP response): the next administration request."""

    session_id: uuid.UUID
    request_id: uuid.UUID
    operation: Operation


def encode_request(r: SessionRequest) -> etree._Element:
    x.expect(r, SessionRequest, "sessionRequest")
    out = x.Out.root(NS_MANAGEMENT, "sessionRequest",
                     sessionId=x.uuid_text(r.session_id, "sessionRequest.sessionId"),
                     requestId=x.uuid_text(r.request_id, "sessionRequest.requestId"))
    encode_operation(out, r.operation, "sessionRequest")
    return out.element


def decode_request(el: etree._Element) -> SessionRequest:
    r = x.In(el)
    (op,) = r.elements()
    return SessionRequest(
        session_id=x.read_uuid(r.attr("sessionId")),
        request_id=x.read_uuid(r.attr("requestId")),
        operation=decode_operation(op),
    )


@dataclass(frozen=True)
class SessionResult:
    """Gateway -> GWA: the answer to the previous request."""

    session_id: uuid.UUID
    response: Response


def encode_result(r: SessionResult) -> etree._Element:
    x.expect(r, SessionResult, "sessionResult")
    out = x.Out.root(NS_MANAGEMENT, "sessionResult",
                     sessionId=x.uuid_text(r.session_id, "sessionResult.sessionId"))
    out.append(responses.encode_response(r.response))
    return out.element


def decode_result(el: etree._Element) -> SessionResult:
    r = x.In(el)
    return SessionResult(
        session_id=x.read_uuid(r.attr("sessionId")),
        response=responses.decode_response(r.elements()[0]),
    )


class EndReason(enum.StrEnum):
    DONE = "done"
    NO_WORK = "no-work"
    ERROR = "error"
    SESSION_LIMIT = "session-limit"
    NOT_AUTHENTICATED = "not-authenticated"
    SHUTDOWN = "shutdown"


@dataclass(frozen=True)
class SessionEnd:
    """GWA -> gateway: no further request; the gateway closes the channel."""

    session_id: uuid.UUID
    reason: EndReason
    next_contact_seconds: int | None = None
    """When the gateway should call again on its own (overrides its schedule once)."""


def encode_end(e: SessionEnd) -> etree._Element:
    x.expect(e, SessionEnd, "sessionEnd")
    out = x.Out.root(NS_MANAGEMENT, "sessionEnd",
                     sessionId=x.uuid_text(e.session_id, "sessionEnd.sessionId"))
    out.add("reason", EndReason(e.reason).value)
    out.opt("nextContact", e.next_contact_seconds)
    return out.element


def decode_end(el: etree._Element) -> SessionEnd:
    r = x.In(el)
    nxt = r.opt_text("nextContact")
    return SessionEnd(
        session_id=x.read_uuid(r.attr("sessionId")),
        reason=EndReason(r.text_of("reason")),
        next_contact_seconds=None if nxt is None else int(nxt),
    )
