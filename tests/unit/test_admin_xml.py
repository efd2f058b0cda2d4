"""Admin XML codecs: every document round-trips, the schemas catch typical mistakes, and
invalid objects are refused before anything is sent."""

from __future__ import annotations

import dataclasses
import hashlib
import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from app.domain import LogicalName, Obis, ServerId, SmgwId
from app.errors import InvalidValue
from app.protocols import admin as a
from app.protocols.admin import catalog
from app.security.xml import load_schema, schema_dir

SMGW = SmgwId.parse("EDEM0100000001")
M1 = ServerId.parse("1EMH0012345678")
M2 = ServerId.parse("1DZG0042123440")
LN = LogicalName.parse
T0 = datetime(2025, 3, 14, 9, 30, tzinfo=UTC)
GWA_ID = LN("01005e318031.gwa-main.sm")
EMT_ID = LN("01005e318031.emt-1.sm")
CLS_ID = LN("01005e318031.cls-1.sm")
SESSION = uuid.UUID("3b0f6c52-8d1e-4c47-9a43-2f5d6e7a8b90")
REQ = uuid.UUID("a1c2e3f4-0000-4000-8000-000000000001")
MPID = "DE0001234567800000000000000123456"


def _cert(cn: str) -> bytes:
    key = ec.generate_private_key(ec.BrainpoolP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(1)
        .not_valid_before(T0).not_valid_after(T0 + timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.DER)


SIG, ENC, TLS = _cert("SIG"), _cert("ENC"), _cert("TLS")


def gwa_profile(**changes: object) -> a.CommunicationProfile:
    p = a.CommunicationProfile(
        GWA_ID, 1, a.PeerRole.GWA, "Muster-GWA",
        (
            a.Address(a.AddressPurpose.MANAGEMENT, "https://gwa.example.net:8443/management/v1"),
            a.Address(a.AddressPurpose.INFO_REPORT, "https://gwa.example.net:8443/info-report/v1"),
            a.Address(a.AddressPurpose.TIME, "ntp://[2001:db8::1]:123"),
        ),
        hashlib.sha256(TLS).hexdigest(), SIG, ENC, 300, 900, 3600,
    )
    return dataclasses.replace(p, **changes)


def cls_peer() -> a.CommunicationProfile:
    return a.CommunicationProfile(
        CLS_ID, 1, a.PeerRole.CLS, "Steuerbox",
        (a.Address(a.AddressPurpose.CLS, "tls://192.168.10.20:4443"),),
        hashlib.sha256(TLS).hexdigest(), None, None, 0, 60, 60,
    )


def meter_profile(**changes: object) -> a.MeterProfile:
    p = a.MeterProfile(
        a.MeterProfile.id_for(M1), 1, M1, a.DeviceType.ELECTRICITY, True, 900,
        a.LmnInterface.WIRED, a.LmnComType.TLS, (Obis.parse("1-0:1.8.0"), Obis.parse("1-0:2.8.0")),
        hdlc_address=16, public_key=bytes(range(64)), key_material_ref="msb-2025/1emh0012345678",
    )
    return dataclasses.replace(p, **changes)


def billing_profile(**changes: object) -> a.BillingEvaluationProfile:
    p = a.BillingEvaluationProfile(
        LN("01005e318027.taf7-1.sm"), 1, 7, MPID, EMT_ID, 900, a.BillingPeriod.MONTHLY, T0, True,
        (a.EvaluatedMeter(M1, (Obis.parse("1-0:1.8.0"),)),
         a.EvaluatedMeter(M2, (Obis.parse("1-0:1.8.0"), Obis.parse("1-0:2.8.0")))),
        name="Lastgang", valid_until=T0 + timedelta(days=365),
    )
    return dataclasses.replace(p, **changes)


def non_billing_profile() -> a.NonBillingEvaluationProfile:
    return a.NonBillingEvaluationProfile(
        LN("01005e31802a.taf10-1.sm"), 2, 10, EMT_ID, 60, T0,
        (a.EvaluatedMeter(M1, (Obis.parse("1-0:16.7.0"),)),),
    )


def cls_proxy(**changes: object) -> a.ClsProxyProfile:
    p = a.ClsProxyProfile(
        LN("01005e318041.box-1.sm"), 1, CLS_ID, EMT_ID, (a.HksScenario.HKS5,), True, 3600,
        permanent=True,
    )
    return dataclasses.replace(p, **changes)


def event(**changes: object) -> a.Event:
    e = a.Event.new(
        "KEY_EXCHANGE_FAILED", smgw_id=SMGW, sequence=7, subject=a.MeterSubject(M1),
        details={"meterStatus": "fe09"}, time=T0,
    )
    return dataclasses.replace(e, **changes)


def response(**changes: object) -> a.Response:
    return dataclasses.replace(a.Response.of(REQ, a.Reason.OK), **changes)


READINGS = a.Readings(LN("01005e318027.taf7-1.sm"), (
    a.Reading(M1, Obis.parse("1-0:1.8.0"), T0, 1234567, -1, 30),
    a.Reading(M2, Obis.parse("1-0:1.8.0"), T0, -5, 0, 30, a.ReadingStatus.GAP),
))
METER_REF = a.ProfileRef(a.ProfileKind.METER, meter_profile().id)
CLS_PROXY_REF = a.ProfileRef(a.ProfileKind.CLS_PROXY, cls_proxy().id)
JOB = uuid.UUID("e2d1c0b9-a8f7-4e6d-9c5b-4a3928171605")
IKEY = uuid.UUID("7c6b5a49-3827-4615-9a0b-1c2d3e4f5a6b")

SAMPLES: list[object] = [
    gwa_profile(),
    cls_peer(),
    meter_profile(),
    meter_profile(hdlc_address=None, public_key=None, key_material_ref=None, active=False),
    billing_profile(),
    non_billing_profile(),
    cls_proxy(),
    READINGS,
    a.Pairing(M1, bytes(range(16)), 300),
    a.CryptoReset(M1, a.CryptoResetReason.KEY_COMPROMISE),
    a.TimeSync(),
    a.TimeSync("ntp://ntp.example.net:123"),
    a.SelfTest(),
    a.ReadLog(a.LogName.METROLOGICAL, 10, T0, T0 + timedelta(hours=1)),
    a.ReadDeviceInfo(),
    a.PairingResult(M1, a.PairingOutcome.FAILED, T0, bytes.fromhex("fe09")),
    a.CryptoResetResult(M1, T0),
    a.TimeSyncResult("ntp://ntp.example.net:123", T0, -31200, 27000, True),
    a.SelfTestResult(True, T0, T0 + timedelta(seconds=4), (
        a.SelfTestCheck("clock", a.CheckOutcome.PASSED),
        a.SelfTestCheck("lmn", a.CheckOutcome.SKIPPED, "no meter configured"),
    )),
    a.LogExtract(a.LogName.SYSTEM, False, (a.LogEntry(1, T0, a.Severity.WARNING, 3002, "gone"),)),
    a.LogExtract(a.LogName.SYSTEM, True, ()),
    a.DeviceInfo(SMGW, "Demo", "Virtual", "4.2.1", "ab" * 32, T0, a.OperatingState.NORMAL,
                 "2001:db8::17"),
    event(),
    a.EventReport((event(sequence=1), event(sequence=2, id=uuid.uuid4()))),
    a.EventAck((uuid.uuid4(), uuid.uuid4())),
    response(),
    a.Response.of(REQ, a.Reason.CREATED, result=billing_profile(), readings=READINGS),
    a.Response.of(REQ, a.Reason.DELETED),
    a.Response.of(REQ, a.Reason.BUSY, detail="later", retry_after_seconds=60),
    a.Response.of(REQ, a.Reason.OK,
                  result=a.TimeSyncResult("ntp://a.example:123", T0, 1, 2, False)),
    a.SessionStart(SESSION, SMGW, a.StartReason.WAKE_UP, T0, "4.2.1", wake_up_nonce=bytes(16)),
    a.SessionStart(SESSION, SMGW, a.StartReason.RESUME, T0, "4.2.1",
                   pending_result=a.Response.of(REQ, a.Reason.PAIRING_FAILED)),
    a.SessionRequest(SESSION, REQ, a.CreateProfile(meter_profile())),
    a.SessionRequest(SESSION, REQ, a.UpdateProfile(cls_proxy(revision=5))),
    a.SessionRequest(SESSION, REQ, a.ReadProfile(CLS_PROXY_REF)),
    a.SessionRequest(SESSION, REQ, a.DeleteProfile(METER_REF)),
    a.SessionRequest(SESSION, REQ, a.CallMethod(a.SelfTest())),
    a.SessionResult(SESSION, a.Response.of(REQ, a.Reason.OK, result=gwa_profile())),
    a.SessionEnd(SESSION, a.EndReason.NO_WORK, 3600),
    a.SessionEnd(SESSION, a.EndReason.DONE),
    a.ProcessRequest(IKEY, SMGW, a.CallMethod(a.Pairing(M1, bytes(16))), "WO-1"),
    a.ProcessRequest(IKEY, SMGW, a.ReadProfile(METER_REF)),
    a.JobStatus(JOB, IKEY, SMGW, a.JobState.QUEUED, T0, T0, 0),
    a.JobStatus(JOB, IKEY, SMGW, a.JobState.SUCCEEDED, T0, T0 + timedelta(seconds=5), 6,
                response=a.Response.of(REQ, a.Reason.CREATED)),
    a.JobStatus(JOB, IKEY, SMGW, a.JobState.FAILED, T0, T0, 2,
                response=a.Response.of(REQ, a.Reason.KEY_EXCHANGE_FAILED),
                failure=a.JobFailure(a.FailureReason.REJECTED_BY_GATEWAY)),
    a.JobEvent(JOB, 1, T0, a.JobState.QUEUED, a.Step.ACCEPTED),
    a.JobEvents(JOB, 3, (
        a.JobEvent(JOB, 2, T0, a.JobState.RUNNING, a.Step.WAKE_UP_SENT, "udp"),
        a.JobEvent(JOB, 3, T0, a.JobState.RUNNING, a.Step.SMGW_EVENT, event=event()),
    )),
    a.JobEvents(JOB, 9),
]


def _sample_id(obj: object) -> str:
    return type(obj).__name__


@pytest.mark.parametrize("obj", SAMPLES, ids=_sample_id)
def test_every_document_round_trips(obj: object) -> None:
    data = a.to_xml(obj)
    assert data.startswith(b"<?xml")
    back = a.from_xml(data)
    assert back == obj
    assert a.to_xml(back) == data  # stable encoding
    assert a.from_xml(a.to_xml(obj, pretty=True)) == obj


def test_samples_cover_every_registered_document() -> None:
    roots = {etree.fromstring(a.to_xml(obj)).tag for obj in SAMPLES}
    missing = [c.element for c in a.CODECS if c.qname not in roots]
    assert missing == []


def test_codecs_use_their_namespace_schema() -> None:
    for ns in catalog.NAMESPACES.values():
        doc = etree.parse(str(schema_dir() / ns.schema))
        assert doc.getroot().get("targetNamespace") == ns.uri
        assert ns.uri.startswith(catalog.NAMESPACE_FAMILY) and ns.uri.endswith(":1")
    for codec in a.CODECS:
        xsd = etree.parse(str(schema_dir() / codec.schema)).getroot()
        names = {el.get("name") for el in xsd if el.tag == "{http://www.w3.org/2001/XMLSchema}element"}
        assert codec.element in names, codec


def test_decoder_dispatches_by_root_element() -> None:
    doc = a.to_xml(a.SessionEnd(SESSION, a.EndReason.DONE))
    assert isinstance(a.from_xml(doc), a.SessionEnd)
    with pytest.raises(InvalidValue, match="Expected SessionResult"):
        a.from_xml(doc, expect=a.SessionResult)


def test_pairing_key_is_not_shown_in_repr() -> None:
    call = a.Pairing(M1, bytes.fromhex("00112233445566778899aabbccddeeff"))
    assert "00112233" not in repr(call) and "x11" not in repr(call)


# --- hypothesis --------------------------------------------------------------------------------

_obis = st.builds(Obis, *(st.integers(0, 255) for _ in range(5)), st.integers(0, 255))
_times = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31), timezones=st.just(UTC)
)
_server_ids = st.builds(
    lambda medium, flag, block, serial: ServerId.parse(f"{medium}{flag}{block:02d}{serial:08d}"),
    st.sampled_from("1456789"), st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=3, max_size=3),
    st.integers(0, 99), st.integers(0, 99_999_999),
)
_text = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=60
).filter(lambda s: s.strip() == s and s != "")


