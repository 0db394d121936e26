"""``python -m silico.runtime.topics``: create the stage topics on a Kafka cluster.

The Helm chart runs this as a pre-install Job when the cluster is not managed
by Strimzi; existing topics are left as they are.
"""

from __future__ import annotations

import argparse
import sys

from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from silico.runtime.kafka import STAGE_TOPICS, dlq_topic, requests_topic, results_topic


def plan(
    partitions: int, replication: int, retention_ms: int, dlq_retention_ms: int
) -> list[NewTopic]:
    out = []
    for stage in STAGE_TOPICS:
        for name in (requests_topic(stage), results_topic(stage)):
            out.append(NewTopic(name, partitions, replication, {"retention.ms": str(retention_ms)}))
        out.append(
            NewTopic(
                dlq_topic(stage), partitions, replication, {"retention.ms": str(dlq_retention_ms)}
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
    args = ap.parse_args(argv)
    topics = plan(
        args.partitions, args.replication_factor, args.retention_ms, args.dlq_retention_ms
    )
    try:
        admin = KafkaAdminClient(bootstrap_servers=args.bootstrap, request_timeout_ms=15000)
        try:
            existing = set(admin.list_topics())
            new = [t for t in topics if t.name not in existing]
            if new:
                try:
                    admin.create_topics(new)
                except TopicAlreadyExistsError:
                    pass
        finally:
            admin.close()
    except KafkaError as e:
        print(f"silico-topics: error: {args.bootstrap}: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    print(f"{len(new)} topics created, {len(topics) - len(new)} already there")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
