"""Who is behind a HAN endpoint: evidence, identifier rules and their verdict (Geräteerkennung).

What a first contact yields (:class:`CertificateFacts` of the HAN certificate, the unauthenticated
:class:`HttpAnswer` s collected by :func:`http_evidence`) is bundled as :class:`Evidence`; every
:class:`Identifier` reads it and gives :class:`Clue` s (vendor with a confidence, SMGW ID), which
:func:`combine` adds up. The built-in rules know the vendors' certificates, M2M and HAN pages,
header words and default addresses (DOMAIN.md §6.2, ``docs/discovery.md``).
"""

from __future__ import annotations

import asyncio
import re
import ssl
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import aiohttp
import yarl
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from app.domain.smgw_id import SmgwId
from app.errors import InvalidValue, SmgwctError, Text
from app.security import tls
from app.security.pki import describe_certificate
from app.transports.peer_response import PeerAwareResponse, peer_ssl_object

#: FLAG manufacturer codes of gateway makers (DOMAIN.md §2.1) -> vendor key.
VENDOR_FLAGS: dict[str, str] = {
    "THE": "theben", "PPC": "ppc", "EMH": "emh", "DNT": "sagemcom", "LGZ": "landis_gyr",
    "EFR": "efr", "DVL": "devolo", "KIG": "kiwigrid", "DGY": "discovergy",
}

#: Words that name a vendor in a certificate, a ``Server`` header, a Digest realm or a page title.
VENDOR_WORDS: dict[str, tuple[str, ...]] = {
    "theben": ("theben", "conexa"),
    "ppc": ("power plus communications", "ppc", "hanservice"),
    "emh": ("emh", "casa"),
    "sagemcom": ("sagemcom", "dr. neuhaus", "dr neuhaus"),
    "landis_gyr": ("landis+gyr", "landis gyr", "landis"),
    "efr": ("efr",),
    "devolo": ("devolo",),
    "kiwigrid": ("kiwigrid",),
    "discovergy": ("discovergy",),
}

MAX_BODY = 16 * 1024
CONTROL_PATH = "/smgwct-discovery-control"


_SMGW_ID_TEXT = re.compile(r"(?<![A-Za-z0-9])[Ee][A-Za-z]{3}[0-9]{10}(?![0-9])")


def find_smgw_id(text: str | None) -> str | None:
    """The first SMGW ID (``ETHE0300186023``, any case) inside ``text``, normalised."""
    for match in _SMGW_ID_TEXT.finditer(text or ""):
        try:
            return SmgwId(match.group(0)).text
        except InvalidValue:
            continue
    return None


@dataclass(frozen=True)
class CertificateFacts:
    """The parts of a HAN certificate that identify a gateway."""

    der: bytes = field(repr=False)
    sha256: str
    subject: str
    issuer: str
    common_name: str | None
    organization: str | None
    #: CN, OU, O and the subjectAltName entries, in that order
    names: tuple[str, ...]
    self_signed: bool
    not_after: datetime

    @property
    def pem(self) -> bytes:
        return x509.load_der_x509_certificate(self.der).public_bytes(serialization.Encoding.PEM)

    @classmethod
    def from_der(cls, der: bytes) -> CertificateFacts:
        """Facts of a DER certificate; ``ValueError`` if it does not parse."""
        cert = x509.load_der_x509_certificate(der)
        info = describe_certificate(cert)

        def attr(oid: x509.ObjectIdentifier) -> list[str]:
            return [str(a.value) for a in cert.subject.get_attributes_for_oid(oid)]

        names = attr(NameOID.COMMON_NAME) + attr(NameOID.ORGANIZATIONAL_UNIT_NAME)
        names += attr(NameOID.ORGANIZATION_NAME)
        try:
            san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            names += [str(v) for v in san.get_values_for_type(x509.DNSName)]
            names += [str(v) for v in san.get_values_for_type(x509.IPAddress)]
        except (x509.ExtensionNotFound, ValueError):
            pass
        cn, org = attr(NameOID.COMMON_NAME), attr(NameOID.ORGANIZATION_NAME)
        return cls(der, info.sha256, info.subject, info.issuer, cn[0] if cn else None,
                   org[0] if org else None, tuple(names), info.self_signed, info.not_after)


