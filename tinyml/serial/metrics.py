"""Device-vs-reference metrics in the manner of ST's ``stedgeai validate``.

All error metrics compare the DEQUANTIZED device outputs with the dequantized outputs of the TFLM
host interpreter (the numerical reference); ``bit_exact`` compares the raw tensors. Accuracy and
the confusion matrix use the labels when the data has them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np


@dataclass
class Stats:
    min: float
    median: float
    mean: float
    max: float

    @classmethod
    def of(cls, values: np.ndarray) -> Stats | None:
        v = np.asarray(values, dtype=np.float64)
        if v.size == 0:
            return None
        return cls(float(v.min()), float(np.median(v)), float(v.mean()), float(v.max()))


@dataclass
class Metrics:
    samples: int
    output_elements: int
    task: str  # "classification" or "regression"
    bit_exact: int  # samples whose device output equals the reference bit for bit
    bit_exact_elements: int
    max_abs_diff_q: int  # largest difference in quantization steps (0 for float outputs that match)
    rmse: float
    mae: float
    l2r: float  # ||dev - ref||_2 / ||ref||_2
    cosine: float  # cosine similarity of the flattened outputs
    accuracy_device: float | None = None
    accuracy_reference: float | None = None
    agreement: float | None = None  # share of samples where device and reference pick the same class
    classes: int | None = None
    confusion: list[list[int]] | None = None  # [label][device prediction]
    latency_us: Stats | None = None
    cycles: Stats | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def bit_exact_ratio(self) -> float:
        return self.bit_exact / self.samples if self.samples else 0.0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["bit_exact_ratio"] = self.bit_exact_ratio
        return d


def _labels_1d(y: np.ndarray, n: int) -> np.ndarray | None:
    """Integer class labels, from class ids or one-hot rows; None for regression targets."""
    a = np.asarray(y)
    if a.ndim >= 2 and a.shape[0] == n and a.reshape(n, -1).shape[1] > 1:
        flat = a.reshape(n, -1)
        if np.all((flat == 0) | (flat == 1)) and np.all(flat.sum(axis=1) == 1):
            return np.argmax(flat, axis=1)
        return None
    if np.issubdtype(a.dtype, np.integer) or a.dtype == np.bool_:
        return a.reshape(-1).astype(np.int64)
    return None


def compute(device_q: np.ndarray, reference_q: np.ndarray, device_f: np.ndarray, reference_f: np.ndarray,
            labels: np.ndarray | None = None, latency_us: np.ndarray | None = None,
            cycles: np.ndarray | None = None) -> Metrics:
    """``*_q``: raw output tensors (N, ...) as sent; ``*_f``: the same dequantized to float32."""
    n = int(device_q.shape[0])
    dq = device_q.reshape(n, -1)
    rq = reference_q.reshape(n, -1)
    df = np.asarray(device_f, dtype=np.float64).reshape(n, -1)
    rf = np.asarray(reference_f, dtype=np.float64).reshape(n, -1)
    k = int(dq.shape[1])
    same = dq == rq
    exact = int(np.all(same, axis=1).sum())
    if np.issubdtype(dq.dtype, np.integer):
        max_q = int(np.max(np.abs(dq.astype(np.int64) - rq.astype(np.int64)))) if n else 0
    else:
        max_q = 0 if bool(np.all(same)) else -1  # float outputs: no quantization step to count in
    diff = df - rf
    rmse = float(np.sqrt(np.mean(diff**2))) if diff.size else 0.0
    mae = float(np.mean(np.abs(diff))) if diff.size else 0.0
    ref_norm = float(np.linalg.norm(rf))
    l2r = float(np.linalg.norm(diff) / ref_norm) if ref_norm > 0 else (0.0 if not np.any(diff) else float("inf"))
    dn, rn = float(np.linalg.norm(df)), ref_norm
    cosine = float(np.dot(df.ravel(), rf.ravel()) / (dn * rn)) if dn > 0 and rn > 0 else (1.0 if dn == rn else 0.0)

    lab = _labels_1d(labels, n) if labels is not None else None
    task = "classification" if (lab is not None and k > 1) else ("classification" if labels is None and k > 1
                                                                  else "regression")
    m = Metrics(samples=n, output_elements=k, task=task, bit_exact=exact, bit_exact_elements=int(same.sum()),
                max_abs_diff_q=max_q, rmse=rmse, mae=mae, l2r=l2r, cosine=cosine,
                latency_us=Stats.of(latency_us) if latency_us is not None else None,
                cycles=Stats.of(cycles) if cycles is not None and np.any(cycles) else None)
    if task == "classification":
        pd, pr = np.argmax(df, axis=1), np.argmax(rf, axis=1)
        m.agreement = float(np.mean(pd == pr)) if n else 0.0
        m.classes = k
        if lab is not None:
            if lab.min() < 0 or lab.max() >= k:
                m.notes.append(f"labels range {lab.min()}..{lab.max()} but the model has {k} outputs: "
                               "accuracy not computed")
            else:
                m.accuracy_device = float(np.mean(pd == lab))
                m.accuracy_reference = float(np.mean(pr == lab))
                conf = np.zeros((k, k), dtype=np.int64)
                np.add.at(conf, (lab, pd), 1)
                m.confusion = conf.tolist()
        else:
            # without labels, the reference's choice is the truth the device is held to
            conf = np.zeros((k, k), dtype=np.int64)
            np.add.at(conf, (pr, pd), 1)
            m.confusion = conf.tolist()
            m.notes.append("no labels in the data: the confusion matrix is reference class vs device class")
    elif labels is not None:
        t = np.asarray(labels, dtype=np.float64).reshape(n, -1)
        if t.shape == df.shape:
            m.notes.append(f"RMSE against the targets: device {float(np.sqrt(np.mean((df - t) ** 2))):.6g}, "
                           f"reference {float(np.sqrt(np.mean((rf - t) ** 2))):.6g}")
    return m
