"""Network adapters and default routes: the route-table parsers on captured text of each OS."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.errors import InvalidValue
from app.transports import netinfo
from app.transports.netinfo import (
    DefaultRoute,
    InterfaceAddress,
    NetworkInterface,
    attach_routes,
    find_interface,
    parse_linux_ipv6_route,
    parse_linux_route,
    parse_netstat_rn,
    parse_windows_netroute_csv,
    parse_windows_route_print,
)

# A laptop on its office WLAN (default route) with the HAN adapter eth0 on 192.168.1.10/24 and a
# stale "down" default route left on a docking adapter (flags 0x0002: not RTF_UP).
LINUX_ROUTE = """\
Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
wlp2s0\t00000000\t01B2A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0
wlp2s0\t00B2A8C0\t00000000\t0001\t0\t0\t600\t00FFFFFF\t0\t0\t0
eth0\t0001A8C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0
dock0\t00000000\t0101A8C0\t0002\t0\t0\t900\t00000000\t0\t0\t0
"""

# Captured on a Linux VM: eth0 default via fd00::1, and the kernel's unreachable default route
# on lo (flags 0x00200200: RTF_REJECT) that must not count.
LINUX_IPV6_ROUTE = (
    'fd000000000000000000000000000000 40 00000000000000000000000000000000 00'
    ' 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0\n'
    'fe800000000000000000000000000000 40 00000000000000000000000000000000 00'
    ' 00000000000000000000000000000000 00000100 00000002 00000000 00000001     eth0\n'
    '00000000000000000000000000000000 00 00000000000000000000000000000000 00'
    ' fd000000000000000000000000000001 00000400 00000002 00000000 00000003     eth0\n'
    '00000000000000000000000000000001 80 00000000000000000000000000000000 00'
    ' 00000000000000000000000000000000 00000000 00000002 00000000 80200001       lo\n'
    'ff000000000000000000000000000000 08 00000000000000000000000000000000 00'
    ' 00000000000000000000000000000000 00000100 00000003 00000000 00000001     eth0\n'
    '00000000000000000000000000000000 00 00000000000000000000000000000000 00'
    ' 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo\n'
)

WINDOWS_ROUTE_PRINT_EN = """\
===========================================================================
Interface List
 18...00 e0 4c 68 01 2a ......Realtek USB GbE Family Controller
 12...8c 8d 28 aa 10 3f ......Intel(R) Wi-Fi 6 AX201 160MHz
  1...........................Software Loopback Interface 1
===========================================================================

IPv4 Route Table
===========================================================================
Active Routes:
Network Destination        Netmask          Gateway       Interface  Metric
          0.0.0.0          0.0.0.0    192.168.178.1  192.168.178.23     35
        127.0.0.0        255.0.0.0         On-link         127.0.0.1    331
        127.0.0.1  255.255.255.255         On-link         127.0.0.1    331
      192.168.1.0    255.255.255.0         On-link      192.168.1.10    281
     192.168.1.10  255.255.255.255         On-link      192.168.1.10    281
    192.168.178.0    255.255.255.0         On-link    192.168.178.23    291
        224.0.0.0        240.0.0.0         On-link         127.0.0.1    331
===========================================================================
Persistent Routes:
  Network Address          Netmask  Gateway Address  Metric
          0.0.0.0          0.0.0.0      192.168.1.1  Default
===========================================================================

IPv6 Route Table
===========================================================================
Active Routes:
 If Metric Network Destination      Gateway
 12    291 ::/0                     fe80::1
  1    331 ::1/128                  On-link
 18    281 fe80::/64                On-link
 12    291 fe80::/64                On-link
 18    281 fe80::8d4:ab12:1f3e:9a4b/128
                                    On-link
 12    291 ::/0
                                    fe80::3a10:d5ff:fe2c:4d01
===========================================================================
Persistent Routes:
  None
"""

# German Windows, HAN adapter (Ethernet, 192.168.1.10) misconfigured with a default gateway.
WINDOWS_ROUTE_PRINT_DE = """\
===========================================================================
Schnittstellenliste
  7...00 e0 4c 68 01 2a ......Realtek USB GbE Family Controller
  1...........................Software Loopback Interface 1
===========================================================================

IPv4-Routentabelle
===========================================================================
Aktive Routen:
     Netzwerkziel    Netzwerkmaske          Gateway    Schnittstelle Metrik
          0.0.0.0          0.0.0.0      192.168.1.1     192.168.1.10    281
        127.0.0.0        255.0.0.0   Auf Verbindung         127.0.0.1    331
      192.168.1.0    255.255.255.0   Auf Verbindung     192.168.1.10    281
