"""The PPC adapter against the virtual SMGW in the PPC dialect (``hanservice.cgi``) and against
a misbehaving portal, over real HTTPS on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs

import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st

from app.resources import resource_path
from app.security import tls
from app.security.tls import Interface
from app.sim.server_handle import start_tls_site
from app.sim.smgw import ManualClock, Scenario, server, start_han_server
from app.sim.smgw.han_ppc import PpcHanServer
from app.sim.smgw.logs import Event
from app.sim.smgw.state import SmgwState
from app.transports.han.base import HanCredentials, LogKind, UserRole
from app.transports.han.detect import detect_vendor
from app.transports.han.errors import (
    HanAccessDenied,
    HanAuthError,
    HanLockedOut,
    HanProtocolError,
    HanSessionBusy,
    HanTcpError,
    HanTimeout,
)
from app.transports.han.http import HanHttpClient
from app.transports.han.pinning import PinnedCertificate
from app.transports.han.ppc import (
    PATH,
    PpcAdapter,
    berlin_offset,
    countdown_from_text,
    format_local,
    format_value,
    from_local,
    parse_html,
    parse_local,
    parse_log_rows,
    parse_meter_options,
    parse_meter_table,
    parse_start_page,
    parse_swversions,
    parse_value,
    to_local,
)
from app.transports.han.state_code import StateFlag

CONSUMER = ("kunde", "Demo-Kunde-2026")
TECHNICIAN = ("service", "Demo-Service-2026")
METER = "1EBZ0100654321"
#: A summer moment (CEST, UTC+2) with a fraction of a second.
SUMMER = dt.datetime(2026, 7, 15, 7, 37, 12, 250_000, tzinfo=dt.UTC)


def _scenario() -> dict[str, Any]:
    return json.loads(resource_path("demo", "ppc.json").read_text("utf-8"))


class Gateway:
    def __init__(self, state: SmgwState, handle: Any, clock: ManualClock, pin: PinnedCertificate,
                 portal: PpcHanServer) -> None:
        self.state, self.handle, self.clock, self.pin, self.portal = (state, handle, clock, pin,
                                                                      portal)

    def adapter(self, user: tuple[str, str] = CONSUMER, *, role: UserRole = UserRole.CONSUMER,
                **kwargs: Any) -> PpcAdapter:
        kwargs.setdefault("pin", self.pin)
        return PpcAdapter(self.handle.host, self.handle.port,
                          credentials=HanCredentials(user[0], user[1], role=role), **kwargs)

    def technician(self, **kwargs: Any) -> PpcAdapter:
        return self.adapter(TECHNICIAN, role=UserRole.SERVICE_TECHNICIAN, **kwargs)

    def session_open(self, user: str = CONSUMER[0]) -> bool:
        return self.state.sessions.current(user) is not None


Start = Callable[..., Awaitable[Gateway]]


@pytest.fixture
async def start_gateway(demo_pki, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Start]:
    portals: list[PpcHanServer] = []

    def factory(state: SmgwState) -> web.Application:
        portal = PpcHanServer(state)
        portals.append(portal)
        return portal.application()

    monkeypatch.setitem(server.DIALECTS, "ppc", factory)
    handles = []

    async def start(change: Callable[[dict[str, Any]], None] | None = None,
                    at: dt.datetime | None = None) -> Gateway:
        data = _scenario()
        if change is not None:
            change(data)
        clock = ManualClock(at or dt.datetime.now(dt.UTC))
        state = Scenario.from_dict(data, source="test").build_state(demo_pki, clock)
        handle = await start_han_server(state, demo_pki, dialect="ppc")
        handles.append(handle)
        return Gateway(state, handle, clock, PinnedCertificate.from_pem(demo_pki["han"].cert_pem),
                       portals[-1])

    yield start
    for handle in handles:
        await handle.close()


# --- identity, software, meters ------------------------------------------------------------------


async def test_identify_reports_the_gateway(start_gateway: Start, demo_pki) -> None:
    gw = await start_gateway()
    async with gw.adapter() as han:
        identity = await han.identify()
    assert identity.vendor == "ppc"
    assert identity.smgw_id == "EPPC0290000001"
    assert identity.state.raw == gw.state.state_code()
    assert StateFlag.DELIVERY_CERTIFICATES in identity.state.flags  # still on Gütesiegel
    assert abs((identity.time - gw.state.now()).total_seconds()) < 1.5
    assert [(f.component, f.version, f.hash) for f in identity.firmware] == [
        (f.name, f.version, f.sha256) for f in gw.state.firmware]
    assert [f.component for f in identity.firmware] == ["smgw-bootstream", "smgw-services"]
    assert identity.certificate("han_tls").sha256 == demo_pki["han"].sha256
    out = identity.to_dict()
    assert out["smgw_id"] == "EPPC0290000001"
    assert set(out["firmware"][0]) == {"component", "version", "hash"}


async def test_meters_with_current_values(start_gateway: Start) -> None:
    gw = await start_gateway()
    async with gw.adapter() as han:
        meters = await han.meters()
    assert [m.server_id for m in meters] == [METER]
    assert meters[0].server_id_hex == "0a0145425a010009fbf1"
    values = {v.obis: v for v in meters[0].values}
    registers = {r.obis.notation: r for r in gw.state.meter(METER).registers}
    assert set(values) == set(registers)
    energy = values["1-0:1.8.0*255"]
    meter = gw.state.meter(METER)
    counted = gw.state.register_value(meter, registers["1-0:1.8.0*255"], energy.captured)
    assert energy.value == Decimal(counted)  # kWh on the page, exact, as counted then
    assert energy.unit_text == "Wh"
    power = values["1-0:16.7.0*255"]
    assert (power.value, power.unit_text) == (Decimal(388), "W")
    assert abs((energy.captured - gw.state.now()).total_seconds()) < 1.0


async def test_history_in_local_summer_time(start_gateway: Start) -> None:
    gw = await start_gateway(at=SUMMER)
    now = gw.state.now()
    async with gw.adapter() as han:
        values = await han.meter_values(METER, now - dt.timedelta(days=1), now)
        page = await han.post("logs")
        mid = (await han.meter_options())[0].mid
        whole_day = await han.post("showMeterValues", mid=mid, **{"from": "2026-07-14",
                                                                  "to": "2026-07-14"})
    stamps = sorted({v.captured for v in values})
    assert len(stamps) == 96 and len(values) == 2 * 96  # 1.8.0 and 2.8.0, every 15 minutes
    assert all(s.minute % 15 == 0 and s.second == 0 for s in stamps)
    assert stamps[-1] == dt.datetime(2026, 7, 15, 7, 30, tzinfo=dt.UTC)
    # a date alone means the whole (local) day: 96 quarter hours, two channels each
    assert len(parse_meter_table(whole_day, "day")) == 2 * 96
    register = gw.state.meter(METER).registers[0]  # 1-0:1.8.0
    first = next(v for v in values if v.captured == stamps[0] and v.obis_hex == "0100010800ff")
    assert first.value == Decimal(register.value_at(stamps[0], now))
    # the page shows German summer time (UTC+2): the login at about 07:37 UTC shows as 09:37
    login = gw.state.consumer_log.entries[-1].time
    stamps_shown = [c.text() for c in page.find_all(id="table_log_col_timestamp")]
    assert stamps_shown[-1] == (login + dt.timedelta(hours=2)).strftime("%Y-%m-%d %H:%M:%S")
    assert stamps_shown[-1].startswith("2026-07-15 09:37:")


async def test_technician_sees_meters_but_no_values(start_gateway: Start) -> None:
    gw = await start_gateway()
    async with gw.technician() as han:
        meters = await han.meters()
    assert [(m.server_id, m.values_available, m.values) for m in meters] == [(METER, False, ())]


# --- logs -----------------------------------------------------------------------------------------


async def test_system_log_over_several_pages(start_gateway: Start) -> None:
    gw = await start_gateway()
    seen: list[float | None] = []
    async with gw.technician() as han:
        entries = await han.logs(LogKind.SYSTEM, progress=lambda f, _m: seen.append(f))
        total = len(gw.state.system_log)
        assert total > 900 and len(entries) == total
        assert len(seen) == -(-total // 250)  # one progress report per page of 250
        indices = [e.index for e in entries]
        assert indices == list(range(1, total + 1))
        known = gw.state.system_log.entries[499]
        assert (entries[499].event_id, entries[499].message) == (str(known.event_id),
                                                                  known.message)
        assert entries[499].time == known.time.replace(microsecond=0)
        window = await han.logs("system", from_index=100, count=300)
        with pytest.raises(HanAccessDenied):
            await han.logs(LogKind.CONSUMER)
    assert [e.index for e in window] == list(range(100, 400))


async def test_consumer_log_and_time_filter(start_gateway: Start) -> None:
    gw = await start_gateway()
    # a log message that reads like the portal's own lock must stay a log message
    gw.state.record(Event.HAN_LOCKED, "Anmeldung am Portal gesperrt für 5 Minuten",
                    consumer=True)
    async with gw.adapter() as han:
        entries = await han.logs(LogKind.CONSUMER)
        assert len(entries) == len(gw.state.consumer_log)
        assert entries[-2].message == "Anmeldung am Portal gesperrt für 5 Minuten"
        assert entries[0].outcome == "success" and entries[0].level == 1
        middle = entries[len(entries) // 2].time
        later = await han.logs(LogKind.CONSUMER, since=middle)
        assert later and all(e.time >= middle for e in later)
        assert len(later) < len(entries)
        with pytest.raises(HanAccessDenied):
            await han.logs(LogKind.SYSTEM)


# --- self-test ------------------------------------------------------------------------------------


async def test_self_test_restarts_the_gateway(start_gateway: Start) -> None:
    gw = await start_gateway()
    gw.portal.reboot_seconds = 90
    han = gw.adapter()
    async with han:
        result = await han.self_test()
        assert result.accepted and "restarts" in result.message.en
        assert han.restarting and not han.logged_in
    assert gw.state.last_self_test is not None and gw.state.last_self_test.passed
    assert not gw.session_open()
    started = time.monotonic()
    with pytest.raises(HanTcpError) as refused:  # the port is closed while the gateway restarts
        async with gw.adapter(timeout=5.0):
            pass
    assert time.monotonic() - started < 5.0
    hint = refused.value.hint
    assert hint is not None and "restarts after its self-test" in hint.en
    assert gw.handle.paused
    gw.clock.advance(91)
    await asyncio.wait_for(gw.handle.wait_serving(), 2.0)  # it polls the gateway clock
    async with gw.adapter() as again:
        locked = await again.self_test()  # the 10-minute lock outlives the restart
        assert not locked.accepted
        assert locked.retry_after_seconds == pytest.approx(600 - 91, abs=1)
    restarted = [e for e in gw.state.system_log.entries if e.event_id == Event.STARTED]
    assert restarted[-1].message == "SMGW restarted after the self-test"


# --- one session per user, logout -----------------------------------------------------------------


async def test_logout_ends_the_session(start_gateway: Start) -> None:
    gw = await start_gateway()
    async with gw.adapter() as han:
        await han.identify()
        assert gw.session_open()
    assert not gw.session_open()
    last = gw.state.consumer_log.entries[-1]
    assert (last.event_id, last.message) == (Event.HAN_SESSION_ENDED, "HAN logout")
    async with gw.adapter() as han:  # and the next login is accepted at once
        await han.identify()


async def test_logout_also_after_errors_timeouts_and_cancel(start_gateway: Start) -> None:
    gw = await start_gateway()
    with pytest.raises(RuntimeError):
        async with gw.adapter():
            raise RuntimeError("the caller failed")
    assert not gw.session_open()

    async with gw.adapter() as han:
        gw.state.han.response_delay = 0.5
        with pytest.raises(HanTimeout):
            await han.meters(timeout=0.2)
    gw.state.han.response_delay = 0.0
    assert not gw.session_open()

    entered = asyncio.Event()

    async def work() -> None:
        async with gw.adapter() as han:
            gw.state.han.response_delay = 0.5
            entered.set()
            await han.meters()

    task = asyncio.create_task(work())
    await entered.wait()
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    gw.state.han.response_delay = 0.0
    assert not gw.session_open()

    async with gw.adapter() as han:  # the page with the next token never arrived
        await han.identify()
        han._token = "stale"
    assert not gw.session_open()


async def test_second_login_is_refused_until_logout_or_idle(start_gateway: Start) -> None:
    gw = await start_gateway()
    async with gw.adapter() as first:
        await first.identify()
        gw.clock.advance(60)
        with pytest.raises(HanSessionBusy) as busy:
            async with gw.adapter():
                pass
        assert busy.value.remaining_seconds == pytest.approx(600 - 60, abs=1)
    async with gw.adapter() as second:  # the first logged out
        await second.identify()
    # a client that never logs out blocks the user until the idle timeout
    raw = HanHttpClient(gw.handle.host, gw.handle.port, pin=gw.pin,
                        credentials=HanCredentials(*CONSUMER))
    try:
        assert (await raw.request("GET", PATH)).status == 200
    finally:
        await raw.close()
    with pytest.raises(HanSessionBusy):
        async with gw.adapter():
            pass
    gw.clock.advance(601)
    async with gw.adapter() as third:
        await third.identify()


async def test_a_lost_form_token_logs_in_again_within_the_session(start_gateway: Start) -> None:
    gw = await start_gateway()
    async with gw.adapter() as han:
        await han.identify()
        token = gw.state.sessions.current(CONSUMER[0]).token
        han._token = "not-the-token"  # e.g. a page answered without a token
        assert [m.server_id for m in await han.meters()] == [METER]
        assert gw.state.sessions.current(CONSUMER[0]).token == token  # same session


# --- login lock, Digest ---------------------------------------------------------------------------


async def test_lockout_after_three_failures_with_countdown(start_gateway: Start) -> None:
    gw = await start_gateway()
    for _ in range(2):
        with pytest.raises(HanAuthError):
            async with gw.adapter((CONSUMER[0], "wrong")):
                pass
    with pytest.raises(HanLockedOut) as locked:
        async with gw.adapter((CONSUMER[0], "wrong")):
            pass
    assert locked.value.remaining_seconds == pytest.approx(300, abs=1)
    gw.clock.advance(23)
    raw = HanHttpClient(gw.handle.host, gw.handle.port, pin=gw.pin,
                        credentials=HanCredentials(*CONSUMER))
    try:
        page = await raw.request("GET", PATH)
    finally:
        await raw.close()
    assert page.status == 403
    assert "Das Portal ist für 4 Minuten und 37 Sekunden gesperrt" in page.body.decode()
    with pytest.raises(HanLockedOut) as still:  # even the right password
        async with gw.adapter():
            pass
    assert still.value.remaining_seconds == 277
    assert "4 Min. 37 s" in still.value.describe("de")
    gw.clock.advance(278)
    async with gw.adapter() as han:
        await han.identify()


async def test_digest_algorithm_offered_is_honoured(start_gateway: Start) -> None:
    gw = await start_gateway()
    async with gw.adapter() as han:
        assert han.http is not None and han.http.digest_algorithm == "MD5"

    def both(data: dict[str, Any]) -> None:
        data["gateway"]["han"]["digest"] = {"algorithms": ["SHA-256", "MD5"]}

    gw = await start_gateway(both)
    async with gw.adapter() as han:
        await han.identify()
        assert han.http is not None and han.http.digest_algorithm == "SHA-256"


async def test_detect_recognises_the_portal(start_gateway: Start) -> None:
    gw = await start_gateway()
    detection = await detect_vendor(gw.handle.host, gw.handle.port, gw.pin)
    assert detection.vendor == "ppc"
    assert gw.state.guard.failures(CONSUMER[0]) == 0


# --- a misbehaving portal -------------------------------------------------------------------------

START = ('<html><body><form name="menu"><input type="hidden" name="tkn" value="T1"></form>'
         '<table><tr><td id="smgwinfo_id">eppc0290000001</td></tr>'
         '<tr><td id="smgwinfo_time">{time}</td></tr>'
         '<tr><td id="smgwinfo_state">a0000000</td></tr></table></body></html>')
METERFORM = ('<html><body><input type="hidden" name="tkn" value="T2">'
             '<select name="mid"><option value="m1">01005e318027.1ebz0100654321.sm</option>'
             "</select></body></html>")
PROFILE = ('<html><body><input type="hidden" name="tkn" value="T3"><table id="metervalue">'
           "<tr><th>Zeit</th></tr><tr>"
           '<td id="table_metervalues_col_timestamp">2026-03-02 10:30:00</td>'
           '<td id="table_metervalues_col_obis">1-0:1.8.0</td>'
           '<td id="table_metervalues_col_wert">{value}</td>'
           '<td id="table_metervalues_col_einheit">kWh</td></tr></table></body></html>')
SWVERSIONS = ('<html><body><table><tr><th>a</th><th>b</th><th>c</th></tr>'
              "<tr><td>smgw-services</td><td>1.0</td><td>{checksum}</td></tr></table>"
              "</body></html>")
LOGS = ('<html><body><div class="content">Von 2000-01-01 00:00:00 bis 2026-03-02 10:30:00, '
        'Seite 1 von 5</div><table id="logtable"><tr><th>Nr.</th></tr>'
        '<tr><td id="table_log_col_nr">{nr}</td>'
        '<td id="table_log_col_timestamp">2026-03-02 10:30:00</td>'
        '<td id="table_log_col_level">Information</td>'
        '<td id="table_log_col_message">m</td></tr></table></body></html>')


class FakePortal:
    """A TLS server that answers like a PPC portal, broken in the way it is told."""

    def __init__(self) -> None:
        self.mode = "good"
        self.logouts = 0

    def page(self, text: str, *, cookie: bool = True, status: int = 200) -> web.Response:
        response = web.Response(text=text, content_type="text/html", status=status)
        if cookie:
            response.set_cookie("session", "S1")
        return response

    async def get(self, request: web.Request) -> web.StreamResponse:
        mode = self.mode
        if mode == "no_token":
            return self.page(START.replace('name="tkn" ', "").format(time="2026-03-02 10:30:00"))
        if mode == "no_cookie":
            return self.page(START.format(time="2026-03-02 10:30:00"), cookie=False)
        if mode == "json_login":
            return web.json_response({"smgw": "yes"})
        if mode == "bad_time":
            return self.page(START.format(time="gestern"))
        if mode == "locked":
            return self.page('<html><body><div class="error">Das Portal ist f&uuml;r 4 Minuten '
                             "und 37 Sekunden gesperrt.</div></body></html>", status=403)
        if mode == "busy":
            return self.page("<html><body><div class='error'>Der Benutzer ist bereits "
                             "angemeldet ... in 9 Minuten und 58 Sekunden.</div></body></html>",
                             cookie=False, status=403)
        return self.page(START.format(time="2026-03-02 10:30:00"))

    async def post(self, request: web.Request) -> web.StreamResponse:
        form = parse_qs((await request.read()).decode())
        action = form.get("action", [""])[0]
        mode = self.mode
        if action == "logout":
            self.logouts += 1
            return self.page("<html><body>Abgemeldet</body></html>")
        if action == "meterform":
            if mode == "no_select":
                return self.page("<html><body><p>Zähler</p></body></html>")
            return self.page(METERFORM)
        if action == "showMeterProfile":
            if mode == "truncated":
                response = web.StreamResponse(headers={"Content-Type": "text/html"})
                response.content_length = 5000
                await response.prepare(request)
                await response.write(b"<html><body><table id=")
                assert request.transport is not None
                request.transport.close()
                return response
            return self.page(PROFILE.format(value="zwölf" if mode == "bad_value" else "1.5"))
        if action == "swversions":
            return self.page(SWVERSIONS.format(checksum="xyz!" if mode == "bad_checksum"
                                               else "ab" * 32))
        if action == "logs":
            return self.page(LOGS.format(nr="sieben" if mode == "bad_log" else "1"))
        return self.page('<html><body><div class="error">Das geht nicht.</div></body></html>')


@pytest.fixture
async def portal(demo_pki) -> AsyncIterator[tuple[FakePortal, Any]]:
    behaviour = FakePortal()
    app = web.Application()
    app.router.add_get(PATH, behaviour.get)
    app.router.add_post(PATH, behaviour.post)
    context = tls.server_context(Interface.HAN, own=demo_pki.tls_chain("han"))
    handle = await start_tls_site(app, role="test portal", host="127.0.0.1", port=0,
                                  ssl_context=context, protocol="test",
                                  certificate_sha256=demo_pki["han"].sha256)
    yield behaviour, handle
    await handle.close()


def _fake_adapter(handle: Any, demo_pki: Any, **kwargs: Any) -> PpcAdapter:
    return PpcAdapter(handle.host, handle.port, credentials=HanCredentials("kunde", "pw"),
                      pin=PinnedCertificate.from_pem(demo_pki["han"].cert_pem), **kwargs)


async def test_http_client_keeps_only_the_named_cookie_and_sends_extra_headers(demo_pki) -> None:
    seen: list[dict[str, str]] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append({name: request.headers.get(name, "")
                     for name in ("Cookie", "Accept", "X-Probe")})
        response = web.Response(text="<html></html>", content_type="text/html")
        if len(seen) == 1:
            response.set_cookie("session", "S1", path="/cgi-bin", secure=True, httponly=True)
            response.set_cookie("tracker", "T1")
        elif len(seen) == 3:
            response.del_cookie("session", path="/cgi-bin")  # logout: Max-Age=0
        return response

    app = web.Application()
    app.router.add_get(PATH, handler)
    context = tls.server_context(Interface.HAN, own=demo_pki.tls_chain("han"))
    handle = await start_tls_site(app, role="test portal", host="127.0.0.1", port=0,
                                  ssl_context=context, protocol="test",
                                  certificate_sha256=demo_pki["han"].sha256)
    client = HanHttpClient(handle.host, handle.port,
                           pin=PinnedCertificate.from_pem(demo_pki["han"].cert_pem),
                           credentials=HanCredentials("kunde"), headers={"Accept": "text/html"},
                           keep_cookies=("session",))
    try:
        await client.request("GET", PATH)
        assert client.cookies == {"session": "S1"}  # a cookie of a bare IP address is kept
        await client.request("GET", PATH, headers={"X-Probe": "1"})
        await client.request("GET", PATH)
        assert client.cookies == {}
        await client.request("GET", PATH)
    finally:
        await client.close()
        await handle.close()
    assert [s["Cookie"] for s in seen] == ["", "session=S1", "session=S1", ""]
    assert [s["X-Probe"] for s in seen] == ["", "1", "", ""]
    assert all(s["Accept"] == "text/html" for s in seen)


async def test_well_behaved_fake_portal_works(portal, demo_pki) -> None:
    behaviour, handle = portal
    async with _fake_adapter(handle, demo_pki) as han:
        meters = await han.meters()
        assert meters[0].values[0].value == Decimal("1500.0")
        assert (await han.identify()).firmware[0].hash == "ab" * 32
    assert behaviour.logouts == 1


@pytest.mark.parametrize(
    ("mode", "field"),
    [("no_token", "tkn"), ("no_cookie", "session"), ("json_login", "login"),
     ("bad_time", "start.time")],
)
async def test_malformed_login_pages_are_protocol_errors(portal, demo_pki, mode: str,
                                                         field: str) -> None:
    behaviour, handle = portal
    behaviour.mode = mode
    with pytest.raises(HanProtocolError) as info:
        async with _fake_adapter(handle, demo_pki, timeout=3.0):
            pass
    assert info.value.field == field
    # once the portal has handed out cookie and token, the session is closed again
    assert behaviour.logouts == (1 if mode == "bad_time" else 0)


@pytest.mark.parametrize(
    ("mode", "call", "field"),
    [("no_select", "meters", "meterform"),
     ("bad_value", "meters", "showMeterProfile[1].wert"),
     ("truncated", "meters", "body"),
     ("bad_checksum", "identify", "swversions[1].checksum"),
     ("bad_log", "logs", "logs[1].nr"),
     ("log_repeats", "logs", "logs")],
)
async def test_malformed_pages_are_protocol_errors_and_still_log_out(
        portal, demo_pki, mode: str, call: str, field: str) -> None:
    behaviour, handle = portal
    started = time.monotonic()
    with pytest.raises(HanProtocolError) as info:
        async with _fake_adapter(handle, demo_pki, timeout=3.0) as han:
            behaviour.mode = mode
            if call == "logs":
                await han.logs(LogKind.CONSUMER)
            else:
                await getattr(han, call)()
    assert time.monotonic() - started < 3.0
    assert info.value.field == field
    assert info.value.describe("de").startswith(f"{field}: Die Antwort des Gateways")
    assert behaviour.logouts == 1


async def test_countdowns_in_the_portal_text_are_read(portal, demo_pki) -> None:
    behaviour, handle = portal
    behaviour.mode = "locked"
    with pytest.raises(HanLockedOut) as locked:
        async with _fake_adapter(handle, demo_pki):
            pass
    assert locked.value.remaining_seconds == 4 * 60 + 37
    behaviour.mode = "busy"
    with pytest.raises(HanSessionBusy) as busy:
        async with _fake_adapter(handle, demo_pki):
            pass
    assert busy.value.remaining_seconds == 9 * 60 + 58
    assert behaviour.logouts == 0  # no session was opened


# --- the portal's formats (pure) ------------------------------------------------------------------


def test_german_time_changes_at_the_right_moments() -> None:
    def offset(text: str) -> dt.timedelta:
        return berlin_offset(dt.datetime.fromisoformat(text))

    assert offset("2026-03-29T00:59:59+00:00") == dt.timedelta(hours=1)
    assert offset("2026-03-29T01:00:00+00:00") == dt.timedelta(hours=2)
    assert offset("2026-10-25T00:59:59+00:00") == dt.timedelta(hours=2)
    assert offset("2026-10-25T01:00:00+00:00") == dt.timedelta(hours=1)
    assert format_local(dt.datetime(2026, 1, 5, 23, 30, tzinfo=dt.UTC)) == "2026-01-06 00:30:00"
    # the repeated autumn hour is read as summer time
    assert from_local(dt.datetime(2026, 10, 25, 2, 30)) == dt.datetime(2026, 10, 25, 0, 30,
                                                                       tzinfo=dt.UTC)


@given(st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2099, 12, 31),
                    timezones=st.just(dt.UTC)))
def test_local_time_round_trip(moment: dt.datetime) -> None:
    hour = dt.timedelta(hours=1)
    # in the repeated autumn hour the summer-time reading (one hour earlier) wins
    repeated = berlin_offset(moment) == hour and berlin_offset(moment - hour) == 2 * hour
    expected = moment - hour if repeated else moment
    assert from_local(to_local(moment)) == expected
    assert parse_local(format_local(moment), "t") == expected.replace(microsecond=0)


@given(st.integers(-(10**15), 10**15), st.integers(-6, 6),
       st.sampled_from([30, 31, 32, 27, 28, 29, 33, 35, 44]))
def test_displayed_values_read_back_exactly(raw: int, scaler: int, unit: int) -> None:
    from app.domain import Obis

    number, unit_text = format_value(raw, scaler, unit)
    value = parse_value(number, unit_text, Obis.parse("1-0:1.8.0"), None, "v")
    assert value.value == Decimal(raw).scaleb(scaler)
    assert value.unit == unit


def test_countdowns_in_german_and_english() -> None:
    assert countdown_from_text("gesperrt für 4 Minuten und 37 Sekunden") == 277
    assert countdown_from_text("noch 1 Minute und 1 Sekunde") == 61
    assert countdown_from_text("in 1 Stunde") == 3600
    assert countdown_from_text("locked for 2 minutes 5 seconds") == 125
    assert countdown_from_text("gesperrt") is None


def test_impossible_portal_times_are_protocol_errors() -> None:
    for text in ("0001-01-01 00:00:00", "2026-02-30 10:00:00", "10:00", ""):
        with pytest.raises(HanProtocolError):
            parse_local(text, "t")


@given(st.binary(max_size=400) | st.text(max_size=400).map(str.encode))
def test_arbitrary_pages_give_protocol_errors_only(body: bytes) -> None:
    for parse in (lambda r: parse_meter_table(r, "p"), parse_swversions,
                  lambda r: parse_log_rows(r, LogKind.SYSTEM), parse_meter_options,
                  parse_start_page):
        with contextlib.suppress(HanProtocolError):
            parse(parse_html(b"<html>" + body))
