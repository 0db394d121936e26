"""The study specification: a YAML file, validated with errors that name the field.

``StudySpec.model_json_schema()`` is the documented JSON Schema
(``silico schema`` prints it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic import ValidationError as PydanticValidationError

from silico.core.data import PROFILES, TraitColumn, data_format, needs_codebook
from silico.core.errors import ValidationError
from silico.core.matching import MATCHING_METHODS
from silico.core.prompts import CONDITIONING_METHODS, check_stem, default_members
from silico.core.traits import (
    MAX_CATEGORIES,
    SCHEMES,
    TRAIT_NAME,
    TRAIT_NAMES,
    Trait,
    check_categories,
    check_sentences,
    define_trait,
)

#: The most entries any list or map of a spec may hold (items, traits, filters, ...):
#: a spec is a few hundred lines, and a bound keeps validation cheap whatever is sent.
MAX_LIST = 500


class _NoAliases(yaml.SafeLoader):
    """YAML without aliases: an alias bomb (nested ``*refs``) expands a few kilobytes
    into millions of nodes; a study spec never needs one."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            ev = self.peek_event()
            raise ValidationError(
                "spec",
                f"YAML aliases are not accepted (*{ev.anchor} at line {ev.start_mark.line + 1}); "
                "write the values out",
            )
        return super().compose_node(parent, index)


def load_yaml(text: str, what: str = "spec") -> Any:
    """Parse a spec document: safe, and without aliases."""
    try:
        return yaml.load(text, Loader=_NoAliases)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as e:
        raise ValidationError(what, f"not valid YAML: {e}") from None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _rule(check: Any, *args: Any) -> Any:
    """A core check as a pydantic field rule (the field is already in the error's path)."""
    try:
        return check(*args)
    except ValidationError as e:
        raise ValueError(e.message) from None


