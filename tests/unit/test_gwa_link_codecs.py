"""Sans-I/O parts of the GWA link: server-sent events, problem documents, process names."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain import LogicalName, ServerId
from app.errors import InvalidValue, Text
from app.protocols.admin import (
    CallMethod,
    CreateProfile,
    CryptoReset,
    CryptoResetReason,
    DeleteProfile,
    LogName,
    Pairing,
    ProfileKind,
    ReadLog,
    ReadProfile,
    SelfTest,
    TimeSync,
)
from app.transports.gwa import processes as names
from app.transports.gwa.problem import Problem, decode_problem, encode_problem
from app.transports.gwa.sse import SseError, SseEvent, SseParser, format_comment, format_event

# --- server-sent events ---------------------------------------------------------------------------


def test_sse_parses_fields_comments_and_multiline_data():
    stream = (b": hello\n\nretry: 1500\nevent: jobEvent\nid: 7\ndata: <a>\ndata: b</a>\n\n"
              b"data: plain\r\n\r\nid: 9\nevent: x\n\n")
    parser = SseParser()
    events = parser.feed(stream)
    assert events == [SseEvent("jobEvent", "<a>\nb</a>", "7"), SseEvent("message", "plain", "7")]
    assert parser.retry_ms == 1500
    assert parser.last_id == "9"  # an id without data is remembered, nothing dispatched


def test_sse_handles_crlf_split_across_chunks_and_a_bom():
    parser = SseParser()
    assert parser.feed(b"\xef\xbb\xbfdata: one\r") == []
    assert parser.feed(b"\n\r") == []
    assert parser.feed(b"\ndata: two\n\n") == [SseEvent("message", "one", None),
                                                SseEvent("message", "two", None)]


def test_sse_refuses_an_endless_line():
    parser = SseParser()
    with pytest.raises(SseError):
        parser.feed(b"data: " + b"x" * (1024 * 1024 + 10))


@settings(max_examples=150, deadline=None)
@given(
    items=st.lists(st.tuples(st.text(alphabet=st.characters(blacklist_categories=("Cs",),
                                                               blacklist_characters="\r\n\0"),
                                      max_size=30),
                             st.integers(min_value=1, max_value=10**6)), max_size=8),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=10),
)
def test_sse_written_events_survive_any_chunking(items, cuts):
    stream = format_comment("keep-alive") + b"".join(
        format_event(data, event="jobEvent", event_id=seq) for data, seq in items)
    points = sorted({c for c in cuts if c < len(stream)})
    chunks = [stream[a:b] for a, b in zip([0, *points], [*points, len(stream)], strict=True)]
    parser = SseParser()
    got = [e for chunk in chunks for e in parser.feed(chunk)]
    assert [(e.data, e.id) for e in got] == [(d, str(s)) for d, s in items]


def test_sse_writer_refuses_field_injection():
    with pytest.raises(ValueError):
        format_event("x", event="a\ndata: injected")


# --- problem documents ----------------------------------------------------------------------------


def test_problem_roundtrip_keeps_both_languages_field_and_hint():
    problem = Problem(422, "idempotency-conflict", Text("Key reused.", "Schlüssel doppelt."),
                      field="Idempotency-Key", hint=Text("New key.", "Neuer Schlüssel."),
                      instance="/tech/v1/processes")
    data = encode_problem(problem)
    assert b'xmlns="urn:ietf:rfc:7807"' in data
    back = decode_problem(data)
    assert back.status == 422 and back.code == "idempotency-conflict"
    assert back.message == problem.message and back.hint == problem.hint
    assert back.field == "Idempotency-Key" and back.instance == "/tech/v1/processes"


def test_foreign_problem_document_is_read_with_its_type_and_english_text():
    data = (b'<problem xmlns="urn:ietf:rfc:7807"><type>https://example.net/out-of-credit</type>'
            b"<title>Out of credit</title><status>403</status></problem>")
    problem = decode_problem(data)
    assert problem.status == 403 and problem.code == "unknown"
    assert problem.message == Text("Out of credit", "Out of credit")


@pytest.mark.parametrize("data", [
    b"<html>oops</html>",
    b'<problem xmlns="urn:ietf:rfc:7807"><status>bad</status></problem>',
    b'<!DOCTYPE x [<!ENTITY a "b">]><problem xmlns="urn:ietf:rfc:7807"/>',
    b"not xml",
])
def test_broken_problem_documents_are_refused_cleanly(data):
    with pytest.raises(InvalidValue):
        decode_problem(data)


# --- process names and parameters -------------------------------------------------------------


def test_method_processes_build_their_calls_from_text_parameters():
    op = names.build_operation("crypto_reset", {"server_id": "1EMH0012345678",
                                                "reason": "meter-change", "timeout": "60"})
    assert op == CallMethod(CryptoReset(ServerId.parse("1EMH0012345678"),
                                        CryptoResetReason.METER_CHANGE, 60))
    assert names.build_operation("self_test") == CallMethod(SelfTest())
    assert names.build_operation("time_sync", {}) == CallMethod(TimeSync(None))
    log = names.build_operation("read_log", {"log": "metrological", "max_entries": "5",
                                             "since": "2025-01-01T00:00:00+01:00"})
    assert isinstance(log.call, ReadLog) and log.call.log is LogName.METROLOGICAL
    pairing = names.build_operation("pairing", {"server_id": "1EMH0012345678",
                                                "initial_key": "00112233445566778899aabbccddeeff"})
    assert isinstance(pairing.call, Pairing) and len(pairing.call.initial_key) == 16
    assert names.carries_secret(pairing) and not names.carries_secret(log)


def test_meter_profile_from_simple_parameters():
    op = names.build_operation("meter_profile.create", {
        "server_id": "1DZG0042123440", "hdlc_address": "17", "capture_list": "1-0:1.8.0",
        "active": "false"})
    assert isinstance(op, CreateProfile)
    profile = op.profile
    assert profile.id.text == "01005e318002.1dzg0042123440.sm" and profile.revision == 1
    assert profile.hdlc_address == 17 and profile.active is False
    assert [o.hex for o in profile.capture_list] == ["0100010800ff"]
    read = names.build_operation("meter_profile.read", {"server_id": "1DZG0042123440"})
    assert isinstance(read, ReadProfile) and read.ref.id == profile.id
    with pytest.raises(InvalidValue) as bad:
        names.build_operation("meter_profile.create", {"server_id": "1DZG0042123440",
                                                       "hdlc_address": "3"})
    assert bad.value.field == "param hdlc_address"


def test_profile_processes_use_ids_and_documents():
    ref_id = "01005e318002.1emh0012345678.sm"
    op = names.build_operation("meter_profile.read", {"id": ref_id})
    assert op == ReadProfile(names.ProfileRef(ProfileKind.METER, LogicalName.parse(ref_id)))
    # evaluation profiles: billing or not follows from the TAF class OBIS of the ID
    billing = names.build_operation("evaluation_profile.delete", {"id": "01005e318021.t1.sm"})
    other = names.build_operation("evaluation_profile.delete", {"id": "01005e318029.t9.sm"})
    assert isinstance(billing, DeleteProfile) and isinstance(other, DeleteProfile)
    assert billing.ref.kind is ProfileKind.BILLING_EVALUATION
    assert other.ref.kind is ProfileKind.NON_BILLING_EVALUATION


METER_PROFILE = b"""<meterProfile xmlns="urn:smgwct:admin:meter-profile:1"
    id="01005e318002.1emh0012345678.sm" revision="1">
  <serverId>0a01454d480000bc614e</serverId>
  <deviceType>electricity</deviceType>
  <active>true</active>
  <sampleRate>900</sampleRate>
  <lmnInterface>wired</lmnInterface>
  <lmnComType>tls</lmnComType>
  <hdlcAddress>16</hdlcAddress>
  <captureList><obis>0100010800ff</obis></captureList>
