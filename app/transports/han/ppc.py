"""HAN adapter for PPC gateways: the web portal ``/cgi-bin/hanservice.cgi`` (HTML forms).

How the portal is used (public community clients, see ``docs/han-ppc-emh.md``):

1. ``GET /cgi-bin/hanservice.cgi`` with HTTP Digest logs in: the answer sets a ``session`` cookie
   and carries a hidden form token ``tkn``.
2. Every further step is a ``POST`` of ``tkn``, ``action`` and the action's fields
   (``application/x-www-form-urlencoded``) with the cookie and Digest: ``meterform`` (meter list
   as ``<select name="mid">``), ``showMeterProfile`` (current values), ``showMeterValuesForm`` /
   ``showMeterValues`` (history), ``swversions``, ``logs``, ``selftest``, ``logout``.
3. One session per user: the adapter always logs out on :meth:`PpcAdapter.close`, also after
   errors, timeouts and cancellation; a session is never reused across logins (fresh Digest
   context per session). A self-test restarts the gateway and ends the session.

Times in the pages are local time (Europe/Berlin, without offset).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from html.parser import HTMLParser
from urllib.parse import urlencode

import aiohttp

from app.domain import LogicalName, Obis, ServerId, SmgwId
from app.domain.local_time import as_utc, berlin_offset, from_local, local_with_offset, to_local
from app.errors import InvalidValue, Text
from app.transports.han.base import (
    DEFAULT_TIMEOUT,
    CertificateRecord,
    FirmwareComponent,
    GatewayIdentity,
    HanAdapter,
    HanCredentials,
    LogEntry,
    LogKind,
    MeterInfo,
    MeterValue,
    Progress,
    SelfTestResult,
    check_log_access,
    report,
)
from app.transports.han.errors import (
    HanAccessDenied,
    HanError,
    HanLockedOut,
    HanNotEnabled,
    HanProtocolError,
    HanSessionBusy,
    HanTcpError,
)
from app.transports.han.http import DEFAULT_MAX_BODY, HanHttpClient, HanResponse
from app.transports.han.pinning import PinnedCertificate, PinStore
from app.transports.han.state_code import GatewayState, decode_state

log = logging.getLogger(__name__)

PATH = "/cgi-bin/hanservice.cgi"
FORM_TYPE = "application/x-www-form-urlencoded"
#: The earliest ``from`` the portal accepts (public observation: 1970 is refused).
EARLIEST = dt.datetime(2000, 1, 1)
LOCAL_FORMAT = "%Y-%m-%d %H:%M:%S"
#: At most this many pages are read for one log or value query (runaway protection).
MAX_PAGES = 1000
_MAX_NODES = 200_000

# --- local time (Europe/Berlin, app.domain.local_time) -------------------------------------------


def format_local(moment: dt.datetime) -> str:
    """``2026-03-02 10:30:00`` (local time, as the portal shows and expects it)."""
    return to_local(moment).strftime(LOCAL_FORMAT)


def parse_local(text: str, field: str) -> dt.datetime:
    """A portal time (``YYYY-MM-DD HH:MM:SS`` local) as an aware UTC value."""
    try:
        return from_local(dt.datetime.strptime(text.strip(), LOCAL_FORMAT))
    except (ValueError, OverflowError) as exc:
        raise _protocol(field, f"'{text.strip()[:40]}' is not a time like 2026-03-02 10:30:00",
                        f"'{text.strip()[:40]}' ist keine Zeit wie 2026-03-02 10:30:00") from exc


def _protocol(field: str, en: str, de: str) -> HanProtocolError:
    return HanProtocolError(Text(en + ".", de + "."), field=field)


# --- a small, tolerant HTML reader ---------------------------------------------------------------

_VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
                   "param", "source", "track", "wbr"})
#: Opening one of these closes an open element of the same family (HTML's implied end tags).
_IMPLIED = {"td": ("td", "th"), "th": ("td", "th"), "tr": ("tr", "td", "th"),
            "option": ("option",), "li": ("li",), "p": ("p",)}


@dataclass
class HtmlNode:
    """An element of a parsed page (tag, attributes, children, text)."""

    tag: str
    attrs: dict[str, str] = field(default_factory=dict)
    children: list[HtmlNode | str] = field(default_factory=list)

    def text(self) -> str:
        """The element's text, whitespace collapsed."""
        parts: list[str] = []

        def walk(node: HtmlNode) -> None:
            for child in node.children:
                if isinstance(child, str):
                    parts.append(child)
                else:
                    if child.tag == "br":
                        parts.append(" ")
                    walk(child)

        walk(self)
        return " ".join("".join(parts).split())

    def iter(self) -> Iterator[HtmlNode]:
        for child in self.children:
            if isinstance(child, HtmlNode):
                yield child
                yield from child.iter()

    def has_class(self, name: str) -> bool:
        return name in self.attrs.get("class", "").split()

    def find_all(self, tag: str | None = None, **attrs: str) -> list[HtmlNode]:
        """Descendants with ``tag`` and every attribute given (``class_`` matches one class)."""
        wanted = {k.rstrip("_"): v for k, v in attrs.items()}
        out = []
        for node in self.iter():
            if tag is not None and node.tag != tag:
                continue
            ok = True
            for key, value in wanted.items():
                if key == "class":
                    ok = ok and node.has_class(value)
                else:
                    ok = ok and node.attrs.get(key) == value
            if ok:
                out.append(node)
        return out

    def find(self, tag: str | None = None, **attrs: str) -> HtmlNode | None:
        found = self.find_all(tag, **attrs)
        return found[0] if found else None

    def cell(self, name: str) -> HtmlNode | None:
        """A table cell marked ``name`` by ``id`` (as the portal does) or by ``class``."""
        return self.find(id=name) or self.find(class_=name)


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = HtmlNode("#document")
        self.stack = [self.root]
        self.count = 0

    def _count(self) -> None:
        self.count += 1
        if self.count > _MAX_NODES:
            raise _TooComplex

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._count()
        family = _IMPLIED.get(tag)
        if family:
            for i in range(len(self.stack) - 1, 0, -1):
                open_tag = self.stack[i].tag
                if open_tag in family:
                    del self.stack[i:]
                    break
                if open_tag in ("table", "select", "ul", "ol", "body"):
                    break
        node = HtmlNode(tag, {k.lower(): (v or "") for k, v in attrs})
        self.stack[-1].children.append(node)
        if tag not in _VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._count()
        self.stack[-1].children.append(HtmlNode(tag, {k.lower(): (v or "") for k, v in attrs}))

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return

    def handle_data(self, data: str) -> None:
        self._count()
        self.stack[-1].children.append(data)