class TraitColumnSpec(_Strict):
    """A demographic trait of the data: a catalogue trait mapped by a built-in ``scheme``,
    or a trait with the survey's own ``categories`` (with ``question``, ``first_person``
    and ``second_person``). A catalogue name with its own categories stands for that
    trait in this study only: the personas are asked the given question instead."""

    trait: str = Field(
        description="Trait name: a catalogue trait (age, gender, race, education, income, "
        "region, religion, party, ideology) with `scheme`, or any name with `categories` "
        "(a catalogue name then takes the survey's categories in this study).",
        max_length=64,
    )
    column: str = Field(description="Column of the data holding it.")
    scheme: str | None = Field(
        None,
        description="Built-in scheme of the survey's categories (e.g. age4, party4); "
        "or give `categories`.",
    )
    categories: Annotated[list[str], Field(max_length=MAX_CATEGORIES)] | None = Field(
        None,
        description="The survey's own categories, asked of the personas as they are "
        "(with 'Prefer not to answer'); at least 2, distinct.",
    )
    question: str | None = Field(
        None,
        validate_default=True,
        description="With `categories`: the question the personas are asked.",
    )
    first_person: Annotated[list[str], Field(max_length=MAX_CATEGORIES)] | None = Field(
        None,
        validate_default=True,
        description="With `categories`: one first-person sentence per category, for the "
        "BIO baseline ('I am a union member.').",
    )
    second_person: Annotated[list[str], Field(max_length=MAX_CATEGORIES)] | None = Field(
        None,
        validate_default=True,
        description="With `categories`: one second-person sentence per category, for the "
        "PORTRAY baseline ('You are a union member.').",
    )
    values: dict[str, str | None] | None = Field(
        None,
        description="Raw value -> category label (null = missing). Omit when the raw values "
        "are the labels. Every value of the column must be mapped.",
    )

    @field_validator("categories")
    @classmethod
    def _categories(cls, v: list[str] | None) -> list[str] | None:
        return None if v is None else list(_rule(check_categories, v))

    @field_validator("question")
    @classmethod
    def _question(cls, v: str | None, info: ValidationInfo) -> str | None:
        if info.data.get("categories") is None:
            if v is not None:
                raise ValueError("only with `categories` (a scheme brings its trait's question)")
        elif v is None or not v.strip():
            raise ValueError("the question the personas are asked is needed with `categories`")
        return v

    @field_validator("first_person", "second_person")
    @classmethod
    def _sentences(cls, v: list[str] | None, info: ValidationInfo) -> list[str] | None:
        cats = info.data.get("categories")
        if cats is None:
            if v is not None:
                raise ValueError("only with `categories`")
            return v
        if v is None:
            raise ValueError(f"needed with `categories`: one sentence per category ({len(cats)})")
        return list(_rule(check_sentences, info.field_name, v, len(cats)))

    @field_validator("values")
    @classmethod
    def _targets(
        cls, v: dict[str, str | None] | None, info: ValidationInfo
    ) -> dict[str, str | None] | None:
        cats = info.data.get("categories")
        scheme = SCHEMES.get(info.data.get("scheme") or "")
        if cats is None and scheme is not None and scheme.trait == info.data.get("trait"):
            cats = scheme.categories
        if v is None or cats is None:
            return v
        for raw, label in v.items():
            if label is not None and label not in cats:
                raise ValueError(
                    f"value {raw!r} maps to {label!r}, not one of the categories {list(cats)}; "
                    "map it to one of them, or to null if it means missing"
                )
        return v

    @model_validator(mode="after")
    def _known(self) -> TraitColumnSpec:
        if (self.scheme is None) == (self.categories is None):
            raise ValueError(
                f"trait {self.trait!r}: give either `scheme` (a built-in scheme of a catalogue "
                "trait) or `categories` (the survey's own, with `question`, `first_person` "
                "and `second_person`)"
            )
        if self.categories is not None:
            if not TRAIT_NAME.match(self.trait):
                raise ValueError(
                    f"{self.trait!r} is not a trait name (a letter, then letters, digits or _)"
                )
            return self
        if self.trait not in TRAIT_NAMES:
            raise ValueError(
                f"unknown trait {self.trait!r}; known: {list(TRAIT_NAMES)} "
                "(or define it: `categories`, `question`, `first_person`, `second_person`)"
            )
        if self.scheme not in SCHEMES:
            raise ValueError(f"unknown scheme {self.scheme!r}; known: {sorted(SCHEMES)}")
        if SCHEMES[self.scheme].trait != self.trait:
            raise ValueError(
                f"scheme {self.scheme!r} is for trait {SCHEMES[self.scheme].trait!r}, "
                f"not {self.trait!r}"
            )
        return self

    def definition(self) -> Trait | None:
        """The trait as the study defines it (None: the catalogue's)."""
        if self.categories is None:
            return None
        return define_trait(
            self.trait,
            self.question or "",
            self.categories,
            self.first_person or [],
            self.second_person or [],
        )

    def trait_column(self) -> TraitColumn:
        return TraitColumn(
            self.trait, self.column, self.scheme or "", self.values, self.definition()
        )


