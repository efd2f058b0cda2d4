"""The five profile documents of spec ch. 6.4 (Kommunikations-, Zähler-, Auswerte-, CLS-Proxy-
profil).

Every profile carries its ID (a COSEM logical name whose OBIS part is the class of its kind, see
:data:`~app.protocols.admin.catalog.PROFILE_CLASSES`) and a revision: 1 on creation, +1 with every
update (docs/protocol/04-02-07-container-profiles.md).
"""

from __future__ import annotations

import base64
import enum
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from lxml import etree

from app.domain import LogicalName, Obis, ServerId
from app.protocols.admin import _xml as x
from app.protocols.admin.catalog import (
    NS_CLS_PROXY,
    NS_COMMUNICATION,
    NS_EVALUATION,
    NS_METER,
    PROFILE_CLASSES,
    TAF_CLASS_OBIS,
    ProfileKind,
)

# --- shared ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProfileRef:
    """Names one profile: its kind and ID (used by read, delete and events)."""

    kind: ProfileKind
    id: LogicalName


def _check_class(profile_id: LogicalName, expected: str, field: str, what: str) -> None:
    if profile_id.obis.hex != expected:
        raise x.fail(
            field,
            f"{what} ID {profile_id.text!r} starts with {profile_id.obis.hex}; IDs of this kind "
            f"start with {expected}, e.g. '{expected}.name-1.sm'.",
            f"{what}-ID {profile_id.text!r} beginnt mit {profile_id.obis.hex}; IDs dieser Art "
            f"beginnen mit {expected}, z. B. '{expected}.name-1.sm'.",
        )


def _check_identity(profile: _Profile) -> None:
    x.expect(profile.id, LogicalName, f"{profile.element}.id")
    revision = x.expect_int(profile.revision, f"{profile.element}.revision")
    if revision < 1:
        raise x.fail(f"{profile.element}.revision",
                     f"Revision is {revision}; a new profile has revision 1, each update adds 1.",
                     f"Revision ist {revision}; ein neues Profil hat Revision 1, jede "
                     "Aktualisierung zählt 1 hoch.")
    cls = PROFILE_CLASSES[profile.kind]
    if cls.class_obis is not None:
        _check_class(profile.id, cls.class_obis, f"{profile.element}.id", cls.name.en.capitalize())


def _check_peer_ref(value: object, field: str) -> LogicalName:
    ref = x.expect(value, LogicalName, field)
    _check_class(ref, PROFILE_CLASSES[ProfileKind.COMMUNICATION].class_obis or "", field,
                 "Communication profile")
    return ref


class _Profile:
    """Common part of the profile dataclasses (identity and kind)."""

    kind: ClassVar[ProfileKind]
    id: LogicalName
    revision: int

    @property
    def element(self) -> str:
        return PROFILE_CLASSES[self.kind].element

    @property
    def ref(self) -> ProfileRef:
        return ProfileRef(self.kind, self.id)


# --- communication profile (6.4.1) -------------------------------------------------------------


class PeerRole(enum.StrEnum):
    GWA = "GWA"
    EMT = "EMT"
    CLS = "CLS"


class AddressPurpose(enum.StrEnum):
    MANAGEMENT = "management"
    INFO_REPORT = "info-report"
    ADMIN_SERVICE = "admin-service"
    TIME = "time"
    DATA = "data"
    CLS = "cls"


_PURPOSES_BY_ROLE: dict[PeerRole, tuple[frozenset[AddressPurpose], frozenset[AddressPurpose]]] = {
    # role: (allowed, required)
    PeerRole.GWA: (
        frozenset({AddressPurpose.MANAGEMENT, AddressPurpose.INFO_REPORT,
                   AddressPurpose.ADMIN_SERVICE, AddressPurpose.TIME}),
        frozenset({AddressPurpose.MANAGEMENT, AddressPurpose.INFO_REPORT}),
    ),
    PeerRole.EMT: (frozenset({AddressPurpose.DATA}), frozenset({AddressPurpose.DATA})),
    PeerRole.CLS: (frozenset({AddressPurpose.CLS}), frozenset({AddressPurpose.CLS})),
}

