"""The EMH CASA adapter against the virtual SMGW in the CASA dialect and against a misbehaving
peer, over real HTTPS on loopback; vendor detection for all three dialects."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st

from app.resources import resource_path
from app.security import tls
from app.security.tls import Interface
from app.sim.server_handle import start_tls_site
from app.sim.smgw import ManualClock, Scenario, server, start_han_server
from app.sim.smgw.han_common import SERVER_SOFTWARE
from app.sim.smgw.han_emh import EmhHanServer
from app.sim.smgw.han_ppc import PpcHanServer
from app.sim.smgw.logs import Event
from app.sim.smgw.state import SmgwState
from app.transports.han.base import HanCredentials, LogKind, UserRole
from app.transports.han.detect import detect_vendor, probe
from app.transports.han.emh import EmhAdapter, parse_log_entry, parse_values, split_firmware
from app.transports.han.errors import (
    HanAccessDenied,
    HanAuthError,
    HanLockedOut,
    HanProtocolError,
    HanTimeout,
)
from app.transports.han.pinning import PinnedCertificate

CONSUMER = ("consumer", "Demo-Consumer-2026")
TECHNICIAN = ("technician", "Demo-Technician-2026")
METER = "1EMH0098765432"


def _scenario(name: str = "emh") -> dict[str, Any]:
    return json.loads(resource_path("demo", f"{name}.json").read_text("utf-8"))


class Gateway:
    def __init__(self, state: SmgwState, handle: Any, clock: ManualClock,
                 pin: PinnedCertificate) -> None:
        self.state, self.handle, self.clock, self.pin = state, handle, clock, pin

    def adapter(self, user: tuple[str, str] = CONSUMER, *, role: UserRole = UserRole.CONSUMER,
                **kwargs: Any) -> EmhAdapter:
        kwargs.setdefault("pin", self.pin)
        return EmhAdapter(self.handle.host, self.handle.port,
                          credentials=HanCredentials(user[0], user[1], role=role), **kwargs)

    def technician(self, **kwargs: Any) -> EmhAdapter:
        return self.adapter(TECHNICIAN, role=UserRole.SERVICE_TECHNICIAN, **kwargs)


Start = Callable[..., Awaitable[Gateway]]


@pytest.fixture
async def start_gateway(demo_pki, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Start]:
    monkeypatch.setitem(server.DIALECTS, "emh", lambda s: EmhHanServer(s).application())
    monkeypatch.setitem(server.DIALECTS, "ppc", lambda s: PpcHanServer(s).application())
    handles = []

    async def start(change: Callable[[dict[str, Any]], None] | None = None,
                    name: str = "emh") -> Gateway:
        data = _scenario(name)
        if change is not None:
            change(data)
        clock = ManualClock(dt.datetime.now(dt.UTC))
        scenario = Scenario.from_dict(data, source="test")
        state = scenario.build_state(demo_pki, clock)
        handle = await start_han_server(state, demo_pki, dialect=scenario.dialect)
        handles.append(handle)
        return Gateway(state, handle, clock, PinnedCertificate.from_pem(demo_pki["han"].cert_pem))

    yield start
    for handle in handles:
        await handle.close()


# --- identity, contracts, meters ------------------------------------------------------------------


async def test_identify_reports_the_gateway(start_gateway: Start, demo_pki) -> None:
    gw = await start_gateway()
    async with gw.adapter() as han:
        identity = await han.identify()
        info = han.system_information
    assert identity.vendor == "emh" and identity.model == "CASA 1.1"
    assert identity.smgw_id == "EEMH0190000001"
    assert identity.state.raw == "a0000000" and identity.state.normal
    assert [(f.version, f.hash) for f in identity.firmware] == [
        ("1.1.5", gw.state.firmware[0].sha256)]
    assert info is not None and info["firmwareversion"] == f"1.1.5 / {gw.state.firmware[0].sha256}"
    assert abs((identity.time - gw.state.now()).total_seconds()) < 1.5
    assert identity.certificate("han_tls").sha256 == demo_pki["han"].sha256
    sig = sorted((c for c in identity.certificates if c.role == "wan_sig"), key=lambda c: c.index)
    assert [(c.index, c.state) for c in sig] == [(0, "guetesiegel"), (1, "wirkzertifikat")]
    assert sig[1].sha256 == demo_pki["smgw_sig"].sha256


async def test_contracts_meters_and_current_values(start_gateway: Start) -> None:
    gw = await start_gateway()
    async with gw.adapter() as han:
        data = await han.technical_data()
    assert [(p.usage_point_id, p.taf_number, p.meters) for p in data.profiles] == [
        ("taf7-bezug", 7, (METER,)), ("taf7-einspeisung", 7, (METER,))]
    assert data.profiles[1].metering_point_id == "DE0005626680200000000000000000005"
    (meter,) = data.meters
    assert meter.server_id == METER and meter.usage_points == ("taf7-bezug", "taf7-einspeisung")
    values = {v.obis: v for v in meter.values}
    registers = {r.obis.notation: r for r in gw.state.meter(METER).registers}
    for obis, register in registers.items():
        assert values[obis].value == Decimal(register.value).scaleb(register.scaler)
    assert values["1-0:16.7.0*255"].value == Decimal("-612.0")
    assert values["1-0:16.7.0*255"].unit_text == "W"
    assert abs(data.clock_offset_seconds - (gw.state.now() - data.measured_at)
               .total_seconds()) < 1.5


async def test_daily_values_at_local_midnight(start_gateway: Start) -> None:
    gw = await start_gateway()
    async with gw.adapter() as han:
        days = await han.daily_values(METER.lower(), days=3)
    assert len(days) == 3 * 2  # 1.8.0 and 2.8.0, no power register
    stamps = sorted({v.captured for v in days})
    assert len(stamps) == 3
    for stamp in stamps:  # German midnight is 23:00 or 22:00 UTC
        assert stamp.hour in (22, 23) and stamp.minute == 0
    meter = gw.state.meter(METER)
    register = meter.registers[0]
    first = next(v for v in days if v.captured == stamps[-1] and v.obis_hex == "0100010800ff")
    # the value the meter held at that midnight of the gateway's (drifting) clock
    assert first.raw == gw.state.register_value(meter, register, stamps[-1])


async def test_technician_sees_meters_but_no_values(start_gateway: Start) -> None:
    gw = await start_gateway()
    async with gw.technician() as han:
        meters = await han.meters()
    assert [(m.server_id, m.values_available) for m in meters] == [(METER, False)]


# --- logs, self-test ------------------------------------------------------------------------------


async def test_system_log_pages_past_500_entries(start_gateway: Start) -> None:
    gw = await start_gateway()
    seen: list[float | None] = []
    async with gw.technician() as han:
        entries = await han.logs(LogKind.SYSTEM, progress=lambda f, _m: seen.append(f))
        total = len(gw.state.system_log)
        assert total > 1200 and len(entries) == total and len(seen) == 3
        assert [e.index for e in entries] == list(range(1, total + 1))
        assert entries[-1].event_id == str(int(Event.HAN_LOGIN)) and entries[-1].level == 1
        window = await han.logs("system", from_index=200, count=600)
        with pytest.raises(HanAccessDenied):
            await han.logs(LogKind.CONSUMER)
    assert [e.index for e in window] == list(range(200, 800))


async def test_consumer_log_and_time_filter(start_gateway: Start) -> None:
    gw = await start_gateway()
    async with gw.adapter() as han:
        entries = await han.logs(LogKind.CONSUMER)
        assert len(entries) == len(gw.state.consumer_log)
        middle = entries[len(entries) // 2].time
        later = await han.logs(LogKind.CONSUMER, since=middle)
        assert later and all(e.time >= middle for e in later) and len(later) < len(entries)
        with pytest.raises(HanAccessDenied):
            await han.logs(LogKind.SYSTEM)


async def test_self_test_and_its_ten_minute_lock(start_gateway: Start) -> None:
    gw = await start_gateway()
    async with gw.adapter() as han:
        assert (await han.self_test()).accepted
        again = await han.self_test()
        assert not again.accepted and again.retry_after_seconds == pytest.approx(600, abs=1)
        gw.clock.advance(601)
        assert (await han.self_test()).accepted
    assert gw.state.last_self_test is not None and gw.state.last_self_test.passed


# --- Digest, lock, sessions, HTTP version ---------------------------------------------------------


async def test_sha256_offered_first_is_used(start_gateway: Start) -> None:
    gw = await start_gateway()
    async with gw.adapter() as han:
        await han.identify()
        assert han.http.digest_algorithm == "SHA-256"
    async with gw.adapter(digest_algorithm="MD5") as han:
        await han.identify()
        assert han.http.digest_algorithm == "MD5"


async def test_lockout_with_remaining_time(start_gateway: Start) -> None:
    gw = await start_gateway()
    for _ in range(4):
        with pytest.raises(HanAuthError):
            async with gw.adapter((CONSUMER[0], "wrong")):
                pass
    with pytest.raises(HanLockedOut) as locked:
        async with gw.adapter((CONSUMER[0], "wrong")):
            pass
    assert locked.value.remaining_seconds == pytest.approx(300, abs=1)
    gw.clock.advance(100)
    with pytest.raises(HanLockedOut) as still:
        async with gw.adapter():
            pass
    assert still.value.remaining_seconds == pytest.approx(200, abs=1)
    gw.clock.advance(201)
    async with gw.adapter() as han:
        assert (await han.identify()).smgw_id == "EEMH0190000001"


async def test_a_second_login_takes_over(start_gateway: Start) -> None:
    gw = await start_gateway()
    first, second = gw.adapter(), gw.adapter()
    try:
        await first.connect()
        token = gw.state.sessions.current(CONSUMER[0]).token
        await second.connect()
        assert gw.state.sessions.was_ended(CONSUMER[0], token)
        assert (await first.identify()).smgw_id == "EEMH0190000001"  # logs in afresh
    finally:
        await first.close()
        await second.close()


async def test_http_1_0_is_refused(start_gateway: Start) -> None:
    gw = await start_gateway()
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(ssl=gw.pin.ssl_context()), version=aiohttp.HttpVersion10,
    ) as session, session.get(gw.handle.url + "/json/metering/derived") as resp:
        assert resp.status == 505


async def test_cancelling_a_call_leaves_the_adapter_usable(start_gateway: Start) -> None:
    gw = await start_gateway()
    async with gw.adapter() as han:
        gw.state.han.response_delay = 1.0
        task = asyncio.create_task(han.identify())
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        with pytest.raises(HanTimeout):
            await han.meters(timeout=0.3)
        gw.state.han.response_delay = 0.0
        assert (await han.identify()).smgw_id == "EEMH0190000001"


# --- vendor detection for all three dialects ------------------------------------------------------


@pytest.mark.parametrize(("scenario", "vendor"),
                         [("default", "theben"), ("ppc", "ppc"), ("emh", "emh")])
async def test_detect_picks_the_vendor(start_gateway: Start, scenario: str, vendor: str) -> None:
    gw = await start_gateway(name=scenario)
    detection = await detect_vendor(gw.handle.host, gw.handle.port, gw.pin)
    assert detection.vendor == vendor
    assert detection.confidence >= 0.6
    others = {v: s for v, s in detection.scores.items() if v != vendor}
    assert all(s < detection.confidence for s in others.values())
    # no credentials were sent: nobody came closer to a lock
    assert all(gw.state.guard.failures(name) == 0 for name in gw.state.users)


@pytest.mark.parametrize("scenario", ["default", "ppc", "emh"])
async def test_no_dialect_advertises_the_framework(start_gateway: Start, scenario: str) -> None:
    gw = await start_gateway(name=scenario)
    answers, control = await probe(gw.handle.host, gw.handle.port, gw.pin)
    assert control is not None
    for answer in (*answers.values(), control):  # 401 challenges, 404 and redirects alike
        assert answer.server == SERVER_SOFTWARE
        assert not any("aiohttp" in value or "Python" in value for _, value in answer.headers)


# --- a misbehaving peer ---------------------------------------------------------------------------

GOOD_INFO = {"firmwareversion": "31100000__X026b / " + "ab" * 32, "smgw_id": "eemh0190000001",
             "systemtime": "2026-03-02T10:30:00+01:00", "operating_state": "a0000000"}
GOOD_VALUES = {"capture_time": "2026-03-02T10:30:00+01:00", "values": [
    {"logical_name": "0100010800ff.1emh0098765432.sm", "scaler": -1, "unit": 30,
     "value": "12345678"}]}


class FakeCasa:
    def __init__(self) -> None:
        self.mode = "good"

    async def info(self, request: web.Request) -> web.StreamResponse:
        mode = self.mode
        if mode == "bad_json":
            return web.Response(body=b'{"firmwareversion": ', content_type="application/json")
        if mode == "html":
            return web.Response(text="<html>Wartung</html>", content_type="text/html")
        if mode == "wrong_types":
            return web.json_response(dict(GOOD_INFO, smgw_id=12))
        if mode == "no_offset":
            return web.json_response(dict(GOOD_INFO, systemtime="2026-03-02T10:30:00"))
        if mode == "not_an_object":
            return web.json_response(["eemh0190000001"])
        if mode == "server_error":
            return web.Response(status=500, text="internal")
        if mode == "oversized":
            response = web.StreamResponse(headers={"Content-Type": "application/json"})
            response.enable_chunked_encoding()
            await response.prepare(request)
            for _ in range(64):
                await response.write(b" " * 32 * 1024)
            await response.write_eof()
            return response
        return web.json_response(GOOD_INFO)

    async def certificates(self, request: web.Request) -> web.StreamResponse:
        raise web.HTTPNotFound

    async def origin(self, request: web.Request) -> web.StreamResponse:
        if self.mode == "meters_not_a_list":
            return web.json_response({"meters": "1emh0098765432"})
        return web.json_response(["1emh0098765432"])

    async def extended(self, request: web.Request) -> web.StreamResponse:
        if self.mode == "bad_value":
            bad = {"capture_time": GOOD_VALUES["capture_time"],
                   "values": [dict(GOOD_VALUES["values"][0], value="12,5")]}
            return web.json_response(bad)
        if self.mode == "bad_logical_name":
            bad = {"values": [dict(GOOD_VALUES["values"][0], logical_name="zz")]}
            return web.json_response(bad)
        return web.json_response(GOOD_VALUES)

    async def derived(self, request: web.Request) -> web.StreamResponse:
        return web.json_response([])

    async def log(self, request: web.Request) -> web.StreamResponse:
        start = int(request.query.get("fromindex", "1") or 1)
        count = int(request.query["count"])
        if self.mode == "log_repeats":
            start = 1
        entries = [{"record_number": i, "timestamp": "2026-03-02T10:30:00+01:00",
                    "level": "INFO", "event_id": 16001, "message": "m"}
                   for i in range(start, start + count)]
        if self.mode == "log_bad_time":
            entries[3]["timestamp"] = "gestern"
        return web.json_response({"count": len(entries), "entries": entries})


@pytest.fixture
async def peer(demo_pki) -> AsyncIterator[tuple[FakeCasa, Any]]:
    behaviour = FakeCasa()
    app = web.Application()
    app.router.add_get("/json/systeminformations", behaviour.info)
    app.router.add_get("/json/certificates", behaviour.certificates)
    app.router.add_get("/json/metering/origin/", behaviour.origin)
    app.router.add_get("/json/metering/origin/{meter}/extended", behaviour.extended)
    app.router.add_get("/json/metering/derived", behaviour.derived)
    app.router.add_get("/json/conlogbook/", behaviour.log)
    context = tls.server_context(Interface.HAN, own=demo_pki.tls_chain("han"))
    handle = await start_tls_site(app, role="test peer", host="127.0.0.1", port=0,
                                  ssl_context=context, protocol="test",
                                  certificate_sha256=demo_pki["han"].sha256)
    yield behaviour, handle
    await handle.close()


def _fake_adapter(handle: Any, demo_pki: Any, **kwargs: Any) -> EmhAdapter:
    return EmhAdapter(handle.host, handle.port, credentials=HanCredentials("user", "pw"),
                      pin=PinnedCertificate.from_pem(demo_pki["han"].cert_pem), **kwargs)


async def test_well_formed_peer_works(peer, demo_pki) -> None:
    _behaviour, handle = peer
    async with _fake_adapter(handle, demo_pki) as han:
        identity = await han.identify()
        meters = await han.meters()
    assert identity.firmware[0].version == "31100000__X026b"
    assert [c.role for c in identity.certificates] == ["han_tls"]  # no certificate list
    assert meters[0].values[0].value == Decimal("1234567.8")


@pytest.mark.parametrize(
    ("mode", "call", "field"),
    [("bad_json", "identify", "systeminformations"),
     ("html", "identify", "systeminformations"),
     ("wrong_types", "identify", "systeminformations.smgw_id"),
     ("no_offset", "identify", "systeminformations.systemtime"),
     ("not_an_object", "identify", "systeminformations"),
     ("server_error", "identify", "systeminformations"),
     ("oversized", "identify", "body"),
     ("meters_not_a_list", "meters", "origin"),
     ("bad_value", "meters", "origin/1emh0098765432/extended.values[0].value"),
     ("bad_logical_name", "meters", "origin/1emh0098765432/extended.values[0].logical_name"),
     ("log_repeats", "logs", "conlogbook"),
     ("log_bad_time", "logs", "conlogbook[3].timestamp")],
)
async def test_malformed_answers_are_protocol_errors(peer, demo_pki, mode: str, call: str,
                                                     field: str) -> None:
    behaviour, handle = peer
    async with _fake_adapter(handle, demo_pki, timeout=3.0, max_body_bytes=1024 * 1024) as han:
        behaviour.mode = mode
        started = time.monotonic()
        with pytest.raises(HanProtocolError) as info:
            if call == "logs":
                await han.logs(LogKind.CONSUMER, count=1200)
            else:
                await getattr(han, call)()
        assert time.monotonic() - started < 3.0
    assert info.value.field == field


# --- the CASA formats (pure) ----------------------------------------------------------------------


def test_firmware_text_is_split_into_version_and_hash() -> None:
    assert split_firmware("31100000__X026b / EF5018DF") == ("31100000__X026b", "ef5018df")
    assert split_firmware("1.1.5") == ("1.1.5", "")


_json = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=30),
                     lambda inner: st.lists(inner, max_size=4)
                     | st.dictionaries(st.text(max_size=12), inner, max_size=4), max_leaves=12)
_entry = st.fixed_dictionaries({}, optional={
    "record_number": _json | st.integers(0, 10**6), "timestamp": _json | st.just(
        "2026-03-02T10:30:00+01:00"), "level": _json | st.sampled_from(["INFO", "FATAL"]),
    "event_id": _json, "message": _json, "outcome": _json})


@given(_json | _entry)
def test_arbitrary_json_gives_protocol_errors_only(payload: Any) -> None:
    for parse in (lambda p: parse_values(p, "v"),
                  lambda p: parse_log_entry(LogKind.CONSUMER, p, "e")):
        with contextlib.suppress(HanProtocolError):
            parse(payload)
