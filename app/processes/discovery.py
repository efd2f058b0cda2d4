"""Device discovery on the laptop's HAN link (Geräteerkennung, DOMAIN.md §6.1-6.2).

:func:`discover` looks for gateways in a fixed order of sources (the project's definition, see
``docs/discovery.md``):

1. addresses the technician gave (``candidates``),
2. mDNS: ``smgw.local``, ``<SMGW-ID>.local`` and advertised ``_https._tcp`` services,
3. the known default HAN addresses of vendors and operators (:data:`KNOWN_ADDRESSES`), only
   where the chosen adapter has an address in that subnet,
4. a bounded TCP connect sweep of the adapter's own IPv4 subnet (at most a /24, private
   networks only).

All sources run at once under one concurrency bound and one deadline; the order decides which
source an endpoint is credited to and the order of the result. Every open port then gets a
first-contact TLS handshake (nothing sent, certificate fetched), and, when the certificate can
serve as its own trust anchor, a few unauthenticated ``GET`` requests whose status, headers and
Digest realm feed the :class:`Identifier` list. Probes reach only the given candidates, mDNS
answers, on-link default addresses and the chosen adapter's subnet.

Meters are not listed here: that needs credentials and goes through the HAN adapter;
:attr:`GatewayCandidate.meters` is the place where a later step stores them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import ipaddress
import logging
import re
import ssl
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any

import aiohttp
import yarl
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from app.domain.smgw_id import SmgwId
from app.errors import InvalidValue, SmgwctError, Text
from app.security import tls
from app.security.pki import describe_certificate
from app.transports import mdns, netinfo
from app.transports.netinfo import NetworkInterface, NetworkSnapshot
from app.transports.peer_response import PeerAwareResponse, peer_ssl_object

if TYPE_CHECKING:
    from app.transports.han.base import MeterInfo

_log = logging.getLogger(__name__)

# ---------------------------------------------------------------------------------------------
# Data: where gateways usually are and who makes them


@dataclass(frozen=True)
class KnownAddress:
    """A HAN address seen in the field (DOMAIN.md §6.1): one host or a typical range."""

    address: str
    vendor: str | None
    note: Text

    @property
    def network(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network(self.address, strict=False)

    @property
    def is_range(self) -> bool:
        return self.network.num_addresses > 1


#: Default HAN addresses of vendors and operators. Single hosts are probed when on-link; ranges
#: only mark a usual HAN subnet (the subnet sweep covers them when the laptop is inside).
KNOWN_ADDRESSES: tuple[KnownAddress, ...] = (
    KnownAddress("192.168.1.200", "ppc",
                 Text("PPC factory default", "PPC-Werkseinstellung")),
    KnownAddress("192.168.100.100", None,
                 Text("seen at metering point operators", "bei Messstellenbetreibern gesehen")),
    KnownAddress("192.168.168.168", None,
                 Text("seen at metering point operators", "bei Messstellenbetreibern gesehen")),
    KnownAddress("192.168.33.2", "emh", Text("EMH default", "EMH-Voreinstellung")),
    KnownAddress("10.11.120.0/24", None,
                 Text("typical operator HAN range", "typischer HAN-Bereich von Betreibern")),
)

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

#: Sources in the project's discovery order; an endpoint found twice keeps the earlier one.
SOURCES = ("candidate", "mdns", "known", "subnet")

#: Private IPv4 networks a sweep may touch (RFC 1918); others are never swept.
PRIVATE_V4 = tuple(ipaddress.IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12",
                                                        "192.168.0.0/16"))
SWEEP_PREFIX = 24
MAX_BODY = 16 * 1024
CONTROL_PATH = "/smgwct-discovery-control"
#: First-contact handshake order of HAN key-exchange groups (CONEXA offers only secp384r1).
PROBE_GROUPS = ("brainpoolP256r1", "secp384r1", "prime256v1", "brainpoolP384r1",
                "brainpoolP512r1")
STATIC_IP_EXAMPLE = "192.168.1.10/24"


def usual_han_networks() -> tuple[ipaddress.IPv4Network, ...]:
    """The /24 subnets of :data:`KNOWN_ADDRESSES` (where a HAN adapter usually has its address)."""
    nets = []
    for known in KNOWN_ADDRESSES:
        net = ipaddress.IPv4Network(f"{known.network.network_address}/{SWEEP_PREFIX}",
                                    strict=False)
        if net not in nets:
            nets.append(net)
    return tuple(nets)


# ---------------------------------------------------------------------------------------------
# What a probe sees


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


def _flag_vendor(smgw_id: str) -> str | None:
    return VENDOR_FLAGS.get(smgw_id[1:4])


def _by_certificate(ev: Evidence) -> Iterable[Clue]:
    cert = ev.certificate
    if cert is None:
        return
    for name in cert.names:
        smgw_id = find_smgw_id(name)
        if smgw_id:
            vendor = _flag_vendor(smgw_id)
            yield Clue(vendor, 0.7 if vendor else 0.0, Text(
                f"the HAN certificate names SMGW ID {smgw_id}",
                f"das HAN-Zertifikat nennt die SMGW-ID {smgw_id}"), smgw_id)
            break
    for vendor in _vendor_words(" / ".join(filter(None, (cert.organization,
                                                              cert.common_name)))):
        yield Clue(vendor, 0.5, Text(f"the certificate subject names {vendor}",
                                     f"der Zertifikatsinhaber nennt {vendor}"))


def _by_names(ev: Evidence) -> Iterable[Clue]:
    for name in ev.names:
        smgw_id = find_smgw_id(name)
        if smgw_id:
            vendor = _flag_vendor(smgw_id)
            yield Clue(vendor, 0.5 if vendor else 0.0, Text(
                f"it answers mDNS as {name}", f"es antwortet per mDNS als {name}"), smgw_id)
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
                vendor = _flag_vendor(smgw_id)
                yield Clue(vendor, 0.5 if vendor else 0.0, Text(
                    f"its HTTP answer names SMGW ID {smgw_id}",
                    f"die HTTP-Antwort nennt die SMGW-ID {smgw_id}"), smgw_id)


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
    elif ev.path_exists("/smgw/m2m") and ans.status in (200, 401, 403):
        yield Clue("theben", 0.6, Text(
            f"it serves the CONEXA M2M interface /smgw/m2m (HTTP {ans.status})",
            f"es bedient die CONEXA-M2M-Schnittstelle /smgw/m2m (HTTP {ans.status})"))


def _ppc_hanservice(ev: Evidence) -> Iterable[Clue]:
    path = "/cgi-bin/hanservice.cgi"
    ans = ev.answer(path)
    if ans is None or not ev.path_exists(path) or ans.status not in (200, 401, 403):
        return
    strong = b'name="tkn"' in ans.body or b"hanservice" in ans.body
    yield Clue("ppc", 0.8 if strong else 0.6, Text(
        f"it serves the PPC HAN page {path} (HTTP {ans.status})",
        f"es bedient die PPC-HAN-Seite {path} (HTTP {ans.status})"))


def _emh_json(ev: Evidence) -> Iterable[Clue]:
    path = "/json/metering/derived"
    ans = ev.answer(path)
    if ans is None or not ev.path_exists(path) or ans.status not in (200, 401, 403):
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

_registry: list[Identifier] = list(BUILTIN_IDENTIFIERS)


def register_identifier(identifier: Identifier) -> None:
    """Add ``identifier`` (or replace the one with the same name)."""
    for i, existing in enumerate(_registry):
        if existing.name == identifier.name:
            _registry[i] = identifier
            return
    _registry.append(identifier)


def registered_identifiers() -> tuple[Identifier, ...]:
    """The identifiers in use, built-ins first."""
    return tuple(_registry)


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


# ---------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class GatewayCandidate:
    """A TLS endpoint on the HAN link that looks like a gateway."""

    host: str
    port: int
    source: str
    vendor: str | None
    confidence: float
    smgw_id: str | None
    sha256: str | None
    tls_group: str | None = None
    certificate: CertificateFacts | None = field(default=None, repr=False)
    reasons: tuple[Text, ...] = ()
    interface: str | None = None
    names: tuple[str, ...] = ()
    #: LMN meters, filled in later through the HAN adapter (needs credentials); ``None``: not read
    meters: tuple[MeterInfo, ...] | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"https://{host}:{self.port}" if self.port != 443 else f"https://{host}"

    def to_dict(self, lang: str = "en") -> dict[str, Any]:
        return {
            "host": self.host, "port": self.port, "vendor": self.vendor,
            "smgw_id": self.smgw_id, "sha256": self.sha256, "source": self.source,
            "confidence": self.confidence, "tls_group": self.tls_group,
            "interface": self.interface, "names": list(self.names),
            "subject": self.certificate.subject if self.certificate else None,
            "not_after": self.certificate.not_after.isoformat() if self.certificate else None,
            "reasons": [r.get(lang) for r in self.reasons],
            "meters": None if self.meters is None else [m.to_dict() for m in self.meters],
        }


@dataclass(frozen=True)
class OpenPort:
    """An open TCP port that gave no usable HAN TLS handshake."""

    host: str
    port: int
    source: str
    #: ``timeout``, ``tls`` (no handshake with any HAN group, or not TLS) or ``tcp``
    kind: str
    message: Text

    def to_dict(self, lang: str = "en") -> dict[str, Any]:
        return {"host": self.host, "port": self.port, "source": self.source, "kind": self.kind,
                "message": self.message.get(lang)}


@dataclass(frozen=True)
class DiscoveryWarning:
    """Something the technician should fix or know (code, text, adapter)."""

    code: str
    message: Text
    interface: str | None = None

    def to_dict(self, lang: str = "en") -> dict[str, Any]:
        return {"code": self.code, "interface": self.interface,
                "message": self.message.get(lang), "en": self.message.en,
                "de": self.message.de}


@dataclass(frozen=True)
class DiscoveryProgress:
    """A progress event: phase, fraction 0..1 (or ``None``), message, a gateway just found."""

    phase: str
    fraction: float | None
    message: Text
    gateway: GatewayCandidate | None = None
    elapsed: float = 0.0


@dataclass
class DiscoveryReport:
    """What :func:`discover` found, warned about and reported on the way."""

    gateways: list[GatewayCandidate]
    warnings: list[DiscoveryWarning]
    interfaces: list[NetworkInterface]
    unidentified: list[OpenPort] = field(default_factory=list)
    events: list[DiscoveryProgress] = field(default_factory=list)
    #: adapters whose subnets were swept
    swept: list[str] = field(default_factory=list)
    probed_hosts: int = 0
    elapsed: float = 0.0
    #: ``False`` when the deadline stopped discovery before every probe had finished
    complete: bool = True

    @property
    def found(self) -> bool:
        return bool(self.gateways)

    def to_dict(self, lang: str = "en") -> dict[str, Any]:
        return {
            "gateways": [g.to_dict(lang) for g in self.gateways],
            "warnings": [w.to_dict(lang) for w in self.warnings],
            "interfaces": [i.to_dict() for i in self.interfaces],
            "unidentified": [p.to_dict(lang) for p in self.unidentified],
            "swept": list(self.swept),
            "probed_hosts": self.probed_hosts,
            "elapsed_seconds": round(self.elapsed, 3),
            "complete": self.complete,
        }


class ProbeError(SmgwctError):
    """An endpoint gave no certificate; ``kind`` is ``tcp``, ``timeout`` or ``tls``."""

    def __init__(self, kind: str, message: Text) -> None:
        super().__init__(message, field="host")
        self.kind = kind


# ---------------------------------------------------------------------------------------------
# Probes


async def tcp_open(host: str, port: int, timeout: float) -> bool:
    """Whether ``host:port`` accepts a TCP connection within ``timeout`` (nothing is sent)."""
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(timeout):
            transport, _ = await loop.create_connection(asyncio.Protocol, host, port)
    except (OSError, TimeoutError):
        return False
    transport.close()
    return True


def _fetch_certificate_blocking(host: str, port: int, groups: Sequence[str],
                                timeout: float) -> tuple[bytes, str]:
    """First contact: handshake with each HAN group until one works; nothing is sent."""
    last: BaseException | None = None
    for group in groups:
        try:
            der = tls.fetch_unverified_certificate(host, port, tls.Interface.HAN, group=group,
                                                   timeout=timeout)
            return der, group
        except TimeoutError as exc:
            raise ProbeError("timeout", Text(
                f"{host}:{port} accepts connections but did not complete a TLS handshake "
                f"within {timeout:g} s.",
                f"{host}:{port} nimmt Verbindungen an, hat den TLS-Verbindungsaufbau aber nicht "
                f"innerhalb von {timeout:g} s abgeschlossen.")) from exc
        except (ssl.SSLError, ConnectionResetError, ConnectionAbortedError) as exc:
            last = exc  # wrong group, or not TLS at all: try the next group
        except tls.TlsError as exc:
            last = exc
        except OSError as exc:
            raise ProbeError("tcp", Text(f"No connection to {host}:{port} ({exc}).",
                                         f"Keine Verbindung zu {host}:{port} ({exc}).")) from exc
    reason = tls.describe_ssl_error(last) if last else Text("no group", "keine Gruppe")
    raise ProbeError("tls", Text(
        f"{host}:{port} gave no TLS handshake with the HAN profile ({reason.en})",
        f"{host}:{port} hat keinen TLS-Verbindungsaufbau mit dem HAN-Profil ermöglicht "
        f"({reason.de})"))


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


async def identify(
    host: str,
    port: int = 443,
    *,
    source: str = "candidate",
    identifiers: Sequence[Identifier] | None = None,
    tls_timeout: float = 2.0,
    http_timeout: float = 3.0,
    names: Sequence[str] = (),
    interface: str | None = None,
    executor: concurrent.futures.Executor | None = None,
) -> GatewayCandidate:
    """Fetch the certificate of ``host:port`` (first contact) and identify vendor and SMGW ID.

    Raises :class:`ProbeError` when no HAN TLS handshake succeeds.
    """
    rules = tuple(identifiers if identifiers is not None else registered_identifiers())
    loop = asyncio.get_running_loop()
    fetch = partial(_fetch_certificate_blocking, host, port, _groups(), tls_timeout)
    try:
        der, group = await asyncio.wait_for(loop.run_in_executor(executor, fetch),
                                            tls_timeout * 2 + 0.5)
    except TimeoutError:
        raise ProbeError("timeout", Text(
            f"{host}:{port} did not complete a TLS handshake in time.",
            f"{host}:{port} hat den TLS-Verbindungsaufbau nicht rechtzeitig abgeschlossen.",
        )) from None
    try:
        cert = CertificateFacts.from_der(der)
    except ValueError:
        raise ProbeError("tls", Text(f"{host}:{port} presented an unreadable certificate.",
                                     f"{host}:{port} zeigt ein unlesbares Zertifikat.")) from None
    paths = list(dict.fromkeys(["/", *(p for rule in rules for p in rule.paths)]))
    answers, control = await http_evidence(host, port, cert, group, paths, timeout=http_timeout)
    evidence = Evidence(host, port, cert, answers, control, _known_vendor(host), tuple(names))
    clues: list[Clue] = []
    for rule in rules:
        try:
            clues.extend(rule.check(evidence))
        except Exception:  # a faulty plug-in must not stop discovery
            _log.exception("discovery identifier %s failed", rule.name)
    vendor, confidence, smgw_id, reasons = combine(clues)
    return GatewayCandidate(host, port, source, vendor, confidence, smgw_id, cert.sha256, group,
                            cert, reasons, interface, tuple(names))


def _groups() -> tuple[str, ...]:
    allowed = tls.PROFILES[tls.Interface.HAN].groups
    return tuple(g for g in PROBE_GROUPS if g in allowed)


def _known_vendor(host: str) -> str | None:
    for known in KNOWN_ADDRESSES:
        if not known.is_range and known.address == host:
            return known.vendor
    return None


# ---------------------------------------------------------------------------------------------
# Planning (pure)


def _sort_key(host: str) -> tuple[int, int, str]:
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return (9, 0, host)
    return (ip.version, int(ip), host)


def parse_candidates(values: Iterable[str]) -> list[str]:
    """IP addresses as typed (``192.168.1.200``, ``fe80::1%eth0``, ``[::1]``), normalised."""
    out: list[str] = []
    for raw in values:
        text = raw.strip().strip("[]")
        if not text:
            continue
        addr, _, zone = text.partition("%")
        try:
            ip = ipaddress.ip_address(addr)
        except ValueError:
            raise InvalidValue(
                Text(f"'{raw.strip()}' is not an IP address.",
                     f"'{raw.strip()}' ist keine IP-Adresse."),
                field="candidates",
                hint=Text("Give addresses like 192.168.1.200 or fe80::1%eth0, separated by "
                          "commas.",
                          "Geben Sie Adressen wie 192.168.1.200 oder fe80::1%eth0 an, durch "
                          "Kommas getrennt."),
            ) from None
        host = f"{ip}%{zone}" if zone and ip.version == 6 else str(ip)
        if host not in out:
            out.append(host)
    return out


def sweep_plan(
    iface: NetworkInterface, *, max_hosts: int = 254, allow_loopback: bool = False,
) -> tuple[list[str], list[DiscoveryWarning]]:
    """Hosts to sweep on ``iface``: its private IPv4 subnets, each at most a /24 around the own
    address, never the adapter's own addresses; with notes on what was narrowed or skipped."""
    hosts: list[str] = []
    notes: list[DiscoveryWarning] = []
    for addr in iface.ipv4:
        ip = addr.ip
        if ip.is_loopback:
            if not allow_loopback:
                continue
        elif ip.is_link_local:
            continue  # self-assigned: the no-HAN-subnet warning tells what to do
        elif not any(ip in net for net in PRIVATE_V4):
            notes.append(DiscoveryWarning("subnet_skipped", Text(
                f"{addr.network} on {iface.name} is not a private network and is not swept.",
                f"{addr.network} an {iface.name} ist kein privates Netz und wird nicht "
                "durchsucht."), iface.name))
            continue
        net = addr.network
        if net.prefixlen < SWEEP_PREFIX:
            net = ipaddress.ip_network(f"{ip}/{SWEEP_PREFIX}", strict=False)
        if net != addr.network and not ip.is_loopback:
            notes.append(DiscoveryWarning("subnet_narrowed", Text(
                f"{addr.network} on {iface.name} is larger than /{SWEEP_PREFIX}; only {net} "
                "was swept.",
                f"{addr.network} an {iface.name} ist größer als /{SWEEP_PREFIX}; nur {net} "
                "wurde durchsucht."), iface.name))
        for host in net.hosts():
            text = str(host)
            if host != ip and not iface.owns(host) and text not in hosts:
                hosts.append(text)
    if len(hosts) > max_hosts:
        notes.append(DiscoveryWarning("subnet_capped", Text(
            f"Only the first {max_hosts} of {len(hosts)} addresses on {iface.name} were swept.",
            f"Nur die ersten {max_hosts} von {len(hosts)} Adressen an {iface.name} wurden "
            "durchsucht."), iface.name))
        hosts = hosts[:max_hosts]
    return hosts, notes


