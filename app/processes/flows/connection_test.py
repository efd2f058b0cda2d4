"""Flow "Verbindungstest" (connection check): HAN over TLS and the GWA link over mutual TLS.

It proves the whole path from the technician's screen to the peers: the gateway's HAN port
answers over the HAN TLS profile with the pinned certificate (trust on first use with an explicit
confirmation when nothing is pinned yet), and the GWA's technician API accepts the technician's
client certificate. Both peers' certificate fingerprints are shown.
"""

from __future__ import annotations

from app.context import AppContext, Link, LinkState
from app.errors import ConfigurationError, SmgwctError, Text
from app.processes.engine import Flow, Step, StepContext, StepOutcome
from app.processes.flows.han_common import pinned_certificate as _pinned_certificate
from app.security import tls
from app.transports.https_probe import probe


def _context(ctx: StepContext) -> AppContext:
    services = ctx.services
    if not isinstance(services, AppContext):
        raise ConfigurationError("the connection check needs an AppContext as its services")
    return services


def _host_url(host: str, port: int) -> str:
    return f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"


async def check_han(ctx: StepContext) -> StepOutcome:
    app = _context(ctx)
    han = app.han
    if han is None:
        raise ConfigurationError(
            Text("No gateway address is set.", "Es ist keine Gateway-Adresse eingestellt."),
            field="han_host",
            hint=Text("Enter the gateway's HAN address in the connection settings.",
                      "Tragen Sie die HAN-Adresse des Gateways in den "
                      "Verbindungseinstellungen ein."),
        )
    app.update_link(Link.HAN, state=LinkState.CONNECTING, peer=f"{han.host}:{han.port}")
    try:
        pin = await _pinned_certificate(ctx, han)
        han.pinned_pem, han.pin_sha256, han.tls_group = pin.pem, pin.sha256, pin.group
        url = _host_url(han.host, han.port) + "/"
        ctx.trace("han", "tx", f"GET {url}")
        result = await probe(url, pin.ssl_context(), pin=pin.sha256)
        ctx.trace("han", "rx", f"HTTP {result.status} server={result.server or '-'}")
    except SmgwctError as exc:
        app.update_link(Link.HAN, state=LinkState.FAILED, last_error=exc.message)
        raise
    app.update_link(Link.HAN, state=LinkState.CONNECTED, fingerprint=result.peer_sha256,
                    peer=han.smgw_id or f"{han.host}:{han.port}")
    return StepOutcome(
        {"url": url, "http_status": result.status, "sha256": result.peer_sha256},
        Text(f"Gateway reachable over HAN TLS, certificate {result.peer_sha256[:16]}…",
             f"Gateway über HAN-TLS erreichbar, Zertifikat {result.peer_sha256[:16]}…"),
    )


async def check_gwa(ctx: StepContext) -> StepOutcome:
    app = _context(ctx)
    gwa = app.gwa
    if gwa is None:
        raise ConfigurationError(
            Text("No GWA link is configured.", "Es ist keine GWA-Anbindung eingerichtet."),
            field="gwa_url",
            hint=Text("Import the GWA link settings (URL, CA and technician certificate).",
                      "Importieren Sie die Einstellungen der GWA-Anbindung (URL, CA und "
                      "Techniker-Zertifikat)."),
        )
    app.update_link(Link.GWA, state=LinkState.CONNECTING, peer=gwa.base_url)
    try:
        context = tls.client_context(tls.Interface.WAN, trust=[gwa.trust_pem], own=gwa.client,
                                     group=gwa.tls_group)
        url = gwa.base_url.rstrip("/") + "/tech/v1/status"
        ctx.trace("gwa", "tx", f"GET {url}")
        result = await probe(url, context, pin=gwa.pin_sha256)
        ctx.trace("gwa", "rx", f"HTTP {result.status} {result.body}")
        if result.status != 200 or not isinstance(result.body, dict):
            raise SmgwctError(
                Text(f"The GWA answered HTTP {result.status} instead of its status.",
                     f"Der GWA hat mit HTTP {result.status} statt mit seinem Status geantwortet."),
                hint=Text("Check the GWA URL.", "Prüfen Sie die GWA-Adresse."),
            )
    except SmgwctError as exc:
        app.update_link(Link.GWA, state=LinkState.FAILED, last_error=exc.message)
        raise
    name = str(result.body.get("gwa", gwa.base_url))
    app.update_link(Link.GWA, state=LinkState.CONNECTED, peer=name,
                    fingerprint=result.peer_sha256)
    return StepOutcome(
        {"url": url, "gwa": name, "sha256": result.peer_sha256},
        Text(f"GWA '{name}' accepted the technician certificate; its certificate "
             f"{result.peer_sha256[:16]}…",
             f"GWA '{name}' hat das Techniker-Zertifikat akzeptiert; sein Zertifikat "
             f"{result.peer_sha256[:16]}…"),
    )


async def summarise(ctx: StepContext) -> StepOutcome:
    han, gwa = ctx.results["han"].data, ctx.results["gwa"].data
    return StepOutcome(
        {"han_sha256": han["sha256"], "gwa_sha256": gwa["sha256"]},
        Text(f"Both links work. HAN {tls.format_fingerprint(han['sha256'])[:23]}…, "
             f"GWA {tls.format_fingerprint(gwa['sha256'])[:23]}…",
             "Beide Verbindungen funktionieren. "
             f"HAN {tls.format_fingerprint(han['sha256'])[:23]}…, "
             f"GWA {tls.format_fingerprint(gwa['sha256'])[:23]}…"),
    )


CONNECTION_TEST = Flow(
    name="connection_test",
    title=Text("Connection check", "Verbindungstest"),
    steps=(
        Step("han", Text("Reach the gateway over HAN (TLS)", "Gateway über HAN erreichen (TLS)"),
             check_han, timeout=30),
        Step("gwa", Text("Reach the GWA (mutual TLS)", "GWA erreichen (beidseitiges TLS)"),
             check_gwa, timeout=30),
        Step("summary", Text("Show both certificates", "Beide Zertifikate anzeigen"), summarise),
    ),
)