===========================================================================
Ständige Routen:
  Netzwerkadresse          Netzmaske  Gatewayadresse  Metrik
          0.0.0.0          0.0.0.0      10.0.0.1       1
===========================================================================

IPv6-Routentabelle
===========================================================================
Aktive Routen:
 Index Metrik Netzwerkziel             Gateway
  1    331 ::1/128                  Auf Verbindung
  7    281 fe80::/64                Auf Verbindung
===========================================================================
Ständige Routen:
  Keine
"""

NETROUTE_CSV = """\
"ifIndex","InterfaceAlias","NextHop","DestinationPrefix"
"12","WLAN","192.168.178.1","0.0.0.0/0"
"12","WLAN","fe80::3a10:d5ff:fe2c:4d01","::/0"
"23","Ethernet 2","0.0.0.0","0.0.0.0/0"
"""

MACOS_NETSTAT = (
    'Routing tables\n'
    '\n'
    'Internet:\n'
    'Destination        Gateway            Flags               Netif Expire\n'
    'default            192.168.178.1      UGScg                 en0\n'
    'default            link#20            UCSIg           bridge100      !\n'
    '127                127.0.0.1          UCS                   lo0\n'
    '192.168.1          link#7             UCS                   en7      !\n'
    '192.168.1.10/32    link#7             UCS                   en7      !\n'
    '192.168.178        link#6             UCS                   en0      !\n'
    '\n'
    'Internet6:\n'
    'Destination                             Gateway                           '
    '      Flags               Netif Expire\n'
    'default                                 fe80::3a10:d5ff:fe2c:4d01%en0     '
    '      UGcg                  en0\n'
    '::1                                     ::1                               '
    '      UHL                   lo0\n'
    'fe80::%lo0/64                           fe80::1%lo0                       '
    '      UcI                   lo0\n'
)

# Older BSD layout with Refs/Use columns before Netif.
BSD_NETSTAT_OLD = """\
Routing tables

