"""Vendor auto-detection at the HAN port (Herstellererkennung) from unauthenticated answers.

:func:`detect_vendor` sends a few ``GET`` requests **without credentials** over the pinned TLS
connection (so it never counts as a failed login and never brings a login lock closer) and
reads the answers with :func:`classify`. The rules, each a clue with a confidence; clues for one
vendor add up as ``1 - Π(1 - c)`` (see ``docs/han-ppc-emh.md``):

================================  ==========================================================  ====
answer                            meaning                                                     c
================================  ==========================================================  ====
``/smgw/m2m`` -> 3xx to           CONEXA M2M endpoint (``IF_GW_CON``)                          0.95
``/smgw/m2m/<user>/json``
``/smgw/m2m`` exists              CONEXA interface, login required                             0.7
``/cgi-bin/hanservice.cgi``       PPC HAN portal                                               0.7
exists
... with a portal page            ``name="tkn"``, ``hanservice`` or ``div_fwversion`` in it    0.5
``/json/metering/derived``        EMH CASA JSON interface                                      0.7
exists
... answering JSON                ``Content-Type: application/json``                           0.3
vendor word in ``Server``,        ``theben``/``conexa``, ``ppc``/``power plus``,               0.4
Digest realm or page title        ``emh``/``casa``
================================  ==========================================================  ====

A path "exists" when its answer is not 404 and differs (status, redirect target, auth scheme)
from the answer to a path no gateway has, so a server that answers everything alike gives no
path clue. The vendor with the highest score wins if it reaches :data:`MIN_CONFIDENCE` and leads
the next one by :data:`MIN_MARGIN`; otherwise the result names no vendor and the technician
chooses.

Gateway discovery (:mod:`app.processes.discovery_identify`) reads the HTTP answers it collects
with the same rules (:func:`clues`), weighted by :data:`DISCOVERY_WEIGHTS` because there they add
up with certificate, mDNS and default-address clues.
"""

from __future__ import annotations

import asyncio
import re
import ssl
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from app.errors import Text
from app.transports.body import read_body
from app.transports.han.errors import (
    HanCertificateChanged,
    HanError,
    HanTcpError,
    HanTimeout,
    HanTlsError,
)
from app.transports.han.pinning import PinnedCertificate, tls_alert

THEBEN_PATH = "/smgw/m2m"
PPC_PATH = "/cgi-bin/hanservice.cgi"
EMH_PATH = "/json/metering/derived"
PROBE_PATHS = (THEBEN_PATH, PPC_PATH, EMH_PATH)
CONTROL_PATH = "/smgwct-detect-control"
MAX_BODY = 16 * 1024
MIN_CONFIDENCE = 0.6
MIN_MARGIN = 0.2
VENDORS = ("theben", "ppc", "emh")

#: Words that name a vendor in a ``Server`` header, a Digest realm or a page title.
VENDOR_WORDS: dict[str, tuple[str, ...]] = {
    "theben": ("theben", "conexa"),
    "ppc": ("ppc", "power plus communications", "power plus", "hanservice"),
    "emh": ("emh", "casa"),
}

_REALM = re.compile(r'realm\s*=\s*"([^"]*)"', re.IGNORECASE)
_TITLE = re.compile(rb"<title[^>]*>(.*?)</title", re.IGNORECASE | re.DOTALL)
_M2M_LOCATION = re.compile(r"/smgw/m2m/[^/?#\s]+/json/?$")


@dataclass(frozen=True)
class ProbeAnswer:
    """The answer to one unauthenticated ``GET``: status, headers, the start of the body."""

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
    def content_type(self) -> str:
        return (self.header("content-type") or "").split(";", 1)[0].strip().lower()

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
class Clue:
    """One rule's reading: a vendor with a confidence (0..1), and/or an SMGW ID seen."""

    vendor: str | None
    confidence: float
    reason: Text
    smgw_id: str | None = None


@dataclass(frozen=True)
class Weights:
    """The confidence each rule of :func:`clues` gives (0: the rule is not used)."""

    m2m_redirect: float = 0.95
    m2m_exists: float = 0.7
    portal_exists: float = 0.7
    portal_form: float = 0.5
    casa_exists: float = 0.7
    casa_json: float = 0.3
    word: float = 0.4


#: Vendor detection before a login (the table above).
DETECT_WEIGHTS = Weights()
#: Gateway discovery: path clues weigh less, words more, next to certificate and mDNS clues.
DISCOVERY_WEIGHTS = Weights(m2m_redirect=0.9, m2m_exists=0.6, portal_exists=0.6,
                            portal_form=0.5, casa_exists=0.5, casa_json=0.0, word=0.5)


