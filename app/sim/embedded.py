"""The embedded default (eingebettete Standardumgebung): simulators on loopback for demo mode.

``EmbeddedDefault`` creates (on first use) the demo PKI in the user data directory and starts,
from a demo scenario (``resources/demo/<scenario>.json``) and its site
(:mod:`app.sim.demo_site`):

* the virtual SMGW: its HAN server and its WAN side on one state model;
* the reference GWA with its technician API (behind a "cable" that can fail, when the site
  asks for a GWA outage);
* one virtual meter per scenario meter and per spare meter of the site's bench, and the site's
  read head (a fixed ``socket://`` address facing one of them).

It hands out an :class:`AppContext` pointing at all of this. ``smgwct demo`` opens the app on
that context, ``smgwct sim`` serves it headless, ``smgwct flow run --demo`` runs a flow
against it, and the tests use it as real peers. Stopping it closes every server.

Two modes:

* in the caller's event loop (default): tests that look into the simulators' state use it;
* ``threaded=True``: every simulator runs in one thread of its own with its own event loop, so
  that their TLS handshakes and XML work never stall the tool's loop (demo, ``flow run --demo``,
  ``sim``, benchmarks). What flows ask of ``AppContext.demo`` (:meth:`swap_meter`) and
  :meth:`call` are marshalled into that loop; :meth:`stop` joins the thread. No Qt is involved.

The simulators keep their state in ``<data>/demo/state-<SMGW>-<scenario>/`` across starts (a flow
interrupted in demo mode resumes against the same state); ``fresh=True`` starts from the
scenario again.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import gc
import hashlib
import inspect
import json
import logging
import shutil
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from app.context import AppContext, GwaTarget, HanTarget, OpticalTarget
from app.domain import ServerId
from app.errors import Text
from app.security.pki import DemoPki, load_or_create_demo_pki
from app.sim.demo_site import EMPTY_SITE, DemoSite, load_site
from app.sim.gwa.technician_api import start_gwa_server
from app.sim.server_handle import ServerHandle
from app.store.settings import data_dir as default_data_dir
from app.workbench import demo_pki_dir

log = logging.getLogger(__name__)

Progress = Callable[[Text], None]
T = TypeVar("T")

#: ``AppContext.extras`` key: the demo meters' optical URLs by server ID (hex).
DEMO_METERS = "demo_meters"
#: How long :meth:`EmbeddedDefault.stop` waits for the simulators' thread.
STOP_TIMEOUT = 8.0
SITE_STATE = "site.json"
#: Worker threads of the simulators' loop (``asyncio.to_thread``: CMS, XML, SQLite)
SIM_WORKERS = 2
#: In threaded mode (the demo) the virtual SMGW reports its events promptly, so that they reach
#: the flows' timelines (the field default waits 2 s for a burst); a site's ``timers.wan`` wins.
DEMO_WAN_TIMERS = {"event_batch_delay": 0.25}


class EmbeddedDefault:
    """Virtual SMGW (HAN and WAN side on one state), reference GWA, virtual meters and the
    site's read head on loopback, sharing one demo PKI (see the module docstring)."""

    def __init__(
        self,
        *,
        scenario: str | Path = "default",
        data_dir: Path | None = None,
        host: str = "127.0.0.1",
        han_port: int = 0,
        gwa_port: int = 0,
        meters: bool = True,
        threaded: bool = False,
        fresh: bool = False,
        context: AppContext | None = None,
    ) -> None:
        self.scenario_name = str(scenario)
        self.data_dir = data_dir or default_data_dir()
        self.host = host
        self.han_port = han_port
        self.gwa_port = gwa_port
        self.start_meters = meters
        self.threaded = threaded
        self.fresh = fresh
        self.pki: DemoPki | None = None
        self.site: DemoSite = EMPTY_SITE
        self.gateway: Any = None  # the virtual SMGW's state model (SmgwState)
        self.gwa: Any = None  # the reference GWA (ReferenceGwa)
        self.wan: Any = None  # the virtual SMGW's WAN side (WanSide)
        self.meters: list[Any] = []  # the virtual meters' optical interfaces (VirtualMeter)
        self.read_head: Any = None  # the site's read head (Relay)
        self.gwa_cable: Any = None  # the relay in front of the technician API (Relay), if any
        self.endpoints: list[ServerHandle] = []
        # ``context``: fill this one instead of a new one (a demo switching its scenario)
        self.context = context if context is not None else AppContext(data_dir=self.data_dir)
        self._stack = contextlib.AsyncExitStack()
        self._state_dir: Path | None = None
        self._targets: dict[str, Any] = {}
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._stop_requested = threading.Event()
        self._heap_frozen = False

    @property
    def folder(self) -> Path:
        """Where the embedded default keeps its databases and demo certificates."""
        return self.data_dir / "demo"

    @property
    def running(self) -> bool:
        return bool(self._targets)

    # -- start and stop -------------------------------------------------------------------------

    async def start(self, progress: Progress | None = None) -> None:
        """Start every simulator (in their own thread with ``threaded``) and point the context
        at them; on any failure, what started is stopped and the error propagates."""
        if self.threaded:
            await self._start_thread(progress)
            _freeze_heap()
            self._heap_frozen = True
        else:
            await self._start_servers(progress or (lambda _text: None))
        self._fill_context()

    async def stop(self) -> None:
        """Stop every simulator, newest first (idempotent); joins the simulators' thread."""
        thread = self._thread
        if thread is None:
            await self._stop_servers()
            return
        self._stop_requested.set()
        loop, event = self._loop, self._stop_event
        if loop is not None and event is not None:
            with contextlib.suppress(RuntimeError):  # the loop has ended already
                loop.call_soon_threadsafe(event.set)
        await asyncio.to_thread(thread.join, STOP_TIMEOUT)
        if thread.is_alive():
            log.error("the demo simulators did not stop within %.0f s", STOP_TIMEOUT)
        else:
            self._thread = None
        self._targets.clear()
        if self._heap_frozen:
            self._heap_frozen = False
            _thaw_heap()

    async def __aenter__(self) -> EmbeddedDefault:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def _start_thread(self, progress: Progress | None) -> None:
        if self._thread is not None:
            raise RuntimeError("the embedded default runs already")
        caller = asyncio.get_running_loop()

        def say(text: Text) -> None:
            if progress is not None:
                with contextlib.suppress(RuntimeError):  # the caller's loop has closed
                    caller.call_soon_threadsafe(progress, text)

        started: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._stop_requested.clear()
        self._thread = threading.Thread(target=self._thread_main, args=(started, say),
                                        name="smgwct-demo-simulators", daemon=True)
        self._thread.start()
        try:
            await asyncio.wrap_future(started)
        except BaseException:
            await self.stop()
            raise

    def _thread_main(self, started: concurrent.futures.Future[None], say: Progress) -> None:
        try:
            with asyncio.Runner() as runner:
                runner.run(self._serve(started, say))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller, never lost
            if not started.done():
                with contextlib.suppress(concurrent.futures.InvalidStateError):
                    started.set_exception(exc)
            else:
                log.exception("the demo simulators' loop failed")

    async def _serve(self, started: concurrent.futures.Future[None], say: Progress) -> None:
        """The simulators' thread: start, serve until :meth:`stop`, stop."""
        self._loop = asyncio.get_running_loop()
        self._stop_event = asyncio.Event()
        # few worker threads: every runnable thread competes with the tool's loop for the GIL
        self._loop.set_default_executor(concurrent.futures.ThreadPoolExecutor(
            max_workers=SIM_WORKERS, thread_name_prefix="smgwct-demo-worker"))
        try:
            await self._start_servers(say)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            with contextlib.suppress(concurrent.futures.InvalidStateError):  # caller gave up
                started.set_exception(exc)
            return
        with contextlib.suppress(concurrent.futures.InvalidStateError):
            started.set_result(None)  # (a caller that gave up waiting stops us right away)
        try:
            if self._stop_requested.is_set():
                self._stop_event.set()
            await self._stop_event.wait()
        finally:
            await self._stop_servers()
            self._loop = self._stop_event = None

    async def _start_servers(self, say: Progress) -> None:
        """Create or load the PKI and start every server (in the simulators' loop)."""
        from app.processes.micro.channels import ChannelTimers
        from app.sim.gwa.core import GwaTimers, ReferenceGwa
        from app.sim.smgw import Scenario, start_han_server
        from app.sim.smgw.wan import SmgwCredentials, WanFaults, WanSide

        scenario = Scenario.load(self.scenario_name)
        site = self.site = load_site(self.scenario_name)
        say(Text("Preparing demo certificates…", "Demo-Zertifikate werden vorbereitet…"))
        await asyncio.to_thread(self.folder.mkdir, parents=True, exist_ok=True)
        pki_dir = demo_pki_dir(self.data_dir, scenario.smgw_id)
        self.pki, _created = await asyncio.to_thread(
            load_or_create_demo_pki, pki_dir, scenario.smgw_id
        )
        pki = self.pki
        state_dir = self._state_dir = (
            self.folder / f"state-{scenario.smgw_id}-{state_key(self.scenario_name)}")
        await asyncio.to_thread(_prepare_folder, state_dir, self.fresh)
        try:
            self.gateway = await asyncio.to_thread(scenario.build_state, pki)
            say(Text("Starting the reference GWA…", "Referenz-GWA wird gestartet…"))
            self.gwa = ReferenceGwa(pki, db_path=state_dir / "gwa.sqlite3", host=self.host,
                                    timers=GwaTimers(**site.gwa_timers))
            await self.gwa.start()
            self._stack.push_async_callback(self.gwa.stop)
            say(Text("Starting the virtual gateway…", "Virtuelles Gateway wird gestartet…"))
            self.wan = WanSide(self.gateway, SmgwCredentials.from_demo_pki(pki),
                               db_path=state_dir / "smgw-wan.sqlite3", host=self.host,
                               gwa_profile=self.gwa.communication_profile(),
                               lmn_meters=[bench_lmn_meter(b.entry) for b in site.bench],
                               faults=WanFaults(pairing_rejected=site.pairing_rejected),
                               timers=ChannelTimers(**self._wan_timers(site)),
                               follow_gwa_address=True)
            await self.wan.start()
            self._stack.push_async_callback(self.wan.stop)
            self.gwa.register_gateway(scenario.smgw_id, pki["smgw_tls"].cert,
                                      pki["smgw_sig"].cert, pki["smgw_enc"].cert,
                                      self.wan.wakeup_address)
            han = await start_han_server(self.gateway, pki, host=self.host, port=self.han_port,
                                         dialect=scenario.dialect)
            self._stack.push_async_callback(han.close)
            self.endpoints.append(han)
            gwa_url = await self._start_technician_api(pki, state_dir, site)
            if self.start_meters:
                say(Text("Starting the virtual meters…", "Virtuelle Zähler werden gestartet…"))
                await self._start_meters(scenario)
                await self._restore_site_state()
        except BaseException:
            await self._stop_servers()
            raise
        self._targets = {
            "han": HanTarget(host=self.host, port=han.port, smgw_id=scenario.smgw_id,
                             vendor=scenario.dialect, user=scenario.default_user,
                             tls_group=han_group(pki)),
            "gwa": GwaTarget(base_url=gwa_url, trust_pem=pki.trust_pem(),
                             client=pki.tls_chain("technician"), tls_group=pki.curve),
        }

    def _wan_timers(self, site: DemoSite) -> dict[str, Any]:
        base = DEMO_WAN_TIMERS if self.threaded else {}
        return {**base, **site.wan_timers}

    async def _start_technician_api(self, pki: DemoPki, state_dir: Path, site: DemoSite) -> str:
        """The technician API, behind the site's cable when it has a GWA outage; its URL."""
        from app.sim.relay import Relay

        outage = site.gwa_outage
        tech = await start_gwa_server(pki, host=self.host, port=0 if outage else self.gwa_port,
                                      gwa=self.gwa,
                                      jobs_path=state_dir / "technician-jobs.sqlite3")
        self._stack.push_async_callback(tech.close)
        self.endpoints.append(tech)
        self.endpoints.extend(self.gwa.endpoints())
        if outage is None:
            return tech.url
        cable = self.gwa_cable = Relay((tech.host, tech.port), host=self.host, name="GWA cable")
        cable.port = self.gwa_port
        await cable.start()
        self._stack.push_async_callback(cable.stop)
        if outage.after == "start":
            cable.outage(outage.seconds)
        else:  # the first request goes through (the link check), the next one fails
            cable.fail_after(1, outage.seconds)
        return f"https://{cable.address}"

    async def _start_meters(self, scenario: Any) -> None:
        from app.sim.meter import MeterProfile, VirtualMeter
        from app.sim.relay import Relay

        entries = [scenario_meter_entry(m) for m in scenario.meters]
        entries += [dict(b.entry) for b in self.site.bench]
        for entry in entries:
            profile = MeterProfile.from_dict(entry)
            meter = VirtualMeter(profile, endpoint="tcp", host=self.host,
                                 source=self._lmn_registers(profile.server_id))
            await meter.start()
            self._stack.push_async_callback(meter.stop)
            self.meters.append(meter)
        if not self.meters:
            return
        self.read_head = Relay(host=self.host, name="read head")
        await self.read_head.start()
        self._stack.push_async_callback(self.read_head.stop)
        first = self._virtual_meter(self.site.read_head) if self.site.read_head else None
        self._face(first or self.meters[0])

    def _lmn_registers(self, server_id: ServerId) -> Callable[[], dict[Any, Any]] | None:
        """The registers of the site's meter ``server_id`` as they count now: the read head
        and the gateway read the same meter, so they never disagree."""
        lmn = self.wan.lmn.meters.get(server_id) if self.wan is not None else None
        if lmn is None or self.gateway is None:
            return None
        clock = self.gateway.clock
        return lambda: lmn.values_at(clock.now())

    async def _stop_servers(self) -> None:
        self.endpoints.clear()
        self.meters.clear()
        self.read_head = self.gwa_cable = None
        self._targets.clear()
        stack, self._stack = self._stack, contextlib.AsyncExitStack()
        with contextlib.suppress(Exception):
            await stack.aclose()

    def _fill_context(self) -> None:
        """Point the tool's context at the simulators (in the caller's thread)."""
        ctx = self.context
        ctx.demo = self
        ctx.han = self._targets["han"]
        ctx.gwa = self._targets["gwa"]
        if self.read_head is not None:
            ctx.optical = OpticalTarget(port=f"socket://{self.read_head.address}")
            ctx.extras[DEMO_METERS] = {m.profile.server_id.hex: m.url for m in self.meters}
        if self.site.gwa_retry_seconds is not None:
            from app.processes.flows.gwa_common import OFFLINE_DEFAULTS_EXTRA

            ctx.extras[OFFLINE_DEFAULTS_EXTRA] = {
                "gwa_retry_seconds": self.site.gwa_retry_seconds}

    # -- what the flows and tests reach ---------------------------------------------------------

    async def call(self, fn: Callable[..., T | Awaitable[T]], *args: Any) -> T:
        """``fn(*args)`` (a function or coroutine function) in the simulators' loop, awaited
        here: the thread-safe way to look into or change the simulators in threaded mode."""
        loop = self._loop

        async def run() -> T:
            result = fn(*args)
            if inspect.isawaitable(result):
                return await result  # type: ignore[no-any-return]
            return result  # type: ignore[return-value]

        if loop is None or not self.threaded:
            return await run()
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(run(), loop))

    async def swap_meter(self, old: str, new: str) -> None:
        """The technician's hands at the demo site (meter change): the old meter leaves the
        LMN, the spare meter from the bench (``new`` if the bench has it) is wired in and the
        read head faces it. Calling it again changes nothing."""
        await self.call(self._swap, old, new)

    async def _swap(self, old: str, new: str) -> None:
        lmn = self.wan.lmn.meters
        old_id, new_id = ServerId.parse(old, strict=False), ServerId.parse(new, strict=False)
        bench = [b.server_id for b in self.site.bench]
        spare = new_id if new_id in bench or not bench else bench[0]
        meter = self._virtual_meter(spare)
        facing = meter is not None and self.read_head is not None and \
            self.read_head.target == (meter.host, meter.port)
        if spare in lmn and lmn[spare].present and facing:
            return
        if old_id in lmn:
            lmn[old_id].present = False
        if spare in lmn:
            lmn[spare].present = True
        if meter is not None:
            self._face(meter)
        log.info("demo site: meter %s replaced by %s", old_id.display, spare.display)
        await self._save_site_state({"absent": [old_id.hex], "present": [spare.hex],
                                     "read_head": spare.hex})

    def _virtual_meter(self, server_id: ServerId | None) -> Any:
        return next((m for m in self.meters if m.profile.server_id == server_id), None)

    def _face(self, meter: Any) -> None:
        if self.read_head is not None:
            self.read_head.face((meter.host, meter.port))

    async def _save_site_state(self, change: dict[str, Any]) -> None:
        """Remember what the technician changed at the site (a resumed flow finds it so)."""
        path = self._state_dir / SITE_STATE if self._state_dir else None
        if path is None:
            return

        def write() -> None:
            known: dict[str, Any] = {}
            with contextlib.suppress(OSError, ValueError):
                known = json.loads(path.read_text("utf-8"))
            for key in ("absent", "present"):
                other = "present" if key == "absent" else "absent"
                for sid in change.get(key, []):
                    known[key] = sorted({*known.get(key, []), sid})
                    known[other] = [s for s in known.get(other, []) if s != sid]
            known["read_head"] = change.get("read_head", known.get("read_head"))
            path.write_text(json.dumps(known), "utf-8")

        await asyncio.to_thread(write)

    async def _restore_site_state(self) -> None:
        path = self._state_dir / SITE_STATE if self._state_dir else None
        if path is None:
            return
        try:
            known = json.loads(await asyncio.to_thread(path.read_text, "utf-8"))
        except (OSError, ValueError):
            return
        lmn = self.wan.lmn.meters
        for key, present in (("absent", False), ("present", True)):
            for sid_hex in known.get(key, []):
                meter = lmn.get(ServerId.from_hex(sid_hex))
                if meter is not None:
                    meter.present = present
        head = known.get("read_head")
        meter = self._virtual_meter(ServerId.from_hex(head)) if head else None
        if meter is not None:
            self._face(meter)

    def describe(self) -> list[dict[str, str | int]]:
        """One record per endpoint: role, host, port, protocol, certificate SHA-256."""
        records = [handle.describe() for handle in self.endpoints]
        if self.gwa_cable is not None:
            records.append({"role": "reference GWA (technician API, via the outage cable)",
                            "host": self.host, "port": self.gwa_cable.port,
                            "protocol": "https+mtls", "certificate_sha256": ""})
        if self.wan is not None:
            host, port = self.wan.wakeup_address
            records.append({"role": "virtual SMGW (wake-up)", "host": host, "port": port,
                            "protocol": "udp", "certificate_sha256": ""})
        for meter in self.meters:
            records.append({"role": f"virtual meter {meter.profile.server_id.display}",
                            "host": self.host, "port": int(meter.url.rsplit(":", 1)[-1]),
                            "protocol": meter.url.split(":", 1)[0],
                            "certificate_sha256": ""})
        if self.read_head is not None:
            records.append({"role": "read head", "host": self.host, "port": self.read_head.port,
                            "protocol": "socket", "certificate_sha256": ""})
        return records


