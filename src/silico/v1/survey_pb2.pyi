from silico.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AnswerRequest(_message.Message):
    __slots__ = ("context", "items", "orders", "estimator", "seed", "index", "stage", "max_attempts", "min_compliance", "series", "order_policy")
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    ORDERS_FIELD_NUMBER: _ClassVar[int]
    ESTIMATOR_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    MAX_ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    MIN_COMPLIANCE_FIELD_NUMBER: _ClassVar[int]
    SERIES_FIELD_NUMBER: _ClassVar[int]
    ORDER_POLICY_FIELD_NUMBER: _ClassVar[int]
    context: str
    items: _containers.RepeatedCompositeFieldContainer[_common_pb2.Item]
    orders: _containers.RepeatedScalarFieldContainer[str]
    estimator: str
    seed: int
    index: int
    stage: str
    max_attempts: int
    min_compliance: float
    series: bool
    order_policy: str
    def __init__(self, context: _Optional[str] = ..., items: _Optional[_Iterable[_Union[_common_pb2.Item, _Mapping]]] = ..., orders: _Optional[_Iterable[str]] = ..., estimator: _Optional[str] = ..., seed: _Optional[int] = ..., index: _Optional[int] = ..., stage: _Optional[str] = ..., max_attempts: _Optional[int] = ..., min_compliance: _Optional[float] = ..., series: _Optional[bool] = ..., order_policy: _Optional[str] = ...) -> None: ...

class AnswerResponse(_message.Message):
    __slots__ = ("answers",)
    ANSWERS_FIELD_NUMBER: _ClassVar[int]
    answers: _containers.RepeatedCompositeFieldContainer[_common_pb2.Distribution]
    def __init__(self, answers: _Optional[_Iterable[_Union[_common_pb2.Distribution, _Mapping]]] = ...) -> None: ...
