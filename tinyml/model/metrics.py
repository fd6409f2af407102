"""How close the int8 model is to the float one: accuracy or RMSE, and output differences."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from tinyml.errors import ErrorKind, TinymlError


def task_of(y: np.ndarray) -> str:
    """"classification" for integer labels, "regression" for float targets."""
    return "classification" if np.issubdtype(np.asarray(y).dtype, np.integer) else "regression"


def check_targets(y: np.ndarray, output_shape: tuple[int, ...], *, label: str = "validation data") -> str:
    """The task for ``y`` against a model output of ``output_shape`` (no batch axis), or a TinymlError.

    Classification: integer labels, one per sample, each in [0, number of outputs).
    Regression: float targets with as many values per sample as the model outputs.
    """
    width = int(np.prod(output_shape)) if output_shape else 1
    task = task_of(y)
    per_sample = int(np.prod(y.shape[1:])) if y.ndim > 1 else 1
    if task == "classification":
        if per_sample != 1:
            raise TinymlError(f"{label}: integer y has shape {y.shape}, expected one label per sample (N,)",
                              hint="for one-hot targets save y.argmax(axis=-1); float y is scored by RMSE",
                              kind=ErrorKind.INPUT)
        if width < 2:
            raise TinymlError(f"{label}: y holds integer labels but the model has a single output",
                              hint="save regression targets as floats: y.astype('float32')", kind=ErrorKind.INPUT)
        if y.min() < 0 or y.max() >= width:
            raise TinymlError(f"{label}: labels range over [{y.min()}, {y.max()}] but the model has {width} outputs",
                              hint=f"labels must be class indices 0..{width - 1}", kind=ErrorKind.INPUT)
    elif per_sample != width:
        raise TinymlError(f"{label}: y has {per_sample} value(s) per sample, the model outputs {width}",
                          hint=f"pass y shaped (N, {width}) (or integer class labels for classification)",
                          kind=ErrorKind.INPUT)
    return task


def accuracy(scores: np.ndarray, labels: np.ndarray) -> float:
    """Share of samples whose highest score is the label."""
    s = np.asarray(scores).reshape(len(labels), -1)
    return float(np.mean(np.argmax(s, axis=-1) == np.asarray(labels).reshape(-1)))


def rmse(pred: np.ndarray, target: np.ndarray) -> float:
    p = np.asarray(pred, dtype=np.float64).reshape(len(target), -1)
    t = np.asarray(target, dtype=np.float64).reshape(len(target), -1)
    return float(np.sqrt(np.mean((p - t) ** 2)))


@dataclass
class Comparison:
    task: str  # "classification" or "regression"
    metric: str  # "accuracy" or "rmse"
    samples: int
    float_value: float
    int8_value: float
    max_abs_diff: float  # between dequantized int8 and float outputs
    mean_abs_diff: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def compare(float_out: np.ndarray, int8_out: np.ndarray, y: np.ndarray) -> Comparison:
    """Float and dequantized int8 outputs of the same samples, scored against ``y``."""
    f = np.asarray(float_out, dtype=np.float64).reshape(len(y), -1)
    q = np.asarray(int8_out, dtype=np.float64).reshape(len(y), -1)
    if f.shape != q.shape:
        raise ValueError(f"float outputs {f.shape} and int8 outputs {q.shape} differ in shape")
    diff = np.abs(f - q)
    task = task_of(y)
    score = accuracy if task == "classification" else rmse
    return Comparison(task, "accuracy" if task == "classification" else "rmse", len(y), score(f, y), score(q, y),
                      float(diff.max()), float(diff.mean()))
