"""HTTPS plumbing shared by the HAN adapters: pinned TLS, Digest, capped bodies, error mapping.

The session trusts exactly the pinned HAN certificate (context from :mod:`app.security.tls`) and
checks the pin again on every response. Requests carry an explicit ``Content-Length`` and the
exact ``Content-Type`` given; redirects are never followed automatically (the adapter decides).
Bodies are read up to a cap; a body that is larger, cut off or never finishes is a protocol
error or (through the caller's deadline) a timeout, never a hang.

Cookies: only the names an adapter asks for (``keep_cookies``, e.g. the PPC portal's
``session``) are kept, in a small store of the client, and sent back on every request; the
session's own cookie jar is switched off. aiohttp's jar drops cookies of bare IP addresses, which
HAN addresses usually are; its ``unsafe`` mode lifts that but is meant for tests, and it would
behave differently for host names (``smgw.local``) than for addresses.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy

from app.errors import Text
from app.security import tls
from app.transports.body import BodyTooLarge, read_body
from app.transports.han.base import HanCredentials
from app.transports.han.digest import DigestClient, parse_challenges
from app.transports.han.errors import (
    HanAuthError,
    HanCertificateChanged,
    HanProtocolError,
    HanTcpError,
    HanTlsError,
)
from app.transports.han.pinning import PinnedCertificate, fetch_candidate, tls_alert
from app.transports.peer_response import PeerAwareResponse, peer_ssl_object

DEFAULT_MAX_BODY = 8 * 1024 * 1024
_MAX_AUTH_ROUNDS = 3


@dataclass(frozen=True)
class HanResponse:
    """A complete response (body read and within the cap)."""

    status: int
    headers: CIMultiDictProxy[str]
    body: bytes
    url: str

    def text(self, limit: int = 2000) -> str:
        return self.body[:limit].decode("utf-8", "replace")


def _too_large(cap: int) -> HanProtocolError:
    return HanProtocolError(
        Text(f"the answer is larger than {cap // 1024} KiB.",
             f"die Antwort ist größer als {cap // 1024} KiB."),
        field="body",
    )


class HanHttpClient:
    """One HTTPS session to a gateway's HAN port for one account."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        pin: PinnedCertificate,
        credentials: HanCredentials,
        digest_algorithm: str | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY,
        connect_timeout: float = 10.0,
        headers: Mapping[str, str] | None = None,
        keep_cookies: Collection[str] = (),
    ) -> None:
        """``headers``: sent with every request (over the default ``Accept:
        application/json``). ``keep_cookies``: names of cookies to keep from ``Set-Cookie`` and
        send back (e.g. a portal's ``session``); all others are ignored."""
        self.host = host
        self.port = port
        self.pin = pin
        self.credentials = credentials
        self.max_body_bytes = max_body_bytes
        self.connect_timeout = connect_timeout
        self._digest = (
            DigestClient(credentials.user, credentials.password,
                         algorithm_override=digest_algorithm)
            if credentials.password is not None
            else None
        )
        self._session: aiohttp.ClientSession | None = None
        self._headers = {"Accept": "application/json", **(headers or {})}
        self._keep_cookies = frozenset(keep_cookies)
        #: cookies the gateway set (only the names in ``keep_cookies``)
        self.cookies: dict[str, str] = {}
        self.peer_sha256: str | None = None

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"https://{host}:{self.port}"

    @property
    def digest_algorithm(self) -> str | None:
        """The algorithm used in the last Authorization (after the first challenge)."""
        return self._digest.algorithm if self._digest else None

    def _ssl_context(self) -> ssl.SSLContext:
        return self.pin.ssl_context(own=self.credentials.client_certificate)

    async def open(self) -> None:
        if self._session is not None:
            return
        connector = aiohttp.TCPConnector(ssl=self._ssl_context(), limit=2)
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=None, connect=self.connect_timeout),
            headers=self._headers,
            cookie_jar=aiohttp.DummyCookieJar(),
            response_class=PeerAwareResponse,
        )

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        content_type: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> HanResponse:
        """Send one request, answering Digest challenges; return any non-401 response.
        ``headers``: extra headers of this request (the client's own headers win)."""
        await self.open()
        fresh = False  # the Authorization sent answers the challenge just received
        for _ in range(_MAX_AUTH_ROUNDS + 1):
            sent: CIMultiDict[str] = CIMultiDict(headers or {})
            if self.cookies:
                sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
            if body is not None:
                sent["Content-Type"] = content_type or "application/octet-stream"
                sent["Content-Length"] = str(len(body))
            if self._digest is not None and self._digest.ready:
                sent["Authorization"] = self._digest.authorization(method, path)
            response = await self._send(method, path, sent, body)
            self._take_cookies(response)
            if response.status != 401:
                return response
            challenges = parse_challenges(response.headers.getall("WWW-Authenticate", []))
            if self._digest is None or not challenges:
                raise HanAuthError()
            if fresh and not any(c.stale for c in challenges):
                raise HanAuthError()
            self._digest.accept(challenges)
            fresh = True
        raise HanAuthError()

    def _take_cookies(self, response: HanResponse) -> None:
        """Keep (or, when expired, drop) the cookies of ``keep_cookies`` the answer sets."""
        if not self._keep_cookies:
            return
        for value in response.headers.getall("Set-Cookie", []):
            parsed: SimpleCookie = SimpleCookie()
            try:
                parsed.load(value)
            except CookieError:
                continue
            for name, morsel in parsed.items():
                if name not in self._keep_cookies:
                    continue
                if morsel["max-age"] in ("0", "-1") or not morsel.value:
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value

    async def _send(
        self, method: str, path: str, headers: CIMultiDict[str], body: bytes | None
    ) -> HanResponse:
        assert self._session is not None
        url = self.base_url + path
        try:
            async with self._session.request(
                method, url, data=body, headers=headers, allow_redirects=False
            ) as resp:
                self._check_pin(resp)
                data = await self._read_capped(resp)
                return HanResponse(resp.status, resp.headers, data, str(resp.url))
        except aiohttp.ClientConnectorCertificateError as exc:
            raise await self._certificate_error(exc) from exc
        except aiohttp.ClientConnectorSSLError as exc:
            raise self._tls_error(exc.os_error) from exc
        except aiohttp.ClientSSLError as exc:
            raise self._tls_error(exc) from exc
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, (ConnectionResetError, ConnectionAbortedError,
                                         BrokenPipeError)):
                # TCP was up; the peer dropped the handshake without sending an alert
                raise HanTlsError(Text(
                    "The gateway closed the connection during the TLS handshake.",
                    "Das Gateway hat die Verbindung während des TLS-Aufbaus beendet.",
                )) from exc
            reason = exc.os_error.strerror or type(exc.os_error).__name__
            raise HanTcpError(self.host, self.port, reason) from exc
        except aiohttp.ClientPayloadError as exc:
            raise HanProtocolError(
                Text("the connection ended in the middle of the answer.",
                     "die Verbindung endete mitten in der Antwort."),
                field="body",
            ) from exc
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientResponseError,
                aiohttp.ClientOSError) as exc:
            raise HanProtocolError(
                Text(f"the gateway closed the connection or sent no valid HTTP ({exc}).",
                     f"das Gateway hat die Verbindung beendet oder kein gültiges HTTP gesendet "
                     f"({exc})."),
            ) from exc

    def _check_pin(self, resp: aiohttp.ClientResponse) -> None:
        ssl_object = peer_ssl_object(resp)
        if ssl_object is None:
            raise HanTlsError(Text("The connection is not encrypted.",
                                   "Die Verbindung ist nicht verschlüsselt."))
        try:
            self.peer_sha256 = tls.check_pin(ssl_object, self.pin.sha256)
        except tls.PinMismatch as exc:
            raise HanCertificateChanged(exc.expected, exc.actual) from exc

    async def _read_capped(self, resp: aiohttp.ClientResponse) -> bytes:
        try:
            return await read_body(resp, self.max_body_bytes)
        except BodyTooLarge as exc:
            raise _too_large(exc.cap) from None

    def _tls_error(self, exc: BaseException) -> HanTlsError:
        return HanTlsError(tls.describe_ssl_error(exc), alert=tls_alert(exc))

    async def _certificate_error(self, exc: aiohttp.ClientConnectorCertificateError
                                 ) -> HanTlsError:
        """A verification failure against the pin: find out what the gateway shows now."""
        try:
            candidate = await asyncio.wait_for(
                fetch_candidate(self.host, self.port, groups=(self.pin.group,), timeout=3.0), 5.0
            )
        except Exception:  # noqa: BLE001 - best effort for the message only
            candidate = None
        if candidate is None or candidate.sha256 != self.pin.sha256:
            return HanCertificateChanged(self.pin.sha256, candidate.sha256 if candidate else None)
        return self._tls_error(exc.certificate_error)