def _on_link_interface(host: str, interfaces: Sequence[NetworkInterface]) -> str | None:
    addr_text, _, zone = host.partition("%")
    try:
        ip = ipaddress.ip_address(addr_text)
    except ValueError:
        return None
    if zone:
        for iface in interfaces:
            if zone in (iface.name, str(iface.index)):
                return iface.name
    for prefer_real in (True, False):
        for iface in interfaces:
            if prefer_real and iface.is_loopback:
                continue
            if iface.on_link(ip):
                return iface.name
    return None


def _mdns_interfaces(iface: NetworkInterface) -> list[str | int]:
    out: list[str | int] = [str(a.ip) for a in iface.ipv4]
    if iface.ipv6 and iface.index is not None and not iface.is_loopback:
        out.append(iface.index)
    return out


def _has_usual_han_address(interfaces: Iterable[NetworkInterface]) -> bool:
    nets = usual_han_networks()
    return any(a.ip in net for iface in interfaces for a in iface.ipv4 for net in nets)


# ---------------------------------------------------------------------------------------------
# discover()


ProgressCallback = Callable[[DiscoveryProgress], None]


@dataclass
class _Target:
    host: str
    port: int
    source: str
    names: tuple[str, ...] = ()


def _check_settings(ports: Sequence[int], max_concurrency: int, timeout: float) -> None:
    for port in ports:
        if not isinstance(port, int) or not 0 < port < 65536:
            raise InvalidValue(Text(f"Port {port} is not between 1 and 65535.",
                                    f"Port {port} liegt nicht zwischen 1 und 65535."),
                               field="port")
    if not ports:
        raise InvalidValue(Text("No port to probe.", "Kein Port zum Prüfen."), field="port")
    if max_concurrency < 1:
        raise InvalidValue(Text("The concurrency bound must be at least 1.",
                                "Die Parallelitätsgrenze muss mindestens 1 sein."),
                           field="max_concurrency")
    if timeout <= 0:
        raise InvalidValue(Text("The time limit must be positive.",
                                "Das Zeitlimit muss positiv sein."), field="timeout")


