"""The science core of Silico: pure functions, no I/O beyond reading files it is handed.

Subpackages: ``prompts`` (prompt text), ``extraction`` (answers from logprobs or
text), ``traits`` (demographic catalogue and category mappings), ``matching``
(persona-to-human assignment), ``stats`` (metrics), ``data`` (human survey data).
Nothing here imports gRPC, Kafka, Prometheus or network code; the services are
thin adapters around these functions.
"""
