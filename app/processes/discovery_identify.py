"""Who is behind a HAN endpoint: evidence, identifier rules and their verdict (Geräteerkennung).

What a first contact yields (:class:`CertificateFacts` of the HAN certificate, the unauthenticated
:class:`HttpAnswer` s collected by :func:`http_evidence`) is bundled as :class:`Evidence`; every
:class:`Identifier` reads it and gives :class:`Clue` s (vendor with a confidence, SMGW ID), which
:func:`combine` adds up. The built-in rules know the vendors' certificates, mDNS names and default
addresses; the HTTP answers (M2M, portal and CASA paths, header words) are read by the HAN vendor
detection's rules (:func:`app.transports.han.detect.clues`, discovery weights) (DOMAIN.md §6.2,
``docs/discovery.md``).
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
from app.transports.body import read_body
from app.transports.han import detect
from app.transports.han.detect import Clue, vendor_words
from app.transports.han.detect import ProbeAnswer as HttpAnswer
from app.transports.peer_response import PeerAwareResponse, peer_ssl_object

#: FLAG manufacturer codes of gateway makers (DOMAIN.md §2.1) -> vendor key.
VENDOR_FLAGS: dict[str, str] = {
    "THE": "theben", "PPC": "ppc", "EMH": "emh", "DNT": "sagemcom", "LGZ": "landis_gyr",
    "EFR": "efr", "DVL": "devolo", "KIG": "kiwigrid", "DGY": "discovergy",
}

#: Words that name a vendor in a certificate, a ``Server`` header, a Digest realm or a page title
#: (the HAN dialects' words of vendor detection, plus the other gateway makers).
VENDOR_WORDS: dict[str, tuple[str, ...]] = {
    **detect.VENDOR_WORDS,
    "sagemcom": ("sagemcom", "dr. neuhaus", "dr neuhaus"),
    "landis_gyr": ("landis+gyr", "landis gyr", "landis"),
    "efr": ("efr",),
    "devolo": ("devolo",),
    "kiwigrid": ("kiwigrid",),
    "discovergy": ("discovergy",),
}

MAX_BODY = detect.MAX_BODY
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
        return detect.path_exists(self.answers.get(path), self.control)


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


def _id_clue(smgw_id: str, confidence: float, reason: Text) -> Clue:
    """A clue for an SMGW ID seen in the evidence; its FLAG code names the vendor, if known."""
    vendor = VENDOR_FLAGS.get(smgw_id[1:4])
    return Clue(vendor, confidence if vendor else 0.0, reason, smgw_id)


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
    for vendor in vendor_words(" / ".join(filter(None, (cert.organization, cert.common_name))),
                               VENDOR_WORDS):
        yield Clue(vendor, 0.5, Text(f"the certificate subject names {vendor}",
                                     f"der Zertifikatsinhaber nennt {vendor}"))


def _by_names(ev: Evidence) -> Iterable[Clue]:
    for name in ev.names:
        smgw_id = find_smgw_id(name)
        if smgw_id:
            yield _id_clue(smgw_id, 0.5, Text(f"it answers mDNS as {name}",
                                              f"es antwortet per mDNS als {name}"))
            return


def _by_http_answers(ev: Evidence) -> Iterable[Clue]:
    """The HAN vendor detection's rules over the answers (M2M redirect, portal, CASA, words)."""
    return detect.clues(ev.answers, ev.control, weights=detect.DISCOVERY_WEIGHTS,
                        words=VENDOR_WORDS)


def _by_http_smgw_id(ev: Evidence) -> Iterable[Clue]:
    for ans in ev.answers.values():
        for text in (ans.realm, ans.location):
            smgw_id = find_smgw_id(text)
            if smgw_id:
                yield _id_clue(smgw_id, 0.5, Text(
                    f"its HTTP answer names SMGW ID {smgw_id}",
                    f"die HTTP-Antwort nennt die SMGW-ID {smgw_id}"))


def _known_address(ev: Evidence) -> Iterable[Clue]:
    if ev.known_vendor:
        yield Clue(ev.known_vendor, 0.2, Text(
            f"{ev.host} is a default address of {ev.known_vendor}",
            f"{ev.host} ist eine Standardadresse von {ev.known_vendor}"))


BUILTIN_IDENTIFIERS: tuple[Identifier, ...] = (
    Identifier("certificate", _by_certificate),
    Identifier("mdns-name", _by_names),
    Identifier("han-http", _by_http_answers, detect.PROBE_PATHS),
    Identifier("http-smgw-id", _by_http_smgw_id),
    Identifier("known-address", _known_address),
)


def combine(clues: Sequence[Clue]) -> tuple[str | None, float, str | None, tuple[Text, ...]]:
    """Vendor guess, its confidence, SMGW ID and reasons from all clues.

    Independent clues for one vendor add up as ``1 - Π(1 - c)``; the SMGW ID is the first one
    found (identifier order: certificate first).
    """
    scores = detect.add_up(clues)
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
                        body = await read_body(resp, MAX_BODY, truncate=True)
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
