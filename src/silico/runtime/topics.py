"""``python -m silico.runtime.topics``: create the stage topics on a Kafka cluster.

The Helm chart runs this as a pre-install Job when the cluster is not managed
by Strimzi; existing topics are left as they are.
"""

from __future__ import annotations

import argparse
import sys

from kafka.admin import NewTopic
from kafka.errors import KafkaError

from silico.runtime.kafka import (
    STAGE_TOPICS,
    dlq_topic,
    ensure_topics,
    requests_topic,
    results_topic,
)
from silico.runtime.settings import ServiceSettings


def plan(
    partitions: int, replication: int, retention_ms: int, dlq_retention_ms: int
) -> list[NewTopic]:
    out = []
    for stage in STAGE_TOPICS:
        for name in (requests_topic(stage), results_topic(stage)):
            out.append(
                NewTopic(
                    name, partitions, replication, topic_configs={"retention.ms": str(retention_ms)}
                )
            )
        out.append(
            NewTopic(
                dlq_topic(stage),
                partitions,
                replication,
                topic_configs={"retention.ms": str(dlq_retention_ms)},
            )
        )
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="silico-topics", description=__doc__)
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--partitions", type=int, default=12)
    ap.add_argument("--replication-factor", type=int, default=3)
    ap.add_argument("--retention-ms", type=int, default=7 * 86400_000)
    ap.add_argument("--dlq-retention-ms", type=int, default=30 * 86400_000)
    ap.add_argument(
        "--timeout", type=float, default=120, help="seconds to wait for the broker to answer"
    )
    args = ap.parse_args(argv)
    topics = plan(
        args.partitions, args.replication_factor, args.retention_ms, args.dlq_retention_ms
    )
    try:
        # TLS/SASL from SILICO_KAFKA_* (the same settings the services read).
        kafka = ServiceSettings(kafka=args.bootstrap).kafka_config()
        created = ensure_topics(kafka, topics, timeout=args.timeout)
    except KafkaError as e:
        print(f"silico-topics: error: {args.bootstrap}: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    print(f"{created} topics created, {len(topics) - created} already there")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
