"""A running loopback TLS server of the embedded default (aiohttp runner + site)."""

from __future__ import annotations

import errno
import ssl
from dataclasses import dataclass

from aiohttp import web

from app.errors import ConfigurationError, Text


@dataclass
class ServerHandle:
    """Where a simulator listens and how to stop it."""

    role: str
    host: str
    port: int
    protocol: str
    certificate_sha256: str
    runner: web.AppRunner

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"https://{host}:{self.port}"

    async def close(self) -> None:
        await self.runner.cleanup()

    def describe(self) -> dict[str, str | int]:
        return {
            "role": self.role, "host": self.host, "port": self.port,
            "protocol": self.protocol, "certificate_sha256": self.certificate_sha256,
        }


async def start_tls_site(
    app: web.Application,
    *,
    role: str,
    host: str,
    port: int,
    ssl_context: ssl.SSLContext,
    protocol: str,
    certificate_sha256: str,
) -> ServerHandle:
    """Serve ``app`` over TLS on ``host:port`` (0 = any free port); clear error if taken."""
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, ssl_context=ssl_context, reuse_address=False)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        if exc.errno in (errno.EADDRINUSE, getattr(errno, "WSAEADDRINUSE", -1)):
            raise ConfigurationError(
                Text(
                    f"Port {port} on {host} is already in use, so the {role} cannot start.",
                    f"Port {port} auf {host} ist bereits belegt, daher kann {role} nicht starten.",
                ),
                field="port",
                hint=Text(
                    "Close the other program or choose another port (0 picks a free one).",
                    "Beenden Sie das andere Programm oder wählen Sie einen anderen Port "
                    "(0 wählt einen freien).",
                ),
            ) from exc
        raise ConfigurationError(
            Text(f"The {role} cannot listen on {host}:{port}: {exc.strerror}.",
                 f"{role} kann nicht auf {host}:{port} lauschen: {exc.strerror}."),
            field="host",
        ) from exc
    sockets = site._server.sockets if site._server else []  # noqa: SLF001 - aiohttp exposes no getter
    bound = sockets[0].getsockname()[1] if sockets else port
    return ServerHandle(role, host, bound, protocol, certificate_sha256, runner)