_REALM = re.compile(r'realm\s*=\s*"([^"]*)"', re.IGNORECASE)
_TITLE = re.compile(rb"<title[^>]*>(.*?)</title", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True)
class HttpAnswer:
    """The answer to one unauthenticated ``GET`` (status, headers, the start of the body)."""

    path: str
    status: int
    #: (lower-case name, value) pairs in the order received
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = field(default=b"", repr=False)

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        return next((v for k, v in self.headers if k == wanted), None)

    def header_all(self, name: str) -> list[str]:
        wanted = name.lower()
        return [v for k, v in self.headers if k == wanted]

    @property
    def server(self) -> str | None:
        return self.header("server")

    @property
    def location(self) -> str | None:
        return self.header("location")

    @property
    def auth_schemes(self) -> tuple[str, ...]:
        return tuple(v.split(None, 1)[0].lower() for v in self.header_all("www-authenticate")
                     if v.strip())

    @property
    def realm(self) -> str | None:
        for value in self.header_all("www-authenticate"):
            match = _REALM.search(value)
            if match:
                return match.group(1)
        return None

    @property
    def title(self) -> str | None:
        match = _TITLE.search(self.body)
        if not match:
            return None
        return " ".join(match.group(1).decode("utf-8", "replace").split())[:200]


@dataclass(frozen=True)
class Evidence:
    """Everything known about one TLS endpoint when the identifiers run."""

    host: str
    port: int
    certificate: CertificateFacts | None
    answers: Mapping[str, HttpAnswer] = field(default_factory=dict)
    #: the answer to a path no gateway has (tells "exists" from "answers everything alike")
    control: HttpAnswer | None = None
    #: the vendor of the known default address this endpoint sits at, if any
    known_vendor: str | None = None
    #: mDNS names it was found under
    names: tuple[str, ...] = ()

    def answer(self, path: str) -> HttpAnswer | None:
        return self.answers.get(path)

    def path_exists(self, path: str) -> bool:
        """The gateway answers ``path`` differently from a path that does not exist."""
        ans = self.answers.get(path)
        if ans is None or ans.status == 404:
            return False
        control = self.control
        if control is None:
            return True
        return (ans.status, ans.location, ans.auth_schemes) != (
            control.status, control.location, control.auth_schemes)


@dataclass(frozen=True)
class Clue:
    """One identifier's reading: a vendor with a confidence (0..1), and/or an SMGW ID."""

    vendor: str | None
    confidence: float
    reason: Text
    smgw_id: str | None = None


@dataclass(frozen=True)
class Identifier:
    """A pluggable rule: the ``GET`` paths it wants to see and a check over the evidence.

    HAN adapters add theirs with :func:`register_identifier`; ``paths`` are requested once per
    endpoint, unauthenticated, in registration order.
    """

    name: str
    check: Callable[[Evidence], Iterable[Clue]]
    paths: tuple[str, ...] = ()


# ---------------------------------------------------------------------------------------------
# Built-in identifiers


def _vendor_words(text: str | None) -> list[str]:
    found = []
    low = (text or "").lower()
    for vendor, words in VENDOR_WORDS.items():
        if any(re.search(rf"(?<![a-z0-9]){re.escape(w)}(?![a-z0-9])", low) for w in words):
            found.append(vendor)
    return found


def _id_clue(smgw_id: str, confidence: float, reason: Text) -> Clue:
    """A clue for an SMGW ID seen in the evidence; its FLAG code names the vendor, if known."""
    vendor = VENDOR_FLAGS.get(smgw_id[1:4])
    return Clue(vendor, confidence if vendor else 0.0, reason, smgw_id)


def _served(ev: Evidence, path: str) -> HttpAnswer | None:
    """The answer to ``path`` when the endpoint really serves it (HTTP 200, 401 or 403)."""
    ans = ev.answer(path)
    if ans is None or not ev.path_exists(path) or ans.status not in (200, 401, 403):
        return None
    return ans


