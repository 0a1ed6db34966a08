"""A tiny ONNX model written by hand (no ``onnx`` package): it echoes its inputs.

``y = concat(float(x_cat), x_cont)``, so a test reads back exactly what a YAHPO family fed the
model. Protocol-buffer wire format of ``onnx.proto`` (ModelProto, GraphProto, NodeProto,
ValueInfoProto), opset 13.
"""

from __future__ import annotations

from pathlib import Path

FLOAT, INT32 = 1, 6


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _field(number: int, payload: bytes | str | int) -> bytes:
    if isinstance(payload, int):
        return _varint(number << 3) + _varint(payload)
    data = payload.encode() if isinstance(payload, str) else payload
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def _tensor(name: str, elem_type: int) -> bytes:
    dims = _field(1, _field(2, "n")) + _field(1, _field(2, "width"))
    return _field(1, name) + _field(2, _field(1, _field(1, elem_type) + _field(2, dims)))


def _node(op: str, inputs: list[str], output: str, attribute: str, value: int) -> bytes:
    attr = _field(1, attribute) + _field(3, value) + _field(20, 2)  # type INT
    return b"".join(_field(1, i) for i in inputs) + _field(2, output) + _field(3, output) \
        + _field(4, op) + _field(5, attr)


def write_echo_model(path: Path) -> None:
    """Write the echo model to ``path`` (inputs ``x_cat`` int32, ``x_cont`` float32)."""
    graph = (_field(1, _node("Cast", ["x_cat"], "cat_f", "to", FLOAT))
             + _field(1, _node("Concat", ["cat_f", "x_cont"], "y", "axis", 1))
             + _field(2, "echo") + _field(11, _tensor("x_cat", INT32))
             + _field(11, _tensor("x_cont", FLOAT)) + _field(12, _tensor("y", FLOAT)))
    model = _field(1, 8) + _field(7, graph) + _field(8, _field(2, 13))
    path.write_bytes(model)
