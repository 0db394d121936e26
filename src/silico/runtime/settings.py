"""Settings every service reads from its environment (``SILICO_*``)."""

from __future__ import annotations

from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """Configuration shared by the stage services and the study service."""

    model_config = SettingsConfigDict(env_prefix="SILICO_", extra="ignore")

    grpc_host: str = Field("127.0.0.1", description="Address the gRPC server binds.")
    grpc_port: int = Field(0, description="gRPC port (0: any free port).")
    telemetry_port: int = Field(
        0, description="Port of the Prometheus /metrics endpoint (telemetry; 0: none)."
    )
    kafka: str = Field("", description="Kafka bootstrap servers; empty: no worker (RPCs only).")
    kafka_security_protocol: str = Field(
        "PLAINTEXT", description="PLAINTEXT (one machine), SSL or SASL_SSL (a cluster)."
    )
    kafka_sasl_mechanism: str = Field("SCRAM-SHA-512", description="With SASL_SSL.")
    kafka_username: str = Field("", description="With SASL_SSL: the Kafka user.")
    kafka_password: str = Field("", description="With SASL_SSL: its password.")
    kafka_ca: str = Field("", description="CA (PEM) of the Kafka cluster's listeners.")
    store_url: str = Field(
        "sqlite:///.silico/silico.db", description="SQLAlchemy URL of the study store."
    )
    model_url: str = Field("", description="OpenAI-compatible API root of the model server.")
    model_name: str = Field("smollm2-135m-instruct", description="Served model name.")
    critic_model_url: str = Field(
        "",
        description="The critic role's model server, for the backstory service's interview "
        "answers (reviewed inside the unit); empty: the stage's own model.",
    )
    critic_model_name: str = Field("", description="Served name of the critic role's model.")
    model_routes: str = Field(
        "",
        description="The deployment's model per role, as JSON "
        '({"survey": {"base_url": ..., "name": ...}, ...}); the study service resolves '
        "each study's `model` section over it. Empty: model_url/model_name for every role.",
    )
    model_urls: str = Field(
        "",
        description="Further model servers (comma-separated API roots) a study may route "
        'to besides the deployment\'s own; "*": any (a one-user machine).',
    )
    model_concurrency: int = Field(16, description="Requests in flight to the model server.")
    worker_concurrency: int = Field(
        16, description="Kafka messages a stage worker handles at once."
    )
    model_retries: int = Field(4, description="Client retries on connection errors and 5xx.")
    response_cache: str = Field(
        "", description="SQLite file of the shared response cache; empty: none."
    )
    reports_dir: str = Field(
        ".silico/reports", description="Where the study service writes reports."
    )
    datasets_dir: str = Field(
        ".silico/datasets",
        description="Where the study service keeps uploaded datasets, one folder per tenant.",
    )
    matching_addr: str = Field(
        "", description="host:port of the MatchingService (for the study service)."
    )
    metrics_addr: str = Field(
        "", description="host:port of the MetricsService (for the study service)."
    )
    create_topics: bool = Field(
        True,
        description="Create missing Kafka topics at start (the local stack); in a cluster the "
        "chart or its topic Job owns them, with their partitions, retention and ACLs.",
    )
    max_in_flight: int = Field(
        256, description="Units of one study sent to the workers and not yet done, at most."
    )
    max_in_flight_tenant: int = Field(
        1024, description="The same over all the studies of one tenant."
    )
    redeliver_after_s: float = Field(
        120.0, description="Re-enqueue a unit with no stored result after this long."
    )
    tls_cert: str = Field("", description="Server certificate (PEM); with tls_key: serve TLS.")
    tls_key: str = Field("", description="Server private key (PEM).")
    tls_ca: str = Field(
        "",
        description="CA (PEM) for mutual TLS: clients must present a certificate it "
        "signed, and calls to other services verify them against it.",
    )
    probe_port: int = Field(
        0, description="Plaintext health-only gRPC port for kubelet probes (0: none)."
    )
    auth: bool = Field(False, description="Require a tenant API token on every StudyService call.")
    data_root: str = Field(
        "", description="With auth: a tenant's human data must lie under <data_root>/<tenant>/."
    )
    public_data: str = Field(
        "", description="With auth: folders (':'-separated) of data every tenant may read."
    )
    log_level: str = Field("INFO")

    def role_models(self) -> dict[str, Any]:
        """The deployment's route per role (see ``model_routes``)."""
        import json

        from silico.pipeline.registry import ROLE_NAMES
        from silico.pipeline.spec import ModelRoute

        own = ModelRoute(base_url=self.model_url or None, name=self.model_name or None)
        routes = {r: own for r in ROLE_NAMES}
        if self.critic_model_url:
            routes["critic"] = ModelRoute(
                base_url=self.critic_model_url, name=self.critic_model_name or self.model_name
            )
        if self.model_routes:
            for role, r in json.loads(self.model_routes).items():
                if role not in routes:
                    raise ValueError(f"SILICO_MODEL_ROUTES: unknown role {role!r}")
                routes[role] = ModelRoute.model_validate(r)
        return routes

    def allowed_models(self) -> Any:
        """The model servers units may call: the deployment's own and ``model_urls``."""
        from silico.pipeline.routes import AllowedServers

        own = [r.base_url or "" for r in self.role_models().values()]
        return AllowedServers.of([*own, *self.model_urls.split(",")])

    def kafka_config(self) -> Any:
        """The Kafka connection (:class:`silico.runtime.kafka.KafkaConfig`)."""
        from silico.runtime.kafka import KafkaConfig

        return KafkaConfig(
            self.kafka,
            self.kafka_security_protocol,
            self.kafka_sasl_mechanism,
            self.kafka_username,
            self.kafka_password,
            self.kafka_ca,
        )
