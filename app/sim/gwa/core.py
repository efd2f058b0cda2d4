"""The reference Gateway Administrator (GWA) of the embedded default.

:class:`ReferenceGwa` keeps an inventory of gateways (SQLite), serves the MANAGEMENT,
INFO-REPORT and ADMIN-SERVICE channels as TLS servers with the WAN profile, runs a time service,
sends wake-up packets, and executes the processes of :data:`~app.sim.gwa.processes.PROCESS_CATALOG`
by driving MANAGEMENT sessions: wake-up -> the gateway opens TLS and posts its session start ->
the GWA answers with the first signed and encrypted request -> the gateway posts the signed and
encrypted result -> next request … -> session end. Events the gateways report are stored and
handed to subscribers.

Channel rules: docs/protocol/05-02-channels.md; decisions of this implementation:
docs/protocol/channels-implementation.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import inspect
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509

from app.domain import LogicalName, ServerId, SmgwId
from app.errors import ConfigurationError, InvalidValue, SmgwctError, Text
from app.processes.micro.channels import (
    ADMIN_SERVICE_BASE,
    INFO_REPORT_BASE,
    MANAGEMENT_BASE,
    NIL_REQUEST_ID,
    content_path,
)
from app.processes.micro.content import ContentKeys
from app.processes.micro.demo import demo_meter_key
from app.processes.micro.operations import method_timeout, operation_path
from app.protocols import wakeup
from app.protocols.admin import (
    Address,
    AddressPurpose,
    CallMethod,
    CommunicationProfile,
    CreateProfile,
    DeleteProfile,
    DeviceInfo,
    Operation,
    PeerRole,
    Profile,
    ProfileKind,
    ReadProfile,
    Reason,
    Response,
    SessionRequest,
    UpdateProfile,
    to_xml,
)
from app.security import tls
from app.security.pki import CertifiedKey, DemoPki
from app.sim.gwa.channels import Content, ContentStore, GwaChannels
from app.sim.gwa.inventory import Gateway, Inventory, StoredEvent, load_certificate
from app.sim.gwa.links import GatewayLink, PendingRequest
from app.sim.gwa.processes import (
    PROCESS_CATALOG,
    ProcessFailed,
    ProcessProgress,
    ProcessResult,
    ProcessSpec,
)
from app.sim.gwa.udp import TimeService, send_datagram
from app.sim.server_handle import ServerHandle, start_tls_site

log = logging.getLogger(__name__)

DEFAULT_PROFILE_ID = "01005e318031.gwa-main.sm"

WakeupTarget = tuple[str, int] | Callable[[str, bytes], Any] | None
"""Where wake-up packets go when a gateway has no address of its own: a (host, port), or a
callable ``(smgw_id, datagram)`` that delivers the datagram itself (it may be async)."""


@dataclass(frozen=True)
class GwaTimers:
    """Timers of the GWA side (seconds). Tests shorten them."""

    wakeup_valid_for: int = 300
    """Validity the GWA asks for in its wake-up packets."""
    wakeup_retry: float = 10.0
    """Send a new wake-up if no session picked the request up within this time."""
    wakeup_attempts: int = 3
    """Wake-ups per delivery attempt before the process fails (``wake-up-unanswered``)."""
    result_timeout: float = 90.0
    """Wait this long for the answer to a profile request (method calls: timeout + grace)."""
    method_grace: float = 30.0
    max_deliveries: int = 3
    """Send one request at most this often (same requestId) before ``session-dropped``."""
    session_hold: float = 20.0
    """Hold a gateway's POST this long while its process prepares the next request."""
    process_timeout: float = 900.0