@st.composite
def _meter_profiles(draw: st.DrawFn) -> a.MeterProfile:
    sid = draw(_server_ids)
    wired = draw(st.booleans())
    return a.MeterProfile(
        a.MeterProfile.id_for(sid), draw(st.integers(1, 2**32 - 1)), sid,
        draw(st.sampled_from(a.DeviceType)), draw(st.booleans()), draw(st.integers(1, 86400)),
        a.LmnInterface.WIRED if wired else a.LmnInterface.WIRELESS,
        a.LmnComType.TLS if wired else draw(st.sampled_from(a.LmnComType)),
        tuple(draw(st.lists(_obis, min_size=1, max_size=10, unique=True))),
        hdlc_address=draw(st.none() | st.integers(16, 16381)) if wired else None,
        public_key=draw(st.none() | st.binary(min_size=32, max_size=133)),
        key_material_ref=draw(st.none() | st.from_regex(r"[0-9A-Za-z][0-9A-Za-z._:/\-]{0,20}",
                                                         fullmatch=True)),
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_meter_profiles())
def test_meter_profile_round_trip_property(profile: a.MeterProfile) -> None:
    assert a.from_xml(a.to_xml(profile)) == profile


@st.composite
def _events(draw: st.DrawFn) -> a.Event:
    etype = draw(st.sampled_from(list(catalog.EVENT_TYPES.values())))
    subjects = {
        catalog.SubjectKind.GATEWAY: st.just(a.GatewaySubject()),
        catalog.SubjectKind.METER: st.builds(a.MeterSubject, _server_ids),
        catalog.SubjectKind.PROFILE: st.just(a.ProfileSubject(a.ProfileRef(a.ProfileKind.METER,
                                                                           meter_profile().id))),
        catalog.SubjectKind.PEER: st.just(a.PeerSubject(GWA_ID)),
        catalog.SubjectKind.INTERFACE: st.builds(a.InterfaceSubject, st.sampled_from(a.Interface)),
        catalog.SubjectKind.CERTIFICATE: st.just(a.CertificateSubject("0f" * 32)),
    }
    names = draw(st.lists(st.from_regex(r"[a-z][A-Za-z0-9]{0,12}", fullmatch=True), max_size=5,
                          unique=True))
    return a.Event(
        uuid.UUID(int=draw(st.integers(0, 2**128 - 1))), draw(st.integers(0, 2**64 - 1)),
        etype.code, etype.severity, draw(_times), SMGW, a.Component(etype.component),
        draw(subjects[etype.subject]),
        tuple(a.EventDetail(n, draw(_text)) for n in names),
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_events())
def test_event_round_trip_property(ev: a.Event) -> None:
    assert a.from_xml(a.to_xml(ev)) == ev


