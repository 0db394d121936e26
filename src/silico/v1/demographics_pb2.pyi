from silico.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AnnotateRequest(_message.Message):
    __slots__ = ("backstory", "traits", "estimator", "samples", "seed", "index", "orders", "definitions")
    BACKSTORY_FIELD_NUMBER: _ClassVar[int]
    TRAITS_FIELD_NUMBER: _ClassVar[int]
    ESTIMATOR_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    ORDERS_FIELD_NUMBER: _ClassVar[int]
    DEFINITIONS_FIELD_NUMBER: _ClassVar[int]
    backstory: str
    traits: _containers.RepeatedScalarFieldContainer[str]
    estimator: str
    samples: int
    seed: int
    index: int
    orders: _containers.RepeatedScalarFieldContainer[str]
    definitions: _containers.RepeatedCompositeFieldContainer[_common_pb2.TraitDefinition]
    def __init__(self, backstory: _Optional[str] = ..., traits: _Optional[_Iterable[str]] = ..., estimator: _Optional[str] = ..., samples: _Optional[int] = ..., seed: _Optional[int] = ..., index: _Optional[int] = ..., orders: _Optional[_Iterable[str]] = ..., definitions: _Optional[_Iterable[_Union[_common_pb2.TraitDefinition, _Mapping]]] = ...) -> None: ...

class AnnotateResponse(_message.Message):
    __slots__ = ("traits",)
    TRAITS_FIELD_NUMBER: _ClassVar[int]
    traits: _containers.RepeatedCompositeFieldContainer[_common_pb2.TraitDistribution]
    def __init__(self, traits: _Optional[_Iterable[_Union[_common_pb2.TraitDistribution, _Mapping]]] = ...) -> None: ...