@dataclass(frozen=True)
class Detection:
    """The outcome: a vendor (or ``None`` when the answers do not decide), its score, the
    scores of all vendors and the reasons."""

    vendor: str | None
    confidence: float
    scores: Mapping[str, float]
    reasons: tuple[Text, ...]
    answers: Mapping[str, ProbeAnswer] = field(default_factory=dict, repr=False)

    def to_dict(self, lang: str = "en") -> dict[str, Any]:
        return {
            "vendor": self.vendor, "confidence": self.confidence, "scores": dict(self.scores),
            "reasons": [r.get(lang) for r in self.reasons],
            "answers": {p: a.status for p, a in self.answers.items()},
        }


class VendorNotDetected(HanError):
    """The gateway answers, but its answers do not tell the vendor."""

    def __init__(self, detection: Detection) -> None:
        seen = ", ".join(f"{v} {s:.2f}" for v, s in sorted(detection.scores.items())) or "none"
        super().__init__(
            Text(f"The gateway's vendor could not be recognised (scores: {seen}).",
                 f"Der Hersteller des Gateways ist nicht erkennbar (Bewertung: {seen})."),
            field="vendor",
            hint=Text("Choose the vendor (theben, ppc or emh) in the connection settings or with "
                      "--vendor.",
                      "Wählen Sie den Hersteller (theben, ppc oder emh) in den "
                      "Verbindungseinstellungen oder mit --vendor."),
        )
        self.detection = detection


# --- rules ----------------------------------------------------------------------------------------


def path_exists(answer: ProbeAnswer | None, control: ProbeAnswer | None) -> bool:
    """The gateway serves the path: not 404 or 5xx, and not answered like the control path."""
    if answer is None or answer.status == 404 or answer.status >= 500:
        return False
    if control is None:
        return True
    return (answer.status, answer.location, answer.auth_schemes) != (
        control.status, control.location, control.auth_schemes)


def vendor_words(text: str | None, words: Mapping[str, Sequence[str]] = VENDOR_WORDS
                 ) -> list[str]:
    """The vendors whose words stand in ``text`` (whole words, any case)."""
    low = (text or "").lower()
    return [vendor for vendor, names in words.items()
            if any(re.search(rf"(?<![a-z0-9]){re.escape(w)}(?![a-z0-9])", low) for w in names)]


def clues(
    answers: Mapping[str, ProbeAnswer],
    control: ProbeAnswer | None,
    *,
    weights: Weights = DETECT_WEIGHTS,
    words: Mapping[str, Sequence[str]] = VENDOR_WORDS,
) -> list[Clue]:
    """Every rule's reading of the answers (rules with weight 0 are left out)."""
    out: list[Clue] = []

    def add(vendor: str, weight: float, reason: Text) -> None:
        if weight > 0:
            out.append(Clue(vendor, weight, reason))

    m2m = answers.get(THEBEN_PATH)
    if m2m is not None and 300 <= m2m.status < 400 and _M2M_LOCATION.search(m2m.location or ""):
        add("theben", weights.m2m_redirect, Text(
            "GET /smgw/m2m redirects to a CONEXA M2M endpoint",
            "GET /smgw/m2m leitet auf einen CONEXA-M2M-Endpunkt um"))
    elif m2m is not None and path_exists(m2m, control):
        add("theben", weights.m2m_exists, Text(
            f"it serves the CONEXA M2M interface /smgw/m2m (HTTP {m2m.status})",
            f"es bedient die CONEXA-M2M-Schnittstelle /smgw/m2m (HTTP {m2m.status})"))
    portal = answers.get(PPC_PATH)
    if portal is not None and path_exists(portal, control):
        add("ppc", weights.portal_exists, Text(
            f"it serves the PPC HAN portal {PPC_PATH} (HTTP {portal.status})",
            f"es bedient das PPC-HAN-Portal {PPC_PATH} (HTTP {portal.status})"))
        body = portal.body.lower()
        if b'name="tkn"' in body or b"hanservice" in body or b"div_fwversion" in body:
            add("ppc", weights.portal_form, Text("the portal page has the PPC form elements",
                                                 "die Portalseite hat die PPC-Formularelemente"))
    casa = answers.get(EMH_PATH)
    if casa is not None and path_exists(casa, control):
        add("emh", weights.casa_exists, Text(
            f"it serves the CASA JSON interface {EMH_PATH} (HTTP {casa.status})",
            f"es bedient die CASA-JSON-Schnittstelle {EMH_PATH} (HTTP {casa.status})"))
        if casa.content_type == "application/json":
            add("emh", weights.casa_json, Text("the CASA interface answers in JSON",
                                               "die CASA-Schnittstelle antwortet in JSON"))
    seen: set[tuple[str, str]] = set()
    everything: Iterable[ProbeAnswer] = [*answers.values(), *([control] if control else [])]
    for answer in everything:
        for what, text in ((Text("Server header", "Der Server-Header"), answer.server),
                           (Text("Digest realm", "Der Digest-Realm"), answer.realm),
                           (Text("page title", "Der Seitentitel"), answer.title)):
            for vendor in vendor_words(text, words):
                if (vendor, what.en) not in seen:
                    seen.add((vendor, what.en))
                    add(vendor, weights.word, Text(f"its {what.en} '{text}' names {vendor}",
                                                   f"{what.de} '{text}' nennt {vendor}"))
    return out


