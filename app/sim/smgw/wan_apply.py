"""The virtual SMGW carries out administration requests (spec ch. 4.2.3-4.2.5, 6.4).

:meth:`AdminExecutor.execute` checks one operation against the administered profiles and the
gateway state and returns an :class:`Outcome`: the answer, the profile rows, the events and the
in-memory effects it *would* have. Nothing is changed here: the WAN side first writes the whole
outcome in one transaction and only then applies the effects (no awaits in between), so a
request is never half-applied, also not when the connection drops (docs/protocol/04-02-04).

The effects act on the same :class:`~app.sim.smgw.state.SmgwState` the HAN side serves: meter
profiles become the gateway's LMN meters, evaluation profiles its TAF profiles, pairing sets
``meter.paired``, time synchronisation corrects the clock, the GWA profile update at handover
switches the WAN certificates from Gütesiegel to Wirkzertifikat.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from app.domain import LogicalName, ServerId
from app.errors import InvalidValue
from app.processes.micro.sntp import SntpResult
from app.protocols.admin import (
    AddressPurpose,
    BillingEvaluationProfile,
    CallMethod,
    CheckOutcome,
    ClsProxyProfile,
    CommunicationProfile,
    CreateProfile,
    CryptoReset,
    CryptoResetResult,
    DeleteProfile,
    DeviceInfo,
    LogEntry,
    LogExtract,
    LogName,
    MeterProfile,
    MeterSubject,
    NonBillingEvaluationProfile,
    Operation,
    Pairing,
    PairingOutcome,
    PairingResult,
    PeerRole,
    Profile,
    ProfileKind,
    ProfileRef,
    ProfileSubject,
    ReadDeviceInfo,
    Reading,
    Readings,
    ReadingStatus,
    ReadLog,
    ReadProfile,
    Reason,
    Response,
    SelfTest,
    SelfTestCheck,
    SelfTestResult,
    Severity,
    Subject,
    TimeSync,
    TimeSyncResult,
    UpdateProfile,
)
from app.protocols.admin.catalog import METER_STATUS_KEY_REJECTED
from app.sim.smgw.logs import LogLevel
from app.sim.smgw.state import MAX_DRIFT_SECONDS, CertificateState, SelfTestReport, SmgwState
from app.sim.smgw.wan_state import (
    EvaluationAdmin,
    LmnEnvironment,
    WanLog,
    activate_operational_certificates,
    operating_state,
    project_evaluation,
    project_meter,
    remove_evaluation,
    remove_meter,
)


@dataclass(frozen=True)
class EventSpec:
    """An event to queue with the outcome: catalogue name, subject, details."""

    name: str
    subject: Subject | None = None
    details: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class LogSpec:
    """A system log entry to write with the outcome."""

    event: int
    message: str
    level: LogLevel = LogLevel.INFO
    outcome: str = "success"
    subject: str = ""


@dataclass
class Outcome:
    """What one request produces; applied only after it is stored."""

    response: Response
    puts: list[Profile] = field(default_factory=list)
    deletes: list[ProfileRef] = field(default_factory=list)
    meters: list[tuple[ServerId, bool, str | None]] = field(default_factory=list)
    events: list[EventSpec] = field(default_factory=list)
    logs: list[LogSpec] = field(default_factory=list)
    effects: list[Callable[[], None]] = field(default_factory=list)
    meta: dict[str, str] = field(default_factory=dict)

    @property
    def changes_profiles(self) -> bool:
        return bool(self.puts or self.deletes)


# --- the administered profiles -------------------------------------------------------------------


class ProfileBook:
    """The profiles the GWA installed, by kind and ID (in memory; persisted by the WAN store)."""

    def __init__(self, profiles: Iterable[Profile] = ()) -> None:
        self._by_key: dict[tuple[ProfileKind, str], Profile] = {}
        for p in profiles:
            self.put(p)

    def get(self, kind: ProfileKind, profile_id: LogicalName | str) -> Profile | None:
        text = profile_id.text if isinstance(profile_id, LogicalName) else profile_id
        return self._by_key.get((ProfileKind(kind), text))

    def put(self, profile: Profile) -> None:
        self._by_key[(profile.kind, profile.id.text)] = profile

    def delete(self, ref: ProfileRef) -> None:
        self._by_key.pop((ProfileKind(ref.kind), ref.id.text), None)

    def all(self, kind: ProfileKind | None = None) -> list[Profile]:
        return [p for (k, _), p in sorted(self._by_key.items(), key=lambda kv: kv[0])
                if kind is None or k is kind]

    def communication(self, profile_id: LogicalName) -> CommunicationProfile | None:
        p = self.get(ProfileKind.COMMUNICATION, profile_id)
        return p if isinstance(p, CommunicationProfile) else None

    def gwa_profiles(self) -> list[CommunicationProfile]:
        return [p for p in self.all(ProfileKind.COMMUNICATION)
                if isinstance(p, CommunicationProfile) and p.peer_role is PeerRole.GWA]

    def meter_profile(self, server_id: ServerId) -> MeterProfile | None:
        for p in self.all(ProfileKind.METER):
            if isinstance(p, MeterProfile) and p.server_id == server_id:
                return p
        return None

    def evaluations(self) -> list[EvaluationAdmin]:
        return [p for p in self.all() if isinstance(p, BillingEvaluationProfile
                                                  | NonBillingEvaluationProfile)]

    def referrers(self, target: Profile) -> list[tuple[Profile, str]]:
        """Profiles that refer to ``target`` and the field that does."""
        found: list[tuple[Profile, str]] = []
        for p in self.all():
            if isinstance(target, CommunicationProfile):
                if isinstance(p, BillingEvaluationProfile | NonBillingEvaluationProfile):
                    if p.receiving_emt == target.id:
                        found.append((p, "receivingEmt"))
                elif isinstance(p, ClsProxyProfile):
                    if p.cls_peer == target.id:
                        found.append((p, "clsPeer"))
                    if p.emt_peer == target.id:
                        found.append((p, "emtPeer"))
            elif isinstance(target, MeterProfile) and isinstance(
                p, BillingEvaluationProfile | NonBillingEvaluationProfile
            ) and any(m.server_id == target.server_id for m in p.meters):
                found.append((p, "meter"))
        return found


TimeQuery = Callable[[str], Awaitable[SntpResult]]
"""Query the time server at an ``ntp://`` address (raises OSError, TimeoutError, InvalidValue)."""


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


