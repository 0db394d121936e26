"""Reaching language models: one OpenAI-compatible completions client, a response cache,
token accounting, and the model configuration per role."""

from silico.llm._cache import ResponseCache, cache_key
from silico.llm._client import (
    CompletionsClient,
    Generation,
    ModelResponseError,
    ModelServerError,
    served_model,
)
from silico.llm._usage import Usage, UsageLedger, usage_scope
from silico.llm.roles import ROLES, ModelRole, role_for

__all__ = [
    "ROLES",
    "CompletionsClient",
    "Generation",
    "ModelResponseError",
    "ModelRole",
    "ModelServerError",
    "ResponseCache",
    "Usage",
    "UsageLedger",
    "cache_key",
    "role_for",
    "served_model",
    "usage_scope",
]