@dataclass
class GwaFaults:
    """Faults the reference GWA can inject into the requests it sends (training and tests)."""

    mangle_request_xml: Callable[[bytes], bytes] | None = None
    """Applied to the XML of every ``sessionRequest`` before it is sealed (e.g. make it invalid)."""
    tamper_request_cms: Callable[[bytes], bytes] | None = None
    """Applied to the sealed CMS of every ``sessionRequest`` (e.g. flip a signature byte)."""
    sign_requests_with: CertifiedKey | None = None
    """Sign ``sessionRequest`` bodies with this key instead of the GWA's SIG key."""
    repeat_requests: int = 0
    """Send each answered request once more in the same session (same ``requestId``), this
    many times in total: a duplicated request."""


@dataclass
class _Reporter:
    callback: Callable[[ProcessProgress], Any] | None
    pending: set[asyncio.Future[Any]] = field(default_factory=set)

    def __call__(self, progress: ProcessProgress) -> None:
        if self.callback is None:
            return
        try:
            outcome = self.callback(progress)
        except Exception:  # a broken observer must not stop the process
            log.exception("progress callback failed")
            return
        if inspect.isawaitable(outcome):
            future = asyncio.ensure_future(outcome)
            self.pending.add(future)
            future.add_done_callback(self.pending.discard)


class _Run:
    """The :class:`~app.sim.gwa.processes.ProcessContext` of one process run."""

    def __init__(self, gwa: ReferenceGwa, gateway: Gateway, link: GatewayLink,
                 report: _Reporter) -> None:
        self.gwa = gwa
        self.gateway = gateway
        self.smgw_id = gateway.smgw_id
        self.link = link
        self.report = report
        self.fraction = 0.0
        self.responses: list[Response] = []
        self._ended = asyncio.Event()

    def step(self, name: str, message: Text, fraction: float) -> None:
        self.fraction = max(self.fraction, min(1.0, fraction))
        self.report(ProcessProgress(name, message, self.fraction))

    def _tell(self, step: str, message: Text, response: Response | None = None) -> None:
        self.report(ProcessProgress(step, message, self.fraction, response=response))

    async def session_end(self, timeout: float) -> None:
        """After the last request: wait briefly for the session to end (to report it), unless
        another process is waiting to use the same session."""
        if self.link.demand > 0 or not self.link.session_active:
            return
        self._ended.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ended.wait(), timeout)

    def on_link(self, what: str) -> None:
        if what == "session-ended":
            self._ended.set()
        if what == "session-started":
            self._tell(what, Text(f"Gateway {self.smgw_id} opened the MANAGEMENT channel",
                                  f"Gateway {self.smgw_id} hat den MANAGEMENT-Kanal geöffnet"))
        elif what == "session-ended":
            self._tell(what, Text("MANAGEMENT session ended", "MANAGEMENT-Sitzung beendet"))

    def meter_key(self, server_id: ServerId) -> bytes | None:
        return self.gwa.meter_key(server_id)

    def known_profiles(self, kind: ProfileKind | None = None) -> list[Profile]:
        return self.gwa.inventory.profiles(self.smgw_id, None if kind is None else kind.value)

    def own_profile(self, revision: int) -> CommunicationProfile:
        return self.gwa.communication_profile(revision)

    async def call(self, op: Operation, what: Text) -> Response:
        """Send ``op`` in the gateway's session (waking it up as needed); its answer."""
        t = self.gwa.timers
        limit = method_timeout(op)
        timeout = t.result_timeout if limit is None else limit + t.method_grace
        to_xml(SessionRequest(NIL_REQUEST_ID, NIL_REQUEST_ID, op))  # refuse before sending
        pending = self.link.submit(op, timeout)
        path = operation_path(op)
        try:
            await self._deliver(pending, path, what)
        finally:
            if not pending.future.done():
                pending.future.cancel()
            self.link.discard(pending)
        response = pending.future.result()
        self.responses.append(response)
        self._tell("result-received",
                   Text(f"{path}: {response.status} {response.reason.value}",
                        f"{path}: {response.status} {response.reason.value}"), response)
        await self.gwa._learn(self.gateway, op, response)  # noqa: SLF001 - the run belongs to it
        return response

    async def _deliver(self, pending: PendingRequest, path: str, what: Text) -> None:
        t = self.gwa.timers
        wakeups = 0
        reported = 0
        while not pending.future.done():
            if not pending.delivered.is_set():
                if not self.link.session_active:
                    if wakeups >= t.wakeup_attempts:
                        raise ProcessFailed(
                            "wake-up-unanswered",
                            Text(f"{what.en}: gateway {self.smgw_id} did not connect after "
                                 f"{wakeups} wake-up packets.",
                                 f"{what.de}: Gateway {self.smgw_id} hat sich nach {wakeups} "
                                 "Wake-Up-Paketen nicht gemeldet."),
                            hint=Text("Check the gateway's WAN connection and its LEDs.",
                                      "WAN-Verbindung und LEDs des Gateways prüfen."))
                    await self.gwa.send_wakeup(self.gateway)
                    wakeups += 1
                    self._tell("wake-up-sent",
                               Text(f"Wake-up packet {wakeups} sent to {self.smgw_id}",
                                    f"Wake-Up-Paket {wakeups} an {self.smgw_id} gesendet"))
                if not await _first(pending, t.wakeup_retry) and self.link.session_active:
                    self.link.abandon_session()  # the session that was open did not take it
                continue
            if pending.deliveries > reported:
                reported = pending.deliveries
                again = " (again)" if reported > 1 else ""
                again_de = " (erneut)" if reported > 1 else ""
                self._tell("request-sent", Text(f"{path}{again}", f"{path}{again_de}"))
            try:
                await asyncio.wait_for(asyncio.shield(pending.future), pending.result_timeout)
            except TimeoutError:
                if pending.deliveries >= t.max_deliveries:
                    raise ProcessFailed(
                        "session-dropped",
                        Text(f"{what.en}: no answer from gateway {self.smgw_id} after "
                             f"{pending.deliveries} attempts.",
                             f"{what.de}: keine Antwort von Gateway {self.smgw_id} nach "
                             f"{pending.deliveries} Versuchen."),
                        hint=Text("Nothing was applied twice; run the process again when the "
                                  "gateway is reachable.",
                                  "Nichts wurde doppelt ausgeführt; den Vorgang erneut "
                                  "starten, sobald das Gateway erreichbar ist.")) from None
                self.link.requeue(pending)
                wakeups = 0


