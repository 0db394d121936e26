"""The one list of Silico's stages.

Kafka topics, model roles, both drivers, metric labels, the Helm chart's
values and the README's map all read this table (``tests/unit/test_registry.py``
checks the chart and the README against it). It imports nothing of Silico,
so any module can use it without an import loop.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Stage:
    """One stage of a study.

    Attributes
    ----------
    name : str
        The word used everywhere: store results, progress, token usage,
        metric labels, topic names and chart values.
    service : str
        The gRPC service that does it (and its deployable, ``services/<module>``).
    module : str
        The service's folder under ``services/``.
    role : str
        The model role it reads (``llm/roles.py``); empty for no model.
    queued : bool
        Whether its work units travel over Kafka (``<name>.requests.v1`` /
        ``<name>.results.v1``); otherwise the study service calls its RPC.
    unit_key : str
        How its unit keys read (the store's key within a study and stage).
    """

    name: str
    service: str
    module: str
    role: str
    queued: bool
    unit_key: str

    @property
    def requests_topic(self) -> str:
        return f"{self.name}.requests.v1"

    @property
    def results_topic(self) -> str:
        return f"{self.name}.results.v1"

    @property
    def dlq_topic(self) -> str:
        return f"{self.requests_topic}.dlq"


#: In the order a study runs them.
STAGES: tuple[Stage, ...] = (
    Stage("backstory", "BackstoryService", "backstory", "backstory", True, "{persona}/{attempt}"),
    Stage("critic", "CriticService", "critic", "critic", True, "{persona}/{attempt}"),
    Stage(
        "demographics",
        "DemographicsService",
        "demographics",
        "demographics",
        True,
        "persona/{persona}",
    ),
    Stage("matching", "MatchingService", "matching", "", False, "(one RPC per method)"),
    Stage("survey", "SurveyService", "survey", "survey", True, "{panel}/{row}"),
    Stage("metrics", "MetricsService", "metrics", "", False, "report"),
)

BY_NAME: dict[str, Stage] = {s.name: s for s in STAGES}

#: Every stage's name, in order.
STAGE_NAMES: tuple[str, ...] = tuple(s.name for s in STAGES)
#: The stages whose units travel over Kafka.
QUEUED: tuple[str, ...] = tuple(s.name for s in STAGES if s.queued)
#: The model roles, one per stage that reads a model.
ROLE_NAMES: tuple[str, ...] = tuple(s.role for s in STAGES if s.role)
#: The stages a study reports progress for (the critic runs within backstories).
PROGRESS: tuple[str, ...] = tuple(s for s in STAGE_NAMES if s != "critic")


def stage(name: str) -> Stage:
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"no stage {name!r}; stages: {list(STAGE_NAMES)}") from None