class DataSpec(_Strict):
    # Stored under its older name so that code and documents saying `data.csv` go on
    # working; a spec writes `path` (or `csv`), and `.path` reads it.
    csv: str = Field(
        validation_alias=AliasChoices("path", "csv"),
        description="Respondent file, one row per respondent: SPSS .sav, Stata .dta, .parquet "
        "or .csv (raw codes). Relative to the spec file. `csv` is accepted as its older name.",
    )
    codebook: str | None = Field(
        None,
        validate_default=True,
        description="Codebook JSON (question text, value labels, ordinal codes). Relative to "
        "the spec file. Needed beside a .csv or .parquet; a .sav or .dta carries its own labels "
        "and missing codes, which a codebook given here overrides variable by variable.",
    )
    profile: Literal["cces_2018", "gss_2016_2018"] | None = Field(
        None, description="Built-in trait-column mapping of a bundled dataset."
    )
    traits: Annotated[list[TraitColumnSpec], Field(max_length=MAX_LIST)] | None = Field(
        None, description="Trait columns (instead of a profile)."
    )
    weight: str | None = Field(None, description="Survey-weight column; unit weights when omitted.")
    id_column: str | None = Field(None, description="Respondent id column.")
    filters: Annotated[
        dict[str, Annotated[list[int | str], Field(max_length=MAX_LIST)]],
        Field(max_length=MAX_LIST),
    ] = Field(default_factory=dict, description="Keep rows whose column is in the list.")
    sample: Annotated[int, Field(ge=4)] | None = Field(
        None, description="Use a seeded random sample of this many respondents."
    )

    @model_validator(mode="before")
    @classmethod
    def _path_once(cls, raw: Any) -> Any:
        if isinstance(raw, dict) and "path" in raw and "csv" in raw:
            if raw["path"] != raw["csv"]:
                raise ValueError("give the data file once: 'path' and its older name 'csv' differ")
            raw = {k: v for k, v in raw.items() if k != "csv"}
        return raw

    @property
    def path(self) -> str:
        """The respondent file (``data.path``; ``csv`` is the same field)."""
        return self.csv

    @field_validator("csv")
    @classmethod
    def _readable_format(cls, v: str) -> str:
        if not v.startswith("dataset://"):
            try:
                data_format(v)
            except ValidationError as e:
                raise ValueError(e.message) from None
        return v

    @field_validator("codebook")
    @classmethod
    def _codebook_when_unlabelled(cls, v: str | None, info: ValidationInfo) -> str | None:
        path = info.data.get("csv")
        # An uploaded dataset's format is known only once located: checked on loading.
        if v is None and path and not path.startswith("dataset://") and needs_codebook(path):
            raise ValueError(
                f"{Path(path).name} carries no question text or value labels: give its "
                "codebook (JSON), or the survey as a labelled .sav or .dta file"
            )
        return v

    @model_validator(mode="after")
    def _one_mapping(self) -> DataSpec:
        if (self.profile is None) == (self.traits is None):
            raise ValueError("give exactly one of 'profile' or 'traits'")
        seen: set[str] = set()
        for i, t in enumerate(self.traits or []):
            if t.trait in seen:
                raise ValueError(f"traits[{i}].trait: {t.trait!r} is mapped twice")
            seen.add(t.trait)
        return self

    def trait_columns(self) -> tuple[TraitColumn, ...]:
        if self.profile is not None:
            return PROFILES[self.profile]
        return tuple(t.trait_column() for t in self.traits or [])


class QuestionnaireSpec(_Strict):
    items: Annotated[list[str], Field(min_length=1, max_length=MAX_LIST)] = Field(
        description="Ordinal items (codebook variables)."
    )
    reverse: Annotated[list[str], Field(max_length=MAX_LIST)] = Field(
        default_factory=list, description="Reverse-keyed items (flipped for alpha)."
    )
    questions: Annotated[dict[str, str], Field(max_length=MAX_LIST)] = Field(
        default_factory=dict,
        description="Item -> the full wording respondents read, replacing the codebook's "
        "(a text that looks cut at a label limit is refused).",
    )


class BackstorySpec(_Strict):
    mode: Literal["single_turn", "interview"] = "single_turn"
    variant: Literal["short", "long"] = Field("long", description="Single-turn question variant.")
    count: Annotated[int, Field(ge=2, le=1_000_000)] = Field(
        description="Backstories to generate (personas)."
    )
    max_tokens: Annotated[int, Field(ge=16, le=4096)] = Field(
        1500, description="Longest backstory in tokens (the reference setting: 1,500)."
    )
    min_tokens: Annotated[int, Field(ge=0)] = Field(
        40, description="Drop backstories of this many tokens or fewer."
    )
    temperature: Annotated[float, Field(ge=0, le=2)] = 1.0
    top_p: Annotated[float, Field(gt=0, le=1)] = 1.0
    repetition_penalty: Annotated[float, Field(gt=0, le=2)] = Field(
        1.0,
        description="vLLM's repetition penalty (1 = off, the reference setting); a small "
        "model loops without one.",
    )
    prompt_format: Literal["plain", "chatml"] = Field(
        "plain",
        description="plain: the paper's base-model prompt. chatml: the same question in the chat format "
        "of an instruct model (the embedded SmolLM2 is one).",
    )
    citizen_preamble: bool = Field(
        True,
        description="Prepend an 'Are you a US citizen?' turn answered yes (re-sampled until it "
        "says yes), as the official configuration does.",
    )
    max_attempts: Annotated[int, Field(ge=1, le=20)] = Field(
        3, description="Samples per persona before giving up."
    )
    truncate_words: Annotated[int, Field(ge=5)] | None = Field(
        None,
        description="Length ablation: personas use only the first N words of their backstory.",
    )


