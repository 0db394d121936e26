"""The shared service kit: gRPC bootstrap, error mapping, JSON logs, metrics, Kafka worker loop."""