# -- helpers --------------------------------------------------------------------------------------


def han_group(pki: DemoPki) -> str:
    """The key-exchange group matching the HAN certificate's curve."""
    return pki["han"].key.curve.name if pki["han"].key.curve.name != "secp256r1" else "prime256v1"


def state_key(scenario: str) -> str:
    """The state folder's name part for a scenario: its name, or the file stem plus a hash of
    its path (scenarios given as files)."""
    path = Path(scenario)
    if path.suffix != ".json" and len(path.parts) == 1:
        return path.name
    digest = hashlib.sha256(str(path.resolve()).encode("utf-8")).hexdigest()[:8]
    return f"{path.stem}-{digest}"


_frozen = 0


def _freeze_heap() -> None:
    """After the simulators started: collect once, then move every object into the permanent
    generation (``gc.freeze``). Their long-lived state (log history, PKI, schemas) is then no
    longer traversed by each full collection, which otherwise holds the GIL for tens of
    milliseconds - a stall of the tool's event loop, whichever thread collects."""
    global _frozen
    gc.collect()
    gc.freeze()
    _frozen += 1


def _thaw_heap() -> None:
    """After the last threaded embedded default stopped: its objects may be collected again."""
    global _frozen
    _frozen = max(0, _frozen - 1)
    if _frozen == 0:
        gc.unfreeze()


def _prepare_folder(folder: Path, fresh: bool) -> None:
    if fresh and folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)


def scenario_meter_entry(meter: Any) -> dict[str, Any]:
    """A scenario meter (``LmnMeter``) as the entry a virtual meter is made from."""
    return {"server_id": meter.server_id.text,
            "registers": [{"obis": r.obis.notation, "value": r.value, "scaler": r.scaler,
                           "unit": r.unit, "increase_per_hour": r.increase_per_hour}
                          for r in meter.registers]}


def bench_lmn_meter(entry: Any) -> Any:
    """A spare meter of the site's bench as the LMN sees it: not wired, not paired."""
    from app.domain import Obis
    from app.sim.smgw.state import LmnMeter, RegisterValue

    registers = [RegisterValue(Obis.parse(str(r["obis"])), int(r["value"]),
                               int(r.get("scaler", 0)), int(r.get("unit", 30)),
                               increase_per_hour=float(r.get("increase_per_hour", 0.0)))
                 for r in entry.get("registers", [])]
    return LmnMeter(ServerId.parse(str(entry["server_id"])), paired=False, present=False,
                    hdlc_address=entry.get("hdlc_address"), registers=registers)