</meterProfile>"""


def test_profile_create_from_an_xml_document_and_back_to_its_name():
    document = METER_PROFILE
    op = names.build_operation("meter_profile.create", {"document": document})
    assert isinstance(op, CreateProfile) and op.profile.kind is ProfileKind.METER
    assert names.process_name(op) == "meter_profile.create"
    params = names.operation_params(op)
    assert params["operation"] is op and params["profile"] is op.profile
    with pytest.raises(InvalidValue) as wrong_kind:
        names.build_operation("cls_proxy_profile.create", {"document": document})
    assert wrong_kind.value.field == "param profile"


@pytest.mark.parametrize(("process", "params", "field"), [
    ("format_disk", {}, "process"),
    ("self_test", {"force": "yes"}, "param force"),
    ("pairing", {"server_id": "1EMH0012345678", "initial_key": "abcd"}, "param initial_key"),
    ("crypto_reset", {"server_id": "1EMH0012345678"}, "param reason"),
    ("crypto_reset", {"server_id": "1EMH0012345678", "reason": "repair", "timeout": "0"},
     "param timeout"),
    ("meter_profile.read", {}, "param id"),
    ("evaluation_profile.read", {"id": "01005e318002.x.sm"}, "param kind"),
    ("read_log", {"since": "2025-01-01T00:00:00"}, "param since"),
    ("meter_profile.create", {}, "param profile"),
])
def test_bad_parameters_name_the_field(process, params, field):
    with pytest.raises(InvalidValue) as bad:
        names.build_operation(process, params)
    assert bad.value.field == field
    assert bad.value.message.de != bad.value.message.en


def test_every_process_name_maps_back():
    for name in names.PROCESS_NAMES:
        assert "." in name or name in names.METHOD_PROCESSES.values()
    assert names.process_name(CallMethod(SelfTest())) == "self_test"


def test_pairing_without_key_m_leaves_it_to_the_gwa():
    op = names.build_operation("pairing", {"server_id": "1EMH0012345678"})
    assert isinstance(op, CallMethod) and op.call.initial_key is None
    keyed = names.build_operation("pairing", {"server_id": "1EMH0012345678",
                                              "initial_key": "00112233445566778899aabbccddeeff"})
    assert keyed.call.initial_key == bytes.fromhex("00112233445566778899aabbccddeeff")
