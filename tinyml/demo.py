"""`tinyml demo`: the pipeline end to end on the sine example, one step at a time.

The demo is a list of ``Step``s; each takes the shared ``DemoContext``, does one library call,
records what it produced in ``ctx.artifacts`` and returns the lines to print. To extend it (generate,
build, flash a virtual board, stream results) append steps to ``STEPS`` or pass your own list to
``run_demo``; a step reads what earlier steps left in ``ctx.artifacts``:

- ``keras``: Path of model.keras, ``rep`` / ``val``: Paths of rep.npz / val.npz (step "train")
- ``tflite``: Path of sine.tflite, ``quantize_report``: QuantizeReport (step "quantize")
- ``inspect_report``: InspectReport (step "inspect")
- ``c_files``: list of Paths (step "convert")
- ``host_run``: HostRun of the TFLM interpreter on val.npz (step "run")
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from tinyml.errors import ErrorKind, TinymlError

DEMO_BOARD = "qemu-mps2-an386"  # the virtual Cortex-M4 board later steps build and flash


@dataclass
class DemoContext:
    workdir: Path
    echo: Callable[[str], None] = print
    board: str = DEMO_BOARD
    artifacts: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Step:
    name: str
    title: str
    run: Callable[[DemoContext], list[str]]


def _example_module(name: str) -> ModuleType:
    """examples/<name>/train.py as a module (the examples are scripts, not part of the package)."""
    from tinyml.resources import resource_dir

    path = resource_dir("examples") / name / "train.py"
    spec = importlib.util.spec_from_file_location(f"tinyml_example_{name}", path)
    if spec is None or spec.loader is None or not path.exists():
        raise TinymlError(f"the {name} example is missing ({path})", hint="install tinyml from its source tree",
                          kind=ErrorKind.TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def step_train(ctx: DemoContext) -> list[str]:
    keras_path, rep, val = ctx.workdir / "model.keras", ctx.workdir / "rep.npz", ctx.workdir / "val.npz"
    ctx.artifacts.update(keras=keras_path, rep=rep, val=val)
    example = _example_module("sine")
    if keras_path.exists():
        if not (rep.exists() and val.exists()):
            # Same seed, same samples: the data can be rebuilt without retraining.
            data = example.make_data()
            np.savez(rep, x=data["x_train"][:300])
            np.savez(val, x=data["x_val"], y=data["y_val"])
        return [f"reusing {keras_path} (delete it to train again)"]
    from tinyml.model.quantize import import_tf

    import_tf()
    metrics = example.train(ctx.workdir)
    return [f"trained a 1-16-16-1 MLP on noisy sin(x): held-out RMSE {metrics['float_rmse']:.4f}",
            f"wrote {keras_path}, {rep.name}, {val.name}"]


def step_quantize(ctx: DemoContext) -> list[str]:
    from tinyml.model.quantize import quantize_file

    # The file stem becomes the model name the firmware reports ("model sine (sha)").
    out = ctx.workdir / "sine.tflite"
    report = quantize_file(ctx.artifacts["keras"], ctx.artifacts["rep"], out, val_path=ctx.artifacts["val"])
    from tinyml.model.tflite import load

    ctx.artifacts.update(tflite=out, quantize_report=report, tflite_ops=load(out).opcodes())
    lines = [f"wrote {out}: {report.int8_bytes:,} B int8 (float32 .tflite: {report.float_bytes:,} B)"]
    c = report.comparison
    if c is not None:
        lines.append(f"held-out RMSE: float {c.float_value:.4f}, int8 {c.int8_value:.4f} "
                     f"(TFLM host interpreter); max |int8 - float| {c.max_abs_diff:.4f}")
    return lines


def step_inspect(ctx: DemoContext) -> list[str]:
    try:
        from tinyml.model.analysis import inspect_model
    except ImportError:
        return ["skipped: tinyml.model.analysis is not available"]
    report = inspect_model(ctx.artifacts["tflite"], board=ctx.board)
    ctx.artifacts["inspect_report"] = report
    t = report.totals
    arena = f"; TFLM arena {report.arena_bytes:,} B" if report.arena_bytes is not None else ""
    lines = [f"ops: {', '.join(ctx.artifacts['tflite_ops'])}; {t.macs:,} MACs; weights {t.weight_bytes:,} B{arena}"]
    if report.fit is not None:
        f = report.fit
        lines.append(f"{f.board_name} ({f.engine}): {'fits' if f.fits else 'does NOT fit'}, flash "
                     f"{f.flash_used_bytes:,} / {f.flash_bytes:,} B, RAM {f.ram_used_bytes:,} / {f.ram_bytes:,} B "
                     f"(arena {f.arena_bytes:,} B)")
    return lines


def step_convert(ctx: DemoContext) -> list[str]:
    try:
        from tinyml.codegen.c_array import convert_to_c
    except ImportError:
        return ["skipped: tinyml.codegen.c_array is not available"]
    files = convert_to_c(ctx.artifacts["tflite"], ctx.workdir / "c")
    ctx.artifacts["c_files"] = files
    return [f"wrote {', '.join(str(p) for p in files)}"]


def step_run(ctx: DemoContext) -> list[str]:
    from tinyml.model.data import load_data
    from tinyml.model.metrics import rmse
    from tinyml.model.reference import run_file

    val = load_data(ctx.artifacts["val"], what="validation data")
    result = run_file(ctx.artifacts["tflite"], ctx.artifacts["val"])
    ctx.artifacts["host_run"] = result
    y = result.dequantized if result.dequantized is not None else result.outputs
    assert val.y is not None
    lines = [*[f"note: {n}" for n in result.notes],
             f"{len(y)} held-out samples on the TFLM host interpreter: RMSE {rmse(y, val.y):.4f}"]
    for i in np.argsort(val.x.reshape(-1))[:: max(1, len(y) // 5)][:5]:
        x = float(val.x.reshape(-1)[i])
        lines.append(f"  x = {x:5.3f}: int8 model {float(y[i].reshape(-1)[0]):+.3f}, sin(x) {np.sin(x):+.3f}")
    return lines


def step_generate(ctx: DemoContext) -> list[str]:
    from tinyml.codegen.project import create_project

    project, manifest = create_project(ctx.artifacts["tflite"], ctx.board, ctx.workdir / "firmware", force=True)
    ctx.artifacts.update(project=project, manifest=manifest)
    fit = manifest["fit"]
    return [f"wrote {project}: PlatformIO project, {manifest['engine']} engine, arena {manifest['arena_bytes']:,} B, "
            f"RAM {fit['ram_used_bytes']:,} / {fit['ram_bytes']:,} B",
            f"the device streams {manifest['samples']['count']} stored inputs ({manifest['samples']['source']})"]


def step_build(ctx: DemoContext) -> list[str]:
    from tinyml.build.flash import build

    res = build(ctx.artifacts["project"])
    return [f"built {res.firmware}", *res.usage]


def step_flash(ctx: DemoContext) -> list[str]:
    from tinyml.build.flash import flash

    res = flash(ctx.artifacts["project"])
    ctx.artifacts["flash"] = res
    what = f"virtual board {res.board} (pid {res.pid})" if res.virtual else res.board
    return [f"{what} running; serial port {res.port}"]


def step_stream(ctx: DemoContext) -> list[str]:
    """The device runs its stored samples on its own; print each result as it arrives and check
    it against the TFLM host interpreter on the same int8 inputs."""
    from tinyml.codegen.project import default_samples
    from tinyml.model.reference import dequantize_output, run_reference
    from tinyml.model.tflite import load
    from tinyml.serial.client import DeviceClient

    model = load(ctx.artifacts["tflite"])
    tin, tout = model.input_tensors()[0], model.output_tensors()[0]
    count = int(ctx.artifacts["manifest"]["samples"]["count"])
    stored = default_samples(model, count).data
    want = run_reference(model.raw, stored).reshape(count, -1)
    res = ctx.artifacts["flash"]
    got: dict[int, np.ndarray] = {}
    try:
        with DeviceClient.open(res.port, timeout=20.0) as dev:
            hello = dev.hello()
            ctx.echo(f"    device: model {hello.model} ({hello.sha256[:12]}), engine {hello.engine}, "
                     f"board {hello.board}, arena {hello.arena} B")
            dev.stream_start(period_us=100_000, count=count)
            deadline = time.monotonic() + 60 + count * 0.5
            while len(got) < count and time.monotonic() < deadline:
                for ev in dev.poll(0.2):
                    if ev.kind in ("corrupt", "lost", "out-of-order", "reset"):
                        raise TinymlError(f"the serial link reported '{ev.kind}' while streaming",
                                          hint="run tinyml monitor to look at the raw stream", kind=ErrorKind.DEVICE)
                    if ev.kind != "sample":
                        continue
                    s = ev.data
                    out = np.frombuffer(s.output, dtype=np.int8)
                    got[s.sample] = out
                    x = float(tin.scale) * (int(stored[s.sample].reshape(-1)[0]) - tin.zero_point)
                    y = float(dequantize_output(out, tout).reshape(-1)[0])
                    mark = "=" if np.array_equal(out, want[s.sample]) else "!= host"
                    ctx.echo(f"    #{s.index:<3d} x = {x:6.3f}  y = {y:+.3f}  sin(x) = {np.sin(x):+.3f}  "
                             f"[{mark}]  {s.us} us on the device")
    finally:
        if res.virtual:
            from tinyml.build.qemu import stop

            stop(ctx.artifacts["project"])
    if len(got) < count:
        raise TinymlError(f"the device streamed {len(got)} of {count} results", hint="see tinyml monitor",
                          kind=ErrorKind.DEVICE)
    bad = [i for i in range(count) if not np.array_equal(got[i], want[i])]
    if bad:
        raise TinymlError(f"{len(bad)} of {count} device results differ from the TFLM host interpreter "
                          f"(samples {bad[:5]})", hint="report this: the aot engine must be bit-exact",
                          kind=ErrorKind.MISMATCH)
    return [f"all {count} results computed on the emulated CPU equal the TFLM host interpreter's",
            "virtual board stopped (start it again: tinyml flash " + str(ctx.artifacts["project"]) + ")"
            if res.virtual else f"the board keeps running: tinyml monitor {ctx.artifacts['project']}"]


STEPS: list[Step] = [
    Step("train", "train the sine model (or reuse it)", step_train),
    Step("quantize", "quantize to int8 and compare with float", step_quantize),
    Step("inspect", f"inspect: ops, MACs, memory, fit on {DEMO_BOARD}", step_inspect),
    Step("convert", "convert to a C array", step_convert),
    Step("run", "run on the TFLite Micro host interpreter", step_run),
    Step("generate", "generate the firmware project (aot engine)", step_generate),
    Step("build", "build it with PlatformIO (offline)", step_build),
    Step("flash", "flash the virtual board (QEMU or simavr)", step_flash),
    Step("stream", "stream results from the device, check them against the host", step_stream),
]


def prepare_workdir(workdir: str | Path) -> Path:
    wd = Path(workdir)
    if wd.exists() and not wd.is_dir():
        raise TinymlError(f"{wd} exists and is not a directory", hint="choose another --workdir",
                          kind=ErrorKind.OUTPUT)
    try:
        wd.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise TinymlError(f"cannot create {wd}: {exc.strerror or exc}", hint="choose a writable --workdir",
                          kind=ErrorKind.OUTPUT) from exc
    probe = wd / ".tinyml-write-test"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise TinymlError(f"{wd} is not writable", hint="choose a writable --workdir", kind=ErrorKind.OUTPUT) from exc
    return wd


def run_demo(workdir: str | Path = "tinyml-demo", *, steps: Sequence[Step] | None = None,
             echo: Callable[[str], None] = print, board: str = DEMO_BOARD) -> DemoContext:
    """Run ``steps`` (default ``STEPS``) in order, printing each one's title, result and time."""
    ctx = DemoContext(prepare_workdir(workdir), echo, board)
    todo = list(STEPS if steps is None else steps)
    total = time.monotonic()
    for i, step in enumerate(todo, 1):
        echo(f"[{i}/{len(todo)}] {step.title}")
        start = time.monotonic()
        for line in step.run(ctx):
            echo(f"    {line}")
        echo(f"    ({time.monotonic() - start:.1f} s)")
    echo(f"demo done in {time.monotonic() - total:.1f} s; files in {ctx.workdir}")
    return ctx
