"""The reference GWA's channel endpoints: MANAGEMENT, INFO-REPORT, ADMIN-SERVICE (ch. 5.2-5.7).

Each is an aiohttp application served over TLS with the WAN profile and a required client
certificate. Every request first passes the AUTH check (docs/protocol/05-08): the fingerprint of
the gateway's TLS certificate must be in the inventory, else ``403``. Bodies are CMS
(``application/cms``): decrypted with the GWA's ENC key and verified against the gateway's SIG
certificate from the inventory; the answers are signed by the GWA and encrypted for the
gateway's ENC certificate. Outer statuses as in docs/protocol/05-02-channels.md.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from app.domain import SmgwId
from app.processes.micro.channels import (
    CONTENT_PATH,
    CONTENT_TYPE_CMS,
    EVENTS_PATH,
    MAX_BODY_BYTES,
    SESSION_PATH,
    check_content_id,
)
from app.processes.micro.content import ContentKeys, ContentRejected, decode, open_cms, seal_xml
from app.processes.micro.http_range import RangeNotSatisfiable, parse_range
from app.protocols import cms
from app.protocols.admin import (
    EndReason,
    EventAck,
    EventReport,
    SessionEnd,
    SessionRequest,
    SessionResult,
    SessionStart,
    to_xml,
)
from app.security import tls
from app.sim.gwa.inventory import Gateway, Inventory, StoredEvent
from app.sim.gwa.links import GatewayLink

log = logging.getLogger(__name__)

#: The inventory entries of the client certificate, stored on each request by the AUTH check.
GATEWAYS: Any = (web.RequestKey("gateways", list) if hasattr(web, "RequestKey")
                 else "gateways")


@dataclass(frozen=True)
class Content:
    """A piece of ADMIN-SERVICE content: the CMS-signed bytes and their entity tag."""

    content_id: str
    data: bytes
    etag: str

    @property
    def size(self) -> int:
        return len(self.data)


class ContentStore:
    """Content the GWA offers for download (firmware images), signed by its SIG key."""

    def __init__(self, keys: ContentKeys) -> None:
        self._keys = keys
        self._items: dict[str, Content] = {}
        self.bytes_served = 0
        self.requests: list[str | None] = []
        """The ``Range`` header of every GET, in order (for diagnostics and tests)."""

    def publish(self, content_id: str, data: bytes) -> Content:
        """Sign ``data`` (CMS SignedData, content attached) and offer it as ``content_id``."""
        check_content_id(content_id)
        signed = cms.sign(data, self._keys.sig, extra_certs=self._keys.chain)
        item = Content(content_id, signed, f'"{hashlib.sha256(signed).hexdigest()[:32]}"')
        self._items[content_id] = item
        return item

    def get(self, content_id: str) -> Content | None:
        return self._items.get(content_id)


def _text(status: int, text: str, **headers: str) -> web.Response:
    return web.Response(status=status, text=text + "\n", headers=headers)


class GwaChannels:
    """Request handlers of the three channels for one reference GWA."""

    def __init__(
        self,
        *,
        inventory: Inventory,
        keys: ContentKeys,
        link_for: Callable[[SmgwId], GatewayLink],
        on_events: Callable[[list[StoredEvent]], None],
        content: ContentStore,
        management_base: str,
        info_report_base: str,
        admin_service_base: str,
        faults: Any = None,
    ) -> None:
        self.inventory = inventory
        self.keys = keys
        self.link_for = link_for
        self.on_events = on_events
        self.content = content
        self.faults = faults
        """Fault injection for requests (``GwaFaults`` of the core), or None."""
        self.sessions: dict[uuid.UUID, SmgwId] = {}
        self.accepting = True
        self.refused_unknown = 0
        self.refused_content = 0
        self._bases = (management_base, info_report_base, admin_service_base)

    # -- applications -----------------------------------------------------------------------------

    def management_app(self) -> web.Application:
        base = self._bases[0]
        app = self._app()
        app.router.add_post(f"{base}{SESSION_PATH}", self.session_start)
        app.router.add_post(f"{base}{SESSION_PATH}/{{session_id}}", self.session_result)
        return app

    def info_report_app(self) -> web.Application:
        app = self._app()
        app.router.add_post(f"{self._bases[1]}{EVENTS_PATH}", self.event_report)
        return app

    def admin_service_app(self) -> web.Application:
        app = self._app()
        app.router.add_get(f"{self._bases[2]}{CONTENT_PATH}/{{content_id}}", self.get_content)
        return app

    def _app(self) -> web.Application:
        return web.Application(middlewares=[self._auth], client_max_size=MAX_BODY_BYTES)

    @web.middleware
    async def _auth(self, request: web.Request, handler):  # type: ignore[no-untyped-def]
        """AUTH state (5.8): the client certificate must be a gateway of the inventory."""
        if not self.accepting:
            return _text(503, "GWA is shutting down", **{"Retry-After": "60"})
        ssl_object = request.transport.get_extra_info("ssl_object") if request.transport else None
        if ssl_object is None:
            return _text(403, "client certificate required")
        fp = tls.peer_fingerprint(ssl_object)
        gateways = await self.inventory.db.call(self.inventory.by_tls_fingerprint, fp)
        if not gateways:
            self.refused_unknown += 1
            return _text(403, "gateway unknown to this GWA")
        request[GATEWAYS] = gateways
        return await handler(request)

    # -- helpers ----------------------------------------------------------------------------------

    async def _open(self, request: web.Request, gateways: list[Gateway], expect: type
                    ) -> tuple[object, str] | web.Response:
        """Read, decrypt, verify and decode the body; a 400 answer if any of it fails."""
        if request.content_type != CONTENT_TYPE_CMS:
            return _text(400, f"Content-Type must be {CONTENT_TYPE_CMS}")
        body = await request.read()
        try:
            opened = await asyncio.to_thread(
                open_cms, body, self.keys,
                expected_signer_sha256=[g.sig_sha256 for g in gateways])
            doc = decode(opened.xml, expect=expect)
        except ContentRejected as refused:
            self.refused_content += 1
            log.warning("refused %s body: %s", expect.__name__, refused.message.en)
            return _text(400, f"body refused ({refused.kind}): {refused.message.en}")
        return doc, opened.signer_sha256

    async def _sealed(self, doc: object, gateway: Gateway) -> web.Response:
        xml = to_xml(doc)
        keys = self.keys
        faults = self.faults if isinstance(doc, SessionRequest) else None
        if faults is not None and faults.mangle_request_xml is not None:
            xml = faults.mangle_request_xml(xml)
        if faults is not None and faults.sign_requests_with is not None:
            keys = dataclasses.replace(keys, sig=faults.sign_requests_with)
        body = await asyncio.to_thread(seal_xml, xml, keys, gateway.enc_cert)
        if faults is not None and faults.tamper_request_cms is not None:
            body = faults.tamper_request_cms(body)
        return web.Response(body=body, content_type=CONTENT_TYPE_CMS)

    @staticmethod
    def _alive(request: web.Request) -> Callable[[], bool]:
        return lambda: request.transport is not None and not request.transport.is_closing()

    # -- MANAGEMENT -------------------------------------------------------------------------------

    async def session_start(self, request: web.Request) -> web.Response:
        gateways: list[Gateway] = request[GATEWAYS]
        opened = await self._open(request, gateways, SessionStart)
        if isinstance(opened, web.Response):
            return opened
        start, signer = opened
        assert isinstance(start, SessionStart)
        gateway = next((g for g in gateways if g.smgw_id == start.smgw_id
                        and g.sig_sha256 == signer), None)
        if gateway is None:  # a valid certificate, but not of the gateway it claims to be
            self.refused_unknown += 1
            return await self._sealed(SessionEnd(start.session_id, EndReason.NOT_AUTHENTICATED),
                                      gateways[0])
        await self.inventory.db.call(self.inventory.touch, gateway.smgw_id)
        link = self.link_for(gateway.smgw_id)
        if link.session_id is not None:
            self.sessions.pop(link.session_id, None)
        self.sessions[start.session_id] = gateway.smgw_id
        link.on_start(start)
        return await self._next(link, start.session_id, gateway, request)

    async def session_result(self, request: web.Request) -> web.Response:
        gateways: list[Gateway] = request[GATEWAYS]
        try:
            session_id = uuid.UUID(request.match_info["session_id"])
        except ValueError:
            return _text(404, "unknown session")
        smgw_id = self.sessions.get(session_id)
        if smgw_id is None:
            return _text(404, "unknown session")
        gateway = next((g for g in gateways if g.smgw_id == smgw_id), None)
        if gateway is None:
            return _text(403, "session belongs to another gateway")
        opened = await self._open(request, [gateway], SessionResult)
        if isinstance(opened, web.Response):
            return opened
        result = opened[0]
        assert isinstance(result, SessionResult)
        if result.session_id != session_id:
            return _text(400, "sessionId in the body differs from the one in the path")
        link = self.link_for(smgw_id)
        if not link.on_result(session_id, result.response):
            self.sessions.pop(session_id, None)
            return _text(404, "unknown session")
        return await self._next(link, session_id, gateway, request)

    async def _next(self, link: GatewayLink, session_id: uuid.UUID, gateway: Gateway,
                    request: web.Request) -> web.Response:
        doc = await link.next_document(self._alive(request))
        if isinstance(doc, SessionEnd):
            self.sessions.pop(session_id, None)
        else:
            assert isinstance(doc, SessionRequest)
        return await self._sealed(doc, gateway)

    # -- INFO-REPORT ------------------------------------------------------------------------------

    async def event_report(self, request: web.Request) -> web.Response:
        gateways: list[Gateway] = request[GATEWAYS]
        opened = await self._open(request, gateways, EventReport)
        if isinstance(opened, web.Response):
            return opened
        report, signer = opened
        assert isinstance(report, EventReport)
        gateway = next((g for g in gateways if g.smgw_id == report.smgw_id
                        and g.sig_sha256 == signer), None)
        if gateway is None:
            self.refused_unknown += 1
            return _text(403, "events of another gateway")
        rows = [(e, to_xml(e)) for e in report.events]
        new = await self.inventory.db.call(self.inventory.store_events, gateway.smgw_id, rows)
        await self.inventory.db.call(self.inventory.touch, gateway.smgw_id)
        if new:
            self.on_events(new)
        return await self._sealed(EventAck(tuple(e.id for e in report.events)), gateway)

    # -- ADMIN-SERVICE ----------------------------------------------------------------------------

    async def get_content(self, request: web.Request) -> web.StreamResponse:
        content_id = request.match_info["content_id"]
        item = self.content.get(content_id)
        if item is None:
            return _text(404, f"no content {content_id}")
        header = request.headers.get("Range")
        self.content.requests.append(header)
        if_range = request.headers.get("If-Range")
        if if_range is not None and if_range != item.etag:
            header = None  # the content changed: send all of it
        headers = {"Accept-Ranges": "bytes", "ETag": item.etag}
        try:
            rng = parse_range(header, item.size)
        except RangeNotSatisfiable:
            return _text(416, "range not satisfiable",
                         **{"Content-Range": f"bytes */{item.size}"})
        if rng is None:
            self.content.bytes_served += item.size
            return web.Response(body=item.data, content_type=CONTENT_TYPE_CMS, headers=headers)
        headers["Content-Range"] = rng.content_range()
        part = item.data[rng.first: rng.last + 1]
        self.content.bytes_served += len(part)
        return web.Response(status=206, body=part, content_type=CONTENT_TYPE_CMS,
                            headers=headers)
