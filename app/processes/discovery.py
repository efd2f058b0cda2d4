"""Device discovery on the laptop's HAN link (Geräteerkennung, DOMAIN.md §6.1-6.2).

:func:`discover` looks for gateways in a fixed order of sources (the project's definition, see
``docs/discovery.md``):

1. addresses the technician gave (``candidates``),
2. mDNS: ``smgw.local``, ``<SMGW-ID>.local`` and advertised ``_https._tcp`` services,
3. the known default HAN addresses of vendors and operators (:data:`KNOWN_ADDRESSES`), only
   where the chosen adapter has an address in that subnet,
4. a bounded TCP connect sweep of the adapter's own IPv4 subnet (at most a /24, private
   networks only).

All sources run at once under one concurrency bound and one deadline; the order decides which
source an endpoint is credited to and the order of the result. Every open port then gets a
first-contact TLS handshake (nothing sent, certificate fetched), and, when the certificate can
serve as its own trust anchor, a few unauthenticated ``GET`` requests whose status, headers and
Digest realm feed the :class:`Identifier` list. Probes reach only the given candidates, mDNS
answers, on-link default addresses and the chosen adapter's subnet.

Meters are not listed here: that needs credentials and goes through the HAN adapter;
:attr:`GatewayCandidate.meters` is the place where a later step stores them.

This module runs the probes and the search; the identification rules live in
:mod:`app.processes.discovery_identify`, the address planning and adapter warnings in
:mod:`app.processes.discovery_network`, the result types in :mod:`app.processes.discovery_results`.
Their public names are re-exported here.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import ssl
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from functools import partial

from app.errors import InvalidValue, Text
from app.processes.discovery_identify import (
    BUILTIN_IDENTIFIERS,
    CONTROL_PATH,
    MAX_BODY,
    VENDOR_FLAGS,
    VENDOR_WORDS,
    CertificateFacts,
    Clue,
    Evidence,
    HttpAnswer,
    Identifier,
    combine,
    find_smgw_id,
    http_evidence,
)
from app.processes.discovery_network import (
    KNOWN_ADDRESSES,
    PRIVATE_V4,
    STATIC_IP_EXAMPLE,
    SWEEP_PREFIX,
    KnownAddress,
    address_warnings,
    known_vendor,
    mdns_interfaces,
    on_link_interface,
    parse_candidates,
    route_warnings,
    sort_key,
    sweep_plan,
    usual_han_networks,
    wan_han_warning,
)
from app.processes.discovery_results import (
    DiscoveryProgress,
    DiscoveryReport,
    DiscoveryWarning,
    GatewayCandidate,
    OpenPort,
    ProbeError,
)
from app.security import tls
from app.transports import mdns, netinfo
from app.transports.netinfo import NetworkSnapshot

_log = logging.getLogger(__name__)

#: Sources in the project's discovery order; an endpoint found twice keeps the earlier one.
SOURCES = ("candidate", "mdns", "known", "subnet")

#: First-contact handshake order of HAN key-exchange groups (CONEXA offers only secp384r1).
PROBE_GROUPS = ("brainpoolP256r1", "secp384r1", "prime256v1", "brainpoolP384r1",
                "brainpoolP512r1")

_registry: list[Identifier] = list(BUILTIN_IDENTIFIERS)


def register_identifier(identifier: Identifier) -> None:
    """Add ``identifier`` (or replace the one with the same name)."""
    for i, existing in enumerate(_registry):
        if existing.name == identifier.name:
            _registry[i] = identifier
            return
    _registry.append(identifier)


def registered_identifiers() -> tuple[Identifier, ...]:
    """The identifiers in use, built-ins first."""
    return tuple(_registry)


# ---------------------------------------------------------------------------------------------
# Probes


async def tcp_open(host: str, port: int, timeout: float) -> bool:
    """Whether ``host:port`` accepts a TCP connection within ``timeout`` (nothing is sent)."""
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(timeout):
            transport, _ = await loop.create_connection(asyncio.Protocol, host, port)
    except (OSError, TimeoutError):
        return False
    transport.close()
    return True


def _fetch_certificate_blocking(host: str, port: int, groups: Sequence[str],
                                timeout: float) -> tuple[bytes, str]:
    """First contact: handshake with each HAN group until one works; nothing is sent."""
    last: BaseException | None = None
    for group in groups:
        try:
            der = tls.fetch_unverified_certificate(host, port, tls.Interface.HAN, group=group,
                                                   timeout=timeout)
            return der, group
        except TimeoutError as exc:
            raise ProbeError("timeout", Text(
                f"{host}:{port} accepts connections but did not complete a TLS handshake "
                f"within {timeout:g} s.",
                f"{host}:{port} nimmt Verbindungen an, hat den TLS-Verbindungsaufbau aber nicht "
                f"innerhalb von {timeout:g} s abgeschlossen.")) from exc
        except (ssl.SSLError, ConnectionResetError, ConnectionAbortedError) as exc:
            last = exc  # wrong group, or not TLS at all: try the next group
        except tls.TlsError as exc:
            last = exc
        except OSError as exc:
            raise ProbeError("tcp", Text(f"No connection to {host}:{port} ({exc}).",
                                         f"Keine Verbindung zu {host}:{port} ({exc}).")) from exc
    reason = tls.describe_ssl_error(last) if last else Text("no group", "keine Gruppe")
    raise ProbeError("tls", Text(
        f"{host}:{port} gave no TLS handshake with the HAN profile ({reason.en})",
        f"{host}:{port} hat keinen TLS-Verbindungsaufbau mit dem HAN-Profil ermöglicht "
        f"({reason.de})"))


async def identify(
    host: str,
    port: int = 443,
    *,
    source: str = "candidate",
    identifiers: Sequence[Identifier] | None = None,
    tls_timeout: float = 2.0,
    http_timeout: float = 3.0,
    names: Sequence[str] = (),
    interface: str | None = None,
    executor: concurrent.futures.Executor | None = None,
) -> GatewayCandidate:
    """Fetch the certificate of ``host:port`` (first contact) and identify vendor and SMGW ID.

    Raises :class:`ProbeError` when no HAN TLS handshake succeeds.
    """
    rules = tuple(identifiers if identifiers is not None else registered_identifiers())
    loop = asyncio.get_running_loop()
    fetch = partial(_fetch_certificate_blocking, host, port, _groups(), tls_timeout)
    try:
        der, group = await asyncio.wait_for(loop.run_in_executor(executor, fetch),
                                            tls_timeout * 2 + 0.5)
    except TimeoutError:
        raise ProbeError("timeout", Text(
            f"{host}:{port} did not complete a TLS handshake in time.",
            f"{host}:{port} hat den TLS-Verbindungsaufbau nicht rechtzeitig abgeschlossen.",
        )) from None
    try:
        cert = CertificateFacts.from_der(der)
    except ValueError:
        raise ProbeError("tls", Text(f"{host}:{port} presented an unreadable certificate.",
                                     f"{host}:{port} zeigt ein unlesbares Zertifikat.")) from None
    paths = list(dict.fromkeys(["/", *(p for rule in rules for p in rule.paths)]))
    answers, control = await http_evidence(host, port, cert, group, paths, timeout=http_timeout)
    evidence = Evidence(host, port, cert, answers, control, known_vendor(host), tuple(names))
    clues: list[Clue] = []
    for rule in rules:
        try:
            clues.extend(rule.check(evidence))
        except Exception:  # a faulty plug-in must not stop discovery
            _log.exception("discovery identifier %s failed", rule.name)
    vendor, confidence, smgw_id, reasons = combine(clues)
    return GatewayCandidate(host, port, source, vendor, confidence, smgw_id, cert.sha256, group,
                            cert, reasons, interface, tuple(names))


def _groups() -> tuple[str, ...]:
    allowed = tls.PROFILES[tls.Interface.HAN].groups
    return tuple(g for g in PROBE_GROUPS if g in allowed)


# ---------------------------------------------------------------------------------------------
# discover()


ProgressCallback = Callable[[DiscoveryProgress], None]


@dataclass
class _Target:
    host: str
    port: int
    source: str
    names: tuple[str, ...] = ()


def _check_settings(ports: Sequence[int], max_concurrency: int, timeout: float) -> None:
    for port in ports:
        if not isinstance(port, int) or not 0 < port < 65536:
            raise InvalidValue(Text(f"Port {port} is not between 1 and 65535.",
                                    f"Port {port} liegt nicht zwischen 1 und 65535."),
                               field="port")
    if not ports:
        raise InvalidValue(Text("No port to probe.", "Kein Port zum Prüfen."), field="port")
    if max_concurrency < 1:
        raise InvalidValue(Text("The concurrency bound must be at least 1.",
                                "Die Parallelitätsgrenze muss mindestens 1 sein."),
                           field="max_concurrency")
    if timeout <= 0:
        raise InvalidValue(Text("The time limit must be positive.",
                                "Das Zeitlimit muss positiv sein."), field="timeout")


async def discover(
    interface: str | None = None,
    *,
    candidates: Sequence[str] | None = None,
    ports: Sequence[int] = (443,),
    subnet_probe: bool = True,
    use_mdns: bool = True,
    known_addresses: bool = True,
    smgw_ids: Sequence[str] = (),
    max_concurrency: int = 64,
    max_subnet_hosts: int = 254,
    timeout: float = 8.0,
    connect_timeout: float = 1.0,
    tls_timeout: float = 2.0,
    http_timeout: float = 3.0,
    mdns_timeout: float = 2.0,
    identifiers: Sequence[Identifier] | None = None,
    progress: ProgressCallback | None = None,
    network: NetworkSnapshot | None = None,
) -> DiscoveryReport:
    """Find gateways on the HAN link of ``interface`` (``None``: every adapter without a
    default route is swept; known addresses and mDNS use every adapter).

    ``candidates`` are probed first, always. ``timeout`` bounds the whole run; what was found
    by then is returned with ``complete=False``. ``network`` replaces the live adapter list
    (tests, or a snapshot the caller already has). Raises :class:`InvalidValue` for a bad
    argument or an unknown adapter; network trouble never raises, it ends up in the report.
    """
    _check_settings(ports, max_concurrency, timeout)
    explicit = parse_candidates(candidates or ())
    started = time.monotonic()
    deadline = started + timeout
    events: list[DiscoveryProgress] = []
    last_fraction = [0.0]

    def emit(phase: str, message: Text, fraction: float | None = None,
             gateway: GatewayCandidate | None = None) -> None:
        if fraction is not None:  # never backwards, even when mDNS adds work late
            fraction = last_fraction[0] = max(fraction, last_fraction[0])
        event = DiscoveryProgress(phase, fraction, message, gateway,
                                  round(time.monotonic() - started, 3))
        events.append(event)
        if progress is not None:
            try:
                progress(event)
            except Exception:  # a failing listener must not stop discovery
                _log.exception("discovery progress listener failed")

    emit("interfaces", Text("Reading the network adapters…", "Netzwerkadapter werden gelesen…"))
    snap = network or await netinfo.snapshot(timeout=min(4.0, timeout / 2))
    all_ifaces = list(snap.interfaces)
    chosen = snap.find(interface) if interface else None
    if chosen is not None:
        scan_ifaces = [chosen]
        sweep_ifaces = [chosen]
    else:
        scan_ifaces = [i for i in all_ifaces if not i.is_loopback and i.up is not False]
        # a HAN link has no default gateway: the office or home network is not swept
        sweep_ifaces = [i for i in scan_ifaces if i.has_default_route is not True]
    warnings: list[DiscoveryWarning] = [
        DiscoveryWarning("network_info", p) for p in snap.problems]

    # -- plan, in the discovery order -------------------------------------------------------
    planned: list[_Target] = [_Target(h, p, "candidate") for h in explicit for p in ports]
    own = {str(a.ip) for i in all_ifaces for a in i.addresses}
    if known_addresses:
        for known in KNOWN_ADDRESSES:
            if known.is_range or known.address in own:
                continue
            if any(i.on_link(known.address) for i in scan_ifaces):
                planned += [_Target(known.address, p, "known") for p in ports]
    swept: list[str] = []
    if subnet_probe:
        budget = max_subnet_hosts
        for iface in sweep_ifaces:
            hosts, notes = sweep_plan(iface, max_hosts=budget,
                                      allow_loopback=chosen is not None)
            warnings += notes
            if hosts:
                swept.append(iface.name)
            budget -= len(hosts)
            planned += [_Target(h, p, "subnet") for h in hosts for p in ports]
            if budget <= 0:
                break
        if chosen is None and scan_ifaces and not sweep_ifaces:
            warnings.append(DiscoveryWarning("no_sweep", Text(
                "Every adapter has a default route, so no subnet was swept. Choose the adapter "
                "at the HAN port explicitly (--interface).",
                "Jeder Adapter hat eine Standardroute, daher wurde kein Subnetz durchsucht. "
                "Wählen Sie den Adapter am HAN-Anschluss ausdrücklich (--interface).")))

    # -- run everything under one bound and one deadline -------------------------------------
    rank = {s: i for i, s in enumerate(SOURCES)}
    targets: dict[tuple[str, int], _Target] = {}
    results: dict[tuple[str, int], GatewayCandidate | OpenPort] = {}
    probe_sem = asyncio.Semaphore(max_concurrency)
    workers = max(1, min(16, max_concurrency))
    identify_sem = asyncio.Semaphore(workers)
    executor = concurrent.futures.ThreadPoolExecutor(max_workers=workers,
                                                     thread_name_prefix="smgwct-discovery")
    rules = tuple(identifiers if identifiers is not None else registered_identifiers())
    counters = {"done": 0, "total": 0, "probed": 0}
    step = max(1, (len(planned) + 1) // 20)

    def tick() -> None:
        counters["done"] += 1
        if counters["done"] % step == 0 or counters["done"] == counters["total"]:
            emit("probe", Text(f"{counters['done']} of {counters['total']} probes done",
                               f"{counters['done']} von {counters['total']} Prüfungen erledigt"),
                 counters["done"] / max(1, counters["total"]))

    async def examine(target: _Target) -> None:
        key = (target.host, target.port)
        async with probe_sem:
            remaining = deadline - time.monotonic()
            is_open = remaining > 0 and await tcp_open(target.host, target.port,
                                                       min(connect_timeout, remaining))
            counters["probed"] += 1
        if not is_open:
            tick()
            return
        emit("open", Text(f"{target.host}:{target.port} is open, checking TLS…",
                          f"{target.host}:{target.port} ist offen, TLS wird geprüft…"))
        async with identify_sem:
            try:
                found: GatewayCandidate | OpenPort = await identify(
                    target.host, target.port, source=target.source, identifiers=rules,
                    tls_timeout=tls_timeout, http_timeout=http_timeout, names=target.names,
                    interface=on_link_interface(target.host, all_ifaces), executor=executor)
            except ProbeError as exc:
                found = OpenPort(target.host, target.port, target.source, exc.kind, exc.message)
        current = targets.get(key, target)
        found = replace(found, source=current.source)
        if isinstance(found, GatewayCandidate) and current.names:
            found = replace(found, names=tuple(dict.fromkeys((*found.names, *current.names))))
        results[key] = found
        if isinstance(found, GatewayCandidate):
            emit("found", Text(
                f"Gateway at {target.host}:{target.port}"
                + (f" ({found.vendor})" if found.vendor else ""),
                f"Gateway unter {target.host}:{target.port}"
                + (f" ({found.vendor})" if found.vendor else "")), gateway=found)
        tick()

    def schedule(group: asyncio.TaskGroup, target: _Target) -> None:
        key = (target.host, target.port)
        known = targets.get(key)
        if known is not None:
            if rank[target.source] < rank[known.source]:
                known.source = target.source  # credited to the earlier source
            known.names = tuple(dict.fromkeys((*known.names, *target.names)))
            return
        targets[key] = target
        counters["total"] += 1
        group.create_task(examine(target))

    async def run_mdns(group: asyncio.TaskGroup) -> mdns.MdnsResult:
        names = mdns.host_names(smgw_ids)
        if chosen is not None:
            result = await mdns.lookup(names, interfaces=mdns_interfaces(chosen),
                                       timeout=min(mdns_timeout, deadline - time.monotonic()))
        else:
            result = await mdns.lookup(names,
                                       timeout=min(mdns_timeout, deadline - time.monotonic()))
        for host in result.hosts:
            for address in host.addresses:
                for port in ports:
                    schedule(group, _Target(address, port, "mdns", (host.name,)))
        for service in result.services:
            for address in service.addresses:
                if service.port:
                    schedule(group, _Target(address, service.port, "mdns",
                                            tuple(filter(None, (service.name, service.server)))))
        emit("mdns", Text(f"mDNS: {len(result.hosts)} names, {len(result.services)} services",
                          f"mDNS: {len(result.hosts)} Namen, {len(result.services)} Dienste"))
        return result

    mdns_result: mdns.MdnsResult | None = None
    complete = True
    emit("probe", Text(f"Probing {len(planned)} addresses…",
                       f"{len(planned)} Adressen werden geprüft…"), 0.0)
    try:
        async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
            async with asyncio.TaskGroup() as group:
                mdns_task = group.create_task(run_mdns(group)) if use_mdns else None
                for target in planned:
                    schedule(group, target)
            mdns_result = mdns_task.result() if mdns_task else None
    except TimeoutError:
        complete = False
    finally:
        executor.shutdown(wait=False, cancel_futures=True)

    # -- report -------------------------------------------------------------------------------
    if mdns_result is not None and mdns_result.problem is not None:
        warnings.append(DiscoveryWarning("mdns_unavailable", mdns_result.problem))
    gateways = sorted((r for r in results.values() if isinstance(r, GatewayCandidate)),
                      key=lambda g: (rank[g.source], sort_key(g.host), g.port))
    open_ports = sorted((r for r in results.values() if isinstance(r, OpenPort)),
                        key=lambda p: (rank[p.source], sort_key(p.host), p.port))
    warnings += route_warnings(chosen, gateways, all_ifaces)
    if not gateways:
        warnings += address_warnings(chosen, scan_ifaces)
    if not complete:
        warnings.append(DiscoveryWarning("incomplete", Text(
            f"Discovery stopped after {timeout:g} s; not every address was checked.",
            f"Die Suche wurde nach {timeout:g} s beendet; nicht jede Adresse wurde geprüft.")))
    elapsed = time.monotonic() - started
    emit("done", Text(f"{len(gateways)} gateway(s) found in {elapsed:.1f} s",
                      f"{len(gateways)} Gateway(s) in {elapsed:.1f} s gefunden"), 1.0)
    return DiscoveryReport(gateways, _unique(warnings), all_ifaces, open_ports, events, swept,
                           counters["probed"], elapsed, complete)


def _unique(warnings: Iterable[DiscoveryWarning]) -> list[DiscoveryWarning]:
    return list(dict.fromkeys(warnings))


__all__ = [
    "BUILTIN_IDENTIFIERS", "CONTROL_PATH", "KNOWN_ADDRESSES", "MAX_BODY", "PRIVATE_V4",
    "PROBE_GROUPS", "SOURCES", "STATIC_IP_EXAMPLE", "SWEEP_PREFIX", "VENDOR_FLAGS",
    "VENDOR_WORDS", "CertificateFacts", "Clue", "DiscoveryProgress", "DiscoveryReport",
    "DiscoveryWarning", "Evidence", "GatewayCandidate", "HttpAnswer", "Identifier",
    "KnownAddress", "OpenPort", "ProbeError", "ProgressCallback", "combine", "discover",
    "find_smgw_id", "http_evidence", "identify", "parse_candidates", "register_identifier",
    "registered_identifiers", "sweep_plan", "tcp_open", "usual_han_networks", "wan_han_warning",
]
