"""HAN server of the virtual SMGW in the PPC dialect: the web portal ``/cgi-bin/hanservice.cgi``.

Modelled on what public community clients do with real PPC gateways (``docs/han-ppc-emh.md``
lists the sources and every point this server decides itself):

* ``GET`` with HTTP Digest logs in: ``Set-Cookie: session=...`` and a start page with the hidden
  form token ``tkn``. A ``GET`` with the current cookie shows the start page of that session.
* ``POST`` (form-encoded) ``tkn`` + ``action``: ``meterform``, ``showMeterProfile``,
  ``showMeterValuesForm``, ``showMeterValues``, ``swversions``, ``logs``, ``selftest``,
  ``logout``. Every page carries a new token that the next step must send; a missing or wrong
  cookie or token gives the page "Ungültige Sitzung".
* One session per user (scenario policy, PPC: ``refuse``): a second login is refused until the
  first logs out or stays idle for the idle timeout. Failed logins lock the user name with the
  countdown "Das Portal ist für 4 Minuten und 37 Sekunden gesperrt".
* ``selftest`` restarts the gateway: every session ends and, once the answer is sent, the whole
  server goes away for ``reboot_seconds`` (gateway clock, scenario ``han.reboot_seconds``): the
  port is closed and open connections end (:meth:`HanServerHandle.pause`).
* Times are German local time; tables mark their cells with ``id`` (as the real portal) and the
  same ``class``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import html
import math
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from aiohttp import web
from multidict import CIMultiDict

from app.domain import Obis, ServerId
from app.domain.local_time import from_local
from app.sim.smgw.access import HanUser, Role, SelfTestLocked
from app.sim.smgw.han_common import (
    RESTART,
    HanApplication,
    Refusal,
    Restart,
    retry_seconds,
    visible_meters,
)
from app.sim.smgw.logs import Event, GatewayLogEntry, LogLevel
from app.sim.smgw.state import LmnMeter, SmgwState
from app.transports.han.ppc import (
    EARLIEST,
    LEVEL_WORDS,
    LOCAL_FORMAT,
    PATH,
    format_local,
    format_value,
)

MAX_REQUEST_BYTES = 16 * 1024
#: Entries per page of the log view, timestamps per page of the value history.
LOG_PAGE = 250
VALUES_PAGE = 192
MAX_VALUES_WINDOW = dt.timedelta(days=31)


def countdown_text(seconds: float) -> str:
    """``4 Minuten und 37 Sekunden`` (German, singular where it applies)."""
    minutes, secs = divmod(retry_seconds(seconds), 60)
    sec_word = "Sekunde" if secs == 1 else "Sekunden"
    if not minutes:
        return f"{secs} {sec_word}"
    min_word = "Minute" if minutes == 1 else "Minuten"
    return f"{minutes} {min_word} und {secs} {sec_word}"


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _cell(name: str, value: object) -> str:
    css = f"table_metervalues_col_{name}"
    return f'<td id="{css}" class="{css}">{_e(value)}</td>'


def _log_cell(name: str, value: object) -> str:
    css = f"table_log_col_{name}"
    return f'<td id="{css}" class="{css}">{_e(value)}</td>'


@dataclass
class _Session:
    """Portal state of one login: the cookie, the form token, the meter handles."""

    user: str
    cookie: str
    token: str
    nonce: str | None = None
    mids: dict[str, ServerId] = field(default_factory=dict)


class PpcHanServer(HanApplication):
    """The PPC-dialect HAN application around one :class:`SmgwState`."""

    dialect = "ppc"
    max_request_bytes = MAX_REQUEST_BYTES
    AUTH_REQUIRED = "Anmeldung erforderlich."
    BAD_CREDENTIALS = "Fehlerhafte Anmeldedaten."
    HAN_DISABLED = "Der HAN-Zugang ist nicht freigeschaltet."
    TOO_LARGE = "Die Anfrage ist zu groß."
    INTERNAL_ERROR = "Interner Fehler."

    def __init__(self, state: SmgwState, *, reboot_seconds: float | None = None) -> None:
        """``reboot_seconds``: how long the self-test restart lasts (default: the scenario's
        ``han.reboot_seconds``)."""
        super().__init__(state)
        self.reboot_seconds = (state.han.reboot_seconds if reboot_seconds is None
                               else reboot_seconds)
        self.restart = Restart()
        self._secret = secrets.token_bytes(16)
        self._sessions: dict[str, _Session] = {}
        self.actions: dict[str, Callable[[HanUser, _Session, dict[str, str]], str]] = {
            "meterform": self._meterform,
            "showMeterProfile": self._meter_profile,
            "showMeterValuesForm": self._meter_values_form,
            "showMeterValues": self._meter_values,
            "swversions": self._swversions,
            "logs": self._logs,
        }

    def application(self) -> web.Application:
        app = self._new_application()
        app[RESTART] = self.restart
        app.router.add_route("GET", PATH, self.login)
        app.router.add_route("POST", PATH, self.action)
        return app

    # -- pages ------------------------------------------------------------------------------------

    def _html(self, body: str, *, session: _Session | None = None, status: int = 200,
              title: str = "SMGW HAN-Schnittstelle",
              headers: CIMultiDict[str] | None = None) -> web.Response:
        menu = ""
        if session is not None:
            menu = (
                '<form name="menu" method="post" action="' + PATH + '">'
                f'<input type="hidden" name="tkn" value="{_e(session.token)}">'
                '<button name="action" value="meterform">Zähler</button>'
                '<button name="action" value="swversions">Softwareversionen</button>'
                '<button name="action" value="logs">Logbuch</button>'
                '<button name="action" value="selftest">Selbsttest</button>'
                '<button name="action" value="logout">Abmelden</button></form>'
            )
        footer = ""
        if session is not None and self.state.firmware:
            footer = f'<p id="div_fwversion">{_e(self.state.firmware[-1].version)}</p>'
        page = (
            "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
            f"<title>{_e(title)}</title></head><body>"
            '<div id="header">Smart Meter Gateway &ndash; HAN-Schnittstelle</div>'
            f"{menu}<div class=\"content\">{body}</div>{footer}</body></html>"
        )
        return web.Response(status=status, text=page, content_type="text/html",
                            charset="utf-8", headers=headers)

    def _error_page(self, message: str, *, status: int = 200, session: _Session | None = None,
                    headers: CIMultiDict[str] | None = None) -> Refusal:
        return Refusal(self._html(f'<div class="error">{_e(message)}</div>', session=session,
                                  status=status, headers=headers))

    def _failure(self, status: int, code: str, message: str, *,
                 headers: CIMultiDict[str] | None = None) -> web.Response:
        return self._error_page(message, status=status, headers=headers).response

    # -- authentication ---------------------------------------------------------------------------

    def _locked(self, remaining: float) -> Refusal:
        headers: CIMultiDict[str] = CIMultiDict({"Retry-After": str(retry_seconds(remaining))})
        return self._error_page(
            f"Zu viele fehlgeschlagene Anmeldeversuche. Das Portal ist für "
            f"{countdown_text(remaining)} gesperrt.", status=403, headers=headers)

    def _digest_user(self, request: web.Request) -> tuple[HanUser, str]:
        """The Digest-authenticated account and the nonce it used."""
        self._require_han()
        name, nonce = self._digest_login(request)
        user = self.state.users[name]
        if not user.enabled:
            raise self._error_page("Der HAN-Zugang ist für diesen Benutzer nicht freigeschaltet.",
                                   status=403)
        return user, nonce

    def _cookie(self, request: web.Request) -> str | None:
        return request.cookies.get("session") or None

    def _current(self, user: HanUser, cookie: str | None) -> _Session | None:
        """The user's portal session if ``cookie`` belongs to it and it has not ended."""
        live = self.state.sessions.current(user.name)
        if live is None or cookie is None or live.token != cookie:
            return None
        session = self._sessions.get(cookie)
        if session is None or session.user != user.name:
            return None
        return session

    def _end(self, session: _Session) -> None:
        self.state.sessions.end(session.user)
        self._sessions.pop(session.cookie, None)
        if session.nonce is not None:
            self.digest.revoke(session.nonce)

    def _prune(self) -> None:
        for cookie, session in list(self._sessions.items()):
            live = self.state.sessions.current(session.user)
            if live is None or live.token != cookie:
                del self._sessions[cookie]
                if session.nonce is not None:
                    self.digest.revoke(session.nonce)

    # -- routes -----------------------------------------------------------------------------------

    async def login(self, request: web.Request) -> web.StreamResponse:
        user, nonce = self._digest_user(request)
        session = self._current(user, self._cookie(request))
        if session is not None:
            self.state.sessions.use(user.name, session.cookie)
            session.nonce = nonce
            session.token = secrets.token_hex(16)
            return self._start_page(user, session)
        self._prune()
        cookie = secrets.token_hex(16)
        decision = self.state.sessions.use(user.name, cookie)
        if not decision.accepted:
            raise self._error_page(
                "Der Benutzer ist bereits angemeldet. Eine weitere Anmeldung ist erst nach der "
                "Abmeldung oder nach Ablauf der Sitzung in "
                f"{countdown_text(decision.busy_seconds)} möglich.", status=403)
        if decision.replaced is not None:
            old = self._sessions.pop(decision.replaced.token, None)
            if old is not None and old.nonce is not None:
                self.digest.revoke(old.nonce)
        session = _Session(user.name, cookie, secrets.token_hex(16), nonce)
        self._sessions[cookie] = session
        self.state.login_succeeded(user, new_session=True, replaced=decision.replaced is not None)
        response = self._start_page(user, session)
        response.set_cookie("session", cookie, path="/cgi-bin", secure=True, httponly=True)
        return response

    async def action(self, request: web.Request) -> web.StreamResponse:
        user, nonce = self._digest_user(request)
        session = self._current(user, self._cookie(request))
        if request.content_type != "application/x-www-form-urlencoded":
            raise self._error_page("Ungültige Anfrage.", status=400, session=session)
        form = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
        token = form.get("tkn", "")
        if session is None or not hmac.compare_digest(token.encode(), session.token.encode()):
            raise self._error_page("Ungültige Sitzung. Bitte melden Sie sich erneut an.")
        self.state.sessions.use(user.name, session.cookie)
        session.nonce = nonce
        session.token = secrets.token_hex(16)  # every page carries the token for the next step
        action = form.get("action", "")
        if action == "logout":
            self._end(session)
            self.state.record(Event.HAN_SESSION_ENDED, "HAN logout", user=user.name,
                              consumer=user.role is Role.CONSUMER)
            response = self._html('<div id="logout">Sie wurden erfolgreich abgemeldet.</div>')
            response.del_cookie("session", path="/cgi-bin")
            return response
        if action == "selftest":
            return await self._selftest(request, user, session)
        handler = self.actions.get(action)
        if handler is None:
            raise self._error_page(f"Unbekannte Aktion '{action[:40]}'.", session=session)
        return self._html(handler(user, session, form), session=session)

    # -- start page -------------------------------------------------------------------------------

    def _start_page(self, user: HanUser, session: _Session) -> web.Response:
        state = self.state
        rows = [("SMGW-ID", "id", state.smgw_id.text.lower()),
                ("Systemzeit", "time", format_local(state.now())),
                ("Betriebszustand", "state", state.state_code()),
                ("Gerät", "model", state.model),
                ("Benutzer", "user", user.name)]
        table = "".join(f'<tr><th>{_e(label)}</th><td id="smgwinfo_{key}">{_e(value)}</td></tr>'
                        for label, key, value in rows)
        return self._html(f'<h1>Willkommen</h1><table id="smgwinfo">{table}</table>',
                          session=session)

    # -- meters -----------------------------------------------------------------------------------

    def _prefix(self, user: HanUser) -> str:
        """First part of the meters' logical names (the account's TAF logical-name prefix)."""
        for profile in self.state.profiles_for(user):
            head = profile.usage_point_id.split(".", 1)[0]
            if len(head) == 12:
                return head.lower()
        return "01005e318000"

    def _mid(self, session: _Session, server_id: ServerId, purpose: str) -> str:
        mac = hmac.new(self._secret, f"{session.cookie}:{purpose}:{server_id.hex}".encode(),
                       hashlib.sha256).hexdigest()[:20]
        session.mids[mac] = server_id
        return mac

    def _meter_of(self, user: HanUser, session: _Session, form: dict[str, str]) -> LmnMeter:
        sid = session.mids.get(form.get("mid", ""))
        meter = self.state.meter(sid) if sid is not None else None
        if meter is None or meter not in visible_meters(self.state, user):
            raise self._error_page("Unbekannter Zähler.", session=session)
        return meter

    def _meterform(self, user: HanUser, session: _Session, form: dict[str, str]) -> str:
        prefix = self._prefix(user)
        options = "".join(
            f'<option value="{self._mid(session, m.server_id, "meter")}">'
            f"{_e(prefix)}.{_e(m.server_id.text.lower())}.sm</option>"
            for m in visible_meters(self.state, user)
        )
        return ('<form name="meterform" method="post" action="' + PATH + '">'
                f'<input type="hidden" name="tkn" value="{_e(session.token)}">'
                '<input type="hidden" name="action" value="showMeterProfile">'
                '<select name="mid" id="meterform_select_meter" size="1">'
                f"{options}</select><button>Anzeigen</button></form>")

    def _require_consumer(self, user: HanUser, session: _Session) -> None:
        if user.role is not Role.CONSUMER:
            raise self._error_page("Keine Berechtigung für Messwerte.", session=session)

    @staticmethod
    def _table(rows: Iterable[str]) -> str:
        header = ('<tr id="table_metervalues_header"><th>Zeitstempel</th><th>OBIS</th>'
                  "<th>Wert</th><th>Einheit</th><th>Status</th></tr>")
        return f'<table id="metervalue">{header}{"".join(rows)}</table>'

    @staticmethod
    def _rows(moment: dt.datetime, values: list[tuple[Obis, int, int, int]], first: int
              ) -> list[str]:
        out = []
        for n, (obis, raw, scaler, unit) in enumerate(values):
            number, unit_text = format_value(raw, scaler, unit)
            line = first + n
            out.append(
                f'<tr id="table_metervalues_line{line}">'
                + _cell("timestamp", format_local(moment) if n == 0 else "")
                + _cell("obis", obis.notation.removesuffix("*255"))
                + _cell("wert", number) + _cell("einheit", unit_text)
                + _cell("status", "gültig" if n == 0 else "") + "</tr>"
            )
        return out

    def _meter_profile(self, user: HanUser, session: _Session, form: dict[str, str]) -> str:
        meter = self._meter_of(user, session, form)
        self._require_consumer(user, session)
        name = f"{self._prefix(user)}.{meter.server_id.text.lower()}.sm"
        if not meter.present or not meter.registers:
            return f"<h2>{_e(name)}</h2><p>Keine Daten vorhanden.</p>"
        now = self.state.now().replace(microsecond=0)
        values = [(r.obis, self.state.register_value(meter, r, now), r.scaler, r.unit)
                  for r in meter.registers]
        return f"<h2>{_e(name)}</h2>" + self._table(self._rows(now, values, 1))

    def _meter_values_form(self, user: HanUser, session: _Session, form: dict[str, str]) -> str:
        meter = self._meter_of(user, session, form)
        self._require_consumer(user, session)
        mid = self._mid(session, meter.server_id, "values")
        now = self.state.now()
        return ('<form name="input_metervalues" method="post" action="' + PATH + '">'
                f'<input type="hidden" name="tkn" value="{_e(session.token)}">'
                '<input type="hidden" name="action" value="showMeterValues">'
                f'<input type="hidden" name="mid" value="{_e(mid)}">'
                f'Von <input type="text" name="from" '
                f'value="{_e(format_local(now - dt.timedelta(days=1)))}"> '
                f'bis <input type="text" name="to" value="{_e(format_local(now))}">'
                "<button>Anzeigen</button></form>")

    def _time_field(self, form: dict[str, str], name: str, label: str, default: dt.datetime,
                    session: _Session) -> dt.datetime:
        text = form.get(name, "").strip()
        if not text:
            return default
        local: dt.datetime | None = None
        with contextlib.suppress(ValueError):
            local = dt.datetime.strptime(text, LOCAL_FORMAT)
        if local is None:  # a date alone: the whole day
            with contextlib.suppress(ValueError):
                local = dt.datetime.strptime(text, "%Y-%m-%d")
                if name == "to":
                    local = local.replace(hour=23, minute=59, second=59)
        if local is None or local < EARLIEST:
            raise self._error_page(f"Ungültige Zeitangabe '{label} (Datum)'.", session=session)
        return from_local(local)

    def _page_number(self, form: dict[str, str], session: _Session) -> int:
        text = form.get("page", "1").strip() or "1"
        if not text.isdigit() or int(text) < 1:
            raise self._error_page("Ungültige Seitenangabe.", session=session)
        return int(text)

    def _meter_values(self, user: HanUser, session: _Session, form: dict[str, str]) -> str:
        meter = self._meter_of(user, session, form)
        self._require_consumer(user, session)
        now = self.state.now()
        start = self._time_field(form, "from", "von", now - dt.timedelta(days=1), session)
        end = min(self._time_field(form, "to", "bis", now, session), now)
        if start > end:
            raise self._error_page("Ungültige Zeitangabe 'bis (Datum)'.", session=session)
        if end - start > MAX_VALUES_WINDOW:
            raise self._error_page("Der Zeitraum darf höchstens 31 Tage umfassen.",
                                   session=session)
        channels: list[Obis] = []
        period = 900
        for profile in self.state.profiles_for(user):
            if meter.server_id in profile.meters:
                period = profile.registration_period
                channels.extend(o for o in profile.channels if o not in channels)
        registers = [r for r in (meter.register(o) for o in channels) if r is not None]
        stamps = []
        stamp = int(end.timestamp()) // period * period
        while meter.present and registers and stamp >= start.timestamp():
            stamps.append(dt.datetime.fromtimestamp(stamp, dt.UTC))
            stamp -= period
        page = self._page_number(form, session)
        pages = max(1, math.ceil(len(stamps) / VALUES_PAGE))
        chosen = stamps[(page - 1) * VALUES_PAGE: page * VALUES_PAGE]
        rows: list[str] = []
        for moment in chosen:  # newest first, as the portal shows them
            values = [(r.obis, self.state.register_value(meter, r, moment), r.scaler, r.unit)
                      for r in registers]
            rows.extend(self._rows(moment, values, len(rows) + 1))
        head = (f'<div id="metervalues_range">Von {_e(format_local(start))} bis '
                f"{_e(format_local(end))}, Seite {page} von {pages}</div>")
        if not rows:
            return head + "<p>Keine Daten vorhanden.</p>"
        return head + self._table(rows)

    # -- software, logs, self-test ----------------------------------------------------------------

    def _swversions(self, user: HanUser, session: _Session, form: dict[str, str]) -> str:
        rows = "".join(f"<tr><td>{_e(f.name)}</td><td>{_e(f.version)}</td>"
                       f"<td>{_e(f.sha256)}</td></tr>" for f in self.state.firmware)
        return ('<table id="swversions"><tr><th>Komponente</th><th>Version</th>'
                f"<th>Prüfsumme</th></tr>{rows}</table>")

    @staticmethod
    def _log_row(entry: GatewayLogEntry) -> str:
        outcome = {"success": "erfolgreich", "failure": "fehlgeschlagen"}.get(entry.outcome,
                                                                              entry.outcome)
        level = LEVEL_WORDS.get(int(entry.level), str(int(entry.level)))
        return ("<tr>" + _log_cell("nr", entry.index)
                + _log_cell("timestamp", format_local(entry.time)) + _log_cell("level", level)
                + _log_cell("eventid", entry.event_id) + _log_cell("subid", entry.event_sub_id)
                + _log_cell("outcome", outcome) + _log_cell("subject", entry.subject)
                + _log_cell("user", entry.user) + _log_cell("message", entry.message) + "</tr>")

    def _logs(self, user: HanUser, session: _Session, form: dict[str, str]) -> str:
        now = self.state.now()
        start = self._time_field(form, "from", "von", from_local(EARLIEST), session)
        end = self._time_field(form, "to", "bis", now, session)
        if start > end:
            raise self._error_page("Ungültige Zeitangabe 'bis (Datum)'.", session=session)
        page = self._page_number(form, session)
        # the shown times have whole seconds: the range is inclusive to the second
        entries = self.state.log_for(user.role).query(
            since=start.replace(microsecond=0),
            until=end.replace(microsecond=0) + dt.timedelta(microseconds=999_999))
        pages = max(1, math.ceil(len(entries) / LOG_PAGE))
        chosen = entries[(page - 1) * LOG_PAGE: page * LOG_PAGE]
        which = "Systemlog" if user.role is Role.SERVICE_TECHNICIAN else "Verbraucherlog"
        head = (f"<h2>{which}</h2><div id=\"log_range\">Von {_e(format_local(start))} bis "
                f"{_e(format_local(end))}, Seite {page} von {pages}</div>")
        if not chosen:
            return head + "<p>Keine Daten vorhanden.</p>"
        header = ("<tr><th>Nr.</th><th>Zeitstempel</th><th>Stufe</th><th>Ereignis</th>"
                  "<th>Unterereignis</th><th>Ergebnis</th><th>Betreff</th><th>Benutzer</th>"
                  "<th>Meldung</th></tr>")
        body = "".join(self._log_row(e) for e in chosen)
        return head + f'<table id="logtable">{header}{body}</table>'

    async def _selftest(self, request: web.Request, user: HanUser, session: _Session
                        ) -> web.Response:
        try:
            self.state.run_self_test(user)
        except SelfTestLocked as locked:
            return self._html(
                '<div id="selftest_locked">Ein Selbsttest ist erst in '
                f"{countdown_text(locked.remaining)} wieder möglich.</div>", session=session)
        # the self-test restarts the gateway: every session ends, nobody answers for a while
        for open_session in list(self._sessions.values()):
            self._end(open_session)
        for name in self.state.users:
            self.state.sessions.end(name)
        self.state.record(Event.HAN_SESSION_ENDED, "HAN sessions ended: restart for the self-test",
                          level=LogLevel.INFO)
        response = self._html(
            '<div id="selftest_started">Der Selbsttest wurde gestartet. Das Smart Meter Gateway '
            "wird neu gestartet und ist einige Minuten nicht erreichbar.</div>")
        response.del_cookie("session", path="/cgi-bin")
        # the answer goes out in full before the gateway goes away
        await response.prepare(request)
        await response.write_eof()
        self.restart(self.reboot_seconds, self._restarted)
        return response

    def _restarted(self) -> None:
        self.state.record(Event.STARTED, "SMGW restarted after the self-test")
