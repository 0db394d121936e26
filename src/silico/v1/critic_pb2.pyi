from silico.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ReviewRequest(_message.Message):
    __slots__ = ("text", "earlier", "check_length", "generated_tokens", "min_tokens", "settings")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    EARLIER_FIELD_NUMBER: _ClassVar[int]
    CHECK_LENGTH_FIELD_NUMBER: _ClassVar[int]
    GENERATED_TOKENS_FIELD_NUMBER: _ClassVar[int]
    MIN_TOKENS_FIELD_NUMBER: _ClassVar[int]
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    text: str
    earlier: _containers.RepeatedCompositeFieldContainer[_common_pb2.Turn]
    check_length: bool
    generated_tokens: int
    min_tokens: int
    settings: _common_pb2.CriticSettings
    def __init__(self, text: _Optional[str] = ..., earlier: _Optional[_Iterable[_Union[_common_pb2.Turn, _Mapping]]] = ..., check_length: _Optional[bool] = ..., generated_tokens: _Optional[int] = ..., min_tokens: _Optional[int] = ..., settings: _Optional[_Union[_common_pb2.CriticSettings, _Mapping]] = ...) -> None: ...
