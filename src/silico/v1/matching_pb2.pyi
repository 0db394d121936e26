from silico.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class MatchRequest(_message.Message):
    __slots__ = ("method", "traits", "capacity", "survey_weights", "seed", "raw_weights")
    METHOD_FIELD_NUMBER: _ClassVar[int]
    TRAITS_FIELD_NUMBER: _ClassVar[int]
    CAPACITY_FIELD_NUMBER: _ClassVar[int]
    SURVEY_WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    RAW_WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    method: str
    traits: _containers.RepeatedCompositeFieldContainer[_common_pb2.TraitMatrix]
    capacity: int
    survey_weights: _containers.RepeatedScalarFieldContainer[float]
    seed: int
    raw_weights: bool
    def __init__(self, method: _Optional[str] = ..., traits: _Optional[_Iterable[_Union[_common_pb2.TraitMatrix, _Mapping]]] = ..., capacity: _Optional[int] = ..., survey_weights: _Optional[_Iterable[float]] = ..., seed: _Optional[int] = ..., raw_weights: _Optional[bool] = ...) -> None: ...

class MatchResponse(_message.Message):
    __slots__ = ("persona", "log_weight")
    PERSONA_FIELD_NUMBER: _ClassVar[int]
    LOG_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    persona: _containers.RepeatedScalarFieldContainer[int]
    log_weight: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, persona: _Optional[_Iterable[int]] = ..., log_weight: _Optional[_Iterable[float]] = ...) -> None: ...