class _TooComplex(Exception):  # noqa: N818 - internal signal
    pass


def decode_page(body: bytes) -> str:
    """Page text: UTF-8, else ISO-8859-1 (older portal firmware)."""
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return body.decode("iso-8859-1")


def parse_html(body: bytes, *, field: str = "page") -> HtmlNode:
    """Parse a portal page; anything that is not HTML is a protocol error."""
    text = decode_page(body)
    if "<" not in text[:4096]:
        raise _protocol(field, "the gateway sent no HTML page", "das Gateway hat keine HTML-Seite "
                        "gesendet")
    builder = _Builder()
    try:
        builder.feed(text)
        builder.close()
    except _TooComplex as exc:
        raise _protocol(field, "the page has too many elements",
                        "die Seite hat zu viele Elemente") from exc
    return builder.root


# --- messages of the portal ----------------------------------------------------------------------

_DURATION = re.compile(r"(\d{1,12})\s*(stunden?|std\.?|minuten?|min\.?|sekunden?|sek\.?|hours?|"
                       r"minutes?|seconds?)(?![a-z])", re.IGNORECASE)


def countdown_from_text(text: str) -> float | None:
    """Seconds in a German (or English) countdown like ``4 Minuten und 37 Sekunden``."""
    total = 0.0
    found = False
    for number, unit in _DURATION.findall(text):
        found = True
        word = unit.lower()
        if word.startswith(("stund", "std", "hour")):
            total += int(number) * 3600
        elif word.startswith("min"):
            total += int(number) * 60
        else:
            total += int(number)
    return total if found else None


class _SessionLost(Exception):  # noqa: N818 - internal signal: log in again
    pass


def page_message(root: HtmlNode) -> str:
    """The portal's message on a page: the ``error`` box if there is one, else all text."""
    box = root.find(class_="error") or root.find(id="error")
    return (box or root).text()


