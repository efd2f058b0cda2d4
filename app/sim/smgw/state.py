"""The state of the virtual SMGW: one plain model shared by its HAN side and its WAN side.

No I/O and no awaits in here: every method runs to completion, so one event loop can share the
object between servers without locks. Time comes from an injectable :class:`Clock`; the
gateway's own clock is that time plus a configurable drift.
"""

from __future__ import annotations

import datetime as dt
import enum
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from app.domain import Obis, ServerId, SmgwId
from app.security.pki import CertificateInfo, describe_certificate
from app.security.tls import fingerprint
from app.sim.smgw.access import (
    HanUser,
    LockoutPolicy,
    LoginGuard,
    Role,
    SelfTestGate,
    SessionPolicy,
    SessionTable,
)
from app.sim.smgw.clock import Clock, SystemClock
from app.sim.smgw.logs import Event, GatewayLog, LogLevel
from app.transports.han.state_code import StateFlag, encode_state

#: 3 % of the shortest registration period (15 min): beyond it CONEXA enters Secure State
#: Application.
MAX_DRIFT_SECONDS = 27.0


class CertificateState(enum.StrEnum):
    """WAN certificates: factory (Gütesiegel) or operational after personalisation (Wirk-)."""

    GUETESIEGEL = "guetesiegel"
    WIRKZERTIFIKAT = "wirkzertifikat"


class SecureState(enum.StrEnum):
    """Secure states (CONEXA naming)."""

    BOOT = "boot"
    APPLICATION = "application"
    CONNECTIVITY = "connectivity"
    MEASUREMENT = "measurement"


class TafState(enum.StrEnum):
    READY = "ready"
    RUNNING = "running"
    ARCHIVE = "archive"


@dataclass(frozen=True)
class FirmwareComponent:
    """A firmware component with its version and SHA-256 hash."""

    name: str
    version: str
    sha256: str


@dataclass(frozen=True)
class GatewayCertificate:
    """A certificate of the gateway: ``han_tls``, ``wan_tls``, ``wan_sig``, ``wan_enc``,
    ``sub_ca``. ``index`` numbers SIG certificates as CONEXA does (0 = Gütesiegel)."""

    role: str
    pem: bytes
    state: CertificateState | None = None
    index: int = 0

    @property
    def der(self) -> bytes:
        return x509.load_pem_x509_certificate(self.pem).public_bytes(serialization.Encoding.DER)

    @property
    def sha256(self) -> str:
        return fingerprint(self.der)

    @property
    def info(self) -> CertificateInfo:
        return describe_certificate(self.pem)


@dataclass
class RegisterValue:
    """A meter register: ``value × 10^scaler`` in DLMS ``unit``; energy registers grow by
    ``increase_per_hour`` (in the unit).

    With an ``anchor`` (the moment of the real clock at which :attr:`value` holds) the register
    counts forward in real time: the one source of a meter's values, read by the gateway (HAN,
    first readout) and by the read head of the embedded default alike. Without one, ``value``
    holds at the ``now`` the caller gives and history is derived backwards from it."""

    obis: Obis
    value: int
    scaler: int
    unit: int
    captured: dt.datetime | None = None
    increase_per_hour: float = 0.0
    anchor: dt.datetime | None = None

    def value_at(self, moment: dt.datetime, now: dt.datetime) -> int:
        """The raw register at ``moment`` (``now``: when :attr:`value` holds, unanchored only).

        An energy register never goes backwards in time: anchored values are truncated (as a
        meter's display is), so a later moment never shows less than an earlier one."""
        if self.anchor is not None:
            hours = (moment - self.anchor).total_seconds() / 3600
            return self.value + math.floor(self.increase_per_hour * hours * 10 ** (-self.scaler))
        hours = max(0.0, (now - moment).total_seconds() / 3600)
        return self.value - round(self.increase_per_hour * hours * 10 ** (-self.scaler))

    def decimal_at(self, moment: dt.datetime) -> Decimal:
        """The register at ``moment`` in its unit (e.g. Wh with 0.1 Wh resolution)."""
        return Decimal(self.value_at(moment, moment)).scaleb(self.scaler)


