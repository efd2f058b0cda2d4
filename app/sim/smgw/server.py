"""Start the virtual SMGW's HAN server (HTTPS with the HAN TLS profile) on a local address."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from app.errors import ConfigurationError, Text
from app.security.pki import DemoPki
from app.security.tls import CertificateChain, Interface, fingerprint, server_context
from app.sim.server_handle import ServerHandle, start_tls_site
from app.sim.smgw.han_emh import EmhHanServer
from app.sim.smgw.han_ppc import PpcHanServer
from app.sim.smgw.han_theben import ThebenHanServer
from app.sim.smgw.state import GatewayCertificate, SmgwState
from app.transports.han.pinning import certificate_group, to_pem

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

    async def close(self) -> None:
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
    handle = await start_tls_site(
        factory(state), role="virtual SMGW (HAN)", host=host, port=port, ssl_context=context,
        protocol=f"han-{dialect}", certificate_sha256=fingerprint(der),
    )
    return HanServerHandle(state, dialect, handle)