@settings(max_examples=40, deadline=None)
@given(
    st.sampled_from(a.Reason), st.none() | _text,
    st.lists(st.builds(a.Reading, _server_ids, _obis, _times, st.integers(-(2**63), 2**63 - 1),
                       st.integers(-12, 12), st.integers(0, 255), st.sampled_from(a.ReadingStatus)),
             min_size=1, max_size=5),
)
def test_response_round_trip_property(reason: a.Reason, detail: str | None,
                                      readings: list[a.Reading]) -> None:
    with_readings = a.Readings(LN("01005e318027.taf7-1.sm"), tuple(readings))
    r = a.Response.of(REQ, reason, detail=detail,
                      readings=None if reason is a.Reason.DELETED else with_readings)
    assert a.from_xml(a.to_xml(r)) == r


# --- the schemas catch typical mistakes --------------------------------------------------------


def _mutate(obj: object, old: str, new: str, count: int = 1) -> bytes:
    text = a.to_xml(obj, pretty=True).decode()
    assert old in text, old
    return text.replace(old, new, count).encode()


def _refused(data: bytes, *, match: str) -> InvalidValue:
    with pytest.raises(InvalidValue) as info:
        a.from_xml(data)
    assert re.search(match, str(info.value)), str(info.value)
    return info.value


