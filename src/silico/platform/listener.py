"""The result listener: stage announcements wake the orchestrator."""

from __future__ import annotations

import logging
import threading
import time

from silico.pipeline.registry import QUEUED, stage
from silico.platform.orchestrator import Orchestrator
from silico.runtime import kafka as k
from silico.v1 import events_pb2

log = logging.getLogger("silico.listener")


def listen(bootstrap: str | k.KafkaConfig, orch: Orchestrator, stop: threading.Event) -> None:
    """Wake the orchestrator whenever a stage announces a unit, fail a study whose unit
    can never succeed, and resync when the broker has lost messages.

    A broker that restarts with in-memory storage comes back with its topics
    empty: the result topics' end offsets drop. Whatever was in flight is
    gone, so the orchestrator sends every unit still missing at once instead
    of waiting ``redeliver_after``.
    """
    consumer = None
    high = 0
    last_check = 0.0
    while not stop.is_set():
        try:
            if consumer is None:
                topics = [stage(s).results_topic for s in QUEUED]
                consumer = k.make_consumer(bootstrap, topics, "silico-study", max_records=100)
            batch = consumer.poll(timeout_ms=500)
            if batch:
                for msgs in batch.values():
                    for m in msgs:
                        _read(m.value, orch)
                consumer.commit()
                orch.wake.set()
            if time.monotonic() - last_check > 2:
                last_check = time.monotonic()
                parts = consumer.assignment()
                if parts:
                    ends = sum(consumer.end_offsets(list(parts)).values())
                    if ends < high:
                        log.warning("broker lost messages (offsets %d -> %d): resync", high, ends)
                        orch.resync()
                    high = ends
        except Exception as e:
            log.warning("result listener: %s; reconnecting", e)
            k._close(consumer)
            consumer = None
            orch.resync()
            stop.wait(1)


def _read(value: bytes, orch: Orchestrator) -> None:
    try:
        done = events_pb2.WorkDone.FromString(value)
    except Exception:
        log.warning("undecodable WorkDone on a result topic: ignored")
        return
    if not done.ok and done.study_id:
        try:
            orch.unit_failed(done)
        except Exception as e:  # never re-read the same announcement forever
            log.warning(
                "failed unit %s of study %s not recorded: %s", done.unit_key, done.study_id, e
            )