_SCHEME_BY_PURPOSE: dict[AddressPurpose, str] = {
    AddressPurpose.MANAGEMENT: "https",
    AddressPurpose.INFO_REPORT: "https",
    AddressPurpose.ADMIN_SERVICE: "https",
    AddressPurpose.DATA: "https",
    AddressPurpose.TIME: "ntp",
    AddressPurpose.CLS: "tls",
}


@dataclass(frozen=True)
class Address:
    """A destination of the peer (Zieladresse) for one purpose, e.g. the MANAGEMENT URL."""

    purpose: AddressPurpose
    url: str


@dataclass(frozen=True)
class CommunicationProfile(_Profile):
    """Kommunikationsprofil (ch. 6.4.1): one WAN or CLS peer of the gateway."""

    kind: ClassVar[ProfileKind] = ProfileKind.COMMUNICATION

    id: LogicalName
    revision: int
    peer_role: PeerRole
    peer_name: str
    addresses: tuple[Address, ...]
    tls_fingerprint: str
    """SHA-256 of the peer's TLS certificate (64 lower-case hex digits)."""
    sig_certificate: bytes | None
    """DER of the peer's signature certificate (required for GWA and EMT)."""
    enc_certificate: bytes | None
    """DER of the peer's encryption certificate (required for GWA and EMT)."""
    keep_alive_seconds: int
    max_idle_seconds: int
    max_session_seconds: int

    def address(self, purpose: AddressPurpose) -> str | None:
        for a in self.addresses:
            if a.purpose is purpose:
                return a.url
        return None


def _check_communication(p: CommunicationProfile) -> None:
    _check_identity(p)
    role = PeerRole(x.expect(p.peer_role, PeerRole, "communicationProfile.peerRole"))
    allowed, required = _PURPOSES_BY_ROLE[role]
    purposes = {x.expect(a, Address, "communicationProfile.address").purpose for a in p.addresses}
    field = "communicationProfile.address"
    if purposes - allowed or required - purposes:
        wrong = ", ".join(sorted(purposes - allowed)) or "-"
        missing = ", ".join(sorted(required - purposes)) or "-"
        raise x.fail(
            field,
            f"A {role} peer has addresses for {', '.join(sorted(allowed))} and needs "
            f"{', '.join(sorted(required))}; not allowed here: {wrong}; missing: {missing}.",
            f"Eine Gegenstelle {role} hat Adressen für {', '.join(sorted(allowed))} und braucht "
            f"{', '.join(sorted(required))}; hier nicht zulässig: {wrong}; fehlt: {missing}.",
        )
    for a in p.addresses:
        scheme = _SCHEME_BY_PURPOSE[a.purpose]
        if not str(a.url).startswith(f"{scheme}://"):
            raise x.fail(field, f"The {a.purpose} address {a.url!r} must start with {scheme}://.",
                         f"Die Adresse für {a.purpose} {a.url!r} muss mit {scheme}:// beginnen.")
    if role is not PeerRole.CLS and (p.sig_certificate is None or p.enc_certificate is None):
        raise x.fail(
            "communicationProfile.sigCertificate",
            f"A {role} peer needs both its SIG and its ENC certificate.",
            f"Eine Gegenstelle {role} braucht ihr SIG- und ihr ENC-Zertifikat.",
        )
    if x.expect_int(p.max_idle_seconds, "communicationProfile.maxIdleTime") > x.expect_int(
        p.max_session_seconds, "communicationProfile.maxSessionTime"
    ):
        raise x.fail("communicationProfile.maxIdleTime",
                     "The maximum idle time is longer than the maximum session time.",
                     "Die maximale Leerlaufzeit ist länger als die maximale Sitzungsdauer.")


def _encode_communication(p: CommunicationProfile) -> etree._Element:
    _check_communication(p)
    out = x.Out.root(NS_COMMUNICATION, "communicationProfile", id=p.id.text, revision=p.revision)
    out.add("peerRole", p.peer_role.value)
    out.add("peerName", p.peer_name)
    for a in p.addresses:
        out.add("address", a.url, purpose=AddressPurpose(a.purpose).value)
    out.add("tlsCertificateFingerprint", p.tls_fingerprint)
    if p.sig_certificate is not None:
        out.add("sigCertificate", _b64(p.sig_certificate, "communicationProfile.sigCertificate"))
    if p.enc_certificate is not None:
        out.add("encCertificate", _b64(p.enc_certificate, "communicationProfile.encCertificate"))
    out.add("keepAlive", p.keep_alive_seconds)
    out.add("maxIdleTime", p.max_idle_seconds)
    out.add("maxSessionTime", p.max_session_seconds)
    return out.element


