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
from typing import Any

from app.context import AppContext, GwaTarget, HanTarget, OpticalTarget
from app.errors import Text
from app.security.pki import DemoPki, load_or_create_demo_pki
from app.sim.gwa.technician_api import start_gwa_server
from app.sim.server_handle import ServerHandle
from app.store.settings import data_dir as default_data_dir

Progress = Callable[[Text], None]


class EmbeddedDefault:
    """Virtual SMGW (HAN and WAN side on one state), reference GWA and virtual meters on
    loopback, sharing one demo PKI."""

    def __init__(
        self,
        *,
        scenario: str = "default",
        data_dir: Path | None = None,
        host: str = "127.0.0.1",
        han_port: int = 0,
        gwa_port: int = 0,
        meters: bool = True,
    ) -> None:
        self.scenario_name = scenario
        self.data_dir = data_dir or default_data_dir()
        self.host = host
        self.han_port = han_port
        self.gwa_port = gwa_port
        self.start_meters = meters
        self.pki: DemoPki | None = None
        self.gateway: Any = None  # the virtual SMGW's state model (SmgwState)
        self.gwa: Any = None  # the reference GWA (ReferenceGwa)
        self.wan: Any = None  # the virtual SMGW's WAN side (WanSide)
        self.meters: list[Any] = []  # the virtual meters' optical interfaces (VirtualMeter)
        self.endpoints: list[ServerHandle] = []
        self._stack = contextlib.AsyncExitStack()
        self.context = AppContext(data_dir=self.data_dir)

    @property
    def folder(self) -> Path:
        """Where the embedded default keeps its databases and demo certificates."""
        return self.data_dir / "demo"

    async def start(self, progress: Progress | None = None) -> None:
        """Create or load the PKI and start every server; on any failure, stop what started."""
        from app.sim.gwa.core import ReferenceGwa
        from app.sim.smgw import Scenario, start_han_server
        from app.sim.smgw.wan import SmgwCredentials, WanSide

        say = progress or (lambda _text: None)
        scenario = Scenario.load(self.scenario_name)
        say(Text("Preparing demo certificates…", "Demo-Zertifikate werden vorbereitet…"))
        self.folder.mkdir(parents=True, exist_ok=True)
        pki_dir = self.folder / f"pki-{scenario.smgw_id}"
        self.pki, _created = await asyncio.to_thread(
            load_or_create_demo_pki, pki_dir, scenario.smgw_id
        )
        pki = self.pki
        state_dir = self.folder / f"state-{scenario.smgw_id}-{self.scenario_name}"
        state_dir.mkdir(parents=True, exist_ok=True)
        try:
            self.gateway = scenario.build_state(pki)
            say(Text("Starting the reference GWA…", "Referenz-GWA wird gestartet…"))
            self.gwa = ReferenceGwa(pki, db_path=state_dir / "gwa.sqlite3", host=self.host)
            await self.gwa.start()
            self._stack.push_async_callback(self.gwa.stop)
            say(Text("Starting the virtual gateway…", "Virtuelles Gateway wird gestartet…"))
            self.wan = WanSide(self.gateway, SmgwCredentials.from_demo_pki(pki),
                               db_path=state_dir / "smgw-wan.sqlite3", host=self.host,
                               gwa_profile=self.gwa.communication_profile())
            await self.wan.start()
            self._stack.push_async_callback(self.wan.stop)
            self.gwa.register_gateway(scenario.smgw_id, pki["smgw_tls"].cert,
                                      pki["smgw_sig"].cert, pki["smgw_enc"].cert,
                                      self.wan.wakeup_address)
            han = await start_han_server(self.gateway, pki, host=self.host, port=self.han_port,
                                         dialect=scenario.dialect)
            self._stack.push_async_callback(han.close)
            self.endpoints.append(han)
            tech = await start_gwa_server(pki, host=self.host, port=self.gwa_port, gwa=self.gwa,
                                          jobs_path=state_dir / "technician-jobs.sqlite3")
            self._stack.push_async_callback(tech.close)
            self.endpoints.append(tech)
            self.endpoints.extend(self.gwa.endpoints())
            if self.start_meters:
                say(Text("Starting the virtual meters…", "Virtuelle Zähler werden gestartet…"))
                await self._start_meters()
        except BaseException:
            await self.stop()
            raise
        self.context.demo = self
        self.context.han = HanTarget(
            host=self.host, port=han.port, smgw_id=scenario.smgw_id, vendor=scenario.dialect,
            user=scenario.default_user, tls_group=han_group(pki),
        )
        self.context.gwa = GwaTarget(
            base_url=tech.url, trust_pem=pki.trust_pem(),
            client=pki.tls_chain("technician"), tls_group=pki.curve,
        )
        if self.meters:
            self.context.optical = OpticalTarget(port=self.meters[0].url)
            self.context.extras[DEMO_METERS] = {
                m.profile.server_id.hex: m.url for m in self.meters
            }

    async def _start_meters(self) -> None:
        from app.sim.meter import VirtualMeter, load_demo_meters

        for profile in load_demo_meters(self.scenario_name):
            meter = VirtualMeter(profile, endpoint="tcp", host=self.host)
            await meter.start()
            self._stack.push_async_callback(meter.stop)
            self.meters.append(meter)

    async def stop(self) -> None:
        """Stop every simulator, newest first (idempotent)."""
        self.endpoints.clear()
        self.meters.clear()
        stack, self._stack = self._stack, contextlib.AsyncExitStack()
        with contextlib.suppress(Exception):
            await stack.aclose()

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
        records = [handle.describe() for handle in self.endpoints]
        if self.wan is not None:
            host, port = self.wan.wakeup_address
            records.append({"role": "virtual SMGW (wake-up)", "host": host, "port": port,
                            "protocol": "udp", "certificate_sha256": ""})
        for meter in self.meters:
            records.append({"role": f"virtual meter {meter.profile.server_id.display}",
                            "host": self.host, "port": int(meter.url.rsplit(":", 1)[-1]),
                            "protocol": meter.url.split(":", 1)[0],
                            "certificate_sha256": ""})
        return records


#: ``AppContext.extras`` key: the demo meters' optical URLs by server ID (hex).
DEMO_METERS = "demo_meters"


def han_group(pki: DemoPki) -> str:
    """The key-exchange group matching the HAN certificate's curve."""
    return pki["han"].key.curve.name if pki["han"].key.curve.name != "secp256r1" else "prime256v1"