def classify(status: int, root: HtmlNode, context: str) -> HanError | _SessionLost | None:
    """A refusal on a portal page (any status), or ``None`` for a normal page.

    The message is read from the page's error box; without one, from the whole page only if it
    is not a normal answer (status other than 200, or no table), so that a log entry such as
    "Anmeldung gesperrt" in a log table is never taken for the portal's own lock."""
    box = root.find(class_="error") or root.find(id="error")
    scope = box if box is not None else (
        root if status != 200 or root.find("table") is None else None)
    text = scope.text() if scope is not None else ""
    low = text.lower()
    if "gesperrt" in low and ("portal" in low or "anmeldung" in low):
        return HanLockedOut(countdown_from_text(text))
    if "bereits angemeldet" in low or "bereits eine sitzung" in low:
        return HanSessionBusy(countdown_from_text(text))
    if "nicht freigeschaltet" in low:
        return HanNotEnabled()
    if ("ungültige sitzung" in low or "invalide session" in low
            or "sitzung ist abgelaufen" in low):
        return _SessionLost(text)
    if "keine berechtigung" in low:
        return HanAccessDenied(Text(f"use '{context}'", f"'{context}' verwenden"))
    if box is not None and context != "selftest":
        return HanProtocolError(Text(f"the gateway refused '{context}': {text[:200]}",
                                     f"das Gateway hat '{context}' abgelehnt: {text[:200]}"),
                                field=context)
    if status != 200:
        return HanProtocolError(
            Text(f"unexpected answer HTTP {status} to '{context}': {text[:200]}",
                 f"unerwartete Antwort HTTP {status} auf '{context}': {text[:200]}"),
            field=context)
    return None


def find_token(root: HtmlNode) -> str | None:
    """The hidden form token ``tkn`` (the first one on the page)."""
    node = root.find("input", name="tkn")
    value = node.attrs.get("value", "").strip() if node is not None else ""
    return value or None


# --- values --------------------------------------------------------------------------------------

#: Unit texts of the portal -> (DLMS unit code, power of ten to the base unit).
UNIT_TEXTS: dict[str, tuple[int, int]] = {
    "Wh": (30, 0), "kWh": (30, 3), "MWh": (30, 6), "W": (27, 0), "kW": (27, 3),
    "VAh": (31, 0), "kVAh": (31, 3), "varh": (32, 0), "kvarh": (32, 3), "VA": (28, 0),
    "kVA": (28, 3), "var": (29, 0), "kvar": (29, 3), "V": (35, 0), "A": (33, 0),
    "Hz": (44, 0), "m³": (13, 0), "°C": (9, 0),
}
#: How the portal shows a unit code (energy in kWh, the rest in the base unit).
DISPLAY_UNITS: dict[int, tuple[str, int]] = {
    30: ("kWh", 3), 31: ("kVAh", 3), 32: ("kvarh", 3), 27: ("W", 0), 28: ("VA", 0),
    29: ("var", 0), 33: ("A", 0), 35: ("V", 0), 44: ("Hz", 0), 13: ("m³", 0), 9: ("°C", 0),
}


def format_value(raw: int, scaler: int, unit: int) -> tuple[str, str]:
    """``(number, unit)`` as the portal shows a register: energy in kWh with at least four
    decimals, exact (``2315077`` Wh -> ``2315.0770`` kWh)."""
    text, shift = DISPLAY_UNITS.get(unit, ("", 0))
    value = Decimal(raw).scaleb(scaler - shift)
    places = max(4 if shift else 0, -value.as_tuple().exponent)  # type: ignore[operator]
    return f"{value:.{places}f}", text


def parse_value(number: str, unit_text: str, obis: Obis, captured: dt.datetime | None,
                field: str) -> MeterValue:
    """A displayed register back as ``raw × 10^scaler`` in the DLMS base unit."""
    cleaned = number.strip().replace("\u00a0", "").replace(" ", "")
    if "," in cleaned and "." not in cleaned:
        cleaned = cleaned.replace(",", ".")
    try:
        value = Decimal(cleaned)
    except InvalidOperation as exc:
        raise _protocol(field, f"'{number.strip()[:40]}' is not a number",
                        f"'{number.strip()[:40]}' ist keine Zahl") from exc
    if not value.is_finite() or len(cleaned) > 40:
        raise _protocol(field, f"'{number.strip()[:40]}' is not a meter value",
                        f"'{number.strip()[:40]}' ist kein Zählerwert")
    code: int | None
    code, shift = UNIT_TEXTS.get(unit_text.strip(), (None, 0))
    sign, digits, exponent = value.as_tuple()
    if not isinstance(exponent, int) or abs(exponent) > 20:
        raise _protocol(field, f"'{number.strip()[:40]}' is not a meter value",
                        f"'{number.strip()[:40]}' ist kein Zählerwert")
    raw = int("".join(map(str, digits)) or "0") * (-1 if sign else 1)
    return MeterValue(obis.notation, obis.hex, raw, int(exponent) + shift, code, captured)


def _obis(text: str, field: str) -> Obis:
    try:
        return Obis.parse(text.strip())
    except InvalidValue as exc:
        raise HanProtocolError(exc.message, field=field) from exc


