"""The laptop's network adapters, their addresses and default routes (Netzwerkadapter).

Discovery needs to know which adapter faces the gateway's HAN port, which subnets it can sweep and
whether that adapter also reaches the internet. A HAN/WAN bridge makes a gateway enter *Secure
State Connectivity* (Theben) or stop sending data (EMH), so the tool warns when the chosen adapter
carries a default route (DOMAIN.md §6.1).

Sources, each optional (a missing one never crashes, it is reported in
:attr:`NetworkSnapshot.problems`):

* adapters and addresses: ``ifaddr`` (Linux, macOS, Windows; installed with ``zeroconf``);
* default routes: ``/proc/net/route`` and ``/proc/net/ipv6_route`` (Linux), ``route print`` and,
  as a fallback, ``Get-NetRoute`` (Windows), ``netstat -rn`` (macOS and the BSDs).

The parsers are pure functions over captured text so that every platform's format is tested on
every platform.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import ipaddress
import os
import re
import socket
import struct
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from app.errors import InvalidValue, Text

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Linux route flags (``linux/route.h``).
RTF_UP = 0x0001
RTF_REJECT = 0x0200

ROUTE_COMMAND_TIMEOUT = 4.0

WAN_HAN_WARNING = Text(
    "This network adapter also reaches the internet; a gateway may enter Secure State "
    "Connectivity. Disconnect WLAN and other routes, or remove the default gateway from this "
    "adapter.",
    "Dieser Netzwerkadapter erreicht auch das Internet; ein Gateway kann dadurch in den Secure "
    "State Connectivity wechseln. Trennen Sie WLAN und andere Verbindungen oder entfernen Sie das "
    "Standard-Gateway von diesem Adapter.",
)


@dataclass(frozen=True)
class InterfaceAddress:
    """One address of an adapter with its prefix length (``192.168.1.10/24``)."""

    ip: IPAddress
    prefix: int
    #: IPv6 zone (interface index) for link-local addresses
    scope_id: int | None = None

    @property
    def version(self) -> int:
        return self.ip.version

    @property
    def network(self) -> IPNetwork:
        return ipaddress.ip_network(f"{self.ip}/{self.prefix}", strict=False)

    @property
    def is_link_local(self) -> bool:
        return self.ip.is_link_local

    def __str__(self) -> str:
        zone = f"%{self.scope_id}" if self.scope_id and self.ip.is_link_local else ""
        return f"{self.ip}{zone}/{self.prefix}"


@dataclass(frozen=True)
class DefaultRoute:
    """A default route (``0.0.0.0/0`` or ``::/0``) and the adapter it leaves through.

    Sources name the adapter differently: Linux and macOS by name, ``Get-NetRoute`` by alias and
    index, ``route print`` by the adapter's IPv4 address (IPv4) or index (IPv6).
    """

    version: int
    gateway: str | None
    interface: str | None = None
    interface_index: int | None = None
    interface_address: str | None = None


@dataclass(frozen=True)
class NetworkInterface:
    """A network adapter as the technician knows it (``eth0``, ``en5``, ``Ethernet 2``)."""

    name: str
    description: str = ""
    index: int | None = None
    addresses: tuple[InterfaceAddress, ...] = ()
    #: the operating system's own identifier where it differs from ``name`` (Windows GUID)
    system_name: str | None = None
    default_routes: tuple[DefaultRoute, ...] = ()
    #: ``False`` when the routing table could not be read (then nothing is known about routes)
    routes_known: bool = True
    #: link state where the platform tells it cheaply (Linux), else ``None``
    up: bool | None = None

    @property
    def is_loopback(self) -> bool:
        return bool(self.addresses) and all(a.ip.is_loopback for a in self.addresses)

    @property
    def has_default_route(self) -> bool | None:
        """``True``/``False``, or ``None`` when the routing table could not be read."""
        if self.default_routes:
            return True
        return False if self.routes_known else None

    @property
    def ipv4(self) -> tuple[InterfaceAddress, ...]:
        return tuple(a for a in self.addresses if a.version == 4)

    @property
    def ipv6(self) -> tuple[InterfaceAddress, ...]:
        return tuple(a for a in self.addresses if a.version == 6)

    def owns(self, ip: IPAddress | str) -> bool:
        """Whether ``ip`` is one of this adapter's own addresses."""
        addr = _ip(ip)
        return any(a.ip == addr for a in self.addresses)

    def on_link(self, ip: IPAddress | str) -> bool:
        """Whether ``ip`` lies in one of this adapter's subnets (reachable without a router)."""
        addr = _ip(ip)
        return any(a.version == addr.version and addr in a.network for a in self.addresses)

    def matches(self, text: str) -> bool:
        """Whether the technician's ``text`` names this adapter (name, description, index)."""
        wanted = text.strip().casefold()
        names = [self.name, self.description, self.system_name or ""]
        if any(wanted == n.casefold() for n in names if n):
            return True
        return self.index is not None and wanted == str(self.index)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "index": self.index,
            "addresses": [str(a) for a in self.addresses],
            "loopback": self.is_loopback,
            "up": self.up,
            "default_route": self.has_default_route,
            "default_gateways": [r.gateway for r in self.default_routes if r.gateway],
        }


