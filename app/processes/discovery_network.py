"""Where discovery looks and what the laptop's adapters tell (DOMAIN.md §6.1).

The known default HAN addresses of vendors and operators, the technician's candidate addresses,
the bounded subnet sweep of an adapter, and the warnings about the adapter set-up (WAN/HAN
separation, no address in a usual HAN subnet). Pure functions: nothing here touches the network.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from app.errors import InvalidValue, Text
from app.processes.discovery_results import DiscoveryWarning, GatewayCandidate
from app.transports import netinfo
from app.transports.netinfo import NetworkInterface


@dataclass(frozen=True)
class KnownAddress:
    """A HAN address seen in the field (DOMAIN.md §6.1): one host or a typical range."""

    address: str
    vendor: str | None
    note: Text

    @property
    def network(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network(self.address, strict=False)

    @property
    def is_range(self) -> bool:
        return self.network.num_addresses > 1


#: Default HAN addresses of vendors and operators. Single hosts are probed when on-link; ranges
#: only mark a usual HAN subnet (the subnet sweep covers them when the laptop is inside).
KNOWN_ADDRESSES: tuple[KnownAddress, ...] = (
    KnownAddress("192.168.1.200", "ppc",
                 Text("PPC factory default", "PPC-Werkseinstellung")),
    KnownAddress("192.168.100.100", None,
                 Text("seen at metering point operators", "bei Messstellenbetreibern gesehen")),
    KnownAddress("192.168.168.168", None,
                 Text("seen at metering point operators", "bei Messstellenbetreibern gesehen")),
    KnownAddress("192.168.33.2", "emh", Text("EMH default", "EMH-Voreinstellung")),
    KnownAddress("10.11.120.0/24", None,
                 Text("typical operator HAN range", "typischer HAN-Bereich von Betreibern")),
)

#: Private IPv4 networks a sweep may touch (RFC 1918); others are never swept.
PRIVATE_V4 = tuple(ipaddress.IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12",
                                                        "192.168.0.0/16"))
SWEEP_PREFIX = 24
STATIC_IP_EXAMPLE = "192.168.1.10/24"


def usual_han_networks() -> tuple[ipaddress.IPv4Network, ...]:
    """The /24 subnets of :data:`KNOWN_ADDRESSES` (where a HAN adapter usually has its address)."""
    nets = []
    for known in KNOWN_ADDRESSES:
        net = ipaddress.IPv4Network(f"{known.network.network_address}/{SWEEP_PREFIX}",
                                    strict=False)
        if net not in nets:
            nets.append(net)
    return tuple(nets)


def known_vendor(host: str) -> str | None:
    for known in KNOWN_ADDRESSES:
        if not known.is_range and known.address == host:
            return known.vendor
    return None


def sort_key(host: str) -> tuple[int, int, str]:
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return (9, 0, host)
    return (ip.version, int(ip), host)


def parse_candidates(values: Iterable[str]) -> list[str]:
    """IP addresses as typed (``192.168.1.200``, ``fe80::1%eth0``, ``[::1]``), normalised."""
    out: list[str] = []
    for raw in values:
        text = raw.strip().strip("[]")
        if not text:
            continue
        addr, _, zone = text.partition("%")
        try:
            ip = ipaddress.ip_address(addr)
        except ValueError:
            raise InvalidValue(
                Text(f"'{raw.strip()}' is not an IP address.",
                     f"'{raw.strip()}' ist keine IP-Adresse."),
                field="candidates",
                hint=Text("Give addresses like 192.168.1.200 or fe80::1%eth0, separated by "
                          "commas.",
                          "Geben Sie Adressen wie 192.168.1.200 oder fe80::1%eth0 an, durch "
                          "Kommas getrennt."),
            ) from None
        host = f"{ip}%{zone}" if zone and ip.version == 6 else str(ip)
        if host not in out:
            out.append(host)
    return out


def sweep_plan(
    iface: NetworkInterface, *, max_hosts: int = 254, allow_loopback: bool = False,
) -> tuple[list[str], list[DiscoveryWarning]]:
    """Hosts to sweep on ``iface``: its private IPv4 subnets, each at most a /24 around the own
    address, never the adapter's own addresses; with notes on what was narrowed or skipped."""
    hosts: list[str] = []
    notes: list[DiscoveryWarning] = []
    for addr in iface.ipv4:
        ip = addr.ip
        if ip.is_loopback:
            if not allow_loopback:
                continue
        elif ip.is_link_local:
            continue  # self-assigned: the no-HAN-subnet warning tells what to do
        elif not any(ip in net for net in PRIVATE_V4):
            notes.append(DiscoveryWarning("subnet_skipped", Text(
                f"{addr.network} on {iface.name} is not a private network and is not swept.",
                f"{addr.network} an {iface.name} ist kein privates Netz und wird nicht "
                "durchsucht."), iface.name))
            continue
        net = addr.network
        if net.prefixlen < SWEEP_PREFIX:
            net = ipaddress.ip_network(f"{ip}/{SWEEP_PREFIX}", strict=False)
        if net != addr.network and not ip.is_loopback:
            notes.append(DiscoveryWarning("subnet_narrowed", Text(
                f"{addr.network} on {iface.name} is larger than /{SWEEP_PREFIX}; only {net} "
                "was swept.",
                f"{addr.network} an {iface.name} ist größer als /{SWEEP_PREFIX}; nur {net} "
                "wurde durchsucht."), iface.name))
        for host in net.hosts():
            text = str(host)
            if host != ip and not iface.owns(host) and text not in hosts:
                hosts.append(text)
    if len(hosts) > max_hosts:
        notes.append(DiscoveryWarning("subnet_capped", Text(
            f"Only the first {max_hosts} of {len(hosts)} addresses on {iface.name} were swept.",
            f"Nur die ersten {max_hosts} von {len(hosts)} Adressen an {iface.name} wurden "
            "durchsucht."), iface.name))
        hosts = hosts[:max_hosts]
    return hosts, notes