START = a.SessionStart(SESSION, SMGW, a.StartReason.BOOT, T0, "4.2.1")
READ_METER = a.SessionRequest(SESSION, REQ, a.ReadProfile(METER_REF))


@pytest.mark.parametrize(
    ("obj", "old", "new", "match"),
    [
        # bad SMGW ID: lower case, too short, meter ID instead of gateway ID
        (START, "EDEM0100000001", "edem0100000001", "smgwId"),
        (START, "EDEM0100000001", "EDEM010000001", "smgwId"),
        (START, "EDEM0100000001", "1EMH0012345678", "smgwId"),
        # unknown profile kind
        (READ_METER, 'kind="meter"', 'kind="gas-meter"', "kind"),
        # unknown profile element inside create
        (a.SessionRequest(SESSION, REQ, a.CreateProfile(cls_proxy())), "clsProxyProfile",
         "clsRelayProfile", "clsRelayProfile"),
        # missing required field
        (meter_profile(), "<sampleRate>900</sampleRate>", "", "sampleRate|lmnInterface"),
        (gwa_profile(), '<peerRole>GWA</peerRole>', "", "peerRole|peerName"),
        # wrong OBIS: notation, 11 digits, upper case
        (meter_profile(), "<obis>0100010800ff</obis>", "<obis>1-0:1.8.0</obis>", "obis"),
        (meter_profile(), "<obis>0100010800ff</obis>", "<obis>0100010800f</obis>", "obis"),
        (meter_profile(), "<obis>0100010800ff</obis>", "<obis>0100010800FF</obis>", "obis"),
        # the same OBIS twice in a capture list
        (meter_profile(), "<obis>0100020800ff</obis>", "<obis>0100010800ff</obis>", "unique|obis"),
        # server ID in DIN text form instead of hex
        (meter_profile(), "<serverId>0a01454d480000bc614e</serverId>",
         "<serverId>1EMH0012345678</serverId>", "serverId"),
        # time without zone
        (START, "2025-03-14T09:30:00Z", "2025-03-14T09:30:00", "time"),
        # TLS session longer than 48 h on the WAN
        (gwa_profile(), "<maxSessionTime>3600</maxSessionTime>",
         "<maxSessionTime>172801</maxSessionTime>", "maxSessionTime"),
        # a billing profile for a non-billing TAF, registration period in minutes
        (billing_profile(), "<tafNumber>7</tafNumber>", "<tafNumber>10</tafNumber>", "tafNumber"),
        (billing_profile(), "<registrationPeriod>900</registrationPeriod>",
         "<registrationPeriod>15</registrationPeriod>", "registrationPeriod"),
        # metering point ID with 32 characters
        (billing_profile(), MPID, MPID[:-1], "meteringPointId"),
        # revision 0
        (meter_profile(), 'revision="1"', 'revision="0"', "revision"),
        # unknown response reason, status outside the table
        (response(), 'reason="ok"', 'reason="fine"', "reason"),
        (response(), 'status="200"', 'status="299"', "status"),
        # the consumer log is not readable over the WAN
        (a.ReadLog(a.LogName.SYSTEM), "<log>system</log>", "<log>consumer</log>", "log"),
        # idempotency key that is not a UUID
        (a.ProcessRequest(IKEY, SMGW, a.CallMethod(a.SelfTest())), str(IKEY), "job-1",
         "idempotencyKey"),
    ],
    ids=lambda v: v if isinstance(v, str) and len(v) < 25 else None,
)
def test_schema_refuses_typical_mistakes(obj: object, old: str, new: str, match: str) -> None:
    err = _refused(_mutate(obj, old, new), match=match)
    assert "line" in str(err)
    assert "Zeile" in err.describe("de")