def parse_meter_table(root: HtmlNode, field: str) -> list[MeterValue]:
    """Rows of ``table#metervalue``; an empty timestamp cell repeats the one above."""
    table = root.find("table", id="metervalue")
    if table is None:
        raise _protocol(field, "the page has no table of meter values",
                        "die Seite hat keine Tabelle mit Zählerwerten")
    out: list[MeterValue] = []
    captured: dt.datetime | None = None
    for i, row in enumerate(table.find_all("tr")):
        obis_cell = row.cell("table_metervalues_col_obis")
        if obis_cell is None:
            continue  # header
        where = f"{field}[{i}]"
        stamp = row.cell("table_metervalues_col_timestamp")
        if stamp is not None and stamp.text():
            captured = parse_local(stamp.text(), f"{where}.timestamp")
        value = row.cell("table_metervalues_col_wert")
        unit = row.cell("table_metervalues_col_einheit")
        if value is None:
            raise _protocol(f"{where}.wert", "the row has no value cell",
                            "die Zeile hat keine Wert-Zelle")
        obis = _obis(obis_cell.text(), f"{where}.obis")
        out.append(parse_value(value.text(), unit.text() if unit else "", obis, captured,
                               f"{where}.wert"))
    return out


@dataclass(frozen=True)
class MeterOption:
    """An entry of the portal's meter list."""

    mid: str
    logical_name: str
    server_id: str
    server_id_hex: str | None


def parse_meter_options(root: HtmlNode) -> list[MeterOption]:
    """``<select name="mid">``: opaque ``mid`` values, logical names ``<prefix>.<meter>.sm``."""
    select = root.find("select", name="mid") or root.find("select", id="meterform_select_meter")
    if select is None:
        raise _protocol("meterform", "the page has no meter list",
                        "die Seite hat keine Zählerliste")
    out = []
    for i, option in enumerate(select.find_all("option")):
        mid = option.attrs.get("value", "").strip()
        name = option.text()
        if not mid:
            continue
        where = f"meterform[{i}]"
        try:
            instance = LogicalName.parse(name, field=where).instance
        except InvalidValue:
            instance = name.removesuffix(".sm").rsplit(".", 1)[-1]
        try:
            sid = ServerId.parse(instance, field=where)
            out.append(MeterOption(mid, name, sid.text, sid.hex))
        except InvalidValue as exc:
            if not instance:
                raise HanProtocolError(exc.message, field=where) from exc
            out.append(MeterOption(mid, name, instance, None))
    return out


_HEX = re.compile(r"[0-9a-fA-F]+")


def parse_swversions(root: HtmlNode) -> list[FirmwareComponent]:
    """Rows of three cells: component, version, checksum (SHA-256)."""
    out = []
    for i, row in enumerate(root.find_all("tr")):
        cells = row.find_all("td")
        if len(cells) != 3:
            continue
        component, version, checksum = (c.text() for c in cells)
        where = f"swversions[{i}]"
        if not component or not version:
            raise _protocol(where, "a software component without name or version",
                            "eine Softwarekomponente ohne Name oder Version")
        checksum = checksum.replace(" ", "").replace(":", "")
        if checksum and not _HEX.fullmatch(checksum):
            raise _protocol(f"{where}.checksum", f"'{checksum[:40]}' is not a hex checksum",
                            f"'{checksum[:40]}' ist keine Hex-Prüfsumme")
        out.append(FirmwareComponent(component, version, checksum.lower()))
    if not out:
        raise _protocol("swversions", "the page lists no software versions",
                        "die Seite nennt keine Softwareversionen")
    return out


_PAGE = re.compile(r"Seite\s+(\d{1,12})(?:\s+von\s+(\d{1,12}))?", re.IGNORECASE)


def page_numbers(root: HtmlNode) -> tuple[int, int | None]:
    """``Seite N von M`` -> ``(N, M)`` (``M`` is ``None`` when the page does not say)."""
    match = _PAGE.search(root.text())
    if not match:
        return 1, None
    return int(match.group(1)), int(match.group(2)) if match.group(2) else None


#: Level words of the portal's log -> CONEXA-style numbers (1 information ... 4 alert).
LEVELS: dict[str, int] = {"information": 1, "info": 1, "warnung": 2, "warning": 2,
                          "fehler": 3, "error": 3, "alarm": 4, "alert": 4, "fatal": 4}
LEVEL_WORDS: dict[int, str] = {1: "Information", 2: "Warnung", 3: "Fehler", 4: "Alarm"}
OUTCOMES: dict[str, str] = {"erfolgreich": "success", "fehlgeschlagen": "failure"}


