"""Exact instruction counts of the aot engine on a QEMU Cortex-M machine.

A bare-metal bench firmware (firmware/tools/icount_main.c: the generated model.c, the kernels,
the Cortex-M startup, no UART, no interrupts) runs under ``qemu-system-arm`` with a TCG plugin
(firmware/tools/qemu_icount_plugin.c) that counts every executed guest instruction and logs the
count each time the firmware enters ``tinyml_bench_mark()``. The firmware marks before and after
each ``tinyml_invoke()`` (and, for per-layer counts, at every TINYML_LAYER_HOOK) and prints the
output tensors through Arm semihosting, so one run gives exact, repeatable counts and the
outputs to check against the TFLM interpreter.

Counts are instructions, not cycles: QEMU models no pipeline or wait states.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tinyml.errors import ErrorKind, TinymlError
from tinyml.model.tflite import Model, dtype_to_numpy
from tinyml.resources import resource_dir
from tinyml.runner import require_tool, run

QEMU_HINT = "install QEMU: sudo apt install qemu-system-arm"
ARM_GCC_HINT = "install the Arm cross compiler: sudo apt install gcc-arm-none-eabi libnewlib-arm-none-eabi"

# machine -> (linker script, compiler flags)
MACHINES: dict[str, tuple[str, list[str]]] = {
    "mps2-an386": ("mps2-an386.ld", ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"]),
    "lm3s6965evb": ("lm3s6965evb.ld", ["-mcpu=cortex-m3", "-mthumb", "-mfloat-abi=soft"]),
}
# -O2: the optimisation level the TFLM reference counts in docs/benchmarks.md were measured with.
CFLAGS = ["-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-ffunction-sections", "-fdata-sections"]
LDFLAGS = ["-nostartfiles", "-Wl,--gc-sections", "--specs=nano.specs", "--specs=nosys.specs"]


def _cache_root() -> Path:
    env = os.environ.get("TINYML_CACHE")
    return (Path(env) if env else Path.home() / ".cache" / "tinyml") / "icount"


def _tools() -> Path:
    return resource_dir("firmware") / "tools"


def plugin_path() -> Path:
    """The counting plugin, compiled for the host once (cached by source hash)."""
    src = _tools() / "qemu_icount_plugin.c"
    digest = hashlib.sha256(src.read_bytes()).hexdigest()[:16]
    lib = _cache_root() / f"icount-plugin-{digest}.so"
    if lib.exists():
        return lib
    cc = require_tool("gcc", "install a host C compiler: sudo apt install gcc")
    lib.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=lib.parent) as tmp:
        out = Path(tmp) / lib.name
        run([cc, "-shared", "-fPIC", "-O2", "-Wall", "-Wextra", "-Werror", src, "-o", out],
            what="compiling the QEMU instruction-count plugin")
        os.replace(out, lib)
    return lib


def _c_input(x: np.ndarray) -> str:
    rows = []
    for sample in x:
        data = np.ascontiguousarray(sample).tobytes()
        rows.append("{" + ",".join(str(b) for b in data) + "}")
    return (f"#define TINYML_BENCH_SAMPLES {len(rows)}\n"
            "static const uint8_t tinyml_bench_input[TINYML_BENCH_SAMPLES][TINYML_INPUT_BYTES] "
            "__attribute__((aligned(4))) = {\n" + ",\n".join(rows) + "};\n")


def build_elf(files: dict[str, str], *, machine: str = "mps2-an386", dsp: bool = True, layers: bool = False,
              loop: int | None = None, extra_flags: tuple[str, ...] = ()) -> Path:
    """Compile the bench firmware (cached by the hash of every input); returns the ELF path.

    ``files``: generated sources ({"model.c", "model.h", "bench_input.h"}); ``dsp=False`` builds
    the kernels' portable C paths (TINYML_NO_DSP) even where the core has DSP instructions.
    ``loop``: build the counter-validation firmware instead (a loop of exactly 2*loop instructions).
    """
    if machine not in MACHINES:
        raise TinymlError(f"no icount bench for QEMU machine {machine!r}",
                          hint="use one of: " + ", ".join(MACHINES), kind=ErrorKind.INPUT)
    from tinyml.build import snapshot

    gcc = require_tool("arm-none-eabi-gcc", ARM_GCC_HINT)
    ldscript, mflags = MACHINES[machine]
    flags = [*mflags, *CFLAGS, *extra_flags, "-DF_CPU=25000000"]
    if not dsp:
        flags.append("-DTINYML_NO_DSP")
    if layers:
        flags.append("-DTINYML_BENCH_LAYERS")
    patterns = ["tools/icount_main.c", "ports/cortex_m/*", "include/tinyml/*.h"]
    if loop is not None:
        flags.append(f"-DTINYML_BENCH_LOOP={int(loop)}u")
        files = {}
    else:
        patterns.append("src/kernels/*.c")
    # read once: the cache key and the compiler see the same bytes (tinyml.build.snapshot)
    fw = {**snapshot.firmware_files(*patterns), **{f"gen/{n}": t.encode() for n, t in files.items()}}
    out_dir = _cache_root() / snapshot.digest(fw, *flags, ldscript)[:32]
    elf = out_dir / "bench.elf"
    if elf.exists():
        return elf
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir, prefix="build-") as tmp:
        root = snapshot.write(fw, Path(tmp))
        port = root / "ports" / "cortex_m"
        sources = [root / "tools" / "icount_main.c", port / "startup.c",
                   *sorted(root / n for n in fw if n.startswith("src/kernels/"))]
        tmp_elf = root / "bench.elf"
        run([gcc, *flags, f"-I{root / 'gen'}", f"-I{root / 'include'}", f"-I{port}", *sources, f"-L{port}",
             f"-T{ldscript}", *LDFLAGS, "-o", tmp_elf], what="compiling the icount bench firmware")
        os.replace(tmp_elf, elf)
    return elf


def _symbol(elf: Path, name: str) -> int:
    nm = require_tool("arm-none-eabi-nm", ARM_GCC_HINT)
    out = run([nm, elf], what="reading the bench firmware's symbols").stdout
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2] == name:
            return int(parts[0], 16)
    raise TinymlError(f"{name} is not in {elf}", kind=ErrorKind.TOOL)


def run_elf(elf: Path, *, machine: str = "mps2-an386", timeout: float = 300.0) -> tuple[list[int], str]:
    """Run the bench ELF on QEMU with the plugin: (marker counts in order, semihosting output)."""
    qemu = require_tool("qemu-system-arm", QEMU_HINT)
    marker = _symbol(elf, "tinyml_bench_mark")
    with tempfile.TemporaryDirectory(prefix="tinyml-icount-") as tmp:
        log, console = Path(tmp) / "marks.txt", Path(tmp) / "console.txt"
        res = run([qemu, "-M", machine, "-kernel", elf, "-display", "none", "-monitor", "none", "-serial", "null",
                   "-chardev", f"file,id=semihost,path={console}",
                   "-semihosting-config", "enable=on,target=native,chardev=semihost",
                   "-plugin", f"{plugin_path()},marker={marker:#x},out={log}"],
                  timeout=timeout, what=f"running the icount bench on QEMU {machine}")
        if not log.exists():
            raise TinymlError("the QEMU instruction-count plugin wrote no log", hint=res.stderr.strip()[-300:],
                              kind=ErrorKind.TOOL)
        marks = [int(v) for v in log.read_text().splitlines() if v.isdigit()]
        text = console.read_text() if console.exists() else ""
    return marks, text


@dataclass
class Measurement:
    """Counts of one model on one build: per inference (exact) and per layer (hook build)."""
    machine: str
    dsp: bool
    per_inference: list[int]                        # one count per sample (no layer hooks)
    outputs: np.ndarray                             # (N, *output_shape[1:]) from the device
    layers: list[tuple[str, int]] = field(default_factory=list)  # (op name, instructions), first sample
    hook_overhead: int = 0


def _outputs(text: str, model: Model) -> np.ndarray:
    tout = model.output_tensors()[0]
    rows = [bytes.fromhex(m) for m in re.findall(r"^out ([0-9a-f]*)$", text, flags=re.M)]
    dtype = dtype_to_numpy(tout.dtype)
    return np.stack([np.frombuffer(r, dtype=dtype).reshape(tout.shape[1:]) for r in rows]) if rows else \
        np.zeros((0, *tout.shape[1:]), dtype=dtype)


def measure(model: Model, x: np.ndarray, *, machine: str = "mps2-an386", dsp: bool = True,
            layers: bool = True, name: str = "model") -> Measurement:
    """Exact instructions per inference for inputs ``x`` (N, *input_shape[1:]) and, with
    ``layers``, per layer of the first sample (a second build with TINYML_LAYER_HOOK markers;
    each hook's own cost, measured with back-to-back markers, is subtracted)."""
    from tinyml.codegen.aot.generator import generate

    tin = model.input_tensors()[0]
    arr = np.ascontiguousarray(np.asarray(x, dtype=dtype_to_numpy(tin.dtype)))
    files = dict(generate(model, target=machine, name=name))
    files["bench_input.h"] = _c_input(arr)
    marks, text = run_elf(build_elf(files, machine=machine, dsp=dsp), machine=machine)
    if len(marks) != 2 * len(arr):
        raise TinymlError(f"the bench firmware logged {len(marks)} markers for {len(arr)} inferences",
                          hint=text.strip()[-300:], kind=ErrorKind.TOOL)
    per_inf = [marks[2 * i + 1] - marks[2 * i] for i in range(len(arr))]
    result = Measurement(machine, dsp, per_inf, _outputs(text, model))
    if layers:
        lm, _ = run_elf(build_elf({**files, "bench_input.h": _c_input(arr[:1])}, machine=machine, dsp=dsp,
                                  layers=True), machine=machine)
        n_layers = int(re.search(r"#define TINYML_NUM_LAYERS\s+(\d+)", files["model.h"]).group(1))  # type: ignore[union-attr]
        if len(lm) != n_layers + 3:
            raise TinymlError(f"the layer build logged {len(lm)} markers, expected {n_layers + 3}", kind=ErrorKind.TOOL)
        # A hook costs what an empty layer costs: its overhead is the layer total minus the
        # hookless inference, spread over the n_layers + 1 extra markers.
        overhead = ((lm[-1] - lm[0]) - per_inf[0]) // (n_layers + 1)
        names = [n for n in re.findall(r'"([A-Z0-9_]+)"', _layer_names(files["model.c"]))]
        result.layers = [(names[i] if i < len(names) else f"layer{i}", lm[i + 2] - lm[i + 1] - overhead)
                         for i in range(n_layers)]
        result.hook_overhead = overhead
    return result


def _layer_names(model_c: str) -> str:
    m = re.search(r"tinyml_layer_names\[[^\]]*\]\s*=\s*\{(.*?)\};", model_c, flags=re.S)
    return m.group(1) if m else ""


def loop_count(n: int, *, machine: str = "mps2-an386") -> int:
    """Instructions the plugin counts between the markers around a loop of ``n`` iterations of
    exactly two instructions (validation: count(n) - count(m) must be 2 * (n - m))."""
    marks, _ = run_elf(build_elf({}, machine=machine, loop=n), machine=machine, timeout=60)
    if len(marks) != 2:
        raise TinymlError(f"the loop firmware logged {len(marks)} markers, expected 2", kind=ErrorKind.TOOL)
    return marks[1] - marks[0]