Internet:
Destination        Gateway            Flags    Refs      Use  Netif Expire
default            10.11.120.1        UGSc       12        0    en1
10.11.120/24       link#5             UCS         1        0    en1
"""


def test_linux_ipv4_default_route_needs_up_flag_and_decodes_gateway():
    routes = parse_linux_route(LINUX_ROUTE)
    assert routes == [DefaultRoute(4, "192.168.178.1", interface="wlp2s0")]


def test_linux_ipv6_reject_routes_do_not_count():
    routes = parse_linux_ipv6_route(LINUX_IPV6_ROUTE)
    assert routes == [DefaultRoute(6, "fd00::1", interface="eth0")]


def test_windows_route_print_english_finds_v4_by_address_and_wrapped_v6_line():
    routes = parse_windows_route_print(WINDOWS_ROUTE_PRINT_EN)
    assert DefaultRoute(4, "192.168.178.1", interface_address="192.168.178.23") in routes
    assert DefaultRoute(6, "fe80::1", interface_index=12) in routes
    # the gateway of a wrapped line sits on the next, indented line
    assert DefaultRoute(6, "fe80::3a10:d5ff:fe2c:4d01", interface_index=12) in routes
    # the persistent 192.168.1.1 entry is not an active route
    assert all(r.gateway != "192.168.1.1" for r in routes)
    assert len(routes) == 3


def test_windows_route_print_german_on_the_han_adapter():
    routes = parse_windows_route_print(WINDOWS_ROUTE_PRINT_DE)
    assert routes == [DefaultRoute(4, "192.168.1.1", interface_address="192.168.1.10")]


def test_windows_route_print_in_a_legacy_code_page_still_parses():
    garbled = WINDOWS_ROUTE_PRINT_DE.encode("cp850").decode("utf-8", errors="replace")
    assert parse_windows_route_print(garbled) == [
        DefaultRoute(4, "192.168.1.1", interface_address="192.168.1.10")]


def test_get_netroute_csv():
    routes = parse_windows_netroute_csv("\ufeff" + NETROUTE_CSV)
    assert routes == [
        DefaultRoute(4, "192.168.178.1", interface="WLAN", interface_index=12),
        DefaultRoute(6, "fe80::3a10:d5ff:fe2c:4d01", interface="WLAN", interface_index=12),
        DefaultRoute(4, None, interface="Ethernet 2", interface_index=23),
    ]


def test_macos_netstat_finds_defaults_per_netif():
    routes = parse_netstat_rn(MACOS_NETSTAT)
    assert DefaultRoute(4, "192.168.178.1", interface="en0") in routes
    assert DefaultRoute(4, None, interface="bridge100") in routes
    assert DefaultRoute(6, "fe80::3a10:d5ff:fe2c:4d01", interface="en0") in routes
    assert not any(r.interface == "en7" for r in routes)  # the HAN adapter has none


def test_old_bsd_netstat_uses_the_netif_column():
    assert parse_netstat_rn(BSD_NETSTAT_OLD) == [DefaultRoute(4, "10.11.120.1", interface="en1")]


@given(st.text(max_size=400))
def test_parsers_never_raise_on_arbitrary_text(text):
    for parse in (parse_linux_route, parse_linux_ipv6_route, parse_windows_route_print,
                  parse_windows_netroute_csv, parse_netstat_rn):
        assert isinstance(parse(text), list)


def _iface(name: str, *cidrs: str, index: int | None = None,
           description: str = "") -> NetworkInterface:
    addresses = []
    for cidr in cidrs:
        iface = ipaddress.ip_interface(cidr)
        addresses.append(InterfaceAddress(iface.ip, iface.network.prefixlen))
    return NetworkInterface(name, description, index, tuple(addresses))


def test_routes_are_attached_by_name_address_or_index():
    wlan = _iface("WLAN", "192.168.178.23/24", index=12)
    han = _iface("Ethernet", "192.168.1.10/24", index=18)
    routes = parse_windows_route_print(WINDOWS_ROUTE_PRINT_EN)
    attached = {i.name: i for i in attach_routes([wlan, han], routes)}
    assert attached["WLAN"].has_default_route is True
    assert len(attached["WLAN"].default_routes) == 3
    assert attached["Ethernet"].has_default_route is False


def test_unknown_routes_are_not_reported_as_absent():
    han = _iface("eth0", "192.168.1.10/24")
    [unknown] = attach_routes([han], None)
    assert unknown.has_default_route is None
    assert unknown.to_dict()["default_route"] is None


def test_linux_sample_marks_only_the_wlan_adapter():
    wlan, han = _iface("wlp2s0", "192.168.178.23/24"), _iface("eth0", "192.168.1.10/24")
    attached = attach_routes([wlan, han], parse_linux_route(LINUX_ROUTE))
    assert [i.has_default_route for i in attached] == [True, False]


def test_find_interface_by_name_description_or_index_and_a_clear_error():
    ifaces = [_iface("eth0", "192.168.1.10/24", index=2, description="Realtek USB"),
              _iface("wlan0", "10.0.0.5/24", index=3)]
    assert find_interface(ifaces, "ETH0").name == "eth0"
    assert find_interface(ifaces, "realtek usb").name == "eth0"
    assert find_interface(ifaces, "3").name == "wlan0"
    with pytest.raises(InvalidValue) as err:
        find_interface(ifaces, "en5")
    assert err.value.field == "interface"
    assert "eth0, wlan0" in err.value.describe("en")
    assert "Netzwerkadapter" in err.value.describe("de")


def test_on_link_and_owned_addresses():
    han = _iface("eth0", "192.168.1.10/24")
    assert han.on_link("192.168.1.200")
    assert not han.on_link("192.168.33.2")
    assert han.owns("192.168.1.10") and not han.owns("192.168.1.11")


def test_read_default_routes_survives_missing_commands(monkeypatch):
    def missing(*_args, **_kwargs):
        raise FileNotFoundError("no such command")

    monkeypatch.setattr(netinfo, "_run", missing)
    assert netinfo.read_default_routes(platform="win32") is None
    assert netinfo.read_default_routes(platform="darwin") is None


def test_read_default_routes_on_windows_falls_back_to_get_netroute(monkeypatch):
    def fake(args, timeout):
        if args[0].upper().endswith("ROUTE.EXE"):
            raise OSError("route failed")
        assert args[0].lower().endswith("powershell.exe")  # never looked up by bare name
        return NETROUTE_CSV

    monkeypatch.setattr(netinfo, "_run", fake)
    routes, source = netinfo.read_default_routes(platform="win32")
    assert source == "Get-NetRoute" and len(routes) == 3


def test_read_network_on_this_machine_does_not_crash():
    snap = netinfo.read_network()
    assert isinstance(snap.interfaces, tuple)
    assert any(i.is_loopback for i in snap.interfaces) or snap.problems