@dataclass
class LmnMeter:
    """A meter on the LMN (Zähler im lokalen metrologischen Netz).

    ``since``: the moment (gateway clock) from which the gateway reads the meter; a meter wired
    in during a visit has no values before it (``None``: always read)."""

    server_id: ServerId
    paired: bool = True
    present: bool = True
    hdlc_address: int | None = None
    registers: list[RegisterValue] = field(default_factory=list)
    since: dt.datetime | None = None

    def register(self, obis: Obis) -> RegisterValue | None:
        return next((r for r in self.registers if r.obis == obis), None)

    def values_at(self, moment: dt.datetime) -> dict[Obis, Decimal]:
        """Every register at ``moment`` of the real clock, in its unit: what the meter's own
        display and optical interface show (the gateway reads the same values)."""
        return {r.obis: r.decimal_at(moment) for r in self.registers}

    def anchor(self, moment: dt.datetime) -> None:
        """Let the registers without an anchor count forward from ``moment`` (real clock)."""
        for register in self.registers:
            if register.anchor is None:
                register.anchor = moment


@dataclass(frozen=True)
class BillingPeriod:
    start: dt.datetime
    end: dt.datetime | None = None


@dataclass
class EvaluationProfile:
    """An evaluation profile (Auswerteprofil): one TAF contract (usage point)."""

    usage_point_id: str
    name: str
    taf_number: int
    taf_state: TafState
    meters: list[ServerId]
    channels: list[Obis]
    start: dt.datetime
    end: dt.datetime | None = None
    delivery_id: str = ""
    metering_point_id: str = ""
    registration_period: int = 900
    databases: tuple[str, ...] = ("origin",)
    billing_periods: list[BillingPeriod] = field(default_factory=list)
    on_demand: bool = False
    transparency: bool = False


@dataclass
class OperatingConditions:
    """What drives the operating state; the secure states follow from it (and the drift)."""

    boot_complete: bool = True
    image_ok: bool = True
    time_valid: bool = True
    gwa_reachable: bool = True
    han_enabled: bool = True
    han_wan_separated: bool = True
    update_active: bool = False
    log_storage_full: bool = False
    measurement_storage_full: bool = False


@dataclass
class HanSettings:
    """How the HAN interface behaves (per scenario)."""

    dialect: str = "theben"
    realm: str = "smgw"
    #: algorithms announced, in order
    digest_algorithms: tuple[str, ...] = ("SHA-256", "MD5")
    #: announce as above but verify only MD5 responses (a CONEXA firmware quirk)
    md5_only: bool = False
    nonce_lifetime: float = 300.0
    session_policy: SessionPolicy = SessionPolicy.TAKEOVER
    idle_timeout: float = 600.0
    lockout: LockoutPolicy = field(default_factory=LockoutPolicy)
    self_test_interval: float = 600.0
    strict_content_type: bool = True
    response_delay: float = 0.0
    api_version: str = "1.0"
    #: how long the gateway is unreachable while it restarts for a HAN self-test (PPC)
    reboot_seconds: float = 30.0


@dataclass(frozen=True)
class SelfTestReport:
    """Result of one self-test run."""

    started: dt.datetime
    passed: bool
    findings: tuple[str, ...]


