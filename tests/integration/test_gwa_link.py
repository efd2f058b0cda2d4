"""GWA link end to end: the tool's client against the reference GWA's technician API over real
mutual TLS on loopback (brainpool, WAN profile), with a scripted GWA core behind it."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import aiohttp
import pytest

from app.context import AppContext, Link, LinkState
from app.domain import SmgwId
from app.protocols.admin import (
    CallMethod,
    JobEvents,
    JobState,
    JobStatus,
    ProcessRequest,
    Reason,
    Response,
    SelfTest,
    Step,
    TimeSync,
    from_xml,
    to_xml,
)
from app.security import tls
from app.security.pki import DemoPki, create_demo_pki
from app.transports.gwa import GwaLink, GwaLinkError, JobResult, Queued
from app.transports.gwa.problem import decode_problem
from app.transports.gwa.sse import SseParser
from tests.integration.test_gwa_link_support import (
    SMGW,
    STEPS,
    DropRelay,
    FakeGwa,
    Result,
    free_port,
    lose_post_answers,
    start_server,
    target_for,
)

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def other_pki(tmp_path_factory: pytest.TempPathFactory) -> DemoPki:
    """A second, unrelated PKI: its technician certificate must be refused."""
    pki = create_demo_pki("EDEM0100000001")
    pki.write(Path(tmp_path_factory.mktemp("other-pki")))
    return pki


@pytest.fixture
async def servers(demo_pki: DemoPki, tmp_path: Path):
    """Start technician APIs; all are closed at the end of the test."""
    handles = []

    async def start(core, **kwargs):
        kwargs.setdefault("jobs_path", tmp_path / "gwa-jobs.sqlite")
        handle = await start_server(demo_pki, core, **kwargs)
        handles.append(handle)
        return handle

    yield start
    for handle in handles:
        await handle.close()


def _link(demo_pki: DemoPki, url: str, tmp_path: Path, **kwargs) -> GwaLink:
    kwargs.setdefault("backoff", (0.05, 0.1, 0.2))
    return GwaLink(target_for(demo_pki, url), queue_path=tmp_path / "queue.sqlite", **kwargs)


def _raw_session(demo_pki: DemoPki, pki_for_client: DemoPki | None = None):
    context = tls.client_context(
        tls.Interface.WAN, trust=[demo_pki.trust_pem()],
        own=(pki_for_client or demo_pki).tls_chain("technician"), group=demo_pki.curve)
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context))


def _request_body(key: uuid.UUID, call=None) -> bytes:
    return to_xml(ProcessRequest(key, SmgwId(SMGW), CallMethod(call or SelfTest())))


async def test_run_gets_202_and_job_url_and_follows_progress_to_the_end(
        demo_pki, servers, tmp_path):
    core = FakeGwa()
    handle = await servers(core)
    # the raw exchange: 202, Location, jobStatus
    key = uuid.uuid4()
    async with _raw_session(demo_pki) as session:
        async with session.post(f"{handle.url}/tech/v1/processes", data=_request_body(key),
                                headers={"Content-Type": "application/xml",
                                         "Idempotency-Key": str(key)}) as resp:
            assert resp.status == 202
            location = resp.headers["Location"]
            accepted = from_xml(await resp.read(), expect=JobStatus)
        assert location == f"/tech/v1/jobs/{accepted.job_id}"
        assert accepted.idempotency_key == key
        assert accepted.state in (JobState.QUEUED, JobState.RUNNING)

    context = AppContext()
    seen = []
    async with _link(demo_pki, handle.url, tmp_path, context=context) as link:
        result = await link.run("time_sync", SMGW, {"server": "ntp://ntp.example"},
                                progress=seen.append)
    assert isinstance(result, JobResult) and result.ok
    assert result.state is JobState.SUCCEEDED
    assert result.job_url == f"{handle.url}/tech/v1/jobs/{result.job_id}"
    assert [e.sequence for e in seen] == list(range(1, len(STEPS) + 3))
    assert [e.step for e in seen] == [Step.ACCEPTED, *[Step(s) for s in STEPS], Step.FINISHED]
    assert seen[-1].state is JobState.SUCCEEDED
    assert result.status.response is not None and result.status.response.reason is Reason.OK
    # the core got the process by name with typed parameters
    smgw, process, params = core.calls[-1]
    assert (smgw, process) == (SMGW, "time_sync")
    assert isinstance(params["operation"], CallMethod)
    assert params["call"] == TimeSync("ntp://ntp.example")
    status = context.link(Link.GWA)
    assert status.state is LinkState.CONNECTED
    assert status.fingerprint == demo_pki["gwa_tls"].sha256


async def test_status_and_catalog_prove_mutual_tls(demo_pki, servers, tmp_path):
    handle = await servers(FakeGwa(), catalog={"self_test": object(), "handover": object()})
    async with _link(demo_pki, handle.url, tmp_path) as link:
        status = await link.status()
        catalog = {p.name: p for p in await link.catalog()}
    assert status.technician_sha256 == demo_pki["technician"].sha256
    assert status.gwa_sha256 == demo_pki["gwa_tls"].sha256
    assert catalog["self_test"].available
    # a catalogue process that no single administration operation expresses is listed, not offered
    assert not catalog["handover"].available


async def test_sse_stream_resumes_after_last_event_id(demo_pki, servers, tmp_path):
    core = FakeGwa()
    handle = await servers(core)
    async with _link(demo_pki, handle.url, tmp_path) as link:
        result = await link.run("self_test", SMGW)
    url = f"{handle.url}/tech/v1/jobs/{result.job_id}/events"
    async with (
        _raw_session(demo_pki) as session,
        session.get(url, headers={"Accept": "text/event-stream", "Last-Event-ID": "3"}) as resp,
    ):
        assert resp.status == 200
        assert resp.content_type == "text/event-stream"
        items = SseParser().feed(await resp.read())
    assert [int(i.id) for i in items] == list(range(4, result.status.last_event + 1))
    assert all(i.event == "jobEvent" and "\n" not in i.data for i in items)


async def test_long_poll_waits_for_the_next_event_and_follows_to_the_end(
        demo_pki, servers, tmp_path):
    core = FakeGwa(hold_after=2)
    handle = await servers(core)
    async with _link(demo_pki, handle.url, tmp_path, follow_mode="long-poll") as link:
        task = asyncio.create_task(link.run("self_test", SMGW))
        await asyncio.wait_for(core.reached_hold.wait(), 10)
        job_id = _only_job(tmp_path)
        # a long-poll after the last event waits until something happens
        async with _raw_session(demo_pki) as session:
            url = f"{handle.url}/tech/v1/jobs/{job_id}/events"
            async with session.get(url, params={"after": "100", "wait": "0"}) as resp:
                assert resp.status == 200
                empty = from_xml(await resp.read(), expect=JobEvents)
            assert empty.events == () and empty.next == 100
            loop = asyncio.get_running_loop()
            loop.call_later(0.3, core.release)
            started = loop.time()
            async with session.get(url, params={"after": "3", "wait": "20"}) as resp:
                batch = from_xml(await resp.read(), expect=JobEvents)
            assert loop.time() - started < 10
            assert batch.events and batch.events[0].sequence == 4
            assert batch.next == batch.events[-1].sequence
        result = await asyncio.wait_for(task, 20)
    assert result.ok
    assert [e.sequence for e in result.events] == list(range(1, len(STEPS) + 3))


def _only_job(tmp_path: Path) -> uuid.UUID:
    """The job ID of the single job in the store (read through the API's database)."""
    from app.sim.gwa.technician_api import TechnicianJobs

    store = TechnicianJobs(tmp_path / "gwa-jobs.sqlite")
    try:
        jobs = store.jobs_in(JobState.RUNNING, JobState.QUEUED)
    finally:
        store.close()
    assert len(jobs) == 1
    return jobs[0].status.job_id


async def test_the_same_idempotency_key_twice_runs_once(demo_pki, servers, tmp_path):
    core = FakeGwa()
    handle = await servers(core)
    key = uuid.uuid4()
    body = _request_body(key)
    headers = {"Content-Type": "application/xml", "Idempotency-Key": str(key)}
    async with _raw_session(demo_pki) as session:
        url = f"{handle.url}/tech/v1/processes"
        async with session.post(url, data=body, headers=headers) as first:
            assert first.status == 202
            location = first.headers["Location"]
        async with session.post(url, data=body, headers=headers) as again:
            assert again.status == 200
            assert again.headers["Location"] == location
            assert again.headers["Idempotent-Replayed"] == "true"
            replay = from_xml(await again.read(), expect=JobStatus)
        assert location.endswith(str(replay.job_id))
        # same key, other request: refused
        other = _request_body(key, TimeSync())
        async with session.post(url, data=other, headers=headers) as conflict:
            assert conflict.status == 422
            problem = decode_problem(await conflict.read())
        assert problem.code == "idempotency-conflict"
        assert problem.message.de and problem.message.de != problem.message.en
        # header and document disagree
        async with session.post(url, data=_request_body(uuid.uuid4()),
                                headers=headers) as mismatch:
            assert mismatch.status == 422
            assert decode_problem(await mismatch.read()).code == "idempotency-key-mismatch"
        async with session.post(url, data=body,
                                headers={"Content-Type": "application/xml"}) as missing:
            assert missing.status == 400
            assert decode_problem(await missing.read()).code == "missing-idempotency-key"
    # the same key through the link: the existing job is followed, nothing runs again
    await asyncio.sleep(0.3)
    async with _link(demo_pki, handle.url, tmp_path) as link:
        result = await link.run("self_test", SMGW, idempotency_key=key)
    assert result.replayed and result.ok
    assert str(result.job_id) in location
    assert len(core.calls) == 1


async def test_lost_answer_is_retried_with_the_same_key_and_runs_once(
        demo_pki, servers, tmp_path):
    core = FakeGwa()
    state = {"lose": 1}
    handle = await servers(core, middlewares=(lose_post_answers(state),))
    async with _link(demo_pki, handle.url, tmp_path) as link:
        result = await link.run("self_test", SMGW)
    assert state["lost"] == 1
    assert result.ok and result.replayed
    assert len(core.calls) == 1


@pytest.mark.parametrize("mode", ["sse", "long-poll"])
async def test_dropped_connection_mid_follow_resumes_without_losing_events(
        demo_pki, servers, tmp_path, mode):
    from aiohttp import web

    cursors = []

    @web.middleware
    async def record(request, handler):
        if request.path.endswith("/events"):
            cursors.append(int(request.headers.get("Last-Event-ID")
                               or request.query.get("after") or 0))
        return await handler(request)

    core = FakeGwa(hold_after=2)
    handle = await servers(core, middlewares=(record,))
    relay = await DropRelay(handle.port).start()
    delivered = []

    async def progress(event):
        delivered.append(event.sequence)

    try:
        async with _link(demo_pki, relay.url, tmp_path, follow_mode=mode,
                         long_poll_wait=5) as link:
            task = asyncio.create_task(link.run("self_test", SMGW, progress=progress))
            await asyncio.wait_for(core.reached_hold.wait(), 10)
            await asyncio.sleep(0.3)  # the follower is connected and waiting
            before = relay.connections
            relay.cut()
            core.release()  # events 4.. happen while the connection is down
            result = await asyncio.wait_for(task, 30)
    finally:
        await relay.close()
    assert relay.connections > before  # it really had to connect again
    assert cursors[0] == 0 and max(cursors) >= 3  # resumed after what it had seen
    assert result.ok
    expected = list(range(1, len(STEPS) + 3))
    assert delivered == expected  # every event once, in order
    assert [e.sequence for e in result.events] == expected
    assert len(core.calls) == 1


async def test_unreachable_gwa_queues_and_flush_runs_exactly_once(demo_pki, servers, tmp_path):
    port = free_port()
    url = f"https://127.0.0.1:{port}"
    context = AppContext()
    async with _link(demo_pki, url, tmp_path, context=context) as link:
        queued = await link.run("self_test", SMGW, queue_if_offline=True)
        assert isinstance(queued, Queued) and not queued.ok
        assert queued.pending == 1
        status = context.link(Link.GWA)
        assert status.state is LinkState.FAILED
        assert "1 request(s) queued" in status.last_error.en
        assert "vorgemerkt" in status.last_error.de
        with pytest.raises(GwaLinkError) as unreachable:
            await link.run("self_test", SMGW)  # without the queue: a clear TCP error
        assert unreachable.value.kind == "tcp"

    core = FakeGwa()
    await servers(core, port=port)
    # a new link instance (a restarted tool) finds the queue and flushes it
    context = AppContext()
    async with _link(demo_pki, url, tmp_path, context=context) as link:
        assert [e.idempotency_key for e in await link.queued()] == [queued.idempotency_key]
        report = await link.flush()
        assert report.remaining == 0 and report.stopped is None
        assert [r.idempotency_key for r in report.sent] == [queued.idempotency_key]
        assert report.sent[0].ok
        again = await link.flush()
        assert again.sent == () and again.remaining == 0
    assert len(core.calls) == 1
    assert context.link(Link.GWA).state is LinkState.CONNECTED
    assert context.link(Link.GWA).last_error is None


async def test_queued_request_that_had_reached_the_gwa_is_not_run_again(
        demo_pki, servers, tmp_path):
    core = FakeGwa()
    state = {"lose": 10}
    handle = await servers(core, middlewares=(lose_post_answers(state),))
    async with _link(demo_pki, handle.url, tmp_path, submit_attempts=2) as link:
        queued = await link.run("self_test", SMGW, queue_if_offline=True)
        assert isinstance(queued, Queued)
        assert state["lost"] == 2  # both attempts reached the GWA, both answers were lost
        state["lose"] = 0
        report = await link.flush()
    assert len(report.sent) == 1
    sent = report.sent[0]
    assert sent.replayed and sent.ok
    assert sent.idempotency_key == queued.idempotency_key
    assert len(core.calls) == 1


async def test_pairing_is_never_stored_offline(demo_pki, tmp_path):
    url = f"https://127.0.0.1:{free_port()}"
    async with _link(demo_pki, url, tmp_path) as link:
        with pytest.raises(GwaLinkError) as refused:
            await link.run("pairing", SMGW, {"server_id": "1EMH0012345678",
                                             "initial_key": "00" * 16}, queue_if_offline=True)
        assert refused.value.kind == "queue"
        assert await link.queued() == []


async def test_wrong_client_certificate_gives_a_clear_tls_error(
        demo_pki, other_pki, servers, tmp_path):
    core = FakeGwa()
    handle = await servers(core)
    context = AppContext()
    target = target_for(demo_pki, handle.url, client_pki=other_pki)
    async with GwaLink(target, queue_path=tmp_path / "q.sqlite", context=context) as link:
        with pytest.raises(GwaLinkError) as refused:
            await link.run("self_test", SMGW, queue_if_offline=True)
    error = refused.value
    assert error.kind == "tls"
    assert "technician certificate" in error.hint.en
    assert "Techniker-Zertifikat" in error.hint.de
    assert "TLS" in error.message.en
    assert context.link(Link.GWA).state is LinkState.FAILED
    assert core.calls == []


async def test_gwa_certificate_from_another_pki_is_refused(
        demo_pki, other_pki, servers, tmp_path):
    handle = await servers(FakeGwa())
    target = target_for(demo_pki, handle.url, trust_pki=other_pki)
    async with GwaLink(target, queue_path=tmp_path / "q.sqlite") as link:
        with pytest.raises(GwaLinkError) as refused:
            await link.status()
    assert refused.value.kind == "tls"
    assert "rejected" in refused.value.message.en
    assert "CA" in refused.value.hint.en


async def test_pin_mismatch_is_refused(demo_pki, servers, tmp_path):
    handle = await servers(FakeGwa())
    target = target_for(demo_pki, handle.url)
    target.pin_sha256 = "ab" * 32
    async with GwaLink(target, queue_path=tmp_path / "q.sqlite") as link:
        with pytest.raises(tls.PinMismatch):
            await link.status()


async def test_4xx_and_5xx_answers_become_errors_with_the_gwas_reason(
        demo_pki, servers, tmp_path):
    from aiohttp import web

    mode = {"status": 0}

    @web.middleware
    async def failing(request, handler):
        if mode["status"] == 503:
            from app.errors import Text
            from app.transports.gwa.problem import Problem, encode_problem

            body = encode_problem(Problem(503, "busy", Text("GWA busy.", "GWA ausgelastet.")))
            return web.Response(status=503, body=body, content_type="application/problem+xml")
        if mode["status"] == 500:
            raise RuntimeError("boom")
        return await handler(request)

    handle = await servers(FakeGwa(), middlewares=(failing,))
    async with _link(demo_pki, handle.url, tmp_path) as link:
        with pytest.raises(GwaLinkError) as unknown:
            await link.job_status(f"/tech/v1/jobs/{uuid.uuid4()}")
        assert unknown.value.kind == "http" and unknown.value.status == 404
        assert unknown.value.code == "unknown-job"
        assert "no job" in unknown.value.message.en
        assert "keinen Auftrag" in unknown.value.message.de
        assert not unknown.value.offline

        mode["status"] = 503
        with pytest.raises(GwaLinkError) as busy:
            await link.run("self_test", SMGW, queue_if_offline=True)
        assert busy.value.kind == "server" and busy.value.status == 503
        assert "GWA busy." in busy.value.message.en and "ausgelastet" in busy.value.message.de

        mode["status"] = 500
        with pytest.raises(GwaLinkError) as internal:
            await link.status()
        assert internal.value.kind == "server" and internal.value.status == 500
        assert internal.value.code == "internal-error"
        assert await link.queued() == []


async def test_invalid_parameters_are_refused_before_anything_is_sent(
        demo_pki, servers, tmp_path):
    core = FakeGwa()
    handle = await servers(core)
    async with _link(demo_pki, handle.url, tmp_path) as link:
        with pytest.raises(Exception) as bad:
            await link.run("crypto_reset", SMGW, {"server_id": "1EMH0012345678",
                                                  "reason": "because"})
        assert getattr(bad.value, "field", None) == "param reason"
        with pytest.raises(Exception) as unknown:
            await link.run("format_disk", SMGW)
        assert getattr(unknown.value, "field", None) == "process"
    assert core.calls == []


async def test_failed_process_reports_reason_and_gateway_answer(demo_pki, servers, tmp_path):
    def refuse(_process, _params):
        response = Response.of(uuid.uuid4(), Reason.RATE_LIMITED, retry_after_seconds=300)
        return Result(False, data=response, error_code="rejected-by-gateway")

    handle = await servers(FakeGwa(result=refuse))
    async with _link(demo_pki, handle.url, tmp_path) as link:
        result = await link.run("self_test", SMGW)
    assert not result.ok and result.state is JobState.FAILED
    assert result.status.failure is not None
    assert result.status.failure.reason.value == "rejected-by-gateway"
    assert result.status.response is not None and result.status.response.status == 429
    assert "refused" in result.summary.en and "abgelehnt" in result.summary.de


async def test_gwa_restart_keeps_job_states(demo_pki, servers, tmp_path):
    jobs = tmp_path / "restart-jobs.sqlite"
    done_core = FakeGwa()
    first = await servers(done_core, jobs_path=jobs)
    async with _link(demo_pki, first.url, tmp_path) as link:
        finished = await link.run("self_test", SMGW)
        stuck_core = FakeGwa(hold_after=1)
        await first.close()
        second = await servers(stuck_core, jobs_path=jobs)
        link2 = _link(demo_pki, second.url, tmp_path)
        accepted = await link2.run("time_sync", SMGW, follow=False)
        await asyncio.wait_for(stuck_core.reached_hold.wait(), 10)
        await link2.close()
        await second.close()  # the GWA stops while the job runs
        third = await servers(FakeGwa(), jobs_path=jobs)
        async with _link(demo_pki, third.url, tmp_path) as link3:
            kept = await link3.job_status(f"/tech/v1/jobs/{finished.job_id}")
            interrupted = await link3.job_status(f"/tech/v1/jobs/{accepted.job_id}")
    assert kept.state is JobState.SUCCEEDED and kept.last_event == finished.status.last_event
    assert interrupted.state is JobState.FAILED
    assert interrupted.failure is not None and "restart" in (interrupted.failure.detail or "")
    assert len(stuck_core.calls) == 1


async def test_cancel_a_job_that_waits_behind_another(demo_pki, servers, tmp_path):
    core = FakeGwa(hold_after=1)
    handle = await servers(core)
    async with _link(demo_pki, handle.url, tmp_path) as link:
        first = await link.run("self_test", SMGW, follow=False)
        await asyncio.wait_for(core.reached_hold.wait(), 10)
        second = await link.run("time_sync", SMGW, follow=False)  # waits for the gateway
        async with _raw_session(demo_pki) as session:
            async with session.delete(second.job_url) as resp:
                assert resp.status == 200
                assert from_xml(await resp.read(), expect=JobStatus).state is JobState.CANCELLED
            async with session.delete(first.job_url) as resp:
                assert resp.status == 409
        core.release()
        final = await link.run("self_test", SMGW, idempotency_key=first.idempotency_key)
    assert final.ok
    assert [c[1] for c in core.calls] == ["self_test"]


async def test_gateway_events_listed_and_followed(demo_pki, servers, tmp_path):
    core = FakeGwa()
    core.publish("SMGW_STARTED")
    core.publish("METER_DETECTED")
    core.publish("SMGW_STARTED", smgw_id="EDEM0100000002")  # another gateway
    handle = await servers(core)
    async with _link(demo_pki, handle.url, tmp_path) as link:
        listed = [item async for item in link.events(SMGW, follow=False)]
        assert [i.event.code for i in listed] == [1001, 3001]
        assert [i.cursor for i in listed] == [1, 2]
        later = [item async for item in link.events(SMGW, follow=False, after=1)]
        assert [i.event.code for i in later] == [3001]

        cursor = listed[-1].cursor
        for mode in ("sse", "long-poll"):
            link.follow_mode = mode
            link.long_poll_wait = 5
            got = []

            async def follow(after, got=got):
                async for item in link.events(SMGW, follow=True, after=after):
                    got.append(item)
                    if len(got) == 2:
                        return

            task = asyncio.create_task(follow(cursor))
            await asyncio.sleep(0.3)  # the follower waits for news
            first = core.publish("METER_UNREACHABLE")
            await asyncio.sleep(0.1)
            second = core.publish("METER_DETECTED")
            await asyncio.wait_for(task, 15)
            assert [g.event.id for g in got] == [first.event.id, second.event.id], mode
            assert [g.cursor for g in got] == [first.seq, second.seq]  # the GWA's store order
            cursor = got[-1].cursor


async def test_gateway_events_are_relayed_into_a_running_job(demo_pki, servers, tmp_path):
    core = FakeGwa(hold_after=2)
    handle = await servers(core)
    async with _link(demo_pki, handle.url, tmp_path) as link:
        task = asyncio.create_task(link.run("self_test", SMGW))
        await asyncio.wait_for(core.reached_hold.wait(), 10)
        await asyncio.sleep(0.1)
        stored = core.publish("SELF_TEST_PASSED")
        await asyncio.sleep(0.1)
        core.release()
        result = await asyncio.wait_for(task, 20)
    relayed = [e for e in result.events if e.step is Step.SMGW_EVENT]
    assert [e.event.id for e in relayed] == [stored.event.id]
    assert [e.sequence for e in result.events] == list(range(1, len(result.events) + 1))


async def test_slow_gwa_gives_a_timeout_error(demo_pki, servers, tmp_path):
    from aiohttp import web

    @web.middleware
    async def slow(request, handler):
        await asyncio.sleep(1.2)
        return await handler(request)

    handle = await servers(FakeGwa(), middlewares=(slow,))
    context = AppContext()
    async with _link(demo_pki, handle.url, tmp_path, timeout=0.5, context=context) as link:
        with pytest.raises(GwaLinkError) as slow_answer:
            await link.status()
    assert slow_answer.value.kind == "timeout"
    assert "0.5 s" in slow_answer.value.message.en and "0.5 s" in slow_answer.value.message.de
    assert context.link(Link.GWA).state is LinkState.FAILED


async def test_without_an_event_stream_the_link_falls_back_to_long_poll(
        demo_pki, servers, tmp_path):
    from aiohttp import web

    refused = []

    @web.middleware
    async def no_streams(request, handler):  # like a proxy that cannot pass streams
        if "text/event-stream" in request.headers.get("Accept", ""):
            refused.append(request.path)
            return web.Response(status=406, text="no streams here")
        return await handler(request)

    handle = await servers(FakeGwa(), middlewares=(no_streams,))
    async with _link(demo_pki, handle.url, tmp_path, long_poll_wait=2) as link:
        result = await link.run("self_test", SMGW)
    assert refused and result.ok
    assert [e.sequence for e in result.events] == list(range(1, len(STEPS) + 3))
