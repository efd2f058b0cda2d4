"""Start the virtual SMGW's HAN server (HTTPS with the HAN TLS profile) on a local address.

:meth:`HanServerHandle.pause` takes the server away like a restarting gateway: the listening port
is closed (a client's connection attempt is refused), open connections end, and after the given
time of the gateway clock it listens on the same port again.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from app.errors import ConfigurationError, Text
from app.security.pki import DemoPki
from app.security.tls import CertificateChain, Interface, fingerprint, server_context
from app.sim.server_handle import ServerHandle, start_tls_site
from app.sim.smgw.han_common import RESTART
from app.sim.smgw.han_emh import EmhHanServer
from app.sim.smgw.han_ppc import PpcHanServer
from app.sim.smgw.han_theben import ThebenHanServer
from app.sim.smgw.state import GatewayCertificate, SmgwState
from app.transports.han.pinning import certificate_group, to_pem

log = logging.getLogger(__name__)

#: How often (real seconds) a paused server looks at the gateway clock.
PAUSE_POLL_SECONDS = 0.02

#: HAN dialects by name: a factory making the aiohttp application for a gateway state.
DIALECTS: dict[str, Callable[[SmgwState], web.Application]] = {
    "theben": lambda state: ThebenHanServer(state).application(),
    "ppc": lambda state: PpcHanServer(state).application(),
    "emh": lambda state: EmhHanServer(state).application(),
}


@dataclass
class HanServerHandle:
    """A running HAN server of the virtual SMGW."""

    state: SmgwState
    dialect: str
    handle: ServerHandle
    #: the TLS context the port is served with (to listen again after :meth:`pause`)
    ssl_context: ssl.SSLContext | None = field(default=None, repr=False)
    _paused_until: dt.datetime | None = field(default=None, init=False, repr=False)
    _resume_task: asyncio.Task[None] | None = field(default=None, init=False, repr=False)
    _serving: asyncio.Event = field(default_factory=asyncio.Event, init=False, repr=False)

    def __post_init__(self) -> None:
        self._serving.set()

    @property
    def host(self) -> str:
        return self.handle.host

    @property
    def port(self) -> int:
        return self.handle.port

    @property
    def url(self) -> str:
        return self.handle.url

    @property
    def certificate_sha256(self) -> str:
        return self.handle.certificate_sha256

    @property
    def role(self) -> str:
        return self.handle.role

    @property
    def protocol(self) -> str:
        return self.handle.protocol

    def describe(self) -> dict[str, str | int]:
        """role, host, port, protocol, certificate SHA-256 (as every simulator handle)."""
        return self.handle.describe()

    @property
    def paused(self) -> bool:
        """Whether the server is away (after :meth:`pause`, until it listens again)."""
        return not self._serving.is_set()

    async def pause(self, seconds: float, on_resume: Callable[[], None] | None = None) -> None:
        """Go away like a restarting gateway for ``seconds`` of the gateway clock: close the
        listening port (new connections are refused) and the open connections, then listen on
        the same port again and call ``on_resume``. A pause during a pause extends it."""
        until = self.state.clock.now() + dt.timedelta(seconds=max(0.0, seconds))
        if self._paused_until is not None:
            self._paused_until = max(self._paused_until, until)
            return
        if self.ssl_context is None:
            raise RuntimeError("the HAN server handle has no TLS context to listen again with")
        self._paused_until = until
        self._serving.clear()
        runner = self.handle.runner
        for site in list(runner.sites):
            await site.stop()
        if runner.server is not None:
            for connection in runner.server.connections:
                connection.force_close()
        self._resume_task = asyncio.get_running_loop().create_task(self._resume(on_resume))

    async def _resume(self, on_resume: Callable[[], None] | None) -> None:
        while self._paused_until is not None and self.state.clock.now() < self._paused_until:
            left = (self._paused_until - self.state.clock.now()).total_seconds()
            await asyncio.sleep(min(left, PAUSE_POLL_SECONDS))
        # connections the server closed linger in TIME_WAIT on this port; on POSIX systems
        # SO_REUSEADDR lets the port be bound again (on Windows it would allow port sharing)
        site = web.TCPSite(self.handle.runner, self.host, self.port,
                           ssl_context=self.ssl_context, reuse_address=os.name == "posix")
        try:
            await site.start()
        except OSError:
            log.exception("virtual SMGW: cannot listen on %s:%s again after the restart",
                          self.host, self.port)
            return
        self._paused_until = None
        self._serving.set()
        if on_resume is not None:
            on_resume()

    async def wait_serving(self) -> None:
        """Return once the server listens (at once unless it is paused)."""
        await self._serving.wait()

    async def close(self) -> None:
        task, self._resume_task = self._resume_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.handle.close()


async def start_han_server(
    state: SmgwState,
    pki_or_chain: DemoPki | CertificateChain,
    host: str = "127.0.0.1",
    port: int = 0,
    dialect: str = "theben",
    *,
    client_trust: Sequence[bytes] | None = None,
) -> HanServerHandle:
    """Serve ``state`` at ``host:port`` (0: a free port) in ``dialect`` over HTTPS.

    ``pki_or_chain``: the demo PKI (written to a directory; its ``han`` certificate is used and
    its root is trusted for client certificates) or the HAN certificate chain itself.
    ``client_trust``: CA or self-signed client certificates (PEM) accepted for mutual TLS.
    """
    factory = DIALECTS.get(dialect)
    if factory is None:
        raise ConfigurationError(
            Text(f"The virtual SMGW does not speak the HAN dialect '{dialect}' (available: "
                 f"{', '.join(sorted(DIALECTS))}).",
                 f"Das virtuelle SMGW spricht den HAN-Dialekt '{dialect}' nicht (verfügbar: "
                 f"{', '.join(sorted(DIALECTS))})."),
            field="dialect",
        )
    if isinstance(pki_or_chain, DemoPki):
        chain = pki_or_chain.tls_chain("han")
        trust = list(client_trust) if client_trust is not None else [pki_or_chain.trust_pem()]
    else:
        chain = pki_or_chain
        trust = list(client_trust or [])
    pem = to_pem(chain.certfile.read_bytes())
    if state.certificate("han_tls") is None:
        state.certificates.insert(0, GatewayCertificate("han_tls", pem))
    context = server_context(
        Interface.HAN, own=chain, client_trust=trust or None,
        client_cert="optional" if trust else "none", group=certificate_group(pem),
    )
    der = x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)
    app = factory(state)
    handle = await start_tls_site(
        app, role="virtual SMGW (HAN)", host=host, port=port, ssl_context=context,
        protocol=f"han-{dialect}", certificate_sha256=fingerprint(der),
    )
    han = HanServerHandle(state, dialect, handle, context)
    restart = app.get(RESTART)
    if restart is not None:
        restart.pause = han.pause
    return han
