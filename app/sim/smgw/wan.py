"""The virtual SMGW's WAN side: wake-up, MANAGEMENT, INFO-REPORT and ADMIN-SERVICE (spec ch. 5).

:class:`WanSide` works on the same :class:`~app.sim.smgw.state.SmgwState` the HAN server shows:

* it listens for wake-up packets on UDP and verifies them (5.1); refusals are counted and
  written to the system log;
* it opens the MANAGEMENT channel as TLS client, pins the GWA's certificate, posts the session
  start and carries out every request it gets back (5.2/5.3, 5.8, 5.16), answering signed and
  encrypted (5.10/5.11); every answer is stored before it is sent, so a dropped session resumes
  with ``pendingResult`` and a repeated request is answered from the store, not carried out twice;
* it sends its events through the persistent queue over INFO-REPORT (5.6/5.7, 5.14);
* it downloads content from ADMIN-SERVICE with ``Range`` requests, resumable (5.4/5.5).

The wire rules are in ``docs/protocol/05-02-channels.md``; decisions taken here are in
``docs/protocol/channels-implementation.md``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import enum
import ipaddress
import json
import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509

from app.domain import ServerId
from app.errors import ConfigurationError, InvalidValue, Text
from app.processes.micro import sntp
from app.processes.micro.backoff import Backoff
from app.processes.micro.channels import (
    CONTENT_TYPE_CMS,
    EVENTS_PATH,
    MAX_EVENTS_PER_REPORT,
    NIL_REQUEST_ID,
    SESSION_PATH,
    Channel,
    ChannelTimers,
    parse_endpoint,
    parse_ntp_address,
    session_path,
)
from app.processes.micro.content import (
    ContentKeys,
    ContentRejected,
    decode,
    open_cms,
    seal_xml,
)
from app.processes.micro.operations import operation_path
from app.protocols.admin import (
    AddressPurpose,
    CommunicationProfile,
    Event,
    EventAck,
    EventReport,
    MeterProfile,
    PeerSubject,
    Profile,
    ProfileKind,
    Reason,
    Response,
    SessionEnd,
    SessionRequest,
    SessionResult,
    SessionStart,
    StartReason,
    from_xml,
    to_xml,
)
from app.protocols.wakeup import WakeUpRejected, WakeUpVerifier
from app.security.pki import DemoPki
from app.security.tls import CertificateChain, Interface, client_context, fingerprint
from app.sim.smgw.logs import Event as LogEvent
from app.sim.smgw.logs import LogLevel
from app.sim.smgw.state import CertificateState, LmnMeter, SmgwState
from app.sim.smgw.wan_apply import AdminExecutor, EventSpec, LogSpec, Outcome, ProfileBook
from app.sim.smgw.wan_download import DownloadError, DownloadResult, fetch_content
from app.sim.smgw.wan_http import ChannelError, HttpResponse, WanConnection
from app.sim.smgw.wan_state import (
    LmnEnvironment,
    WanLog,
    activate_operational_certificates,
    delivered_evaluation_profile,
    delivered_meter_profile,
    missing_emt_profiles,
    project_evaluation,
    project_meter,
)
from app.sim.smgw.wan_store import QueuedEvent, StoreChange, StoredAnswer, StoredProfile, WanStore
from app.store.db import StorageError

log = logging.getLogger(__name__)

#: A refused wake-up is reported to the GWA at most this often per reason (seconds).
WAKE_UP_EVENT_INTERVAL = 60.0


@dataclass(frozen=True)
class SmgwCredentials:
    """The gateway's WAN keys: TLS client chain, trusted roots, and the content keys."""

    tls: CertificateChain
    tls_trust: tuple[bytes, ...]
    content: ContentKeys
    group: str = "brainpoolP256r1"

    @classmethod
    def from_demo_pki(cls, pki: DemoPki) -> SmgwCredentials:
        """The ``smgw_*`` certificates of the demo PKI (written to a directory)."""
        root, sub = pki["root"].cert, pki["sub_ca"].cert
        return cls(
            tls=pki.tls_chain("smgw_tls"),
            tls_trust=(pki.trust_pem(),),
            content=ContentKeys(pki["smgw_sig"], pki["smgw_enc"], (root,), (sub,)),
            group=pki.curve,
        )


@dataclass
class WanFaults:
    """Faults to inject into the WAN side (training and tests)."""

    pairing_rejected: frozenset[ServerId] = frozenset()
    """Meters that answer a pairing with FE 09."""
    drop_before_result: int = 0
    """Drop the MANAGEMENT connection this many times after carrying out a request and before
    sending its answer (the answer is stored and delivered with ``pendingResult``)."""
    stall_before_result: float = 0.0
    """Once: wait this long after carrying out a request before answering (a slow link)."""
    silent_after: int | None = None
    """After carrying out this many more requests, drop the connection and go silent."""
    silent: bool = False
    """The WAN link is gone: no sessions, wake-ups ignored, no events sent."""


