"""Kafka plumbing (kafka-python): topics, producers, and the stage worker loop.

Delivery is at least once: a worker commits a message's offset only after
its result is stored and announced; a redelivered message finds its result
already stored (idempotent by unit key) and is only re-announced.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from kafka import KafkaConsumer, KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError
from kafka.structs import OffsetAndMetadata, TopicPartition
from prometheus_client import Counter, Gauge, Histogram

from silico.llm import ModelResponseError, ModelServerError
from silico.pipeline.registry import QUEUED

log = logging.getLogger("silico.kafka")

#: The stages whose units travel over Kafka (from the one registry of stages).
STAGE_TOPICS = QUEUED

PROCESSED = Counter(
    "silico_worker_messages_total", "Messages handled by a stage worker", ["stage", "outcome"]
)
PROCESS_SECONDS = Histogram(
    "silico_worker_processing_seconds",
    "Time to process one unit",
    ["stage"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)
LAG = Gauge(
    "silico_worker_consumer_lag", "Messages not yet consumed on the request topic", ["stage"]
)


@dataclass(frozen=True)
class KafkaConfig:
    """Where the brokers are and how to reach them.

    The topics carry respondents' demographics and persona backstories: outside one
    machine, use ``SSL`` (TLS) or ``SASL_SSL`` (TLS and SCRAM credentials, as a
    Strimzi ``KafkaUser`` gets), with the cluster's CA.
    """

    bootstrap: str
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str = "SCRAM-SHA-512"
    username: str = ""
    password: str = ""
    ca_file: str = ""

    def client_args(self) -> dict[str, Any]:
        """Keyword arguments for every kafka-python client."""
        args: dict[str, Any] = {"bootstrap_servers": self.bootstrap}
        if self.security_protocol not in ("PLAINTEXT", "SSL", "SASL_SSL", "SASL_PLAINTEXT"):
            raise ValueError(f"unknown Kafka security protocol {self.security_protocol!r}")
        if self.security_protocol == "PLAINTEXT":
            return args
        args["security_protocol"] = self.security_protocol
        if "SSL" in self.security_protocol:
            args["ssl_check_hostname"] = True
            if self.ca_file:
                args["ssl_cafile"] = self.ca_file
        if self.security_protocol.startswith("SASL"):
            args["sasl_mechanism"] = self.sasl_mechanism
            args["sasl_plain_username"] = self.username
            args["sasl_plain_password"] = self.password
        return args


def _config(kafka: str | KafkaConfig) -> KafkaConfig:
    return kafka if isinstance(kafka, KafkaConfig) else KafkaConfig(kafka)


def requests_topic(stage: str) -> str:
    return f"{stage}.requests.v1"


def results_topic(stage: str) -> str:
    return f"{stage}.results.v1"


def dlq_topic(stage: str) -> str:
    return f"{requests_topic(stage)}.dlq"


def all_topics(stages: Iterable[str] = STAGE_TOPICS) -> list[str]:
    return [t for s in stages for t in (requests_topic(s), results_topic(s), dlq_topic(s))]


def ensure_topics(
    bootstrap: str | KafkaConfig,
    topics: Iterable[str | NewTopic],
    partitions: int = 4,
    timeout: float = 30.0,
) -> int:
    """Create missing topics (a no-op for existing ones); retries while the broker starts.

    ``topics`` are names (created with ``partitions`` and one replica) or
    ``NewTopic``s with their own settings. Returns how many were created.
    """
    wanted = [t if isinstance(t, NewTopic) else NewTopic(t, partitions, 1) for t in topics]
    deadline = time.monotonic() + timeout
    while True:
        try:
            admin = KafkaAdminClient(**_config(bootstrap).client_args(), request_timeout_ms=5000)
            try:
                existing = set(admin.list_topics())
                new = [t for t in wanted if t.name not in existing]
                if new:
                    try:
                        admin.create_topics(new)
                    except TopicAlreadyExistsError:
                        pass
            finally:
                admin.close()
            return len(new)
        except KafkaError as e:
            if time.monotonic() > deadline:
                raise
            log.info("broker not ready (%s); retrying", e)
            time.sleep(0.5)


def make_producer(bootstrap: str | KafkaConfig) -> KafkaProducer:
    return KafkaProducer(
        **_config(bootstrap).client_args(),
        acks="all",
        retries=5,
        linger_ms=5,
        request_timeout_ms=10000,
    )


class Producer:
    """A producer that is rebuilt after a failure.

    After a broker restart an idempotent producer can fail for good
    (UnknownProducerId); a fresh producer is the remedy.
    """

    def __init__(self, bootstrap: str | KafkaConfig) -> None:
        self.bootstrap = bootstrap
        self._p: KafkaProducer | None = None
        self._lock = threading.Lock()

    def send(self, topic: str, key: str, value: bytes, timeout: float = 15.0) -> None:
        with self._lock:
            for attempt in range(3):
                try:
                    if self._p is None:
                        self._p = make_producer(self.bootstrap)
                    self._p.send(topic, key=key.encode(), value=value).get(timeout=timeout)
                    return
                except KafkaError as e:
                    log.warning("produce to %s failed (%s); new producer", topic, e)
                    self._reset()
                    if attempt == 2:
                        raise
                    time.sleep(0.5 * (attempt + 1))

    def _reset(self) -> None:
        if self._p is not None:
            try:
                self._p.close(timeout=1)
            except Exception:
                pass
        self._p = None

    def close(self) -> None:
        with self._lock:
            self._reset()


def make_consumer(
    bootstrap: str | KafkaConfig, topics: list[str], group: str, max_records: int = 1
) -> KafkaConsumer:
    # A short session timeout makes a consumer-group join take about a second
    # (the default ~24 s stalls every start and restart).
    return KafkaConsumer(
        *topics,
        **_config(bootstrap).client_args(),
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=2000,
        heartbeat_interval_ms=500,
        max_poll_records=max_records,
        max_poll_interval_ms=900_000,
        request_timeout_ms=30_000,
        # Notice re-created topics (after a broker restart) within seconds.
        metadata_max_age_ms=5000,
        # fetch_max_wait_ms stays at its 500 ms default: tansu answers a waiting fetch
        # as soon as data arrives (4 ms median hand-off either way, measured), and at
        # 50 ms an idle consumer used 4.0 % of a core instead of 0.7 %.
    )


class PoisonMessage(Exception):
    """A message that can never be processed (undecodable, invalid): goes to the DLQ."""


@dataclass
class WorkerStats:
    processed: int = 0
    redelivered: int = 0
    dead_lettered: int = 0
    retried: int = 0


_OK, _DEAD, _RETRY = "ok", "dead_letter", "retry"


def run_worker(
    stage: str,
    bootstrap: str | KafkaConfig,
    handle: Callable[[bytes], tuple[str, bool]],
    announce: Callable[[str, str], bytes],
    stop: threading.Event,
    group: str | None = None,
    retry_pause: float = 2.0,
    concurrency: int = 1,
    max_unit_attempts: int = 5,
) -> WorkerStats:
    """The poll loop of a stage worker.

    ``handle(value)`` processes one request and returns ``(unit_key,
    already_stored)``; it raises :class:`PoisonMessage` for messages that can
    never succeed (sent to ``<topic>.dlq``) and any other exception for
    transient failures (the message is re-read after a backoff from ``retry_pause``,
    doubling while failures go on, capped at 30 s, with jitter).
    A unit that fails ``max_unit_attempts`` times, or whose failure cannot pass
    (:func:`permanent`: the model server refused the request, the store refused
    the data), is dead-lettered too; an unreachable model server or store
    (:func:`transient`) is waited for however long it takes.
    ``announce(unit_key, error)`` builds the result event (no error: ok); a
    poison message is announced too (with its error), so that the study it
    belongs to fails at once instead of waiting for a result that never comes.

    Up to ``concurrency`` messages are handled at once, so that the model
    server can batch their requests as it does for the in-process runner. A
    finished message's slot is refilled at once (the worker used to wait for a
    whole poll's messages, so every batch waited for its slowest unit). A
    failed message is retried in its slot after the backoff. Offsets are
    committed per partition only up to the first message that has not
    finished; after a crash the messages after it that did finish are
    redelivered and found already stored.
    """
    # Every outcome exported at 0 from the start: a series that first appears at
    # its first increment has no rate until its second, and a stage's first unit
    # would be missing from the dashboard's rates.
    for outcome in ("processed", "redelivered", "retry", "dead_letter"):
        PROCESSED.labels(stage, outcome)
    PROCESS_SECONDS.labels(stage)
    LAG.labels(stage)
    stats = WorkerStats()
    producer = Producer(bootstrap)
    consumer: KafkaConsumer | None = None
    topic = requests_topic(stage)
    pool = ThreadPoolExecutor(max(1, concurrency), thread_name_prefix=f"{stage}-unit")
    stats_lock = threading.Lock()

    failures: dict[tuple[str, int, int], int] = {}

    def dead(msg: Any, reason: str) -> str:
        log.error("poison message at %s:%d: %s", msg.topic, msg.offset, reason)
        key = (msg.key or b"").decode(errors="replace")
        producer.send(dlq_topic(stage), key, msg.value)
        if "|" in key:  # a study's unit: its study fails with the reason
            producer.send(results_topic(stage), key, announce(key, reason))
        with stats_lock:
            stats.dead_lettered += 1
        PROCESSED.labels(stage, "dead_letter").inc()
        return _DEAD

    def process(msg: Any) -> str:
        t0 = time.perf_counter()
        where = (msg.topic, msg.partition, msg.offset)
        try:
            key, stored = handle(msg.value)
        except PoisonMessage as e:
            return dead(msg, str(e) or type(e).__name__)
        except Exception as e:
            with stats_lock:
                n = failures[where] = failures.get(where, 0) + 1
            if permanent(e) or (n >= max_unit_attempts and not transient(e)):
                # Re-sending it cannot help, and it would block its partition for good.
                with stats_lock:
                    failures.pop(where, None)
                return dead(msg, f"{type(e).__name__}: {e} (attempt {n})")
            log.warning(
                "unit failed (%s%s); will retry",
                type(e).__name__,
                ": waiting for the model server or the store" if transient(e) else f": {e}",
            )
            with stats_lock:
                stats.retried += 1
            PROCESSED.labels(stage, "retry").inc()
            return _RETRY
        with stats_lock:
            failures.pop(where, None)
        producer.send(results_topic(stage), key, announce(key, ""))
        with stats_lock:
            stats.processed += 1
            stats.redelivered += int(stored)
        PROCESSED.labels(stage, "redelivered" if stored else "processed").inc()
        PROCESS_SECONDS.labels(stage).observe(time.perf_counter() - t0)
        return _OK

    rng = random.Random()

    def later(msg: Any) -> str:
        """A failed message again, after the backoff (abandoned when stopping)."""
        with stats_lock:
            n = failures.get((msg.topic, msg.partition, msg.offset), 1)
        if stop.wait(backoff(n, retry_pause, rng)):
            return _RETRY
        return process(msg)

    # In flight: future -> message; per partition, offsets not yet committable.
    inflight: dict[Future[str], Any] = {}
    open_offsets: dict[TopicPartition, dict[int, bool]] = {}

    def harvest(done: Iterable[Future[str]]) -> None:
        for fut in done:
            msg = inflight.pop(fut)
            try:
                outcome = fut.result()
            except Exception as e:  # a failed produce: retry the unit
                log.warning("unit at %s:%d not announced (%s)", msg.topic, msg.offset, e)
                outcome = _RETRY
            if outcome != _RETRY:
                open_offsets[TopicPartition(msg.topic, msg.partition)][msg.offset] = True
            elif not stop.is_set():
                inflight[pool.submit(later, msg)] = msg

    def commit(consumer: KafkaConsumer) -> None:
        ready: dict[TopicPartition, OffsetAndMetadata] = {}
        for tp, offsets in open_offsets.items():
            nxt = None
            for off in sorted(offsets):
                if not offsets[off]:
                    break
                del offsets[off]
                nxt = off + 1
            if nxt is not None:
                ready[tp] = OffsetAndMetadata(nxt, "", -1)
        if ready:
            consumer.commit(ready)

    lag_due = 0.0
    try:
        while not stop.is_set():
            try:
                if consumer is None:
                    consumer = make_consumer(
                        bootstrap, [topic], group or f"silico-{stage}", max(1, concurrency)
                    )
                free = max(1, concurrency) - len(inflight)
                if free > 0:
                    # Idle: wait for work. Busy: a short wait, then see what finished.
                    batch = consumer.poll(timeout_ms=200 if inflight else 1000, max_records=free)
                    for tp, msgs in batch.items():
                        for m in msgs:
                            open_offsets.setdefault(tp, {})[m.offset] = False
                            inflight[pool.submit(process, m)] = m
                    done = [f for f in inflight if f.done()]
                else:
                    done, _ = wait(list(inflight), timeout=1.0, return_when=FIRST_COMPLETED)
                harvest(done)
                commit(consumer)
                if time.monotonic() >= lag_due:
                    _update_lag(consumer, stage)
                    lag_due = time.monotonic() + 1.0
            except KafkaError as e:
                log.warning("consumer error (%s); reconnecting", e)
                # What is in flight finishes (and is stored); uncommitted messages
                # come back after the reconnect and are found already stored.
                wait(list(inflight))
                inflight.clear()
                open_offsets.clear()
                _close(consumer)
                consumer = None
                stop.wait(1)
    finally:
        pool.shutdown(wait=True)
        if consumer is not None:
            try:  # what finished while stopping is not redelivered
                harvest(list(inflight))
                commit(consumer)
            except Exception as e:
                log.warning("final commit failed (%s); those units will be redelivered", e)
        _close(consumer)
        producer.close()
    return stats


def backoff(n: int, first: float, rng: random.Random, cap: float = 30.0) -> float:
    """The wait before retry ``n`` (1, 2, ...): exponential from ``first``, capped, with
    full jitter so that workers retrying the same outage do not come back in step.

    >>> all(0 <= backoff(n, 2.0, random.Random(1)) <= min(30.0, 2.0 * 2 ** (n - 1)) for n in range(1, 20))
    True
    """
    return rng.uniform(0, min(cap, first * 2 ** (n - 1)))


def transient(e: BaseException) -> bool:
    """Failures that pass when a service comes back (the model server, the store):
    waited for however long it takes, never counted against the unit."""
    from sqlalchemy.exc import DBAPIError, OperationalError

    if isinstance(e, (ModelServerError, OperationalError, ConnectionError, TimeoutError)):
        return True
    return isinstance(e, DBAPIError) and bool(e.connection_invalidated)


def permanent(e: BaseException) -> bool:
    """Failures no retry can pass: a request the model server refuses (4xx other than
    408/429, or an unusable answer) and data the store refuses."""
    from sqlalchemy.exc import DataError

    if isinstance(e, ModelResponseError):
        return e.status not in (408, 429)
    return isinstance(e, DataError)


def _update_lag(consumer: KafkaConsumer | None, stage: str) -> None:
    if consumer is None:
        return
    try:
        parts = consumer.assignment()
        if not parts:
            return
        ends = consumer.end_offsets(list(parts))
        LAG.labels(stage).set(sum(max(0, ends[p] - consumer.position(p)) for p in parts))
    except Exception:  # lag is best effort
        pass


def _close(consumer: Any) -> None:
    if consumer is not None:
        try:
            consumer.close()
        except Exception:
            pass
