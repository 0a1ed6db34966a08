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


def write_lcbench_echo_model(path: Path) -> None:
    """Write a model of LCBench's six outputs to ``path``: ``[x_cat, x_cont[:, :4], x_cat]``.

    Its outputs ``time, val_accuracy, ...`` are then the task's code, the epoch, the batch
    size, the learning rate, the momentum and the code again: a curve read from
    ``val_accuracy`` is the epochs the family fed, 1 to the budget. ``x_cont``'s 8 columns
    are split in two halves (Split, opset 13, equal parts without a ``split`` input).
    """
    split = (_field(1, "x_cont") + _field(2, "first") + _field(2, "second") + _field(3, "split")
             + _field(4, "Split") + _field(5, _field(1, "axis") + _field(3, 1) + _field(20, 2)))
    concat = (_field(1, "cat_f") + _field(1, "first") + _field(1, "cat_f") + _field(2, "y")
              + _field(3, "y") + _field(4, "Concat")
              + _field(5, _field(1, "axis") + _field(3, 1) + _field(20, 2)))
    graph = (_field(1, _node("Cast", ["x_cat"], "cat_f", "to", FLOAT)) + _field(1, split)
             + _field(1, concat) + _field(2, "lcbench_echo")
             + _field(11, _tensor("x_cat", INT32)) + _field(11, _tensor("x_cont", FLOAT))
             + _field(12, _tensor("y", FLOAT)))
    path.write_bytes(_field(1, 8) + _field(7, graph) + _field(8, _field(2, 13)))
