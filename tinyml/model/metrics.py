"""How close the int8 model is to the float one: accuracy or RMSE, and output differences."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


def task_of(y: np.ndarray) -> str:
    """"classification" for integer labels, "regression" for float targets."""
    return "classification" if np.issubdtype(np.asarray(y).dtype, np.integer) else "regression"


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
