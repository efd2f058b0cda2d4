"""Technician flows in demo mode: wall time against pure network time, and event-loop stalls.

Run: ``.venv/bin/python benchmarks/flows.py [--flows NAME,...] [--stall-limit-ms 50]``.

Each flow (connection_test, technical_data, logs, self_test, handover, pairing, meter_change,
discovery) runs once, headless with scripted answers, against a fresh embedded default with zero
simulated latency, started as ``smgwct demo`` and ``smgwct flow run --demo`` start it: the
virtual SMGW (HAN and WAN side), the reference GWA, the virtual meters and the read head in their
own thread with their own event loop, each flow from the scenario that shows it
(``app.sim.demo_site.scenario_for_flow``: ``delivery`` for the handover and the pairing,
``meter-change`` for the meter change, ``default`` otherwise). Starting the simulators is not
measured.

For each run the tool's event loop's selector is instrumented: every time the loop blocks in
``select()``, the blocked time is attributed to what woke it up:

* **network**: a socket became readable/writable - waiting for the peers (on loopback with zero
  latency: the kernel's transit time plus the simulators' own work in their thread);
* **thread**: only the loop's self-pipe - a worker thread handed back a result (SQLite commits,
  ``asyncio.to_thread`` work, the serial reader of the read head);
* **timer**: nothing - a timeout or a sleep expired (deliberate waits: the virtual meter's push
  interval, polling, the flows' settle times).

``busy`` is the rest of the wall time: code running in the tool's loop; the TLS columns show how
much of it are OpenSSL handshakes in the tool's loop (``ssl.SSLObject.do_handshake``, the client
side; the simulators' server side is counted separately, it runs in their thread). A heartbeat
task (5 ms timer) records how late it fires: the longest lateness is the longest event-loop
stall. A watchdog thread samples the loop thread's stack while a stall is longer than the limit,
so the output names the blocking call. The script exits with 1 when the longest stall exceeds
``--stall-limit-ms`` (default 50 ms) or a flow does not succeed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import selectors
import ssl
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FLOWS = ("connection_test", "technical_data", "logs", "self_test", "handover", "pairing",
         "meter_change", "discovery")
HEARTBEAT = 0.005
TRUST = "Trust this gateway certificate?"


# -- instrumentation -------------------------------------------------------------------------------


@dataclass
class LoopClock:
    """Blocked time of the loop's selector by what woke it up, and heartbeat lateness."""

    network: float = 0.0
    thread: float = 0.0
    timer: float = 0.0
    selects: int = 0
    #: TLS handshakes completed in the loop (asyncio's SSL protocol), their CPU time, the
    #: longest single handshake call
    handshakes: int = 0
    handshake_time: float = 0.0
    handshake_max: float = 0.0
    #: TLS handshake calls in other threads (the simulators' server side)
    other_handshakes: int = 0
    max_stall: float = 0.0
    stall_stack: str | None = None
    stacks: dict[int, tuple[float, str]] = field(default_factory=dict)
    #: stalls the watchdog caught (lateness, stack of the loop thread)
    stalls: list[tuple[float, str]] = field(default_factory=list)

    @property
    def blocked(self) -> float:
        return self.network + self.thread + self.timer


@contextlib.contextmanager
def instrumented(loop: asyncio.AbstractEventLoop, clock: LoopClock) -> Any:
    """Wrap the selector of ``loop`` (a selector event loop) while the block runs."""
    selector: selectors.BaseSelector = loop._selector  # type: ignore[attr-defined]
    wakeup = loop._ssock.fileno()  # type: ignore[attr-defined]
    original = selector.select

    def select(timeout: float | None = None) -> list[Any]:
        started = time.perf_counter()
        ready = original(timeout)
        spent = time.perf_counter() - started
        clock.selects += 1
        if not ready:
            clock.timer += spent
        elif any(key.fd != wakeup for key, _ in ready):
            clock.network += spent
        else:
            clock.thread += spent
        return ready

    handshake = ssl.SSLObject.do_handshake
    loop_thread = threading.get_ident()

    def timed_handshake(self: ssl.SSLObject) -> None:
        if threading.get_ident() != loop_thread:  # the simulators' thread
            handshake(self)
            clock.other_handshakes += 1
            return
        started = time.perf_counter()
        try:
            handshake(self)
            clock.handshakes += 1
        finally:
            spent = time.perf_counter() - started
            clock.handshake_time += spent
            clock.handshake_max = max(clock.handshake_max, spent)

    selector.select = select  # type: ignore[method-assign]
    ssl.SSLObject.do_handshake = timed_handshake  # type: ignore[method-assign]
    try:
        yield
    finally:
        selector.select = original  # type: ignore[method-assign]
        ssl.SSLObject.do_handshake = handshake  # type: ignore[method-assign]