def _decode_communication(el: x.In) -> CommunicationProfile:
    sig = el.opt_text("sigCertificate")
    enc = el.opt_text("encCertificate")
    profile = CommunicationProfile(
        id=x.read_ln(el.attr("id"), "communicationProfile.id"),
        revision=int(el.attr("revision")),
        peer_role=PeerRole(el.text_of("peerRole")),
        peer_name=el.text_of("peerName"),
        addresses=tuple(
            Address(AddressPurpose(a.attr("purpose")), a.text.strip()) for a in el.many("address")
        ),
        tls_fingerprint=el.text_of("tlsCertificateFingerprint"),
        sig_certificate=None if sig is None else _unb64(sig),
        enc_certificate=None if enc is None else _unb64(enc),
        keep_alive_seconds=int(el.text_of("keepAlive")),
        max_idle_seconds=int(el.text_of("maxIdleTime")),
        max_session_seconds=int(el.text_of("maxSessionTime")),
    )
    _check_communication(profile)
    return profile


def _b64(value: object, field: str) -> str:
    return base64.b64encode(bytes(x.expect(value, (bytes, bytearray), field))).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode("".join(text.split()))


# --- meter profile (6.4.2) ---------------------------------------------------------------------


class DeviceType(enum.StrEnum):
    ELECTRICITY = "electricity"
    GAS = "gas"
    HEAT = "heat"
    COOLING = "cooling"
    WATER = "water"
    HEAT_COST_ALLOCATOR = "heat-cost-allocator"


class LmnInterface(enum.StrEnum):
    WIRED = "wired"
    WIRELESS = "wireless"


class LmnComType(enum.StrEnum):
    TLS = "tls"
    SYMMETRIC = "symmetric"


@dataclass(frozen=True)
class MeterProfile(_Profile):
    """Zählerprofil (ch. 6.4.2). The ID's instance is the server ID (DIN text, lower case)."""

    kind: ClassVar[ProfileKind] = ProfileKind.METER

    id: LogicalName
    revision: int
    server_id: ServerId
    device_type: DeviceType
    active: bool
    sample_rate_seconds: int
    lmn_interface: LmnInterface
    lmn_com_type: LmnComType
    capture_list: tuple[Obis, ...]
    hdlc_address: int | None = None
    public_key: bytes | None = None
    key_material_ref: str | None = None
    """Label of the initial key M record at the GWA; the key itself never is in a profile."""

    @staticmethod
    def id_for(server_id: ServerId) -> LogicalName:
        """The profile ID the project uses for a meter: ``01005e318002.<server id>.sm``."""
        obis = PROFILE_CLASSES[ProfileKind.METER].class_obis or ""
        return LogicalName.parse(f"{obis}.{_meter_instance(server_id)}.sm")


def _meter_instance(server_id: ServerId) -> str:
    return server_id.text.lower() if server_id.text is not None else server_id.hex


def _check_meter(p: MeterProfile) -> None:
    _check_identity(p)
    sid = x.expect(p.server_id, ServerId, "meterProfile.serverId")
    if p.id.instance.lower() not in {_meter_instance(sid), sid.hex}:
        raise x.fail(
            "meterProfile.id",
            f"Meter profile ID {p.id.text!r} does not name server ID {sid.display}; use "
            f"{MeterProfile.id_for(sid).text!r}.",
            f"Zählerprofil-ID {p.id.text!r} passt nicht zur Server-ID {sid.display}; bitte "
            f"{MeterProfile.id_for(sid).text!r} verwenden.",
        )
    wired = LmnInterface(p.lmn_interface) is LmnInterface.WIRED
    if p.hdlc_address is not None and not wired:
        raise x.fail("meterProfile.hdlcAddress",
                     "An HDLC address belongs to a wired meter; remove it for a wireless one.",
                     "Eine HDLC-Adresse gehört zu einem kabelgebundenen Zähler; bei Funk bitte "
                     "entfernen.")
    if LmnComType(p.lmn_com_type) is LmnComType.SYMMETRIC and wired:
        raise x.fail("meterProfile.lmnComType",
                     "Symmetric (AES) protection is for wireless meters; a wired meter uses tls.",
                     "Symmetrische (AES-)Absicherung gilt für Funkzähler; ein kabelgebundener "
                     "Zähler nutzt tls.")


