from silico.v1 import common_pb2 as _common_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class BackstorySettings(_message.Message):
    __slots__ = ("mode", "variant", "prompt_format", "max_tokens", "min_tokens", "temperature", "top_p", "citizen_preamble", "max_attempts", "model_name", "repetition_penalty", "critic")
    MODE_FIELD_NUMBER: _ClassVar[int]
    VARIANT_FIELD_NUMBER: _ClassVar[int]
    PROMPT_FORMAT_FIELD_NUMBER: _ClassVar[int]
    MAX_TOKENS_FIELD_NUMBER: _ClassVar[int]
    MIN_TOKENS_FIELD_NUMBER: _ClassVar[int]
    TEMPERATURE_FIELD_NUMBER: _ClassVar[int]
    TOP_P_FIELD_NUMBER: _ClassVar[int]
    CITIZEN_PREAMBLE_FIELD_NUMBER: _ClassVar[int]
    MAX_ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    MODEL_NAME_FIELD_NUMBER: _ClassVar[int]
    REPETITION_PENALTY_FIELD_NUMBER: _ClassVar[int]
    CRITIC_FIELD_NUMBER: _ClassVar[int]
    mode: str
    variant: str
    prompt_format: str
    max_tokens: int
    min_tokens: int
    temperature: float
    top_p: float
    citizen_preamble: bool
    max_attempts: int
    model_name: str
    repetition_penalty: float
    critic: _common_pb2.CriticSettings
    def __init__(self, mode: _Optional[str] = ..., variant: _Optional[str] = ..., prompt_format: _Optional[str] = ..., max_tokens: _Optional[int] = ..., min_tokens: _Optional[int] = ..., temperature: _Optional[float] = ..., top_p: _Optional[float] = ..., citizen_preamble: _Optional[bool] = ..., max_attempts: _Optional[int] = ..., model_name: _Optional[str] = ..., repetition_penalty: _Optional[float] = ..., critic: _Optional[_Union[_common_pb2.CriticSettings, _Mapping]] = ...) -> None: ...

class GenerateRequest(_message.Message):
    __slots__ = ("study_seed", "index", "settings", "attempt")
    STUDY_SEED_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    study_seed: int
    index: int
    settings: BackstorySettings
    attempt: int
    def __init__(self, study_seed: _Optional[int] = ..., index: _Optional[int] = ..., settings: _Optional[_Union[BackstorySettings, _Mapping]] = ..., attempt: _Optional[int] = ...) -> None: ...

class GenerateResponse(_message.Message):
    __slots__ = ("text", "generated_tokens", "seed", "backstory_id", "interview")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    GENERATED_TOKENS_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    BACKSTORY_ID_FIELD_NUMBER: _ClassVar[int]
    INTERVIEW_FIELD_NUMBER: _ClassVar[int]
    text: str
    generated_tokens: int
    seed: int
    backstory_id: str
    interview: _common_pb2.Backstory
    def __init__(self, text: _Optional[str] = ..., generated_tokens: _Optional[int] = ..., seed: _Optional[int] = ..., backstory_id: _Optional[str] = ..., interview: _Optional[_Union[_common_pb2.Backstory, _Mapping]] = ...) -> None: ...