class Watchdog:
    """Heartbeat in the loop plus a thread that samples the loop thread's stack in long stalls."""

    def __init__(self, clock: LoopClock, limit: float) -> None:
        self.clock = clock
        self.limit = limit
        self.last_beat = time.perf_counter()
        self.stall_no = 0
        self._stop = threading.Event()
        self._loop_thread = threading.get_ident()
        self._thread = threading.Thread(target=self._watch, name="stall-watchdog", daemon=True)

    async def beat(self) -> None:
        while True:
            before = time.perf_counter()
            self.last_beat = before
            await asyncio.sleep(HEARTBEAT)
            late = time.perf_counter() - before - HEARTBEAT
            sample = self.clock.stacks.get(self.stall_no)
            if sample is not None:
                self.clock.stalls.append((late, sample[1]))
            if late > self.clock.max_stall:
                self.clock.max_stall = late
                self.clock.stall_stack = sample[1] if sample else None
            self.stall_no += 1

    def _watch(self) -> None:
        while not self._stop.wait(0.005):
            stalled = time.perf_counter() - self.last_beat
            if stalled < self.limit * 0.8 or self.stall_no in self.clock.stacks:
                continue
            frame = sys._current_frames().get(self._loop_thread)  # noqa: SLF001
            if frame is not None:
                stack = "".join(traceback.format_stack(frame, limit=12)) + describe(frame)
                self.clock.stacks[self.stall_no] = (stalled, stack)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)


def describe(frame: Any) -> str:
    """What the stalled frame works on where the stack alone does not say (the side of a TLS
    handshake)."""
    while frame is not None:
        owner = frame.f_locals.get("self")
        sslobj = getattr(owner, "_sslobj", None)
        if sslobj is not None and hasattr(sslobj, "server_side"):
            side = "server (a simulator)" if sslobj.server_side else "client (the tool)"
            return f"  -> OpenSSL handshake in the event loop, {side} side\n"
        frame = frame.f_back
    return ""


# -- the flows ------------------------------------------------------------------------------------


@dataclass
class Case:
    """One flow run: the flow, its job data and answers (the scenario follows from the flow)."""

    name: str
    data: dict[str, Any]
    answers: dict[str, Any]


def work_order(name: str) -> dict[str, Any]:
    """A demo work order (``resources/demo/jobs/<name>.json``) as job data."""
    import json

    from app.resources import resource_path

    return json.loads(resource_path("demo", "jobs", f"{name}.json").read_text("utf-8"))


def cases() -> dict[str, Case]:
    from app.processes.flows.meter_change import NOTE_PROMPT, SEAL_PROMPT, SWAP_PROMPT

    consumer = "ethe0390000001.lv"
    trust = {TRUST: True}
    return {c.name: c for c in (
        Case("connection_test", {}, trust),
        Case("technical_data", {"job": work_order("handover")}, trust),
        Case("logs", {"job": work_order("handover"), "kinds": ["system", "consumer"],
                      "users": {"consumer": consumer}}, trust),
        Case("self_test", {}, trust),
        Case("handover", {"job": work_order("handover")}, trust),
        Case("pairing", {"job": work_order("handover"), "server_id": "1EMH0012345678",
                         "crypto_reset": "no"}, trust),
        Case("meter_change", {"job": work_order("meter-change"), "users": {"consumer": consumer},
                              "detect_seconds": 5, "values_wait_seconds": 5},
             {**trust, SEAL_PROMPT.en: "DE-4711-0815", NOTE_PROMPT.en: "", SWAP_PROMPT.en: True}),
        Case("discovery", {"job": work_order("handover")}, trust),
    )}


@dataclass
class Row:
    flow: str
    outcome: str
    wall: float
    clock: LoopClock


async def measure(case: Case, data_dir: Path, limit: float) -> Row:
    from app.processes.engine import Engine
    from app.processes.flows import by_name
    from app.processes.flows.gwa_common import close_run_links
    from app.processes.interaction import ScriptedInteraction
    from app.sim.demo_site import scenario_for_flow
    from app.sim.embedded import EmbeddedDefault
    from app.store.audit import AuditLog
    from app.store.db import JobStore

    flow = by_name(case.name)
    demo = EmbeddedDefault(scenario=scenario_for_flow(case.name), data_dir=data_dir,
                           threaded=True, fresh=True)
    await demo.start()
    try:
        loop = asyncio.get_running_loop()
        clock = LoopClock()
        dog = Watchdog(clock, limit)
        engine = Engine(JobStore(data_dir / "jobs.sqlite3"), AuditLog(data_dir / "audit.sqlite3"),
                        ScriptedInteraction(case.answers), demo.context)
        dog.start()
        beat = asyncio.ensure_future(dog.beat())
        try:
            with instrumented(loop, clock):
                started = time.perf_counter()
                result = await engine.run(flow, case.data)
                wall = time.perf_counter() - started
        finally:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat
            dog.stop()
            await close_run_links(demo.context)
    finally:
        await demo.stop()
    outcome = result.outcome if result.succeeded else f"{result.outcome} at {result.failed_step}"
    if not result.succeeded and result.error is not None:
        print(f"{case.name}: {result.error.en}", file=sys.stderr)
    return Row(case.name, outcome, wall, clock)


