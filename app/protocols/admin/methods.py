"""Method calls (Methodenaufrufe, spec ch. 4.2.5) and their results.

A method call asks the gateway to *do* something rather than to store a profile: pair a meter
(6.4.2.6), reset a meter's keys (Crypto-Reset, 6.4.2.7), synchronise its clock (5.13), run its
self-test (5.15), hand out a log extract (6.5.10) or its technical data (6.5.11).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime

from lxml import etree

from app.domain import ServerId, SmgwId
from app.protocols.admin import _xml as x
from app.protocols.admin.catalog import CLOCK_LIMIT_FRACTION, NS_METHOD, Severity

# --- calls -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pairing:
    """Pair the gateway with a meter (6.4.2.6): key exchange protected by the initial key M.

    ``initial_key`` is secret; it only ever travels inside encrypted content (ch. 5.11). It is
    ``None`` only in a process request to the GWA (technician API): the GWA then pairs with the
    key M it holds for the meter. A gateway always gets it.
    """

    server_id: ServerId
    initial_key: bytes | None = field(repr=False)
    timeout_seconds: int = 120


class CryptoResetReason(enum.StrEnum):
    METER_CHANGE = "meter-change"
    GATEWAY_CHANGE = "gateway-change"
    KEY_COMPROMISE = "key-compromise"
    REPAIR = "repair"


@dataclass(frozen=True)
class CryptoReset:
    """Return a meter to its initial key M and forget its TLS state (6.4.2.7)."""

    server_id: ServerId
    reason: CryptoResetReason
    timeout_seconds: int = 120


@dataclass(frozen=True)
class TimeSync:
    """Synchronise the clock (5.13); ``server`` overrides the GWA profile's ``time`` address."""

    server: str | None = None


@dataclass(frozen=True)
class SelfTest:
    """Run the self-test (5.15); at most one every 10 minutes."""


class LogName(enum.StrEnum):
    SYSTEM = "system"
    METROLOGICAL = "metrological"


@dataclass(frozen=True)
class ReadLog:
    """A log extract (6.5.10), newest ``max_entries`` in the window, oldest first."""

    log: LogName
    max_entries: int = 100
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class ReadDeviceInfo:
    """Technical device data (6.5.11)."""


MethodCall = Pairing | CryptoReset | TimeSync | SelfTest | ReadLog | ReadDeviceInfo

METHOD_ELEMENTS: dict[type, str] = {
    Pairing: "pairing",
    CryptoReset: "cryptoReset",
    TimeSync: "timeSync",
    SelfTest: "selfTest",
    ReadLog: "readLog",
    ReadDeviceInfo: "readDeviceInfo",
}


def encode_call(call: MethodCall) -> etree._Element:
    out = x.Out.root(NS_METHOD, "methodCall")
    if isinstance(call, Pairing):
        body = out.add("pairing")
        body.add("serverId", x.server_hex(call.server_id, "pairing.serverId"))
        if call.initial_key is not None:
            key = bytes(x.expect(call.initial_key, (bytes, bytearray), "pairing.initialKey"))
            if len(key) != 16:
                raise x.fail("pairing.initialKey",
                             f"The initial key M has {len(key)} bytes; it has 16 (AES-128).",
                             f"Der Initialschlüssel M hat {len(key)} Bytes; er hat 16 "
                             "(AES-128).")
            body.add("initialKey", key.hex())
        body.add("timeout", x.expect_int(call.timeout_seconds, "pairing.timeout"))
    elif isinstance(call, CryptoReset):
        body = out.add("cryptoReset")
        body.add("serverId", x.server_hex(call.server_id, "cryptoReset.serverId"))
        body.add("reason", CryptoResetReason(call.reason).value)
        body.add("timeout", x.expect_int(call.timeout_seconds, "cryptoReset.timeout"))
    elif isinstance(call, TimeSync):
        out.add("timeSync").opt("server", call.server)
    elif isinstance(call, SelfTest):
        out.add("selfTest")
    elif isinstance(call, ReadLog):
        body = out.add("readLog")
        body.add("log", LogName(call.log).value)
        if call.since is not None:
            body.add("from", x.fmt_time(call.since, "readLog.from"))
        if call.until is not None:
            body.add("until", x.fmt_time(call.until, "readLog.until"))
            if call.since is not None and call.until < call.since:
                raise x.fail("readLog.until", "The log window ends before it starts.",
                             "Das Log-Zeitfenster endet, bevor es beginnt.")
        body.add("maxEntries", x.expect_int(call.max_entries, "readLog.maxEntries"))
    elif isinstance(call, ReadDeviceInfo):
        out.add("readDeviceInfo")
    else:
        raise x.fail("methodCall", f"{type(call).__name__} is not a method call.",
                     f"{type(call).__name__} ist kein Methodenaufruf.")
    return out.element