def test_unknown_document_and_unsupported_version_are_refused() -> None:
    _refused(b'<profile xmlns="urn:example:other"/>', match="not an administration document")
    data = _mutate(a.SessionEnd(SESSION, a.EndReason.DONE), "management:1", "management:2")
    err = _refused(data, match="version")
    assert err.hint is not None


def test_semantically_wrong_documents_are_refused_with_the_line() -> None:
    # schema-valid, but the profile ID names another meter than the server ID
    data = _mutate(a.SessionRequest(SESSION, REQ, a.CreateProfile(meter_profile())),
                   "01005e318002.1emh0012345678.sm", "01005e318002.1emh0099999999.sm")
    err = _refused(data, match=r"does not name server ID.*line 4")
    assert err.field == "meterProfile.id"
    # a status that does not go with its reason
    _refused(_mutate(response(), 'status="200"', 'status="201"'), match="goes with status 200")


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"<response",
        b'<?xml version="1.0"?>\n<sessionEnd xmlns="urn:smgwct:admin:management:1">\n</sessionEn>',
        b"\x00\x01binary",
        b'<!DOCTYPE r [<!ENTITY x "y">]><r>&x;</r>',
    ],
)
def test_malformed_xml_is_invalid_value_with_line(data: bytes) -> None:
    with pytest.raises(InvalidValue) as info:
        a.from_xml(data)
    text = str(info.value)
    assert "line" in text or "DOCTYPE" in text or "empty" in text


