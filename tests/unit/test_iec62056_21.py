"""IEC 62056-21: message parsers/builders and the client and meter state machines."""

from __future__ import annotations

import contextlib
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain import Obis, ServerId
from app.errors import InvalidValue
from app.protocols.iec62056_21 import (
    ACK,
    Expect,
    Failed,
    Finished,
    Iec62056Error,
    Iec62056MeterSession,
    Iec62056Session,
    IecDataSet,
    IecValue,
    Send,
    SerialSettings,
    SessionState,
    SetSerial,
    Wait,
    bcc,
    build_ack,
    build_break,
    build_identification,
    build_request,
    encode_data_block,
    parse_ack,
    parse_data_block,
    parse_identification,
    parse_request,
)
from app.protocols.meter_reading import snapshot_from_iec

# --- request / identification / ack ------------------------------------------------------------


def test_request_with_and_without_address() -> None:
    assert build_request() == b"/?!\r\n"
    assert build_request("12345678") == b"/?12345678!\r\n"
    assert parse_request(b"/?12345678!\r\n") == "12345678"
    assert parse_request(b"/?!\r\n") == ""
    with pytest.raises(InvalidValue) as info:
        build_request("12!4")
    assert info.value.field == "device_address"
    with pytest.raises(Iec62056Error):
        parse_request(b"/?abc\r\n")


@pytest.mark.parametrize(
    ("line", "manufacturer", "mode", "baud", "ident", "enhanced", "short"),
    [
        (b"/EMH5eHZ-E\r\n", "EMH", "C", 9600, "eHZ-E", (), False),
        (b"/ISk5\\2MT382-1000\r\n", "ISk", "C", 9600, "MT382-1000", ("2",), True),
        (b"/LGZ4ZMD3104107.B32\r\n", "LGZ", "C", 4800, "ZMD3104107.B32", (), False),
        (b"/ABCEmeter\r\n", "ABC", "B", 9600, "meter", (), False),
        (b"/XYZ_old one\r\n", "XYZ", "A", 300, "old one", (), False),
        (b"\x00\x00/ESY5Q3DA1004 V3.04\r\n", "ESY", "C", 9600, "Q3DA1004 V3.04", (), False),
    ],
)
def test_parse_identification(line, manufacturer, mode, baud, ident, enhanced, short) -> None:
    result = parse_identification(line)
    assert result.manufacturer == manufacturer
    assert (result.mode, result.baud, result.ident) == (mode, baud, ident)
    assert result.enhanced == enhanced
    assert result.short_reaction_time is short
    assert result.reaction_time == (0.02 if short else 0.2)
    assert result.flag == manufacturer.upper()
    assert result.supports_hdlc is ("2" in enhanced)


def test_identification_with_parity_bit_set_is_understood() -> None:
    line = bytes(b | 0x80 if i % 2 else b for i, b in enumerate(b"/EMH5eHZ\r\n"))
    assert parse_identification(line).ident == "eHZ"


@pytest.mark.parametrize("line", [b"EMH5abc\r\n", b"/EM5abc\r\n", b"/EMH5abc", b"/1MH5abc\r\n"])
def test_bad_identification(line: bytes) -> None:
    with pytest.raises(Iec62056Error) as info:
        parse_identification(line)
    assert "Kennung" in info.value.describe("de")


@given(
    manufacturer=st.text(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", min_size=3, max_size=3
    ),
    baud_char=st.sampled_from("0123456ABCDEFXYZ_"),
    ident=st.text(
        st.characters(min_codepoint=0x21, max_codepoint=0x7E, blacklist_characters="\\"),
        max_size=16,
    ),
)
def test_identification_round_trip(manufacturer: str, baud_char: str, ident: str) -> None:
    parsed = parse_identification(build_identification(manufacturer, baud_char, ident))
    assert (parsed.manufacturer, parsed.baud_char, parsed.ident) == (manufacturer, baud_char, ident)


