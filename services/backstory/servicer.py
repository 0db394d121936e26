"""BackstoryService: samples one persona's backstory candidate (thin adapter)."""

from __future__ import annotations

from typing import Any

from silico.convert import critic_settings_from_proto, verdict_to_dict
from silico.core.errors import ValidationError
from silico.pipeline.stages import LanguageModel, interview_backstory, sample_candidate
from silico.runtime.app import unit_handler
from silico.v1 import backstory_pb2, backstory_pb2_grpc


def generate(
    lm: LanguageModel, req: backstory_pb2.GenerateRequest
) -> backstory_pb2.GenerateResponse:
    st = req.settings
    if req.index < 0:
        raise ValidationError("index", "must be >= 0")
    if st.max_tokens < 1:
        raise ValidationError("settings.max_tokens", "must be >= 1")
    if st.prompt_format not in ("plain", "chatml"):
        raise ValidationError("settings.prompt_format", "must be 'plain' or 'chatml'")
    if st.variant not in ("short", "long"):
        raise ValidationError("settings.variant", "must be 'short' or 'long'")
    text, tokens, seed, bid = sample_candidate(
        lm,
        study_seed=req.study_seed,
        index=req.index,
        attempt=req.attempt,
        model_name=st.model_name,
        variant=st.variant,
        prompt_format=st.prompt_format,
        max_tokens=st.max_tokens,
        temperature=st.temperature,
        top_p=st.top_p or 1.0,
        citizen_preamble=st.citizen_preamble,
        repetition_penalty=st.repetition_penalty or 1.0,
    )
    return backstory_pb2.GenerateResponse(
        text=text, completion_tokens=tokens, seed=seed, backstory_id=bid
    )


class BackstoryServicer(backstory_pb2_grpc.BackstoryServiceServicer):
    def __init__(self, lm: LanguageModel) -> None:
        self._lm = lm

    def Generate(
        self, request: backstory_pb2.GenerateRequest, context: Any
    ) -> backstory_pb2.GenerateResponse:  # noqa: N802
        return generate(self._lm, request)


def _payload(lm: Any, req: backstory_pb2.GenerateRequest) -> dict[str, Any]:
    st = req.settings
    settings = critic_settings_from_proto(st.critic) if st.HasField("critic") else None
    if settings is not None:
        critic = lm if settings.enabled else None
    else:
        critic = (lm if st.critic_model else None) if st.use_critic else None
    if st.mode == "interview":
        # The whole interview is one unit: each answer is reviewed against the
        # transcript so far and re-sampled on rejection, as in-process.
        b = interview_backstory(
            lm,
            seed=req.study_seed,
            index=req.index,
            model_name=st.model_name,
            prompt_format=st.prompt_format or "plain",
            max_tokens=st.max_tokens,
            temperature=st.temperature,
            top_p=st.top_p or 1.0,
            critic=critic,
            max_attempts=st.max_attempts or 3,
            repetition_penalty=st.repetition_penalty or 1.0,
            critic_settings=settings,
        )
        return {
            "text": b.text,
            "completion_tokens": b.tokens,
            "seed": b.seed,
            "id": b.id,
            "interview": {
                "accepted": b.accepted,
                "reason": b.reason,
                "attempts": b.attempts,
                "verdicts": [verdict_to_dict(v) for v in b.verdicts],
            },
        }
    if st.mode not in ("", "single_turn"):
        raise ValidationError("settings.mode", "must be 'single_turn' or 'interview'")
    out = generate(lm, req)
    return {
        "text": out.text,
        "completion_tokens": out.completion_tokens,
        "seed": out.seed,
        "id": out.backstory_id,
    }


def handler(lm: Any, store: Any) -> Any:
    return unit_handler("backstory", "backstory", store, lambda req: _payload(lm, req), lm)
