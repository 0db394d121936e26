from silico.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CompareRequest(_message.Message):
    __slots__ = ("human", "virtual", "bootstrap", "seed", "level", "virtual_dists", "dists_k", "clusters")
    HUMAN_FIELD_NUMBER: _ClassVar[int]
    VIRTUAL_FIELD_NUMBER: _ClassVar[int]
    BOOTSTRAP_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    VIRTUAL_DISTS_FIELD_NUMBER: _ClassVar[int]
    DISTS_K_FIELD_NUMBER: _ClassVar[int]
    CLUSTERS_FIELD_NUMBER: _ClassVar[int]
    human: _common_pb2.ResponseMatrix
    virtual: _common_pb2.ResponseMatrix
    bootstrap: int
    seed: int
    level: float
    virtual_dists: _containers.RepeatedScalarFieldContainer[float]
    dists_k: int
    clusters: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, human: _Optional[_Union[_common_pb2.ResponseMatrix, _Mapping]] = ..., virtual: _Optional[_Union[_common_pb2.ResponseMatrix, _Mapping]] = ..., bootstrap: _Optional[int] = ..., seed: _Optional[int] = ..., level: _Optional[float] = ..., virtual_dists: _Optional[_Iterable[float]] = ..., dists_k: _Optional[int] = ..., clusters: _Optional[_Iterable[int]] = ...) -> None: ...

class SplitHalfRequest(_message.Message):
    __slots__ = ("human", "iterations", "seed", "level")
    HUMAN_FIELD_NUMBER: _ClassVar[int]
    ITERATIONS_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    human: _common_pb2.ResponseMatrix
    iterations: int
    seed: int
    level: float
    def __init__(self, human: _Optional[_Union[_common_pb2.ResponseMatrix, _Mapping]] = ..., iterations: _Optional[int] = ..., seed: _Optional[int] = ..., level: _Optional[float] = ...) -> None: ...

class CompareResponse(_message.Message):
    __slots__ = ("metrics",)
    class MetricsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _common_pb2.Interval
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_common_pb2.Interval, _Mapping]] = ...) -> None: ...
    METRICS_FIELD_NUMBER: _ClassVar[int]
    metrics: _containers.MessageMap[str, _common_pb2.Interval]
    def __init__(self, metrics: _Optional[_Mapping[str, _common_pb2.Interval]] = ...) -> None: ...