def test_ack_option_select() -> None:
    assert build_ack("5") == b"\x060" + b"50\r\n"
    ack = parse_ack(b"\x06051\r\n")
    assert (ack.protocol_char, ack.baud_char, ack.mode_char) == ("0", "5", "1")
    assert ack.baud == 9600 and not ack.readout
    assert parse_ack(build_ack("0")).readout
    with pytest.raises(Iec62056Error):
        parse_ack(b"\x0605\r\n")
    with pytest.raises(ValueError):
        build_ack("A")


def test_break_and_bcc_public_vectors() -> None:
    assert build_break() == b"\x01B0\x03q"
    # vector from pwitab/iec62056-21 tests: SOH P0 STX (1234567) ETX BCC='P'
    assert bcc(b"P0\x02(1234567)\x03") == ord("P")


# --- data block ---------------------------------------------------------------------------------

READOUT = (
    b"\x02"
    b"0.0.0(12345678)(ABC)\r\n"
    b"1.8.0(001234.567*kWh)\r\n"
    b"1.8.1(000100.000*kWh)1.8.2(001134.567*kWh)\r\n"
    b"16.7.0(0.250*kW)\r\n"
    b"C.1.0(1EMH0012345678)\r\n"
    b"F.F(00)\r\n"
    b"0.9.2(2301011200)\r\n"
    b"!\r\n"
    b"\x03"
)
READOUT += bytes((bcc(READOUT[1:]),))


def test_data_block_with_multi_value_lines() -> None:
    block = parse_data_block(READOUT)
    assert block.bcc_ok and block.complete
    addresses = [ds.address for ds in block.datasets]
    assert addresses == ["0.0.0", "1.8.0", "1.8.1", "1.8.2", "16.7.0", "C.1.0", "F.F", "0.9.2"]
    first = block.datasets[0]
    assert first.values == (IecValue("12345678"), IecValue("ABC"))
    energy = block.get("1.8.0")
    assert energy is not None and energy.value == IecValue("001234.567", "kWh")
    assert energy.value.number == Decimal("1234.567")
    assert block.get("1-0:1.8.2") is block.datasets[3]
    assert block.datasets[5].obis == Obis(1, 0, 96, 1, 0)
    assert block.datasets[6].obis == Obis(1, 0, 97, 97, 0)
    assert IecValue("ABC").number is None


def test_data_block_bcc_error() -> None:
    broken = READOUT[:-1] + bytes((READOUT[-1] ^ 0x01,))
    with pytest.raises(Iec62056Error) as info:
        parse_data_block(broken)
    assert info.value.kind == "bcc"
    lenient = parse_data_block(broken, strict=False)
    assert not lenient.bcc_ok and len(lenient.datasets) == 8


def test_data_block_flipped_content_fails_bcc() -> None:
    damaged = bytearray(READOUT)
    damaged[10] ^= 0x04
    with pytest.raises(Iec62056Error, match="BCC"):
        parse_data_block(bytes(damaged))


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b"1.8.0(1)\r\n!\r\n\x03x", "incomplete"),
        (b"\x021.8.0(1)\r\n!\r\n", "incomplete"),
        (b"\x021.8.0(1)\r\n!\r\n\x03", "incomplete"),
    ],
)
def test_data_block_incomplete(data: bytes, kind: str) -> None:
    with pytest.raises(Iec62056Error) as info:
        parse_data_block(data)
    assert info.value.kind == kind


def test_data_block_bad_line() -> None:
    block = encode_data_block(["1.8.0(1*kWh", "!"])
    with pytest.raises(Iec62056Error, match="without"):
        parse_data_block(block)


def test_encode_data_block_round_trip() -> None:
    datasets = [
        IecDataSet("0.0.0", (IecValue("12345678"), IecValue("ABC"))),
        IecDataSet("1.8.0", (IecValue("001234.567", "kWh"),)),
    ]
    data = encode_data_block(datasets)
    assert data.startswith(b"\x020.0.0(12345678)(ABC)\r\n1.8.0(001234.567*kWh)\r\n!\r\n\x03")
    assert parse_data_block(data).datasets == tuple(datasets)


values = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0x7E, blacklist_characters="()*!/"),
    max_size=12,
)
datasets = st.builds(
    IecDataSet,
    address=st.from_regex(r"[0-9]{1,2}\.[0-9]{1,2}\.[0-9]{1,2}", fullmatch=True),
    values=st.lists(
        st.builds(IecValue, values, st.none() | st.sampled_from(["kWh", "kW", "V", "A"])),
        min_size=1,
        max_size=3,
    ).map(tuple),
)


@given(st.lists(datasets, max_size=10))
def test_data_block_round_trip_property(items: list[IecDataSet]) -> None:
    block = parse_data_block(encode_data_block(items))
    assert block.bcc_ok
    assert block.datasets == tuple(items)


@settings(max_examples=200)
@given(st.binary(max_size=300))
def test_parsers_raise_only_iec_errors(data: bytes) -> None:
    for parse in (parse_identification, parse_ack, parse_data_block, parse_request):
        with contextlib.suppress(Iec62056Error):
            parse(data)


def test_snapshot_from_readout_normalises_units() -> None:
    ident = parse_identification(b"/EMH5eHZ-EDL21\r\n")
    snap = snapshot_from_iec(parse_data_block(READOUT), ident)
    assert snap.source == "iec62056-21" and snap.crc_ok
    import_total = snap.get("1-0:1.8.0")
    assert import_total is not None
    assert (import_total.value, import_total.unit) == (Decimal("1234567.000"), "Wh")
    assert import_total.raw == "001234.567*kWh"
    assert snap.value("1-0:16.7.0") == Decimal("250.000")
    assert snap.identity.manufacturer == "EMH"
    assert snap.identity.firmware == "eHZ-EDL21"
    assert snap.identity.server_id == ServerId.parse("1EMH0012345678")
    text_reading = snap.get("1-0:0.0.0")
    assert text_reading is not None and text_reading.value == Decimal(12345678)
    # a bare serial number (1-0:0.0.0) is not taken for a server ID
    only_serial = parse_data_block(encode_data_block(["0.0.0(12345678)", "1.8.0(1*kWh)"]))
    assert snapshot_from_iec(only_serial).identity.server_id is None
    hex_id = parse_data_block(encode_data_block(["0.0.9(0a01454d480000bc614e)"]))
    assert snapshot_from_iec(hex_id).identity.server_id == ServerId.parse("1EMH0012345678")


# --- sessions -------------------------------------------------------------------------------------


class Line:
    """Connects a client and a meter session; bytes sent at different baud rates arrive as
    garbage, like on a real optical link."""

    def __init__(self, client: Iec62056Session, meter: Iec62056MeterSession) -> None:
        self.client, self.meter = client, meter
        self.baud = {"client": 300, "meter": 300}
        self.inbox = {"client": bytearray(), "meter": bytearray()}
        self.log: list[tuple[str, object]] = []
        self.result: Finished | Failed | None = None

    def _do(self, side: str, actions: list) -> None:
        other = "meter" if side == "client" else "client"
        for action in actions:
            self.log.append((side, action))
            if isinstance(action, SetSerial):
                assert action.settings.bytesize == 7 and action.settings.parity == "E"
                self.baud[side] = action.settings.baud
            elif isinstance(action, Send):
                if self.baud[side] == self.baud[other]:
                    self.inbox[other] += action.data
                else:
                    self.inbox[other] += b"\xf0" * len(action.data)
            elif isinstance(action, Wait):
                self._deliver(other)  # the other side acts while this one waits
            elif isinstance(action, Finished | Failed):
                self.result = action

    def _deliver(self, side: str) -> bool:
        if not self.inbox[side]:
            return False
        data, self.inbox[side] = bytes(self.inbox[side]), bytearray()
        session = self.client if side == "client" else self.meter
        self._do(side, session.receive(data))
        return True

    def run(self, max_steps: int = 50) -> Finished | Failed | None:
        self._do("client", self.client.start())
        for _ in range(max_steps):
            if self.result is not None:
                return self.result
            if not (self._deliver("meter") or self._deliver("client")):  # silence on the line
                self._do("meter", self.meter.on_timeout())
                self._do("client", self.client.on_timeout())
        return self.result


