"""The topic-creation Job's command against a real broker."""

from __future__ import annotations

import pytest
from kafka.admin import KafkaAdminClient

from silico.local.stack import start_broker
from silico.runtime.kafka import all_topics
from silico.runtime.topics import main

pytestmark = pytest.mark.integration


def test_topics_job_creates_every_stage_topic_once(tmp_path, capsys):
    broker = start_broker(tmp_path)
    try:
        addr = f"127.0.0.1:{broker.port}"
        assert main([f"--bootstrap={addr}", "--partitions=3", "--replication-factor=1"]) == 0
        assert capsys.readouterr().out.startswith(f"{len(all_topics())} topics created")
        admin = KafkaAdminClient(bootstrap_servers=addr)
        try:
            assert set(all_topics()) <= set(admin.list_topics())
        finally:
            admin.close()
        assert main([f"--bootstrap={addr}", "--replication-factor=1"]) == 0
        assert capsys.readouterr().out.startswith("0 topics created")
    finally:
        broker.stop()


def test_topics_job_names_an_unreachable_broker(capsys):
    # One clear line, exit 1 (the Job retries), no traceback.
    assert main(["--bootstrap=127.0.0.1:1", "--replication-factor=1", "--timeout=2"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("silico-topics: error: 127.0.0.1:1") and "Traceback" not in err