def add_up(found: Iterable[Clue]) -> dict[str, float]:
    """Score per vendor: independent clues for one vendor combine as ``1 - Π(1 - c)``."""
    scores: dict[str, float] = {}
    for clue in found:
        if clue.vendor and clue.confidence > 0:
            scores[clue.vendor] = 1 - (1 - scores.get(clue.vendor, 0.0)) * (1 - clue.confidence)
    return scores


def classify(answers: Mapping[str, ProbeAnswer], control: ProbeAnswer | None = None
             ) -> Detection:
    """The vendor the answers point to (pure: no I/O)."""
    found = clues(answers, control)
    scores = {v: round(s, 3) for v, s in add_up(found).items()}
    ranked = sorted(scores.items(), key=lambda item: item[1], reverse=True)
    vendor: str | None = None
    confidence = 0.0
    if ranked:
        best, score = ranked[0]
        runner_up = ranked[1][1] if len(ranked) > 1 else 0.0
        if score >= MIN_CONFIDENCE and score - runner_up >= MIN_MARGIN:
            vendor, confidence = best, score
    reasons = tuple(dict.fromkeys(c.reason for c in found))
    return Detection(vendor, confidence, scores, reasons, dict(answers))


# --- probing --------------------------------------------------------------------------------------


def _base(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"https://{shown}:{port}"


async def _get(session: aiohttp.ClientSession, base: str, path: str) -> ProbeAnswer:
    async with session.get(base + path, allow_redirects=False,
                           headers={"Accept": "*/*"}) as resp:
        body = await read_body(resp, MAX_BODY, truncate=True)
        headers = tuple((k.lower(), v) for k, v in resp.headers.items())
        return ProbeAnswer(path, resp.status, headers, body)


async def probe(
    host: str,
    port: int,
    tls: PinnedCertificate | ssl.SSLContext,
    *,
    paths: Sequence[str] = PROBE_PATHS,
) -> tuple[dict[str, ProbeAnswer], ProbeAnswer | None]:
    """Unauthenticated ``GET`` of ``paths`` and of :data:`CONTROL_PATH` over pinned TLS."""
    context = tls.ssl_context() if isinstance(tls, PinnedCertificate) else tls
    connector = aiohttp.TCPConnector(ssl=context, limit=4)
    base = _base(host, port)
    try:
        async with aiohttp.ClientSession(connector=connector) as session:
            results = await asyncio.gather(*(_get(session, base, p)
                                             for p in (*paths, CONTROL_PATH)))
    except aiohttp.ClientConnectorCertificateError as exc:
        if isinstance(tls, PinnedCertificate):
            raise HanCertificateChanged(tls.sha256, None) from exc
        raise HanTlsError(Text(f"The gateway's certificate was rejected ({exc}).",
                               f"Das Zertifikat des Gateways wurde abgelehnt ({exc}).")) from exc
    except aiohttp.ClientConnectorSSLError as exc:
        raise HanTlsError(Text(f"The TLS handshake failed ({exc.os_error}).",
                               f"Der TLS-Verbindungsaufbau ist fehlgeschlagen ({exc.os_error})."),
                          alert=tls_alert(exc.os_error)) from exc
    except aiohttp.ClientConnectorError as exc:
        raise HanTcpError(host, port, exc.os_error.strerror or type(exc.os_error).__name__) \
            from exc
    except (aiohttp.ClientError, OSError) as exc:
        raise HanTlsError(Text(f"The gateway closed the connection ({exc}).",
                               f"Das Gateway hat die Verbindung beendet ({exc}).")) from exc
    answers = {a.path: a for a in results}
    return answers, answers.pop(CONTROL_PATH, None)


async def detect_vendor(
    host: str,
    port: int,
    tls: PinnedCertificate | ssl.SSLContext,
    *,
    timeout: float = 8.0,
) -> Detection:
    """Probe the gateway and classify its answers (no credentials are sent).

    Raises :class:`HanTimeout`, :class:`HanTcpError`, :class:`HanTlsError` (incl.
    :class:`HanCertificateChanged`) when the gateway cannot be asked at all.
    """
    try:
        async with asyncio.timeout(timeout):
            answers, control = await probe(host, port, tls)
    except TimeoutError as exc:
        raise HanTimeout("detect", timeout) from exc
    return classify(answers, control)


def require_vendor(detection: Detection) -> str:
    """The detected vendor, or :class:`VendorNotDetected`."""
    if detection.vendor is None:
        raise VendorNotDetected(detection)
    return detection.vendor