def _failed_checks(checks: Iterable[SelfTestCheck]) -> str:
    return ",".join(c.name for c in checks if c.outcome is CheckOutcome.FAILED)


_SEVERITY = {LogLevel.INFO: Severity.INFO, LogLevel.WARNING: Severity.WARNING,
             LogLevel.ERROR: Severity.ERROR, LogLevel.ALERT: Severity.CRITICAL}


class AdminExecutor:
    """Checks and prepares administration requests for one gateway (no changes of its own)."""

    def __init__(
        self,
        state: SmgwState,
        book: ProfileBook,
        lmn: LmnEnvironment,
        *,
        time_query: TimeQuery,
        current_gwa: Callable[[], CommunicationProfile | None],
        wan_address: Callable[[], str | None],
    ) -> None:
        self.state = state
        self.book = book
        self.lmn = lmn
        self._time_query = time_query
        self._current_gwa = current_gwa
        self._wan_address = wan_address

    async def execute(self, op: Operation, request_id: uuid.UUID) -> Outcome:
        """The outcome of ``op``; any unexpected failure is ``500 internal-error``."""
        try:
            if isinstance(op, CreateProfile):
                return self._create(op.profile, request_id)
            if isinstance(op, UpdateProfile):
                return self._update(op.profile, request_id)
            if isinstance(op, ReadProfile):
                return self._read(op.ref, request_id)
            if isinstance(op, DeleteProfile):
                return self._delete(op.ref, request_id)
            if isinstance(op, CallMethod):
                return await self._call(op.call, request_id)
        except InvalidValue as err:  # a result that does not fit the schema: refuse, change nothing
            return Outcome(Response.of(request_id, Reason.INVALID_VALUE,
                                       detail=_detail(err.message.en)))
        return Outcome(Response.of(request_id, Reason.MALFORMED, detail="unknown operation"))

    # -- profiles ---------------------------------------------------------------------------------

    def _refuse(self, request_id: uuid.UUID, reason: Reason, detail: str,
                ref: ProfileRef | None) -> Outcome:
        out = Outcome(Response.of(request_id, reason, detail=_detail(detail)))
        if ref is not None:
            out.events.append(EventSpec("PROFILE_REJECTED", ProfileSubject(ref),
                                        {"reason": reason.value}))
            out.logs.append(LogSpec(WanLog.REQUEST_REFUSED, f"Profile {ref.id.text} refused: "
                                    f"{reason.value} ({detail})", LogLevel.WARNING, "failure",
                                    ref.id.text))
        return out

    def _create(self, profile: Profile, request_id: uuid.UUID) -> Outcome:
        ref = profile.ref
        if self.book.get(profile.kind, profile.id) is not None:
            return self._refuse(request_id, Reason.ALREADY_EXISTS,
                                f"{profile.id.text} exists already", ref)
        problem = self._check(profile, None)
        if problem is not None:
            return self._refuse(request_id, problem[0], problem[1], ref)
        readings = None
        out = Outcome(Response.of(request_id, Reason.CREATED, result=profile))
        if isinstance(profile, BillingEvaluationProfile) and profile.first_readout:
            readings, unreachable = self._first_readout(profile)
            if unreachable is not None:
                return self._refuse(request_id, Reason.METER_UNREACHABLE,
                                    f"meter {unreachable.display} does not answer; nothing was "
                                    "created", ref)
            out.response = Response.of(request_id, Reason.CREATED, result=profile,
                                       readings=readings)
        out.puts.append(profile)
        out.events.append(EventSpec("PROFILE_CREATED", ProfileSubject(ref),
                                    {"revision": str(profile.revision)}))
        out.logs.append(LogSpec(WanLog.REQUEST_CARRIED_OUT, f"Profile {profile.id.text} created",
                                subject=profile.id.text))
        self._project(profile, out, created=True)
        return out

    def _update(self, profile: Profile, request_id: uuid.UUID) -> Outcome:
        ref = profile.ref
        stored = self.book.get(profile.kind, profile.id)
        if stored is None:
            return self._refuse(request_id, Reason.UNKNOWN_PROFILE,
                                f"no {profile.kind.value} profile {profile.id.text}", ref)
        if profile.revision != stored.revision + 1:
            return self._refuse(
                request_id, Reason.REVISION_CONFLICT,
                f"stored revision is {stored.revision}; an update must carry revision "
                f"{stored.revision + 1}", ref)
        problem = self._check(profile, stored)
        if problem is not None:
            return self._refuse(request_id, problem[0], problem[1], ref)
        out = Outcome(Response.of(request_id, Reason.OK, result=profile))
        out.puts.append(profile)
        out.events.append(EventSpec("PROFILE_UPDATED", ProfileSubject(ref),
                                    {"revision": str(profile.revision)}))
        out.logs.append(LogSpec(WanLog.REQUEST_CARRIED_OUT,
                                f"Profile {profile.id.text} updated to revision "
                                f"{profile.revision}", subject=profile.id.text))
        self._project(profile, out, created=False)
        return out

    def _read(self, ref: ProfileRef, request_id: uuid.UUID) -> Outcome:
        stored = self.book.get(ref.kind, ref.id)
        if stored is None:
            return Outcome(Response.of(request_id, Reason.UNKNOWN_PROFILE,
                                       detail=f"no {ref.kind.value} profile {ref.id.text}"))
        return Outcome(Response.of(request_id, Reason.OK, result=stored))

    def _delete(self, ref: ProfileRef, request_id: uuid.UUID) -> Outcome:
        stored = self.book.get(ref.kind, ref.id)
        if stored is None:
            return self._refuse(request_id, Reason.UNKNOWN_PROFILE,
                                f"no {ref.kind.value} profile {ref.id.text}", ref)
        users = self.book.referrers(stored)
        if users:
            names = ", ".join(f"{p.id.text} ({what})" for p, what in users[:4])
            return self._refuse(request_id, Reason.STILL_REFERENCED, f"referenced by {names}",
                                ref)
        if (isinstance(stored, CommunicationProfile) and stored.peer_role is PeerRole.GWA
                and len(self.book.gwa_profiles()) <= 1):
            return self._refuse(request_id, Reason.NOT_PERMITTED,
                                "the last GWA profile cannot be deleted", ref)
        out = Outcome(Response.of(request_id, Reason.DELETED))
        out.deletes.append(ref)
        out.events.append(EventSpec("PROFILE_DELETED", ProfileSubject(ref),
                                    {"revision": str(stored.revision)}))
        out.logs.append(LogSpec(WanLog.REQUEST_CARRIED_OUT, f"Profile {ref.id.text} deleted",
                                subject=ref.id.text))
        self._unproject(stored, out)
        return out

    # -- reference and value checks ---------------------------------------------------------------

    def _check(self, profile: Profile, stored: Profile | None) -> tuple[Reason, str] | None:
        if isinstance(profile, CommunicationProfile):
            return self._check_communication(profile, stored)
        if isinstance(profile, MeterProfile):
            return self._check_meter(profile)
        if isinstance(profile, BillingEvaluationProfile | NonBillingEvaluationProfile):
            return self._check_evaluation(profile, stored)
        if isinstance(profile, ClsProxyProfile):
            return self._check_cls_proxy(profile, stored)
        return None

    def _check_communication(self, p: CommunicationProfile, stored: Profile | None
                             ) -> tuple[Reason, str] | None:
        if not isinstance(stored, CommunicationProfile) or stored.peer_role is p.peer_role:
            return None
        if stored.peer_role is PeerRole.GWA and len(self.book.gwa_profiles()) <= 1:
            return Reason.NOT_PERMITTED, "the last GWA profile cannot change its role"
        users = self.book.referrers(stored)
        if users:
            return (Reason.STILL_REFERENCED,
                    f"the role cannot change while {users[0][0].id.text} refers to it")
        return None

    def _check_meter(self, p: MeterProfile) -> tuple[Reason, str] | None:
        for user, _ in self.book.referrers(p):
            if not isinstance(user, BillingEvaluationProfile | NonBillingEvaluationProfile):
                continue
            for meter in user.meters:
                if meter.server_id != p.server_id:
                    continue
                missing = [o for o in meter.channels if o not in p.capture_list]
                if missing:
                    return (Reason.STILL_REFERENCED,
                            f"{user.id.text} reads {missing[0].notation}, which the capture "
                            "list no longer holds")
        return None

    def _peer_ok(self, ref: LogicalName, role: PeerRole, old: LogicalName | None
                 ) -> tuple[Reason, str] | None:
        if old is not None and ref == old:
            return None  # references are checked when they are set
        peer = self.book.communication(ref)
        if peer is None:
            return Reason.MISSING_REFERENCE, f"no communication profile {ref.text}"
        if peer.peer_role is not role:
            return (Reason.MISSING_REFERENCE,
                    f"{ref.text} is a {peer.peer_role.value} profile, not {role.value}")
        return None

    def _check_evaluation(self, p: EvaluationAdmin, stored: Profile | None
                          ) -> tuple[Reason, str] | None:
        old = stored if isinstance(stored, type(p)) else None
        problem = self._peer_ok(p.receiving_emt, PeerRole.EMT,
                                old.receiving_emt if old is not None else None)
        if problem is not None:
            return problem
        old_meters = {m.server_id: m for m in old.meters} if old is not None else {}
        for meter in p.meters:
            mp = self.book.meter_profile(meter.server_id)
            if mp is None:
                if meter.server_id in old_meters:
                    continue
                return Reason.MISSING_REFERENCE, f"no meter profile for {meter.server_id.display}"
            missing = [o for o in meter.channels if o not in mp.capture_list]
            if missing:
                return (Reason.INVALID_VALUE,
                        f"meter {meter.server_id.display} does not capture "
                        f"{missing[0].notation}")
        return None

    def _check_cls_proxy(self, p: ClsProxyProfile, stored: Profile | None
                         ) -> tuple[Reason, str] | None:
        old = stored if isinstance(stored, ClsProxyProfile) else None
        return (self._peer_ok(p.cls_peer, PeerRole.CLS, old.cls_peer if old else None)
                or self._peer_ok(p.emt_peer, PeerRole.EMT, old.emt_peer if old else None))

    def _first_readout(self, p: BillingEvaluationProfile
                       ) -> tuple[Readings, ServerId | None]:
        now = self.state.now()
        values: list[Reading] = []
        for meter in p.meters:
            lmn = self.state.meter(meter.server_id)
            if lmn is None or not lmn.present:
                return Readings(p.id, ()), meter.server_id
            for obis in meter.channels:
                reg = lmn.register(obis)
                if reg is None:
                    values.append(Reading(meter.server_id, obis, now, 0, 0, 255,
                                          ReadingStatus.GAP))
                else:
                    values.append(Reading(meter.server_id, obis, now,
                                          self.state.register_value(lmn, reg, now),
                                          reg.scaler, reg.unit))
        return Readings(p.id, tuple(values)), None

    # -- projection onto the gateway state --------------------------------------------------------

    def _project(self, profile: Profile, out: Outcome, *, created: bool) -> None:
        state = self.state
        if isinstance(profile, MeterProfile):
            sid = profile.server_id
            meter = state.meter(sid) or self.lmn.meters.get(sid)
            if created and meter is not None and meter.present:
                out.events.append(EventSpec("METER_DETECTED", MeterSubject(sid), (
                    {"hdlcAddress": str(profile.hdlc_address)} if profile.hdlc_address is not None
                    else {})))
                out.logs.append(LogSpec(WanLog.METER_DETECTED, f"Meter {sid.display} detected",
                                        subject=sid.display))
            elif created:
                out.events.append(EventSpec("METER_UNREACHABLE", MeterSubject(sid)))
            out.effects.append(lambda: project_meter(state, self.lmn, profile))
        elif isinstance(profile, BillingEvaluationProfile | NonBillingEvaluationProfile):
            out.effects.append(lambda: project_evaluation(state, profile))
        elif isinstance(profile, CommunicationProfile):
            gwa = self._current_gwa()
            if (not created and gwa is not None and profile.id == gwa.id
                    and profile.peer_role is PeerRole.GWA
                    and state.wan_certificate_state is CertificateState.GUETESIEGEL):
                out.meta["wan_certificates"] = CertificateState.WIRKZERTIFIKAT.value
                out.logs.append(LogSpec(
                    WanLog.CERTIFICATES_OPERATIONAL,
                    "Delivery configuration replaced by the GWA: WAN certificates switched from "
                    "Gütesiegel to Wirkzertifikat"))
                out.effects.append(lambda: activate_operational_certificates(state))

    def _unproject(self, profile: Profile, out: Outcome) -> None:
        state = self.state
        if isinstance(profile, MeterProfile):
            sid = profile.server_id
            out.effects.append(lambda: remove_meter(state, sid))
        elif isinstance(profile, BillingEvaluationProfile | NonBillingEvaluationProfile):
            pid = profile.id.text
            out.effects.append(lambda: remove_evaluation(state, pid))

    # -- method calls -----------------------------------------------------------------------------

    async def _call(self, call: object, request_id: uuid.UUID) -> Outcome:
        if isinstance(call, Pairing):
            return self._pairing(call, request_id)
        if isinstance(call, CryptoReset):
            return self._crypto_reset(call, request_id)
        if isinstance(call, TimeSync):
            return await self._time_sync(call, request_id)
        if isinstance(call, SelfTest):
            return self._self_test(request_id)
        if isinstance(call, ReadLog):
            return Outcome(Response.of(request_id, Reason.OK, result=self._log_extract(call)))
        if isinstance(call, ReadDeviceInfo):
            return Outcome(Response.of(request_id, Reason.OK, result=self.device_info()))
        return Outcome(Response.of(request_id, Reason.MALFORMED, detail="unknown method"))

    def _pairing(self, call: Pairing, request_id: uuid.UUID) -> Outcome:
        sid = call.server_id
        now = self.state.now()
        if call.initial_key is None:  # only a request to the GWA may leave key M out
            return Outcome(Response.of(request_id, Reason.MALFORMED,
                                       detail="pairing without initialKey (key M)"))
        if self.book.meter_profile(sid) is None:
            return Outcome(Response.of(request_id, Reason.UNKNOWN_METER,
                                       detail=f"no meter profile for {sid.display}"))
        meter = self.state.meter(sid)
        subject = MeterSubject(sid)
        if meter is None or not meter.present:
            failed = PairingResult(sid, PairingOutcome.FAILED, now)
            out = Outcome(Response.of(request_id, Reason.METER_UNREACHABLE, result=failed,
                                      detail=f"meter {sid.display} does not answer on the LMN"))
            out.events.append(EventSpec("PAIRING_FAILED", subject,
                                        {"reason": Reason.METER_UNREACHABLE.value}))
            out.logs.append(LogSpec(WanLog.PAIRING_REFUSED, f"Pairing {sid.display}: meter does "
                                    "not answer", LogLevel.ERROR, "failure", sid.display))
            return out
        if meter.paired:
            fp = self.lmn.tls_fingerprints.get(sid) or _meter_tls(sid)
            result = PairingResult(sid, PairingOutcome.PAIRED, now, meter_tls_fingerprint=fp)
            out = Outcome(Response.of(request_id, Reason.OK, result=result,
                                      detail="meter was already paired with this gateway"))
            out.events.append(EventSpec("PAIRING_SUCCEEDED", subject))
            return out
        key = self.lmn.key_of(sid)
        if sid in self.lmn.pairing_rejected or key is None or key != call.initial_key:
            why = ("the meter has no key material" if key is None
                   else "injected fault" if sid in self.lmn.pairing_rejected
                   else "key M does not match")
            result = PairingResult(sid, PairingOutcome.FAILED, now,
                                   meter_status=METER_STATUS_KEY_REJECTED)
            out = Outcome(Response.of(request_id, Reason.KEY_EXCHANGE_FAILED, result=result,
                                      detail="meter answered FE 09"))
            out.events.append(EventSpec("KEY_EXCHANGE_FAILED", subject,
                                        {"meterStatus": METER_STATUS_KEY_REJECTED.hex()}))
            out.logs.append(LogSpec(WanLog.PAIRING_REFUSED,
                                    f"Pairing {sid.display} refused by the meter (FE 09, {why})",
                                    LogLevel.ERROR, "failure", sid.display))
            return out
        fp = _meter_tls(sid, request_id.bytes)
        result = PairingResult(sid, PairingOutcome.PAIRED, now, meter_tls_fingerprint=fp)
        out = Outcome(Response.of(request_id, Reason.OK, result=result))
        out.meters.append((sid, True, fp))
        out.events.append(EventSpec("PAIRING_SUCCEEDED", subject))
        out.logs.append(LogSpec(WanLog.METER_PAIRED, f"Meter {sid.display} paired (key M -> M')",
                                subject=sid.display))
        lmn = self.lmn

        def apply() -> None:
            meter.paired = True
            lmn.tls_fingerprints[sid] = fp

        out.effects.append(apply)
        return out

    def _crypto_reset(self, call: CryptoReset, request_id: uuid.UUID) -> Outcome:
        sid = call.server_id
        if self.book.meter_profile(sid) is None:
            return Outcome(Response.of(request_id, Reason.UNKNOWN_METER,
                                       detail=f"no meter profile for {sid.display}"))
        meter = self.state.meter(sid)
        if meter is None or not meter.present:
            out = Outcome(Response.of(request_id, Reason.METER_UNREACHABLE,
                                      detail=f"meter {sid.display} does not answer on the LMN"))
            out.events.append(EventSpec("CRYPTO_RESET_FAILED", MeterSubject(sid)))
            return out
        result = CryptoResetResult(sid, self.state.now())
        out = Outcome(Response.of(request_id, Reason.OK, result=result))
        out.meters.append((sid, False, None))
        out.events.append(EventSpec("CRYPTO_RESET_DONE", MeterSubject(sid),
                                    {"reason": call.reason.value}))
        out.logs.append(LogSpec(WanLog.CRYPTO_RESET, f"Crypto-Reset of meter {sid.display} "
                                f"({call.reason.value}): key reverted to M", subject=sid.display))
        lmn = self.lmn

        def apply() -> None:
            meter.paired = False
            lmn.tls_fingerprints.pop(sid, None)

        out.effects.append(apply)
        return out

    def clock_limit_ms(self) -> int:
        """3 % of the shortest registration period of the active billing profiles (5.13)."""
        periods = [p.registration_period_seconds for p in self.book.evaluations()
                   if isinstance(p, BillingEvaluationProfile)]
        return TimeSyncResult.limit_for(min(periods) if periods else 900)

    async def _time_sync(self, call: TimeSync, request_id: uuid.UUID) -> Outcome:
        gwa = self._current_gwa()
        server = call.server or (gwa.address(AddressPurpose.TIME) if gwa else None)
        if server is None:
            out = Outcome(Response.of(request_id, Reason.TIME_SOURCE_UNREACHABLE,
                                      detail="no time server address in the GWA profile"))
            out.events.append(EventSpec("TIME_SYNC_FAILED", None, {"error": "no time address"}))
            return out
        try:
            measured = await self._time_query(server)
        except (OSError, TimeoutError, InvalidValue) as exc:
            out = Outcome(Response.of(request_id, Reason.TIME_SOURCE_UNREACHABLE,
                                      detail=_detail(f"{server}: {exc}")))
            out.events.append(EventSpec("TIME_SYNC_FAILED", None,
                                        {"error": _detail(str(exc) or type(exc).__name__)}))
            out.logs.append(LogSpec(WanLog.CHANNEL_FAILED, f"Time server {server} unreachable",
                                    LogLevel.ERROR, "failure"))
            return out
        offset_ms = _ms(measured.offset)
        limit_ms = self.clock_limit_ms()
        result = TimeSyncResult(server, self.state.now(), offset_ms, limit_ms, True)
        out = Outcome(Response.of(request_id, Reason.OK, result=result))
        out.events.append(EventSpec("TIME_SYNCHRONISED", None, {"offsetMs": str(offset_ms)}))
        if abs(offset_ms) > limit_ms:
            out.events.append(EventSpec("TIME_DEVIATION_EXCEEDED", None,
                                        {"offsetMs": str(offset_ms), "limitMs": str(limit_ms)}))
            out.logs.append(LogSpec(10011, f"Clock deviation {offset_ms} ms above the limit of "
                                    f"{limit_ms} ms", LogLevel.ALERT, "failure"))
        out.logs.append(LogSpec(10010, f"Time synchronised with {server} (offset {offset_ms} ms)"))
        state = self.state
        offset = measured.offset

        def apply() -> None:
            state.drift_seconds -= offset

        out.effects.append(apply)
        return out

    def _self_test(self, request_id: uuid.UUID) -> Outcome:
        state = self.state
        remaining = state.self_test.remaining()
        if remaining > 0:
            last = state.self_test.last_run
            detail = f"last self-test {last.isoformat(timespec='seconds')}" if last else None
            wait = min(86400, max(1, math.ceil(remaining)))
            return Outcome(Response.of(request_id, Reason.RATE_LIMITED, detail=detail,
                                       retry_after_seconds=wait))
        started = state.now()
        checks = self.self_test_checks()
        passed = not any(c.outcome is CheckOutcome.FAILED for c in checks)
        finished = state.now()
        result = SelfTestResult(passed, started, finished, tuple(checks))
        out = Outcome(Response.of(request_id, Reason.OK, result=result))
        findings = tuple(f"{c.name}: {c.detail}" for c in checks
                         if c.outcome is CheckOutcome.FAILED)
        if passed:
            out.events.append(EventSpec("SELF_TEST_PASSED"))
            out.logs.append(LogSpec(13002, "Self-test passed (requested by the GWA)"))
        else:
            out.events.append(EventSpec("SELF_TEST_FAILED", None,
                                        {"failedChecks": _failed_checks(checks)}))
            out.logs.append(LogSpec(13003, "Self-test failed: " + "; ".join(findings),
                                    LogLevel.ERROR, "failure"))

        def apply() -> None:
            state.self_test.last_run = state.clock.now()
            state.last_self_test = SelfTestReport(started, passed, findings)

        out.effects.append(apply)
        return out

    def self_test_checks(self) -> list[SelfTestCheck]:
        """The checks of 5.15, from the gateway's conditions."""
        s = self.state
        c = s.conditions

        def check(name: str, ok: bool, detail: str = "") -> SelfTestCheck:
            return SelfTestCheck(name, CheckOutcome.PASSED if ok else CheckOutcome.FAILED,
                                 "" if ok else detail)

        missing = [m.server_id.display for m in s.meters if m.paired and not m.present]
        now = dt.datetime.now(dt.UTC)
        expired = [g.role for g in s.certificates if g.role.startswith("wan_")
                   and not g.info.is_valid_at(now)]
        return [
            check("firmware-integrity", c.image_ok, "firmware image damaged"),
            check("security-module", True),
            check("clock", c.time_valid and abs(s.drift_seconds) <= MAX_DRIFT_SECONDS,
                  f"clock deviation {s.drift_seconds:+.0f} s" if c.time_valid
                  else "time not valid"),
            check("storage", not (c.log_storage_full or c.measurement_storage_full),
                  "storage full"),
            check("wan-han-separation", c.han_wan_separated, "HAN and WAN not separated"),
            check("lmn", not missing, "meter " + ", ".join(missing) + " does not answer"),
            check("certificates", not expired, "expired: " + ", ".join(expired)),
        ]

    def _log_extract(self, call: ReadLog) -> LogExtract:
        if call.log is not LogName.SYSTEM:
            return LogExtract(call.log, True, ())
        matched = self.state.system_log.query(since=call.since, until=call.until)
        chosen = matched[-call.max_entries:] if call.max_entries else []
        entries = tuple(
            LogEntry(e.index, e.time, _SEVERITY.get(LogLevel(e.level), Severity.INFO), e.event_id,
                     _detail(e.message or f"event {e.event_id}"))
            for e in chosen
        )
        return LogExtract(LogName.SYSTEM, len(chosen) == len(matched), entries)

    def device_info(self) -> DeviceInfo:
        s = self.state
        firmware = s.firmware[0] if s.firmware else None
        return DeviceInfo(
            smgw_id=s.smgw_id,
            manufacturer=(s.vendor or "unknown")[:80],
            model=(s.model or "virtual SMGW")[:80],
            firmware_version=firmware.version if firmware else "0",
            firmware_hash=firmware.sha256 if firmware else "0" * 64,
            time=s.now(),
            operating_state=operating_state(s),
            wan_address=self._wan_address(),
        )


def _detail(text: str) -> str:
    text = " ".join(text.split()) or "-"
    return text[:1000]


def _meter_tls(server_id: ServerId, salt: bytes = b"") -> str:
    return hashlib.sha256(b"virtual meter TLS certificate|" + server_id.raw + salt).hexdigest()