async def discover(
    interface: str | None = None,
    *,
    candidates: Sequence[str] | None = None,
    ports: Sequence[int] = (443,),
    subnet_probe: bool = True,
    use_mdns: bool = True,
    known_addresses: bool = True,
    smgw_ids: Sequence[str] = (),
    max_concurrency: int = 64,
    max_subnet_hosts: int = 254,
    timeout: float = 8.0,
    connect_timeout: float = 1.0,
    tls_timeout: float = 2.0,
    http_timeout: float = 3.0,
    mdns_timeout: float = 2.0,
    identifiers: Sequence[Identifier] | None = None,
    progress: ProgressCallback | None = None,
    network: NetworkSnapshot | None = None,
) -> DiscoveryReport:
    """Find gateways on the HAN link of ``interface`` (``None``: every adapter without a
    default route is swept; known addresses and mDNS use every adapter).

    ``candidates`` are probed first, always. ``timeout`` bounds the whole run; what was found
    by then is returned with ``complete=False``. ``network`` replaces the live adapter list
    (tests, or a snapshot the caller already has). Raises :class:`InvalidValue` for a bad
    argument or an unknown adapter; network trouble never raises, it ends up in the report.
    """
    _check_settings(ports, max_concurrency, timeout)
    explicit = parse_candidates(candidates or ())
    started = time.monotonic()
    deadline = started + timeout
    events: list[DiscoveryProgress] = []
    last_fraction = [0.0]

    def emit(phase: str, message: Text, fraction: float | None = None,
             gateway: GatewayCandidate | None = None) -> None:
        if fraction is not None:  # never backwards, even when mDNS adds work late
            fraction = last_fraction[0] = max(fraction, last_fraction[0])
        event = DiscoveryProgress(phase, fraction, message, gateway,
                                  round(time.monotonic() - started, 3))
        events.append(event)
        if progress is not None:
            try:
                progress(event)
            except Exception:  # a failing listener must not stop discovery
                _log.exception("discovery progress listener failed")

    emit("interfaces", Text("Reading the network adapters…", "Netzwerkadapter werden gelesen…"))
    snap = network or await netinfo.snapshot(timeout=min(4.0, timeout / 2))
    all_ifaces = list(snap.interfaces)
    chosen = snap.find(interface) if interface else None
    if chosen is not None:
        scan_ifaces = [chosen]
        sweep_ifaces = [chosen]
    else:
        scan_ifaces = [i for i in all_ifaces if not i.is_loopback and i.up is not False]
        # a HAN link has no default gateway: the office or home network is not swept
        sweep_ifaces = [i for i in scan_ifaces if i.has_default_route is not True]
    warnings: list[DiscoveryWarning] = [
        DiscoveryWarning("network_info", p) for p in snap.problems]

    # -- plan, in the discovery order -------------------------------------------------------
    planned: list[_Target] = [_Target(h, p, "candidate") for h in explicit for p in ports]
    own = {str(a.ip) for i in all_ifaces for a in i.addresses}
    if known_addresses:
        for known in KNOWN_ADDRESSES:
            if known.is_range or known.address in own:
                continue
            if any(i.on_link(known.address) for i in scan_ifaces):
                planned += [_Target(known.address, p, "known") for p in ports]
    swept: list[str] = []
    if subnet_probe:
        budget = max_subnet_hosts
        for iface in sweep_ifaces:
            hosts, notes = sweep_plan(iface, max_hosts=budget,
                                      allow_loopback=chosen is not None)
            warnings += notes
            if hosts:
                swept.append(iface.name)
            budget -= len(hosts)
            planned += [_Target(h, p, "subnet") for h in hosts for p in ports]
            if budget <= 0:
                break
        if chosen is None and scan_ifaces and not sweep_ifaces:
            warnings.append(DiscoveryWarning("no_sweep", Text(
                "Every adapter has a default route, so no subnet was swept. Choose the adapter "
                "at the HAN port explicitly (--interface).",
                "Jeder Adapter hat eine Standardroute, daher wurde kein Subnetz durchsucht. "
                "Wählen Sie den Adapter am HAN-Anschluss ausdrücklich (--interface).")))

    # -- run everything under one bound and one deadline -------------------------------------
    rank = {s: i for i, s in enumerate(SOURCES)}
    targets: dict[tuple[str, int], _Target] = {}
    results: dict[tuple[str, int], GatewayCandidate | OpenPort] = {}
    probe_sem = asyncio.Semaphore(max_concurrency)
    workers = max(1, min(16, max_concurrency))
    identify_sem = asyncio.Semaphore(workers)
    executor = concurrent.futures.ThreadPoolExecutor(max_workers=workers,
                                                     thread_name_prefix="smgwct-discovery")
    rules = tuple(identifiers if identifiers is not None else registered_identifiers())
    counters = {"done": 0, "total": 0, "probed": 0}
    step = max(1, (len(planned) + 1) // 20)

    def tick() -> None:
        counters["done"] += 1
        if counters["done"] % step == 0 or counters["done"] == counters["total"]:
            emit("probe", Text(f"{counters['done']} of {counters['total']} probes done",
                               f"{counters['done']} von {counters['total']} Prüfungen erledigt"),
                 counters["done"] / max(1, counters["total"]))

    async def examine(target: _Target) -> None:
        key = (target.host, target.port)
        async with probe_sem:
            remaining = deadline - time.monotonic()
            is_open = remaining > 0 and await tcp_open(target.host, target.port,
                                                       min(connect_timeout, remaining))
            counters["probed"] += 1
        if not is_open:
            tick()
            return
        emit("open", Text(f"{target.host}:{target.port} is open, checking TLS…",
                          f"{target.host}:{target.port} ist offen, TLS wird geprüft…"))
        async with identify_sem:
            try:
                found: GatewayCandidate | OpenPort = await identify(
                    target.host, target.port, source=target.source, identifiers=rules,
                    tls_timeout=tls_timeout, http_timeout=http_timeout, names=target.names,
                    interface=_on_link_interface(target.host, all_ifaces), executor=executor)
            except ProbeError as exc:
                found = OpenPort(target.host, target.port, target.source, exc.kind, exc.message)
        current = targets.get(key, target)
        found = replace(found, source=current.source)
        if isinstance(found, GatewayCandidate) and current.names:
            found = replace(found, names=tuple(dict.fromkeys((*found.names, *current.names))))
        results[key] = found
        if isinstance(found, GatewayCandidate):
            emit("found", Text(
                f"Gateway at {target.host}:{target.port}"
                + (f" ({found.vendor})" if found.vendor else ""),
                f"Gateway unter {target.host}:{target.port}"
                + (f" ({found.vendor})" if found.vendor else "")), gateway=found)
        tick()

    def schedule(group: asyncio.TaskGroup, target: _Target) -> None:
        key = (target.host, target.port)
        known = targets.get(key)
        if known is not None:
            if rank[target.source] < rank[known.source]:
                known.source = target.source  # credited to the earlier source
            known.names = tuple(dict.fromkeys((*known.names, *target.names)))
            return
        targets[key] = target
        counters["total"] += 1
        group.create_task(examine(target))

    async def run_mdns(group: asyncio.TaskGroup) -> mdns.MdnsResult:
        names = mdns.host_names(smgw_ids)
        if chosen is not None:
            result = await mdns.lookup(names, interfaces=_mdns_interfaces(chosen),
                                       timeout=min(mdns_timeout, deadline - time.monotonic()))
        else:
            result = await mdns.lookup(names,
                                       timeout=min(mdns_timeout, deadline - time.monotonic()))
        for host in result.hosts:
            for address in host.addresses:
                for port in ports:
                    schedule(group, _Target(address, port, "mdns", (host.name,)))
        for service in result.services:
            for address in service.addresses:
                if service.port:
                    schedule(group, _Target(address, service.port, "mdns",
                                            tuple(filter(None, (service.name, service.server)))))
        emit("mdns", Text(f"mDNS: {len(result.hosts)} names, {len(result.services)} services",
                          f"mDNS: {len(result.hosts)} Namen, {len(result.services)} Dienste"))
        return result

    mdns_result: mdns.MdnsResult | None = None
    complete = True
    emit("probe", Text(f"Probing {len(planned)} addresses…",
                       f"{len(planned)} Adressen werden geprüft…"), 0.0)
    try:
        async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
            async with asyncio.TaskGroup() as group:
                mdns_task = group.create_task(run_mdns(group)) if use_mdns else None
                for target in planned:
                    schedule(group, target)
            mdns_result = mdns_task.result() if mdns_task else None
    except TimeoutError:
        complete = False
    finally:
        executor.shutdown(wait=False, cancel_futures=True)

    # -- report -------------------------------------------------------------------------------
    if mdns_result is not None and mdns_result.problem is not None:
        warnings.append(DiscoveryWarning("mdns_unavailable", mdns_result.problem))
    gateways = sorted((r for r in results.values() if isinstance(r, GatewayCandidate)),
                      key=lambda g: (rank[g.source], _sort_key(g.host), g.port))
    open_ports = sorted((r for r in results.values() if isinstance(r, OpenPort)),
                        key=lambda p: (rank[p.source], _sort_key(p.host), p.port))
    warnings += _route_warnings(chosen, gateways, all_ifaces)
    if not gateways:
        warnings += _address_warnings(chosen, scan_ifaces)
    if not complete:
        warnings.append(DiscoveryWarning("incomplete", Text(
            f"Discovery stopped after {timeout:g} s; not every address was checked.",
            f"Die Suche wurde nach {timeout:g} s beendet; nicht jede Adresse wurde geprüft.")))
    elapsed = time.monotonic() - started
    emit("done", Text(f"{len(gateways)} gateway(s) found in {elapsed:.1f} s",
                      f"{len(gateways)} Gateway(s) in {elapsed:.1f} s gefunden"), 1.0)
    return DiscoveryReport(gateways, _unique(warnings), all_ifaces, open_ports, events, swept,
                           counters["probed"], elapsed, complete)


def _unique(warnings: Iterable[DiscoveryWarning]) -> list[DiscoveryWarning]:
    return list(dict.fromkeys(warnings))


def wan_han_warning(iface: NetworkInterface) -> DiscoveryWarning:
    """The WAN/HAN separation warning for an adapter that carries a default route."""
    gws = ", ".join(r.gateway for r in iface.default_routes if r.gateway)
    via = Text(f" (default gateway {gws})", f" (Standard-Gateway {gws})") if gws else Text("", "")
    base = netinfo.WAN_HAN_WARNING
    return DiscoveryWarning("default_route", Text(
        f"{iface.name}{via.en}: {base.en}", f"{iface.name}{via.de}: {base.de}"), iface.name)


def _route_warnings(chosen: NetworkInterface | None, gateways: Sequence[GatewayCandidate],
                    interfaces: Sequence[NetworkInterface]) -> list[DiscoveryWarning]:
    out: list[DiscoveryWarning] = []
    relevant: list[NetworkInterface] = []
    if chosen is not None and not chosen.is_loopback:
        relevant.append(chosen)
    by_name = {i.name: i for i in interfaces}
    for gateway in gateways:
        iface = by_name.get(gateway.interface or "")
        if iface is not None and not iface.is_loopback and iface not in relevant:
            relevant.append(iface)
    for iface in relevant:
        if iface.has_default_route:
            out.append(wan_han_warning(iface))
        elif iface.has_default_route is None:
            out.append(DiscoveryWarning("routes_unknown", Text(
                f"It is unknown whether {iface.name} also reaches the internet (the routing "
                "table could not be read). Make sure it has no default gateway.",
                f"Ob {iface.name} auch das Internet erreicht, ist unbekannt (Routing-Tabelle "
                "nicht lesbar). Stellen Sie sicher, dass kein Standard-Gateway gesetzt ist."),
                iface.name))
    return out


def _address_warnings(chosen: NetworkInterface | None,
                      scan_ifaces: Sequence[NetworkInterface]) -> list[DiscoveryWarning]:
    if chosen is not None and chosen.is_loopback:
        return []
    looked_at = [chosen] if chosen is not None else list(scan_ifaces)
    if _has_usual_han_address(looked_at):
        return []
    where = chosen.name if chosen is not None else None
    nets = ", ".join(str(n) for n in usual_han_networks())
    configured = [a for i in looked_at for a in i.ipv4 if not a.ip.is_link_local]
    lead = (Text(f"{where} has no IPv4 address.", f"{where} hat keine IPv4-Adresse.")
            if chosen is not None and not configured else
            Text("No adapter has an address in a usual HAN subnet.",
                 "Kein Adapter hat eine Adresse in einem üblichen HAN-Subnetz."))
    return [DiscoveryWarning("no_han_subnet", Text(
        f"{lead.en} Set a static address in the gateway's HAN subnet on the adapter at the HAN "
        f"port, e.g. {STATIC_IP_EXAMPLE} without a default gateway (usual subnets: {nets}).",
        f"{lead.de} Stellen Sie am Adapter des HAN-Anschlusses eine feste Adresse im HAN-Subnetz "
        f"des Gateways ein, z. B. {STATIC_IP_EXAMPLE} ohne Standard-Gateway (übliche Subnetze: "
        f"{nets})."), where)]


__all__ = [
    "BUILTIN_IDENTIFIERS", "KNOWN_ADDRESSES", "SOURCES", "VENDOR_FLAGS", "CertificateFacts",
    "Clue", "DiscoveryProgress", "DiscoveryReport", "DiscoveryWarning", "Evidence",
    "GatewayCandidate", "HttpAnswer", "Identifier", "KnownAddress", "OpenPort", "ProbeError",
    "combine", "discover", "find_smgw_id", "http_evidence", "identify", "parse_candidates",
    "register_identifier", "registered_identifiers", "sweep_plan", "tcp_open", "usual_han_networks",
    "wan_han_warning",
]