def parse_log_rows(root: HtmlNode, kind: LogKind) -> list[LogEntry]:
    """Rows of ``table#logtable`` (cells marked ``table_log_col_*``)."""
    table = root.find("table", id="logtable")
    if table is None:
        if "keine daten vorhanden" in root.text().lower():
            return []
        raise _protocol("logs", "the page has no log table", "die Seite hat keine Logtabelle")
    out = []
    for i, row in enumerate(table.find_all("tr")):
        number = row.cell("table_log_col_nr")
        if number is None:
            continue  # header

        def text(name: str, row: HtmlNode = row) -> str:
            found = row.cell(f"table_log_col_{name}")
            return found.text() if found is not None else ""

        where = f"logs[{i}]"
        if not re.fullmatch(r"\d{1,12}", number.text()):
            raise _protocol(f"{where}.nr", f"'{number.text()[:20]}' is not a record number",
                            f"'{number.text()[:20]}' ist keine Satznummer")
        level_text = text("level")
        level = LEVELS.get(level_text.lower())
        if level is None and re.fullmatch(r"\d{1,12}", level_text):
            level = int(level_text)
        outcome = text("outcome")
        raw = {name: text(name) for name in ("nr", "timestamp", "level", "eventid", "subid",
                                             "outcome", "subject", "user", "message")}
        out.append(LogEntry(
            kind=kind,
            index=int(number.text()),
            time=parse_local(text("timestamp"), f"{where}.timestamp"),
            level=level,
            event_id=text("eventid") or None,
            event_sub_id=text("subid") or None,
            message=text("message"),
            subject=text("subject") or None,
            outcome=OUTCOMES.get(outcome.lower(), outcome or None),
            user=text("user") or None,
            raw=raw,
        ))
    return out


@dataclass(frozen=True)
class StartPage:
    """What the portal's start page says about the gateway."""

    smgw_id: str
    time: dt.datetime
    state: GatewayState
    model: str | None
    firmware: str | None


def parse_start_page(root: HtmlNode) -> StartPage:
    """Gateway facts of the start page (``smgwinfo_*`` cells, ``div_fwversion``)."""

    def cell(name: str) -> str:
        node = root.find(id=f"smgwinfo_{name}")
        if node is None or not node.text():
            raise _protocol(f"start.{name}", f"the start page does not show '{name}'",
                            f"die Startseite zeigt '{name}' nicht")
        return node.text()

    try:
        smgw_id = SmgwId.parse(cell("id")).text
    except InvalidValue as exc:
        raise HanProtocolError(exc.message, field="start.id") from exc
    try:
        state = decode_state(cell("state"), field="start.state")
    except InvalidValue as exc:
        raise HanProtocolError(exc.message, field="start.state") from exc
    model = root.find(id="smgwinfo_model")
    firmware = root.find(id="div_fwversion")
    return StartPage(smgw_id, parse_local(cell("time"), "start.time"), state,
                     model.text() if model is not None and model.text() else None,
                     firmware.text() if firmware is not None and firmware.text() else None)


# --- HTTP ----------------------------------------------------------------------------------------


#: Portal pages are HTML; the one cookie the portal session needs.
PORTAL_HEADERS = {"Accept": "text/html"}
SESSION_COOKIE = "session"


def _session_cookie(http: HanHttpClient) -> str | None:
    return http.cookies.get(SESSION_COOKIE)


#: How long after an accepted self-test a refused connection is taken for the restart.
RESTART_HINT_SECONDS = 600.0
RESTARTING_HINT = Text(
    "The gateway restarts after its self-test and cannot be reached for a few minutes. Wait, "
    "then log in again; the self-test result appears in the log.",
    "Das Gateway startet nach dem Selbsttest neu und ist einige Minuten nicht erreichbar. "
    "Warten Sie und melden Sie sich dann erneut an; das Ergebnis des Selbsttests erscheint im "
    "Log.")
#: (host, port) -> ``time.monotonic()`` of the self-test that restarts that gateway
_RESTARTS: dict[tuple[str, int], float] = {}


_BACKGROUND: set[asyncio.Task[None]] = set()


