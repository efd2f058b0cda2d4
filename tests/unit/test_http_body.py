"""Bodies are read completely (not just the first chunk) and never past their cap."""

from __future__ import annotations

import aiohttp
import pytest
from aiohttp import web

from app.transports.body import BodyTooLarge, read_body

BIG = bytes(range(256)) * 4096  # 1 MiB, arrives in many chunks


@pytest.fixture
async def server():
    async def big(_request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        await resp.prepare(_request)
        for i in range(0, len(BIG), 50_000):
            await resp.write(BIG[i:i + 50_000])
        await resp.write_eof()
        return resp

    app = web.Application()
    app.router.add_get("/big", big)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}/big"
    await runner.cleanup()


async def test_whole_body_is_read(server):
    async with aiohttp.ClientSession() as session, session.get(server) as resp:
        assert await read_body(resp, 2 * len(BIG)) == BIG


async def test_cap_is_enforced_without_content_length(server):
    async with aiohttp.ClientSession() as session, session.get(server) as resp:
        assert resp.content_length is None
        with pytest.raises(BodyTooLarge):
            await read_body(resp, len(BIG) - 1)


async def test_truncate_returns_exactly_the_cap(server):
    async with aiohttp.ClientSession() as session, session.get(server) as resp:
        head = await read_body(resp, 70_000, truncate=True)
    assert head == BIG[:70_000]
