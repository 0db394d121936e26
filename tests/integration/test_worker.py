"""The stage worker's poll loop against a real broker (tansu), with a handler we control."""

from __future__ import annotations

import threading
import time

import pytest
from kafka import KafkaConsumer
from kafka.structs import TopicPartition

from silico.local.stack import start_broker
from silico.runtime.kafka import Producer, ensure_topics, requests_topic, results_topic, run_worker

pytestmark = pytest.mark.integration

STAGE = "critic"


@pytest.fixture
def broker(tmp_path):
    b = start_broker(tmp_path)
    addr = f"127.0.0.1:{b.port}"
    ensure_topics(addr, [requests_topic(STAGE), results_topic(STAGE)], partitions=1)
    yield addr
    b.stop()


def _drive(addr: str, names: tuple[str, ...], handle, until) -> None:  # type: ignore[no-untyped-def]
    """Send ``names`` as units to one partition, run a worker (2 at once) until
    ``until()`` holds, give it a loop turn or two to commit, then stop it."""
    p = Producer(addr)
    for name in names:
        p.send(requests_topic(STAGE), name, name.encode())
    p.close()
    stop = threading.Event()
    t = threading.Thread(
        target=run_worker,
        args=(STAGE, addr, handle, lambda key, err: err.encode(), stop),
        kwargs={"concurrency": 2, "retry_pause": 0.2},
        daemon=True,
    )
    t.start()
    deadline = time.monotonic() + 60
    while not until() and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.5)
    stop.set()
    t.join(30)


def _committed(addr: str) -> int | None:
    c = KafkaConsumer(bootstrap_servers=addr, group_id=f"silico-{STAGE}")
    try:
        return c.committed(TopicPartition(requests_topic(STAGE), 0))
    finally:
        c.close()


def test_a_slow_unit_does_not_hold_back_the_units_after_it(broker):
    """Concurrency 2, one partition: a slow unit, then two fast ones. The second fast
    unit takes the first one's slot as soon as it is free (the worker used to wait for
    the whole poll, slow unit included, before taking it). Every offset is committed."""
    finished: dict[str, float] = {}
    lock = threading.Lock()

    def handle(value: bytes) -> tuple[str, bool]:
        name = value.decode()
        time.sleep(4.0 if name == "slow" else 0.2)
        with lock:
            finished[name] = time.monotonic()
        return name, False

    _drive(broker, ("slow", "fast1", "fast2"), handle, lambda: len(finished) == 3)
    assert set(finished) == {"slow", "fast1", "fast2"}
    assert finished["fast2"] < finished["slow"]
    assert _committed(broker) == 3


def test_a_failing_unit_retries_in_its_slot_and_later_units_go_on(broker):
    """The first unit fails twice, then passes; the ones after it are handled
    meanwhile, and the offset is committed past all of them only once it passed."""
    calls: dict[str, int] = {}
    lock = threading.Lock()

    def handle(value: bytes) -> tuple[str, bool]:
        name = value.decode()
        with lock:
            calls[name] = calls.get(name, 0) + 1
            n = calls[name]
        if name == "flaky" and n < 3:
            raise RuntimeError("not yet")
        return name, False

    _drive(broker, ("flaky", "a", "b"), handle, lambda: calls.get("flaky", 0) == 3)
    assert calls == {"flaky": 3, "a": 1, "b": 1}
    assert _committed(broker) == 3
