"""The few protobuf wire-format encoders the OTLP export needs, on bytes.

Why not the generated opentelemetry-proto classes: building a span through them costs a
Python-to-upb message per attribute, ~70 µs a request in all, on the core that serves requests
(benchmarks/results/telemetry.md). OTLP is a small, frozen schema, so its messages are written
here directly: one bytes join per field. tests/telemetry decodes every message with
opentelemetry-proto, so a field number gone wrong fails there.
"""

from __future__ import annotations

import struct
from functools import lru_cache
from typing import Any

_DOUBLE = struct.Struct("<d").pack
_FIXED64 = struct.Struct("<Q").pack
_SMALL = [bytes((i,)) for i in range(128)]


def varint(n: int) -> bytes:
    if n < 128:
        return _SMALL[n] if n >= 0 else varint(n + (1 << 64))  # int64: two's complement, 10 bytes
    out = bytearray()
    while n >= 128:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def tag(field: int, wire_type: int) -> bytes:
    return varint((field << 3) | wire_type)


def message(field_tag: bytes, payload: bytes) -> bytes:
    """A length-delimited field (a string, bytes or an embedded message)."""
    n = len(payload)
    return field_tag + (_SMALL[n] if n < 128 else varint(n)) + payload


def fixed64(field_tag: bytes, n: int) -> bytes:
    return field_tag + _FIXED64(n)


# AnyValue (common/v1): string_value = 1, bool_value = 2, int_value = 3, double_value = 4.
_STRING, _TRUE, _FALSE, _INT, _DOUBLE_TAG = tag(1, 2), tag(2, 0) + b"\x01", tag(2, 0) + b"\x00", tag(3, 0), tag(4, 1)
# KeyValue: key = 1, value = 2.
_KV_VALUE = tag(2, 2)


def _length(n: int) -> bytes:
    return _SMALL[n] if n < 128 else varint(n)


def any_value(v: Any) -> bytes:
    t = type(v)  # exact types first: bool is an int, and strings are most attributes
    if t is str:
        b = v.encode()
        return _STRING + _length(len(b)) + b
    if t is bool:
        return _TRUE if v else _FALSE
    if t is int or isinstance(v, int):
        return _INT + varint(int(v))
    if t is float or isinstance(v, float):
        return _DOUBLE_TAG + _DOUBLE(v)
    return message(_STRING, str(v).encode())


@lru_cache(maxsize=256)
def _key(key: str) -> bytes:
    return message(tag(1, 2), key.encode()) + _KV_VALUE


class Attributes:
    """Encodes repeated KeyValue fields under one field tag. Most attribute values repeat from
    request to request (an operation, a provider, a model, an outcome): their encoded KeyValue
    is kept, up to `cache_size` of them, and only the few unique ones (a request id, token
    counts, a cost) are encoded each time. Used from one worker thread."""

    __slots__ = ("_tag", "_cache", "_cache_size")

    def __init__(self, field_tag: bytes, cache_size: int = 4096) -> None:
        self._tag = field_tag
        self._cache: dict[tuple[str, Any], bytes] = {}
        self._cache_size = cache_size

    def encode(self, k: str, v: Any) -> bytes:
        value = any_value(v)
        kv = _key(k) + _length(len(value)) + value
        return self._tag + _length(len(kv)) + kv

    def __call__(self, pairs: Any, repeated: frozenset[str] = frozenset()) -> bytes:
        """`pairs` as (key, value); those whose value is None or "" are left out. Values of the
        keys in `repeated` are cached (strings and bools only: 1 == 1.0 == True as dict keys)."""
        out = []
        append = out.append
        cache = self._cache
        for k, v in pairs:
            if v is None or v == "":
                continue
            if k in repeated and (type(v) is str or type(v) is bool):
                key = (k, v)
                field = cache.get(key)
                if field is None:
                    if len(cache) >= self._cache_size:
                        cache.clear()  # bounded; a new working set refills it in a few requests
                    field = cache[key] = self.encode(k, v)
                append(field)
            else:
                append(self.encode(k, v))
        return b"".join(out)


def attributes(field_tag: bytes, pairs: Any) -> bytes:
    """Repeated KeyValue under `field_tag`, nothing cached; pairs whose value is None or "" are
    left out."""
    return Attributes(field_tag, 0)(pairs)