def _by_certificate(ev: Evidence) -> Iterable[Clue]:
    cert = ev.certificate
    if cert is None:
        return
    for name in cert.names:
        smgw_id = find_smgw_id(name)
        if smgw_id:
            yield _id_clue(smgw_id, 0.7, Text(f"the HAN certificate names SMGW ID {smgw_id}",
                                              f"das HAN-Zertifikat nennt die SMGW-ID {smgw_id}"))
            break
    for vendor in _vendor_words(" / ".join(filter(None, (cert.organization,
                                                              cert.common_name)))):
        yield Clue(vendor, 0.5, Text(f"the certificate subject names {vendor}",
                                     f"der Zertifikatsinhaber nennt {vendor}"))


def _by_names(ev: Evidence) -> Iterable[Clue]:
    for name in ev.names:
        smgw_id = find_smgw_id(name)
        if smgw_id:
            yield _id_clue(smgw_id, 0.5, Text(f"it answers mDNS as {name}",
                                              f"es antwortet per mDNS als {name}"))
            return


_SERVER_HEADER = Text("Server header", "der Server-Header")
_REALM_WORD = Text("Digest realm", "der Digest-Realm")
_PAGE_TITLE = Text("page title", "der Seitentitel")


def _by_http_words(ev: Evidence) -> Iterable[Clue]:
    seen: set[tuple[str, str]] = set()
    for ans in ev.answers.values():
        for what, text in ((_SERVER_HEADER, ans.server), (_REALM_WORD, ans.realm),
                           (_PAGE_TITLE, ans.title)):
            for vendor in _vendor_words(text):
                if (vendor, what.en) not in seen:
                    seen.add((vendor, what.en))
                    yield Clue(vendor, 0.5, Text(f"its {what.en} '{text}' names {vendor}",
                                                 f"{what.de} '{text}' nennt {vendor}"))
        for text in (ans.realm, ans.location):
            smgw_id = find_smgw_id(text)
            if smgw_id:
                yield _id_clue(smgw_id, 0.5, Text(
                    f"its HTTP answer names SMGW ID {smgw_id}",
                    f"die HTTP-Antwort nennt die SMGW-ID {smgw_id}"))


_M2M_LOCATION = re.compile(r"/smgw/m2m/([^/]+)/json/?$")


def _theben_m2m(ev: Evidence) -> Iterable[Clue]:
    ans = ev.answer("/smgw/m2m")
    if ans is None:
        return
    match = _M2M_LOCATION.search(ans.location or "")
    if ans.status in (301, 302, 303, 307, 308) and match:
        yield Clue("theben", 0.9, Text(
            "GET /smgw/m2m redirects to a CONEXA M2M endpoint",
            "GET /smgw/m2m leitet auf einen CONEXA-M2M-Endpunkt um"), find_smgw_id(match[1]))
    elif _served(ev, "/smgw/m2m") is not None:
        yield Clue("theben", 0.6, Text(
            f"it serves the CONEXA M2M interface /smgw/m2m (HTTP {ans.status})",
            f"es bedient die CONEXA-M2M-Schnittstelle /smgw/m2m (HTTP {ans.status})"))


def _ppc_hanservice(ev: Evidence) -> Iterable[Clue]:
    path = "/cgi-bin/hanservice.cgi"
    ans = _served(ev, path)
    if ans is None:
        return
    strong = b'name="tkn"' in ans.body or b"hanservice" in ans.body
    yield Clue("ppc", 0.8 if strong else 0.6, Text(
        f"it serves the PPC HAN page {path} (HTTP {ans.status})",
        f"es bedient die PPC-HAN-Seite {path} (HTTP {ans.status})"))


def _emh_json(ev: Evidence) -> Iterable[Clue]:
    path = "/json/metering/derived"
    ans = _served(ev, path)
    if ans is None:
        return
    yield Clue("emh", 0.5, Text(f"it serves the CASA JSON interface {path} (HTTP {ans.status})",
                                f"es bedient die CASA-JSON-Schnittstelle {path} "
                                f"(HTTP {ans.status})"))