class CriticSpec(_Strict):
    enabled: bool = True
    use_model: bool = Field(
        False,
        description="Ask the critic model for an accept/reject verdict as well (worth it on a "
        "strong model; a 135M model's verdict is close to noise).",
    )
    min_coherence: float | None = Field(
        -4.0,
        description="Reject a backstory whose mean token log-probability under the critic model "
        "(after the backstory question) is below this; null: no coherence check. The default "
        "was measured for the embedded SmolLM2 on the labelled critic set; re-measure it for "
        "another critic model (benchmarks/critic_coherence.py).",
    )
    allow_fiction: bool = Field(
        False, description="Accept stories with fiction markers (other planets, magic)."
    )
    language: str = Field(
        "en", pattern=r"^[a-z]{2}$", description="ISO 639-1 code of the backstories' language."
    )


class DemographicsSpec(_Strict):
    estimator: Literal["logprob", "sampled"] = "logprob"
    samples: Annotated[int, Field(ge=1, le=200)] = Field(
        40, description="Samples per trait for the sampled estimator."
    )
    traits: Annotated[list[str], Field(max_length=MAX_LIST)] | None = Field(
        None, description="Traits to annotate; default: all the data maps."
    )
    orders: Annotated[list[Literal["identity", "reversed"]], Field(min_length=1)] = Field(
        default_factory=lambda: ["identity"],
        description="Option orders; logprob distributions are averaged over them "
        "(add 'reversed' to cancel a small model's preference for a letter).",
    )


class MatchingSpec(_Strict):
    methods: Annotated[
        list[Literal["greedy", "hungarian", "capacity", "random"]], Field(min_length=1)
    ] = Field(default_factory=lambda: list(MATCHING_METHODS))
    primary: Literal["greedy", "hungarian", "capacity", "random"] = Field(
        "greedy", description="Matching used for the conditioning-method comparison."
    )
    capacity: Annotated[int, Field(ge=1)] = 2
    hungarian_objective: Literal["log", "raw"] = Field(
        "log",
        description="log: maximise the joint likelihood (sum of log weights). raw: the released "
        "Anthology code's sum of raw likelihood products.",
    )

    @model_validator(mode="after")
    def _primary_listed(self) -> MatchingSpec:
        if self.primary not in self.methods:
            raise ValueError(f"primary {self.primary!r} is not among methods {self.methods}")
        return self


class SurveySpec(_Strict):
    """How the survey stage answers (the section was called ``answers`` before)."""

    estimator: Literal["logprob", "sampled"] = Field(
        "logprob",
        description="How an answer distribution is estimated: option-letter logprobs, or "
        "sampled completions parsed to options (the released code's procedure).",
    )
    orders: Annotated[list[Literal["identity", "reversed"]], Field(min_length=1)] = Field(
        default_factory=lambda: ["identity", "reversed"],
        description="Option orders the answers may be shown in.",
    )
    order_policy: Literal["seeded", "all"] = Field(
        "seeded",
        description="Logprob mode. seeded: each persona sees each item in one of `orders`, "
        "drawn from the study seed (the reference's procedure; a letter-position preference "
        "then cancels over personas, not within one). all: every order, distributions "
        "averaged (twice the prompts for two orders). The sampled estimator always draws "
        "one order per sample.",
    )
    max_attempts: Annotated[int, Field(ge=1, le=100)] = Field(
        3,
        description="Sampled mode: completions per answer before it is dropped as non-compliant "
        "(the released Anthology code retries up to 100).",
    )
    min_compliance: Annotated[float, Field(ge=0, le=1)] = Field(
        0.1,
        description="Logprob mode: an option order whose probability mass on the option letters "
        "is below this is no answer; an answer with no such order is dropped (missing), "
        "never replaced by a guess.",
    )
    series: bool = Field(
        False,
        description="Ask the items in one context in a seeded random order, each after the "
        "earlier questions and answers (the released code's in-series mode).",
    )