def decode_call(el: etree._Element) -> MethodCall:
    body = x.In(el)
    (child,) = body.elements()
    call = x.In(child)
    name = call.local
    if name == "pairing":
        key = call.opt_text("initialKey")
        return Pairing(
            server_id=x.read_server_id(call.text_of("serverId"), "pairing.serverId"),
            initial_key=None if key is None else bytes.fromhex(key),
            timeout_seconds=int(call.text_of("timeout")),
        )
    if name == "cryptoReset":
        return CryptoReset(
            server_id=x.read_server_id(call.text_of("serverId"), "cryptoReset.serverId"),
            reason=CryptoResetReason(call.text_of("reason")),
            timeout_seconds=int(call.text_of("timeout")),
        )
    if name == "timeSync":
        return TimeSync(server=call.opt_text("server"))
    if name == "selfTest":
        return SelfTest()
    if name == "readLog":
        since = call.opt_text("from")
        until = call.opt_text("until")
        result = ReadLog(
            log=LogName(call.text_of("log")),
            max_entries=int(call.text_of("maxEntries")),
            since=None if since is None else x.parse_time(since, "readLog.from"),
            until=None if until is None else x.parse_time(until, "readLog.until"),
        )
        if result.since and result.until and result.until < result.since:
            raise x.fail("readLog.until", "The log window ends before it starts.",
                         "Das Log-Zeitfenster endet, bevor es beginnt.")
        return result
    return ReadDeviceInfo()


# --- results -----------------------------------------------------------------------------------


class PairingOutcome(enum.StrEnum):
    PAIRED = "paired"
    FAILED = "failed"


@dataclass(frozen=True)
class PairingResult:
    server_id: ServerId
    outcome: PairingOutcome
    time: datetime
    meter_status: bytes | None = None
    """Status bytes the meter answered, e.g. FE 09 (key exchange rejected)."""
    meter_tls_fingerprint: str | None = None


@dataclass(frozen=True)
class CryptoResetResult:
    server_id: ServerId
    time: datetime
    meter_status: bytes | None = None


@dataclass(frozen=True)
class TimeSyncResult:
    """Outcome of a time synchronisation; ``offset_ms`` is gateway clock minus reference."""

    server: str
    time: datetime
    offset_ms: int
    limit_ms: int
    corrected: bool

    @property
    def within_limit(self) -> bool:
        return abs(self.offset_ms) <= self.limit_ms

    @staticmethod
    def limit_for(registration_period_seconds: int) -> int:
        """3 % of the shortest registration period, in ms (27 000 for 15 minutes)."""
        return round(registration_period_seconds * 1000 * CLOCK_LIMIT_FRACTION)


