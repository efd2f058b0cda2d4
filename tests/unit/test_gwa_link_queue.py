"""The GWA link's offline queue file: order, idempotent add, states, survival of a reopen."""

from __future__ import annotations

import uuid

from app.errors import Text
from app.store.gwa_queue import GwaQueue, QueueState, normalise_url

URL = "https://GWA.example:8443/"


def test_queue_keeps_requests_in_order_per_gwa_and_survives_a_reopen(tmp_path):
    path = tmp_path / "queue.sqlite"
    keys = [uuid.uuid4() for _ in range(3)]
    queue = GwaQueue(path)
    queue.add(URL, keys[0], "self_test", "EDEM0100000001", b"<a/>", Text("offline", "offline"))
    queue.add("https://gwa.example:8443", keys[1], "time_sync", "EDEM0100000001", b"<b/>")
    queue.add("https://other.example", keys[2], "self_test", "EDEM0100000002", b"<c/>")
    # adding the same key again changes nothing (the first body is what will be sent)
    queue.add(URL, keys[0], "self_test", "EDEM0100000001", b"<changed/>")
    queue.close()

    reopened = GwaQueue(path)
    pending = reopened.pending(URL)
    assert [e.idempotency_key for e in pending] == keys[:2]
    assert pending[0].body == b"<a/>" and pending[0].last_error == Text("offline", "offline")
    assert reopened.count_pending() == 3

    reopened.attempt_failed(keys[0], Text("still offline", "weiterhin offline"))
    reopened.submitted(keys[0], "https://gwa.example:8443/tech/v1/jobs/1")
    reopened.rejected(keys[1], Text("bad", "schlecht"))
    assert reopened.pending(URL) == []
    first = reopened.get(keys[0])
    assert first is not None and first.state is QueueState.SUBMITTED
    assert first.attempts == 2 and first.job_url.endswith("/jobs/1")
    second = reopened.get(keys[1])
    assert second is not None and second.state is QueueState.REJECTED
    assert second.last_error == Text("bad", "schlecht")
    assert reopened.remove(keys[2]) and not reopened.remove(keys[2])
    reopened.close()


def test_urls_are_compared_without_case_of_host_or_trailing_slash():
    assert normalise_url("HTTPS://GWA.Example:8443/") == "https://gwa.example:8443"
    assert normalise_url("https://gwa/base/") == "https://gwa/base"