#: The model roles a study may route (``silico.pipeline.registry.ROLE_NAMES``).
ModelRoleName = Literal["backstory", "critic", "demographics", "survey"]


class ModelRoute(_Strict):
    """Where one role's requests go: an OpenAI-compatible server and its served name."""

    base_url: str | None = Field(
        None, description="OpenAI-compatible API root (ending in /v1); omitted: the deployment's."
    )
    name: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        description="Served model name (as the server lists it under /v1/models); omitted: "
        "the deployment's model for the role.",
    )


class ModelSpec(_Strict):
    """Which model server answers a study, per role.

    Left empty, every role uses the deployment's own model for it (the
    embedded server on one machine; the chart's KServe model per role in a
    cluster). ``base_url``/``name`` point every role elsewhere; ``roles``
    overrides single roles. The services refuse a server their deployment
    does not allow (``SILICO_MODEL_URLS``)."""

    base_url: str | None = Field(
        None, description="OpenAI-compatible API root for every role; omitted: the deployment's."
    )
    name: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        description="Served model name for every role; omitted: the deployment's model.",
    )
    revision: str = Field(
        "",
        max_length=200,
        description="The weights' revision (e.g. a commit of the model repository), recorded "
        "with the results and part of the response-cache key beside what the server reports.",
    )
    roles: dict[ModelRoleName, ModelRoute] = Field(
        default_factory=dict, description="Per role, a route that overrides the section's own."
    )
    concurrency: Annotated[int, Field(ge=1, le=256)] = 16
    timeout_s: Annotated[float, Field(gt=0)] = 300.0
    max_retries: Annotated[int, Field(ge=0, le=20)] = 4

    @model_validator(mode="after")
    def _named(self) -> ModelSpec:
        for role in ("", *self.roles):
            r = self.route(role)
            if r.base_url is not None and r.name is None:
                where = f"model.roles.{role}" if role else "model"
                raise ValueError(
                    f"{where}: a base_url needs the served model name (name) beside it"
                )
            if r.base_url is not None and not r.base_url.startswith(("http://", "https://")):
                raise ValueError(f"model.base_url: {r.base_url!r} is not an http(s) URL")
        return self

    def route(self, role: str) -> ModelRoute:
        """The route of ``role``: its own entry's fields over the section's."""
        own = self.roles.get(role)  # type: ignore[call-overload]
        return ModelRoute(
            base_url=(own.base_url if own and own.base_url else None) or self.base_url,
            name=(own.name if own and own.name else None) or self.name,
        )

    @property
    def label(self) -> str:
        """What reports call the model: the study's name for it, or the deployment's."""
        names = {self.route(r).name for r in ("backstory", "critic", "demographics", "survey")}
        named = sorted(n for n in names if n)
        return ", ".join(named) if named else "deployment default"


class EvaluationSpec(_Strict):
    split_half_iterations: Annotated[int, Field(ge=1, le=1000)] = 20
    bootstrap: Annotated[int, Field(ge=1, le=10000)] = 100
    level: Annotated[float, Field(gt=0, lt=1)] = 0.95
    subgroups: Annotated[list[str], Field(max_length=MAX_LIST)] = Field(
        default_factory=lambda: ["race", "age", "party"]
    )
    min_subgroup: Annotated[int, Field(ge=2)] = Field(
        30, description="Subgroups with fewer respondents are reported with a warning."
    )
    subgroup_bootstrap: Annotated[int, Field(ge=0, le=10000)] = Field(
        50, description="Bootstrap replicates for subgroup intervals (0: none)."
    )
    weighted: bool = Field(
        True,
        description="Use survey weights in distributions, correlations and alpha "
        "(the released Anthology code does not).",
    )


