"""Errors of the GWA link, one kind per layer, each with a next step for the technician."""

from __future__ import annotations

import ssl

import aiohttp

from app.errors import Text
from app.security import tls
from app.transports.gwa.problem import Problem
from app.transports.https_probe import LinkError

#: Kinds after which the request may not have reached the GWA: retry, or queue offline.
OFFLINE_KINDS = frozenset({"tcp", "timeout", "dropped"})


class GwaLinkError(LinkError):
    """The GWA link failed. ``kind``: tcp, tls, timeout, dropped, http (4xx), server (5xx),
    protocol, queue; ``status`` and ``problem`` are set when the GWA answered with an error."""

    def __init__(
        self, kind: str, message: Text, hint: Text, *, status: int | None = None,
        problem: Problem | None = None, field: str | None = None, transient: bool = False,
    ) -> None:
        super().__init__(kind, message, hint)
        self.status = status
        self.problem = problem
        self.field = field
        self.transient = transient
        """Worth one more attempt, although not an offline condition (handshake reset)."""

    @property
    def offline(self) -> bool:
        """True when the GWA was not reached (or the answer was lost): safe to retry/queue."""
        return self.kind in OFFLINE_KINDS

    @property
    def code(self) -> str | None:
        return None if self.problem is None else self.problem.code


def tcp_error(url: str, exc: BaseException) -> GwaLinkError:
    return GwaLinkError(
        "tcp",
        Text(f"The GWA at {url} cannot be reached ({exc}).",
             f"Der GWA unter {url} ist nicht erreichbar ({exc})."),
        Text("Check the network connection (mobile data, VPN) and the GWA address.",
             "Prüfen Sie die Netzverbindung (Mobilfunk, VPN) und die GWA-Adresse."),
    )


def dropped_error(url: str, exc: BaseException | None = None) -> GwaLinkError:
    why = f" ({exc})" if exc is not None and str(exc) else ""
    return GwaLinkError(
        "dropped",
        Text(f"The connection to the GWA at {url} dropped{why}.",
             f"Die Verbindung zum GWA unter {url} ist abgebrochen{why}."),
        Text("Check the network connection; the request can be repeated safely.",
             "Prüfen Sie die Netzverbindung; die Anfrage kann gefahrlos wiederholt werden."),
    )


def timeout_error(url: str, seconds: float) -> GwaLinkError:
    return GwaLinkError(
        "timeout",
        Text(f"The GWA at {url} did not answer within {seconds:g} s.",
             f"Der GWA unter {url} hat nicht innerhalb von {seconds:g} s geantwortet."),
        Text("Check the network connection; the request can be repeated safely.",
             "Prüfen Sie die Netzverbindung; die Anfrage kann gefahrlos wiederholt werden."),
    )


def handshake_reset(url: str) -> GwaLinkError:
    """The TCP connection stood, but the GWA closed it during the TLS handshake without an alert:
    in practice it refused the client certificate (a server that drops the alert)."""
    return GwaLinkError(
        "tls",
        Text(f"The GWA at {url} closed the connection during the TLS handshake; it most likely "
             "refused the technician certificate.",
             f"Der GWA unter {url} hat die Verbindung während des TLS-Verbindungsaufbaus "
             "getrennt; vermutlich hat er das Techniker-Zertifikat abgelehnt."),
        _CLIENT_HINT, transient=True,
    )


def _tls_error(exc: BaseException, hint: Text) -> GwaLinkError:
    return GwaLinkError("tls", tls.describe_ssl_error(exc), hint)


_PEER_HINT = Text(
    "The server is not the configured GWA or its certificate is not from the expected PKI: "
    "check the GWA address and the CA file.",
    "Der Server ist nicht der eingerichtete GWA oder sein Zertifikat stammt nicht aus der "
    "erwarteten PKI: prüfen Sie GWA-Adresse und CA-Datei.",
)
_CLIENT_HINT = Text(
    "The GWA refused the connection: check that your technician certificate is valid and issued "
    "for this GWA, and that the TLS profile (curve) matches.",
    "Der GWA hat die Verbindung abgelehnt: prüfen Sie, ob Ihr Techniker-Zertifikat gültig und für "
    "diesen GWA ausgestellt ist und ob das TLS-Profil (Kurve) passt.",
)