def _encode_meter(p: MeterProfile) -> etree._Element:
    _check_meter(p)
    out = x.Out.root(NS_METER, "meterProfile", id=p.id.text, revision=p.revision)
    out.add("serverId", p.server_id.hex)
    out.add("deviceType", DeviceType(p.device_type).value)
    out.add("active", bool(p.active))
    out.add("sampleRate", p.sample_rate_seconds)
    out.add("lmnInterface", LmnInterface(p.lmn_interface).value)
    out.add("lmnComType", LmnComType(p.lmn_com_type).value)
    out.opt("hdlcAddress", p.hdlc_address)
    capture = out.add("captureList")
    for i, obis in enumerate(p.capture_list):
        capture.add("obis", x.obis_hex(obis, f"meterProfile.captureList[{i}]"))
    if p.public_key is not None:
        out.add("publicKey", x.hex_bytes(p.public_key, "meterProfile.publicKey"))
    out.opt("keyMaterialRef", p.key_material_ref)
    return out.element


def _decode_meter(el: x.In) -> MeterProfile:
    hdlc = el.opt_text("hdlcAddress")
    key = el.opt_text("publicKey")
    profile = MeterProfile(
        id=x.read_ln(el.attr("id"), "meterProfile.id"),
        revision=int(el.attr("revision")),
        server_id=x.read_server_id(el.text_of("serverId"), "meterProfile.serverId"),
        device_type=DeviceType(el.text_of("deviceType")),
        active=x.parse_bool(el.text_of("active")),
        sample_rate_seconds=int(el.text_of("sampleRate")),
        lmn_interface=LmnInterface(el.text_of("lmnInterface")),
        lmn_com_type=LmnComType(el.text_of("lmnComType")),
        capture_list=tuple(
            x.read_obis(o.text, "meterProfile.captureList")
            for o in el.one("captureList").many("obis")
        ),
        hdlc_address=None if hdlc is None else int(hdlc),
        public_key=None if key is None else bytes.fromhex(key),
        key_material_ref=el.opt_text("keyMaterialRef"),
    )
    _check_meter(profile)
    return profile


# --- evaluation profiles (6.4.3, 6.4.4) --------------------------------------------------------


class BillingPeriod(enum.StrEnum):
    """Abrechnungszeitraum."""

    DAILY = "daily"
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    HALF_YEARLY = "half-yearly"
    YEARLY = "yearly"


@dataclass(frozen=True)
class EvaluatedMeter:
    """A meter an evaluation profile reads and the OBIS channels it takes from it."""

    server_id: ServerId
    channels: tuple[Obis, ...]


@dataclass(frozen=True)
class BillingEvaluationProfile(_Profile):
    """Abrechnungsrelevantes Auswerteprofil (ch. 6.4.3), one TAF instance.

    ``first_readout`` asks the gateway to read the meters at once when the profile is created
    (*Anlegen mit Erstauslesung*, 6.4.3.2); the response then carries the readings.
    """

    kind: ClassVar[ProfileKind] = ProfileKind.BILLING_EVALUATION

    id: LogicalName
    revision: int
    taf: int
    metering_point_id: str
    receiving_emt: LogicalName
    registration_period_seconds: int
    billing_period: BillingPeriod
    valid_from: datetime
    first_readout: bool
    meters: tuple[EvaluatedMeter, ...]
    name: str | None = None
    valid_until: datetime | None = None


@dataclass(frozen=True)
class NonBillingEvaluationProfile(_Profile):
    """Nicht abrechnungsrelevantes Auswerteprofil (ch. 6.4.4)."""

    kind: ClassVar[ProfileKind] = ProfileKind.NON_BILLING_EVALUATION

    id: LogicalName
    revision: int
    taf: int
    receiving_emt: LogicalName
    registration_period_seconds: int
    valid_from: datetime
    meters: tuple[EvaluatedMeter, ...]
    metering_point_id: str | None = None
    name: str | None = None
    valid_until: datetime | None = None


