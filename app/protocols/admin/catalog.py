"""The administration protocol's tables: namespaces, profile classes, reasons, event codes.

Everything here is data the codecs look up; nothing else in the package hard-codes a namespace
URI, a class OBIS code, a status code or an event code. The human-readable form of each table is
in ``docs/protocol/`` (tests compare the two).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from app.errors import Text

# --- namespaces ---------------------------------------------------------------------------------

NAMESPACE_FAMILY = "urn:smgwct:admin:"
"""All administration documents live in ``urn:smgwct:admin:<kind>:<major version>``."""


@dataclass(frozen=True)
class Namespace:
    """One document namespace: URI, bundled schema file and the prefix used when writing."""

    key: str
    uri: str
    schema: str
    prefix: str


def _ns(key: str, schema: str, prefix: str, major: int = 1) -> Namespace:
    return Namespace(key, f"{NAMESPACE_FAMILY}{key}:{major}", schema, prefix)


NAMESPACES: dict[str, Namespace] = {
    n.key: n
    for n in (
        _ns("types", "admin-types.xsd", "t"),
        _ns("communication-profile", "communication-profile.xsd", "cp"),
        _ns("meter-profile", "meter-profile.xsd", "mp"),
        _ns("evaluation-profile", "evaluation-profile.xsd", "ep"),
        _ns("cls-proxy-profile", "cls-proxy-profile.xsd", "clp"),
        _ns("method-call", "method-call.xsd", "mc"),
        _ns("event", "event.xsd", "ev"),
        _ns("response", "response.xsd", "r"),
        _ns("management", "management.xsd", "m"),
        _ns("gwa-link", "gwa-link.xsd", "gl"),
    )
}

NS_TYPES = NAMESPACES["types"].uri
NS_COMMUNICATION = NAMESPACES["communication-profile"].uri
NS_METER = NAMESPACES["meter-profile"].uri
NS_EVALUATION = NAMESPACES["evaluation-profile"].uri
NS_CLS_PROXY = NAMESPACES["cls-proxy-profile"].uri
NS_METHOD = NAMESPACES["method-call"].uri
NS_EVENT = NAMESPACES["event"].uri
NS_RESPONSE = NAMESPACES["response"].uri
NS_MANAGEMENT = NAMESPACES["management"].uri
NS_GWA_LINK = NAMESPACES["gwa-link"].uri

NSMAP: dict[str, str] = {n.prefix: n.uri for n in NAMESPACES.values()}
"""Prefix -> URI, used to write readable documents. Readers match by URI, never by prefix."""


def namespace_by_uri(uri: str) -> Namespace | None:
    for ns in NAMESPACES.values():
        if ns.uri == uri:
            return ns
    return None


# --- profile kinds and their class OBIS codes ---------------------------------------------------


class ProfileKind(enum.StrEnum):
    """Profile kinds of spec ch. 6.4, as named in ``kind`` attributes."""

    COMMUNICATION = "communication"
    METER = "meter"
    BILLING_EVALUATION = "billing-evaluation"
    NON_BILLING_EVALUATION = "non-billing-evaluation"
    CLS_PROXY = "cls-proxy"


@dataclass(frozen=True)
class ProfileClass:
    """A profile kind: its root element, namespace, chapter, names and class OBIS code.

    ``class_obis`` is the OBIS part of every profile ID of this kind (COSEM logical name
    ``<class_obis>.<instance>.sm``); evaluation profiles take it from their TAF number instead.
    """

    kind: ProfileKind
    element: str
    namespace: str
    chapter: str
    name: Text
    class_obis: str | None


PROFILE_CLASSES: dict[ProfileKind, ProfileClass] = {
    c.kind: c
    for c in (
        ProfileClass(
            ProfileKind.COMMUNICATION, "communicationProfile", "communication-profile", "6.4.1",
            Text("communication profile", "Kommunikationsprofil"), "01005e318031",
        ),
        ProfileClass(
            ProfileKind.METER, "meterProfile", "meter-profile", "6.4.2",
            Text("meter profile", "Zählerprofil"), "01005e318002",
        ),
        ProfileClass(
            ProfileKind.BILLING_EVALUATION, "billingEvaluationProfile", "evaluation-profile",
            "6.4.3", Text("billing evaluation profile", "abrechnungsrelevantes Auswerteprofil"),
            None,
        ),
        ProfileClass(
            ProfileKind.NON_BILLING_EVALUATION, "nonBillingEvaluationProfile",
            "evaluation-profile", "6.4.4",
            Text("non-billing evaluation profile", "nicht abrechnungsrelevantes Auswerteprofil"),
            None,
        ),
        ProfileClass(
            ProfileKind.CLS_PROXY, "clsProxyProfile", "cls-proxy-profile", "6.4.5",
            Text("CLS proxy profile", "CLS-Proxyprofil"), "01005e318041",
        ),
    )
}

BILLING_TAFS: frozenset[int] = frozenset({1, 2, 6, 7})
"""Tariff use cases whose profiles are billing-relevant (PTB-A 50.8)."""

NON_BILLING_TAFS: frozenset[int] = frozenset({9, 10, 13, 14})
"""Tariff use cases the project supports without billing relevance."""

TAF_CLASS_OBIS: dict[int, str] = {
    taf: f"01005e3180{0x20 + taf:02x}" for taf in sorted(BILLING_TAFS | NON_BILLING_TAFS)
}
"""Class OBIS of an evaluation profile ID by TAF (``01005e318021`` = TAF 1, ``..27`` = TAF 7)."""


# --- response reasons (ch. 4.2.4, 5.16) ---------------------------------------------------------


class Reason(enum.StrEnum):
    """Machine-readable reason of a response; each belongs to one HTTP status."""

    OK = "ok"
    CREATED = "created"
    DELETED = "deleted"
    MALFORMED = "malformed"
    UNSUPPORTED_VERSION = "unsupported-version"
    NOT_AUTHENTICATED = "not-authenticated"
    NOT_PERMITTED = "not-permitted"
    UNKNOWN_PROFILE = "unknown-profile"
    UNKNOWN_METER = "unknown-meter"
    ALREADY_EXISTS = "already-exists"
    REVISION_CONFLICT = "revision-conflict"
    STILL_REFERENCED = "still-referenced"
    MISSING_REFERENCE = "missing-reference"
    INVALID_VALUE = "invalid-value"
    RATE_LIMITED = "rate-limited"
    INTERNAL_ERROR = "internal-error"
    METER_UNREACHABLE = "meter-unreachable"
    PAIRING_FAILED = "pairing-failed"
    KEY_EXCHANGE_FAILED = "key-exchange-failed"
    TIME_SOURCE_UNREACHABLE = "time-source-unreachable"
    BUSY = "busy"
    METER_TIMEOUT = "meter-timeout"


@dataclass(frozen=True)
class ReasonInfo:
    """A response reason: the one HTTP status it goes with and what it means."""

    reason: Reason
    status: int
    text: Text


REASONS: dict[Reason, ReasonInfo] = {
    r.reason: r
    for r in (
        ReasonInfo(Reason.OK, 200, Text("Done.", "Erledigt.")),
        ReasonInfo(Reason.CREATED, 201, Text(
            "The profile was created.", "Das Profil wurde angelegt.")),
        ReasonInfo(Reason.DELETED, 204, Text(
            "The profile was deleted.", "Das Profil wurde gelöscht.")),
        ReasonInfo(Reason.MALFORMED, 400, Text(
            "The gateway could not read the request (not well-formed or not schema-valid).",
            "Das Gateway konnte die Anfrage nicht lesen (nicht wohlgeformt oder nicht "
            "schemagültig).")),
        ReasonInfo(Reason.UNSUPPORTED_VERSION, 400, Text(
            "The gateway does not know this document version (namespace).",
            "Das Gateway kennt diese Dokumentversion (Namensraum) nicht.")),
        ReasonInfo(Reason.NOT_AUTHENTICATED, 403, Text(
            "The session is not in the AUTH state; the request was not carried out.",
            "Die Sitzung ist nicht im AUTH-Zustand; die Anfrage wurde nicht ausgeführt.")),
        ReasonInfo(Reason.NOT_PERMITTED, 403, Text(
            "The gateway administrator may not do this.",
            "Der Gateway-Administrator darf das nicht.")),
        ReasonInfo(Reason.UNKNOWN_PROFILE, 404, Text(
            "The gateway has no profile with this ID.",
            "Das Gateway hat kein Profil mit dieser ID.")),
        ReasonInfo(Reason.UNKNOWN_METER, 404, Text(
            "The gateway has no meter profile for this server ID.",
            "Das Gateway hat kein Zählerprofil für diese Server-ID.")),
        ReasonInfo(Reason.ALREADY_EXISTS, 409, Text(
            "A profile with this ID exists already; update it instead.",
            "Ein Profil mit dieser ID existiert bereits; bitte aktualisieren statt anlegen.")),
        ReasonInfo(Reason.REVISION_CONFLICT, 409, Text(
            "The profile was changed meanwhile; read it again and send revision + 1.",
            "Das Profil wurde inzwischen geändert; bitte neu auslesen und Revision + 1 senden.")),
        ReasonInfo(Reason.STILL_REFERENCED, 409, Text(
            "Another profile still refers to this one; change or delete that one first.",
            "Ein anderes Profil verweist noch auf dieses; bitte zuerst jenes ändern oder "
            "löschen.")),
        ReasonInfo(Reason.MISSING_REFERENCE, 422, Text(
            "The profile refers to a profile or meter the gateway does not have.",
            "Das Profil verweist auf ein Profil oder einen Zähler, das bzw. den das Gateway nicht "
            "hat.")),
        ReasonInfo(Reason.INVALID_VALUE, 422, Text(
            "A value is well-formed but not acceptable to the gateway.",
            "Ein Wert ist formal richtig, wird vom Gateway aber nicht akzeptiert.")),
        ReasonInfo(Reason.RATE_LIMITED, 429, Text(
            "Too soon after the previous call; try again after the given time.",
            "Zu kurz nach dem letzten Aufruf; nach der angegebenen Zeit erneut versuchen.")),
        ReasonInfo(Reason.INTERNAL_ERROR, 500, Text(
            "The gateway failed internally; nothing was changed.",
            "Im Gateway ist ein interner Fehler aufgetreten; es wurde nichts geändert.")),
        ReasonInfo(Reason.METER_UNREACHABLE, 502, Text(
            "The meter does not answer on the LMN; check wiring or radio and the server ID.",
            "Der Zähler antwortet im LMN nicht; Verkabelung bzw. Funk und Server-ID prüfen.")),
        ReasonInfo(Reason.PAIRING_FAILED, 502, Text(
            "Pairing with the meter failed.", "Das Pairing mit dem Zähler ist fehlgeschlagen.")),
        ReasonInfo(Reason.KEY_EXCHANGE_FAILED, 502, Text(
            "The meter rejected the key exchange (FE 09): key M is wrong or the meter is paired "
            "with another gateway; a Crypto-Reset may be needed.",
            "Der Zähler hat den Schlüsselaustausch abgelehnt (FE 09): Schlüssel M ist falsch oder "
            "der Zähler ist mit einem anderen Gateway gepaart; ggf. Crypto-Reset nötig.")),
        ReasonInfo(Reason.TIME_SOURCE_UNREACHABLE, 502, Text(
            "The time server did not answer.", "Der Zeitserver hat nicht geantwortet.")),
        ReasonInfo(Reason.BUSY, 503, Text(
            "The gateway is busy; try again after the given time.",
            "Das Gateway ist beschäftigt; nach der angegebenen Zeit erneut versuchen.")),
        ReasonInfo(Reason.METER_TIMEOUT, 504, Text(
            "The meter did not finish in time.",
            "Der Zähler ist nicht rechtzeitig fertig geworden.")),
    )
}

RETRY_AFTER_STATUSES: frozenset[int] = frozenset({429, 503})
"""Statuses that may carry ``retryAfter``."""

METER_STATUS_KEY_REJECTED = bytes.fromhex("fe09")
"""Meter status FE 09: the key exchange for M' failed (wrong length or format)."""