@dataclass(frozen=True)
class NetworkSnapshot:
    """The adapters at one moment and what could not be read."""

    interfaces: tuple[NetworkInterface, ...]
    #: where the default routes came from (``/proc/net/route``, ``route print``, ...) or ``None``
    routes_source: str | None = None
    problems: tuple[Text, ...] = field(default_factory=tuple)

    def find(self, text: str) -> NetworkInterface:
        """The adapter the technician named; :class:`InvalidValue` listing the choices if none."""
        return find_interface(self.interfaces, text)


def _ip(value: IPAddress | str) -> IPAddress:
    if isinstance(value, str):
        return ipaddress.ip_address(value.split("%", 1)[0])
    return value


def find_interface(interfaces: Sequence[NetworkInterface], text: str) -> NetworkInterface:
    """The adapter named ``text`` (name, description or index, case-insensitive)."""
    for iface in interfaces:
        if iface.matches(text):
            return iface
    names = ", ".join(i.name for i in interfaces) or "-"
    raise InvalidValue(
        Text(
            f"There is no network adapter '{text}'. Adapters of this computer: {names}.",
            f"Es gibt keinen Netzwerkadapter '{text}'. Adapter dieses Rechners: {names}.",
        ),
        field="interface",
        hint=Text(
            "Give one of the listed names; plug in the cable first if the adapter is missing.",
            "Geben Sie einen der genannten Namen an; stecken Sie zuerst das Kabel ein, wenn der "
            "Adapter fehlt.",
        ),
    )


# ---------------------------------------------------------------------------------------------
# Route table parsers (pure)


def _hex_ipv6(text: str) -> ipaddress.IPv6Address:
    return ipaddress.IPv6Address(bytes.fromhex(text))


def parse_linux_route(text: str) -> list[DefaultRoute]:
    """Default routes of ``/proc/net/route`` (IPv4; addresses in host byte order, hex)."""
    routes = []
    for line in text.splitlines()[1:]:
        cols = line.split()
        if len(cols) < 8:
            continue
        try:
            dest, gateway, flags, mask = (int(cols[i], 16) for i in (1, 2, 3, 7))
        except ValueError:
            continue
        if dest or mask or not flags & RTF_UP or flags & RTF_REJECT:
            continue
        gw = socket.inet_ntoa(struct.pack("<L", gateway)) if gateway else None
        routes.append(DefaultRoute(4, gw, interface=cols[0]))
    return routes


def parse_linux_ipv6_route(text: str) -> list[DefaultRoute]:
    """Default routes of ``/proc/net/ipv6_route`` (kernel reject routes are skipped)."""
    routes = []
    for line in text.splitlines():
        cols = line.split()
        if len(cols) != 10:
            continue
        try:
            dest, prefix, nexthop, flags = (
                _hex_ipv6(cols[0]), int(cols[1], 16), _hex_ipv6(cols[4]), int(cols[8], 16),
            )
        except ValueError:
            continue
        if int(dest) or prefix or not flags & RTF_UP or flags & RTF_REJECT:
            continue
        gw = str(nexthop) if int(nexthop) else None
        routes.append(DefaultRoute(6, gw, interface=cols[9]))
    return routes