class HigherOrderHumanSpec(_Strict):
    """Where the human answers to a higher-order item are: columns of ``data.csv``
    that are ordinal codebook variables with as many codes as the item has options."""

    perspectives: dict[Literal["self", "own", "ingroup", "outgroup", "meta"], str] = Field(
        default_factory=dict,
        description="Perspective -> column with each respondent's answer to that variant, "
        "asked as the personas are asked it (about the respondent's own/other party).",
    )
    ratings: dict[str, str] = Field(
        default_factory=dict,
        description="Group in `parties` -> column with each respondent's rating of that party "
        "(e.g. the same trait question asked about both parties); gives `self` (the rating "
        "of the other party) and `own` (of the respondent's party).",
    )
    negative_end: Literal["first", "last"] = Field(
        description="Which end of the columns' ordinal codes, in codebook order, is the "
        "negative one."
    )

    @model_validator(mode="after")
    def _some_columns(self) -> HigherOrderHumanSpec:
        if not self.perspectives and not self.ratings:
            raise ValueError("give `perspectives` or `ratings` columns")
        both = sorted({"self", "own"} & set(self.perspectives)) if self.ratings else []
        if both:
            raise ValueError(f"perspectives {both} are also given by `ratings`; give one")
        return self


class HigherOrderItemSpec(_Strict):
    id: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")]
    self_stem: str = Field(
        description="The respondent's own opinion of / willingness against {target}: "
        "'Would you support using violence to block major laws proposed by {target}?'"
    )
    group_stem: str = Field(
        description="The same about a group, with {group} and {target}: 'Would {group} "
        "support using violence to block major {target_member} laws?' ({group_member} and "
        "{target_member} are the singular member names)."
    )
    meta_stem: str | None = Field(
        None,
        description="Optional override of the meta-perception question, with {group} = the "
        "other party and {target} = the respondent's. Default: the talk's wording, 'How "
        "would an average <member of the other party> respond to the following?' followed by "
        "the quoted self question about the respondent's party (rating items) or the quoted "
        "in-group question (behaviour items).",
    )
    options: Annotated[list[str], Field(min_length=2, max_length=11)] = Field(
        description="Ordinal options, in the order they are shown."
    )
    negative_end: Literal["first", "last"] = Field(
        description="Which end of `options` is the negative one (most hostile, most willing "
        "to subvert); answers are oriented so that higher means more negative before the "
        "gaps are computed."
    )
    kind: Literal["rating", "behaviour"] = Field(
        "rating",
        description="rating: how a party is seen (hostility and meta-perception gaps); "
        "behaviour: willingness to act against the other party (subversion gap).",
    )
    human: HigherOrderHumanSpec | None = Field(
        None, description="Human answers to this item, for a human row in the gap table."
    )


class HigherOrderSpec(_Strict):
    """Partisan perception items: each is asked in its self, own (rating items),
    in-group, out-group and meta-perception variants of every persona with a
    party, and the gaps are reported per party."""

    parties: Annotated[list[str], Field(min_length=2, max_length=2)] = Field(
        default_factory=lambda: ["Democrats", "Republicans"],
        description="The two groups as the items name them.",
    )
    labels: dict[str, str] = Field(
        default_factory=lambda: {"Democrat": "Democrats", "Republican": "Republicans"},
        description="Persona party (the annotated 'party' trait) -> group in `parties`; others are left out.",
    )
    members: Annotated[list[str], Field(min_length=2, max_length=2)] | None = Field(
        None,
        description="Singular member names in the order of `parties` ('an average "
        "Republican'); default: the `labels` key naming each party, else the party without "
        "its plural s.",
    )
    items: Annotated[list[HigherOrderItemSpec], Field(min_length=1, max_length=MAX_LIST)]
    bootstrap: Annotated[int, Field(ge=0, le=10000)] = 200

    @model_validator(mode="after")
    def _labels_name_parties(self) -> HigherOrderSpec:
        bad = sorted(set(self.labels.values()) - set(self.parties))
        if bad:
            raise ValueError(f"labels map onto groups not in parties: {bad}")
        ids = [it.id for it in self.items]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ValueError(f"items: duplicate ids {dup}")
        for it in self.items:
            for stem in ("self_stem", "group_stem", "meta_stem"):
                text = getattr(it, stem)
                if text is None:
                    continue
                try:
                    check_stem(text, stem, needs_group=stem != "self_stem")
                except ValidationError as e:
                    raise ValueError(f"items[{it.id}].{stem} {e.message}") from None
            if it.human is not None and it.human.ratings:
                if set(it.human.ratings) != set(self.parties):
                    raise ValueError(
                        f"items[{it.id}].human.ratings must name each of {self.parties}, "
                        f"got {sorted(it.human.ratings)}"
                    )
        return self

    def member_names(self) -> list[str]:
        """Singular member names, in the order of ``parties``."""
        if self.members is not None:
            return list(self.members)
        fallback = default_members(self.parties)
        out = []
        for p, f in zip(self.parties, fallback, strict=True):
            keys = [k for k, v in self.labels.items() if v == p]
            out.append(keys[0] if len(keys) == 1 else f)
        return out