async def _first(pending: PendingRequest, timeout: float) -> bool:
    """Wait until the request is delivered or answered (True) or ``timeout`` passes (False)."""
    waiter = asyncio.ensure_future(pending.delivered.wait())
    try:
        done, _ = await asyncio.wait({waiter, pending.future}, timeout=timeout,
                                     return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
    return bool(done)


class ReferenceGwa:
    """The reference GWA (see the module docstring)."""

    def __init__(
        self,
        pki: DemoPki,
        *,
        db_path: str | Path,
        host: str = "127.0.0.1",
        wakeup_target: WakeupTarget = None,
        management_port: int = 0,
        info_report_port: int = 0,
        admin_service_port: int = 0,
        time_port: int = 0,
        timers: GwaTimers | None = None,
        clock: Callable[[], dt.datetime] | None = None,
        profile_id: str = DEFAULT_PROFILE_ID,
        peer_name: str = "smgwct Referenz-GWA",
        demo_meter_keys: bool = True,
        faults: GwaFaults | None = None,
    ) -> None:
        if pki.directory is None:
            raise ConfigurationError(Text("The PKI must be written to a folder first.",
                                          "Die PKI muss zuerst in einen Ordner geschrieben "
                                          "werden."), field="pki")
        self.pki = pki
        self.db_path = Path(db_path)
        self.host = host
        self.wakeup_target = wakeup_target
        self.timers = timers or GwaTimers()
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self.profile_id = LogicalName.parse(profile_id, "profile_id")
        self.peer_name = peer_name
        self.demo_meter_keys = demo_meter_keys
        self.faults = faults or GwaFaults()
        self.keys = ContentKeys(pki["gwa_sig"], pki["gwa_enc"], (pki["root"].cert,),
                                (pki["sub_ca"].cert,))
        self._ports = (management_port, info_report_port, admin_service_port, time_port)
        self._inventory: Inventory | None = None
        self._handles: list[ServerHandle] = []
        self._time = TimeService(self.clock)
        self._time_address: tuple[str, int] | None = None
        self._links: dict[SmgwId, GatewayLink] = {}
        self._subscribers: list[Callable[[StoredEvent], Any]] = []
        self._meter_keys: dict[ServerId, bytes] = {}
        self.content = ContentStore(self.keys)
        self.channels: GwaChannels | None = None
        self.wakeups_sent = 0
        self.sent_wakeups: list[tuple[str, bytes]] = []
        """Every wake-up datagram sent (SMGW ID, bytes), newest last."""

    # -- lifecycle --------------------------------------------------------------------------------

    @property
    def inventory(self) -> Inventory:
        if self._inventory is None:
            raise ConfigurationError(Text("The reference GWA is not started.",
                                          "Der Referenz-GWA ist nicht gestartet."))
        return self._inventory

    async def start(self) -> None:
        """Open the inventory and start the time service and the three channel servers."""
        if self._handles:
            return
        self._inventory = await asyncio.to_thread(Inventory, self.db_path)
        try:
            self._time_address = await self._time.start(self.host, self._ports[3])
            self.channels = GwaChannels(
                inventory=self._inventory, keys=self.keys, link_for=self._link,
                on_events=self._publish, content=self.content,
                management_base=MANAGEMENT_BASE, info_report_base=INFO_REPORT_BASE,
                admin_service_base=ADMIN_SERVICE_BASE, faults=self.faults)
            context = tls.server_context(
                tls.Interface.WAN, own=self.pki.tls_chain("gwa_tls"),
                client_trust=[self.pki.trust_pem()], client_cert="required", group=self.pki.curve)
            apps = (("MANAGEMENT", self.channels.management_app(), self._ports[0]),
                    ("INFO-REPORT", self.channels.info_report_app(), self._ports[1]),
                    ("ADMIN-SERVICE", self.channels.admin_service_app(), self._ports[2]))
            for name, app, port in apps:
                self._handles.append(await start_tls_site(
                    app, role=f"reference GWA ({name})", host=self.host, port=port,
                    ssl_context=context, protocol="https+mtls",
                    certificate_sha256=self.pki["gwa_tls"].sha256))
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        """Stop serving; pending processes fail when their timers run out."""
        if self.channels is not None:
            self.channels.accepting = False
        for handle in self._handles:
            with contextlib.suppress(Exception):
                await handle.close()
        self._handles = []
        self._time.close()
        if self._inventory is not None:
            await asyncio.to_thread(self._inventory.close)
            self._inventory = None

    def endpoints(self) -> list[ServerHandle]:
        """The MANAGEMENT, INFO-REPORT and ADMIN-SERVICE servers (in this order)."""
        return list(self._handles)

    @property
    def time_address(self) -> tuple[str, int] | None:
        """The (host, UDP port) of the time service."""
        return self._time_address

    # -- configuration ----------------------------------------------------------------------------

    def communication_profile(self, revision: int = 1, *, keep_alive: int = 300,
                              max_idle: int = 900, max_session: int = 3600
                              ) -> CommunicationProfile:
        """The GWA's own communication profile as a gateway holds it (after :meth:`start`)."""
        if len(self._handles) < 3 or self._time_address is None:
            raise ConfigurationError(Text("Start the reference GWA first.",
                                          "Bitte zuerst den Referenz-GWA starten."))
        m, i, a = self._handles
        host = f"[{self.host}]" if ":" in self.host else self.host
        return CommunicationProfile(
            self.profile_id, revision, PeerRole.GWA, self.peer_name,
            (Address(AddressPurpose.MANAGEMENT, f"https://{host}:{m.port}{MANAGEMENT_BASE}"),
             Address(AddressPurpose.INFO_REPORT, f"https://{host}:{i.port}{INFO_REPORT_BASE}"),
             Address(AddressPurpose.ADMIN_SERVICE,
                     f"https://{host}:{a.port}{ADMIN_SERVICE_BASE}"),
             Address(AddressPurpose.TIME, f"ntp://{host}:{self._time_address[1]}")),
            self.pki["gwa_tls"].sha256, self.pki["gwa_sig"].cert_der,
            self.pki["gwa_enc"].cert_der, keep_alive, max_idle, max_session,
        )

    def register_gateway(
        self,
        smgw_id: str | SmgwId,
        smgw_tls_cert: x509.Certificate | bytes | str,
        smgw_sig_cert: x509.Certificate | bytes | str,
        smgw_enc_cert: x509.Certificate | bytes | str,
        wakeup_addr: tuple[str, int] | None = None,
    ) -> Gateway:
        """Add or update a gateway of the inventory (certificates as objects, PEM or DER)."""
        sid = smgw_id if isinstance(smgw_id, SmgwId) else SmgwId.parse(str(smgw_id))
        gateway = self.inventory.register(
            sid, load_certificate(smgw_tls_cert, "smgw_tls_cert"),
            load_certificate(smgw_sig_cert, "smgw_sig_cert"),
            load_certificate(smgw_enc_cert, "smgw_enc_cert"), wakeup_addr)
        self._link(sid)
        return gateway

    def gateways(self) -> list[Gateway]:
        return self.inventory.gateways()

    def register_meter_key(self, server_id: ServerId | str, key: bytes) -> None:
        """Hand the GWA a meter's initial key M (kept in memory only)."""
        sid = server_id if isinstance(server_id, ServerId) else ServerId.parse(server_id)
        if len(key) != 16:
            raise InvalidValue(Text("The initial key M has 16 bytes.",
                                    "Der Initialschlüssel M hat 16 Bytes."), field="key")
        self._meter_keys[sid] = bytes(key)

    def meter_key(self, server_id: ServerId) -> bytes | None:
        if server_id in self._meter_keys:
            return self._meter_keys[server_id]
        return demo_meter_key(server_id) if self.demo_meter_keys else None

    def publish_content(self, content_id: str, data: bytes) -> Content:
        """Offer ``data`` (e.g. a firmware image) on ADMIN-SERVICE, CMS-signed by the GWA."""
        return self.content.publish(content_id, data)

    def content_url(self, content_id: str) -> str:
        handle = self._handles[2]
        return f"{handle.url}{ADMIN_SERVICE_BASE}{content_path(content_id)}"

    # -- events -----------------------------------------------------------------------------------

    def events(self, smgw_id: str | SmgwId | None = None, since_seq: int = 0) -> list[StoredEvent]:
        """Stored events (of one gateway) after ``since_seq``, oldest first."""
        sid = None if smgw_id is None else (
            smgw_id if isinstance(smgw_id, SmgwId) else SmgwId.parse(str(smgw_id)))
        return self.inventory.events(sid, since_seq)

    def subscribe_events(self, callback: Callable[[StoredEvent], Any]) -> Callable[[], None]:
        """Call ``callback(stored_event)`` for every newly stored event; returns unsubscribe."""
        self._subscribers.append(callback)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._subscribers.remove(callback)

        return unsubscribe

    def _publish(self, new: list[StoredEvent]) -> None:
        for stored in new:
            for callback in list(self._subscribers):
                try:
                    outcome = callback(stored)
                    if inspect.isawaitable(outcome):
                        asyncio.ensure_future(outcome)
                except Exception:
                    log.exception("event subscriber failed")

    # -- wake-up ----------------------------------------------------------------------------------

    async def send_wakeup(self, gateway: Gateway | str | SmgwId) -> bytes:
        """Sign and send a wake-up packet to the gateway (5.1); returns the datagram."""
        if not isinstance(gateway, Gateway):
            sid = gateway if isinstance(gateway, SmgwId) else SmgwId.parse(str(gateway))
            found = self.inventory.gateway(sid)
            if found is None:
                raise ProcessFailed("unknown-gateway", _unknown_gateway(sid))
            gateway = found
        datagram = wakeup.build(gateway.smgw_id, self.pki["gwa_sig"],
                                valid_for=self.timers.wakeup_valid_for, created=self.clock())
        target = self.wakeup_target
        if callable(target):
            outcome = target(gateway.smgw_id.text, datagram)
            if inspect.isawaitable(outcome):
                await outcome
        else:
            address = gateway.wakeup_addr or target
            if address is None:
                raise ProcessFailed(
                    "wake-up-unanswered",
                    Text(f"The GWA knows no wake-up address of gateway {gateway.smgw_id}.",
                         f"Der GWA kennt keine Wake-Up-Adresse von Gateway {gateway.smgw_id}."),
                    hint=Text("Register the gateway with its WAN address.",
                              "Gateway mit seiner WAN-Adresse registrieren."))
            await send_datagram(address, datagram)
        self.wakeups_sent += 1
        self.sent_wakeups.append((gateway.smgw_id.text, datagram))
        return datagram

    # -- processes --------------------------------------------------------------------------------

    def _link(self, smgw_id: SmgwId) -> GatewayLink:
        link = self._links.get(smgw_id)
        if link is None:
            link = self._links[smgw_id] = GatewayLink(smgw_id, hold=self.timers.session_hold)
        if self.faults.repeat_requests:
            link.repeat_requests += self.faults.repeat_requests
            self.faults.repeat_requests = 0
        return link

    def link(self, smgw_id: str | SmgwId) -> GatewayLink:
        """The session state of one gateway (diagnostics)."""
        return self._link(smgw_id if isinstance(smgw_id, SmgwId) else SmgwId.parse(smgw_id))

    async def run_process(
        self,
        smgw_id: str,
        process: str,
        params: dict[str, Any] | None = None,
        progress: Callable[[ProcessProgress], Any] | None = None,
    ) -> ProcessResult:
        """Run ``process`` of the catalogue on gateway ``smgw_id``; never raises for a failure.

        ``progress`` gets :class:`ProcessProgress` reports (it may return an awaitable).
        """
        report = _Reporter(progress)
        spec: ProcessSpec | None = PROCESS_CATALOG.get(process)
        if spec is None:
            return ProcessResult(False, {}, "unknown-process", Text(
                f"The reference GWA has no process '{process}'; known: "
                f"{', '.join(sorted(PROCESS_CATALOG))}.",
                f"Der Referenz-GWA kennt keinen Vorgang '{process}'; bekannt: "
                f"{', '.join(sorted(PROCESS_CATALOG))}."))
        try:
            sid = SmgwId.parse(str(smgw_id))
            typed = spec.validate(params)
        except InvalidValue as err:
            return ProcessResult(False, {}, "invalid-params", _with_field(err))
        gateway = await self.inventory.db.call(self.inventory.gateway, sid)
        if gateway is None:
            return ProcessResult(False, {}, "unknown-gateway", _unknown_gateway(sid))
        run_id = uuid.uuid4()
        await self.inventory.db.call(self.inventory.start_run, run_id, sid.text, process,
                                     _redacted(typed))
        link = self._link(sid)
        link.demand += 1
        released = False
        run = _Run(self, gateway, link, report)
        try:
            async with link.lock:
                link.observers.append(run.on_link)
                try:
                    data = await asyncio.wait_for(spec.run(run, typed),
                                                  self.timers.process_timeout)
                finally:
                    link.demand -= 1
                    released = True
                    link.notify()
                    await run.session_end(1.0)
                    link.observers.remove(run.on_link)
            result = ProcessResult(True, data, response=_last(run.responses),
                                   responses=tuple(run.responses))
        except ProcessFailed as failed:
            message = failed.message if failed.hint is None else Text(
                f"{failed.message.en} {failed.hint.en}", f"{failed.message.de} {failed.hint.de}")
            result = ProcessResult(False, dict(failed.data), failed.code, message,
                                   failed.response or _last(run.responses), tuple(run.responses))
        except InvalidValue as err:
            result = ProcessResult(False, {}, "invalid-params", _with_field(err),
                                   _last(run.responses), tuple(run.responses))
        except TimeoutError:
            result = ProcessResult(False, {}, "timeout", Text(
                f"The process {process} did not finish within {self.timers.process_timeout:g} s.",
                f"Der Vorgang {process} wurde nicht innerhalb von "
                f"{self.timers.process_timeout:g} s fertig."), _last(run.responses),
                tuple(run.responses))
        except SmgwctError as err:
            result = ProcessResult(False, {}, "gwa-error", err.message, _last(run.responses),
                                   tuple(run.responses))
        finally:
            if not released:
                link.demand -= 1
                link.notify()
        summary = {"ok": result.ok, "data": result.data, "error_code": result.error_code,
                   "error": None if result.error is None else result.error.en}
        with contextlib.suppress(SmgwctError):
            await self.inventory.db.call(self.inventory.finish_run, run_id,
                                         "succeeded" if result.ok else "failed", summary)
        if report.pending:
            await asyncio.gather(*report.pending, return_exceptions=True)
        return result

    async def _learn(self, gateway: Gateway, op: Operation, response: Response) -> None:
        """Keep the inventory's view of the gateway's profiles in step with its answers."""
        inv = self.inventory
        sid = gateway.smgw_id
        result = response.result
        if isinstance(op, CreateProfile | UpdateProfile | ReadProfile) and response.ok and (
            result is not None and hasattr(result, "revision")
        ):
            await inv.db.call(inv.put_profile, sid, result, to_xml(result))
        elif isinstance(op, DeleteProfile | ReadProfile) and (
            response.ok or response.reason is Reason.UNKNOWN_PROFILE
        ):
            ref = op.ref
            await inv.db.call(inv.delete_profile, sid, ref.kind.value, ref.id.text)
        elif isinstance(op, CallMethod) and isinstance(result, DeviceInfo):
            await inv.db.call(inv.touch, sid, operating_state=result.operating_state.value)


def _last(responses: list[Response]) -> Response | None:
    return responses[-1] if responses else None


def _unknown_gateway(sid: SmgwId) -> Text:
    return Text(f"The GWA does not administer gateway {sid}; check the SMGW ID.",
                f"Der GWA administriert Gateway {sid} nicht; SMGW-ID prüfen.")


def _with_field(err: InvalidValue) -> Text:
    if not err.field:
        return err.message
    return Text(f"{err.field}: {err.message.en}", f"{err.field}: {err.message.de}")


def _redacted(params: dict[str, Any]) -> dict[str, Any]:
    """Parameters as stored with the run: text only, key material removed."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        if value is None:
            continue
        if key in ("initial_key", "call", "operation"):
            out[key] = "(redacted)" if key == "initial_key" else type(value).__name__
        elif isinstance(value, str | int | float | bool):
            out[key] = value
        else:
            out[key] = str(getattr(value, "text", None) or getattr(value, "display", None)
                           or type(value).__name__)
    return out


__all__ = ["DEFAULT_PROFILE_ID", "GwaFaults", "GwaTimers", "ReferenceGwa", "WakeupTarget"]
