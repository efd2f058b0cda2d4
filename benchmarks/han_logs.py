"""HAN log reading: how much of fetching 1500 log entries is spent outside network I/O.

Run: ``.venv/bin/python benchmarks/han_logs.py [--rounds 10] [--entries 1500] [--in-process]``.

The virtual SMGW (default scenario, CONEXA dialect) runs in its own process (``smgwct sim``) on
loopback, so its work does not compete with the client for the interpreter. The client logs in
once (Digest, pinned HAN certificate) and then reads ``--entries`` entries of the system log
``--rounds`` times through ``ThebenAdapter.logs`` - the path the flow and the CLI use. For each
round it records

* total: the whole ``logs()`` call;
* network I/O: the time inside the raw HTTP exchange (``HanHttpClient.request``: sending the
  request, waiting for the gateway, reading the body) - the baseline measured in the same run;
* outside network I/O: total minus network I/O (JSON decoding, type checks, building the
  ``LogEntry`` objects, paging logic).

It also times the parse step alone on a captured body (``json.loads`` + ``parse_log_entry``) as a
cross-check of the difference. ``--in-process`` runs the simulator in a thread of this process
instead (faster to start, but the server then shares the interpreter with the client).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.sim.smgw import Scenario  # noqa: E402
from app.transports.han.base import HanCredentials, LogKind, UserRole  # noqa: E402
from app.transports.han.http import HanResponse  # noqa: E402
from app.transports.han.pinning import PinnedCertificate, fetch_candidate  # noqa: E402
from app.transports.han.theben import ThebenAdapter, _log_items, parse_log_entry  # noqa: E402


class Endpoint:
    """Where the virtual SMGW listens and the certificate it announced."""

    def __init__(self, host: str, port: int, sha256: str, stop: Callable[[], None]) -> None:
        self.host, self.port, self.sha256, self.stop = host, port, sha256, stop


def start_subprocess(data_dir: Path) -> Endpoint:
    env = {**os.environ, "SMGWCT_DATA_DIR": str(data_dir), "SMGWCT_LANG": "en"}
    proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "app", "sim", "--json"], cwd=ROOT, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        endpoint = json.loads(line)
        if str(endpoint.get("protocol", "")).startswith("han-"):
            def stop() -> None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()

            return Endpoint(endpoint["host"], int(endpoint["port"]),
                            endpoint["certificate_sha256"], stop)
    proc.kill()
    raise SystemExit("the virtual SMGW did not start")


def start_thread(data_dir: Path) -> Endpoint:
    from app.sim.embedded import EmbeddedDefault

    loop = asyncio.new_event_loop()
    demo = EmbeddedDefault(data_dir=data_dir)
    ready = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(demo.start())
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    if not ready.wait(60) or demo.context.han is None:
        raise SystemExit("the virtual SMGW did not start")

    def stop() -> None:
        asyncio.run_coroutine_threadsafe(demo.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)

    assert demo.pki is not None
    return Endpoint(demo.context.han.host, demo.context.han.port, demo.pki["han"].sha256, stop)


class TimedHttp:
    """Wraps the adapter's raw HTTP exchange and adds up the time spent in it."""

    def __init__(self, adapter: ThebenAdapter) -> None:
        self.seconds = 0.0
        self.requests = 0
        self.last_body = b""
        self._send: Callable[..., Awaitable[HanResponse]] = adapter.http.request
        adapter.http.request = self._timed  # type: ignore[method-assign]

    async def _timed(self, method: str, path: str, **kwargs: Any) -> HanResponse:
        started = time.perf_counter()
        try:
            response = await self._send(method, path, **kwargs)
        finally:
            self.seconds += time.perf_counter() - started
            self.requests += 1
        self.last_body = response.body
        return response


def parse_only(body: bytes, repeat: int) -> float:
    """Seconds per parse of one ``log`` answer (JSON + entries), median of ``repeat``."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        data = json.loads(body)
        items = _log_items(data["log"])
        [parse_log_entry(LogKind.SYSTEM, item, f"log[{i}]") for i, item in enumerate(items)]
        times.append(time.perf_counter() - started)
    return statistics.median(times)


async def measure(endpoint: Endpoint, rounds: int, entries: int) -> dict[str, Any]:
    candidate = await fetch_candidate(endpoint.host, endpoint.port)
    if candidate.sha256 != endpoint.sha256:
        raise SystemExit("the simulator presents another certificate than it announced")
    pin = PinnedCertificate.from_pem(candidate.pem, group=candidate.group)
    scenario = Scenario.load("default")
    user = scenario.user(scenario.default_user)
    assert user is not None and user.password
    creds = HanCredentials(user.name, user.password, role=UserRole.SERVICE_TECHNICIAN)
    adapter = ThebenAdapter(endpoint.host, endpoint.port, credentials=creds, pin=pin)
    timed = TimedHttp(adapter)
    totals, network = [], []
    try:
        await adapter.connect()
        await adapter.logs(LogKind.SYSTEM, from_index=1, count=entries, timeout=120)  # warm-up
        for _ in range(rounds):
            timed.seconds = 0.0
            started = time.perf_counter()
            got = await adapter.logs(LogKind.SYSTEM, from_index=1, count=entries, timeout=120)
            totals.append(time.perf_counter() - started)
            network.append(timed.seconds)
            if len(got) != entries:
                raise SystemExit(f"expected {entries} entries, got {len(got)}")
    finally:
        await adapter.close()
    return {"totals": totals, "network": network, "body": timed.last_body,
            "requests": timed.requests}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10, help="measured rounds (default 10)")
    parser.add_argument("--entries", type=int, default=1500,
                        help="log entries per round (default 1500 = one request)")
    parser.add_argument("--in-process", action="store_true",
                        help="run the simulator in a thread of this process")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="smgwct-bench-") as tmp:
        start = start_thread if args.in_process else start_subprocess
        endpoint = start(Path(tmp))
        try:
            result = asyncio.run(measure(endpoint, args.rounds, args.entries))
        finally:
            endpoint.stop()

    totals, network = result["totals"], result["network"]
    outside = [t - n for t, n in zip(totals, network, strict=True)]
    total_sum, net_sum, out_sum = sum(totals), sum(network), sum(outside)
    body: bytes = result["body"]
    parse = parse_only(body, max(5, args.rounds)) if body else 0.0
    pages = -(-args.entries // 1500)
    where = "thread of this process" if args.in_process else "separate process"
    print(f"virtual SMGW: {where}, {endpoint.host}:{endpoint.port}")
    print(f"rounds: {args.rounds} x {args.entries} log entries ({pages} request(s) per round, "
          f"last answer {len(body) / 1024:.0f} KiB)")
    print(f"total time:             {total_sum:8.3f} s  "
          f"(median {statistics.median(totals) * 1000:7.1f} ms per round)")
    print(f"network I/O:            {net_sum:8.3f} s  "
          f"(median {statistics.median(network) * 1000:7.1f} ms per round)")
    print(f"outside network I/O:    {out_sum:8.3f} s  "
          f"(median {statistics.median(outside) * 1000:7.1f} ms per round)")
    print(f"share outside network I/O: {out_sum / total_sum:6.1%}")
    print(f"cross-check, parse step alone (median): {parse * 1000:.1f} ms per answer "
          f"({parse * pages / statistics.median(totals):.1%} of a median round)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
