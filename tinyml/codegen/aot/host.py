"""Run the aot engine's C on the host: compile the generated model and the kernels into a
shared library with gcc, load it with ctypes, and invoke it per sample (parity tests, bench).

Libraries are cached under ``$TINYML_CACHE/aot/<sha256 of every source and flag>/`` (default
``~/.cache/tinyml``), so a second run of the same model costs no compilation.
"""

from __future__ import annotations

import ctypes
import os
import tempfile
from pathlib import Path

import numpy as np

from tinyml.errors import ErrorKind, TinymlError
from tinyml.model.tflite import Model, dtype_to_numpy
from tinyml.resources import resource_dir
from tinyml.runner import require_tool, run

CFLAGS = ["-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-fPIC", "-shared"]


def _cache_root() -> Path:
    env = os.environ.get("TINYML_CACHE")
    return (Path(env) if env else Path.home() / ".cache" / "tinyml") / "aot"


def kernel_sources() -> list[Path]:
    """Every kernel .c file (the project generator copies the same set)."""
    return sorted((resource_dir("firmware") / "src" / "kernels").glob("*.c"))


def build_library(files: dict[str, str], *, extra_flags: tuple[str, ...] = ()) -> Path:
    """Compile generated files + kernels into a cached shared library; returns its path."""
    from tinyml.build import snapshot

    cc = require_tool("gcc", "install a host C compiler: apt-get install gcc")
    # read once: the cache key and the compiler see the same bytes (tinyml.build.snapshot)
    fw = snapshot.firmware_files("src/kernels/*.c", "include/tinyml/*.h")
    generated = {f"gen/{name}": text.encode() for name, text in files.items()}
    key = snapshot.digest({**fw, **generated}, *CFLAGS, *extra_flags)
    out_dir = _cache_root() / key[:32]
    lib = out_dir / "libtinyml_model.so"
    if lib.exists():
        return lib
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir, prefix="build-") as tmp:
        root = snapshot.write({**fw, **generated}, Path(tmp))
        tmp_lib = root / lib.name
        c_files = sorted(root / n for n in {**fw, **generated} if n.endswith(".c"))
        run([cc, *CFLAGS, *extra_flags, f"-I{root / 'gen'}", f"-I{root / 'include'}", *c_files, "-o", tmp_lib],
            what="compiling the aot model for the host")
        os.replace(tmp_lib, lib)  # atomic: concurrent builders of the same hash are harmless
    return lib


def load(model: Model, *, name: str = "model") -> ctypes.CDLL:
    from tinyml.codegen.aot.generator import generate

    lib = ctypes.CDLL(str(build_library(generate(model, target="host", name=name))))
    lib.tinyml_init.restype = ctypes.c_int
    lib.tinyml_invoke.restype = ctypes.c_int
    lib.tinyml_invoke.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    lib.tinyml_layer_name.restype = ctypes.c_char_p
    lib.tinyml_layer_name.argtypes = [ctypes.c_int]
    if lib.tinyml_init() != 0:
        raise TinymlError("tinyml_init() of the host-compiled aot model failed", kind=ErrorKind.TOOL)
    return lib


def run_aot(model: Model, x: np.ndarray) -> np.ndarray:
    """Outputs (N, *output_shape[1:]) of the generated C for inputs x of shape (N, *input_shape[1:])."""
    tin, tout = model.input_tensors()[0], model.output_tensors()[0]
    in_type, out_type = dtype_to_numpy(tin.dtype), dtype_to_numpy(tout.dtype)
    sample_shape = tuple(tin.shape[1:])
    arr = np.asarray(x)
    if arr.shape[1:] != sample_shape:
        raise TinymlError(f"inputs have samples of shape {arr.shape[1:]}, the model takes {sample_shape}",
                          hint="pass an array of shape (N, " + ", ".join(map(str, sample_shape)) + ")",
                          kind=ErrorKind.INPUT)
    if arr.dtype != np.dtype(in_type):
        if not np.can_cast(arr.dtype, in_type, casting="same_kind") or (
                np.issubdtype(in_type, np.integer) and arr.size and (
                    arr.min() < np.iinfo(in_type).min or arr.max() > np.iinfo(in_type).max)):
            raise TinymlError(f"inputs are {arr.dtype}, the model takes {tin.dtype}",
                              hint=f"quantize the inputs to {tin.dtype} first", kind=ErrorKind.INPUT)
        arr = arr.astype(in_type)
    arr = np.ascontiguousarray(arr)
    lib = load(model)
    out = np.zeros((arr.shape[0], *tout.shape[1:]), dtype=out_type)
    for i in range(arr.shape[0]):
        rc = lib.tinyml_invoke(arr[i].ctypes.data, out[i].ctypes.data)
        if rc != 0:
            raise TinymlError(f"tinyml_invoke() returned {rc} on sample {i}", kind=ErrorKind.TOOL)
    return out