EvaluationProfile = BillingEvaluationProfile | NonBillingEvaluationProfile


def _check_evaluation(p: EvaluationProfile) -> None:
    _check_identity(p)
    field = f"{p.element}.tafNumber"
    taf = x.expect_int(p.taf, field)
    expected = TAF_CLASS_OBIS.get(taf)
    if expected is not None:  # an unsupported TAF is reported by the schema with the allowed ones
        _check_class(p.id, expected, f"{p.element}.id", f"TAF {taf} profile")
    _check_peer_ref(p.receiving_emt, f"{p.element}.receivingEmt")
    start = x.aware(p.valid_from, f"{p.element}.validFrom")
    until = p.valid_until
    if until is not None and x.aware(until, f"{p.element}.validUntil") <= start:
        raise x.fail(f"{p.element}.validUntil", "The profile ends before it starts.",
                     "Das Profil endet, bevor es beginnt.")


def _encode_evaluation(p: EvaluationProfile) -> etree._Element:
    _check_evaluation(p)
    out = x.Out.root(NS_EVALUATION, p.element, id=p.id.text, revision=p.revision)
    out.add("tafNumber", p.taf)
    out.opt("name", p.name)
    out.opt("meteringPointId", p.metering_point_id)
    out.add("receivingEmt", p.receiving_emt.text)
    out.add("registrationPeriod", p.registration_period_seconds)
    if isinstance(p, BillingEvaluationProfile):
        out.add("billingPeriod", BillingPeriod(p.billing_period).value)
    out.add("validFrom", x.fmt_time(p.valid_from, f"{p.element}.validFrom"))
    if p.valid_until is not None:
        out.add("validUntil", x.fmt_time(p.valid_until, f"{p.element}.validUntil"))
    if isinstance(p, BillingEvaluationProfile):
        out.add("firstReadout", bool(p.first_readout))
    for i, meter in enumerate(p.meters):
        field = f"{p.element}.meter[{i}]"
        m = out.add("meter")
        m.add("serverId", x.server_hex(x.expect(meter, EvaluatedMeter, field).server_id, field))
        for obis in meter.channels:
            m.add("obis", x.obis_hex(obis, f"{field}.obis"))
    return out.element


def _decode_meters(el: x.In, root: str) -> tuple[EvaluatedMeter, ...]:
    return tuple(
        EvaluatedMeter(
            x.read_server_id(m.text_of("serverId"), f"{root}.meter.serverId"),
            tuple(x.read_obis(o.text, f"{root}.meter.obis") for o in m.many("obis")),
        )
        for m in el.many("meter")
    )


def _decode_billing(el: x.In) -> BillingEvaluationProfile:
    root = "billingEvaluationProfile"
    until = el.opt_text("validUntil")
    profile = BillingEvaluationProfile(
        id=x.read_ln(el.attr("id"), f"{root}.id"),
        revision=int(el.attr("revision")),
        taf=int(el.text_of("tafNumber")),
        name=el.opt_text("name"),
        metering_point_id=el.text_of("meteringPointId"),
        receiving_emt=x.read_ln(el.text_of("receivingEmt"), f"{root}.receivingEmt"),
        registration_period_seconds=int(el.text_of("registrationPeriod")),
        billing_period=BillingPeriod(el.text_of("billingPeriod")),
        valid_from=x.parse_time(el.text_of("validFrom"), f"{root}.validFrom"),
        valid_until=None if until is None else x.parse_time(until, f"{root}.validUntil"),
        first_readout=x.parse_bool(el.text_of("firstReadout")),
        meters=_decode_meters(el, root),
    )
    _check_evaluation(profile)
    return profile


