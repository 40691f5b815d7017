"""Claims serialize runs on one (node, height) without the orchestrator: write-once, waited for, taken
over when expired, released only by their holder — on the folder sink and on S3 (moto over HTTP)."""

from __future__ import annotations

import itertools
import os
import pickle
import threading
import time

import pytest

from evmdigest.emit import open_sink
from evmdigest.segments import claim_key
from evmdigest.verdict.claim import Claim, ClaimError, ClaimLost, ClaimTimeout, HeightClaim
from tests.plugins.s3 import Fault, FaultProxy, S3Target
from tests.plugins.sinks import AnySink

HEIGHT = 42
FAST = {"poll": 0.05, "max_poll": 0.2, "settle": 0.05}


def _claim(any_sink: AnySink, run: str, **options: float) -> HeightClaim:
    return HeightClaim(any_sink.sink, HEIGHT, "node-a", run_id=run, **{**FAST, **options})


def test_a_claim_is_a_write_once_object_naming_its_run_and_released_after(any_sink: AnySink) -> None:
    with _claim(any_sink, "run-1") as held:
        stored = Claim.model_validate(any_sink.sink.read_document(claim_key(HEIGHT, "node-a")))
        assert (stored.run_id, stored.pid, stored.host, stored.height) == (
            "run-1",
            os.getpid(),
            os.uname().nodename,
            HEIGHT,
        )
        assert held.key == "node-a/claims/claim-42.json" and 590 < stored.seconds_left() <= 600
        held.confirm()
        assert any_sink.sink.list_keys() == []  # a claim is not a record
    assert any_sink.sink.list_keys(include_control=True) == []


def test_a_second_run_waits_then_fails_naming_the_holder(any_sink: AnySink) -> None:
    with _claim(any_sink, "run-1"):
        started = time.monotonic()
        with pytest.raises(ClaimTimeout) as err:
            _claim(any_sink, "run-2", wait=0.5).acquire()
        assert 0.5 <= time.monotonic() - started < 5
    message = str(err.value)
    assert "height 42 on node node-a is claimed by run run-1" in message and "waited 0.5 s" in message
    assert "Hint:" in message and "\n" not in message and err.value.exit_code == 2
    assert str(pickle.loads(pickle.dumps(err.value))) == message


def test_a_waiting_run_gets_the_claim_once_it_is_released(any_sink: AnySink) -> None:
    first = _claim(any_sink, "run-1")
    first.acquire()
    threading.Timer(0.4, first.release).start()
    second = _claim(any_sink, "run-2", wait=10)
    assert second.acquire().run_id == "run-2"
    second.confirm()
    second.release()


def test_concurrent_runs_never_hold_the_claim_at_once(any_sink: AnySink) -> None:
    spans: list[tuple[float, float]] = []
    lock = threading.Lock()

    def run(n: int) -> None:
        with _claim(any_sink, f"run-{n}", wait=30):
            start = time.monotonic()
            time.sleep(0.05)
            with lock:
                spans.append((start, time.monotonic()))

    threads = [threading.Thread(target=run, args=(n,)) for n in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    spans.sort()
    assert len(spans) == 5
    assert all(end <= next_start for (_, end), (next_start, _) in itertools.pairwise(spans))


def test_an_expired_claim_of_a_crashed_run_is_taken_over_and_the_old_holder_loses_it(any_sink: AnySink) -> None:
    crashed = _claim(any_sink, "crashed", ttl=0.2)
    crashed.acquire()  # never released: the run was killed
    messages: list[str] = []
    taker = HeightClaim(any_sink.sink, HEIGHT, "node-a", run_id="taker", wait=10, log=messages.append, **FAST)
    assert taker.acquire().run_id == "taker"
    assert any("taking over the expired claim of run crashed" in m for m in messages)
    with pytest.raises(ClaimLost, match="now held by run taker"):
        crashed.confirm()
    assert crashed.release() is False  # never deletes someone else's claim
    taker.confirm()
    assert taker.release() is True


def test_a_taker_never_deletes_a_claim_newer_than_the_expired_one_it_saw(any_sink: AnySink) -> None:
    """The interleaving the re-read guards against, made deterministic: B judged the old claim expired,
    A took it over meanwhile; B's takeover must leave A's claim alone."""
    _claim(any_sink, "crashed", ttl=0.1).acquire()
    time.sleep(0.2)
    seen_by_b = Claim.model_validate(any_sink.sink.read_document(claim_key(HEIGHT, "node-a")))
    a = _claim(any_sink, "a", wait=5)
    a.acquire()
    b = _claim(any_sink, "b", wait=5)
    assert b._take_over(seen_by_b) is None
    a.confirm()
    a.release()


def test_concurrent_takers_of_one_expired_claim_hold_it_one_at_a_time(any_sink: AnySink) -> None:
    _claim(any_sink, "crashed", ttl=0.1).acquire()
    time.sleep(0.2)
    spans: list[tuple[float, float]] = []
    lock = threading.Lock()
    barrier = threading.Barrier(4)

    def run(n: int) -> None:
        barrier.wait()
        with _claim(any_sink, f"taker-{n}", wait=30, settle=0.3):
            start = time.monotonic()
            time.sleep(0.05)
            with lock:
                spans.append((start, time.monotonic()))

    threads = [threading.Thread(target=run, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    spans.sort()
    assert len(spans) == 4
    assert all(end <= next_start for (_, end), (next_start, _) in itertools.pairwise(spans))


def test_a_claim_too_close_to_expiry_is_not_published_under(any_sink: AnySink) -> None:
    claim = _claim(any_sink, "slow", ttl=5)
    claim.acquire()
    with pytest.raises(ClaimLost, match="expires in"):
        claim.confirm()
    claim.release()


def test_an_unreadable_claim_is_never_taken_over(any_sink: AnySink) -> None:
    any_sink.put(claim_key(HEIGHT, "node-a"), b"not json")
    with pytest.raises(ClaimError, match="is not an evm-digest claim"):
        _claim(any_sink, "run-1", wait=1).acquire()


def test_without_s3_delete_object_a_claim_stays_and_its_expiry_cannot_be_taken_over(
    s3_bucket: S3Target, s3_fault_proxy: FaultProxy
) -> None:
    """AccessDenied on DeleteObject comes from the fault proxy: moto enforces no IAM policy."""
    s3_fault_proxy.inject(Fault(403, "AccessDenied", method="DELETE"))
    via = s3_fault_proxy.target(s3_bucket)
    sink = open_sink(via.url("evm"), endpoint_url=via.endpoint_url, max_attempts=1)
    messages: list[str] = []
    first = HeightClaim(sink, HEIGHT, "node-a", run_id="run-1", ttl=0.3, log=messages.append, **FAST)
    first.acquire()
    assert first.release() is False and "could not release the claim" in messages[-1]
    time.sleep(0.4)
    with pytest.raises(ClaimError) as err:
        HeightClaim(sink, HEIGHT, "node-a", run_id="run-2", wait=5, **FAST).acquire()
    assert "cannot be removed" in str(err.value) and "s3:DeleteObject" in err.value.hint