#: The released Anthology code's settings, applied under whatever a spec sets itself
#: (``procedure: anthology-2024``). Why each differs from Silico's own default is
#: in the README ("Two procedures").
ANTHOLOGY_2024: dict[str, dict[str, Any]] = {
    "backstories": {
        "temperature": 1.0,
        "top_p": 1.0,
        "max_tokens": 1500,
        "citizen_preamble": True,
    },
    "demographics": {"estimator": "sampled", "samples": 40},
    "matching": {"hungarian_objective": "raw"},
    "survey": {
        "estimator": "sampled",
        "orders": ["identity", "reversed"],
        "max_attempts": 100,
        "min_compliance": 0.0,
    },
    "evaluation": {"split_half_iterations": 20, "weighted": False},
}

PROCEDURES = ("silico", "anthology-2024")


def _renamed(raw: dict[str, Any]) -> dict[str, Any]:
    """A spec written with the older names (``answers``, ``answers.mode``) in today's,
    so that the user's own settings still win over a procedure's preset."""
    out = dict(raw)
    if "answers" in out and "survey" not in out:
        out["survey"] = out.pop("answers")
    sv = out.get("survey")
    if isinstance(sv, dict) and "mode" in sv and "estimator" not in sv:
        out["survey"] = {("estimator" if k == "mode" else k): v for k, v in sv.items()}
    return out


def apply_procedure(raw: dict[str, Any]) -> dict[str, Any]:
    """The spec document with its procedure's settings under the ones it sets itself."""
    raw = _renamed(raw)
    if raw.get("procedure", "silico") != "anthology-2024":
        return raw
    out = dict(raw)
    for section, preset in ANTHOLOGY_2024.items():
        own = raw.get(section)
        if own is None or isinstance(own, dict):
            out[section] = {**preset, **(own or {})}
    return out