METER_DATA = [
    IecDataSet("0.0.0", (IecValue("12345678"),)),
    IecDataSet("1.8.0", (IecValue("001234.567", "kWh"),)),
]


def _sent(line: Line, side: str) -> list[bytes]:
    return [a.data for s, a in line.log if s == side and isinstance(a, Send)]


def test_mode_c_with_baud_switch() -> None:
    client = Iec62056Session()
    meter = Iec62056MeterSession(METER_DATA, baud_char="5")
    line = Line(client, meter)
    result = line.run()
    assert isinstance(result, Finished)
    assert result.readout.baud == 9600 and not result.readout.baud_switch_refused
    assert result.readout.block.datasets == tuple(METER_DATA)
    assert _sent(line, "client") == [b"/?!\r\n", b"\x06050\r\n"]
    client_actions = [a for s, a in line.log if s == "client"]
    assert client_actions[:3] == [
        SetSerial(SerialSettings(300)),
        Send(b"/?!\r\n"),
        Expect("identification", 2.0),
    ]
    # wait the reaction time, acknowledge at 300 Bd, then switch
    i = client_actions.index(Send(b"\x06050\r\n"))
    assert isinstance(client_actions[i - 1], Wait) and client_actions[i - 1].seconds >= 0.2
    assert client_actions[i + 1] == SetSerial(SerialSettings(9600))
    assert client.state is SessionState.DONE


def test_mode_c_without_baud_switch() -> None:
    client = Iec62056Session(baud_switch=False)
    line = Line(client, Iec62056MeterSession(METER_DATA))
    result = line.run()
    assert isinstance(result, Finished) and result.readout.baud == 300
    assert _sent(line, "client") == [b"/?!\r\n", b"\x06000\r\n"]


def test_mode_c_baud_limited_by_client() -> None:
    line = Line(Iec62056Session(max_baud=4800), Iec62056MeterSession(METER_DATA, baud_char="6"))
    result = line.run()
    assert isinstance(result, Finished) and result.readout.baud == 4800
    assert b"\x06040\r\n" in _sent(line, "client")


def test_refused_baud_switch_falls_back_to_300() -> None:
    client = Iec62056Session()
    meter = Iec62056MeterSession(METER_DATA, accept_baud_switch=False)
    line = Line(client, meter)
    result = line.run()
    assert isinstance(result, Finished), line.log
    assert result.readout.baud == 300
    assert result.readout.baud_switch_refused
    assert result.readout.block.datasets == tuple(METER_DATA)
    # first attempt asked for 9600, the second read stays at 300 Bd
    assert _sent(line, "client") == [b"/?!\r\n", b"\x06050\r\n", b"/?!\r\n", b"\x06000\r\n"]
    assert ("client", Expect("silence", 2.0)) in line.log


def test_silent_meter_after_switch_also_falls_back() -> None:
    client = Iec62056Session()
    client.start()
    client.receive(b"/EMH5eHZ\r\n")
    actions = client.on_timeout()  # nothing arrived at 9600 Bd
    assert actions == [SetSerial(SerialSettings(300)), Expect("silence", 2.0)]
    assert client.on_timeout() == [Send(b"/?!\r\n"), Expect("identification", 2.0)]
    actions = client.receive(b"/EMH5eHZ\r\n")
    assert Send(b"\x06000\r\n") in actions
    assert client.on_timeout()[0].error.kind == "timeout"  # type: ignore[union-attr]


