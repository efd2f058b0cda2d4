"""Discovery over real sockets, TLS and mDNS, confined to loopback (127.0.0.0/8 and ::1).

Every probe here names a loopback address or the loopback adapter; mDNS is bound to 127.0.0.1
so its multicast never leaves the loopback interface.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import socket
import time
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from app.cli import main as cli_main
from app.processes import discovery
from app.security import tls
from app.transports import mdns, netinfo


def _bindable(host: str) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.bind((host, 0))
    except OSError:
        return False
    return True


needs_127_x = pytest.mark.skipif(not _bindable("127.0.0.2"),
                                 reason="this OS routes only 127.0.0.1 to loopback")


CANDIDATES_ONLY = {"subnet_probe": False, "use_mdns": False, "known_addresses": False}


@pytest.fixture(autouse=True)
def only_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any test that would probe, or ask mDNS on, anything but loopback."""
    real_tcp_open, real_lookup = discovery.tcp_open, mdns.lookup

    async def guarded_tcp_open(host: str, port: int, timeout: float) -> bool:
        assert ipaddress.ip_address(host.split("%")[0]).is_loopback, host
        return await real_tcp_open(host, port, timeout)

    async def guarded_lookup(*args, interfaces=None, **kwargs):
        assert interfaces is not None, "mDNS on every adapter"
        assert all(isinstance(i, str) and ipaddress.ip_address(i).is_loopback
                   for i in interfaces), interfaces
        return await real_lookup(*args, interfaces=interfaces, **kwargs)

    monkeypatch.setattr(discovery, "tcp_open", guarded_tcp_open)
    monkeypatch.setattr(mdns, "lookup", guarded_lookup)


@pytest.fixture(scope="module")
def loopback_name() -> str:
    snap = netinfo.read_network()
    names = [i.name for i in snap.interfaces if i.is_loopback]
    if not names:
        pytest.skip("no loopback adapter visible")
    return names[0]


@pytest.fixture
async def han_server(demo_pki) -> AsyncIterator:
    """The virtual SMGW (CONEXA dialect) on 127.0.0.2."""
    if not _bindable("127.0.0.2"):
        pytest.skip("this OS routes only 127.0.0.1 to loopback")
    from app.sim.smgw import Scenario, start_han_server

    state = Scenario.load("default").build_state(demo_pki)
    handle = await start_han_server(state, demo_pki, host="127.0.0.2", port=0, dialect="theben")
    try:
        yield handle
    finally:
        await handle.close()


async def _serve(app: web.Application, host: str, context) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, 0, ssl_context=context)
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1]  # noqa: SLF001


@pytest.fixture
async def ppc_like(demo_pki) -> AsyncIterator[tuple[str, int]]:
    """A small aiohttp TLS server with the demo HAN certificate that looks like a PPC gateway."""
    if not _bindable("127.0.0.4"):
        pytest.skip("this OS routes only 127.0.0.1 to loopback")

    async def hanservice(_request: web.Request) -> web.Response:
        return web.Response(status=401, headers={
            "WWW-Authenticate": 'Digest realm="HAN Access", qop="auth", nonce="abc"'})

    app = web.Application()
    app.router.add_get("/cgi-bin/hanservice.cgi", hanservice)
    context = tls.server_context(tls.Interface.HAN, own=demo_pki.tls_chain("han"))
    runner, port = await _serve(app, "127.0.0.4", context)
    try:
        yield "127.0.0.4", port
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def raw_server(host: str, reply: bytes | None) -> AsyncIterator[int]:
    """Accepts TCP; answers ``reply`` at once, or (``None``) never says anything."""
    writers: list[asyncio.StreamWriter] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        if reply is not None:
            writer.write(reply)
            await writer.drain()
            writer.close()
            return
        with contextlib.suppress(Exception):
            await reader.read()  # hold the connection open until the client gives up

    server = await asyncio.start_server(handle, host, 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        for writer in writers:
            writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.wait_closed(), 2)


# -- finding and identifying ----------------------------------------------------------------------