class PpcAdapter(HanAdapter):
    """PPC SMGW (HAN web portal ``hanservice.cgi``)."""

    vendor = "ppc"

    def __init__(
        self,
        host: str,
        port: int = 443,
        *,
        credentials: HanCredentials,
        pin: PinnedCertificate,
        timeout: float = DEFAULT_TIMEOUT,
        digest_algorithm: str | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY,
        pin_store: PinStore | None = None,
        logout_timeout: float = 5.0,
    ) -> None:
        """``digest_algorithm``: ``None`` honours the gateway's challenge. ``logout_timeout``
        bounds the logout that :meth:`close` always sends."""
        super().__init__(timeout=timeout)
        self.host = host
        self.port = port
        self.credentials = credentials
        self.pin = pin
        self.pin_store = pin_store
        self.digest_algorithm = digest_algorithm
        self.max_body_bytes = max_body_bytes
        self.logout_timeout = logout_timeout
        self._http: HanHttpClient | None = None
        self._token: str | None = None
        self.start_page: StartPage | None = None
        #: set after a self-test: the gateway restarts and the session is gone
        self.restarting = False

    @property
    def logged_in(self) -> bool:
        return self._http is not None and self._token is not None

    @property
    def http(self) -> HanHttpClient | None:
        """The HTTPS client of the current session (a new one for every login)."""
        return self._http

    @property
    def peer_certificate_sha256(self) -> str | None:
        return self._http.peer_sha256 if self._http else None

    # -- session ----------------------------------------------------------------------------------

    def _new_http(self) -> HanHttpClient:
        return HanHttpClient(self.host, self.port, pin=self.pin, credentials=self.credentials,
                             digest_algorithm=self.digest_algorithm,
                             max_body_bytes=self.max_body_bytes, headers=PORTAL_HEADERS,
                             keep_cookies=(SESSION_COOKIE,))

    def _page(self, response: HanResponse, context: str) -> HtmlNode:
        """Parse a page, take over its form token (the portal may issue a new one with every
        page, refusals included), then raise the refusal it shows, if any."""
        root = parse_html(response.body, field=context)
        token = find_token(root)
        if token is not None and self._http is not None and _session_cookie(self._http):
            self._token = token
        refusal = classify(response.status, root, context)
        if refusal is not None:
            raise refusal
        return root

    async def _login(self) -> HtmlNode:
        """Log in: ``GET`` of the portal for the cookie and the token (a new HTTPS client, i.e. a
        fresh Digest context, after every :meth:`close`)."""
        if self._http is None:
            self._http = self._new_http()
        self._token = None
        # a still valid cookie gets the start page of the same session again (new token)
        try:
            response = await self._http.request("GET", PATH)
        except HanTcpError as exc:
            if not self._restart_pending():
                raise
            raise HanTcpError(exc.host, exc.port, exc.reason, hint=RESTARTING_HINT) from exc
        try:
            root = self._page(response, "login")
        except _SessionLost as exc:
            raise _protocol("login", "the gateway rejected the new session",
                            "das Gateway hat die neue Sitzung abgelehnt") from exc
        token = self._token
        if _session_cookie(self._http) is None:
            raise _protocol("session", "the gateway set no session cookie",
                            "das Gateway hat kein Sitzungs-Cookie gesetzt")
        if token is None:
            raise _protocol("tkn", "the page has no form token",
                            "die Seite hat kein Formular-Token")
        self._token = token  # from here on close() can log out, whatever follows
        self.restarting = False
        _RESTARTS.pop((self.host, self.port), None)
        self.start_page = parse_start_page(root)
        return root

    def _restart_pending(self) -> bool:
        """Whether this gateway was sent into its self-test restart a short while ago (by this
        adapter or another one in this program)."""
        since = _RESTARTS.get((self.host, self.port))
        recent = since is not None and time.monotonic() - since < RESTART_HINT_SECONDS
        return self.restarting or recent

    async def _connect(self, progress: Progress | None) -> None:
        report(progress, 0.0, Text("Logging in to the HAN portal", "Anmeldung am HAN-Portal"))
        if not self.logged_in:
            await self._login()
        report(progress, 1.0, Text("Logged in", "Angemeldet"))

    async def post(self, action: str, **fields: str) -> HtmlNode:
        """POST one portal action with the session's token; log in again once if the gateway
        says the session is invalid."""
        if not self.logged_in:
            await self._login()
        for attempt in range(2):
            assert self._http is not None and self._token is not None
            body = urlencode({"tkn": self._token, "action": action, **fields}).encode("ascii")
            response = await self._http.request("POST", PATH, body=body, content_type=FORM_TYPE)
            try:
                return self._page(response, action)
            except _SessionLost as exc:
                if attempt:
                    raise _protocol(action, "the gateway keeps rejecting the session",
                                    "das Gateway lehnt die Sitzung weiter ab") from exc
                log.info("PPC portal: session no longer valid, logging in again")
                await self._login()
        raise AssertionError("unreachable")

    async def close(self) -> None:
        """Log out (always, bounded by ``logout_timeout``) and close the connection. The
        logout runs to its end even if the caller is cancelled meanwhile."""
        http, self._http = self._http, None
        token, self._token = self._token, None
        if http is None:
            return
        task = asyncio.ensure_future(self._logout(http, token))
        _BACKGROUND.add(task)
        task.add_done_callback(_BACKGROUND.discard)
        await asyncio.shield(task)

    async def _logout(self, http: HanHttpClient, token: str | None) -> None:
        """POST ``logout``; if the token has gone stale meanwhile (e.g. the answer carrying the
        new one was cancelled), fetch the start page of the session for a fresh one, once."""
        try:
            if token is not None and _session_cookie(http):
                async with asyncio.timeout(self.logout_timeout):
                    for _ in range(2):
                        body = urlencode({"tkn": token, "action": "logout"}).encode("ascii")
                        response = await http.request("POST", PATH, body=body,
                                                      content_type=FORM_TYPE)
                        root = parse_html(response.body, field="logout")
                        if not isinstance(classify(response.status, root, "logout"),
                                          _SessionLost) or not _session_cookie(http):
                            return
                        start = await http.request("GET", PATH)
                        token = find_token(parse_html(start.body, field="logout")) or ""
        except (HanError, TimeoutError, OSError, aiohttp.ClientError) as exc:
            log.info("PPC portal: logout failed (%s); the session ends by its idle timeout", exc)
        finally:
            with contextlib.suppress(Exception):
                await http.close()

    # -- identity ---------------------------------------------------------------------------------

    async def _fresh_start_page(self) -> StartPage:
        """The start page again (same session: its time is current)."""
        if not self.logged_in:
            await self._login()
            assert self.start_page is not None
            return self.start_page
        assert self._http is not None
        response = await self._http.request("GET", PATH)
        try:
            root = self._page(response, "start")
        except _SessionLost:
            await self._login()
            assert self.start_page is not None
            return self.start_page
        self.start_page = parse_start_page(root)
        return self.start_page

    def _han_certificate(self) -> CertificateRecord:
        return CertificateRecord.from_pem("han_tls", self.pin.pem)

    async def firmware(self) -> list[FirmwareComponent]:
        """Software versions with checksums (``swversions``)."""
        return parse_swversions(await self.post("swversions"))

    async def _identify(self, progress: Progress | None) -> GatewayIdentity:
        report(progress, None, Text("Reading gateway data", "Gateway-Daten werden gelesen"))
        start = await self._fresh_start_page()
        firmware = await self.firmware()
        identity = GatewayIdentity(
            vendor=self.vendor, smgw_id=start.smgw_id, firmware=tuple(firmware),
            state=start.state, time=start.time, certificates=(self._han_certificate(),),
            model=start.model,
        )
        if self.pin_store is not None:
            self.pin_store.bind(self.pin, identity.smgw_id)
        return identity

    # -- meters -----------------------------------------------------------------------------------

    async def meter_options(self) -> list[MeterOption]:
        """The meter list of the portal (``meterform``)."""
        return parse_meter_options(await self.post("meterform"))

    async def _meters(self, progress: Progress | None) -> list[MeterInfo]:
        options = await self.meter_options()
        out = []
        for n, option in enumerate(options):
            report(progress, n / max(1, len(options)),
                   Text(f"Reading meter {option.server_id}",
                        f"Zähler {option.server_id} wird gelesen"))
            try:
                page = await self.post("showMeterProfile", mid=option.mid)
            except HanAccessDenied:
                out.append(MeterInfo(option.server_id, option.server_id_hex,
                                     values_available=False))
                continue
            latest: dict[str, MeterValue] = {}
            for value in parse_meter_table(page, "showMeterProfile"):
                known = latest.get(value.obis_hex)
                if known is None or (value.captured and known.captured
                                     and value.captured > known.captured):
                    latest[value.obis_hex] = value
            out.append(MeterInfo(option.server_id, option.server_id_hex,
                                 values=tuple(sorted(latest.values(), key=lambda v: v.obis_hex))))
        report(progress, 1.0, Text(f"{len(out)} meters", f"{len(out)} Zähler"))
        return out

    async def meter_values(
        self,
        server_id: str,
        since: dt.datetime,
        until: dt.datetime,
        *,
        timeout: float | None = None,
        progress: Progress | None = None,
    ) -> list[MeterValue]:
        """Register values of one meter between ``since`` and ``until`` (``showMeterValues``),
        oldest first."""
        return await self._bounded("meter_values", timeout,
                                   self._meter_values(server_id, since, until, progress))

    async def _meter_values(self, server_id: str, since: dt.datetime, until: dt.datetime,
                            progress: Progress | None) -> list[MeterValue]:
        wanted = ServerId.parse(server_id).text
        options = await self.meter_options()
        option = next((o for o in options if o.server_id == wanted), None)
        if option is None:
            raise HanAccessDenied(Text(f"read the meter {wanted}", f"den Zähler {wanted} lesen"))
        form = await self.post("showMeterValuesForm", mid=option.mid)
        hidden = form.find("input", name="mid")
        mid = hidden.attrs.get("value") if hidden is not None else None
        values: list[MeterValue] = []
        for page in range(1, MAX_PAGES + 1):
            root = await self.post("showMeterValues", mid=mid or option.mid,
                                   **{"from": format_local(as_utc(since)),
                                      "to": format_local(as_utc(until))},
                                   page=str(page))
            values.extend(parse_meter_table(root, "showMeterValues"))
            number, pages = page_numbers(root)
            report(progress, number / pages if pages else None,
                   Text(f"{len(values)} values read", f"{len(values)} Werte gelesen"))
            if pages is None or number >= pages:
                break
        oldest = dt.datetime.min.replace(tzinfo=dt.UTC)
        return sorted(values, key=lambda v: (v.captured or oldest, v.obis_hex))

    # -- logs -------------------------------------------------------------------------------------

    async def _logs(
        self,
        kind: LogKind,
        since: dt.datetime | None,
        until: dt.datetime | None,
        from_index: int | None,
        count: int | None,
        progress: Progress | None,
    ) -> list[LogEntry]:
        check_log_access(self.credentials.role, kind)
        fields = {"from": format_local(as_utc(since)) if since is not None
                  else EARLIEST.strftime(LOCAL_FORMAT)}
        if until is not None:
            fields["to"] = format_local(as_utc(until))
        entries: list[LogEntry] = []
        last = 0
        for page in range(1, MAX_PAGES + 1):
            root = await self.post("logs", page=str(page), **fields)
            rows = parse_log_rows(root, kind)
            for entry in rows:
                if entry.index <= last:
                    raise _protocol("logs", "the gateway repeats log entries instead of paging on",
                                    "das Gateway wiederholt Logeinträge, statt weiterzublättern")
                last = entry.index
                if from_index is not None and entry.index < from_index:
                    continue
                entries.append(entry)
            number, pages = page_numbers(root)
            fraction = (number / pages) if pages else None
            if count:
                fraction = min(1.0, len(entries) / count)
            report(progress, fraction, Text(f"{len(entries)} log entries read",
                                            f"{len(entries)} Logeinträge gelesen"))
            if count is not None and len(entries) >= count:
                return entries[:count]
            if not rows or pages is None or number >= pages:
                break
        return entries

    # -- self-test --------------------------------------------------------------------------------

    async def _self_test(self, progress: Progress | None) -> SelfTestResult:
        report(progress, None, Text("Requesting the self-test", "Selbsttest wird angefordert"))
        root = await self.post("selftest")
        text = page_message(root)
        if root.find(id="selftest_started") is not None or "neu gestartet" in text.lower():
            # the gateway restarts: the session is gone, there is nobody to log out from
            http, self._http, self._token = self._http, None, None
            self.restarting = True
            now = time.monotonic()
            for key, since in list(_RESTARTS.items()):
                if now - since >= RESTART_HINT_SECONDS:
                    del _RESTARTS[key]
            _RESTARTS[(self.host, self.port)] = now
            if http is not None:
                await http.close()
            return SelfTestResult(True, None, Text(
                "The gateway runs its self-test and restarts; it cannot be reached for a few "
                "minutes. Log in again afterwards; the result appears in the log.",
                "Das Gateway führt den Selbsttest aus und startet neu; es ist einige Minuten "
                "nicht erreichbar. Danach erneut anmelden; das Ergebnis erscheint im Log."))
        seconds = countdown_from_text(text)
        if seconds is not None:
            return SelfTestResult(False, seconds, Text(
                "The gateway allows one self-test every 10 minutes.",
                "Das Gateway erlaubt einen Selbsttest alle 10 Minuten."))
        raise _protocol("selftest", f"unexpected answer to the self-test: {text[:200]}",
                        f"unerwartete Antwort auf den Selbsttest: {text[:200]}")


__all__ = [
    "EARLIEST", "LOCAL_FORMAT", "PATH", "HtmlNode", "MeterOption", "PpcAdapter", "StartPage",
    "as_utc", "berlin_offset", "classify", "countdown_from_text", "find_token", "format_local",
    "format_value", "from_local", "local_with_offset", "page_numbers", "parse_html",
    "parse_local", "parse_log_rows", "parse_meter_options", "parse_meter_table",
    "parse_start_page", "parse_swversions", "parse_value", "to_local",
]
