"""The technician API of the reference GWA (ARCHITECTURE.md §3.2), served with mutual TLS.

Only technicians holding a client certificate of the GWA's PKI get in (WAN TLS profile,
``client_cert="required"``). ``GET /tech/v1/status`` tells who the GWA is and which technician
certificate it saw; the process endpoints are added by the GWA's process module.
"""

from __future__ import annotations

import datetime as dt

from aiohttp import web

from app import __version__
from app.security import tls
from app.security.pki import DemoPki
from app.sim.server_handle import ServerHandle, start_tls_site

API_PREFIX = "/tech/v1"
GWA_NAME = "smgwct reference GWA"
PEER_FINGERPRINT = web.AppKey("peer_fingerprint", str)


@web.middleware
async def _client_identity(request: web.Request, handler):  # type: ignore[no-untyped-def]
    """Record the technician certificate's fingerprint of every request."""
    ssl_object = request.transport.get_extra_info("ssl_object") if request.transport else None
    if ssl_object is None:
        raise web.HTTPForbidden(text="client certificate required")
    request["technician_sha256"] = tls.peer_fingerprint(ssl_object)
    return await handler(request)


async def _status(request: web.Request) -> web.Response:
    body = {
        "gwa": GWA_NAME,
        "version": __version__,
        "time": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "technician_sha256": request["technician_sha256"],
    }
    return web.json_response(body)


def create_app() -> web.Application:
    app = web.Application(middlewares=[_client_identity], client_max_size=1024 * 1024)
    app.router.add_get(f"{API_PREFIX}/status", _status)
    return app


async def start_gwa_server(
    pki: DemoPki, *, host: str = "127.0.0.1", port: int = 0, app: web.Application | None = None
) -> ServerHandle:
    """Start the technician API on ``host:port`` with mutual TLS (WAN profile, brainpool)."""
    context = tls.server_context(
        tls.Interface.WAN,
        own=pki.tls_chain("gwa_tls"),
        client_trust=[pki.trust_pem()],
        client_cert="required",
        group=pki.curve,
    )
    return await start_tls_site(
        app or create_app(), role="reference GWA (technician API)", host=host, port=port,
        ssl_context=context, protocol="https+mtls", certificate_sha256=pki["gwa_tls"].sha256,
    )
