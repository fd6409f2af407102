"""Flash the aot model itself takes on an arch, measured by compiling it.

The fit check (``tinyml inspect --board``, ``tinyml generate``) needs the flash of the generated
model: its constants (weights, biases, multipliers, params structs), the kernels it calls and
the call sequence. The kernels' code depends on which variants a model's layers use and on the
compiler, so instead of a per-op guess the generated C is compiled -Os for the board's arch, as
the projects build it, and linked with --gc-sections into a program whose main() calls
tinyml_init() and tinyml_invoke(); the flash it adds to an empty program is the answer. That
takes about a second (cached per model, arch and kernel sources). Without the cross compiler,
or for an arch we cannot compile for here (Xtensa), the caller falls back to an estimate.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path

from tinyml.errors import ErrorKind, TinymlError
from tinyml.model.tflite import Model

log = logging.getLogger(__name__)

# arch -> (compiler, size tool, machine flags): the flags the tinyml PlatformIO platforms use.
ARCHES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "cortex-m0plus": ("arm-none-eabi-gcc", "arm-none-eabi-size", ("-mcpu=cortex-m0plus", "-mthumb")),
    "cortex-m3": ("arm-none-eabi-gcc", "arm-none-eabi-size", ("-mcpu=cortex-m3", "-mthumb")),
    "cortex-m4": ("arm-none-eabi-gcc", "arm-none-eabi-size", ("-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=soft")),
    "cortex-m4f": ("arm-none-eabi-gcc", "arm-none-eabi-size",
                   ("-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16")),
    "cortex-m7": ("arm-none-eabi-gcc", "arm-none-eabi-size",
                  ("-mcpu=cortex-m7", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv5-d16")),
    "avr": ("avr-gcc", "avr-size", ("-mmcu=atmega328p",)),
}
_CFLAGS = ("-Os", "-std=c99", "-ffunction-sections", "-fdata-sections")
_LDFLAGS = {"arm-none-eabi-gcc": ("-Wl,--gc-sections", "--specs=nano.specs", "--specs=nosys.specs"),
            # the ATmega328P's regions made large, so that a model too big for it still links
            # and is measured (the fit check then says by how much it is over)
            "avr-gcc": ("-Wl,--gc-sections", "-Wl,--defsym=__TEXT_REGION_LENGTH__=0x100000",
                        "-Wl,--defsym=__DATA_REGION_LENGTH__=0x100000")}
_MAIN = """#include "model.h"
static unsigned char in_buf[TINYML_INPUT_BYTES], out_buf[TINYML_OUTPUT_BYTES];
int main(void) { return tinyml_init() != 0 ? 1 : tinyml_invoke(in_buf, out_buf); }
"""
_EMPTY = "int main(void) { return 0; }\n"


def _kernel_library(arch: str, fw: dict[str, bytes], key: str, defines: tuple[str, ...]) -> Path:
    """The kernels compiled for ``arch`` into a static library, built once per kernel sources: a
    model then costs one compile of its model.c and a link (the archive gives --gc-sections the
    same choice of functions as the object files would). ``fw``: the firmware snapshot."""
    from tinyml.build import snapshot
    from tinyml.runner import run

    lib = _cache_dir() / f"kernels-{key}.a"
    if lib.is_file():
        return lib
    cc, _, machine = ARCHES[arch]
    lib.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="tinyml-kernels-") as tmp:
        root = snapshot.write(fw, Path(tmp))
        objs = []
        for name in sorted(n for n in fw if n.endswith(".c")):
            obj = root / (Path(name).stem + ".o")
            run([cc, *machine, *_CFLAGS, *defines, f"-I{root / 'include'}", "-c", str(root / name), "-o", str(obj)],
                what=f"compiling the kernels for {arch}")
            objs.append(str(obj))
        # staged next to its final name, then renamed: another process never sees half an archive
        staged = lib.with_name(f"{lib.name}.{os.getpid()}.tmp")
        run([cc.replace("gcc", "ar"), "rcs", str(staged), *objs], what=f"archiving the {arch} kernels")
        os.replace(staged, lib)
    return lib


def elf_flash_bytes(elf: Path, arch: str) -> int:
    """Flash an ELF built for ``arch`` occupies (text + data)."""
    return _flash_of(ARCHES[arch][1], elf)


def _flash_of(size_tool: str, elf: Path) -> int:
    """text + data of an ELF (what a flash image holds) from ``size -B``."""
    from tinyml.runner import run

    line = run([size_tool, "-B", str(elf)], what=f"{size_tool} {elf.name}").stdout.splitlines()[1]
    text, data = (int(v) for v in line.split()[:2])
    return text + data


def _available(arch: str) -> bool:
    import shutil

    if arch not in ARCHES:
        return False
    cc, size_tool, _ = ARCHES[arch]
    return all(shutil.which(tool) is not None
               for tool in (cc, size_tool, cc.replace("gcc", "ar"), size_tool.replace("size", "nm")))


def model_flash_bytes(model: Model, arch: str, defines: tuple[str, ...] = (),
                      generated: dict[str, str] | None = None) -> int | None:
    """Flash the generated aot model adds on ``arch`` (constants + kernel code + call sequence),
    or None when it cannot be measured here (unknown arch, compiler not installed, a model the
    aot engine cannot compile: the caller's estimate and errors cover those). ``defines``: the
    project's extra -D flags (-DTINYML_NO_FAST for a size-optimized build). ``generated``: the
    model's already generated {"model.c", "model.h"} (a project's), else generated here. Cached
    under the bytes compiled: kernels, headers, flags and the generated C."""
    from tinyml import __version__
    from tinyml.build import snapshot
    from tinyml.codegen.aot.generator import generate

    if not _available(arch):
        return None
    try:
        files = generated if generated is not None else generate(model, target=arch, name="model")
    except TinymlError:
        return None
    # read once: the cache keys and the compiler see the same bytes (tinyml.build.snapshot)
    fw = snapshot.firmware_files("src/kernels/*.c", "include/tinyml/*.h")
    kernels_key = snapshot.digest(fw, __version__, arch, *defines)[:24]
    cache = _cache_dir() / f"{snapshot.digest({n: t.encode() for n, t in files.items()}, kernels_key)[:24]}.json"
    if cache.is_file():
        try:
            return int(json.loads(cache.read_text())["flash_bytes"])
        except (ValueError, KeyError, OSError):
            pass  # a damaged cache entry: measure again
    try:
        flash, _ = _measure(files, arch, fw, kernels_key, defines)
    except TinymlError as err:  # our generated C failing to build is a bug, not the user's: estimate
        log.warning("could not measure the aot model's flash on %s: %s", arch, err.message)
        return None
    try:
        from tinyml.writer import write_file

        cache.parent.mkdir(parents=True, exist_ok=True)
        write_file(cache, json.dumps({"flash_bytes": flash, "arch": arch, "sha256": model.sha256}))
    except (TinymlError, OSError):
        pass  # a read-only cache only costs the next call a compile
    return flash


def flash_split(model: Model, arch: str, defines: tuple[str, ...] = (), *, name: str = "model") -> tuple[int, int]:
    """(flash the aot model adds on ``arch``, of which constant data: weights, biases,
    requantization records, params structs), measured uncached (bench/aot_size.py). Raises
    TinymlError when it cannot be measured."""
    from tinyml import __version__
    from tinyml.build import snapshot
    from tinyml.codegen.aot.generator import generate

    if not _available(arch):
        raise TinymlError(f"cannot measure flash on {arch}: no compiler for it here",
                          hint="apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi gcc-avr avr-libc",
                          kind=ErrorKind.TOOL)
    fw = snapshot.firmware_files("src/kernels/*.c", "include/tinyml/*.h")
    files = generate(model, target=arch, name=name)
    return _measure(files, arch, fw, snapshot.digest(fw, __version__, arch, *defines)[:24], defines)


def _measure(files: dict[str, str], arch: str, fw: dict[str, bytes], kernels_key: str,
             defines: tuple[str, ...]) -> tuple[int, int]:
    """(flash the model adds to an empty program, of which its constant symbols)."""
    from tinyml.build import snapshot
    from tinyml.runner import run

    cc, size_tool, machine = ARCHES[arch]
    lib = _kernel_library(arch, fw, kernels_key, defines)
    with tempfile.TemporaryDirectory(prefix="tinyml-footprint-") as tmp:
        d = Path(tmp)
        snapshot.write({n: c for n, c in fw.items() if n.endswith(".h")}, d / "fw")
        for name, text in files.items():
            (d / name).write_text(text)
        (d / "main.c").write_text(_MAIN)
        (d / "empty.c").write_text(_EMPTY)
        flags = [*machine, *_CFLAGS, *defines, f"-I{d}", f"-I{d / 'fw' / 'include'}"]
        ld = list(_LDFLAGS[cc])
        run([cc, *flags, str(d / "main.c"), str(d / "model.c"), str(lib), *ld, "-o", str(d / "model.elf")],
            what=f"measuring the aot model's flash on {arch}")
        run([cc, *flags, str(d / "empty.c"), *ld, "-o", str(d / "empty.elf")], what=f"linking an empty {arch} program")
        total = _flash_of(size_tool, d / "model.elf") - _flash_of(size_tool, d / "empty.elf")
        return total, _const_bytes(size_tool.replace("size", "nm"), d / "model.elf")


def _const_bytes(nm_tool: str, elf: Path) -> int:
    """Bytes of the generated model's constant symbols (op<N>_*, const_tensor*) in a linked ELF."""
    import re

    from tinyml.runner import run

    total = 0
    for line in run([nm_tool, "-S", str(elf)], what=f"{nm_tool} {elf.name}").stdout.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[2] in "rRdD" and re.match(r"(op\d+_|const_tensor)", parts[3]):
            total += int(parts[1], 16)
    return total


def _cache_dir() -> Path:
    from tinyml.build.pio import cache_dir

    return cache_dir() / "footprint"