class SmgwState:
    """The virtual gateway (Smart-Meter-Gateway)."""

    def __init__(
        self,
        smgw_id: SmgwId,
        *,
        vendor: str,
        model: str = "",
        firmware: Iterable[FirmwareComponent] = (),
        clock: Clock | None = None,
        drift_seconds: float = 0.0,
        conditions: OperatingConditions | None = None,
        meters: Iterable[LmnMeter] = (),
        profiles: Iterable[EvaluationProfile] = (),
        users: Iterable[HanUser] = (),
        han: HanSettings | None = None,
        certificates: Iterable[GatewayCertificate] = (),
    ) -> None:
        self.smgw_id = smgw_id
        self.vendor = vendor
        self.model = model
        self.firmware = list(firmware)
        self.clock = clock or SystemClock()
        self.drift_seconds = drift_seconds
        self.conditions = conditions or OperatingConditions()
        self.meters = list(meters)
        self.profiles = list(profiles)
        self.users = {u.name: u for u in users}
        self.han = han or HanSettings()
        self.certificates = list(certificates)
        self.system_log = GatewayLog("system")
        self.consumer_log = GatewayLog("consumer")
        self.guard = LoginGuard(self.han.lockout, self.clock)
        self.sessions = SessionTable(self.han.session_policy, self.han.idle_timeout, self.clock)
        self.self_test = SelfTestGate(self.han.self_test_interval, self.clock)
        self.last_self_test: SelfTestReport | None = None
        for meter in self.meters:
            meter.anchor(self.clock.now())

    # -- time and state ---------------------------------------------------------------------------

    def now(self) -> dt.datetime:
        """The gateway's own clock (system time plus drift)."""
        return self.clock.now() + dt.timedelta(seconds=self.drift_seconds)

    def register_value(self, meter: LmnMeter, register: RegisterValue,
                       moment: dt.datetime | None = None) -> int:
        """The raw value of ``meter``'s ``register`` at ``moment`` of the gateway's clock
        (default: now). The meter counts in real time, the gateway labels its values with its
        own (drifting) clock; before :attr:`LmnMeter.since` the gateway has no newer value than
        the one read at ``since``."""
        at = self.now() if moment is None else moment
        if meter.since is not None and at < meter.since:
            at = meter.since
        real = at - dt.timedelta(seconds=self.drift_seconds)
        return register.value_at(real, self.clock.now())

    def secure_states(self) -> set[SecureState]:
        c = self.conditions
        states: set[SecureState] = set()
        if not c.image_ok or c.log_storage_full:
            states.add(SecureState.BOOT)
        if c.measurement_storage_full or abs(self.drift_seconds) > MAX_DRIFT_SECONDS:
            states.add(SecureState.APPLICATION)
        if not c.han_wan_separated:
            states.add(SecureState.CONNECTIVITY)
        if not c.time_valid:
            states.add(SecureState.MEASUREMENT)
        return states

    @property
    def wan_certificate_state(self) -> CertificateState | None:
        sig = [c for c in self.certificates if c.role == "wan_sig" and c.state]
        if not sig:
            return None
        return max(sig, key=lambda c: c.index).state

    def state_flags(self) -> StateFlag:
        c = self.conditions
        flags = StateFlag.NONE
        if c.boot_complete:
            flags |= StateFlag.RUNNING
        if c.time_valid:
            flags |= StateFlag.TIME_VALID
        if c.update_active:
            flags |= StateFlag.UPDATE_ACTIVE
        secure = self.secure_states()
        for name, flag in (("boot", StateFlag.SECURE_BOOT),
                           ("application", StateFlag.SECURE_APPLICATION),
                           ("connectivity", StateFlag.SECURE_CONNECTIVITY),
                           ("measurement", StateFlag.SECURE_MEASUREMENT)):
            if SecureState(name) in secure:
                flags |= flag
        if self.wan_certificate_state is CertificateState.GUETESIEGEL:
            flags |= StateFlag.DELIVERY_CERTIFICATES
        if not c.gwa_reachable:
            flags |= StateFlag.GWA_UNREACHABLE
        if not c.han_enabled or SecureState.CONNECTIVITY in secure:
            flags |= StateFlag.HAN_DISABLED
        if not any(m.paired and m.present for m in self.meters):
            flags |= StateFlag.NO_METER
        if c.log_storage_full:
            flags |= StateFlag.LOG_STORAGE_FULL
        if c.measurement_storage_full:
            flags |= StateFlag.MEASUREMENT_STORAGE_FULL
        return flags

    def state_code(self) -> str:
        """The ``smgw-state`` code (8 hex digits, see ``app.transports.han.state_code``)."""
        return encode_state(self.state_flags())

    @property
    def han_available(self) -> bool:
        """HAN access is switched on (off by the operator or in Secure State Connectivity)."""
        return self.conditions.han_enabled and SecureState.CONNECTIVITY not in self.secure_states()

    # -- lookups ----------------------------------------------------------------------------------

    def certificate(self, role: str) -> GatewayCertificate | None:
        return next((c for c in self.certificates if c.role == role), None)

    def meter(self, server_id: ServerId | str) -> LmnMeter | None:
        sid = server_id if isinstance(server_id, ServerId) else ServerId.parse(server_id)
        return next((m for m in self.meters if m.server_id == sid), None)

    def user_by_endpoint(self, endpoint: str) -> HanUser | None:
        return next((u for u in self.users.values() if u.endpoint == endpoint), None)

    def user_by_certificate(self, sha256: str) -> HanUser | None:
        return next((u for u in self.users.values() if sha256 in u.client_cert_sha256), None)

    def profiles_for(self, user: HanUser) -> list[EvaluationProfile]:
        if user.usage_points is None:
            return list(self.profiles)
        return [p for p in self.profiles if p.usage_point_id in user.usage_points]

    def profile(self, user: HanUser, usage_point_id: str) -> EvaluationProfile | None:
        return next((p for p in self.profiles_for(user) if p.usage_point_id == usage_point_id),
                    None)

    def log_for(self, role: Role) -> GatewayLog:
        return self.system_log if role is Role.SERVICE_TECHNICIAN else self.consumer_log

    # -- events -----------------------------------------------------------------------------------

    def record(
        self,
        event: Event,
        message: str | None = None,
        *,
        level: LogLevel = LogLevel.INFO,
        outcome: str = "success",
        subject: str = "",
        user: str = "",
        consumer: bool = False,
    ) -> None:
        """Write an event to the system log (and the consumer log if it concerns them)."""
        now = self.now()
        self.system_log.append(now, event, message, level=level, outcome=outcome,
                               subject=subject, user=user)
        if consumer:
            self.consumer_log.append(now, event, message, level=level, outcome=outcome,
                                     subject=subject, user=user)

    def login_succeeded(self, user: HanUser, *, new_session: bool, replaced: bool) -> None:
        self.guard.success(user.name)
        if replaced:
            self.record(Event.HAN_SESSION_ENDED, "HAN session ended by a new login",
                        user=user.name, consumer=user.role is Role.CONSUMER)
        if new_session:
            self.record(Event.HAN_LOGIN, user=user.name, consumer=user.role is Role.CONSUMER)

    def login_failed(self, name: str) -> float:
        """Count a failed login; return the lock's remaining seconds if it is now locked."""
        remaining = self.guard.failure(name)
        self.record(Event.HAN_LOGIN_FAILED, level=LogLevel.WARNING, outcome="failure", user=name)
        if remaining and self.guard.failures(name) >= self.han.lockout.max_failures:
            self.record(Event.HAN_LOCKED,
                        f"HAN login locked for {int(remaining)} s after "
                        f"{self.han.lockout.max_failures} failed attempts",
                        level=LogLevel.ALERT, outcome="failure", user=name)
        return remaining

    # -- self-test --------------------------------------------------------------------------------

    def run_self_test(self, user: HanUser) -> SelfTestReport:
        """Run the self-test (raises ``SelfTestLocked`` within the repeat interval)."""
        started = self.self_test.start()
        self.record(Event.SELF_TEST_STARTED, user=user.name, consumer=user.role is Role.CONSUMER)
        findings = []
        if not self.conditions.image_ok:
            findings.append("firmware image damaged")
        if not self.conditions.han_wan_separated:
            findings.append("HAN and WAN not separated")
        if not self.conditions.time_valid:
            findings.append("time not valid")
        if abs(self.drift_seconds) > MAX_DRIFT_SECONDS:
            findings.append(f"clock deviation {self.drift_seconds:+.0f} s")
        for meter in self.meters:
            if meter.paired and not meter.present:
                findings.append(f"meter {meter.server_id.text} not reachable")
        passed = not findings
        if passed:
            self.record(Event.FIRMWARE_VERIFIED)
            self.record(Event.SELF_TEST_PASSED, user=user.name,
                        consumer=user.role is Role.CONSUMER)
        else:
            self.record(Event.SELF_TEST_FAILED, "Self-test failed: " + "; ".join(findings),
                        level=LogLevel.ERROR, outcome="failure", user=user.name,
                        consumer=user.role is Role.CONSUMER)
        self.last_self_test = SelfTestReport(started, passed, tuple(findings))
        return self.last_self_test