_WIN_IPV4_DEFAULT = re.compile(
    r"^\s*0\.0\.0\.0\s+0\.0\.0\.0\s+(?P<gw>\S+(?:\s+\S+)*?)\s+"
    r"(?P<iface>\d{1,3}(?:\.\d{1,3}){3})\s+(?P<metric>\d+)\s*$"
)
_WIN_IPV6_ROUTE = re.compile(
    r"^\s*(?P<index>\d+)\s+(?P<metric>\d+)\s+(?P<dest>[0-9a-fA-F:.]+/\d+)(?:\s+(?P<gw>.+?))?\s*$"
)
_WIN_CONTINUATION = re.compile(r"^\s{8,}(?P<gw>\S+(?:\s\S+)?)\s*$")
#: "Persistent Routes:", "Ständige Routen:", "Itinéraires persistants :" (any code page)
_WIN_PERSISTENT = re.compile(r"persist|ndige routen", re.IGNORECASE)


def _gateway_or_none(text: str | None) -> str | None:
    """An IP address, or ``None`` for ``On-link``/``Auf Verbindung`` and other words."""
    if not text:
        return None
    candidate = text.strip().split("%", 1)[0]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return None


def parse_windows_route_print(text: str) -> list[DefaultRoute]:
    """Default routes of Windows ``route print`` (any display language).

    IPv4 lines name the adapter by its address, IPv6 lines by its index. Persistent routes (a
    separate list that need not be active) are skipped up to the next route table; IPv6 lines
    that Windows wraps (the gateway on a second, indented line) are joined.
    """
    routes: list[DefaultRoute] = []
    skipping = False
    wrapped_index: int | None = None  # index of a wrapped ::/0 line waiting for its gateway
    for line in text.splitlines():
        if wrapped_index is not None:
            cont = _WIN_CONTINUATION.match(line)
            if cont:
                routes.append(DefaultRoute(6, _gateway_or_none(cont["gw"]),
                                           interface_index=wrapped_index))
                wrapped_index = None
                continue
            wrapped_index = None
        stripped = line.strip()
        if stripped.endswith(":") and _WIN_PERSISTENT.search(stripped):
            skipping = True
            continue
        if stripped.startswith("IPv"):  # "IPv6 Route Table", "IPv6-Routentabelle"
            skipping = False
            continue
        if skipping:
            continue
        v4 = _WIN_IPV4_DEFAULT.match(line)
        if v4:
            routes.append(DefaultRoute(4, _gateway_or_none(v4["gw"]),
                                       interface_address=v4["iface"]))
            continue
        v6 = _WIN_IPV6_ROUTE.match(line)
        if v6 and v6["dest"] == "::/0":
            if v6["gw"] is None:
                wrapped_index = int(v6["index"])
            else:
                routes.append(DefaultRoute(6, _gateway_or_none(v6["gw"]),
                                           interface_index=int(v6["index"])))
    return routes


def parse_windows_netroute_csv(text: str) -> list[DefaultRoute]:
    """Default routes from ``Get-NetRoute ... | ConvertTo-Csv`` (columns ``ifIndex``,
    ``InterfaceAlias``, ``NextHop``, ``DestinationPrefix``)."""
    routes = []
    start = text.find('"')
    reader = csv.DictReader(io.StringIO(text[start:] if start >= 0 else ""))
    for row in reader:
        prefix = (row.get("DestinationPrefix") or "").strip()
        if prefix not in ("0.0.0.0/0", "::/0"):
            continue
        hop = _gateway_or_none(row.get("NextHop"))
        if hop is not None and not int(ipaddress.ip_address(hop)):
            hop = None  # 0.0.0.0 / :: : on-link
        try:
            index = int(row.get("ifIndex") or "")
        except ValueError:
            index = None
        routes.append(DefaultRoute(
            6 if prefix == "::/0" else 4, hop,
            interface=(row.get("InterfaceAlias") or "").strip() or None, interface_index=index,
        ))
    return routes


