"""A minimal writer of ONNX model protobufs, so the scorer needs onnxruntime but not `onnx`.

The `onnx` package (about 25 MB installed with ml_dtypes) would only be used to serialise a
graph built in code; it also requires protobuf >= 6, which apache-beam's pin (< 6) forbids in
the Flink environment. ONNX models are plain protobuf messages, and the few message types a
graph of constant weights and operators needs are written here directly in the protobuf wire
format: varints (wire type 0), 32-bit floats (wire type 5) and length-delimited fields (wire
type 2). Field numbers are those of onnx/onnx.proto (IR version 8).

Only what `flink.scoring.onnx_graph` uses is covered: tensors as raw little-endian data,
int/float/ints/string/tensor attributes, tensor-typed graph inputs and outputs with symbolic
dimensions.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

IR_VERSION = 8

AttrValue = int | float | str | Sequence[int] | np.ndarray

# TensorProto.DataType
_DTYPES: dict[np.dtype, int] = {
    np.dtype(np.float32): 1,
    np.dtype(np.uint8): 2,
    np.dtype(np.int8): 3,
    np.dtype(np.int32): 6,
    np.dtype(np.int64): 7,
}
FLOAT, INT32, INT64 = 1, 6, 7

# AttributeProto.AttributeType
_ATTR_FLOAT, _ATTR_INT, _ATTR_STRING, _ATTR_TENSOR, _ATTR_INTS = 1, 2, 3, 4, 7


def _varint(value: int) -> bytes:
    if value < 0:
        value += 1 << 64  # int64 fields encode negatives as ten-byte two's complement
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _key(number: int, wire_type: int) -> bytes:
    return _varint((number << 3) | wire_type)


def _int(number: int, value: int) -> bytes:
    return _key(number, 0) + _varint(value)


def _bytes(number: int, value: bytes) -> bytes:
    return _key(number, 2) + _varint(len(value)) + value


def _str(number: int, value: str) -> bytes:
    return _bytes(number, value.encode("utf-8"))


def _float(number: int, value: float) -> bytes:
    return _key(number, 5) + struct.pack("<f", value)


def tensor(name: str, array: np.ndarray) -> bytes:
    """A TensorProto holding `array` (float32, int8, uint8, int32 or int64) as raw data."""
    array = np.asarray(array)
    try:
        data_type = _DTYPES[array.dtype]
    except KeyError:
        raise TypeError(f"no ONNX tensor type for {array.dtype}") from None
    out = b"".join(_int(1, d) for d in array.shape)
    out += _int(2, data_type) + _str(8, name)
    return out + _bytes(
        9, np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<")).tobytes()
    )


def attribute(name: str, value: AttrValue) -> bytes:
    """An AttributeProto; the type follows the Python value (bool counts as int)."""
    out = _str(1, name)
    if isinstance(value, np.ndarray):
        return out + _bytes(5, tensor(name, value)) + _int(20, _ATTR_TENSOR)
    if isinstance(value, bool | int):
        return out + _int(3, int(value)) + _int(20, _ATTR_INT)
    if isinstance(value, float):
        return out + _float(2, value) + _int(20, _ATTR_FLOAT)
    if isinstance(value, str):
        return out + _str(4, value) + _int(20, _ATTR_STRING)
    return out + b"".join(_int(8, int(v)) for v in value) + _int(20, _ATTR_INTS)


def node(
    op_type: str,
    inputs: Sequence[str],
    outputs: Sequence[str],
    *,
    name: str = "",
    domain: str = "",
    **attrs: AttrValue,
) -> bytes:
    """A NodeProto. An empty input name marks an omitted optional input."""
    return _node(op_type, inputs, outputs, name, domain, attrs)


def _node(
    op_type: str,
    inputs: Sequence[str],
    outputs: Sequence[str],
    name: str,
    domain: str,
    attrs: Mapping[str, AttrValue],
) -> bytes:
    out = b"".join(_str(1, i) for i in inputs) + b"".join(_str(2, o) for o in outputs)
    if name:
        out += _str(3, name)
    out += _str(4, op_type)
    out += b"".join(_bytes(5, attribute(k, v)) for k, v in attrs.items())
    if domain:
        out += _str(7, domain)
    return out


def value_info(name: str, elem_type: int, shape: Sequence[int | str]) -> bytes:
    """A ValueInfoProto of a tensor; a str dimension is symbolic (e.g. "batch")."""
    dims = b"".join(_bytes(1, _str(2, d) if isinstance(d, str) else _int(1, d)) for d in shape)
    tensor_type = _int(1, elem_type) + _bytes(2, dims)
    return _str(1, name) + _bytes(2, _bytes(1, tensor_type))


@dataclass
class GraphBuilder:
    """Collects nodes and initializers and serialises them as one ModelProto."""

    name: str
    nodes: list[bytes] = field(default_factory=list)
    initializers: list[bytes] = field(default_factory=list)
    _counter: int = 0

    def fresh(self, hint: str) -> str:
        """A new unique value name."""
        self._counter += 1
        return f"{hint}_{self._counter}"

    def const(self, hint: str, array: np.ndarray) -> str:
        """Adds `array` as an initializer; returns its name."""
        name = self.fresh(hint)
        self.initializers.append(tensor(name, array))
        return name

    def op(
        self,
        op_type: str,
        inputs: Sequence[str],
        *,
        domain: str = "",
        outputs: int = 1,
        **attrs: AttrValue,
    ) -> str:
        """Appends a node with fresh output names; returns the first output's name."""
        names = [self.fresh(op_type.lower()) for _ in range(outputs)]
        self.nodes.append(_node(op_type, inputs, names, "", domain, attrs))
        return names[0]

    def model(
        self,
        inputs: Iterable[bytes],
        outputs: Iterable[bytes],
        opsets: dict[str, int],
        producer: str = "flink.scoring",
    ) -> bytes:
        """The serialised ModelProto; `opsets` maps domain ("" for ai.onnx) to version."""
        graph = b"".join(_bytes(1, n) for n in self.nodes) + _str(2, self.name)
        graph += b"".join(_bytes(5, t) for t in self.initializers)
        graph += b"".join(_bytes(11, i) for i in inputs)
        graph += b"".join(_bytes(12, o) for o in outputs)
        out = _int(1, IR_VERSION) + _str(2, producer) + _bytes(7, graph)
        for domain, version in opsets.items():
            out += _bytes(8, _str(1, domain) + _int(2, version))
        return out
