from silico.v1 import backstory_pb2 as _backstory_pb2
from silico.v1 import critic_pb2 as _critic_pb2
from silico.v1 import demographics_pb2 as _demographics_pb2
from silico.v1 import survey_pb2 as _survey_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class WorkItem(_message.Message):
    __slots__ = ("study_id", "stage", "unit_key", "backstory", "demographics", "survey", "critic", "model", "critic_model")
    STUDY_ID_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    UNIT_KEY_FIELD_NUMBER: _ClassVar[int]
    BACKSTORY_FIELD_NUMBER: _ClassVar[int]
    DEMOGRAPHICS_FIELD_NUMBER: _ClassVar[int]
    SURVEY_FIELD_NUMBER: _ClassVar[int]
    CRITIC_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    CRITIC_MODEL_FIELD_NUMBER: _ClassVar[int]
    study_id: str
    stage: str
    unit_key: str
    backstory: _backstory_pb2.GenerateRequest
    demographics: _demographics_pb2.AnnotateRequest
    survey: _survey_pb2.AnswerRequest
    critic: _critic_pb2.ReviewRequest
    model: ModelRoute
    critic_model: ModelRoute
    def __init__(self, study_id: _Optional[str] = ..., stage: _Optional[str] = ..., unit_key: _Optional[str] = ..., backstory: _Optional[_Union[_backstory_pb2.GenerateRequest, _Mapping]] = ..., demographics: _Optional[_Union[_demographics_pb2.AnnotateRequest, _Mapping]] = ..., survey: _Optional[_Union[_survey_pb2.AnswerRequest, _Mapping]] = ..., critic: _Optional[_Union[_critic_pb2.ReviewRequest, _Mapping]] = ..., model: _Optional[_Union[ModelRoute, _Mapping]] = ..., critic_model: _Optional[_Union[ModelRoute, _Mapping]] = ...) -> None: ...

class ModelRoute(_message.Message):
    __slots__ = ("base_url", "name", "revision")
    BASE_URL_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    base_url: str
    name: str
    revision: str
    def __init__(self, base_url: _Optional[str] = ..., name: _Optional[str] = ..., revision: _Optional[str] = ...) -> None: ...

class WorkDone(_message.Message):
    __slots__ = ("study_id", "stage", "unit_key", "ok", "error")
    STUDY_ID_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    UNIT_KEY_FIELD_NUMBER: _ClassVar[int]
    OK_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    study_id: str
    stage: str
    unit_key: str
    ok: bool
    error: str
    def __init__(self, study_id: _Optional[str] = ..., stage: _Optional[str] = ..., unit_key: _Optional[str] = ..., ok: _Optional[bool] = ..., error: _Optional[str] = ...) -> None: ...
