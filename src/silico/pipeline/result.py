"""What a study produced, and what its stages collected before the metrics."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from silico.core.data import SurveyData
from silico.core.matching import Matching
from silico.core.stats import Interval, ItemNoise, Responses, Subgroup
from silico.pipeline.spec import StudySpec
from silico.pipeline.stages import Backstory


@dataclass(frozen=True)
class Answers:
    """The survey stage's answers, decoded from its units.

    ``persona[v, j, :K_j]`` is persona ``v``'s distribution on item ``j``
    (None without the anthology method); ``baselines[m][h]`` respondent
    ``h``'s under baseline ``m``. NaN rows are dropped (non-compliant)
    answers. ``attempts`` counts sampled completions per method, and
    ``higher_order`` maps a partisan persona to its perception items' stored
    distributions.
    """

    persona: np.ndarray | None
    persona_compliance: np.ndarray
    baselines: dict[str, np.ndarray]
    baseline_compliance: dict[str, np.ndarray]
    attempts: dict[str, np.ndarray]
    higher_order_units: list[Any] = field(default_factory=list)
    higher_order: dict[int, list[list[float]]] = field(default_factory=dict)


@dataclass(frozen=True)
class Collected:
    """Everything the model stages and matching produced: the input of the metrics stage."""

    spec: StudySpec
    humans: SurveyData
    backstories: list[Backstory]
    traits: dict[str, np.ndarray]
    demographics_compliance: np.ndarray
    matchings: dict[str, Matching]
    diagnostics: dict[str, Any]
    answers: Answers
    seconds: dict[str, float] = field(default_factory=dict)


@dataclass
class StudyResult:
    """Everything a study produced; every table opens in pandas."""

    spec: StudySpec
    humans: SurveyData
    backstories: list[Backstory]
    persona_traits: dict[str, np.ndarray]
    demographics_compliance: np.ndarray
    matchings: dict[str, Matching]
    persona_answers: np.ndarray
    persona_compliance: np.ndarray
    baseline_answers: dict[str, np.ndarray]
    baseline_compliance: dict[str, np.ndarray]
    virtual: dict[str, Responses]
    comparisons: dict[str, dict[str, Interval]]
    lower_bound: dict[str, Interval]
    subgroups: dict[str, dict[str, dict[str, Subgroup]]]
    diagnostics: dict[str, Any]
    seconds: dict[str, float] = field(default_factory=dict)
    #: Partisan perception gaps (see :mod:`silico.pipeline.higher_order`), if asked.
    higher_order: dict[str, Any] | None = None
    #: The human split-half lower bound within each subgroup: trait -> group -> bound.
    subgroup_bounds: dict[str, dict[str, Subgroup]] = field(default_factory=dict)
    #: Per panel, one entry per item (questionnaire order): its WD with the bootstrap
    #: interval beside the humans' split-half WD for that item (see ``ItemNoise.within``).
    items_within_noise: dict[str, list[ItemNoise]] = field(default_factory=dict)

    def persona_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "persona_id": [b.id for b in self.backstories],
                "accepted": [b.accepted for b in self.backstories],
                "reason": [b.reason for b in self.backstories],
                "attempts": [b.attempts for b in self.backstories],
                "generated_tokens": [b.generated_tokens for b in self.backstories],
                "backstory": [b.text for b in self.backstories],
            }
        )

    def matching_frame(self) -> pd.DataFrame:
        ids = [b.id for b in self.accepted()]
        rows = []
        for method, m in self.matchings.items():
            for h, (v, lw) in enumerate(zip(m.persona, m.log_weight, strict=True)):
                rows.append((method, self.humans.ids[h], ids[v], float(lw)))
        return pd.DataFrame(rows, columns=["method", "respondent_id", "persona_id", "log_weight"])

    def answer_frame(self) -> pd.DataFrame:
        """Individual virtual responses (positions 1..K) per method, respondent and item."""
        rows = []
        items = [it.id for it in self.humans.items]
        for method, r in self.virtual.items():
            for h in range(r.n):
                for j, item in enumerate(items):
                    rows.append((method, self.humans.ids[h], item, r.values[h, j], r.weights[h]))
        return pd.DataFrame(rows, columns=["method", "respondent_id", "item", "position", "weight"])

    def accepted(self) -> list[Backstory]:
        return [b for b in self.backstories if b.accepted]