class StudySpec(_Strict):
    name: Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.\-]+$")]
    description: str = ""
    procedure: Literal["silico", "anthology-2024"] = Field(
        "silico",
        description="silico: Silico's defaults (logprob answers in a seeded option order, "
        "log-likelihood matching, survey weights). anthology-2024: the released Anthology code's "
        "procedure (sampled answers with retries, 40 sampled demographic answers, raw-product "
        "Hungarian matching, unweighted metrics, 20 split-halves); a spec's own settings win.",
    )
    seed: Annotated[int, Field(ge=0, lt=2**63)] = 0
    data: DataSpec
    questionnaire: QuestionnaireSpec
    backstories: BackstorySpec
    critic: CriticSpec = CriticSpec()
    demographics: DemographicsSpec = DemographicsSpec()
    matching: MatchingSpec = MatchingSpec()
    conditioning: Annotated[
        list[Literal["anthology", "qa", "bio", "portray"]], Field(min_length=1)
    ] = Field(default_factory=lambda: list(CONDITIONING_METHODS))
    survey: SurveySpec = Field(
        default_factory=SurveySpec,
        description="How the survey stage answers the questionnaire (formerly `answers`).",
    )
    model: ModelSpec = ModelSpec()
    evaluation: EvaluationSpec = EvaluationSpec()
    higher_order: HigherOrderSpec | None = Field(
        None, description="Partisan perception items and their gaps (the higher-order follow-up)."
    )

    @model_validator(mode="after")
    def _consistent(self) -> StudySpec:
        bad = sorted(set(self.questionnaire.reverse) - set(self.questionnaire.items))
        if bad:
            raise ValueError(f"questionnaire.reverse names items not in questionnaire.items: {bad}")
        bad = sorted(set(self.questionnaire.questions) - set(self.questionnaire.items))
        if bad:
            raise ValueError(
                f"questionnaire.questions names items not in questionnaire.items: {bad}"
            )
        mapped = {t.trait for t in self.data.trait_columns()}
        for t in self.demographics.traits or []:
            if t not in mapped:
                raise ValueError(f"demographics.traits: {t!r} is not mapped by the data")
        for t in self.evaluation.subgroups:
            if t not in mapped:
                raise ValueError(f"evaluation.subgroups: {t!r} is not a trait the data maps")
        if self.higher_order is not None and "party" not in self.traits():
            raise ValueError("higher_order needs the 'party' trait among the annotated traits")
        if self.higher_order is not None and any(
            t.trait == "party" and t.categories is not None for t in self.data.traits or []
        ):
            # Its groups are the catalogue's party options (higher_order.labels).
            raise ValueError(
                "higher_order needs the catalogue 'party' trait; data.traits defines its own"
            )
        if (
            "hungarian" in self.matching.methods
            and self.data.sample
            and self.backstories.count < self.data.sample
        ):
            raise ValueError(
                f"matching.methods: hungarian needs backstories.count >= data.sample "
                f"({self.backstories.count} < {self.data.sample})"
            )
        return self

    def traits(self) -> list[str]:
        mapped = [t.trait for t in self.data.trait_columns()]
        return list(self.demographics.traits or mapped)


def _field(loc: tuple[Any, ...]) -> str:
    out = ""
    for p in loc:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "spec"


def parse_spec(raw: Any, base_dir: Path | None = None) -> StudySpec:
    """Validate a parsed YAML/JSON document; relative data paths resolve against ``base_dir``."""
    if not isinstance(raw, dict):
        raise ValidationError("spec", "must be a mapping of fields")
    try:
        spec = StudySpec.model_validate(apply_procedure(raw))
    except PydanticValidationError as e:
        err = e.errors()[0]
        loc = tuple(
            x for x in err["loc"] if not (isinstance(x, str) and x.startswith("function-after"))
        )
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown field"
        raise ValidationError(_field(loc), msg) from None
    if base_dir is not None:
        data = spec.data
        fix = {
            k: str((base_dir / getattr(data, k)).resolve())
            for k in ("csv", "codebook")
            if getattr(data, k) is not None
            and not Path(getattr(data, k)).is_absolute()
            # An uploaded dataset is named, not placed: the study service locates it.
            and not str(getattr(data, k)).startswith("dataset://")
        }
        spec = spec.model_copy(update={"data": data.model_copy(update=fix)})
    return spec


def load_spec(path: str | Path, data_dir: str | Path | None = None) -> StudySpec:
    """Read and validate a study YAML file.

    ``data_dir`` replaces the folder of ``data.path`` and ``data.codebook`` (for
    data kept outside the repository, such as the GSS).
    """
    p = Path(path)
    try:
        text = p.read_text()
    except FileNotFoundError:
        raise ValidationError("spec", f"file not found: {p}") from None
    except IsADirectoryError:
        raise ValidationError("spec", f"{p} is a directory, not a YAML file") from None
    try:
        raw = load_yaml(text)
    except ValidationError as e:
        raise ValidationError("spec", f"{p}: {e.message}") from None
    spec = parse_spec(raw, p.parent)
    if data_dir is not None:
        d = Path(data_dir).resolve()
        data = spec.data.model_copy(
            update={
                k: str(d / Path(getattr(spec.data, k)).name)
                for k in ("csv", "codebook")
                if getattr(spec.data, k) is not None
                and not str(getattr(spec.data, k)).startswith("dataset://")
            }
        )
        spec = spec.model_copy(update={"data": data})
    return spec


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a study file."""
    return StudySpec.model_json_schema()
