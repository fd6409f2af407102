"""``tinyml validate``: run a data set on the device and compare with the TFLM host interpreter.

``validate_project`` finds the project's model and port, prepares the inputs as the model takes
them, computes the reference outputs on the host, checks that the device runs the same model
(sha256 in its hello), sends every sample (pipelined) and returns a ``Validation`` with the
metrics of ``tinyml.serial.metrics``. ``validate_on_device`` is the device part alone, usable with
any reference.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tinyml.errors import ErrorKind, TinymlError
from tinyml.serial import codec
from tinyml.serial.client import DeviceClient
from tinyml.serial.metrics import Metrics, compute


@dataclass
class Validation:
    device: dict[str, Any]  # the hello
    port: str
    metrics: Metrics
    latency_us: list[int]
    cycles: list[int]
    abs_err: list[float]  # |device - reference| per output element (dequantized), for the histogram
    diff_q: list[int]  # device - reference in quantization steps, per element
    seconds: float
    samples_per_s: float
    link: dict[str, int]
    model: dict[str, Any] = field(default_factory=dict)
    memory: dict[str, Any] = field(default_factory=dict)
    data: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"port": self.port, "data": self.data, "device": self.device, "model": self.model,
                "metrics": self.metrics.to_dict(), "seconds": self.seconds, "samples_per_s": self.samples_per_s,
                "link": self.link, "memory": self.memory, "latency_us": self.latency_us, "cycles": self.cycles}


def validate_on_device(client: DeviceClient, inputs: np.ndarray, reference_q: np.ndarray,
                       labels: np.ndarray | None = None, window: int = 0,
                       progress: Callable[[int, int], None] | None = None) -> Validation:
    """Runs ``inputs`` (N, ...) in the device's input dtype and compares with ``reference_q``."""
    hello = client.hello_info or client.hello()
    n = int(inputs.shape[0])
    raw = [np.ascontiguousarray(inputs[i]).tobytes() for i in range(n)]
    if raw and len(raw[0]) != hello.input.nbytes:
        raise TinymlError(f"each sample has {len(raw[0])} bytes but the device's model takes {hello.input.nbytes} "
                          f"({hello.input.dtype} {hello.input.shape})",
                          hint="the data does not match the model flashed on the device", kind=ErrorKind.INPUT)
    done = [0]

    def _progress(i: int, _r: codec.Result) -> None:
        done[0] += 1
        if progress:
            progress(done[0], n)

    if window <= 0:
        window = client.auto_window()
    t0 = time.monotonic()
    results = client.infer_many(raw, window=window, progress=_progress)
    seconds = time.monotonic() - t0
    out = hello.output
    dev_q = np.stack([np.frombuffer(r.output, dtype=out.np_dtype) for r in results]).reshape(
        (n, *out.shape[1:]) if len(out.shape) > 1 else (n, -1))
    ref_q = np.asarray(reference_q).reshape(dev_q.shape).astype(out.np_dtype)
    dev_f, ref_f = out.dequantize(dev_q), out.dequantize(ref_q)
    lat = np.array([r.us for r in results], dtype=np.int64)
    cyc = np.array([r.cycles for r in results], dtype=np.int64)
    m = compute(dev_q, ref_q, dev_f, ref_f, labels=labels, latency_us=lat, cycles=cyc)
    if np.issubdtype(dev_q.dtype, np.integer):
        dq = (dev_q.astype(np.int64) - ref_q.astype(np.int64)).ravel().tolist()
    else:
        dq = []
    return Validation(device=hello.to_dict(), port=client.url, metrics=m, latency_us=lat.tolist(),
                      cycles=cyc.tolist(), abs_err=np.abs(dev_f - ref_f).ravel().astype(float).tolist(), diff_q=dq,
                      seconds=seconds, samples_per_s=n / seconds if seconds > 0 else 0.0,
                      link=client.stats.to_dict())


def find_model(project: Path | None, model: Path | None) -> Path:
    if model is not None:
        if not model.is_file():
            raise TinymlError(f"model file {model} does not exist", hint="check the path", kind=ErrorKind.INPUT)
        return model
    if project is None:
        raise TinymlError("validate needs the project directory (or --model) to know the reference model",
                          hint="tinyml validate DIR --data VAL.npz", kind=ErrorKind.USAGE)
    if not project.is_dir():
        raise TinymlError(f"project directory {project} does not exist",
                          hint="pass the directory `tinyml generate` wrote", kind=ErrorKind.INPUT)
    cand = project / "model.tflite"
    if cand.is_file():
        return cand
    raise TinymlError(f"{project} holds no model.tflite", hint="pass the model with --model MODEL.tflite, or "
                      "regenerate the project with tinyml generate", kind=ErrorKind.INPUT)


