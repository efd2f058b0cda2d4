"""The Theben adapter against a misbehaving gateway: every bad answer becomes a protocol error
(or a timeout) within the call's timeout, never a hang, a crash or a silently wrong result."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from app.security import tls
from app.security.tls import Interface
from app.sim.server_handle import start_tls_site
from app.transports.han.base import HanCredentials
from app.transports.han.errors import HanProtocolError, HanTimeout
from app.transports.han.pinning import PinnedCertificate
from app.transports.han.theben import ThebenAdapter

ENDPOINT = "/smgw/m2m/user.sm/json"
GOOD_INFO = {
    "smgw-id": "ethe0390000001", "smgw-time": "2026-03-02T09:30:00Z", "smgw-state": "a0000000",
    "firmware-info": {"component": "fw", "version": "1", "hash": "00" * 32}, "certificates": {},
}


def _answer(payload: Any) -> bytes:
    return json.dumps({"method": "smgw-info", "smgw-info": payload}).encode()


class Peer:
    """A TLS server with the HAN certificate that answers ``smgw-info`` the way it is told."""

    def __init__(self) -> None:
        self.mode = "good"

    async def root(self, request: web.Request) -> web.StreamResponse:
        location = "https://evil.example/steal" if self.mode == "foreign_redirect" else ENDPOINT
        raise web.HTTPTemporaryRedirect(location)

    async def method(self, request: web.Request) -> web.StreamResponse:
        body = json.loads(await request.read())
        mode = self.mode
        if body["method"] == "log":
            return self.log(body)
        if mode == "good":
            return web.Response(body=_answer(GOOD_INFO), content_type="application/json")
        if mode == "bad_json":
            return web.Response(body=b'{"method": "smgw-info", "smgw-info": {', status=200,
                                content_type="application/json")
        if mode == "html":
            return web.Response(text="<html><body>Wartung</body></html>", content_type="text/html")
        if mode == "wrong_types":
            return web.Response(body=_answer(dict(GOOD_INFO, **{"smgw-id": 12345})),
                                content_type="application/json")
        if mode == "bad_state":
            return web.Response(body=_answer(dict(GOOD_INFO, **{"smgw-state": "zz"})),
                                content_type="application/json")
        if mode == "not_an_object":
            return web.Response(body=_answer(["a", "list"]), content_type="application/json")
        if mode == "missing_field":
            return web.Response(body=json.dumps({"method": "smgw-info"}).encode(),
                                content_type="application/json")
        if mode == "server_error":
            return web.Response(status=500, text="internal")
        if mode == "truncated":
            response = web.StreamResponse(headers={"Content-Type": "application/json"})
            response.content_length = 5000
            await response.prepare(request)
            await response.write(_answer(GOOD_INFO)[:40])
            assert request.transport is not None
            request.transport.close()
            return response
        if mode == "oversized_declared":
            response = web.StreamResponse(headers={"Content-Type": "application/json"})
            response.content_length = 50 * 1024 * 1024
            await response.prepare(request)
            await response.write(b"{")
            await asyncio.sleep(1)
            return response
        if mode == "oversized_streamed":
            response = web.StreamResponse(headers={"Content-Type": "application/json"})
            response.enable_chunked_encoding()
            await response.prepare(request)
            for _ in range(64):
                await response.write(b" " * 32 * 1024)
            await response.write_eof()
            return response
        if mode == "slow_drip":
            body = _answer(GOOD_INFO)
            response = web.StreamResponse(headers={"Content-Type": "application/json"})
            response.content_length = len(body)
            await response.prepare(request)
            for i in range(len(body)):
                await response.write(body[i:i + 1])
                await asyncio.sleep(0.2)
            return response
        raise AssertionError(mode)

    def log(self, body: dict[str, Any]) -> web.Response:
        start = int(body.get("fromindex", 1))
        if self.mode == "log_repeats":
            start = 1  # ignores fromindex: the same page for ever
        entries = [{"index": str(i), "time": "2026-03-02T09:30:00Z", "event-id": "16001",
                    "level": "1", "message": "m"} for i in range(start, start + body["count"])]
        if self.mode == "log_wrong_types":
            entries[7]["index"] = "seven"
        if self.mode == "log_too_many":
            entries.append(dict(entries[-1], index=str(start + body["count"])))
        answer = {"method": "log", "log": {"log-entries": entries}}
        return web.json_response(answer)


@pytest.fixture
async def peer(demo_pki) -> AsyncIterator[tuple[Peer, Any]]:
    behaviour = Peer()
    app = web.Application()
    app.router.add_get("/smgw/m2m", behaviour.root)
    app.router.add_post(ENDPOINT, behaviour.method)
    context = tls.server_context(Interface.HAN, own=demo_pki.tls_chain("han"))
    handle = await start_tls_site(app, role="test peer", host="127.0.0.1", port=0,
                                  ssl_context=context, protocol="test",
                                  certificate_sha256=demo_pki["han"].sha256)
    yield behaviour, handle
    await handle.close()


def _adapter(handle: Any, demo_pki: Any, **kwargs: Any) -> ThebenAdapter:
    return ThebenAdapter(handle.host, handle.port, credentials=HanCredentials("user", "pw"),
                         pin=PinnedCertificate.from_pem(demo_pki["han"].cert_pem), **kwargs)


async def test_well_formed_peer_works(peer, demo_pki) -> None:
    _behaviour, handle = peer
    async with _adapter(handle, demo_pki) as han:
        assert (await han.identify()).smgw_id == "ETHE0390000001"


@pytest.mark.parametrize(
    ("mode", "field"),
    [
        ("bad_json", "smgw-info"),
        ("html", "smgw-info"),
        ("wrong_types", "smgw-info.smgw-id"),
        ("bad_state", "smgw-info.smgw-state"),
        ("not_an_object", "smgw-info"),
        ("missing_field", "smgw-info"),
        ("server_error", "smgw-info"),
        ("truncated", "body"),
        ("oversized_declared", "body"),
        ("oversized_streamed", "body"),
    ],
)
async def test_malformed_answers_are_protocol_errors(peer, demo_pki, mode: str, field: str
                                                     ) -> None:
    behaviour, handle = peer
    async with _adapter(handle, demo_pki, timeout=3.0, max_body_bytes=1024 * 1024) as han:
        behaviour.mode = mode
        started = time.monotonic()
        with pytest.raises(HanProtocolError) as info:
            await han.identify()
        assert time.monotonic() - started < 3.0
    assert info.value.field == field
    assert info.value.describe("de").startswith(f"{field}: Die Antwort des Gateways")


@pytest.mark.parametrize(
    ("mode", "field"),
    [("log_repeats", "log"), ("log_wrong_types", "log[7].index"), ("log_too_many", "log")],
)
async def test_misbehaving_log_paging_is_a_protocol_error(peer, demo_pki, mode: str, field: str
                                                          ) -> None:
    behaviour, handle = peer
    behaviour.mode = mode
    async with _adapter(handle, demo_pki, timeout=5.0) as han:
        with pytest.raises(HanProtocolError) as info:
            await han.logs("consumer", count=4000)
    assert info.value.field == field


async def test_slow_drip_times_out_within_the_call_timeout(peer, demo_pki) -> None:
    behaviour, handle = peer
    async with _adapter(handle, demo_pki) as han:
        behaviour.mode = "slow_drip"
        started = time.monotonic()
        with pytest.raises(HanTimeout) as info:
            await han.identify(timeout=1.0)
        elapsed = time.monotonic() - started
    assert 0.9 < elapsed < 2.0
    assert info.value.operation == "identify"


async def test_redirect_to_another_host_is_refused(peer, demo_pki) -> None:
    behaviour, handle = peer
    behaviour.mode = "foreign_redirect"
    han = _adapter(handle, demo_pki)
    try:
        with pytest.raises(HanProtocolError) as info:
            await han.connect()
    finally:
        await han.close()
    assert info.value.field == "Location"
