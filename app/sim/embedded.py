"""The embedded default (eingebettete Standardumgebung): simulators on loopback for demo mode.

``EmbeddedDefault`` creates (on first use) the demo PKI in the user data directory, starts the
virtual SMGW's HAN server and the reference GWA on loopback, and hands out an :class:`AppContext`
pointing at them. ``smgwct demo`` opens the app on that context, ``smgwct sim`` serves it headless,
and the tests use it as real peers. Stopping it closes every server.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from app.context import AppContext, GwaTarget, HanTarget
from app.errors import Text
from app.security.pki import DemoPki, load_or_create_demo_pki
from app.sim.gwa.technician_api import start_gwa_server
from app.sim.server_handle import ServerHandle
from app.store.settings import data_dir as default_data_dir

Progress = Callable[[Text], None]


class EmbeddedDefault:
    """Virtual SMGW (HAN) and reference GWA on loopback, sharing one demo PKI."""

    def __init__(
        self,
        *,
        scenario: str = "default",
        data_dir: Path | None = None,
        host: str = "127.0.0.1",
        han_port: int = 0,
        gwa_port: int = 0,
    ) -> None:
        self.scenario_name = scenario
        self.data_dir = data_dir or default_data_dir()
        self.host = host
        self.han_port = han_port
        self.gwa_port = gwa_port
        self.pki: DemoPki | None = None
        self.gateway = None  # the virtual SMGW's state model
        self.endpoints: list[ServerHandle] = []
        self.context = AppContext(data_dir=self.data_dir)

    async def start(self, progress: Progress | None = None) -> None:
        """Create or load the PKI and start every server; on any failure, stop what started."""
        from app.sim.smgw import Scenario, start_han_server

        say = progress or (lambda _text: None)
        scenario = Scenario.load(self.scenario_name)
        say(Text("Preparing demo certificates…", "Demo-Zertifikate werden vorbereitet…"))
        pki_dir = self.data_dir / "demo" / f"pki-{scenario.smgw_id}"
        self.pki, _created = await asyncio.to_thread(
            load_or_create_demo_pki, pki_dir, scenario.smgw_id
        )
        try:
            say(Text("Starting the virtual gateway…", "Virtuelles Gateway wird gestartet…"))
            self.gateway = scenario.build_state(self.pki)
            han = await start_han_server(self.gateway, self.pki, host=self.host,
                                         port=self.han_port, dialect=scenario.dialect)
            self.endpoints.append(han)
            say(Text("Starting the reference GWA…", "Referenz-GWA wird gestartet…"))
            gwa = await start_gwa_server(self.pki, host=self.host, port=self.gwa_port)
            self.endpoints.append(gwa)
        except BaseException:
            await self.stop()
            raise
        self.context.demo = self
        self.context.han = HanTarget(
            host=self.host, port=han.port, smgw_id=scenario.smgw_id, vendor=scenario.vendor,
            user=scenario.default_user, tls_group=han_group(self.pki),
        )
        self.context.gwa = GwaTarget(
            base_url=gwa.url, trust_pem=self.pki.trust_pem(),
            client=self.pki.tls_chain("technician"), tls_group=self.pki.curve,
        )

    async def stop(self) -> None:
        """Close every server (idempotent)."""
        while self.endpoints:
            handle = self.endpoints.pop()
            with contextlib.suppress(Exception):
                await handle.close()

    async def __aenter__(self) -> EmbeddedDefault:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def describe(self) -> list[dict[str, str | int]]:
        """One record per endpoint: role, host, port, protocol, certificate SHA-256."""
        return [handle.describe() for handle in self.endpoints]


def han_group(pki: DemoPki) -> str:
    """The key-exchange group matching the HAN certificate's curve."""
    return pki["han"].key.curve.name if pki["han"].key.curve.name != "secp256r1" else "prime256v1"