async def test_finds_the_virtual_smgw_given_as_candidate(han_server, demo_pki, loopback_name):
    report = await discovery.discover(
        loopback_name, candidates=["127.0.0.2"], ports=(han_server.port,), **CANDIDATES_ONLY)
    [gateway] = report.gateways
    assert (gateway.host, gateway.port, gateway.source) == ("127.0.0.2", han_server.port,
                                                           "candidate")
    assert gateway.sha256 == han_server.certificate_sha256
    assert gateway.smgw_id == demo_pki.smgw_id
    assert gateway.vendor == "theben" and gateway.confidence >= 0.6
    assert gateway.meters is None  # read later through the HAN adapter
    assert report.complete and report.found


async def test_subnet_sweep_of_the_loopback_adapter_finds_the_virtual_smgw(
        han_server, loopback_name):
    started = time.monotonic()
    report = await discovery.discover(loopback_name, ports=(han_server.port,), use_mdns=False)
    assert time.monotonic() - started < 10
    assert [(g.host, g.source) for g in report.gateways] == [("127.0.0.2", "subnet")]
    assert report.swept == [loopback_name]
    assert report.probed_hosts == 253  # 127.0.0.0/24 without the own 127.0.0.1


async def test_vendor_from_http_paths_on_a_plain_aiohttp_tls_server(ppc_like, demo_pki):
    host, port = ppc_like
    gateway = await discovery.identify(host, port)
    assert gateway.vendor == "ppc"
    assert gateway.smgw_id == demo_pki.smgw_id  # from the certificate subject
    assert gateway.tls_group == "brainpoolP256r1"
    assert any("hanservice.cgi" in r.en for r in gateway.reasons)


async def test_a_custom_identifier_sees_its_path(ppc_like):
    host, port = ppc_like
    seen: list[discovery.Evidence] = []

    def check(ev: discovery.Evidence):
        seen.append(ev)
        ans = ev.answer("/cgi-bin/hanservice.cgi")
        if ans is not None and ans.realm == "HAN Access":
            yield discovery.Clue("acme", 0.95, discovery.Text("realm", "Realm"))

    rule = discovery.Identifier("acme", check, ("/cgi-bin/hanservice.cgi",))
    gateway = await discovery.identify(host, port, identifiers=[rule])
    assert gateway.vendor == "acme"
    assert seen[0].control is not None and seen[0].control.status == 404


@pytest.mark.skipif(not _bindable("::1"), reason="no IPv6 loopback")
async def test_ipv6_loopback_candidate(demo_pki, loopback_name):
    app = web.Application()
    context = tls.server_context(tls.Interface.HAN, own=demo_pki.tls_chain("han"))
    runner, port = await _serve(app, "::1", context)
    try:
        report = await discovery.discover(loopback_name, candidates=["[::1]"], ports=(port,),
                                          **CANDIDATES_ONLY)
    finally:
        await runner.cleanup()
    [gateway] = report.gateways
    assert gateway.host == "::1" and gateway.url == f"https://[::1]:{port}"


# -- timeouts and peers that are not gateways -----------------------------------------------------


@needs_127_x
async def test_a_silent_tcp_peer_does_not_stall_discovery(han_server, loopback_name):
    async with raw_server("127.0.0.3", None) as silent_port:
        started = time.monotonic()
        report = await discovery.discover(
            loopback_name, candidates=["127.0.0.3", "127.0.0.2"],
            ports=(silent_port, han_server.port), tls_timeout=0.5, **CANDIDATES_ONLY)
        elapsed = time.monotonic() - started
    assert elapsed < 3.0
    assert [(g.host, g.port) for g in report.gateways] == [("127.0.0.2", han_server.port)]
    [stuck] = report.unidentified
    assert (stuck.host, stuck.port, stuck.kind) == ("127.0.0.3", silent_port, "timeout")
    assert report.complete


@needs_127_x
async def test_the_overall_deadline_bounds_a_run_that_hangs(loopback_name):
    async with raw_server("127.0.0.3", None) as silent_port:
        started = time.monotonic()
        report = await discovery.discover(
            loopback_name, candidates=["127.0.0.3"], ports=(silent_port,), timeout=1.0,
            tls_timeout=10.0, **CANDIDATES_ONLY)
        elapsed = time.monotonic() - started
    assert elapsed < 2.5
    assert not report.complete and report.gateways == []
    assert "incomplete" in [w.code for w in report.warnings]


