"""Kafka in the open: TLS and SCRAM credentials reach every kafka-python client."""

from __future__ import annotations

import pytest

from silico.runtime.kafka import KafkaConfig
from silico.runtime.settings import ServiceSettings


def test_plaintext_is_only_the_bootstrap():
    assert KafkaConfig("k:9092").client_args() == {"bootstrap_servers": "k:9092"}


def test_sasl_ssl_carries_tls_and_scram_from_the_environment(monkeypatch):
    monkeypatch.setenv("SILICO_KAFKA", "kafka-bootstrap:9093")
    monkeypatch.setenv("SILICO_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("SILICO_KAFKA_USERNAME", "silico-survey")
    monkeypatch.setenv("SILICO_KAFKA_PASSWORD", "s3cret")
    monkeypatch.setenv("SILICO_KAFKA_CA", "/etc/silico/kafka-ca/ca.crt")
    args = ServiceSettings().kafka_config().client_args()
    assert args == {
        "bootstrap_servers": "kafka-bootstrap:9093",
        "security_protocol": "SASL_SSL",
        "ssl_check_hostname": True,
        "ssl_cafile": "/etc/silico/kafka-ca/ca.crt",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "silico-survey",
        "sasl_plain_password": "s3cret",
    }
    # kafka-python accepts exactly these names (a typo would be a TypeError here).
    from kafka import KafkaProducer

    assert set(args) - {"bootstrap_servers"} <= set(KafkaProducer.DEFAULT_CONFIG)


def test_an_unknown_protocol_is_refused():
    with pytest.raises(ValueError, match="security protocol"):
        KafkaConfig("k:9092", security_protocol="TLS").client_args()
