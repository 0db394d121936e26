from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class StudyState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    STUDY_STATE_UNSPECIFIED: _ClassVar[StudyState]
    STUDY_STATE_QUEUED: _ClassVar[StudyState]
    STUDY_STATE_RUNNING: _ClassVar[StudyState]
    STUDY_STATE_SUCCEEDED: _ClassVar[StudyState]
    STUDY_STATE_FAILED: _ClassVar[StudyState]
    STUDY_STATE_CANCELLED: _ClassVar[StudyState]
STUDY_STATE_UNSPECIFIED: StudyState
STUDY_STATE_QUEUED: StudyState
STUDY_STATE_RUNNING: StudyState
STUDY_STATE_SUCCEEDED: StudyState
STUDY_STATE_FAILED: StudyState
STUDY_STATE_CANCELLED: StudyState

class Item(_message.Message):
    __slots__ = ("id", "question", "options", "codes")
    ID_FIELD_NUMBER: _ClassVar[int]
    QUESTION_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    CODES_FIELD_NUMBER: _ClassVar[int]
    id: str
    question: str
    options: _containers.RepeatedScalarFieldContainer[str]
    codes: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, id: _Optional[str] = ..., question: _Optional[str] = ..., options: _Optional[_Iterable[str]] = ..., codes: _Optional[_Iterable[int]] = ...) -> None: ...

class Distribution(_message.Message):
    __slots__ = ("probs", "compliance", "attempts")
    PROBS_FIELD_NUMBER: _ClassVar[int]
    COMPLIANCE_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    probs: _containers.RepeatedScalarFieldContainer[float]
    compliance: float
    attempts: int
    def __init__(self, probs: _Optional[_Iterable[float]] = ..., compliance: _Optional[float] = ..., attempts: _Optional[int] = ...) -> None: ...

class Verdict(_message.Message):
    __slots__ = ("accepted", "reason", "detail", "score")
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    accepted: bool
    reason: str
    detail: str
    score: float
    def __init__(self, accepted: _Optional[bool] = ..., reason: _Optional[str] = ..., detail: _Optional[str] = ..., score: _Optional[float] = ...) -> None: ...

class CriticSettings(_message.Message):
    __slots__ = ("enabled", "use_model", "check_coherence", "min_coherence", "allow_fiction", "language")
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    USE_MODEL_FIELD_NUMBER: _ClassVar[int]
    CHECK_COHERENCE_FIELD_NUMBER: _ClassVar[int]
    MIN_COHERENCE_FIELD_NUMBER: _ClassVar[int]
    ALLOW_FICTION_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    enabled: bool
    use_model: bool
    check_coherence: bool
    min_coherence: float
    allow_fiction: bool
    language: str
    def __init__(self, enabled: _Optional[bool] = ..., use_model: _Optional[bool] = ..., check_coherence: _Optional[bool] = ..., min_coherence: _Optional[float] = ..., allow_fiction: _Optional[bool] = ..., language: _Optional[str] = ...) -> None: ...

class Backstory(_message.Message):
    __slots__ = ("id", "text", "seed", "generated_tokens", "attempts", "accepted", "reason", "verdicts")
    ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    GENERATED_TOKENS_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    VERDICTS_FIELD_NUMBER: _ClassVar[int]
    id: str
    text: str
    seed: int
    generated_tokens: int
    attempts: int
    accepted: bool
    reason: str
    verdicts: _containers.RepeatedCompositeFieldContainer[Verdict]
    def __init__(self, id: _Optional[str] = ..., text: _Optional[str] = ..., seed: _Optional[int] = ..., generated_tokens: _Optional[int] = ..., attempts: _Optional[int] = ..., accepted: _Optional[bool] = ..., reason: _Optional[str] = ..., verdicts: _Optional[_Iterable[_Union[Verdict, _Mapping]]] = ...) -> None: ...

class Turn(_message.Message):
    __slots__ = ("question", "answer")
    QUESTION_FIELD_NUMBER: _ClassVar[int]
    ANSWER_FIELD_NUMBER: _ClassVar[int]
    question: str
    answer: str
    def __init__(self, question: _Optional[str] = ..., answer: _Optional[str] = ...) -> None: ...

class TraitDefinition(_message.Message):
    __slots__ = ("name", "question", "categories", "first_person", "second_person")
    NAME_FIELD_NUMBER: _ClassVar[int]
    QUESTION_FIELD_NUMBER: _ClassVar[int]
    CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    FIRST_PERSON_FIELD_NUMBER: _ClassVar[int]
    SECOND_PERSON_FIELD_NUMBER: _ClassVar[int]
    name: str
    question: str
    categories: _containers.RepeatedScalarFieldContainer[str]
    first_person: _containers.RepeatedScalarFieldContainer[str]
    second_person: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., question: _Optional[str] = ..., categories: _Optional[_Iterable[str]] = ..., first_person: _Optional[_Iterable[str]] = ..., second_person: _Optional[_Iterable[str]] = ...) -> None: ...