def _decode_non_billing(el: x.In) -> NonBillingEvaluationProfile:
    root = "nonBillingEvaluationProfile"
    until = el.opt_text("validUntil")
    profile = NonBillingEvaluationProfile(
        id=x.read_ln(el.attr("id"), f"{root}.id"),
        revision=int(el.attr("revision")),
        taf=int(el.text_of("tafNumber")),
        name=el.opt_text("name"),
        metering_point_id=el.opt_text("meteringPointId"),
        receiving_emt=x.read_ln(el.text_of("receivingEmt"), f"{root}.receivingEmt"),
        registration_period_seconds=int(el.text_of("registrationPeriod")),
        valid_from=x.parse_time(el.text_of("validFrom"), f"{root}.validFrom"),
        valid_until=None if until is None else x.parse_time(until, f"{root}.validUntil"),
        meters=_decode_meters(el, root),
    )
    _check_evaluation(profile)
    return profile


# --- readings (first readout) ------------------------------------------------------------------


class ReadingStatus(enum.StrEnum):
    VALID = "valid"
    GAP = "gap"
    INVALID = "invalid"


@dataclass(frozen=True)
class Reading:
    """One value: ``value * 10**scaler`` in DLMS unit ``unit`` (30 = Wh, 27 = W)."""

    server_id: ServerId
    obis: Obis
    capture_time: datetime
    value: int
    scaler: int
    unit: int
    status: ReadingStatus = ReadingStatus.VALID


@dataclass(frozen=True)
class Readings:
    """Values an evaluation profile read, e.g. its first readout (Erstauslesung)."""

    profile_id: LogicalName
    readings: tuple[Reading, ...]


def _encode_readings(r: Readings) -> etree._Element:
    out = x.Out.root(NS_EVALUATION, "readings",
                     profileId=x.ln_text(r.profile_id, "readings.profileId"))
    for i, v in enumerate(r.readings):
        field = f"readings.reading[{i}]"
        x.expect(v, Reading, field)
        out.add(
            "reading",
            serverId=x.server_hex(v.server_id, f"{field}.serverId"),
            obis=x.obis_hex(v.obis, f"{field}.obis"),
            captureTime=x.fmt_time(v.capture_time, f"{field}.captureTime"),
            value=x.expect_int(v.value, f"{field}.value"),
            scaler=x.expect_int(v.scaler, f"{field}.scaler"),
            unit=x.expect_int(v.unit, f"{field}.unit"),
            status=ReadingStatus(v.status).value,
        )
    return out.element


def _decode_readings(el: x.In) -> Readings:
    return Readings(
        profile_id=x.read_ln(el.attr("profileId"), "readings.profileId"),
        readings=tuple(
            Reading(
                server_id=x.read_server_id(r.attr("serverId"), "readings.reading.serverId"),
                obis=x.read_obis(r.attr("obis"), "readings.reading.obis"),
                capture_time=x.parse_time(r.attr("captureTime"), "readings.reading.captureTime"),
                value=int(r.attr("value")),
                scaler=int(r.attr("scaler")),
                unit=int(r.attr("unit")),
                status=ReadingStatus(r.attr("status")),
            )
            for r in el.many("reading")
        ),
    )


# --- CLS proxy profile (6.4.5) -----------------------------------------------------------------


class HksScenario(enum.StrEnum):
    """HAN-Kommunikationsszenario: who opens the CLS channel."""

    HKS3 = "HKS3"
    """CLS-initiated."""
    HKS4 = "HKS4"
    """EMT-initiated (the GWA wakes the gateway)."""
    HKS5 = "HKS5"
    """Gateway-initiated (permanent or scheduled channel)."""


@dataclass(frozen=True)
class ClsProxyProfile(_Profile):
    """CLS-Proxyprofil (ch. 6.4.5): relays a CLS device to an active EMT."""

    kind: ClassVar[ProfileKind] = ProfileKind.CLS_PROXY

    id: LogicalName
    revision: int
    cls_peer: LogicalName
    emt_peer: LogicalName
    scenarios: tuple[HksScenario, ...]
    active: bool
    max_session_seconds: int
    permanent: bool = False
    """Keep the channel open all the time (HKS 5 only)."""