# --- operations and HTTP methods (ch. 4.2.3) ---------------------------------------------------


@dataclass(frozen=True)
class OperationInfo:
    """An administration operation, the HTTP method it stands for and its success status."""

    element: str
    http_method: str
    success_status: int
    success_reason: Reason


OPERATIONS: dict[str, OperationInfo] = {
    o.element: o
    for o in (
        OperationInfo("create", "POST", 201, Reason.CREATED),
        OperationInfo("read", "GET", 200, Reason.OK),
        OperationInfo("update", "PUT", 200, Reason.OK),
        OperationInfo("delete", "DELETE", 204, Reason.DELETED),
        OperationInfo("call", "POST", 200, Reason.OK),
    )
}


# --- events (ch. 4.2.6, 5.14) -------------------------------------------------------------------


class Severity(enum.StrEnum):
    """Schweregrad of an event or log entry."""

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"
    CRITICAL = "critical"


class SubjectKind(enum.StrEnum):
    """What an event is about (element name inside ``subject``)."""

    GATEWAY = "gateway"
    METER = "meter"
    PROFILE = "profile"
    PEER = "peer"
    INTERFACE = "interface"
    CERTIFICATE = "certificate"


@dataclass(frozen=True)
class EventType:
    """One row of the event code table."""

    code: int
    name: str
    severity: Severity
    component: str
    subject: SubjectKind
    title: Text
    chapter: str


