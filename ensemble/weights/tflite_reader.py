"""Read the weights of a .tflite model's convolution and dense layers as float arrays.

TF Hub's "lite" models store convolution weights as int8 with one scale per output
channel (batch norm already folded in) and compute in float. Reading the
flatbuffer directly (TensorFlow's generated schema) gives the operator graph,
each weight tensor and its quantisation parameters without running a model, so a
float Keras port can be filled with the exact values Google's runtime uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seraudit.core.errors import WeightsError

# Operators that own trainable weights, by their TFLite builtin name.
WEIGHTED_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")

_NUMPY_DTYPE = {
    "FLOAT32": np.float32,
    "FLOAT16": np.float16,
    "INT8": np.int8,
    "UINT8": np.uint8,
    "INT32": np.int32,
}


@dataclass(frozen=True)
class TfliteLayer:
    """One weighted operator of a .tflite graph, weights dequantised to float32.

    `kernel` keeps TFLite's layout: CONV_2D `[out, h, w, in]`,
    DEPTHWISE_CONV_2D `[1, h, w, channels]`, FULLY_CONNECTED `[out, in]`.
    """

    op: str
    name: str
    kernel: np.ndarray
    bias: np.ndarray | None
    strides: tuple[int, int] | None
    padding: str | None
    quantized: bool


def dequantize(values: np.ndarray, scales: np.ndarray, zero_points: np.ndarray, axis: int) -> np.ndarray:
    """Float weights from int8/uint8 values with per-tensor or per-channel (`axis`) scales."""
    values = np.asarray(values, dtype=np.float32)
    scales = np.asarray(scales, dtype=np.float32).reshape(-1)
    zero_points = np.asarray(zero_points, dtype=np.float32).reshape(-1)
    if zero_points.size == 0:
        zero_points = np.zeros_like(scales)
    if scales.size == 1:
        return (values - zero_points[0]) * scales[0]
    shape = [1] * values.ndim
    shape[axis] = scales.size
    return (values - zero_points.reshape(shape)) * scales.reshape(shape)


def _schema():
    from tensorflow.lite.python import schema_py_generated as schema

    return schema


def _enum_names(enum_class) -> dict[int, str]:
    return {value: key for key, value in vars(enum_class).items() if not key.startswith("_")}


class _Graph:
    """The first subgraph of a parsed .tflite file, with tensors readable as float arrays."""

    def __init__(self, path: Path):
        schema = _schema()
        self.path = path
        try:
            self.raw = path.read_bytes()
        except OSError as error:
            raise WeightsError(f"cannot read TFLite weights {path}: {error}") from error
        if len(self.raw) < 8 or self.raw[4:8] != b"TFL3":
            raise WeightsError(
                f"{path} is not a TFLite flatbuffer (no 'TFL3' identifier): the file is corrupt or "
                "of another format; download yamnet.tflite again (TF Hub lite-model/yamnet/tflite/1)"
            )
        try:
            self.model = schema.ModelT.InitFromPackedBuf(self.raw, 0)
            self.subgraph = self.model.subgraphs[0]
        except Exception as error:  # flatbuffers raises bare struct/index errors on truncated files
            raise WeightsError(
                f"{path} could not be parsed as a TFLite model ({type(error).__name__}: {error}); "
                "the file is truncated or corrupt: download it again"
            ) from error
        self.op_names = _enum_names(schema.BuiltinOperator)
        self.type_names = _enum_names(schema.TensorType)
        self.padding_names = _enum_names(schema.Padding)
        self.producers = {
            output: index for index, op in enumerate(self.subgraph.operators) for output in op.outputs
        }

    def op_name(self, op) -> str:
        code = self.model.operatorCodes[op.opcodeIndex]
        return self.op_names.get(max(code.builtinCode, code.deprecatedBuiltinCode), "UNKNOWN")

    def tensor_name(self, index: int) -> str:
        name = self.subgraph.tensors[index].name
        return name.decode() if isinstance(name, bytes) else str(name)

    def _raw_array(self, index: int) -> np.ndarray | None:
        tensor = self.subgraph.tensors[index]
        buffer = self.model.buffers[tensor.buffer]
        if buffer.data is not None and len(buffer.data):
            data = np.asarray(buffer.data, dtype=np.uint8).tobytes()
        elif buffer.offset > 1 and buffer.size:  # large models keep data after the flatbuffer
            data = self.raw[buffer.offset : buffer.offset + buffer.size]
        else:
            return None
        type_name = self.type_names.get(tensor.type, str(tensor.type))
        if type_name not in _NUMPY_DTYPE:
            raise WeightsError(f"{self.path}: tensor {self.tensor_name(index)!r} has unsupported type {type_name}")
        shape = [] if tensor.shape is None else [int(dim) for dim in tensor.shape]
        return np.frombuffer(data, dtype=_NUMPY_DTYPE[type_name]).reshape(shape)

    def constant(self, index: int) -> tuple[np.ndarray, bool]:
        """Float value of a constant tensor (following a DEQUANTIZE op if one produces it)."""
        if index in self.producers:
            op = self.subgraph.operators[self.producers[index]]
            if self.op_name(op) != "DEQUANTIZE":
                raise WeightsError(
                    f"{self.path}: weight tensor {self.tensor_name(index)!r} is computed by "
                    f"{self.op_name(op)}, not stored; this .tflite layout is not supported"
                )
            return self.constant(op.inputs[0])[0], True
        values = self._raw_array(index)
        if values is None:
            raise WeightsError(f"{self.path}: weight tensor {self.tensor_name(index)!r} holds no data")
        quantization = self.subgraph.tensors[index].quantization
        if values.dtype in (np.int8, np.uint8):
            if quantization is None or quantization.scale is None or len(quantization.scale) == 0:
                raise WeightsError(f"{self.path}: int8 tensor {self.tensor_name(index)!r} has no scales")
            zero_points = quantization.zeroPoint if quantization.zeroPoint is not None else []
            return dequantize(values, quantization.scale, zero_points, quantization.quantizedDimension), True
        return values.astype(np.float32), False


def read_tflite_layers(path: str | Path) -> list[TfliteLayer]:
    """Every convolution and dense operator of a .tflite model, in graph (execution) order.

    Raises `WeightsError` naming the file when it is missing, not a TFLite
    flatbuffer, or stores weights in a way this reader does not understand.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(
            f"TFLite weights not found: {path}; point `models_dir` (or SERAUDIT_MODELS_DIR) at a folder "
            "holding yamnet/yamnet.tflite"
        )
    graph = _Graph(path)
    layers: list[TfliteLayer] = []
    for op in graph.subgraph.operators:
        op_name = graph.op_name(op)
        if op_name not in WEIGHTED_OPS:
            continue
        kernel, quantized = graph.constant(op.inputs[1])
        bias = None
        if len(op.inputs) > 2 and op.inputs[2] >= 0:
            bias = graph.constant(op.inputs[2])[0]
        strides = padding = None
        if op_name != "FULLY_CONNECTED" and op.builtinOptions is not None:
            strides = (int(op.builtinOptions.strideH), int(op.builtinOptions.strideW))
            padding = graph.padding_names.get(op.builtinOptions.padding)
        layers.append(
            TfliteLayer(
                op=op_name,
                name=graph.tensor_name(op.outputs[0]),
                kernel=kernel,
                bias=bias,
                strides=strides,
                padding=padding,
                quantized=quantized,
            )
        )
    return layers