def test_mode_a_and_mode_b_readouts() -> None:
    line = Line(Iec62056Session(), Iec62056MeterSession(METER_DATA, baud_char="_"))
    result = line.run()
    assert isinstance(result, Finished) and result.readout.baud == 300
    assert result.readout.identification.mode == "A"
    assert _sent(line, "client") == [b"/?!\r\n"]  # no acknowledgement in mode A

    line = Line(Iec62056Session(), Iec62056MeterSession(METER_DATA, baud_char="E"))
    result = line.run()
    assert isinstance(result, Finished) and result.readout.baud == 9600
    assert result.readout.identification.mode == "B"
    assert _sent(line, "client") == [b"/?!\r\n"]
    assert ("client", SetSerial(SerialSettings(9600))) in line.log


def test_no_answer_and_bcc_error_fail_with_reason() -> None:
    client = Iec62056Session()
    client.start()
    (failed,) = client.on_timeout()
    assert isinstance(failed, Failed) and failed.error.kind == "timeout"
    assert client.state is SessionState.FAILED

    client = Iec62056Session(baud_switch=False)
    client.start()
    client.receive(b"/EMH5eHZ\r\n")
    broken = READOUT[:-1] + bytes((READOUT[-1] ^ 0x7F,))
    (failed,) = client.receive(broken)
    assert isinstance(failed, Failed) and failed.error.kind == "bcc"


def test_client_handles_byte_by_byte_input_and_leading_noise() -> None:
    client = Iec62056Session(baud_switch=False)
    client.start()
    actions: list = []
    for b in b"\x00\x7f/EMH5eHZ\r\n" + READOUT:
        actions += client.receive(bytes((b,)))
    assert isinstance(actions[-1], Finished)
    assert len(actions[-1].readout.block.datasets) == 8


def test_meter_ignores_other_addresses_and_answers_its_own() -> None:
    meter = Iec62056MeterSession(METER_DATA, address="12345678")
    assert meter.receive(b"/?99999999!\r\n") == []
    actions = meter.receive(b"/?0012345678!\r\n")
    assert Send(b"/EMH5eHZ-VIRTUAL\r\n") in actions
    assert meter.state is SessionState.AWAIT_ACK
    actions = meter.receive(bytes((ACK,)) + b"051\r\n")  # programming mode: not offered
    assert actions == [Send(b"\x15")]
    assert meter.state is SessionState.IDLE


def test_meter_answers_break_free_session_after_timeout() -> None:
    meter = Iec62056MeterSession(METER_DATA)
    meter.receive(b"/?!\r\n")
    assert meter.on_timeout() == [SetSerial(SerialSettings(300))]
    assert meter.state is SessionState.IDLE
    assert meter.receive(b"\x06050\r\n") == []  # no session open any more


def test_garbage_at_the_new_baud_rate_triggers_the_fallback_at_once() -> None:
    client = Iec62056Session()
    client.start()
    client.receive(b"/EMH5eHZ\r\n")
    assert client.receive(b"\xf0" * 40) == []
    assert client.receive(b"\xf0" * 40) == [SetSerial(SerialSettings(300)), Expect("silence", 2.0)]
    assert client.state is SessionState.DRAIN
    assert client.receive(b"late bytes at 300 Bd") == [Expect("silence", 2.0)]


def test_client_accepts_bytes_with_parity_bit_from_an_8n1_port() -> None:
    def with_even_parity(data: bytes) -> bytes:
        return bytes(b | (0x80 if bin(b).count("1") % 2 else 0) for b in data)

    client = Iec62056Session(baud_switch=False)
    client.start()
    client.receive(with_even_parity(b"/EMH5eHZ\r\n"))
    (finished,) = client.receive(with_even_parity(READOUT))
    assert isinstance(finished, Finished)
    assert finished.readout.block.get("1.8.0") is not None
