"""The GWA link (GWA-Anbindung): the tool's client of the GWA's technician API (§3.2).

Every call goes over mutual TLS (WAN profile; the context comes from :mod:`app.security.tls`)
with a timeout. :meth:`GwaLink.run` posts a process request with a fresh idempotency key, follows
the job's progress events (server-sent events, long-poll as fallback), reconnects after a dropped
connection and resumes after the last event it saw, and returns the job's final result. When the
GWA cannot be reached, the request can go to the offline queue (:mod:`app.store.gwa_queue`) and is
sent later by :meth:`GwaLink.flush` with the same key, so nothing ever runs twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import re
import ssl
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp

from app.context import AppContext, GwaTarget, Link, LinkState
from app.domain import SmgwId
from app.errors import ConfigurationError, InvalidValue, Text
from app.protocols.admin import (
    Event,
    EventReport,
    JobEvent,
    JobEvents,
    JobState,
    JobStatus,
    ProcessRequest,
    from_xml,
    to_xml,
)
from app.security import tls
from app.store.gwa_queue import GwaQueue, QueueEntry
from app.transports.body import BodyTooLarge, read_body
from app.transports.gwa import processes as names
from app.transports.gwa import sse
from app.transports.gwa.errors import (
    GwaLinkError,
    dropped_error,
    http_error,
    map_exception,
    protocol_error,
)
from app.transports.gwa.problem import MEDIA_TYPE as PROBLEM_TYPE
from app.transports.gwa.problem import decode_problem
from app.transports.gwa.results import (
    FlushReport,
    GatewayEvent,
    GwaStatus,
    JobResult,
    ProcessInfo,
    Queued,
)

log = logging.getLogger(__name__)

API_PREFIX = "/tech/v1"
XML_TYPE = "application/xml"
CURSORS_HEADER = "GWA-Cursors"
MAX_BODY = 4 * 1024 * 1024

Progress = Callable[[JobEvent], Awaitable[None] | None]


@dataclass
class _Submitted:
    job_url: str
    status: JobStatus
    replayed: bool


@dataclass
class _Follow:
    events: list[JobEvent] = field(default_factory=list)
    last: int = 0
    done: bool = False


class _PinningConnector(aiohttp.TCPConnector):
    """Checks every connection's peer certificate against the pin and records its fingerprint."""

    def __init__(self, link: GwaLink, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._link = link

    async def connect(self, req: Any, traces: Any, timeout: Any) -> Any:
        conn = await super().connect(req, traces, timeout)
        transport = conn.transport
        ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
        try:
            if ssl_object is None:
                raise protocol_error(self._link.base_url, "not over TLS.", "nicht über TLS.")
            self._link.peer_sha256 = tls.check_pin(ssl_object, self._link.target.pin_sha256)
        except BaseException:
            conn.close()
            raise
        return conn


class _NotAStream(Exception):
    """The events URL did not answer with text/event-stream."""


async def _call(progress: Callable[[Any], Any] | None, value: Any) -> None:
    if progress is None:
        return
    result = progress(value)
    if inspect.isawaitable(result):
        await result


class GwaLink:
    """Client of one GWA's technician API; use as ``async with GwaLink(...) as link``."""

    def __init__(
        self,
        target: GwaTarget,
        *,
        queue_path: Path | None = None,
        context: AppContext | None = None,
        timeout: float = 30.0,
        connect_timeout: float = 10.0,
        stream_idle_timeout: float = 45.0,
        long_poll_wait: float = 25.0,
        reconnect_for: float = 120.0,
        follow_mode: str = "sse",
        submit_attempts: int = 3,
        backoff: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 4.0),
    ) -> None:
        if follow_mode not in ("sse", "long-poll"):
            raise ValueError("follow_mode must be 'sse' or 'long-poll'")
        parts = urlsplit(target.base_url.strip())
        if parts.scheme != "https" or not parts.hostname:
            raise InvalidValue(
                Text(f"The GWA address must be an https:// URL, not '{target.base_url}'.",
                     f"Die GWA-Adresse muss eine https://-URL sein, nicht '{target.base_url}'."),
                field="gwa_url",
            )
        self.target = target
        self.base_url = target.base_url.strip().rstrip("/")
        self.context = context
        self.queue_path = queue_path
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.stream_idle_timeout = stream_idle_timeout
        self.long_poll_wait = long_poll_wait
        self.reconnect_for = reconnect_for
        self.follow_mode = follow_mode
        self.submit_attempts = max(1, submit_attempts)
        self.backoff = backoff or (0.5,)
        self._session: aiohttp.ClientSession | None = None
        self._ssl: ssl.SSLContext | None = None
        self._queue: GwaQueue | None = None
        self._origin = (parts.scheme, parts.hostname, parts.port or 443)
        self.peer_sha256: str | None = None
        self._pending = 0

    # -- lifecycle ------------------------------------------------------------------------------

    async def __aenter__(self) -> GwaLink:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()
        queue, self._queue = self._queue, None
        if queue is not None:
            await asyncio.to_thread(queue.close)

    def _ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            if self.target.client is None:
                raise ConfigurationError(
                    Text("No technician certificate is configured for the GWA link.",
                         "Für die GWA-Anbindung ist kein Techniker-Zertifikat eingerichtet."),
                    field="gwa_certificate",
                    hint=Text("Import your technician certificate (PEM or PKCS#12).",
                              "Importieren Sie Ihr Techniker-Zertifikat (PEM oder PKCS#12)."),
                )
            try:
                self._ssl = tls.client_context(
                    tls.Interface.WAN, trust=[self.target.trust_pem], own=self.target.client,
                    group=self.target.tls_group,
                )
            except (ssl.SSLError, OSError) as exc:
                raise ConfigurationError(
                    Text(f"The technician certificate or the CA cannot be loaded ({exc}).",
                         f"Techniker-Zertifikat oder CA lassen sich nicht laden ({exc})."),
                    field="gwa_certificate",
                    hint=Text("Check the files and the key password.",
                              "Prüfen Sie die Dateien und das Schlüsselpasswort."),
                ) from None
        return self._ssl

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = _PinningConnector(self, ssl=self._ssl_context(), limit=8)
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=self.timeout, connect=self.connect_timeout),
                headers={"User-Agent": "smgwct-gwa-link"},
            )
        return self._session

    async def queue(self) -> GwaQueue:
        """The offline queue file (opened on first use)."""
        if self._queue is None:
            if self.queue_path is None:
                raise ConfigurationError(
                    Text("No offline queue is configured for the GWA link.",
                         "Für die GWA-Anbindung ist keine Offline-Warteschlange eingerichtet."),
                    field="queue_path",
                )
            self._queue = await asyncio.to_thread(GwaQueue, self.queue_path)
        return self._queue

    async def _refresh_pending(self) -> None:
        if self.queue_path is None or self.context is None:
            return
        try:
            queue = await self.queue()
            self._pending = await queue.db.call(queue.count_pending, self.base_url)
        except Exception:  # the link state must never fail a request
            log.warning("GWA link: the offline queue cannot be read", exc_info=True)

    # -- link state -----------------------------------------------------------------------------

    def _connected(self, name: str | None = None) -> None:
        if self.context is None:
            return
        pending = self._pending
        self.context.extras["gwa_queue_pending"] = pending or 0
        current = self.context.link(Link.GWA)
        changes: dict[str, Any] = {}
        if current.state is not LinkState.CONNECTED or current.last_error is not None:
            changes["state"] = LinkState.CONNECTED
        if self.peer_sha256 and current.fingerprint != self.peer_sha256:
            changes["fingerprint"] = self.peer_sha256
        peer = name or current.peer or self.base_url
        if current.peer != peer:
            changes["peer"] = peer
        if pending:
            changes["last_error"] = Text(
                f"{pending} queued request(s) not sent yet.",
                f"{pending} vorgemerkte Anfrage(n) noch nicht gesendet.")
        elif current.last_error is not None:
            changes["last_error"] = None
        if changes:
            changes.setdefault("state", LinkState.CONNECTED)
            self.context.update_link(Link.GWA, **changes)

    def _failed(self, error: GwaLinkError | Text) -> None:
        if self.context is None:
            return
        text = error.message if isinstance(error, GwaLinkError) else error
        pending = self._pending
        self.context.extras["gwa_queue_pending"] = pending or 0
        if pending:
            text = Text(f"{text.en} {pending} request(s) queued.",
                        f"{text.de} {pending} Anfrage(n) vorgemerkt.")
        self.context.update_link(Link.GWA, state=LinkState.FAILED, last_error=text,
                                 peer=self.context.link(Link.GWA).peer or self.base_url)

    def _connecting(self) -> None:
        if self.context is not None:
            self.context.update_link(Link.GWA, state=LinkState.CONNECTING,
                                     peer=self.context.link(Link.GWA).peer or self.base_url)

    # -- HTTP -----------------------------------------------------------------------------------

    def _url(self, path_or_url: str) -> str:
        url = urljoin(self.base_url + "/", path_or_url)
        parts = urlsplit(url)
        if (parts.scheme, parts.hostname, parts.port or 443) != self._origin:
            raise protocol_error(self.base_url, f"it pointed to another server ({url}).",
                                 f"er verwies auf einen anderen Server ({url}).")
        return url

    async def _raise_for(self, url: str, resp: aiohttp.ClientResponse) -> None:
        raw = await read_body(resp, 64 * 1024, truncate=True)
        problem = None
        if resp.content_type == PROBLEM_TYPE:
            try:
                problem = decode_problem(raw)
            except InvalidValue:
                problem = None
        raise http_error(url, resp.status, problem, resp.reason or "")

    async def _request(
        self, method: str, path: str, *, body: bytes | None = None,
        headers: Mapping[str, str] | None = None, ok: tuple[int, ...] = (200,),
        timeout: float | None = None,
    ) -> tuple[int, Mapping[str, str], bytes, str]:
        """One request; returns (status, headers, body, content type) for a status in ``ok``."""
        url = self._url(path)
        limit = timeout or self.timeout
        try:
            async with self._client().request(
                method, url, data=body, headers=dict(headers or {}), allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=limit, connect=self.connect_timeout),
            ) as resp:
                if resp.status not in ok:
                    await self._raise_for(url, resp)
                try:
                    raw = await read_body(resp, MAX_BODY)
                except BodyTooLarge:
                    raise protocol_error(url, "the answer is too large.",
                                         "die Antwort ist zu groß.") from None
                return resp.status, resp.headers, raw, resp.content_type
        except GwaLinkError:
            raise
        except tls.TlsError:
            raise
        except (aiohttp.ClientError, OSError, TimeoutError, ssl.SSLError) as exc:
            raise map_exception(url, exc, limit) from None

    def _decode(self, url: str, raw: bytes, content_type: str, expect: type) -> Any:
        if content_type not in (XML_TYPE, "text/xml"):
            raise protocol_error(url, f"{content_type or 'no content type'} instead of XML.",
                                 f"{content_type or 'ohne Inhaltstyp'} statt XML.")
        return from_xml(raw, expect=expect, field=f"GWA answer ({url})")

    async def _get_json(self, path: str) -> Any:
        import json

        _status, _h, raw, ctype = await self._request("GET", path)
        if ctype != "application/json":
            raise protocol_error(self._url(path), f"{ctype or 'no content type'} instead of "
                                 "JSON.", f"{ctype or 'ohne Inhaltstyp'} statt JSON.")
        try:
            return json.loads(raw)
        except (ValueError, RecursionError):
            raise protocol_error(self._url(path), "the JSON is broken.",
                                 "das JSON ist fehlerhaft.") from None

    async def _tracked(self, coro: Awaitable[Any]) -> Any:
        """Run a request and reflect its outcome in the connection panel."""
        try:
            result = await coro
        except GwaLinkError as exc:
            await self._refresh_pending()
            self._failed(exc)
            raise
        except tls.TlsError as exc:
            self._failed(exc.message)
            raise
        await self._refresh_pending()
        self._connected()
        return result

    # -- service documents ----------------------------------------------------------------------

    async def status(self) -> GwaStatus:
        """Who the GWA is and which technician certificate it saw (proves mutual TLS)."""
        self._connecting()
        body = await self._tracked(self._get_json(f"{API_PREFIX}/status"))
        if not isinstance(body, dict) or "gwa" not in body:
            error = protocol_error(self.base_url, "no GWA status.", "kein GWA-Status.")
            self._failed(error)
            raise error
        status = GwaStatus(
            name=str(body["gwa"]), version=str(body.get("version", "")),
            time=str(body.get("time", "")),
            technician_sha256=str(body.get("technician_sha256", "")),
            gwa_sha256=self.peer_sha256 or "",
            processes_available=bool(body.get("processes_available", True)), raw=body,
        )
        self._connected(status.name)
        return status

    async def catalog(self) -> list[ProcessInfo]:
        """The processes the GWA offers."""
        body = await self._tracked(self._get_json(f"{API_PREFIX}/processes"))
        out: list[ProcessInfo] = []
        for item in (body or {}).get("processes", []) if isinstance(body, dict) else []:
            title = item.get("title") or {}
            name = str(item.get("name", ""))
            out.append(ProcessInfo(
                name=name,
                title=Text(str(title.get("en", name)), str(title.get("de", name))),
                available=bool(item.get("available", False)),
                params=tuple(str(p) for p in item.get("api_params", [])),
                chapter=item.get("chapter"),
            ))
        return out

    # -- processes ------------------------------------------------------------------------------

    async def run(
        self,
        process: str,
        smgw_id: str | SmgwId,
        params: Mapping[str, Any] | None = None,
        *,
        progress: Progress | None = None,
        queue_if_offline: bool = False,
        work_order: str | None = None,
        idempotency_key: uuid.UUID | None = None,
        follow: bool = True,
    ) -> JobResult | Queued:
        """Run ``process`` on gateway ``smgw_id`` through the GWA and return the final result.

        ``progress`` is called (and awaited, if it is a coroutine function) with every progress
        event exactly once and in order, also across reconnects. With ``queue_if_offline`` an
        unreachable GWA gives a :class:`Queued` result instead of an error.
        """
        smgw = smgw_id if isinstance(smgw_id, SmgwId) else SmgwId.parse(str(smgw_id))
        operation = names.build_operation(process, params)
        request = ProcessRequest(idempotency_key or uuid.uuid4(), smgw, operation, work_order)
        body = await asyncio.to_thread(to_xml, request)
        self._connecting()
        try:
            submitted = await self._tracked(self._submit(body, request.idempotency_key))
        except GwaLinkError as exc:
            if not (queue_if_offline and exc.offline):
                raise
            return await self._enqueue(request, process, body, exc)
        if not follow:
            return JobResult(process, submitted.job_url, submitted.status,
                             replayed=submitted.replayed)
        return await self._follow(process, submitted, progress)

    async def _enqueue(self, request: ProcessRequest, process: str, body: bytes,
                       cause: GwaLinkError) -> Queued:
        if names.carries_secret(request.operation):
            raise GwaLinkError(
                "queue",
                Text(f"{cause.message.en} A pairing carries the meter's key M and is therefore "
                     "not stored offline.",
                     f"{cause.message.de} Ein Pairing enthält den Schlüssel M des Zählers und "
                     "wird deshalb nicht offline gespeichert."),
                Text("Start the pairing again when the GWA is reachable.",
                     "Starten Sie das Pairing erneut, wenn der GWA erreichbar ist."),
            ) from cause
        queue = await self.queue()
        await queue.db.call(queue.add, self.base_url, request.idempotency_key, process,
                            str(request.smgw_id), body, cause.message)
        pending = await queue.db.call(queue.count_pending, self.base_url)
        self._pending = pending
        self._failed(cause)
        return Queued(process, str(request.smgw_id), request.idempotency_key, cause.message,
                      pending)

    async def _submit(self, body: bytes, key: uuid.UUID) -> _Submitted:
        """POST the request; retry with the same key while the answer may have been lost."""
        url = f"{API_PREFIX}/processes"
        headers = {"Content-Type": XML_TYPE, "Accept": XML_TYPE, "Idempotency-Key": str(key)}
        for attempt in range(self.submit_attempts):
            try:
                status, resp_headers, raw, ctype = await self._request(
                    "POST", url, body=body, headers=headers, ok=(200, 202))
            except GwaLinkError as exc:
                retry = exc.offline or exc.transient
                if not retry or attempt + 1 >= self.submit_attempts:
                    raise
                log.info("GWA link: %s; retrying with the same idempotency key", exc.kind)
                await asyncio.sleep(self.backoff[min(attempt, len(self.backoff) - 1)])
                continue
            location = resp_headers.get("Location")
            if not location:
                raise protocol_error(self._url(url), "202 without a job URL (Location).",
                                     "202 ohne Auftrags-URL (Location).")
            job_status = self._decode(self._url(url), raw, ctype, JobStatus)
            if job_status.idempotency_key != key:
                raise protocol_error(self._url(url), "the job belongs to another request.",
                                     "der Auftrag gehört zu einer anderen Anfrage.")
            replayed = status == 200 or resp_headers.get("Idempotent-Replayed") == "true"
            return _Submitted(self._url(location), job_status, replayed)
        raise AssertionError("unreachable")  # pragma: no cover

    async def job_status(self, job_url: str) -> JobStatus:
        _s, _h, raw, ctype = await self._request("GET", job_url)
        return self._decode(job_url, raw, ctype, JobStatus)

    async def _follow(self, process: str, submitted: _Submitted,
                      progress: Progress | None) -> JobResult:
        state = _Follow()
        mode = self.follow_mode
        loop = asyncio.get_running_loop()
        drop_since: float | None = None
        failures = 0
        while not state.done:
            try:
                seen = state.last
                if mode == "sse":
                    await self._follow_stream(submitted.job_url, state, progress)
                else:
                    await self._follow_poll(submitted.job_url, state, progress)
                if state.last > seen:
                    drop_since, failures = None, 0
                self._connected()
                if state.done:
                    break
                # the stream ended before the job did: reconnect after a short pause
                drop_since = drop_since if drop_since is not None else loop.time()
                if loop.time() - drop_since > self.reconnect_for:
                    raise dropped_error(submitted.job_url)
                await asyncio.sleep(self.backoff[0])
                continue
            except _NotAStream:
                log.info("GWA link: no event stream at %s, falling back to long-poll",
                         submitted.job_url)
                mode = "long-poll"
            except GwaLinkError as exc:
                if not exc.offline:
                    self._failed(exc)
                    raise
                now = loop.time()
                drop_since = drop_since if drop_since is not None else now
                if now - drop_since > self.reconnect_for:
                    self._failed(exc)
                    raise
                self._connecting()
                await asyncio.sleep(self.backoff[min(failures, len(self.backoff) - 1)])
                failures += 1
        final = await self._with_reconnect(lambda: self.job_status(submitted.job_url))
        self._connected()
        return JobResult(process, submitted.job_url, final, tuple(state.events),
                         submitted.replayed)

    async def _with_reconnect(self, call: Callable[[], Awaitable[Any]]) -> Any:
        loop = asyncio.get_running_loop()
        start = loop.time()
        failures = 0
        while True:
            try:
                return await call()
            except GwaLinkError as exc:
                if not exc.offline or loop.time() - start > self.reconnect_for:
                    self._failed(exc)
                    raise
                await asyncio.sleep(self.backoff[min(failures, len(self.backoff) - 1)])
                failures += 1

    async def _deliver(self, state: _Follow, event: JobEvent, progress: Progress | None) -> None:
        if event.sequence <= state.last:
            return  # seen before a reconnect
        state.events.append(event)
        state.last = event.sequence
        if JobState(event.state).final:
            state.done = True
        await _call(progress, event)

    async def _follow_stream(self, job_url: str, state: _Follow,
                             progress: Progress | None) -> None:
        url = self._url(job_url + "/events")
        headers = {"Accept": sse.MEDIA_TYPE, "Cache-Control": "no-cache"}
        if state.last:
            headers["Last-Event-ID"] = str(state.last)
        async with contextlib.aclosing(self._stream(url, headers)) as items:
            async for item in items:
                if item.event != "jobEvent":
                    continue
                event = from_xml(item.data.encode("utf-8"), expect=JobEvent, field="jobEvent")
                await self._deliver(state, event, progress)
                if state.done:
                    return

    async def _stream(self, url: str, headers: Mapping[str, str]) -> AsyncIterator[sse.SseEvent]:
        timeout = aiohttp.ClientTimeout(total=None, connect=self.connect_timeout,
                                        sock_read=self.stream_idle_timeout)
        try:
            async with self._client().get(url, headers=dict(headers), timeout=timeout,
                                          allow_redirects=False) as resp:
                if resp.status != 200:
                    if resp.status in (406, 415):
                        raise _NotAStream()
                    await self._raise_for(url, resp)
                if resp.content_type != sse.MEDIA_TYPE:
                    raise _NotAStream()
                self._connected()
                parser = sse.SseParser()
                async for chunk in resp.content.iter_any():
                    try:
                        items = parser.feed(chunk)
                    except sse.SseError as exc:
                        raise protocol_error(url, str(exc), str(exc)) from None
                    for item in items:
                        yield item
        except (GwaLinkError, _NotAStream, tls.TlsError, InvalidValue):
            raise
        except (aiohttp.ClientError, OSError, TimeoutError, ssl.SSLError) as exc:
            raise map_exception(url, exc, self.stream_idle_timeout) from None

    async def _follow_poll(self, job_url: str, state: _Follow,
                           progress: Progress | None) -> None:
        url = job_url + "/events"
        while not state.done:
            _s, _h, raw, ctype = await self._request(
                "GET", f"{url}?after={state.last}&wait={self.long_poll_wait:g}",
                headers={"Accept": XML_TYPE}, timeout=self.long_poll_wait + self.timeout)
            batch = self._decode(url, raw, ctype, JobEvents)
            for event in batch.events:
                await self._deliver(state, event, progress)
            if not batch.events:
                status = await self.job_status(job_url)
                if JobState(status.state).final and status.last_event <= state.last:
                    state.done = True

    # -- gateway events -------------------------------------------------------------------------

    async def events(
        self, smgw_id: str | SmgwId, *, follow: bool = True, after: int = 0,
    ) -> AsyncIterator[GatewayEvent]:
        """The events the GWA stored for a gateway, oldest first; with ``follow`` it keeps
        waiting for new ones (reconnecting after drops) until the caller stops iterating."""
        smgw = smgw_id if isinstance(smgw_id, SmgwId) else SmgwId.parse(str(smgw_id))
        path = f"{API_PREFIX}/gateways/{smgw}/events"
        cursor = after
        if not follow:
            while True:
                batch = await self._tracked(self._poll_gateway(path, cursor, 0.0))
                if not batch:
                    return
                for item in batch:
                    cursor = item.cursor
                    yield item
        loop = asyncio.get_running_loop()
        mode = self.follow_mode
        drop_since: float | None = None
        failures = 0
        while True:
            try:
                if mode == "sse":
                    headers = {"Accept": sse.MEDIA_TYPE, "Cache-Control": "no-cache"}
                    if cursor:
                        headers["Last-Event-ID"] = str(cursor)
                    stream = self._stream(self._url(path), headers)
                    async with contextlib.aclosing(stream) as items:
                        async for item in items:
                            if item.event != "event" or not _is_count(item.id or ""):
                                continue
                            event = from_xml(item.data.encode("utf-8"), expect=Event,
                                             field="event")
                            cursor = int(item.id or 0)
                            drop_since, failures = None, 0
                            yield GatewayEvent(cursor, event)
                else:
                    batch = await self._poll_gateway(path, cursor, self.long_poll_wait)
                    self._connected()
                    for gateway_event in batch:
                        cursor = gateway_event.cursor
                        yield gateway_event
                    drop_since, failures = None, 0
                    continue
                drop_since = drop_since if drop_since is not None else loop.time()
                await asyncio.sleep(self.backoff[0])
            except _NotAStream:
                mode = "long-poll"
            except GwaLinkError as exc:
                now = loop.time()
                drop_since = drop_since if drop_since is not None else now
                if not exc.offline or now - drop_since > self.reconnect_for:
                    self._failed(exc)
                    raise
                self._connecting()
                await asyncio.sleep(self.backoff[min(failures, len(self.backoff) - 1)])
                failures += 1

    async def _poll_gateway(self, path: str, cursor: int, wait: float) -> list[GatewayEvent]:
        status, headers, raw, ctype = await self._request(
            "GET", f"{path}?after={cursor}&wait={wait:g}", headers={"Accept": XML_TYPE},
            ok=(200, 204), timeout=wait + self.timeout)
        if status == 204:
            return []
        report = self._decode(path, raw, ctype, EventReport)
        cursors = headers.get(CURSORS_HEADER, "").split(",")
        if len(cursors) != len(report.events) or not all(_is_count(c.strip()) for c in cursors):
            raise protocol_error(self._url(path), f"no usable {CURSORS_HEADER} header.",
                                 f"kein verwendbarer {CURSORS_HEADER}-Header.")
        return [GatewayEvent(int(c), e) for c, e in zip(cursors, report.events, strict=True)]

    # -- offline queue --------------------------------------------------------------------------

    async def queued(self) -> list[QueueEntry]:
        """Requests of this GWA still waiting in the offline queue."""
        queue = await self.queue()
        return await queue.db.call(queue.pending, self.base_url)

    async def flush(self, *, follow: bool = True,
                    progress: Callable[[QueueEntry, JobEvent], Any] | None = None,
                    ) -> FlushReport:
        """Send the queued requests of this GWA in order, each with its original key.

        Stops at the first request that cannot reach the GWA (it stays queued). A request the
        GWA refuses is marked rejected with the GWA's reason and not sent again.
        """
        queue = await self.queue()
        entries = await queue.db.call(queue.pending, self.base_url)
        sent: list[JobResult] = []
        rejected: list[tuple[QueueEntry, Text]] = []
        stopped: Text | None = None
        for entry in entries:
            try:
                submitted = await self._tracked(self._submit(entry.body, entry.idempotency_key))
            except GwaLinkError as exc:
                if exc.offline or exc.kind == "server":
                    await queue.db.call(queue.attempt_failed, entry.idempotency_key, exc.message)
                    stopped = exc.message
                    break
                if exc.kind == "http":
                    await queue.db.call(queue.rejected, entry.idempotency_key, exc.message)
                    rejected.append((entry, exc.message))
                    continue
                raise
            await queue.db.call(queue.submitted, entry.idempotency_key, submitted.job_url)
            if follow:
                hook = None if progress is None else (
                    lambda event, _e=entry: progress(_e, event))
                sent.append(await self._follow(entry.process, submitted, hook))
            else:
                sent.append(JobResult(entry.process, submitted.job_url, submitted.status,
                                      replayed=submitted.replayed))
        remaining = await queue.db.call(queue.count_pending, self.base_url)
        self._pending = remaining
        if stopped is not None:
            self._failed(stopped)
        else:
            self._connected()
        return FlushReport(tuple(sent), tuple(rejected), remaining, stopped)


def _is_count(text: str) -> bool:
    """A plain decimal counter as peers send them (ASCII digits only, bounded length)."""
    return re.fullmatch(r"[0-9]{1,18}", text) is not None