EVENT_TYPES: dict[int, EventType] = {
    e.code: e
    for e in (
        EventType(1001, "SMGW_STARTED", Severity.INFO, "system", SubjectKind.GATEWAY,
                  Text("SMGW started", "SMGw gestartet"), "6.5.3"),
        EventType(1002, "IP_ADDRESS_CHANGED", Severity.INFO, "wan", SubjectKind.INTERFACE,
                  Text("WAN IP address changed", "Wechsel IP-Adresse"), "6.5.2"),
        EventType(1003, "SECURE_STATE_ENTERED", Severity.CRITICAL, "system", SubjectKind.GATEWAY,
                  Text("Secure state entered", "Sicheren Zustand eingenommen"), "5.14"),
        EventType(2001, "CHANNEL_FAILED", Severity.ERROR, "wan", SubjectKind.PEER,
                  Text("Channel set-up failed", "Kanalaufbau fehlgeschlagen"), "5.2-5.7"),
        EventType(2002, "PEER_CERTIFICATE_MISMATCH", Severity.ERROR, "wan", SubjectKind.PEER,
                  Text("Peer certificate does not match the communication profile",
                       "Zertifikat der Gegenstelle passt nicht zum Kommunikationsprofil"), "5.8"),
        EventType(2003, "WAKE_UP_REJECTED", Severity.WARNING, "wan", SubjectKind.GATEWAY,
                  Text("Wake-up packet rejected", "Wake-Up-Paket verworfen"), "5.1"),
        EventType(3001, "METER_DETECTED", Severity.INFO, "lmn", SubjectKind.METER,
                  Text("Meter detected", "Zählererkennung"), "6.5.12"),
        EventType(3002, "METER_UNREACHABLE", Severity.WARNING, "lmn", SubjectKind.METER,
                  Text("Meter not reachable", "Zähler nicht erreichbar"), "6.5.12"),
        EventType(4001, "PROFILE_CREATED", Severity.INFO, "profiles", SubjectKind.PROFILE,
                  Text("Profile created", "Profil angelegt"), "6.4"),
        EventType(4002, "PROFILE_UPDATED", Severity.INFO, "profiles", SubjectKind.PROFILE,
                  Text("Profile updated", "Profil aktualisiert"), "6.4"),
        EventType(4003, "PROFILE_DELETED", Severity.INFO, "profiles", SubjectKind.PROFILE,
                  Text("Profile deleted", "Profil gelöscht"), "6.4"),
        EventType(4004, "PROFILE_REJECTED", Severity.WARNING, "profiles", SubjectKind.PROFILE,
                  Text("Profile rejected", "Profil abgelehnt"), "6.4"),
        EventType(5001, "PAIRING_SUCCEEDED", Severity.INFO, "lmn", SubjectKind.METER,
                  Text("Pairing succeeded", "Pairing erfolgreich"), "6.4.2.6"),
        EventType(5002, "PAIRING_FAILED", Severity.ERROR, "lmn", SubjectKind.METER,
                  Text("Pairing failed", "Pairing fehlgeschlagen"), "6.4.2.6"),
        EventType(5003, "KEY_EXCHANGE_FAILED", Severity.ERROR, "lmn", SubjectKind.METER,
                  Text("Key exchange rejected by the meter (FE 09)",
                       "Schlüsselaustausch vom Zähler abgelehnt (FE 09)"), "6.4.2.6"),
        EventType(5004, "CRYPTO_RESET_DONE", Severity.INFO, "lmn", SubjectKind.METER,
                  Text("Crypto-Reset done", "Crypto-Reset durchgeführt"), "6.4.2.7"),
        EventType(5005, "CRYPTO_RESET_FAILED", Severity.ERROR, "lmn", SubjectKind.METER,
                  Text("Crypto-Reset failed", "Crypto-Reset fehlgeschlagen"), "6.4.2.7"),
        EventType(6001, "TIME_SYNCHRONISED", Severity.INFO, "clock", SubjectKind.GATEWAY,
                  Text("Time synchronised", "Zeitsynchronisation durchgeführt"), "5.13"),
        EventType(6002, "TIME_SYNC_FAILED", Severity.ERROR, "clock", SubjectKind.GATEWAY,
                  Text("Time synchronisation failed", "Zeitsynchronisation fehlgeschlagen"),
                  "5.13"),
        EventType(6003, "TIME_DEVIATION_EXCEEDED", Severity.CRITICAL, "clock",
                  SubjectKind.GATEWAY,
                  Text("Clock deviation above the limit", "Zeitabweichung über dem Grenzwert"),
                  "5.13"),
        EventType(7001, "SELF_TEST_PASSED", Severity.INFO, "self-test", SubjectKind.GATEWAY,
                  Text("Self-test passed", "Selbsttest bestanden"), "5.15"),
        EventType(7002, "SELF_TEST_FAILED", Severity.ERROR, "self-test", SubjectKind.GATEWAY,
                  Text("Self-test failed", "Selbsttest nicht bestanden"), "5.15"),
        EventType(9001, "INTERNAL_ERROR", Severity.ERROR, "system", SubjectKind.GATEWAY,
                  Text("Internal error", "Interner Fehler"), "5.14"),
        EventType(9002, "STORAGE_ERROR", Severity.CRITICAL, "system", SubjectKind.GATEWAY,
                  Text("Storage error", "Speicherfehler"), "5.14"),
    )
}

EVENT_CODES: dict[str, int] = {e.name: e.code for e in EVENT_TYPES.values()}
"""Symbolic name -> code, e.g. ``EVENT_CODES["METER_DETECTED"] == 3001``."""

SELF_TEST_CHECKS: tuple[str, ...] = (
    "firmware-integrity",
    "security-module",
    "clock",
    "storage",
    "wan-han-separation",
    "lmn",
    "certificates",
)
"""Check names a self-test result reports (others are allowed and shown as they are)."""

SELF_TEST_MIN_INTERVAL_SECONDS = 600
"""A self-test is run at most every 10 minutes; sooner calls get 429 rate-limited."""

CLOCK_LIMIT_FRACTION = 0.03
"""Allowed clock deviation: 3 % of the shortest registration period (27 s for 15 min)."""
