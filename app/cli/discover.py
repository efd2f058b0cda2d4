"""``smgwct discover``: find gateways on the laptop's HAN link (Geräteerkennung).

Exit status: 0 when at least one gateway was found, 3 when none was found (the report and its
warnings are printed all the same), 1 for an error such as an unknown adapter, 2 for bad usage.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from app.cli import language
from app.errors import Text
from app.processes.discovery import DiscoveryProgress, DiscoveryReport, discover
from app.security.tls import format_fingerprint

EXIT_FOUND = 0
EXIT_NOTHING_FOUND = 3


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "discover",
        help="find gateways on the HAN link (Gateways am HAN-Anschluss finden)",
        description="Find smart meter gateways on the laptop's HAN link: mDNS, known default "
                    "addresses, then a short sweep of the adapter's subnet.",
        epilog="Exit status: 0 gateway found, 3 nothing found, 1 error, 2 usage.",
    )
    parser.add_argument("--interface", metavar="IF",
                        help="network adapter at the HAN port (name, description or index)")
    parser.add_argument("--candidates", metavar="A,B", default="",
                        help="addresses to check first, comma-separated")
    parser.add_argument("--port", type=int, action="append", metavar="PORT",
                        help="HTTPS port to probe (repeatable; default 443)")
    parser.add_argument("--no-subnet", action="store_true",
                        help="do not sweep the adapter's subnet")
    parser.add_argument("--no-mdns", action="store_true", help="do not ask mDNS")
    parser.add_argument("--smgw-id", action="append", default=[], metavar="ID",
                        help="also ask mDNS for <ID>.local (repeatable)")
    parser.add_argument("--timeout", type=float, default=8.0,
                        help="overall time limit in seconds (default 8)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    lang = language()

    def show(event: DiscoveryProgress) -> None:
        if event.phase in ("mdns", "found"):
            print(event.message.get(lang), file=sys.stderr, flush=True)

    report = asyncio.run(discover(
        args.interface,
        candidates=[c for c in args.candidates.split(",") if c.strip()],
        ports=tuple(args.port or (443,)),
        subnet_probe=not args.no_subnet,
        use_mdns=not args.no_mdns,
        smgw_ids=args.smgw_id,
        timeout=args.timeout,
        progress=None if args.json else show,
    ))
    if args.json:
        print(json.dumps(report.to_dict(lang), indent=2, ensure_ascii=False))
    else:
        print(render(report, lang))
    return EXIT_FOUND if report.found else EXIT_NOTHING_FOUND


def _t(lang: str, en: str, de: str) -> str:
    return Text(en, de).get(lang)


def render(report: DiscoveryReport, lang: str) -> str:
    """The report as text for a terminal."""
    lines: list[str] = []
    if report.gateways:
        lines.append(_t(lang, "Gateways found:", "Gefundene Gateways:"))
        for g in report.gateways:
            vendor = g.vendor or _t(lang, "vendor unknown", "Hersteller unbekannt")
            if g.vendor:
                vendor += f" ({g.confidence:.0%})"
            lines.append(f"  {g.url}  {vendor}  {g.smgw_id or '-'}  [{g.source}]")
            if g.sha256:
                lines.append(f"    SHA-256 {format_fingerprint(g.sha256)}")
            for reason in g.reasons:
                lines.append(f"    - {reason.get(lang)}")
    else:
        lines.append(_t(lang, "No gateway found.", "Kein Gateway gefunden."))
    for port in report.unidentified:
        lines.append(f"  ? {port.host}:{port.port}  {port.message.get(lang)}")
    if report.warnings:
        lines.append(_t(lang, "Warnings:", "Hinweise:"))
        lines += [f"  ! {w.message.get(lang)}" for w in report.warnings]
    lines.append(_t(lang, "Network adapters:", "Netzwerkadapter:"))
    for iface in report.interfaces:
        route = {True: _t(lang, "default route", "Standardroute"),
                 False: _t(lang, "no default route", "keine Standardroute"),
                 None: _t(lang, "routes unknown", "Routen unbekannt")}[iface.has_default_route]
        addresses = ", ".join(str(a) for a in iface.addresses) or "-"
        lines.append(f"  {iface.name}: {addresses} ({route})")
    lines.append(_t(lang, f"{report.probed_hosts} addresses probed in {report.elapsed:.1f} s.",
                    f"{report.probed_hosts} Adressen in {report.elapsed:.1f} s geprüft."))
    return "\n".join(lines)
