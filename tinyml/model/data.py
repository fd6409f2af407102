"""Sample data for quantization, validation and host runs: ``.npz`` (``x``, optional ``y``) or ``.npy`` (x).

Every way a user can get this wrong (missing file, wrong format, no ``x``, ``x``/``y`` of different
lengths, samples that do not match the model input) becomes a TinymlError that names the shapes
involved and what to pass instead.
"""

from __future__ import annotations

import contextlib
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tinyml.errors import ErrorKind, TinymlError

SAVE_HINT = "save it with numpy: np.savez(path, x=inputs, y=labels) or np.save(path, inputs)"


@dataclass
class Dataset:
    x: np.ndarray  # (N, *sample_shape)
    y: np.ndarray | None  # (N, ...) labels or targets, or None
    path: Path | None = None

    def __len__(self) -> int:
        return int(self.x.shape[0])


def load_data(path: str | Path, *, what: str = "data") -> Dataset:
    """Read ``x`` (and ``y`` if present) from a ``.npz`` archive, or ``x`` from a ``.npy`` array."""
    p = Path(path)
    if not p.exists():
        raise TinymlError(f"{what} file {p} does not exist", hint="check the path", kind=ErrorKind.INPUT)
    if p.is_dir():
        raise TinymlError(f"{what} file {p} is a directory", hint="pass a .npz or .npy file",
                          kind=ErrorKind.INPUT)
    try:
        # allow_pickle=False: data files must never execute code on load.
        loaded = np.load(p, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise TinymlError(f"{what} file {p} is not a readable .npz or .npy file ({_why(exc, p)})", hint=SAVE_HINT,
                          kind=ErrorKind.INPUT) from exc
    if isinstance(loaded, np.ndarray):
        x, y = loaded, None
    else:
        with loaded:
            names = list(loaded.files)
            if "x" not in names:
                has = ", ".join(names) if names else "no arrays"
                raise TinymlError(f"{what} file {p} has no array 'x' (it has: {has})", hint=SAVE_HINT,
                                  kind=ErrorKind.INPUT)
            try:
                x = loaded["x"]
                y = loaded["y"] if "y" in names else None
            except (ValueError, OSError, zipfile.BadZipFile) as exc:
                raise TinymlError(f"{what} file {p} has an unreadable array ({_why(exc)})", hint=SAVE_HINT,
                                  kind=ErrorKind.INPUT) from exc
    return Dataset(_check_numeric(x, "x", p, what), None if y is None else _check_y(x, y, p, what), p)


def _why(exc: BaseException, path: Path | None = None) -> str:
    if path is not None and "pickled" in str(exc):
        # numpy's word for "no .npy/.npz header" is an allow_pickle hint, which misleads here
        with contextlib.suppress(OSError), path.open("rb") as f:
            head = f.read(6)
            if not (head.startswith(b"\x93NUMPY") or head.startswith(b"PK")):
                return "it has no numpy header: neither an np.save .npy nor an np.savez .npz"
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:120]


def _check_numeric(a: np.ndarray, name: str, p: Path, what: str) -> np.ndarray:
    if not (np.issubdtype(a.dtype, np.number) or a.dtype == np.bool_):
        raise TinymlError(f"{what} file {p}: array '{name}' has dtype {a.dtype}, not numbers", hint=SAVE_HINT,
                          kind=ErrorKind.INPUT)
    if a.ndim == 0 or a.shape[0] == 0:
        raise TinymlError(f"{what} file {p}: array '{name}' holds no samples (shape {a.shape})",
                          hint="the first axis counts the samples", kind=ErrorKind.INPUT)
    return a


def _check_y(x: np.ndarray, y: np.ndarray, p: Path, what: str) -> np.ndarray:
    y = _check_numeric(y, "y", p, what)
    if y.shape[0] != x.shape[0]:
        raise TinymlError(f"{what} file {p}: x has {x.shape[0]} samples but y has {y.shape[0]}",
                          hint="x and y must have the same length along the first axis", kind=ErrorKind.INPUT)
    return y


def fit_samples(x: np.ndarray, sample_shape: Sequence[int], *, label: str = "the data",
                model_shape: Sequence[int] | None = None) -> np.ndarray:
    """``x`` reshaped to (N, *sample_shape), or a TinymlError naming both shapes.

    Accepted: (N, *sample_shape); (N, 1, *sample_shape) (each sample with its batch axis);
    one sample of exactly ``sample_shape``; and for a model taking a single value, a flat (N,) array.
    ``model_shape`` is the model's full input shape, used in the message (defaults to (1, *sample)).
    """
    sample = tuple(int(d) for d in sample_shape)
    arr = np.asarray(x)
    if arr.ndim >= 1 and arr.shape[1:] == sample:
        return arr
    if arr.ndim >= 2 and arr.shape[1] == 1 and arr.shape[2:] == sample:
        return arr.reshape((arr.shape[0], *sample))
    if arr.shape == sample:
        return arr[None, ...]
    if arr.ndim == 1 and int(np.prod(sample)) == 1:
        return arr.reshape((arr.shape[0], *sample))
    full = tuple(model_shape) if model_shape is not None else (1, *sample)
    want = "(N, " + ", ".join(str(d) for d in sample) + ")" if sample else "(N,)"
    raise TinymlError(f"{label} has samples of shape {arr.shape[1:]} (array {arr.shape}), "
                      f"but the model input is {full}",
                      hint=f"pass x shaped {want}: one row per sample", kind=ErrorKind.INPUT)