def print_table(rows: list[Row], limit_ms: float) -> None:
    head = (f"{'flow':16} {'outcome':10} {'wall s':>7} {'network':>8} {'thread':>7} "
            f"{'timer':>7} {'busy':>7} {'wall/net':>9} {'busy %':>7} {'TLS n':>6} "
            f"{'TLS s':>6} {'TLS max':>8} {'stall ms':>9}")
    print(head)
    print("-" * len(head))
    for r in rows:
        c = r.clock
        busy = max(0.0, r.wall - c.blocked)
        ratio = f"{r.wall / c.network:9.0f}" if c.network > 1e-6 else f"{'inf':>9}"
        print(f"{r.flow:16} {r.outcome[:10]:10} {r.wall:7.2f} {c.network:8.3f} {c.thread:7.3f} "
              f"{c.timer:7.2f} {busy:7.2f} {ratio} {100 * busy / r.wall:6.1f}% "
              f"{c.handshakes:6d} {c.handshake_time:6.2f} {1000 * c.handshake_max:6.1f}ms "
              f"{1000 * c.max_stall:9.1f}")
    total = sum(r.wall for r in rows)
    net = sum(r.clock.network for r in rows)
    busy = sum(max(0.0, r.wall - r.clock.blocked) for r in rows)
    print("-" * len(head))
    print(f"all flows: wall {total:.2f} s, pure network {net:.3f} s (wall/network "
          f"{total / max(net, 1e-9):.0f}x), busy in the loop {busy:.2f} s "
          f"({100 * busy / max(total, 1e-9):.0f} % of wall), deliberate waits "
          f"{sum(r.clock.timer for r in rows):.2f} s")
    shakes = sum(r.clock.handshakes for r in rows)
    print(f"TLS handshakes in the tool's loop (client side): {shakes}, "
          f"{sum(r.clock.handshake_time for r in rows):.2f} s of CPU, longest single call "
          f"{1000 * max(r.clock.handshake_max for r in rows):.1f} ms; in the simulators' "
          f"thread: {sum(r.clock.other_handshakes for r in rows)} handshake calls")
    worst = max(rows, key=lambda r: r.clock.max_stall)
    print(f"longest event-loop stall: {1000 * worst.clock.max_stall:.1f} ms in {worst.flow} "
          f"(limit {limit_ms:g} ms)")
    caught = sorted(((late, stack, r.flow) for r in rows for late, stack in r.clock.stalls
                     if late * 1000 > limit_ms), key=lambda item: -item[0])
    for late, stack, flow in caught[:3]:
        print(f"stall of {1000 * late:.1f} ms in {flow}; the loop thread was in:")
        print("\n".join(stack.rstrip().splitlines()[-8:]))
    if worst.clock.max_stall * 1000 > limit_ms and worst.clock.stall_stack is None:
        print("(the longest stall ended before the watchdog sampled the loop thread)")


async def run(names: list[str], limit_ms: float, base: Path) -> list[Row]:
    all_cases = cases()
    rows = []
    for name in names:
        rows.append(await measure(all_cases[name], base / "data", limit_ms / 1000))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--flows", default=",".join(FLOWS),
                        help=f"comma-separated, from: {', '.join(FLOWS)}")
    parser.add_argument("--stall-limit-ms", type=float, default=50.0)
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.flows.split(",") if n.strip()]
    unknown = [n for n in names if n not in FLOWS]
    if unknown:
        parser.error(f"unknown flows: {', '.join(unknown)}")
    with tempfile.TemporaryDirectory(prefix="smgwct-bench-") as tmp:
        base = Path(tmp)
        os.environ["SMGWCT_CONFIG_DIR"] = str(base / "config")
        os.environ["SMGWCT_DATA_DIR"] = str(base / "data")
        os.environ.setdefault("SMGWCT_LANG", "en")
        rows = asyncio.run(run(names, args.stall_limit_ms, base))
    print_table(rows, args.stall_limit_ms)
    failed = [r for r in rows if r.outcome != "succeeded"]
    stall = max(r.clock.max_stall for r in rows) * 1000
    if failed:
        print(f"flows that did not succeed: {', '.join(r.flow for r in failed)}")
    return 1 if stall > args.stall_limit_ms or failed else 0


if __name__ == "__main__":
    sys.exit(main())