def on_link_interface(host: str, interfaces: Sequence[NetworkInterface]) -> str | None:
    addr_text, _, zone = host.partition("%")
    try:
        ip = ipaddress.ip_address(addr_text)
    except ValueError:
        return None
    if zone:
        for iface in interfaces:
            if zone in (iface.name, str(iface.index)):
                return iface.name
    for prefer_real in (True, False):
        for iface in interfaces:
            if prefer_real and iface.is_loopback:
                continue
            if iface.on_link(ip):
                return iface.name
    return None


def mdns_interfaces(iface: NetworkInterface) -> list[str | int]:
    out: list[str | int] = [str(a.ip) for a in iface.ipv4]
    if iface.ipv6 and iface.index is not None and not iface.is_loopback:
        out.append(iface.index)
    return out


def _has_usual_han_address(interfaces: Iterable[NetworkInterface]) -> bool:
    nets = usual_han_networks()
    return any(a.ip in net for iface in interfaces for a in iface.ipv4 for net in nets)


def wan_han_warning(iface: NetworkInterface) -> DiscoveryWarning:
    """The WAN/HAN separation warning for an adapter that carries a default route."""
    gws = ", ".join(r.gateway for r in iface.default_routes if r.gateway)
    via = Text(f" (default gateway {gws})", f" (Standard-Gateway {gws})") if gws else Text("", "")
    base = netinfo.WAN_HAN_WARNING
    return DiscoveryWarning("default_route", Text(
        f"{iface.name}{via.en}: {base.en}", f"{iface.name}{via.de}: {base.de}"), iface.name)


def route_warnings(chosen: NetworkInterface | None, gateways: Sequence[GatewayCandidate],
                    interfaces: Sequence[NetworkInterface]) -> list[DiscoveryWarning]:
    out: list[DiscoveryWarning] = []
    relevant: list[NetworkInterface] = []
    if chosen is not None and not chosen.is_loopback:
        relevant.append(chosen)
    by_name = {i.name: i for i in interfaces}
    for gateway in gateways:
        iface = by_name.get(gateway.interface or "")
        if iface is not None and not iface.is_loopback and iface not in relevant:
            relevant.append(iface)
    for iface in relevant:
        if iface.has_default_route:
            out.append(wan_han_warning(iface))
        elif iface.has_default_route is None:
            out.append(DiscoveryWarning("routes_unknown", Text(
                f"It is unknown whether {iface.name} also reaches the internet (the routing "
                "table could not be read). Make sure it has no default gateway.",
                f"Ob {iface.name} auch das Internet erreicht, ist unbekannt (Routing-Tabelle "
                "nicht lesbar). Stellen Sie sicher, dass kein Standard-Gateway gesetzt ist."),
                iface.name))
    return out


def address_warnings(chosen: NetworkInterface | None,
                      scan_ifaces: Sequence[NetworkInterface]) -> list[DiscoveryWarning]:
    if chosen is not None and chosen.is_loopback:
        return []
    looked_at = [chosen] if chosen is not None else list(scan_ifaces)
    if _has_usual_han_address(looked_at):
        return []
    where = chosen.name if chosen is not None else None
    nets = ", ".join(str(n) for n in usual_han_networks())
    configured = [a for i in looked_at for a in i.ipv4 if not a.ip.is_link_local]
    lead = (Text(f"{where} has no IPv4 address.", f"{where} hat keine IPv4-Adresse.")
            if chosen is not None and not configured else
            Text("No adapter has an address in a usual HAN subnet.",
                 "Kein Adapter hat eine Adresse in einem üblichen HAN-Subnetz."))
    return [DiscoveryWarning("no_han_subnet", Text(
        f"{lead.en} Set a static address in the gateway's HAN subnet on the adapter at the HAN "
        f"port, e.g. {STATIC_IP_EXAMPLE} without a default gateway (usual subnets: {nets}).",
        f"{lead.de} Stellen Sie am Adapter des HAN-Anschlusses eine feste Adresse im HAN-Subnetz "
        f"des Gateways ein, z. B. {STATIC_IP_EXAMPLE} ohne Standard-Gateway (übliche Subnetze: "
        f"{nets})."), where)]




__all__ = [
    "KNOWN_ADDRESSES", "PRIVATE_V4", "STATIC_IP_EXAMPLE", "SWEEP_PREFIX", "KnownAddress",
    "parse_candidates", "sweep_plan", "usual_han_networks", "wan_han_warning",
]