def _manifest(project: Path | None) -> dict[str, Any]:
    if project is None:
        return {}
    path = project / "tinyml.json"
    if not path.is_file():
        return {}
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return data
    except ValueError:
        return {}


def prepare_inputs(model: Any, x: np.ndarray, label: str) -> np.ndarray:
    """Data as the model takes it: float data for an integer input is quantized like TFLite does."""
    from tinyml.model.data import fit_samples
    from tinyml.model.reference import prepare_input, quantize_input

    tin = model.input_tensors()[0]
    if tin.dtype in ("int8", "uint8", "int16") and not np.issubdtype(np.asarray(x).dtype, np.integer):
        x = quantize_input(fit_samples(np.asarray(x), tin.shape[1:], label=label, model_shape=tin.shape), tin)
    return prepare_input(model, x, label=label)


def memory_use(manifest: dict[str, Any], hello: codec.Hello | None) -> dict[str, Any]:
    """What the report plots as memory vs board: the project's fit numbers (estimates where stated)."""
    fit = manifest.get("fit") or {}
    mem: dict[str, Any] = {}
    for key in ("flash_bytes", "flash_used_bytes", "flash_model_bytes", "flash_runtime_bytes", "ram_bytes",
                "ram_used_bytes", "arena_bytes", "ram_reserved_bytes"):
        if isinstance(fit, dict) and key in fit:
            mem[key] = fit[key]
    if hello is not None:
        mem.setdefault("arena_bytes", hello.arena)
    if isinstance(fit, dict) and fit.get("board"):
        mem["board"] = fit["board"]
    return mem


def validate_project(project: Path | None, data: Path, port: str | None = None, *, model_path: Path | None = None,
                     baud: int = 115200, timeout: float = 10.0, window: int = 0, limit: int | None = None,
                     progress: Callable[[int, int], None] | None = None) -> Validation:
    from tinyml.model import tflite
    from tinyml.model.data import load_data
    from tinyml.model.reference import run_reference
    from tinyml.serial.ports import resolve_port

    mpath = find_model(project, model_path)
    model = tflite.load(mpath)
    ds = load_data(data, what="validation data")
    x = prepare_inputs(model, ds.x, label=str(data))
    y = ds.y
    if limit is not None and limit > 0:
        x = x[:limit]
        y = y[:limit] if y is not None else None
    url = resolve_port(project, port)
    with DeviceClient.open(url, baud=baud, timeout=timeout) as client:
        hello = client.hello()
        if hello.sha256 != model.sha256:
            raise TinymlError(f"the device runs model {hello.model} sha256 {hello.sha256[:12]}..., not "
                              f"{mpath.name} ({model.sha256[:12]}...)",
                              hint="build and flash this project first: tinyml flash DIR", kind=ErrorKind.MISMATCH)
        if not hello.init_ok:
            raise TinymlError("the device reports that tinyml_init failed", kind=ErrorKind.DEVICE,
                              hint="the arena may be too small for this model; regenerate the project")
        # The reference runs on the host while nothing waits on the device.
        ref = run_reference(model.raw, x)
        v = validate_on_device(client, x, ref, labels=y, window=window, progress=progress)
    manifest = _manifest(project)
    v.memory = memory_use(manifest, hello)
    v.model = {"file": str(mpath), "sha256": model.sha256, "bytes": len(model.raw)}
    v.data = str(data)
    return v


def summary_rows(v: Validation) -> list[list[str]]:
    m = v.metrics

    def pct(x: float | None) -> str:
        return "-" if x is None else f"{100 * x:.2f} %"

    rows = [["samples", str(m.samples)],
            ["bit-exact vs TFLM", f"{m.bit_exact}/{m.samples} ({pct(m.bit_exact_ratio)})"],
            ["max |diff| (quant. steps)", str(m.max_abs_diff_q)],
            ["RMSE", f"{m.rmse:.6g}"], ["MAE", f"{m.mae:.6g}"], ["L2 relative error", f"{m.l2r:.6g}"],
            ["cosine similarity", f"{m.cosine:.6f}"]]
    if m.task == "classification":
        rows += [["accuracy (device)", pct(m.accuracy_device)], ["accuracy (TFLM host)", pct(m.accuracy_reference)],
                 ["device = reference class", pct(m.agreement)]]
    if m.latency_us:
        rows.append(["latency us (min/median/max)",
                     f"{m.latency_us.min:.0f} / {m.latency_us.median:.0f} / {m.latency_us.max:.0f}"])
    if m.cycles:
        rows.append(["cycles (min/median/max)", f"{m.cycles.min:.0f} / {m.cycles.median:.0f} / {m.cycles.max:.0f}"])
    rows.append(["throughput", f"{v.samples_per_s:.1f} samples/s"])
    link = v.link
    rows.append(["link", f"corrupt {link['corrupt']}, lost {link['lost']}, resets {link['resets']}, "
                         f"retries {link['retries']}"])
    return rows