_BSD_DEFAULT = frozenset({"default", "0.0.0.0/0", "::/0"})


def parse_netstat_rn(text: str) -> list[DefaultRoute]:
    """Default routes of ``netstat -rn`` on macOS and the BSDs (``Internet``/``Internet6``)."""
    routes = []
    version = 4
    netif_col: int | None = None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("Internet6"):
            version, netif_col = 6, None
            continue
        if stripped.startswith("Internet"):
            version, netif_col = 4, None
            continue
        cols = stripped.split()
        if not cols:
            continue
        if cols[0] == "Destination":
            netif_col = cols.index("Netif") if "Netif" in cols else None
            continue
        if cols[0] not in _BSD_DEFAULT:
            continue
        if netif_col is None or len(cols) <= netif_col:
            continue
        flags = cols[2] if len(cols) > 2 else ""
        if "R" in flags and "U" not in flags:
            continue  # reject route that is not up
        gw = _gateway_or_none(cols[1])
        routes.append(DefaultRoute(version, gw, interface=cols[netif_col]))
    return routes


# ---------------------------------------------------------------------------------------------
# Reading the live system


def _run(args: Sequence[str], timeout: float) -> str:
    flags = getattr(subprocess, "CREATE_NO_WINDOW", 0)
    done = subprocess.run(
        list(args), capture_output=True, timeout=timeout, check=False, creationflags=flags,
        stdin=subprocess.DEVNULL,
    )
    if done.returncode != 0:
        raise OSError(f"{args[0]} exited with {done.returncode}")
    return done.stdout.decode("utf-8", errors="replace")


def _windows_tool(*parts: str) -> str:
    """Full path of a Windows system program (never found through the current folder)."""
    root = os.environ.get("SYSTEMROOT", r"C:\Windows")
    return os.path.join(root, "System32", *parts)


def _powershell() -> str:
    return _windows_tool("WindowsPowerShell", "v1.0", "powershell.exe")


_NETROUTE_PS = (
    "[Console]::OutputEncoding = [Text.Encoding]::UTF8; "
    "Get-NetRoute -PolicyStore ActiveStore -DestinationPrefix '0.0.0.0/0','::/0' "
    "-ErrorAction SilentlyContinue | Select-Object ifIndex,InterfaceAlias,NextHop,"
    "DestinationPrefix | ConvertTo-Csv -NoTypeInformation"
)


def read_default_routes(
    timeout: float = ROUTE_COMMAND_TIMEOUT, platform: str | None = None
) -> tuple[list[DefaultRoute], str] | None:
    """The default routes of this computer and their source, or ``None`` if none could be read.

    Blocking (file reads, a short command on Windows and macOS): call it from a thread.
    """
    plat = platform or sys.platform
    if plat.startswith("linux"):
        try:
            routes = parse_linux_route(Path("/proc/net/route").read_text())
        except OSError:
            return None
        with contextlib.suppress(OSError):  # IPv6 switched off
            routes += parse_linux_ipv6_route(Path("/proc/net/ipv6_route").read_text())
        return routes, "/proc/net/route"
    if plat.startswith("win"):
        try:
            out = _run([_windows_tool("ROUTE.EXE"), "print"], timeout)
            return parse_windows_route_print(out), "route print"
        except (OSError, subprocess.SubprocessError):
            pass
        try:
            out = _run([_powershell(), "-NoProfile", "-NonInteractive", "-Command", _NETROUTE_PS],
                       timeout)
            return parse_windows_netroute_csv(out), "Get-NetRoute"
        except (OSError, subprocess.SubprocessError):
            return None
    for command in (["netstat", "-rn"], ["/usr/sbin/netstat", "-rn"]):
        try:
            return parse_netstat_rn(_run(command, timeout)), "netstat -rn"
        except (OSError, subprocess.SubprocessError):
            continue
    return None


def _link_up(name: str) -> bool | None:
    try:
        state = Path("/sys/class/net", name, "operstate").read_text().strip()
    except (OSError, ValueError):
        return None
    return {"up": True, "down": False, "lowerlayerdown": False}.get(state)