class CheckOutcome(enum.StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class SelfTestCheck:
    name: str
    outcome: CheckOutcome
    detail: str = ""


@dataclass(frozen=True)
class SelfTestResult:
    passed: bool
    started: datetime
    finished: datetime
    checks: tuple[SelfTestCheck, ...]


@dataclass(frozen=True)
class LogEntry:
    sequence: int
    time: datetime
    severity: Severity
    code: int
    text: str


@dataclass(frozen=True)
class LogExtract:
    log: LogName
    complete: bool
    """False when more entries matched than ``maxEntries`` allowed."""
    entries: tuple[LogEntry, ...]


class OperatingState(enum.StrEnum):
    DELIVERY = "delivery"
    NORMAL = "normal"
    SECURE_STATE_BOOT = "secure-state-boot"
    SECURE_STATE_APPLICATION = "secure-state-application"
    SECURE_STATE_CONNECTIVITY = "secure-state-connectivity"
    SECURE_STATE_MEASUREMENT = "secure-state-measurement"


@dataclass(frozen=True)
class DeviceInfo:
    smgw_id: SmgwId
    manufacturer: str
    model: str
    firmware_version: str
    firmware_hash: str
    time: datetime
    operating_state: OperatingState
    wan_address: str | None = None


MethodResult = (
    PairingResult | CryptoResetResult | TimeSyncResult | SelfTestResult | LogExtract | DeviceInfo
)

RESULT_ELEMENTS: dict[type, str] = {
    PairingResult: "pairingResult",
    CryptoResetResult: "cryptoResetResult",
    TimeSyncResult: "timeSyncResult",
    SelfTestResult: "selfTestResult",
    LogExtract: "logExtract",
    DeviceInfo: "deviceInfo",
}


def encode_result(r: MethodResult) -> etree._Element:
    name = RESULT_ELEMENTS.get(type(r))
    if name is None:
        raise x.fail("result", f"{type(r).__name__} is not a method result.",
                     f"{type(r).__name__} ist kein Methodenergebnis.")
    out = x.Out.root(NS_METHOD, name)
    if isinstance(r, PairingResult):
        out.add("serverId", x.server_hex(r.server_id, f"{name}.serverId"))
        out.add("outcome", PairingOutcome(r.outcome).value)
        out.add("time", x.fmt_time(r.time, f"{name}.time"))
        if r.meter_status is not None:
            out.add("meterStatus", x.hex_bytes(r.meter_status, f"{name}.meterStatus"))
        out.opt("meterTlsFingerprint", r.meter_tls_fingerprint)
    elif isinstance(r, CryptoResetResult):
        out.add("serverId", x.server_hex(r.server_id, f"{name}.serverId"))
        out.add("time", x.fmt_time(r.time, f"{name}.time"))
        if r.meter_status is not None:
            out.add("meterStatus", x.hex_bytes(r.meter_status, f"{name}.meterStatus"))
    elif isinstance(r, TimeSyncResult):
        out.add("server", r.server)
        out.add("time", x.fmt_time(r.time, f"{name}.time"))
        out.add("offsetMs", x.expect_int(r.offset_ms, f"{name}.offsetMs"))
        out.add("limitMs", x.expect_int(r.limit_ms, f"{name}.limitMs"))
        out.add("corrected", bool(r.corrected))
    elif isinstance(r, SelfTestResult):
        _check_self_test(r)
        out.add("outcome", "passed" if r.passed else "failed")
        out.add("started", x.fmt_time(r.started, f"{name}.started"))
        out.add("finished", x.fmt_time(r.finished, f"{name}.finished"))
        for c in r.checks:
            out.add("check", c.detail or None, name=c.name, outcome=CheckOutcome(c.outcome).value)
    elif isinstance(r, LogExtract):
        out.set(log=LogName(r.log).value, complete=bool(r.complete))
        for i, e in enumerate(r.entries):
            out.add("entry", e.text, sequence=x.expect_int(e.sequence, f"{name}.entry[{i}]"),
                    time=x.fmt_time(e.time, f"{name}.entry[{i}].time"),
                    severity=Severity(e.severity).value, code=x.expect_int(e.code, f"{name}.code"))
    else:
        assert isinstance(r, DeviceInfo)
        out.add("smgwId", x.smgw_text(r.smgw_id, f"{name}.smgwId"))
        out.add("manufacturer", r.manufacturer)
        out.add("model", r.model)
        out.add("firmwareVersion", r.firmware_version)
        out.add("firmwareHash", r.firmware_hash)
        out.add("time", x.fmt_time(r.time, f"{name}.time"))
        out.add("operatingState", OperatingState(r.operating_state).value)
        out.opt("wanAddress", r.wan_address)
    return out.element


def _check_self_test(r: SelfTestResult) -> None:
    x.aware(r.started, "selfTestResult.started")
    x.aware(r.finished, "selfTestResult.finished")
    failed = any(CheckOutcome(c.outcome) is CheckOutcome.FAILED for c in r.checks)
    if r.passed and failed:
        raise x.fail("selfTestResult.outcome",
                     "The self-test is reported as passed although a check failed.",
                     "Der Selbsttest ist als bestanden gemeldet, obwohl eine Prüfung fehlschlug.")
    if r.finished < r.started:
        raise x.fail("selfTestResult.finished", "The self-test finished before it started.",
                     "Der Selbsttest endete, bevor er begann.")


def _opt_hex(text: str | None) -> bytes | None:
    return None if text is None else bytes.fromhex(text)


def decode_result(el: etree._Element) -> MethodResult:
    r = x.In(el)
    name = r.local
    if name == "pairingResult":
        return PairingResult(
            server_id=x.read_server_id(r.text_of("serverId"), f"{name}.serverId"),
            outcome=PairingOutcome(r.text_of("outcome")),
            time=x.parse_time(r.text_of("time"), f"{name}.time"),
            meter_status=_opt_hex(r.opt_text("meterStatus")),
            meter_tls_fingerprint=r.opt_text("meterTlsFingerprint"),
        )
    if name == "cryptoResetResult":
        return CryptoResetResult(
            server_id=x.read_server_id(r.text_of("serverId"), f"{name}.serverId"),
            time=x.parse_time(r.text_of("time"), f"{name}.time"),
            meter_status=_opt_hex(r.opt_text("meterStatus")),
        )
    if name == "timeSyncResult":
        return TimeSyncResult(
            server=r.text_of("server"),
            time=x.parse_time(r.text_of("time"), f"{name}.time"),
            offset_ms=int(r.text_of("offsetMs")),
            limit_ms=int(r.text_of("limitMs")),
            corrected=x.parse_bool(r.text_of("corrected")),
        )
    if name == "selfTestResult":
        result = SelfTestResult(
            passed=r.text_of("outcome") == "passed",
            started=x.parse_time(r.text_of("started"), f"{name}.started"),
            finished=x.parse_time(r.text_of("finished"), f"{name}.finished"),
            checks=tuple(
                SelfTestCheck(c.attr("name"), CheckOutcome(c.attr("outcome")), c.text)
                for c in r.many("check")
            ),
        )
        _check_self_test(result)
        return result
    if name == "logExtract":
        return LogExtract(
            log=LogName(r.attr("log")),
            complete=x.parse_bool(r.attr("complete")),
            entries=tuple(
                LogEntry(
                    sequence=int(e.attr("sequence")),
                    time=x.parse_time(e.attr("time"), f"{name}.entry.time"),
                    severity=Severity(e.attr("severity")),
                    code=int(e.attr("code")),
                    text=e.text,
                )
                for e in r.many("entry")
            ),
        )
    wan = r.opt_text("wanAddress")
    return DeviceInfo(
        smgw_id=x.read_smgw_id(r.text_of("smgwId"), f"{name}.smgwId"),
        manufacturer=r.text_of("manufacturer"),
        model=r.text_of("model"),
        firmware_version=r.text_of("firmwareVersion"),
        firmware_hash=r.text_of("firmwareHash"),
        time=x.parse_time(r.text_of("time"), f"{name}.time"),
        operating_state=OperatingState(r.text_of("operatingState")),
        wan_address=wan,
    )


def is_result_element(el: etree._Element) -> bool:
    ns, local = x.split_qname(el.tag)
    return ns == NS_METHOD and local in RESULT_ELEMENTS.values()