def _check_cls_proxy(p: ClsProxyProfile) -> None:
    _check_identity(p)
    _check_peer_ref(p.cls_peer, "clsProxyProfile.clsPeer")
    _check_peer_ref(p.emt_peer, "clsProxyProfile.emtPeer")
    if p.cls_peer == p.emt_peer:
        raise x.fail("clsProxyProfile.emtPeer",
                     "CLS peer and EMT peer are the same communication profile.",
                     "CLS-Gegenstelle und EMT-Gegenstelle sind dasselbe Kommunikationsprofil.")
    if p.permanent and HksScenario.HKS5 not in p.scenarios:
        raise x.fail("clsProxyProfile.permanent",
                     "Only a gateway-initiated channel (HKS5) can be permanent.",
                     "Nur ein vom Gateway aufgebauter Kanal (HKS5) kann dauerhaft sein.")


def _encode_cls_proxy(p: ClsProxyProfile) -> etree._Element:
    _check_cls_proxy(p)
    out = x.Out.root(NS_CLS_PROXY, "clsProxyProfile", id=p.id.text, revision=p.revision)
    out.add("clsPeer", p.cls_peer.text)
    out.add("emtPeer", p.emt_peer.text)
    for s in p.scenarios:
        out.add("scenario", HksScenario(s).value)
    out.add("active", bool(p.active))
    out.add("maxSessionTime", p.max_session_seconds)
    out.add("permanent", bool(p.permanent))
    return out.element


def _decode_cls_proxy(el: x.In) -> ClsProxyProfile:
    profile = ClsProxyProfile(
        id=x.read_ln(el.attr("id"), "clsProxyProfile.id"),
        revision=int(el.attr("revision")),
        cls_peer=x.read_ln(el.text_of("clsPeer"), "clsProxyProfile.clsPeer"),
        emt_peer=x.read_ln(el.text_of("emtPeer"), "clsProxyProfile.emtPeer"),
        scenarios=tuple(HksScenario(s.text) for s in el.many("scenario")),
        active=x.parse_bool(el.text_of("active")),
        max_session_seconds=int(el.text_of("maxSessionTime")),
        permanent=x.parse_bool(el.text_of("permanent")),
    )
    _check_cls_proxy(profile)
    return profile


# --- dispatch ----------------------------------------------------------------------------------

Profile = (
    CommunicationProfile
    | MeterProfile
    | BillingEvaluationProfile
    | NonBillingEvaluationProfile
    | ClsProxyProfile
)

PROFILE_TYPES: dict[ProfileKind, type] = {
    ProfileKind.COMMUNICATION: CommunicationProfile,
    ProfileKind.METER: MeterProfile,
    ProfileKind.BILLING_EVALUATION: BillingEvaluationProfile,
    ProfileKind.NON_BILLING_EVALUATION: NonBillingEvaluationProfile,
    ProfileKind.CLS_PROXY: ClsProxyProfile,
}


def encode_profile(p: Profile) -> etree._Element:
    """The profile's document element (checked, not yet schema-validated)."""
    if isinstance(p, CommunicationProfile):
        return _encode_communication(p)
    if isinstance(p, MeterProfile):
        return _encode_meter(p)
    if isinstance(p, BillingEvaluationProfile | NonBillingEvaluationProfile):
        return _encode_evaluation(p)
    if isinstance(p, ClsProxyProfile):
        return _encode_cls_proxy(p)
    raise x.fail("profile", f"{type(p).__name__} is not a profile.",
                 f"{type(p).__name__} ist kein Profil.")


_DECODERS = {
    (NS_COMMUNICATION, "communicationProfile"): _decode_communication,
    (NS_METER, "meterProfile"): _decode_meter,
    (NS_EVALUATION, "billingEvaluationProfile"): _decode_billing,
    (NS_EVALUATION, "nonBillingEvaluationProfile"): _decode_non_billing,
    (NS_CLS_PROXY, "clsProxyProfile"): _decode_cls_proxy,
}


def is_profile_element(el: etree._Element) -> bool:
    return x.split_qname(el.tag) in _DECODERS


def decode_profile(el: etree._Element) -> Profile:
    """A profile from its schema-valid document element."""
    with x.located(el):
        return _DECODERS[x.split_qname(el.tag)](x.In(el))


def encode_readings(r: Readings) -> etree._Element:
    x.expect(r, Readings, "readings")
    return _encode_readings(r)


def decode_readings(el: etree._Element) -> Readings:
    with x.located(el):
        return _decode_readings(x.In(el))