@needs_127_x
async def test_a_plain_http_port_is_reported_as_not_tls(loopback_name):
    async with raw_server("127.0.0.3", b"HTTP/1.1 400 Bad Request\r\n\r\n") as port:
        report = await discovery.discover(loopback_name, candidates=["127.0.0.3"],
                                          ports=(port,), **CANDIDATES_ONLY)
    assert report.gateways == []
    [other] = report.unidentified
    assert other.kind == "tls" and "TLS" in other.message.en


async def test_a_closed_port_is_not_reported_at_all(loopback_name):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free_port = s.getsockname()[1]
    report = await discovery.discover(loopback_name, candidates=["127.0.0.1"],
                                      ports=(free_port,), **CANDIDATES_ONLY)
    assert report.gateways == [] and report.unidentified == [] and report.probed_hosts == 1


# -- mDNS -----------------------------------------------------------------------------------------


async def test_mdns_without_responder_returns_empty_within_its_timeout():
    started = time.monotonic()
    result = await mdns.lookup(mdns.host_names(["ETHE0300186023"]), interfaces=["127.0.0.1"],
                               timeout=1.0)
    assert time.monotonic() - started < 2.0
    assert result.empty


async def test_mdns_with_no_usable_adapter_returns_at_once():
    started = time.monotonic()
    result = await mdns.lookup(interfaces=[], timeout=5.0)
    assert result.empty and time.monotonic() - started < 0.5


@needs_127_x
async def test_discovery_finds_a_gateway_announced_over_mdns(han_server, loopback_name):
    from zeroconf import IPVersion
    from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

    responder = AsyncZeroconf(interfaces=["127.0.0.1"], ip_version=IPVersion.V4Only)
    info = AsyncServiceInfo(
        "_https._tcp.local.", "EDEM0100000001._https._tcp.local.", port=han_server.port,
        addresses=[socket.inet_aton("127.0.0.2")], server="smgw.local.")
    try:
        await responder.async_register_service(info)
        await asyncio.sleep(1.1)  # past the responder's one-second multicast rate limit
        report = await discovery.discover(
            loopback_name, ports=(han_server.port,), subnet_probe=False, known_addresses=False,
            mdns_timeout=2.5)
    finally:
        await responder.async_close()
    [gateway] = report.gateways
    assert (gateway.host, gateway.port, gateway.source) == ("127.0.0.2", han_server.port, "mdns")
    assert "smgw.local." in gateway.names


# -- command line ---------------------------------------------------------------------------------


async def test_cli_json_contract(han_server, capsys, monkeypatch, loopback_name):
    monkeypatch.setenv("SMGWCT_LANG", "en")
    code = await asyncio.to_thread(cli_main, [
        "discover", "--interface", loopback_name, "--candidates", "127.0.0.2",
        "--port", str(han_server.port), "--no-subnet", "--no-mdns", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert set(out) >= {"gateways", "warnings", "interfaces"}
    [gateway] = out["gateways"]
    assert {"host", "port", "vendor", "smgw_id", "sha256", "source"} <= set(gateway)
    assert gateway["sha256"] == han_server.certificate_sha256
    assert gateway["source"] == "candidate"


async def test_cli_exit_status_3_when_nothing_is_found(capsys, monkeypatch, loopback_name):
    monkeypatch.setenv("SMGWCT_LANG", "de")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free_port = s.getsockname()[1]
    code = await asyncio.to_thread(cli_main, [
        "discover", "--interface", loopback_name, "--candidates", "127.0.0.1",
        "--port", str(free_port), "--no-subnet", "--no-mdns"])
    out = capsys.readouterr().out
    assert code == 3
    assert "Kein Gateway gefunden." in out


def test_cli_unknown_interface_is_one_line_error(capsys):
    code = cli_main(["discover", "--interface", "no-such-adapter-0", "--no-mdns"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("smgwct: interface:") and "Traceback" not in err