def _ssl_cause(exc: BaseException) -> ssl.SSLError | None:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ssl.SSLError):
            return current
        os_error = getattr(current, "os_error", None)
        if isinstance(os_error, ssl.SSLError):
            return os_error
        current = current.__cause__ or current.__context__
    return None


def map_exception(url: str, exc: BaseException, timeout: float) -> GwaLinkError:
    """A :class:`GwaLinkError` for an aiohttp/OS/ssl exception of a request to ``url``."""
    if isinstance(exc, GwaLinkError):
        return exc
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return _tls_error(exc.certificate_error, _PEER_HINT)
    if isinstance(exc, ssl.SSLCertVerificationError):
        return _tls_error(exc, _PEER_HINT)
    if isinstance(exc, aiohttp.ClientConnectorSSLError):
        return _tls_error(exc.os_error, _CLIENT_HINT)
    if isinstance(exc, aiohttp.ClientConnectorError):
        cause = _ssl_cause(exc)
        if cause is not None and not isinstance(cause, ssl.SSLEOFError | ssl.SSLZeroReturnError):
            return _tls_error(cause, _CLIENT_HINT)
        if cause is not None or isinstance(exc.os_error, ConnectionResetError | EOFError):
            return handshake_reset(url)
        return tcp_error(url, exc.os_error)
    if isinstance(exc, aiohttp.ServerTimeoutError | TimeoutError):
        return timeout_error(url, timeout)
    cause = _ssl_cause(exc)
    if cause is not None and not isinstance(cause, ssl.SSLZeroReturnError | ssl.SSLEOFError):
        return _tls_error(cause, _CLIENT_HINT)
    if isinstance(exc, aiohttp.ClientPayloadError | aiohttp.ServerDisconnectedError
                  | aiohttp.ClientOSError | ConnectionError):
        return dropped_error(url, exc)
    if isinstance(exc, OSError):
        return tcp_error(url, exc)
    return GwaLinkError(
        "protocol",
        Text(f"Unexpected answer from the GWA at {url}: {exc}.",
             f"Unerwartete Antwort vom GWA unter {url}: {exc}."),
        Text("Check that the address belongs to the GWA's technician API.",
             "Prüfen Sie, ob die Adresse zur Techniker-Schnittstelle des GWA gehört."),
    )


def http_error(url: str, status: int, problem: Problem | None, reason: str) -> GwaLinkError:
    """An error answer of the GWA: its own sentence when it sent a problem document."""
    kind = "server" if status >= 500 else "http"
    if problem is not None:
        message = Text(f"The GWA refused the request (HTTP {status}): {problem.message.en}",
                       f"Der GWA hat die Anfrage abgelehnt (HTTP {status}): "
                       f"{problem.message.de}")
    else:
        message = Text(f"The GWA answered HTTP {status} {reason} for {url}.",
                       f"Der GWA hat mit HTTP {status} {reason} auf {url} geantwortet.")
    if problem is not None and problem.hint is not None:
        hint = problem.hint
    elif kind == "server":
        hint = Text("The GWA back end has a problem; try again later or call the GWA operator.",
                    "Das GWA-System hat ein Problem; versuchen Sie es später erneut oder "
                    "verständigen Sie den GWA-Betreiber.")
    else:
        hint = Text("Correct the request as described and send it again.",
                    "Korrigieren Sie die Anfrage wie beschrieben und senden Sie sie erneut.")
    return GwaLinkError(kind, message, hint, status=status, problem=problem,
                        field=None if problem is None else problem.field)


def protocol_error(url: str, en: str, de: str) -> GwaLinkError:
    return GwaLinkError(
        "protocol",
        Text(f"The GWA at {url} answered unexpectedly: {en}",
             f"Der GWA unter {url} hat unerwartet geantwortet: {de}"),
        Text("Check that the address belongs to the GWA's technician API.",
             "Prüfen Sie, ob die Adresse zur Techniker-Schnittstelle des GWA gehört."),
    )