def _from_ifaddr() -> list[NetworkInterface]:
    import ifaddr  # installed with zeroconf

    out = []
    for adapter in ifaddr.get_adapters():
        addresses: list[InterfaceAddress] = []
        alias = None
        for ip in adapter.ips:
            alias = alias or ip.nice_name
            try:
                if isinstance(ip.ip, tuple):
                    address, _flow, scope = ip.ip
                    addresses.append(InterfaceAddress(
                        ipaddress.IPv6Address(address.split("%", 1)[0]), int(ip.network_prefix),
                        scope or None))
                else:
                    addresses.append(
                        InterfaceAddress(ipaddress.IPv4Address(ip.ip), int(ip.network_prefix)))
            except (ValueError, TypeError):
                continue
        if sys.platform.startswith("win"):
            # Windows: the GUID is the system name, the friendly name ("Ethernet") what users see
            name, system_name = alias or adapter.nice_name, adapter.name
        else:
            name, system_name = adapter.name, None
        description = adapter.nice_name if adapter.nice_name != name else ""
        out.append(NetworkInterface(
            name=name, description=description, index=adapter.index,
            addresses=tuple(addresses), system_name=system_name,
            up=_link_up(adapter.name) if sys.platform.startswith("linux") else None,
        ))
    return out


def _from_socket() -> list[NetworkInterface]:
    """Names only (no addresses): the last resort when ``ifaddr`` is unavailable."""
    try:
        pairs = socket.if_nameindex()
    except (OSError, AttributeError):
        return []
    return [NetworkInterface(name=name, index=index) for index, name in pairs]


def attach_routes(
    interfaces: Iterable[NetworkInterface], routes: Sequence[DefaultRoute] | None
) -> list[NetworkInterface]:
    """Give each adapter its default routes; ``routes=None`` marks the routes as unknown."""
    out = []
    for iface in interfaces:
        if routes is None:
            out.append(replace(iface, default_routes=(), routes_known=False))
            continue
        mine = tuple(r for r in routes if _route_belongs(r, iface))
        out.append(replace(iface, default_routes=mine, routes_known=True))
    return out


def _route_belongs(route: DefaultRoute, iface: NetworkInterface) -> bool:
    if route.interface and (iface.matches(route.interface)):
        return True
    if route.interface_index is not None and route.interface_index == iface.index:
        return True
    return bool(route.interface_address) and iface.owns(route.interface_address or "")


def read_network(*, timeout: float = ROUTE_COMMAND_TIMEOUT) -> NetworkSnapshot:
    """Adapters, addresses and default routes of this computer (blocking; use a thread)."""
    problems: list[Text] = []
    try:
        interfaces = _from_ifaddr()
    except Exception as exc:  # noqa: BLE001 - any platform failure degrades to names only
        problems.append(Text(
            f"The network adapters' addresses could not be read ({exc}).",
            f"Die Adressen der Netzwerkadapter konnten nicht gelesen werden ({exc}).",
        ))
        interfaces = _from_socket()
    try:
        found = read_default_routes(timeout)
    except Exception:  # noqa: BLE001 - an unreadable routing table is reported, not fatal
        found = None
    if found is None:
        problems.append(Text(
            "The routing table could not be read, so it is unknown whether an adapter reaches "
            "the internet.",
            "Die Routing-Tabelle konnte nicht gelesen werden; ob ein Adapter das Internet "
            "erreicht, ist daher unbekannt.",
        ))
        return NetworkSnapshot(tuple(attach_routes(interfaces, None)), None, tuple(problems))
    routes, source = found
    return NetworkSnapshot(tuple(attach_routes(interfaces, routes)), source, tuple(problems))


async def snapshot(*, timeout: float = ROUTE_COMMAND_TIMEOUT) -> NetworkSnapshot:
    """:func:`read_network` in a worker thread, bounded by ``timeout`` (plus a small margin)."""
    try:
        return await asyncio.wait_for(
            asyncio.to_thread(read_network, timeout=timeout), timeout + 1.0)
    except TimeoutError:
        return NetworkSnapshot((), None, (Text(
            "Reading the network adapters took too long.",
            "Das Lesen der Netzwerkadapter hat zu lange gedauert.",
        ),))
