"""Discovery planning, identification rules and warnings, without touching any network.

``tcp_open`` is replaced by a fake here, and mDNS is off: these tests plan probes for private
addresses of invented adapters, so not a single packet may leave the process.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.errors import InvalidValue, Text
from app.processes import discovery
from app.processes.discovery import (
    Clue,
    Evidence,
    HttpAnswer,
    Identifier,
    combine,
    find_smgw_id,
    parse_candidates,
    sweep_plan,
)
from app.transports import mdns
from app.transports.netinfo import (
    DefaultRoute,
    InterfaceAddress,
    NetworkInterface,
    NetworkSnapshot,
)


def iface(name: str, *cidrs: str, gateway: str | None = None, index: int = 2,
          routes_known: bool = True) -> NetworkInterface:
    addresses = []
    for cidr in cidrs:
        i = ipaddress.ip_interface(cidr)
        addresses.append(InterfaceAddress(i.ip, i.network.prefixlen))
    routes = (DefaultRoute(4, gateway, interface=name),) if gateway else ()
    return NetworkInterface(name, "", index, tuple(addresses), default_routes=routes,
                            routes_known=routes_known)


class FakeLink:
    """Stands in for ``tcp_open``: records every probe, answers nothing, and measures how many
    probes were in flight at once."""

    def __init__(self, delay: float = 0.0, open_hosts: frozenset[str] = frozenset()) -> None:
        self.delay = delay
        self.open_hosts = open_hosts
        self.calls: list[tuple[str, int]] = []
        self.in_flight = 0
        self.peak = 0

    async def __call__(self, host: str, port: int, timeout: float) -> bool:
        self.calls.append((host, port))
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            await asyncio.sleep(min(self.delay, timeout))
        finally:
            self.in_flight -= 1
        return host in self.open_hosts


@pytest.fixture
def link(monkeypatch: pytest.MonkeyPatch) -> FakeLink:
    fake = FakeLink()
    monkeypatch.setattr(discovery, "tcp_open", fake)

    async def no_identify(*_args, **_kwargs):  # pragma: no cover - guards the no-traffic rule
        raise AssertionError("identify must not run: no port is open in these tests")

    monkeypatch.setattr(discovery, "identify", no_identify)
    return fake


# -- pure helpers -------------------------------------------------------------------------------


def test_find_smgw_id_in_certificate_and_header_texts():
    assert find_smgw_id("CN=ethe0300186023.sm") == "ETHE0300186023"
    assert find_smgw_id('Digest realm="EPPC0212345678"') == "EPPC0212345678"
    assert find_smgw_id("/smgw/m2m/EEMH0100000042.sm/json") == "EEMH0100000042"
    assert find_smgw_id("XETHE0300186023") is None  # part of a longer word
    assert find_smgw_id("ETHE03001860231") is None  # 11 digits
    assert find_smgw_id(None) is None


def test_combine_adds_up_independent_clues_and_keeps_the_first_smgw_id():
    why = Text("x", "x")
    vendor, confidence, smgw_id, reasons = combine([
        Clue(None, 0.0, why, "EDEM0100000001"),
        Clue("theben", 0.6, Text("a", "a")),
        Clue("theben", 0.5, Text("b", "b")),
        Clue("ppc", 0.7, Text("c", "c"), "EPPC0212345678"),
    ])
    assert vendor == "theben" and confidence == pytest.approx(0.8)
    assert smgw_id == "EDEM0100000001"
    assert len(reasons) == 4
    assert combine([]) == (None, 0.0, None, ())


def test_parse_candidates_accepts_ip_addresses_only():
    assert parse_candidates([" 192.168.1.200", "[::1]", "fe80::1%eth0", "192.168.1.200"]) == [
        "192.168.1.200", "::1", "fe80::1%eth0"]
    with pytest.raises(InvalidValue) as err:
        parse_candidates(["gateway.example"])
    assert err.value.field == "candidates"


def test_sweep_plan_covers_the_own_slash_24_without_the_own_address():
    hosts, notes = sweep_plan(iface("eth0", "192.168.1.10/24"))
    assert len(hosts) == 253 and "192.168.1.10" not in hosts
    assert hosts[0] == "192.168.1.1" and hosts[-1] == "192.168.1.254"
    assert notes == []


def test_sweep_plan_narrows_large_networks_and_skips_public_and_self_assigned():
    hosts, notes = sweep_plan(iface("eth0", "10.11.0.5/16"))
    assert len(hosts) == 253 and all(h.startswith("10.11.0.") for h in hosts)
    assert [n.code for n in notes] == ["subnet_narrowed"]
    hosts, notes = sweep_plan(iface("eth0", "203.0.113.7/24"))
    assert hosts == [] and [n.code for n in notes] == ["subnet_skipped"]
    assert sweep_plan(iface("eth0", "169.254.10.20/16")) == ([], [])
    assert sweep_plan(iface("lo", "127.0.0.1/8"))[0] == []  # loopback only when chosen
    assert len(sweep_plan(iface("lo", "127.0.0.1/8"), allow_loopback=True)[0]) == 253


def test_sweep_plan_honours_the_host_cap():
    hosts, notes = sweep_plan(iface("eth0", "192.168.1.10/24"), max_hosts=20)
    assert len(hosts) == 20 and notes[-1].code == "subnet_capped"


def test_known_address_table_is_data_with_the_field_defaults():
    addresses = {k.address: k.vendor for k in discovery.KNOWN_ADDRESSES}
    assert addresses["192.168.1.200"] == "ppc"
    assert addresses["192.168.33.2"] == "emh"
    assert {"192.168.100.100", "192.168.168.168", "10.11.120.0/24"} <= set(addresses)
    nets = {str(n) for n in discovery.usual_han_networks()}
    assert {"192.168.1.0/24", "192.168.33.0/24", "10.11.120.0/24"} <= nets


# -- identification rules ------------------------------------------------------------------------


def answer(path: str, status: int, **headers: str) -> HttpAnswer:
    pairs = tuple((k.replace("_", "-").lower(), v) for k, v in headers.items())
    return HttpAnswer(path, status, pairs)


def identify_offline(evidence: Evidence) -> tuple[str | None, float, str | None]:
    clues = [c for rule in discovery.registered_identifiers() for c in rule.check(evidence)]
    vendor, confidence, smgw_id, _ = combine(clues)
    return vendor, confidence, smgw_id


def test_theben_redirect_to_the_m2m_endpoint_is_strong_evidence():
    ev = Evidence("192.168.1.200", 443, None, {
        "/smgw/m2m": answer("/smgw/m2m", 307, location="/smgw/m2m/ETHE0300186023.sm/json")},
        control=answer("/x", 404))
    vendor, confidence, smgw_id = identify_offline(ev)
    assert (vendor, smgw_id) == ("theben", "ETHE0300186023")
    assert confidence >= 0.9


def test_a_gateway_that_challenges_every_path_is_not_taken_for_every_vendor():
    challenge = {"www_authenticate": 'Digest realm="smgw", nonce="1"'}
    answers = {p: answer(p, 401, **challenge) for p in
               ("/", "/smgw/m2m", "/cgi-bin/hanservice.cgi", "/json/metering/derived")}
    ev = Evidence("192.168.1.200", 443, None, answers, control=answer("/c", 401, **challenge),
                  known_vendor="ppc")
    vendor, confidence, _ = identify_offline(ev)
    assert (vendor, confidence) == ("ppc", 0.2)  # only the weak default-address hint is left


def test_ppc_hanservice_and_realm_words():
    ev = Evidence("192.168.1.200", 443, None, {
        "/cgi-bin/hanservice.cgi": answer("/cgi-bin/hanservice.cgi", 401,
                                          www_authenticate='Digest realm="PPC SMGW"'),
        "/smgw/m2m": answer("/smgw/m2m", 404)}, control=answer("/c", 404))
    vendor, confidence, _ = identify_offline(ev)
    assert vendor == "ppc" and confidence == pytest.approx(0.8)


def test_http_answer_helpers():
    ans = HttpAnswer("/", 401, (("www-authenticate", 'Digest realm="CONEXA HAN", qop="auth"'),
                                ("www-authenticate", "Basic realm=\"x\""),
                                ("server", "Theben")),
                     b"<html><head><title> EMH  CASA </title></head></html>")
    assert ans.realm == "CONEXA HAN"
    assert ans.auth_schemes == ("digest", "basic")
    assert ans.server == "Theben" and ans.title == "EMH CASA"


def test_register_identifier_replaces_by_name(monkeypatch):
    monkeypatch.setattr(discovery, "_registry", list(discovery.BUILTIN_IDENTIFIERS))
    rule = Identifier("demo", lambda ev: [Clue("demo", 1.0, Text("d", "d"))], ("/demo",))
    discovery.register_identifier(rule)
    discovery.register_identifier(rule)
    names = [r.name for r in discovery.registered_identifiers()]
    assert names.count("demo") == 1 and names[0] == "certificate"


# -- discover() with a fake link ----------------------------------------------------------------


HAN_LAPTOP = NetworkSnapshot((
    iface("lo", "127.0.0.1/8", index=1),
    iface("eth0", "192.168.1.10/24", index=2),
    iface("wlan0", "192.168.178.23/24", gateway="192.168.178.1", index=3),
), "/proc/net/route")


async def test_probe_order_is_candidates_then_known_addresses_then_subnet(link):
    report = await discovery.discover(
        "eth0", candidates=["192.168.1.77"], use_mdns=False, max_concurrency=1,
        network=HAN_LAPTOP)
    hosts = [h for h, _ in link.calls]
    assert hosts[0] == "192.168.1.77"
    assert hosts[1] == "192.168.1.200"  # the PPC default is on-link for 192.168.1.10/24
    assert hosts[2:5] == ["192.168.1.1", "192.168.1.2", "192.168.1.3"]
    assert len(hosts) == len(set(hosts)) == 253  # nothing probed twice, own address skipped
    assert not any(h.startswith("192.168.178.") for h in hosts)  # not the WLAN
    assert report.gateways == [] and report.swept == ["eth0"]


async def test_without_interface_only_adapters_without_default_route_are_swept(link):
    report = await discovery.discover(use_mdns=False, network=HAN_LAPTOP)
    hosts = {h for h, _ in link.calls}
    assert "192.168.1.200" in hosts and "192.168.1.1" in hosts
    assert not any(h.startswith(("192.168.178.", "127.")) for h in hosts)
    assert report.swept == ["eth0"]


async def test_when_every_adapter_routes_to_the_internet_nothing_is_swept(link):
    snap = NetworkSnapshot((iface("wlan0", "192.168.1.23/24", gateway="192.168.1.1"),), "x")
    report = await discovery.discover(use_mdns=False, network=snap)
    assert link.calls == [("192.168.1.200", 443)]  # only the on-link PPC default address
    assert "no_sweep" in [w.code for w in report.warnings]


async def test_no_subnet_probe_and_no_known_addresses_probe_nothing_but_candidates(link):
    await discovery.discover("eth0", candidates=["192.168.1.99"], subnet_probe=False,
                             known_addresses=False, use_mdns=False, network=HAN_LAPTOP,
                             ports=(443, 8443))
    assert link.calls == [("192.168.1.99", 443), ("192.168.1.99", 8443)]


async def test_concurrency_bound_is_honoured(link):
    link.delay = 0.01
    await discovery.discover("eth0", use_mdns=False, max_concurrency=8, network=HAN_LAPTOP)
    assert link.peak == 8
    assert len(link.calls) == 253


async def test_default_run_on_a_silent_link_finishes_within_ten_seconds(link, monkeypatch):
    """Every probe runs into its connect timeout and mDNS hears nothing for its whole budget,
    as on a link where nothing answers; all other settings are the defaults."""
    link.delay = 10.0  # cut to connect_timeout by the fake
    asked = []

    async def silent_mdns(names, *args, timeout: float, **kwargs):
        asked.append((tuple(names), kwargs.get("interfaces")))
        await asyncio.sleep(timeout)
        return mdns.MdnsResult(elapsed=timeout)

    monkeypatch.setattr(mdns, "lookup", silent_mdns)
    started = time.monotonic()
    report = await discovery.discover("eth0", network=HAN_LAPTOP)
    elapsed = time.monotonic() - started
    assert elapsed < 10.0
    assert report.complete and len(link.calls) == 253
    assert report.probed_hosts == 253
    assert asked == [(("smgw.local.",), ["192.168.1.10"])]  # mDNS only on the chosen adapter


async def test_the_deadline_stops_a_slow_run_and_says_so(link):
    link.delay = 10.0
    started = time.monotonic()
    report = await discovery.discover("eth0", use_mdns=False, network=HAN_LAPTOP,
                                      timeout=0.5, connect_timeout=5.0)
    assert time.monotonic() - started < 2.0
    assert not report.complete
    assert "incomplete" in [w.code for w in report.warnings]


async def test_default_route_on_the_han_adapter_is_warned_in_both_languages(link):
    snap = NetworkSnapshot((iface("eth0", "192.168.1.10/24", gateway="192.168.1.1"),), "x")
    report = await discovery.discover("eth0", use_mdns=False, subnet_probe=False,
                                      known_addresses=False, network=snap)
    [warning] = [w for w in report.warnings if w.code == "default_route"]
    assert warning.interface == "eth0"
    assert "internet" in warning.message.en and "192.168.1.1" in warning.message.en
    assert "Secure State Connectivity" in warning.message.de
    assert "Standard-Gateway" in warning.message.de


async def test_unknown_routes_give_their_own_warning(link):
    snap = NetworkSnapshot((iface("eth0", "192.168.1.10/24", routes_known=False),), None)
    report = await discovery.discover("eth0", use_mdns=False, subnet_probe=False,
                                      known_addresses=False, network=snap)
    assert "routes_unknown" in [w.code for w in report.warnings]
    assert "default_route" not in [w.code for w in report.warnings]


async def test_no_address_in_a_usual_han_subnet_hints_at_a_static_address(link):
    snap = NetworkSnapshot((iface("eth0", "172.20.5.9/24"),), "x")
    report = await discovery.discover("eth0", use_mdns=False, network=snap)
    [hint] = [w for w in report.warnings if w.code == "no_han_subnet"]
    assert "192.168.1.10/24" in hint.message.en and "192.168.1.10/24" in hint.message.de
    # the known default addresses are off-link, so none of them was probed
    assert not any(h.startswith("192.168.") for h, _ in link.calls)


async def test_an_adapter_without_ipv4_gets_the_static_address_hint(link):
    snap = NetworkSnapshot((NetworkInterface("eth0", index=2, addresses=(InterfaceAddress(
        ipaddress.ip_address("fe80::1"), 64, 2),)),), "x")
    report = await discovery.discover("eth0", use_mdns=False, network=snap)
    [hint] = [w for w in report.warnings if w.code == "no_han_subnet"]
    assert "no IPv4 address" in hint.message.en
    assert link.calls == []


async def test_unknown_interface_is_a_field_error(link):
    with pytest.raises(InvalidValue) as err:
        await discovery.discover("en9", use_mdns=False, network=HAN_LAPTOP)
    assert err.value.field == "interface"


@pytest.mark.parametrize("kwargs, field", [
    ({"ports": (0,)}, "port"), ({"ports": ()}, "port"), ({"max_concurrency": 0},
                                                        "max_concurrency"),
    ({"timeout": 0}, "timeout"),
])
async def test_bad_settings_are_field_errors(link, kwargs, field):
    with pytest.raises(InvalidValue) as err:
        await discovery.discover("eth0", use_mdns=False, network=HAN_LAPTOP, **kwargs)
    assert err.value.field == field


async def test_progress_events_reach_the_callback_and_end_with_done(link):
    seen = []
    report = await discovery.discover("eth0", use_mdns=False, network=HAN_LAPTOP,
                                      progress=seen.append)
    assert seen == report.events
    assert seen[0].phase == "interfaces" and seen[-1].phase == "done"
    fractions = [e.fraction for e in seen if e.fraction is not None]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert len(seen) < 40  # throttled, not one event per host


async def test_a_failing_progress_listener_does_not_stop_discovery(link):
    def broken(_event):
        raise RuntimeError("listener bug")

    report = await discovery.discover("eth0", use_mdns=False, network=HAN_LAPTOP,
                                      subnet_probe=False, progress=broken)
    assert report.complete


# -- mDNS helpers (no network) -------------------------------------------------------------------


def test_mdns_host_names_are_lower_case_and_unique():
    assert mdns.host_names(["ETHE0300186023", " ethe0300186023 ", ""]) == [
        "smgw.local.", "ethe0300186023.local."]


async def test_mdns_reports_a_stack_that_cannot_open_its_sockets(monkeypatch):
    import zeroconf.asyncio

    class Broken:
        def __init__(self, *args, **kwargs):
            raise OSError(99, "Cannot assign requested address")

    monkeypatch.setattr(zeroconf.asyncio, "AsyncZeroconf", Broken)
    started = time.monotonic()
    result = await mdns.lookup(interfaces=["127.0.0.1"], timeout=5.0)
    assert result.empty and result.problem is not None
    assert "mDNS" in result.problem.en and time.monotonic() - started < 1.0


@given(st.text(max_size=60))
def test_find_smgw_id_never_raises_and_returns_a_valid_id(text):
    found = find_smgw_id(text)
    assert found is None or (len(found) == 14 and found == found.upper() and found[0] == "E")