@dataclass
class WanStats:
    """Counters of the WAN side (shown by diagnostics and checked by tests)."""

    wakeups_accepted: int = 0
    wakeups_rejected: collections.Counter[str] = field(default_factory=collections.Counter)
    sessions: int = 0
    requests_carried_out: int = 0
    requests_repeated: int = 0
    requests_refused_unauthenticated: int = 0
    requests_malformed: int = 0
    events_sent: int = 0
    channel_failures: int = 0


class SessionOutcome(enum.Enum):
    DONE = "done"
    DROPPED = "dropped"
    REFUSED = "refused"


def _ip_or_none(text: str | None) -> str | None:
    if not text:
        return None
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


class _WakeUpProtocol(asyncio.DatagramProtocol):
    def __init__(self, side: WanSide) -> None:
        self._side = side

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self._side._on_wakeup(data, addr)  # noqa: SLF001 - the protocol belongs to the side


class _OneAnswer(asyncio.DatagramProtocol):
    def __init__(self, clock: object) -> None:
        self.answer: asyncio.Future[tuple[bytes, object]] = (
            asyncio.get_running_loop().create_future())
        self._clock = clock

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if not self.answer.done():
            self.answer.set_result((data, self._clock()))  # type: ignore[operator]


class WanSide:
    """The WAN interface of one virtual gateway (see the module docstring)."""

    def __init__(
        self,
        state: SmgwState,
        credentials: SmgwCredentials,
        *,
        db_path: str | Path,
        gwa_profile: CommunicationProfile | None = None,
        host: str = "127.0.0.1",
        wakeup_port: int = 0,
        wan_address: str | None = None,
        lmn_meters: Iterable[LmnMeter] = (),
        meter_keys: dict[ServerId, bytes | None] | None = None,
        faults: WanFaults | None = None,
        timers: ChannelTimers | None = None,
        wakeup_window: int = 300,
        wakeup_skew: int = 30,
        boot_session: bool = True,
        time_timeout: float = 5.0,
        follow_gwa_address: bool = False,
    ) -> None:
        self.state = state
        self.credentials = credentials
        self.db_path = Path(db_path)
        self.host = host
        self.wakeup_port = wakeup_port
        self.wan_address = _ip_or_none(wan_address or host)
        self.faults = faults or WanFaults()
        self.timers = timers or ChannelTimers()
        self.stats = WanStats()
        self.book = ProfileBook()
        self._delivery_profile = gwa_profile
        self._wakeup_window = wakeup_window
        self._wakeup_skew = wakeup_skew
        self._boot_session = boot_session
        self._time_timeout = time_timeout
        #: the GWA of ``gwa_profile`` listens on other ports after each start (the embedded
        #: default picks free ones): a stored profile with its ID takes over its addresses
        self._follow_gwa_address = follow_gwa_address
        lmn_meters = list(lmn_meters)
        for spare in lmn_meters:  # the same time base as the gateway's meters
            spare.anchor(state.clock.now())
        self.lmn = LmnEnvironment(
            meters={m.server_id: m for m in [*state.meters, *lmn_meters]},
            keys=dict(meter_keys or {}),
            pairing_rejected=frozenset(self.faults.pairing_rejected),
        )
        self.executor = AdminExecutor(
            state, self.book, self.lmn, time_query=self._query_time,
            current_gwa=self.gwa_profile, wan_address=lambda: self.wan_address,
        )
        self._store: WanStore | None = None
        self._udp: asyncio.DatagramTransport | None = None
        self._verifier: WakeUpVerifier | None = None
        self._verifier_key: bytes | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._triggers: asyncio.Queue[tuple[StartReason, bytes | None]] = asyncio.Queue()
        self._wake = asyncio.Event()
        self._events_waiting = asyncio.Event()
        self._events_kick = asyncio.Event()
        self._apply_lock = asyncio.Lock()
        self._session_active = False
        self._last_wakeup_event: dict[str, float] = {}
        self._channel_failing: set[Channel] = set()
        self._next_contact: float | None = None
        self._schedule_changed = asyncio.Event()
        self.running = False

    # -- lifecycle --------------------------------------------------------------------------------

    @property
    def store(self) -> WanStore:
        if self._store is None:
            raise ConfigurationError(Text("The WAN side is not started.",
                                          "Die WAN-Seite ist nicht gestartet."))
        return self._store

    @property
    def wakeup_address(self) -> tuple[str, int]:
        """Where the GWA sends wake-up packets (host, UDP port)."""
        if self._udp is None:
            return self.host, self.wakeup_port
        sock = self._udp.get_extra_info("sockname")
        return sock[0], int(sock[1])

    async def start(self) -> None:
        """Open the store, restore or set up the configuration, listen, report the start."""
        if self.running:
            return
        self._store = await asyncio.to_thread(WanStore, str(self.db_path))
        try:
            await self._restore()
        except BaseException:
            self._store.close()
            self._store = None
            raise
        loop = asyncio.get_running_loop()
        try:
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _WakeUpProtocol(self), local_addr=(self.host, self.wakeup_port))
        except OSError as exc:
            await asyncio.to_thread(self._store.close)
            self._store = None
            raise ConfigurationError(
                Text(f"The virtual SMGW cannot receive wake-up packets on {self.host} UDP port "
                     f"{self.wakeup_port}: {exc.strerror or exc}.",
                     f"Das virtuelle SMGW kann auf {self.host} UDP-Port {self.wakeup_port} keine "
                     f"Wake-Up-Pakete empfangen: {exc.strerror or exc}."),
                field="wakeup_port",
                hint=Text("Choose another port (0 picks a free one).",
                          "Wählen Sie einen anderen Port (0 wählt einen freien)."),
            ) from exc
        self._udp = transport
        self.running = True
        self._spawn(self._management_loop())
        self._spawn(self._event_loop())
        if self.timers.contact_interval:
            self._spawn(self._schedule_loop())
        firmware = self.state.firmware[0].version if self.state.firmware else "0"
        specs = [EventSpec("SMGW_STARTED", None, {"firmwareVersion": firmware,
                                                  "bootReason": "start"})]
        old = self.store.meta("wan_address")
        if self.wan_address and old and old != self.wan_address:
            specs.append(self._ip_change_event(old, self.wan_address))
        meta = {"wan_address": self.wan_address} if self.wan_address else {}
        await self.record_events(specs, meta=meta)
        if self._boot_session:
            self.trigger_session(StartReason.BOOT)

    async def stop(self) -> None:
        """Stop listening and sending; everything unsent stays in the store."""
        self.running = False
        if self._udp is not None:
            self._udp.close()
            self._udp = None
        await _cancel_all(list(self._tasks))
        if self._store is not None:
            await asyncio.to_thread(self._store.close)
            self._store = None

    def _spawn(self, coro: object) -> asyncio.Task[None]:
        task = asyncio.ensure_future(coro)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("WAN side task failed", exc_info=task.exception())

    # -- configuration ----------------------------------------------------------------------------

    async def _restore(self) -> None:
        stored = await self.store.db.call(self.store.profiles)
        if not stored:
            await self._bootstrap()
            return
        skipped = set(json.loads(self.store.meta("unmanaged_profiles") or "[]"))
        for row in stored:
            self.book.put(from_xml(row.xml))
        await self._repair_configuration()
        managed_meters = [p for p in self.book.all(ProfileKind.METER)
                          if isinstance(p, MeterProfile)]
        self.state.meters[:] = []
        for p in managed_meters:
            project_meter(self.state, self.lmn, p)
        self.state.profiles[:] = [p for p in self.state.profiles if p.usage_point_id in skipped]
        for p in self.book.evaluations():
            project_evaluation(self.state, p)
        for sid_hex, (paired, tls) in self.store.meters().items():
            meter = self.state.meter(ServerId.from_hex(sid_hex))
            if meter is not None:
                meter.paired = paired
                if tls:
                    self.lmn.tls_fingerprints[meter.server_id] = tls
        if (self.store.meta("wan_certificates") == CertificateState.WIRKZERTIFIKAT.value
                and self.state.wan_certificate_state is CertificateState.GUETESIEGEL):
            activate_operational_certificates(self.state)

    async def _bootstrap(self) -> None:
        """First start: the delivery GWA profile plus the scenario's meters and TAF profiles."""
        if self._delivery_profile is None:
            raise ConfigurationError(
                Text("The virtual SMGW has no GWA communication profile to start with.",
                     "Das virtuelle SMGW hat kein GWA-Kommunikationsprofil für den Start."),
                field="gwa_profile",
                hint=Text("Pass the reference GWA's profile "
                          "(ReferenceGwa.communication_profile()).",
                          "Übergeben Sie das Profil des Referenz-GWA "
                          "(ReferenceGwa.communication_profile())."),
            )
        profiles: list[Profile] = [self._delivery_profile]
        for meter in self.state.meters:
            profiles.append(delivered_meter_profile(meter))
        skipped: list[str] = []
        evaluations: list[Profile] = []
        for tp in self.state.profiles:
            converted = delivered_evaluation_profile(tp)
            if converted is None:
                skipped.append(tp.usage_point_id)
            else:
                evaluations.append(converted)
        # the EMTs the evaluation profiles send to: without their communication profiles, a
        # profile could not be written back (missing reference)
        profiles.extend(missing_emt_profiles(evaluations, {self._delivery_profile.id},
                                             self._delivery_profile))
        profiles.extend(evaluations)
        change = StoreChange(meta={"gwa_profile": self._delivery_profile.id.text,
                                   "unmanaged_profiles": json.dumps(skipped)})
        for p in profiles:
            change.put_profiles.append(StoredProfile(p.kind.value, p.id.text, p.revision,
                                                     to_xml(p)))
        change.meters = [(m.server_id.hex, m.paired, None) for m in self.state.meters]
        await self.store.db.call(self.store.commit, change)
        for p in profiles:
            self.book.put(p)

    async def _repair_configuration(self) -> None:
        """After loading a stored configuration: the EMT profiles its evaluation profiles refer
        to (stores from before they were installed at bootstrap), and - with
        ``follow_gwa_address`` - the GWA profile's current addresses."""
        change = StoreChange()
        known = {p.id for p in self.book.all(ProfileKind.COMMUNICATION)}
        gwa = self._delivery_profile
        stored_gwa = self.book.communication(gwa.id) if gwa is not None else None
        for emt in missing_emt_profiles(self.book.evaluations(), known, stored_gwa or gwa):
            change.put_profiles.append(StoredProfile(emt.kind.value, emt.id.text, emt.revision,
                                                     to_xml(emt)))
            self.book.put(emt)
        if (self._follow_gwa_address and gwa is not None and stored_gwa is not None
                and stored_gwa.addresses != gwa.addresses):
            moved = dataclasses.replace(stored_gwa, addresses=gwa.addresses)
            change.put_profiles.append(StoredProfile(moved.kind.value, moved.id.text,
                                                     moved.revision, to_xml(moved)))
            self.book.put(moved)
            log.info("virtual SMGW %s: the GWA profile %s now points to %s",
                     self.state.smgw_id.text, moved.id.text,
                     moved.address(AddressPurpose.MANAGEMENT))
        if change.put_profiles:
            await self.store.db.call(self.store.commit, change)

    def gwa_profile(self) -> CommunicationProfile | None:
        """The GWA communication profile the gateway uses for its channels."""
        wanted = self._store.meta("gwa_profile") if self._store is not None else None
        gwas = self.book.gwa_profiles()
        for p in gwas:
            if wanted is None or p.id.text == wanted:
                return p
        return gwas[0] if gwas else None

    def _content_peer(self, gwa: CommunicationProfile) -> tuple[x509.Certificate, str]:
        if gwa.enc_certificate is None or gwa.sig_certificate is None:
            raise ConfigurationError(Text("The GWA profile lacks its SIG or ENC certificate.",
                                          "Dem GWA-Profil fehlt das SIG- oder ENC-Zertifikat."))
        return (x509.load_der_x509_certificate(gwa.enc_certificate),
                fingerprint(gwa.sig_certificate))

    # -- wake-up (5.1) ----------------------------------------------------------------------------

    def _current_verifier(self) -> WakeUpVerifier | None:
        gwa = self.gwa_profile()
        if gwa is None or gwa.sig_certificate is None:
            return None
        if self._verifier is None or self._verifier_key != gwa.sig_certificate:
            self._verifier = WakeUpVerifier(
                self.state.smgw_id, x509.load_der_x509_certificate(gwa.sig_certificate),
                window_seconds=self._wakeup_window, skew_seconds=self._wakeup_skew,
                clock=self.state.now)
            self._verifier_key = gwa.sig_certificate
        return self._verifier

    def _on_wakeup(self, data: bytes, addr: tuple[str, int]) -> None:
        verifier = self._current_verifier()
        if verifier is None or not self.running or self.faults.silent:
            return
        try:
            packet = verifier.verify(data)
        except WakeUpRejected as refused:
            reason = refused.reason.value
            self.stats.wakeups_rejected[reason] += 1
            self.state.record(WanLog.WAKE_UP_REJECTED,  # type: ignore[arg-type]
                              f"Wake-up packet from {addr[0]} rejected: {refused.message.en}",
                              level=LogLevel.WARNING, outcome="failure")
            now = asyncio.get_running_loop().time()
            if now - self._last_wakeup_event.get(reason, -1e9) >= WAKE_UP_EVENT_INTERVAL:
                self._last_wakeup_event[reason] = now
                self._spawn(self.record_events([EventSpec("WAKE_UP_REJECTED", None,
                                                          {"reason": reason})]))
            return
        self.stats.wakeups_accepted += 1
        self.state.record(WanLog.WAKE_UP_ACCEPTED,  # type: ignore[arg-type]
                          f"Wake-up packet accepted (nonce {packet.nonce.hex()})")
        self.trigger_session(StartReason.WAKE_UP, packet.nonce)
        self._wake.set()
        self._events_kick.set()

    def trigger_session(self, reason: StartReason = StartReason.SCHEDULE,
                        nonce: bytes | None = None) -> None:
        """Ask for a MANAGEMENT session (runs after the current one, if any)."""
        self._triggers.put_nowait((reason, nonce))

    # -- MANAGEMENT (5.2, 5.3, 5.16) --------------------------------------------------------------

    async def _management_loop(self) -> None:
        while self.running:
            reason, nonce = await self._triggers.get()
            self._wake.clear()
            await self._run_sessions(reason, nonce)

    async def _run_sessions(self, reason: StartReason, nonce: bytes | None) -> None:
        """One session, plus reconnects after a drop or a refusal (with back-off)."""
        t = self.timers
        backoff = Backoff(t.backoff_initial, t.backoff_max, t.backoff_jitter)
        attempts = 0
        dropped_once = False
        while True:
            if self.faults.silent:
                return
            outcome, retry_after = await self._session_once(reason, nonce)
            attempts += 1
            if outcome is SessionOutcome.DONE:
                return
            pending = await self.store.db.call(self.store.pending_answer)
            if pending is None and attempts >= 3:
                return
            if outcome is SessionOutcome.DROPPED and not dropped_once:
                dropped_once = True
                delay = 0.0  # "reconnects at once (then with back-off)"
            else:
                delay = retry_after if retry_after is not None else backoff.next_delay()
            woken = await self._sleep_unless_woken(delay)
            if woken is not None:
                backoff.reset()
                reason, nonce = woken
            else:
                reason, nonce = (StartReason.RESUME, None) if pending else (reason, nonce)
                if reason is StartReason.WAKE_UP:
                    reason, nonce = StartReason.SCHEDULE, None  # the nonce was used

    async def _sleep_unless_woken(self, delay: float) -> tuple[StartReason, bytes | None] | None:
        """Wait ``delay`` s; a valid wake-up packet ends the wait (and resets the back-off)."""
        if delay > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)
        if not self._wake.is_set():
            return None
        self._wake.clear()
        woken = None
        while not self._triggers.empty():
            trigger = self._triggers.get_nowait()
            if trigger[0] is StartReason.WAKE_UP:
                woken = trigger
        return woken

    async def _session_once(self, reason: StartReason, nonce: bytes | None
                            ) -> tuple[SessionOutcome, float | None]:
        gwa = self.gwa_profile()
        url = gwa.address(AddressPurpose.MANAGEMENT) if gwa else None
        if gwa is None or url is None:
            return SessionOutcome.DONE, None
        pending = await self.store.db.call(self.store.pending_answer)
        if reason is StartReason.RESUME and pending is None:
            reason = StartReason.SCHEDULE
        conn = await self._open(Channel.MANAGEMENT, gwa, url)
        if conn is None:
            return SessionOutcome.REFUSED, None
        self.stats.sessions += 1
        self._session_active = True
        self.state.record(LogEvent.GWA_CHANNEL_UP, f"MANAGEMENT channel to {url} ({reason.value})")
        try:
            return await self._converse(conn, gwa, reason, nonce, pending)
        finally:
            self._session_active = False
            await conn.close()
            self.state.record(LogEvent.GWA_CHANNEL_DOWN, "MANAGEMENT channel closed")

    async def _converse(self, conn: WanConnection, gwa: CommunicationProfile,
                        reason: StartReason, nonce: bytes | None, pending: StoredAnswer | None
                        ) -> tuple[SessionOutcome, float | None]:
        session_id = uuid.uuid4()
        pending_response = from_xml(pending.response, expect=Response) if pending else None
        firmware = self.state.firmware[0].version if self.state.firmware else "0"
        start = SessionStart(session_id, self.state.smgw_id, reason, self.state.now(), firmware,
                             wake_up_nonce=nonce if reason is StartReason.WAKE_UP else None,
                             pending_result=pending_response)
        answer = await self._post(conn, gwa, SESSION_PATH, to_xml(start))
        if answer is None:
            return SessionOutcome.DROPPED, None
        if answer.status == 200:
            self._channel_failing.discard(Channel.MANAGEMENT)  # the failure run is over
            if pending is not None:
                await self.store.db.call(self.store.mark_delivered, pending.request_id)
        while True:
            outcome = await self._outer_status(answer, gwa)
            if outcome is not None:
                return outcome
            try:
                opened = await asyncio.to_thread(open_cms, answer.body, self.credentials.content,
                                                 expected_signer_sha256=self._content_peer(gwa)[1])
            except ContentRejected as refused:
                await self._refuse_unauthenticated(conn, gwa, session_id, refused)
                return SessionOutcome.DONE, None
            try:
                doc = decode(opened.xml, expect=(SessionRequest, SessionEnd))
            except ContentRejected as bad:
                self.stats.requests_malformed += 1
                reason_ = (Reason.UNSUPPORTED_VERSION if bad.kind == "unsupported-version"
                           else Reason.MALFORMED)
                response = Response.of(bad.request_id or NIL_REQUEST_ID, reason_,
                                       detail=_short(bad.message.en))
                self.state.record(WanLog.REQUEST_REFUSED,  # type: ignore[arg-type]
                                  f"Request not readable: {bad.message.en}",
                                  level=LogLevel.WARNING, outcome="failure")
            else:
                if isinstance(doc, SessionEnd):
                    self._note_next_contact(doc)
                    return SessionOutcome.DONE, None
                assert isinstance(doc, SessionRequest)
                if doc.session_id != session_id:
                    response = Response.of(doc.request_id, Reason.MALFORMED,
                                           detail="sessionId does not match this session")
                else:
                    response = await self._carry_out(doc, session_id)
                dropped = self._fault_after_request()
                if dropped:
                    conn.abort()
                    return SessionOutcome.DROPPED, None
                if self.faults.stall_before_result > 0:
                    stall, self.faults.stall_before_result = self.faults.stall_before_result, 0.0
                    await asyncio.sleep(stall)
            body = to_xml(SessionResult(session_id, response))
            answer = await self._post(conn, gwa, session_path(session_id), body)
            if answer is None:
                return SessionOutcome.DROPPED, None
            if answer.status == 200:
                await self.store.db.call(self.store.mark_delivered, response.request_id)

    def _fault_after_request(self) -> bool:
        """Injected faults after a request was carried out; True: drop the connection now."""
        f = self.faults
        if f.silent_after is not None:
            f.silent_after -= 1
            if f.silent_after <= 0:
                f.silent_after = None
                f.silent = True
                return True
        if f.drop_before_result > 0:
            f.drop_before_result -= 1
            return True
        return False

    async def _outer_status(self, answer: HttpResponse, gwa: CommunicationProfile
                            ) -> tuple[SessionOutcome, float | None] | None:
        """None for 200 (go on), else how the session ends (05-02 table of outer statuses)."""
        if answer.status == 200:
            return None
        if answer.status == 404:
            return SessionOutcome.DROPPED, None  # unknown session: resume with pendingResult
        retry_after = None
        if answer.status == 503:
            with contextlib.suppress(ValueError, TypeError):
                retry_after = float(answer.header("retry-after") or "")
        text = answer.body[:200].decode("utf-8", "replace").strip()
        self.stats.channel_failures += 1
        self.state.record(WanLog.CHANNEL_FAILED,  # type: ignore[arg-type]
                          f"GWA answered HTTP {answer.status}: {text}", level=LogLevel.ERROR,
                          outcome="failure")
        if answer.status == 403 and Channel.MANAGEMENT not in self._channel_failing:
            await self.record_events([EventSpec("CHANNEL_FAILED", PeerSubject(gwa.id), {
                "channel": Channel.MANAGEMENT.value, "error": f"HTTP {answer.status}"})])
        self._channel_failing.add(Channel.MANAGEMENT)
        return SessionOutcome.REFUSED, retry_after

    async def _refuse_unauthenticated(self, conn: WanConnection, gwa: CommunicationProfile,
                                      session_id: uuid.UUID, refused: ContentRejected) -> None:
        """A body not signed by the GWA of the profile: answer 403 to the real GWA, event 2002."""
        self.stats.requests_refused_unauthenticated += 1
        details = {"channel": Channel.MANAGEMENT.value, "error": refused.cms_reason or "cms"}
        if refused.signer_sha256:
            details["actualFingerprint"] = refused.signer_sha256
        self.state.record(WanLog.CONTENT_REJECTED,  # type: ignore[arg-type]
                          f"Request refused, not carried out: {refused.message.en}",
                          level=LogLevel.ERROR, outcome="failure")
        await self.record_events([EventSpec("PEER_CERTIFICATE_MISMATCH", PeerSubject(gwa.id),
                                            details)])
        response = Response.of(NIL_REQUEST_ID, Reason.NOT_AUTHENTICATED, detail=_short(
            f"request not signed by the SIG certificate of {gwa.id.text} "
            f"({refused.cms_reason or 'cms'})"))
        await self._post(conn, gwa, session_path(session_id),
                         to_xml(SessionResult(session_id, response)))

    async def _carry_out(self, request: SessionRequest, session_id: uuid.UUID) -> Response:
        """Carry out one request exactly once; the answer is stored before it is returned."""
        store = self.store
        async with self._apply_lock:
            stored = await store.db.call(store.answer_for, request.request_id)
            if stored is not None:
                self.stats.requests_repeated += 1
                self.state.record(WanLog.REQUEST_REPEATED,  # type: ignore[arg-type]
                                  f"Request {request.request_id} answered from the store "
                                  f"({operation_path(request.operation)})")
                return from_xml(stored.response, expect=Response)
            outcome = await self.executor.execute(request.operation, request.request_id)
            try:
                change = self._change_for(outcome, request, session_id)
                await store.db.call(store.commit, change)
            except (InvalidValue, StorageError) as err:
                log.error("request %s could not be stored: %s", request.request_id, err)
                return Response.of(request.request_id, Reason.INTERNAL_ERROR,
                                   detail=_short(str(err)))
            # stored: now apply, without an await in between
            for effect in outcome.effects:
                effect()
            for ref in outcome.deletes:
                self.book.delete(ref)
            for profile in outcome.puts:
                self.book.put(profile)
            self._write_logs(outcome.logs, request)
            self.stats.requests_carried_out += 1
        if change.events:
            self._events_waiting.set()
        return outcome.response

    def _change_for(self, outcome: Outcome, request: SessionRequest, session_id: uuid.UUID
                    ) -> StoreChange:
        change = StoreChange(
            put_profiles=[StoredProfile(p.kind.value, p.id.text, p.revision, to_xml(p))
                          for p in outcome.puts],
            delete_profiles=[(r.kind.value, r.id.text) for r in outcome.deletes],
            meters=[(sid.hex, paired, tls) for sid, paired, tls in outcome.meters],
            events=self._build_events(outcome.events),
            meta=dict(outcome.meta),
            answer=StoredAnswer(request.request_id, session_id, to_xml(outcome.response), False),
        )
        return change

    def _write_logs(self, logs: list[LogSpec], request: SessionRequest | None = None) -> None:
        for entry in logs:
            self.state.record(entry.event, entry.message,  # type: ignore[arg-type]
                              level=entry.level, outcome=entry.outcome, subject=entry.subject)
        if request is not None and not logs:
            self.state.record(WanLog.REQUEST_CARRIED_OUT,  # type: ignore[arg-type]
                              f"{operation_path(request.operation)} answered")

    def _note_next_contact(self, end: SessionEnd) -> None:
        if end.next_contact_seconds:
            self._next_contact = float(end.next_contact_seconds)
            self._schedule_changed.set()

    async def _schedule_loop(self) -> None:
        while self.running:
            interval = self.timers.contact_interval or 86400.0
            wait = self._next_contact if self._next_contact is not None else interval
            self._next_contact = None
            self._schedule_changed.clear()
            try:
                await asyncio.wait_for(self._schedule_changed.wait(), wait)
            except TimeoutError:
                self.trigger_session(StartReason.SCHEDULE)

    # -- channels ---------------------------------------------------------------------------------

    async def _open(self, channel: Channel, gwa: CommunicationProfile, url: str
                    ) -> WanConnection | None:
        """Open a pinned TLS channel; failures are logged and reported once per failure run."""
        c = self.credentials
        try:
            endpoint = parse_endpoint(url, field=channel.value)
            context = client_context(Interface.WAN, trust=c.tls_trust, own=c.tls, group=c.group)
            conn = await WanConnection.open(endpoint, context, pin=gwa.tls_fingerprint,
                                            timeout=self.timers.connect)
        except (ChannelError, InvalidValue) as err:
            self.stats.channel_failures += 1
            self.state.record(WanLog.CHANNEL_FAILED,  # type: ignore[arg-type]
                              f"{channel.value} channel to {url} failed: {err.message.en}",
                              level=LogLevel.ERROR, outcome="failure")
            first = channel not in self._channel_failing  # one event per failure run
            if first and isinstance(err, ChannelError) and err.kind == "pin":
                await self.record_events([EventSpec(
                    "PEER_CERTIFICATE_MISMATCH", PeerSubject(gwa.id),
                    {"channel": channel.value,
                     "actualFingerprint": err.actual_fingerprint or "unknown"})])
            elif first and channel is not Channel.INFO_REPORT:
                await self.record_events([EventSpec(
                    "CHANNEL_FAILED", PeerSubject(gwa.id),
                    {"channel": channel.value,
                     "error": _short(getattr(err, "kind", "address"))})])
            self._channel_failing.add(channel)
            return None
        return conn

    async def _post(self, conn: WanConnection, gwa: CommunicationProfile, path: str, xml: bytes
                    ) -> HttpResponse | None:
        """Seal ``xml`` for the GWA and POST it; None if the connection broke."""
        enc, _ = self._content_peer(gwa)
        body = await asyncio.to_thread(seal_xml, xml, self.credentials.content, enc)
        try:
            return await conn.request("POST", path, body=body, timeout=self.timers.answer,
                                      headers={"Content-Type": CONTENT_TYPE_CMS})
        except ChannelError as err:
            self.state.record(WanLog.CHANNEL_FAILED,  # type: ignore[arg-type]
                              f"Channel broke: {err.message.en}", level=LogLevel.WARNING,
                              outcome="failure")
            return None

    # -- events (5.14, INFO-REPORT 5.6/5.7) -------------------------------------------------------

    def _build_events(self, specs: list[EventSpec]) -> list[QueuedEvent]:
        if not specs:
            return []
        sequences = self.store.reserve_sequences(len(specs))
        out = []
        for seq, spec in zip(sequences, specs, strict=True):
            event = Event.new(spec.name, smgw_id=self.state.smgw_id, sequence=seq,
                              subject=spec.subject, details=spec.details, time=self.state.now())
            out.append(QueuedEvent(seq, event.id, event.code, to_xml(event)))
        return out

    async def record_events(self, specs: list[EventSpec], *, meta: dict[str, str] | None = None
                            ) -> None:
        """Queue events persistently (and write ``meta``) in one transaction."""
        change = StoreChange(events=self._build_events(specs), meta=dict(meta or {}))
        await self.store.db.call(self.store.commit, change)
        if change.events:
            self._events_waiting.set()

    def _ip_change_event(self, old: str, new: str) -> EventSpec:
        from app.protocols.admin import Interface as EventInterface
        from app.protocols.admin import InterfaceSubject

        return EventSpec("IP_ADDRESS_CHANGED", InterfaceSubject(EventInterface.WAN),
                         {"oldAddress": old, "newAddress": new})

    async def set_wan_address(self, address: str) -> None:
        """The WAN address changed (6.5.2): remember it and report event 1002."""
        new = _ip_or_none(address)
        if new is None:
            raise InvalidValue(Text(f"{address!r} is not an IP address.",
                                    f"{address!r} ist keine IP-Adresse."), field="wan_address")
        old = self.wan_address
        self.wan_address = new
        specs = [self._ip_change_event(old, new)] if old and old != new else []
        await self.record_events(specs, meta={"wan_address": new})

    async def queued_events(self) -> int:
        return await self.store.db.call(self.store.queued_events)

    async def flush_events(self, timeout: float = 5.0) -> bool:
        """Wait until the event queue is empty (True) or ``timeout`` passes (False)."""
        self._events_waiting.set()
        deadline = asyncio.get_running_loop().time() + timeout
        while await self.queued_events():
            if asyncio.get_running_loop().time() > deadline:
                return False
            await asyncio.sleep(0.02)
        return True

    async def _event_loop(self) -> None:
        t = self.timers
        backoff = Backoff(t.backoff_initial, t.backoff_max, t.backoff_jitter)
        self._events_waiting.set()  # a boot sends what the queue still holds
        while self.running:
            await self._events_waiting.wait()
            self._events_waiting.clear()
            await asyncio.sleep(t.event_batch_delay)
            while not self.faults.silent and await self.queued_events():
                if await self._send_events():
                    backoff.reset()
                    continue
                await self._sleep_unless_events(backoff.next_delay())

    async def _sleep_unless_events(self, delay: float) -> None:
        """Back-off wait of INFO-REPORT; a valid wake-up packet ends it early."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._events_kick.wait(), delay)
        self._events_kick.clear()

    async def _send_events(self) -> bool:
        """One INFO-REPORT channel: send batches until the queue is empty. False on failure."""
        gwa = self.gwa_profile()
        url = gwa.address(AddressPurpose.INFO_REPORT) if gwa else None
        if gwa is None or url is None:
            return False
        conn = await self._open(Channel.INFO_REPORT, gwa, url)
        if conn is None:
            return False
        try:
            while True:
                batch = await self.store.db.call(self.store.next_events, MAX_EVENTS_PER_REPORT)
                if not batch:
                    self._channel_failing.discard(Channel.INFO_REPORT)
                    return True
                report = EventReport(tuple(from_xml(e.xml, expect=Event) for e in batch))
                answer = await self._post(conn, gwa, EVENTS_PATH, to_xml(report))
                if answer is None or answer.status != 200:
                    return False
                try:
                    opened = await asyncio.to_thread(
                        open_cms, answer.body, self.credentials.content,
                        expected_signer_sha256=self._content_peer(gwa)[1])
                    ack = decode(opened.xml, expect=EventAck)
                except ContentRejected as refused:
                    self.state.record(WanLog.CONTENT_REJECTED,  # type: ignore[arg-type]
                                      f"Event acknowledgement refused: {refused.message.en}",
                                      level=LogLevel.ERROR, outcome="failure")
                    return False
                assert isinstance(ack, EventAck)
                sent = {e.id for e in batch}
                acked = [i for i in ack.accepted if i in sent]
                if not acked:
                    return False
                removed = await self.store.db.call(self.store.ack_events, acked)
                self.stats.events_sent += removed
        finally:
            await conn.close()

    # -- time synchronisation (5.13) --------------------------------------------------------------

    async def _query_time(self, url: str) -> sntp.SntpResult:
        host, port = parse_ntp_address(url)
        loop = asyncio.get_running_loop()
        transport, protocol = await loop.create_datagram_endpoint(
            lambda: _OneAnswer(self.state.now), remote_addr=(host, port))
        try:
            sent = self.state.now()
            request = sntp.new_request(sent)
            transport.sendto(request.to_bytes())
            data, arrived = await asyncio.wait_for(protocol.answer, self._time_timeout)
            return sntp.evaluate(request, data, sent=sent, arrived=arrived)  # type: ignore[arg-type]
        finally:
            transport.close()

    # -- ADMIN-SERVICE (5.4, 5.5) ----------------------------------------------------------------

    async def download(self, content_id: str, dest: Path, *, max_bytes: int | None = None,
                       piece: int = 256 * 1024) -> DownloadResult:
        """Fetch content ``content_id`` from ADMIN-SERVICE to ``dest``, resuming a partial one.

        ``max_bytes`` pauses after that many bytes (call again to resume). The content must be
        CMS-signed by the GWA's SIG certificate; ``dest`` receives the verified inner content.
        """
        gwa = self.gwa_profile()
        url = gwa.address(AddressPurpose.ADMIN_SERVICE) if gwa else None
        if gwa is None or url is None:
            raise DownloadError(Text("The GWA profile has no ADMIN-SERVICE address.",
                                     "Das GWA-Profil hat keine ADMIN-SERVICE-Adresse."),
                                field="admin_service")
        conn = await self._open(Channel.ADMIN_SERVICE, gwa, url)
        if conn is None:
            raise DownloadError(Text("The ADMIN-SERVICE channel could not be opened.",
                                     "Der ADMIN-SERVICE-Kanal konnte nicht geöffnet werden."),
                                field="admin_service")
        try:
            return await fetch_content(
                conn, content_id, dest, keys=self.credentials.content,
                signer_sha256=self._content_peer(gwa)[1], answer_timeout=self.timers.answer,
                max_bytes=max_bytes, piece=piece)
        finally:
            await conn.close()


async def _cancel_all(tasks: list[asyncio.Task[None]]) -> None:
    """Cancel ``tasks`` and wait for them; cancel again if one swallowed the cancellation
    (``asyncio.wait_for`` can, on Python 3.11, when its inner wait finishes at the same time)."""
    pending = {t for t in tasks if not t.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=0.5)
    for task in tasks:
        if not task.cancelled() and task.exception() is not None:
            log.debug("WAN side task ended with %r", task.exception())


# --- bootstrap conversions -----------------------------------------------------------------------


def _short(text: str) -> str:
    text = " ".join(str(text).split()) or "-"
    return text[:1000]