def test_malformed_xml_names_the_line() -> None:
    data = b'<?xml version="1.0"?>\n<sessionEnd xmlns="urn:smgwct:admin:management:1">\n</x>'
    _refused(data, match="line 3")


# --- invalid objects are refused before anything is sent ---------------------------------------


@pytest.mark.parametrize(
    ("obj", "field"),
    [
        (meter_profile(revision=0), "meterProfile"),
        (meter_profile(id=LN("01005e318002.1emh0099999999.sm")), "meterProfile.id"),
        (meter_profile(id=LN("01005e318031.1emh0012345678.sm")), "meterProfile.id"),
        (meter_profile(server_id="1EMH0012345678"), "meterProfile.serverId"),
        (meter_profile(lmn_interface=a.LmnInterface.WIRELESS), "meterProfile.hdlcAddress"),
        (meter_profile(lmn_com_type=a.LmnComType.SYMMETRIC), "meterProfile.lmnComType"),
        (meter_profile(capture_list=()), "meterProfile"),
        (meter_profile(sample_rate_seconds=0), "meterProfile"),
        (gwa_profile(addresses=(a.Address(a.AddressPurpose.MANAGEMENT, "https://g.example"),)),
         "communicationProfile.address"),
        (gwa_profile(addresses=(
            a.Address(a.AddressPurpose.MANAGEMENT, "http://g.example/m"),
            a.Address(a.AddressPurpose.INFO_REPORT, "https://g.example/i"))),
         "communicationProfile.address"),
        (gwa_profile(enc_certificate=None), "communicationProfile.sigCertificate"),
        (gwa_profile(max_idle_seconds=7200), "communicationProfile.maxIdleTime"),
        (gwa_profile(tls_fingerprint="AB" * 32), "communicationProfile"),
        (billing_profile(valid_from=datetime(2025, 1, 1)), "billingEvaluationProfile.validFrom"),
        (billing_profile(valid_until=T0), "billingEvaluationProfile.validUntil"),
        (billing_profile(id=LN("01005e318021.taf1-1.sm")), "billingEvaluationProfile.id"),
        (billing_profile(receiving_emt=LN("01005e318002.1emh0012345678.sm")),
         "billingEvaluationProfile.receivingEmt"),
        (billing_profile(taf=10, id=LN("01005e31802a.x.sm")), "billingEvaluationProfile"),
        (cls_proxy(scenarios=(a.HksScenario.HKS3,)), "clsProxyProfile.permanent"),
        (cls_proxy(emt_peer=CLS_ID), "clsProxyProfile.emtPeer"),
        (a.Pairing(M1, bytes(15)), "pairing.initialKey"),
        (a.ReadLog(a.LogName.SYSTEM, since=T0, until=T0 - timedelta(1)), "readLog.until"),
        (a.SelfTestResult(True, T0, T0, (a.SelfTestCheck("clock", a.CheckOutcome.FAILED),)),
         "selfTestResult.outcome"),
        (event(severity=a.Severity.INFO), "event.severity"),
        (event(subject=a.GatewaySubject()), "event.subject"),
        (a.EventReport((event(sequence=5), event(sequence=4, id=uuid.uuid4()))),
         "eventReport.event"),
        (a.EventReport(()), "eventReport"),
        (a.Response(REQ, 201, a.Reason.OK), "response.status"),
        (a.Response(REQ, 200, "ok"), "response.reason"),  # type: ignore[arg-type]
        (a.Response.of(REQ, a.Reason.OK, retry_after_seconds=5), "response.retryAfter"),
        (a.Response.of(REQ, a.Reason.DELETED, result=meter_profile()), "response.result"),
        (a.SessionStart(SESSION, SMGW, a.StartReason.WAKE_UP, T0, "1"), "sessionStart.wakeUpNonce"),
        (a.SessionStart(SESSION, SMGW, a.StartReason.BOOT, T0, "1", bytes(16)),
         "sessionStart.wakeUpNonce"),
        (a.SessionStart(SESSION, SMGW, a.StartReason.RESUME, T0, "1"),
         "sessionStart.pendingResult"),
        (a.SessionRequest(SESSION, REQ, a.CreateProfile(meter_profile(revision=2))),
         "sessionRequest.create"),
        (a.SessionRequest(SESSION, "not-a-uuid", a.CallMethod(a.SelfTest())),  # type: ignore[arg-type]
         "sessionRequest.requestId"),
        (a.JobStatus(JOB, IKEY, SMGW, a.JobState.FAILED, T0, T0, 0), "jobStatus.failure"),
        (a.JobStatus(JOB, IKEY, SMGW, a.JobState.SUCCEEDED, T0, T0, 0), "jobStatus.response"),
        (a.JobEvent(JOB, 1, T0, a.JobState.RUNNING, a.Step.SMGW_EVENT), "jobEvent.event"),
        (a.JobEvents(JOB, 1, (a.JobEvent(JOB, 2, T0, a.JobState.RUNNING, a.Step.ACCEPTED),)),
         "jobEvents.next"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_invalid_objects_are_refused_before_sending(obj: object, field: str) -> None:
    with pytest.raises(InvalidValue) as info:
        a.to_xml(obj)
    err = info.value
    assert err.field is not None and err.field.startswith(field)
    assert err.message.de and err.message.de != err.message.en


def test_schema_errors_on_encoding_say_nothing_was_sent() -> None:
    with pytest.raises(InvalidValue) as info:
        a.to_xml(meter_profile(sample_rate_seconds=100_000))
    assert "sampleRate" in str(info.value)
    assert info.value.hint is not None and "nichts gesendet" in info.value.hint.de


def test_objects_without_xml_form_are_refused() -> None:
    with pytest.raises(InvalidValue):
        a.to_xml(object())


# --- tables agree with the schemas -------------------------------------------------------------

_XS = "{http://www.w3.org/2001/XMLSchema}"


def _enumeration(schema: str, type_name: str) -> set[str]:
    root = etree.parse(str(schema_dir() / schema)).getroot()
    for st_el in root.iter(f"{_XS}simpleType"):
        if st_el.get("name") == type_name:
            return {e.get("value") for e in st_el.iter(f"{_XS}enumeration")}
    raise AssertionError(f"{type_name} not in {schema}")


@pytest.mark.parametrize(
    ("values", "schema", "type_name"),
    [
        ({r.value for r in a.Reason}, "response.xsd", "Reason"),
        ({str(i.status) for i in a.REASONS.values()}, "response.xsd", "Status"),
        ({k.value for k in a.ProfileKind}, "admin-types.xsd", "ProfileKind"),
        ({s.value for s in a.Severity}, "admin-types.xsd", "Severity"),
        ({c.value for c in a.Component}, "event.xsd", "Component"),
        ({r.value for r in a.PeerRole}, "communication-profile.xsd", "PeerRole"),
        ({p.value for p in a.AddressPurpose}, "communication-profile.xsd", "AddressPurpose"),
        ({d.value for d in a.DeviceType}, "meter-profile.xsd", "DeviceType"),
        ({str(t) for t in catalog.BILLING_TAFS}, "evaluation-profile.xsd", "BillingTaf"),
        ({str(t) for t in catalog.NON_BILLING_TAFS}, "evaluation-profile.xsd", "NonBillingTaf"),
        ({s.value for s in a.HksScenario}, "cls-proxy-profile.xsd", "Scenario"),
        ({r.value for r in a.CryptoResetReason}, "method-call.xsd", "CryptoResetReason"),
        ({s.value for s in a.OperatingState}, "method-call.xsd", "OperatingState"),
        ({s.value for s in a.StartReason}, "management.xsd", "StartReason"),
        ({s.value for s in a.EndReason}, "management.xsd", "EndReason"),
        ({s.value for s in a.JobState}, "gwa-link.xsd", "JobState"),
        ({s.value for s in a.Step}, "gwa-link.xsd", "Step"),
        ({s.value for s in a.FailureReason}, "gwa-link.xsd", "FailureReason"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_python_tables_match_schema_enumerations(values: set[str], schema: str,
                                                 type_name: str) -> None:
    allowed = _enumeration(schema, type_name)
    if type_name == "Status":  # every reason's status is allowed by the schema
        assert values <= allowed
    else:
        assert values == allowed


def test_every_reason_has_both_languages_and_failure_texts_exist() -> None:
    for info in a.REASONS.values():
        assert info.text.en and info.text.de and info.text.en != info.text.de
    for reason in a.FailureReason:
        assert a.JobFailure(reason).text.de


def test_event_table_is_consistent() -> None:
    for code, etype in a.EVENT_TYPES.items():
        assert 1000 <= code <= 9999 and etype.code == code
        assert etype.component in {c.value for c in a.Component}
    assert a.EVENT_CODES["SMGW_STARTED"] == 1001
    # unknown codes are accepted and shown as such (forward compatibility)
    unknown = event(code=8888, severity=a.Severity.WARNING)
    back = a.from_xml(a.to_xml(unknown))
    assert back.type is None and "8888" in back.title.en


def test_schemas_load_offline_and_are_cached() -> None:
    for ns in catalog.NAMESPACES.values():
        assert load_schema(ns.schema) is load_schema(ns.schema)


def test_wrong_python_types_become_invalid_value_not_crashes() -> None:
    with pytest.raises(InvalidValue) as info:
        a.to_xml(meter_profile(device_type="gas-meter"))
    assert info.value.field == "meterProfile" and info.value.hint is not None
    with pytest.raises(InvalidValue):
        a.to_xml(meter_profile(revision="1"))


def test_request_line_names_the_http_method_and_resource() -> None:
    assert a.request_line(a.UpdateProfile(meter_profile(revision=2))) == (
        "PUT /profiles/meter/01005e318002.1emh0012345678.sm"
    )
    assert a.request_line(a.CreateProfile(cls_proxy())) == "POST /profiles/cls-proxy"
    assert a.request_line(a.DeleteProfile(METER_REF)).startswith("DELETE /profiles/meter/")
    assert a.request_line(a.CallMethod(a.Pairing(M1, bytes(16)))) == "POST /methods/pairing"
    assert a.operation_info(a.ReadProfile(METER_REF)).http_method == "GET"
