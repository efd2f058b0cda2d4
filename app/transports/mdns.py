"""mDNS look-ups on the HAN link (Multicast DNS, RFC 6762; TR-03109-1 lists it as optional).

EMH CASA answers ``smgw.local`` on an IPv6 link-local address, Theben may answer ``smgw.local``
or ``<SMGW-ID>.local``; some gateways advertise an ``_https._tcp`` service (DOMAIN.md §6.2). This
module asks for those names and services with zeroconf's asyncio API. Every look-up is bounded by
its timeout; without a network (or when the mDNS port cannot be opened) it returns an empty
result with a note instead of raising, so discovery goes on with its other sources.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from app.errors import Text

if TYPE_CHECKING:
    from zeroconf import Zeroconf
    from zeroconf.asyncio import AsyncZeroconf

SMGW_HOST = "smgw.local."
HTTPS_SERVICE = "_https._tcp.local."
#: part of the time budget spent listening for service announcements before resolving them
BROWSE_SHARE = 0.6

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MdnsAnswer:
    """A resolved host name or service instance.

    IPv6 link-local addresses carry their zone (``fe80::1%4``) so that a connection leaves
    through the adapter that heard the answer.
    """

    name: str
    addresses: tuple[str, ...]
    #: for services: the advertised port, target host and TXT properties
    port: int | None = None
    server: str | None = None
    service_type: str | None = None
    properties: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class MdnsResult:
    """What the look-up found within its time budget."""

    hosts: tuple[MdnsAnswer, ...] = ()
    services: tuple[MdnsAnswer, ...] = ()
    #: set when mDNS could not be used at all (no network, port 5353 taken, ...)
    problem: Text | None = None
    elapsed: float = 0.0

    @property
    def empty(self) -> bool:
        return not self.hosts and not self.services


def host_names(smgw_ids: Iterable[str] = ()) -> list[str]:
    """``smgw.local.`` and ``<smgw-id>.local.`` for each known SMGW ID (mDNS is case-blind)."""
    names = [SMGW_HOST]
    for smgw_id in smgw_ids:
        name = f"{smgw_id.strip().lower()}.local."
        if smgw_id.strip() and name not in names:
            names.append(name)
    return names


def _decode_properties(raw: dict[bytes, bytes | None] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in (raw or {}).items():
        k = key.decode("utf-8", "replace") if isinstance(key, bytes) else str(key)
        v = value.decode("utf-8", "replace") if isinstance(value, bytes) else (value or "")
        out[k[:64]] = str(v)[:256]
    return out


async def lookup(
    names: Sequence[str] = (SMGW_HOST,),
    service_types: Sequence[str] = (HTTPS_SERVICE,),
    *,
    interfaces: Sequence[str | int] | None = None,
    ipv6: bool = True,
    timeout: float = 2.0,
) -> MdnsResult:
    """Resolve ``names`` (A/AAAA) and browse ``service_types`` at once, within ``timeout``.

    ``interfaces`` restricts mDNS to these adapters: IPv4 addresses as text and IPv6 adapter
    indexes (zeroconf's convention); ``None`` uses every adapter. Never raises for network
    trouble and never takes much longer than ``timeout``.
    """
    start = time.monotonic()
    try:
        from zeroconf import InterfaceChoice, IPVersion
        from zeroconf.asyncio import AsyncZeroconf
    except ImportError:  # pragma: no cover - zeroconf is a dependency
        return MdnsResult(problem=Text("mDNS support is not installed.",
                                       "mDNS-Unterstützung ist nicht installiert."))
    if interfaces is not None and not interfaces:
        return MdnsResult(elapsed=time.monotonic() - start)
    versions = [IPVersion.All, IPVersion.V4Only] if ipv6 else [IPVersion.V4Only]
    if interfaces is not None:
        has_v6 = any(isinstance(i, int) or ":" in str(i) for i in interfaces)
        has_v4 = any(isinstance(i, str) and ":" not in i for i in interfaces)
        if not has_v6:
            versions = [IPVersion.V4Only]
        elif not has_v4:
            versions = [IPVersion.V6Only]
    choice = list(interfaces) if interfaces is not None else InterfaceChoice.All
    aiozc: AsyncZeroconf | None = None
    failure: Exception = OSError("no IP version to use")
    for version in versions:  # without IPv6 on the machine, fall back to IPv4 alone
        try:
            aiozc = AsyncZeroconf(interfaces=choice, ip_version=version)
            break
        except Exception as exc:  # noqa: BLE001 - any socket/OS failure means "no mDNS here"
            _log.info("mDNS unavailable (%s): %s", version, exc)
            failure = exc
    if aiozc is None:
        return MdnsResult(problem=_unavailable(failure), elapsed=time.monotonic() - start)
    hosts: list[MdnsAnswer] = []
    services: list[MdnsAnswer] = []
    try:
        async with asyncio.timeout(timeout + 0.2):
            await asyncio.gather(
                _resolve_hosts(aiozc, names, timeout, hosts),
                _browse(aiozc, service_types, timeout, services),
            )
    except TimeoutError:
        pass  # keep what arrived in time
    except Exception as exc:  # noqa: BLE001 - a failing network stack must not stop discovery
        _log.info("mDNS look-up failed: %s", exc)
        return MdnsResult(tuple(hosts), tuple(services), _unavailable(exc),
                          time.monotonic() - start)
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(aiozc.async_close(), 1.0)
    return MdnsResult(tuple(hosts), tuple(services), None, time.monotonic() - start)


def _unavailable(exc: BaseException) -> Text:
    return Text(f"mDNS could not be used ({exc}).", f"mDNS ist nicht nutzbar ({exc}).")


async def _resolve_hosts(aiozc: AsyncZeroconf, names: Sequence[str], timeout: float,
                         out: list[MdnsAnswer]) -> None:
    from zeroconf import AddressResolver

    async def one(name: str) -> None:
        resolver = AddressResolver(name if name.endswith(".") else name + ".")
        if await resolver.async_request(aiozc.zeroconf, timeout * 900):
            addresses = tuple(dict.fromkeys(resolver.parsed_scoped_addresses()))
            if addresses:
                out.append(MdnsAnswer(name=name, addresses=addresses))

    await asyncio.gather(*(one(n) for n in names))


async def _browse(aiozc: AsyncZeroconf, service_types: Sequence[str], timeout: float,
                  out: list[MdnsAnswer]) -> None:
    if not service_types:
        return
    from zeroconf import ServiceStateChange
    from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo

    seen: dict[str, str] = {}

    def on_change(zeroconf: Zeroconf, service_type: str, name: str,
                  state_change: ServiceStateChange) -> None:
        if state_change is not ServiceStateChange.Removed:
            seen.setdefault(name, service_type)

    browser = AsyncServiceBrowser(aiozc.zeroconf, list(service_types), handlers=[on_change])
    try:
        await asyncio.sleep(timeout * BROWSE_SHARE)
    finally:
        with contextlib.suppress(Exception):
            await browser.async_cancel()
    remaining_ms = max(100.0, timeout * (1 - BROWSE_SHARE) * 1000 - 50)

    async def resolve(name: str, service_type: str) -> None:
        info = AsyncServiceInfo(service_type, name)
        if not await info.async_request(aiozc.zeroconf, remaining_ms):
            return
        out.append(MdnsAnswer(
            name=name,
            addresses=tuple(dict.fromkeys(info.parsed_scoped_addresses())),
            port=info.port,
            server=info.server,
            service_type=service_type,
            properties=_decode_properties(info.properties),
        ))

    await asyncio.gather(*(resolve(n, t) for n, t in list(seen.items())[:32]))
