"""A single HTTPS request that proves a peer is reachable and says who it is (Erreichbarkeit).

Used by the connection check: it takes a ready ``ssl.SSLContext`` from ``app.security.tls``,
sends one ``GET`` and returns the HTTP status, the peer certificate's fingerprint and, where the
peer answers JSON, the decoded body. Network errors come back as technician-readable errors.
"""

from __future__ import annotations

import json
import ssl
from dataclasses import dataclass
from typing import Any

import aiohttp

from app.errors import SmgwctError, Text
from app.security import tls
from app.transports.body import BodyTooLarge, read_body
from app.transports.peer_response import PeerAwareResponse, peer_ssl_object

MAX_BODY = 256 * 1024


class LinkError(SmgwctError):
    """A peer could not be reached or did not answer as expected; ``kind`` names the layer."""

    def __init__(self, kind: str, message: Text, hint: Text) -> None:
        super().__init__(message, hint=hint)
        self.kind = kind


@dataclass(frozen=True)
class ProbeResult:
    url: str
    status: int
    peer_sha256: str
    server: str | None
    body: Any


def _tcp_error(url: str, exc: BaseException) -> LinkError:
    return LinkError(
        "tcp",
        Text(f"No connection to {url} ({exc}).", f"Keine Verbindung zu {url} ({exc})."),
        Text("Check the cable, the address and that the device is switched on.",
             "Prüfen Sie Kabel, Adresse und ob das Gerät eingeschaltet ist."),
    )


async def probe(
    url: str,
    context: ssl.SSLContext,
    *,
    pin: str | None = None,
    timeout: float = 10.0,
    server_hostname: str | None = None,
) -> ProbeResult:
    """``GET url`` over TLS with ``context``; check ``pin`` if given."""
    client_timeout = aiohttp.ClientTimeout(total=timeout)
    connector = aiohttp.TCPConnector(ssl=context, force_close=True)
    try:
        async with (
            aiohttp.ClientSession(connector=connector, timeout=client_timeout,
                                  response_class=PeerAwareResponse) as session,
            session.get(url, allow_redirects=False, server_hostname=server_hostname) as resp,
        ):
            ssl_object = peer_ssl_object(resp)
            if ssl_object is None:
                raise LinkError(
                    "tls",
                    Text("The peer did not speak TLS.", "Die Gegenstelle spricht kein TLS."),
                    Text("Check the port number.", "Prüfen Sie die Portnummer."),
                )
            peer = tls.check_pin(ssl_object, pin)
            body: Any = None
            try:
                raw = await read_body(resp, MAX_BODY)
            except BodyTooLarge:
                raw = b""
            if resp.content_type == "application/json" and raw:
                try:
                    body = json.loads(raw)
                except (ValueError, RecursionError):
                    body = None
            return ProbeResult(url, resp.status, peer, resp.headers.get("Server"), body)
    except aiohttp.ClientConnectorCertificateError as exc:
        raise LinkError(
            "tls", tls.describe_ssl_error(exc.certificate_error),
            Text("The peer is not the expected device or its certificate has changed.",
                 "Die Gegenstelle ist nicht das erwartete Gerät oder ihr Zertifikat hat sich "
                 "geändert."),
        ) from None
    except aiohttp.ClientConnectorSSLError as exc:
        raise LinkError(
            "tls", tls.describe_ssl_error(exc.os_error),
            Text("The peer refused the TLS connection: check the client certificate and the "
                 "TLS profile.",
                 "Die Gegenstelle hat die TLS-Verbindung abgelehnt: prüfen Sie das "
                 "Client-Zertifikat und das TLS-Profil."),
        ) from None
    except aiohttp.ClientConnectorError as exc:
        if isinstance(exc.os_error, ConnectionResetError | ConnectionAbortedError):
            # TCP was accepted and then cut during the TLS handshake: the peer refused us
            raise LinkError(
                "tls",
                Text(f"{url} closed the connection during the TLS handshake.",
                     f"{url} hat die Verbindung während des TLS-Aufbaus getrennt."),
                Text("The peer did not accept our client certificate or TLS profile: check the "
                     "technician certificate.",
                     "Die Gegenstelle hat unser Client-Zertifikat oder TLS-Profil nicht "
                     "akzeptiert: prüfen Sie das Techniker-Zertifikat."),
            ) from None
        raise _tcp_error(url, exc.os_error) from None
    except (aiohttp.ClientOSError, aiohttp.ServerDisconnectedError) as exc:
        cause = exc.__cause__ or exc
        if isinstance(cause, ssl.SSLError):
            raise LinkError(
                "tls", tls.describe_ssl_error(cause),
                Text("The peer refused the TLS connection: check the client certificate.",
                     "Die Gegenstelle hat die TLS-Verbindung abgelehnt: prüfen Sie das "
                     "Client-Zertifikat."),
            ) from None
        raise _tcp_error(url, exc) from None
    except TimeoutError:
        raise LinkError(
            "timeout",
            Text(f"{url} did not answer within {timeout:g} s.",
                 f"{url} hat nicht innerhalb von {timeout:g} s geantwortet."),
            Text("Check the address; the device may still be starting.",
                 "Prüfen Sie die Adresse; das Gerät startet eventuell noch."),
        ) from None
    except aiohttp.ClientError as exc:
        raise LinkError(
            "protocol",
            Text(f"Unexpected answer from {url}: {exc}.", f"Unerwartete Antwort von {url}: {exc}."),
            Text("Check that the address belongs to the expected device.",
                 "Prüfen Sie, ob die Adresse zum erwarteten Gerät gehört."),
        ) from None