def _known_address(ev: Evidence) -> Iterable[Clue]:
    if ev.known_vendor:
        yield Clue(ev.known_vendor, 0.2, Text(
            f"{ev.host} is a default address of {ev.known_vendor}",
            f"{ev.host} ist eine Standardadresse von {ev.known_vendor}"))


BUILTIN_IDENTIFIERS: tuple[Identifier, ...] = (
    Identifier("certificate", _by_certificate),
    Identifier("mdns-name", _by_names),
    Identifier("theben-m2m", _theben_m2m, ("/smgw/m2m",)),
    Identifier("ppc-hanservice", _ppc_hanservice, ("/cgi-bin/hanservice.cgi",)),
    Identifier("emh-json", _emh_json, ("/json/metering/derived",)),
    Identifier("http-words", _by_http_words),
    Identifier("known-address", _known_address),
)

def combine(clues: Sequence[Clue]) -> tuple[str | None, float, str | None, tuple[Text, ...]]:
    """Vendor guess, its confidence, SMGW ID and reasons from all clues.

    Independent clues for one vendor add up as ``1 - Π(1 - c)``; the SMGW ID is the first one
    found (identifier order: certificate first).
    """
    scores: dict[str, float] = {}
    for clue in clues:
        if clue.vendor and clue.confidence > 0:
            scores[clue.vendor] = 1 - (1 - scores.get(clue.vendor, 0.0)) * (1 - clue.confidence)
    vendor = max(scores, key=lambda v: scores[v]) if scores else None
    smgw_id = next((c.smgw_id for c in clues if c.smgw_id), None)
    reasons = tuple(dict.fromkeys(c.reason for c in clues))
    return vendor, round(scores.get(vendor, 0.0), 3) if vendor else 0.0, smgw_id, reasons


def _url(host: str, port: int, path: str) -> yarl.URL:
    return yarl.URL.build(scheme="https", host=host, port=port, path=path, encoded=False)


async def http_evidence(
    host: str, port: int, certificate: CertificateFacts, group: str, paths: Sequence[str],
    *, timeout: float = 3.0,
) -> tuple[dict[str, HttpAnswer], HttpAnswer | None]:
    """Unauthenticated ``GET`` of ``paths`` (and :data:`CONTROL_PATH`) over TLS pinned to the
    certificate just fetched; whatever arrives within ``timeout``. No credentials are sent."""
    answers: dict[str, HttpAnswer] = {}
    try:
        context = tls.client_context(tls.Interface.HAN, trust=[certificate.pem], group=group,
                                     check_hostname=False)
    except (ssl.SSLError, SmgwctError, ValueError):
        return answers, None
    connector = aiohttp.TCPConnector(ssl=context, limit=1)
    wanted = list(dict.fromkeys([*paths, CONTROL_PATH]))
    try:
        async with (
            asyncio.timeout(timeout),
            aiohttp.ClientSession(connector=connector, response_class=PeerAwareResponse,
                                  headers={"User-Agent": "smgwct-discovery"}) as session,
        ):
            for path in wanted:
                try:
                    async with session.get(_url(host, port, path), allow_redirects=False) as resp:
                        ssl_object = peer_ssl_object(resp)
                        if ssl_object is None:
                            break  # not TLS: never happens with an SSL connector
                        tls.check_pin(ssl_object, certificate.sha256)  # PinMismatch: stop
                        body = await resp.content.read(MAX_BODY)
                        answers[path] = HttpAnswer(
                            path, resp.status,
                            tuple((k.lower(), v) for k, v in resp.headers.items()), body)
                except (tls.PinMismatch, aiohttp.ClientConnectorError):
                    break  # certificate changed, not its own anchor, or port gone: stop asking
                except (aiohttp.ClientError, ssl.SSLError, OSError, SmgwctError, ValueError):
                    continue
    except TimeoutError:
        pass  # keep what arrived
    return answers, answers.pop(CONTROL_PATH, None)




__all__ = [
    "BUILTIN_IDENTIFIERS", "CONTROL_PATH", "MAX_BODY", "VENDOR_FLAGS", "VENDOR_WORDS",
    "CertificateFacts", "Clue", "Evidence", "HttpAnswer", "Identifier", "combine",
    "find_smgw_id", "http_evidence",
]
