"""The Theben adapter against the virtual SMGW (CONEXA dialect), over real HTTPS on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import socket
import ssl
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from app.errors import InvalidValue
from app.resources import resource_path
from app.security import tls
from app.security.pki import create_demo_pki
from app.security.tls import Interface
from app.sim.smgw import ManualClock, Scenario, start_han_server
from app.sim.smgw.logs import Event
from app.sim.smgw.state import SmgwState
from app.transports.han.base import HanCredentials, LogKind, UserRole
from app.transports.han.digest import DigestClient, parse_challenges
from app.transports.han.errors import (
    HanAccessDenied,
    HanAuthError,
    HanCertificateChanged,
    HanError,
    HanLockedOut,
    HanNotEnabled,
    HanSessionBusy,
    HanTcpError,
    HanTimeout,
    HanTlsError,
)
from app.transports.han.http import HanHttpClient
from app.transports.han.pinning import PinnedCertificate, PinStore, fetch_candidate
from app.transports.han.theben import ThebenAdapter

CONSUMER = ("ethe0390000001.lv", "Demo-Verbraucher-2026")
TECHNICIAN = ("ethe0390000001.srv", "Demo-Service-2026")


def _default() -> dict[str, Any]:
    return json.loads(resource_path("demo", "default.json").read_text("utf-8"))


class Gateway:
    """A running virtual SMGW plus what a test needs to talk to it."""

    def __init__(self, state: SmgwState, handle: Any, clock: ManualClock, pin: PinnedCertificate,
                 pki: Any) -> None:
        self.state, self.handle, self.clock, self.pin, self.pki = state, handle, clock, pin, pki

    def adapter(self, user: tuple[str, str] = CONSUMER, *, role: UserRole = UserRole.CONSUMER,
                **kwargs: Any) -> ThebenAdapter:
        creds = HanCredentials(user[0], user[1], role=role)
        kwargs.setdefault("pin", self.pin)
        return ThebenAdapter(self.handle.host, self.handle.port, credentials=creds, **kwargs)

    def technician(self, **kwargs: Any) -> ThebenAdapter:
        return self.adapter(TECHNICIAN, role=UserRole.SERVICE_TECHNICIAN, **kwargs)


Start = Callable[..., Awaitable[Gateway]]


@pytest.fixture
async def start_gateway(demo_pki) -> AsyncIterator[Start]:
    handles = []

    async def start(change: Callable[[dict[str, Any]], None] | None = None) -> Gateway:
        data = _default()
        if change is not None:
            change(data)
        clock = ManualClock(dt.datetime.now(dt.UTC))
        state = Scenario.from_dict(data, source="test").build_state(demo_pki, clock)
        handle = await start_han_server(state, demo_pki)
        handles.append(handle)
        return Gateway(state, handle, clock, PinnedCertificate.from_pem(demo_pki["han"].cert_pem),
                       demo_pki)

    yield start
    for handle in handles:
        await handle.close()


# --- identity, meters, logs, self-test -----------------------------------------------------------


async def test_identify_reports_the_gateway(start_gateway: Start, demo_pki) -> None:
    gw = await start_gateway()
    async with gw.adapter() as han:
        identity = await han.identify()
    assert identity.vendor == "theben"
    assert identity.smgw_id == "ETHE0390000001"  # the wire carries lower case
    assert identity.state.raw == "a0000000" and identity.state.normal
    assert [(f.version, f.hash) for f in identity.firmware] == [
        (gw.state.firmware[0].version, gw.state.firmware[0].sha256)]
    assert abs((identity.time - gw.state.now()).total_seconds()) < 1.5
    han_cert = identity.certificate("han_tls")
    assert han_cert is not None and han_cert.sha256 == demo_pki["han"].sha256
    sig = sorted((c for c in identity.certificates if c.role == "wan_sig"), key=lambda c: c.index)
    assert [(c.index, c.state) for c in sig] == [(0, "guetesiegel"), (1, "wirkzertifikat")]
    assert sig[1].sha256 == demo_pki["smgw_sig"].sha256
    assert identity.certificate("sub_ca").sha256 == demo_pki["sub_ca"].sha256
    out = identity.to_dict()
    assert set(out) >= {"vendor", "smgw_id", "firmware", "state", "time", "certificates"}
    assert set(out["firmware"][0]) == {"component", "version", "hash"}
    assert {"role", "subject", "not_after", "sha256"} <= set(out["certificates"][0])


async def test_state_and_clock_drift_are_reported(start_gateway: Start) -> None:
    def drift(data: dict[str, Any]) -> None:
        data["faults"] = [{"kind": "clock_drift", "seconds": 45}]

    gw = await start_gateway(drift)
    async with gw.adapter() as han:
        data = await han.technical_data()
    assert data.identity.state.secure_states == ("application",)
    # the manual clock stands still, the laptop's runs: compare against the gateway's view
    expected = (gw.state.now() - data.measured_at).total_seconds()
    assert abs(data.clock_offset_seconds - expected) < 1.5
    assert {p.usage_point_id for p in data.profiles} == {p.usage_point_id
                                                          for p in gw.state.profiles}


async def test_meters_with_their_last_values(start_gateway: Start) -> None:
    gw = await start_gateway()
    async with gw.adapter() as han:
        meters = {m.server_id: m for m in await han.meters()}
    assert set(meters) == {"1EMH0012345678", "1DZG0042123440"}
    emh = meters["1EMH0012345678"]
    assert emh.server_id_hex == "0a01454d480000bc614e"
    values = {v.obis: v for v in emh.values}
    meter = gw.state.meter("1EMH0012345678")
    register = meter.registers[0]
    now = gw.state.now()
    target = dt.datetime.fromtimestamp(int(now.timestamp()) // 900 * 900, dt.UTC)
    assert values["1-0:1.8.0*255"].raw == gw.state.register_value(meter, register, target)
    assert values["1-0:1.8.0*255"].unit_text == "Wh"
    assert values["1-0:1.8.0*255"].scaler == -1


async def test_technician_sees_meters_but_no_values(start_gateway: Start) -> None:
    gw = await start_gateway()
    async with gw.technician() as han:
        meters = await han.meters()
    assert {m.server_id for m in meters} == {"1EMH0012345678", "1DZG0042123440"}
    assert all(not m.values_available and not m.values for m in meters)


async def test_system_log_pages_past_1500_entries(start_gateway: Start) -> None:
    gw = await start_gateway()
    seen: list[float | None] = []
    async with gw.technician() as han:
        entries = await han.logs(LogKind.SYSTEM, progress=lambda f, _m: seen.append(f))
        assert len(seen) == 3  # 1500 + 1500 + the rest
        total = len(gw.state.system_log)
        assert total > 3200 and len(entries) == total
        indices = [e.index for e in entries]
        assert indices == list(range(indices[0], indices[0] + total))
        assert entries[-1].event_id == str(int(Event.HAN_LOGIN))
        window = await han.logs("system", from_index=100, count=2000)
    assert [e.index for e in window] == list(range(100, 2100))


async def test_consumer_log_and_time_filter(start_gateway: Start) -> None:
    gw = await start_gateway()
    async with gw.adapter() as han:
        entries = await han.logs(LogKind.CONSUMER)
        assert len(entries) == len(gw.state.consumer_log)
        middle = entries[len(entries) // 2].time
        later = await han.logs(LogKind.CONSUMER, since=middle)
        assert later and all(e.time >= middle for e in later)
        with pytest.raises(HanAccessDenied):
            await han.logs(LogKind.SYSTEM)


async def test_self_test_and_its_ten_minute_lock(start_gateway: Start) -> None:
    gw = await start_gateway()
    async with gw.adapter() as han:
        first = await han.self_test()
        assert first.accepted
        again = await han.self_test()
        assert not again.accepted and again.retry_after_seconds == pytest.approx(600, abs=1)
        gw.clock.advance(599)
        assert not (await han.self_test()).accepted
        gw.clock.advance(2)
        assert (await han.self_test()).accepted
        events = [e.event_id for e in await han.logs(LogKind.CONSUMER, count=10_000)]
    assert events.count(str(int(Event.SELF_TEST_STARTED))) == 2
    assert str(int(Event.SELF_TEST_PASSED)) in events


# --- Digest ---------------------------------------------------------------------------------------


async def test_digest_sha256_is_honoured_and_md5_works(start_gateway: Start) -> None:
    gw = await start_gateway()
    async with gw.adapter(digest_algorithm=None) as han:
        await han.identify()
        assert han.http.digest_algorithm == "SHA-256"
    async with gw.adapter(digest_algorithm="MD5") as han:
        await han.identify()
        assert han.http.digest_algorithm == "MD5"


async def test_md5_only_quirk_needs_the_vendor_override(start_gateway: Start) -> None:
    def quirk(data: dict[str, Any]) -> None:
        data["gateway"]["han"]["digest"] = {"algorithms": ["SHA-256"], "md5_only": True}

    gw = await start_gateway(quirk)
    with pytest.raises(HanAuthError):
        async with gw.adapter(digest_algorithm=None):
            pass
    async with gw.adapter() as han:  # the Theben default forces MD5
        assert (await han.identify()).smgw_id == "ETHE0390000001"
        assert han.http.digest_algorithm == "MD5"


async def test_wrong_password_is_an_auth_error(start_gateway: Start) -> None:
    gw = await start_gateway()
    with pytest.raises(HanAuthError) as info:
        async with gw.adapter((CONSUMER[0], "wrong")):
            pass
    assert "password" in info.value.describe("en")
    assert "Passwort" in info.value.describe("de")
    assert gw.state.guard.failures(CONSUMER[0]) == 1


async def test_lockout_after_five_failures_with_countdown(start_gateway: Start) -> None:
    gw = await start_gateway()
    for _ in range(4):
        with pytest.raises(HanAuthError):
            async with gw.adapter((CONSUMER[0], "wrong")):
                pass
    with pytest.raises(HanLockedOut) as locked:
        async with gw.adapter((CONSUMER[0], "wrong")):
            pass
    assert locked.value.remaining_seconds == pytest.approx(300, abs=1)
    gw.clock.advance(163)
    with pytest.raises(HanLockedOut) as still:  # even the right password
        async with gw.adapter():
            pass
    assert still.value.remaining_seconds == pytest.approx(137, abs=1)
    assert "2 min 17 s" in still.value.describe("en")
    assert "2 Min. 17 s" in still.value.describe("de")
    gw.clock.advance(138)
    async with gw.adapter() as han:
        await han.identify()
    events = [e.event_id for e in gw.state.system_log.entries[-10:]]
    assert Event.HAN_LOCKED in events


# --- sessions -------------------------------------------------------------------------------------


async def test_second_login_takes_over_the_session(start_gateway: Start) -> None:
    gw = await start_gateway()
    first = gw.adapter()
    second = gw.adapter()
    try:
        await first.connect()
        await first.identify()
        token_first = gw.state.sessions.current(CONSUMER[0]).token
        await second.connect()
        token_second = gw.state.sessions.current(CONSUMER[0]).token
        assert token_second != token_first
        assert gw.state.sessions.was_ended(CONSUMER[0], token_first)
        ended = [e for e in gw.state.system_log.entries if e.event_id == Event.HAN_SESSION_ENDED]
        assert ended and ended[-1].user == CONSUMER[0]
        # the first client's nonce is dead: its next call logs in again and takes over back
        await first.identify()
        assert gw.state.sessions.current(CONSUMER[0]).token not in (token_first, token_second)
    finally:
        await first.close()
        await second.close()


async def test_refuse_policy_rejects_a_second_session_until_idle(start_gateway: Start) -> None:
    def refuse(data: dict[str, Any]) -> None:
        data["gateway"]["han"]["session_policy"] = "refuse"

    gw = await start_gateway(refuse)
    async with gw.adapter() as first:
        await first.identify()
        with pytest.raises(HanSessionBusy) as busy:
            async with gw.adapter():
                pass
        assert busy.value.remaining_seconds == pytest.approx(600, abs=1)
        gw.clock.advance(601)
        async with gw.adapter() as second:
            await second.identify()


# --- TLS, pinning, client certificates ----------------------------------------------------------


async def test_changed_certificate_is_refused(start_gateway: Start, tmp_path: Path) -> None:
    gw = await start_gateway()
    other = create_demo_pki("ETHE0390000001")
    wrong_pin = PinnedCertificate.from_pem(other["han"].cert_pem)
    with pytest.raises(HanCertificateChanged) as info:
        async with gw.adapter(pin=wrong_pin):
            pass
    assert info.value.expected == wrong_pin.sha256
    assert info.value.actual == gw.handle.certificate_sha256
    assert gw.state.guard.failures(CONSUMER[0]) == 0  # nothing was sent


async def test_first_contact_confirmation_and_binding(start_gateway: Start, tmp_path: Path
                                                      ) -> None:
    gw = await start_gateway()
    store = PinStore(tmp_path / "pins.json")
    candidate = await fetch_candidate(gw.handle.host, gw.handle.port)
    assert candidate.sha256 == gw.handle.certificate_sha256
    with pytest.raises(InvalidValue):
        store.confirm(candidate, "00" * 32)
    assert store.get(host=gw.handle.host, port=gw.handle.port) is None
    pin = store.confirm(candidate, candidate.fingerprint_display)
    async with gw.adapter(pin=pin, pin_store=store) as han:
        identity = await han.identify()
    reloaded = PinStore(tmp_path / "pins.json")
    assert reloaded.get(smgw_id=identity.smgw_id).sha256 == candidate.sha256
    with pytest.raises(HanCertificateChanged):
        reloaded.check_identity("ETHE0390000001", "ab" * 32)


async def test_client_certificate_login_without_password(start_gateway: Start) -> None:
    gw = await start_gateway()
    creds = HanCredentials(TECHNICIAN[0], None, client_certificate=gw.pki.tls_chain("technician"),
                           role=UserRole.SERVICE_TECHNICIAN)
    async with ThebenAdapter(gw.handle.host, gw.handle.port, credentials=creds,
                             pin=gw.pin) as han:
        entries = await han.logs(LogKind.SYSTEM, count=5)
    assert len(entries) == 5


# --- faults and status codes -------------------------------------------------------------------


async def test_han_disabled_is_reported(start_gateway: Start) -> None:
    def disabled(data: dict[str, Any]) -> None:
        data["faults"] = [{"kind": "han_disabled"}]

    gw = await start_gateway(disabled)
    with pytest.raises(HanNotEnabled) as info:
        async with gw.adapter():
            pass
    assert "operator" in info.value.describe("en")


async def test_slow_gateway_times_out_within_the_call_timeout(start_gateway: Start) -> None:
    def slow(data: dict[str, Any]) -> None:
        data["faults"] = [{"kind": "slow_responses", "delay_seconds": 1.5}]

    gw = await start_gateway(slow)
    han = gw.adapter()
    started = time.monotonic()
    try:
        with pytest.raises(HanTimeout):
            await han.connect(timeout=0.5)
    finally:
        await han.close()
    assert time.monotonic() - started < 2.0


async def _raw(gw: Gateway, method: str, path: str, body: bytes | None = None,
               content_type: str | None = "application/json") -> Any:
    client = HanHttpClient(gw.handle.host, gw.handle.port, pin=gw.pin,
                           credentials=HanCredentials(*CONSUMER))
    try:
        return await client.request(method, path, body=body, content_type=content_type)
    finally:
        await client.close()


async def test_documented_status_codes(start_gateway: Start) -> None:
    gw = await start_gateway()
    endpoint = "/smgw/m2m/ethe0390000001.sm/json"
    for method in ("GET", "POST"):
        response = await _raw(gw, method, "/smgw/m2m", b"{}" if method == "POST" else None)
        assert response.status == 307 and response.headers["Location"] == endpoint
    assert (await _raw(gw, "GET", endpoint)).status == 405
    assert (await _raw(gw, "POST", "/smgw/other", b"{}")).status == 404
    assert (await _raw(gw, "POST", "/smgw/m2m/someone.sm/json", b"{}")).status == 404
    assert (await _raw(gw, "POST", endpoint, b"{not json")).status == 400
    assert (await _raw(gw, "POST", endpoint, b'{"method":"nope"}')).status == 400
    charset = await _raw(gw, "POST", endpoint, b'{"method":"smgw-info"}',
                         content_type="application/json; charset=utf-8")
    assert charset.status == 400
    too_many = await _raw(gw, "POST", endpoint, b'{"method":"log","count":1501}')
    assert too_many.status == 400
    ok = await _raw(gw, "POST", endpoint, b'{"method":"smgw-info"}')
    answer = json.loads(ok.body)
    assert ok.status == 200 and answer["method"] == "smgw-info"
    assert answer["elapsed-time"].endswith("miliseconds")


async def test_readings_window_rules(start_gateway: Start) -> None:
    gw = await start_gateway()
    endpoint = "/smgw/m2m/ethe0390000001.sm/json"
    end = gw.state.now().replace(minute=0, second=0, microsecond=0)
    day = {"method": "readings", "usage-point-id": "01005e318027.taf7-1.sm",
           "database": "origin", "fromtime": (end - dt.timedelta(days=1)).isoformat(),
           "totime": end.isoformat()}
    response = await _raw(gw, "POST", endpoint, json.dumps(day).encode())
    rows = json.loads(response.body)["readings"]["channels"][0]["readings"]
    assert len(rows) == 96  # fromtime exclusive, totime inclusive
    too_long = dict(day, fromtime=(end - dt.timedelta(days=32)).isoformat())
    assert (await _raw(gw, "POST", endpoint, json.dumps(too_long).encode())).status == 400


async def test_replayed_nonce_count_is_refused(start_gateway: Start) -> None:
    gw = await start_gateway()
    url = gw.handle.url + "/smgw/m2m"
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(ssl=gw.pin.ssl_context())
    ) as session:
        async with session.get(url, allow_redirects=False) as resp:
            assert resp.status == 401
            challenges = parse_challenges(resp.headers.getall("WWW-Authenticate"))
        digest = DigestClient(*CONSUMER)
        digest.accept(challenges)
        header = digest.authorization("GET", "/smgw/m2m")
        statuses = []
        for _ in range(2):  # the same nc twice
            async with session.get(url, headers={"Authorization": header},
                                   allow_redirects=False) as resp:
                statuses.append(resp.status)
    assert statuses == [307, 401]
    assert gw.state.guard.failures(CONSUMER[0]) == 0  # a replay is not a wrong password


async def test_cancelling_a_call_leaves_the_adapter_usable(start_gateway: Start) -> None:
    gw = await start_gateway()
    async with gw.adapter() as han:
        gw.state.han.response_delay = 1.0
        task = asyncio.create_task(han.identify())
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        gw.state.han.response_delay = 0.0
        assert (await han.identify()).smgw_id == "ETHE0390000001"


async def test_a_paused_server_drops_connections_and_refuses_new_ones(start_gateway: Start
                                                                       ) -> None:
    gw = await start_gateway()
    resumed: list[bool] = []
    async with gw.adapter() as han:
        await han.identify()  # a kept-alive connection is open now
        await gw.handle.pause(60, lambda: resumed.append(True))
        assert gw.handle.paused
        with pytest.raises(HanError):
            await han.identify(timeout=5.0)
    with pytest.raises(HanTcpError):  # the port is closed: refused, not a hanging handshake
        async with gw.adapter(timeout=5.0):
            pass
    gw.clock.advance(30)
    await asyncio.sleep(0.1)
    assert gw.handle.paused and not resumed  # gateway time, not wall time, ends the pause
    gw.clock.advance(31)
    await asyncio.wait_for(gw.handle.wait_serving(), 2.0)
    assert resumed == [True] and not gw.handle.paused
    async with gw.adapter() as again:  # on the same port as before
        assert (await again.identify()).smgw_id == "ETHE0390000001"


async def test_nothing_listening_is_a_tcp_error(demo_pki) -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    han = ThebenAdapter("127.0.0.1", port, credentials=HanCredentials(*CONSUMER),
                        pin=PinnedCertificate.from_pem(demo_pki["han"].cert_pem))
    try:
        with pytest.raises(HanTcpError) as info:
            await han.connect()
    finally:
        await han.close()
    assert info.value.port == port and "subnet" in info.value.describe("en")


async def test_handshake_failure_keeps_the_tls_alert(demo_pki) -> None:
    """A peer that answers with a TLS alert (a blocking OpenSSL server, as gateways do)."""
    context = tls.server_context(Interface.HAN, own=demo_pki.tls_chain("han"))
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]

    def serve() -> None:
        conn, _ = listener.accept()
        with contextlib.suppress(ssl.SSLError, OSError), \
                context.wrap_socket(conn, server_side=True) as tls_conn:
            tls_conn.recv(1)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    wrong_group = PinnedCertificate.from_pem(demo_pki["han"].cert_pem, group="secp384r1")
    han = ThebenAdapter("127.0.0.1", port, credentials=HanCredentials(*CONSUMER), pin=wrong_group)
    try:
        with pytest.raises(HanTlsError) as info:
            await han.connect()
    finally:
        await han.close()
        listener.close()
        thread.join(5)
    assert not isinstance(info.value, HanCertificateChanged)
    assert info.value.alert == "HANDSHAKE_FAILURE"
    assert "handshake failure" in info.value.describe("en")


async def test_dropped_handshake_is_a_tls_error(start_gateway: Start, demo_pki) -> None:
    gw = await start_gateway()
    wrong_group = PinnedCertificate.from_pem(demo_pki["han"].cert_pem, group="secp384r1")
    with pytest.raises(HanTlsError) as info:
        async with gw.adapter(pin=wrong_group):
            pass
    assert not isinstance(info.value, HanCertificateChanged)
    assert info.value.hint is not None and "key-exchange group" in info.value.hint.en