class TraitDistribution(_message.Message):
    __slots__ = ("trait", "probs", "compliance")
    TRAIT_FIELD_NUMBER: _ClassVar[int]
    PROBS_FIELD_NUMBER: _ClassVar[int]
    COMPLIANCE_FIELD_NUMBER: _ClassVar[int]
    trait: str
    probs: _containers.RepeatedScalarFieldContainer[float]
    compliance: float
    def __init__(self, trait: _Optional[str] = ..., probs: _Optional[_Iterable[float]] = ..., compliance: _Optional[float] = ...) -> None: ...

class TraitMatrix(_message.Message):
    __slots__ = ("trait", "n_personas", "n_categories", "probs", "human_categories")
    TRAIT_FIELD_NUMBER: _ClassVar[int]
    N_PERSONAS_FIELD_NUMBER: _ClassVar[int]
    N_CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    PROBS_FIELD_NUMBER: _ClassVar[int]
    HUMAN_CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    trait: str
    n_personas: int
    n_categories: int
    probs: _containers.RepeatedScalarFieldContainer[float]
    human_categories: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, trait: _Optional[str] = ..., n_personas: _Optional[int] = ..., n_categories: _Optional[int] = ..., probs: _Optional[_Iterable[float]] = ..., human_categories: _Optional[_Iterable[int]] = ...) -> None: ...

class ResponseMatrix(_message.Message):
    __slots__ = ("n", "p", "values", "ks", "weights")
    N_FIELD_NUMBER: _ClassVar[int]
    P_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    KS_FIELD_NUMBER: _ClassVar[int]
    WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    n: int
    p: int
    values: _containers.RepeatedScalarFieldContainer[float]
    ks: _containers.RepeatedScalarFieldContainer[int]
    weights: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, n: _Optional[int] = ..., p: _Optional[int] = ..., values: _Optional[_Iterable[float]] = ..., ks: _Optional[_Iterable[int]] = ..., weights: _Optional[_Iterable[float]] = ...) -> None: ...

class Interval(_message.Message):
    __slots__ = ("estimate", "low", "high", "n")
    ESTIMATE_FIELD_NUMBER: _ClassVar[int]
    LOW_FIELD_NUMBER: _ClassVar[int]
    HIGH_FIELD_NUMBER: _ClassVar[int]
    N_FIELD_NUMBER: _ClassVar[int]
    estimate: float
    low: float
    high: float
    n: int
    def __init__(self, estimate: _Optional[float] = ..., low: _Optional[float] = ..., high: _Optional[float] = ..., n: _Optional[int] = ...) -> None: ...

class StageProgress(_message.Message):
    __slots__ = ("stage", "done", "total")
    STAGE_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    stage: str
    done: int
    total: int
    def __init__(self, stage: _Optional[str] = ..., done: _Optional[int] = ..., total: _Optional[int] = ...) -> None: ...

class Usage(_message.Message):
    __slots__ = ("stage", "calls", "prompt_tokens", "cached_tokens", "generated_tokens")
    STAGE_FIELD_NUMBER: _ClassVar[int]
    CALLS_FIELD_NUMBER: _ClassVar[int]
    PROMPT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CACHED_TOKENS_FIELD_NUMBER: _ClassVar[int]
    GENERATED_TOKENS_FIELD_NUMBER: _ClassVar[int]
    stage: str
    calls: int
    prompt_tokens: int
    cached_tokens: int
    generated_tokens: int
    def __init__(self, stage: _Optional[str] = ..., calls: _Optional[int] = ..., prompt_tokens: _Optional[int] = ..., cached_tokens: _Optional[int] = ..., generated_tokens: _Optional[int] = ...) -> None: ...

class Study(_message.Message):
    __slots__ = ("id", "name", "state", "error", "progress", "created_unix", "updated_unix")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    CREATED_UNIX_FIELD_NUMBER: _ClassVar[int]
    UPDATED_UNIX_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    state: StudyState
    error: str
    progress: _containers.RepeatedCompositeFieldContainer[StageProgress]
    created_unix: float
    updated_unix: float
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., state: _Optional[_Union[StudyState, str]] = ..., error: _Optional[str] = ..., progress: _Optional[_Iterable[_Union[StageProgress, _Mapping]]] = ..., created_unix: _Optional[float] = ..., updated_unix: _Optional[float] = ...) -> None: ...
