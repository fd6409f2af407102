"""RAM and flash of the aot engine vs TFLite Micro, per zoo model (tinyml.zoo).

RAM: the aot arena is what the memory planner gives (tinyml.codegen.aot.plan); the TFLM arena is
measured with the TFLM host interpreter (tinyml.model.arena.measure_arena: the smallest arena,
to 16 bytes, with which it allocates and runs). Goal: aot / TFLM <= 0.6.

Flash: the aot model's generated model.c plus the kernels, compiled -Os for Cortex-M4F and linked
with --gc-sections into an ELF whose main() calls tinyml_init() and tinyml_invoke(); minus the same
link of an empty main(); text + data from arm-none-eabi-size. TFLM's flash is the .tflite (which
TFLM keeps in flash) plus the interpreter and kernels, for which no TFLM sources are available
here: an ESTIMATE of 20-50 KB (see RUNTIME_CITATION) is used, the low end for the ratio.

    .venv/bin/python bench/aot_size.py [--models kws_dscnn ...] [--cache DIR] [--json out.json]
        [--write-doc docs/benchmarks.md]

Converting the zoo needs TensorFlow (about a minute, cached in --cache, default
$TINYML_CACHE/zoo or ~/.cache/tinyml/zoo); measuring the TFLM arenas takes a few seconds per model.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tinyml import zoo  # noqa: E402
from tinyml.codegen.aot import generate, plan  # noqa: E402
from tinyml.codegen.aot.host import kernel_sources  # noqa: E402
from tinyml.model.analysis import analyze  # noqa: E402
from tinyml.model.arena import measure_arena  # noqa: E402
from tinyml.model.tflite import parse  # noqa: E402
from tinyml.resources import resource_dir  # noqa: E402
from tinyml.runner import require_tool, run  # noqa: E402

CC = ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16", "-Os", "-std=c99",
      "-ffunction-sections", "-fdata-sections"]
LD = ["-Wl,--gc-sections", "--specs=nano.specs", "--specs=nosys.specs"]
RUNTIME_LOW, RUNTIME_HIGH = 20 * 1024, 50 * 1024
RUNTIME_CITATION = ("applied-ee.github.io, Embedded docs, Edge AI / Inference frameworks / TensorFlow Lite Micro: "
                    "\"The runtime itself compiles to approximately 20-50 KB of flash depending on the number of "
                    "registered operators\"")
MAIN = """#include "model.h"
static unsigned char in_buf[TINYML_INPUT_BYTES], out_buf[TINYML_OUTPUT_BYTES];
int main(void) { return tinyml_init() != 0 ? 1 : tinyml_invoke(in_buf, out_buf); }
"""
STUB = "int main(void) { return 0; }\n"


@dataclass
class Row:
    model: str
    macs: int
    tflite_bytes: int
    aot_arena: int
    live_peak: int  # max over ops of the bytes of simultaneously live buffers: no placement does better
    tflm_arena: int
    aot_flash: int
    aot_const: int  # weights + params structs in flash (part of aot_flash)
    aot_code: int  # kernels + model.c code (aot_flash - aot_const)
    aot_flash_small: int  # the same built -DTINYML_NO_FAST: reference kernels only, smallest

    @property
    def arena_ratio(self) -> float:
        return self.aot_arena / self.tflm_arena

    @property
    def tflm_flash_low(self) -> int:
        return self.tflite_bytes + RUNTIME_LOW

    @property
    def flash_ratio(self) -> float:
        return self.aot_flash / self.tflm_flash_low

    @property
    def flash_ratio_small(self) -> float:
        return self.aot_flash_small / self.tflm_flash_low


def cache_dir(arg: str | None) -> Path:
    return Path(arg) if arg else zoo.default_cache_dir()


def ensure_models(names: list[str], cache: Path) -> None:
    """Convert missing zoo models in a child process (TensorFlow stays out of this one)."""
    missing = [n for n in names if not (cache / f"{n}.tflite").is_file()]
    if missing:
        cache.mkdir(parents=True, exist_ok=True)
        print(f"converting {', '.join(missing)} (TensorFlow) ...", file=sys.stderr)
        code = "import sys\nfrom tinyml import zoo\nfor n in sys.argv[2:]:\n    zoo.quantized(n, sys.argv[1])\n"
        subprocess.run([sys.executable, "-c", code, str(cache), *missing], check=True, cwd=ROOT,
                       env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))


def size_of(elf: Path) -> int:
    """text + data of an ELF (what occupies flash) from arm-none-eabi-size."""
    out = run(["arm-none-eabi-size", "-B", elf], what="arm-none-eabi-size").stdout.splitlines()
    text, data = (int(v) for v in out[1].split()[:2])
    return text + data


def const_bytes(elf: Path) -> int:
    """Bytes of the model's constant symbols (weights, params structs) in the linked ELF."""
    out = run(["arm-none-eabi-nm", "-S", elf], what="arm-none-eabi-nm").stdout
    total = 0
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[2] in "rR" and re.match(r"(op\d+_|const_tensor)", parts[3]):
            total += int(parts[1], 16)
    return total


def aot_flash(model_name: str, model, work: Path, extra: tuple[str, ...] = ()) -> tuple[int, int]:
    """(flash bytes the aot model adds to an empty program, of which constant data); ``extra``
    compiler flags, e.g. -DTINYML_NO_FAST."""
    cc = require_tool("arm-none-eabi-gcc", "apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi")
    d = work / (model_name + "".join(extra).replace("-D", "-"))
    d.mkdir()
    for name, text in generate(model, target="cortex-m4", name=model_name).items():
        (d / name).write_text(text)
    (d / "main.c").write_text(MAIN)
    (d / "stub.c").write_text(STUB)
    inc = [f"-I{d}", f"-I{resource_dir('firmware') / 'include'}"]
    elf, stub = d / "model.elf", d / "stub.elf"
    run([cc, *CC, *extra, *inc, d / "main.c", d / "model.c", *kernel_sources(), *LD, "-o", elf],
        what=f"linking {model_name} for Cortex-M4")
    run([cc, *CC, d / "stub.c", *LD, "-o", stub], what="linking the empty program")
    return size_of(elf) - size_of(stub), const_bytes(elf)


def live_peak(mem) -> int:
    """The largest total size of buffers alive at the same op: a lower bound for any arena layout
    of these buffers (only fusing ops or computing in place could go below it)."""
    steps = {b.first for b in mem.buffers} | {b.last for b in mem.buffers}
    return max((sum(b.size for b in mem.buffers if b.first <= t <= b.last) for t in steps), default=0)


def measure(name: str, cache: Path, work: Path) -> Row:
    raw = (cache / f"{name}.tflite").read_bytes()
    model = parse(raw)
    flash, consts = aot_flash(name, model, work)
    small, _ = aot_flash(name, model, work, ("-DTINYML_NO_FAST",))
    mem = plan(model)
    return Row(model=name, macs=analyze(model).totals.macs, tflite_bytes=len(raw),
               aot_arena=mem.arena_bytes, live_peak=live_peak(mem), tflm_arena=measure_arena(raw),
               aot_flash=flash, aot_const=consts, aot_code=flash - consts, aot_flash_small=small)


def table(rows: list[Row]) -> str:
    head = ("| model | MACs | .tflite | aot arena | live peak | TFLM arena | arena aot/TFLM "
            "| aot flash (code + consts) | TFLM flash (.tflite + 20 KB est.) | flash aot/TFLM "
            "| aot flash, TINYML_NO_FAST | ratio |\n"
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
    lines = [f"| {r.model} | {r.macs:,} | {r.tflite_bytes:,} | {r.aot_arena:,} | {r.live_peak:,} | {r.tflm_arena:,} "
             f"| {r.arena_ratio:.2f} | {r.aot_flash:,} ({r.aot_code:,} + {r.aot_const:,}) "
             f"| {r.tflm_flash_low:,} | {r.flash_ratio:.2f} | {r.aot_flash_small:,} | {r.flash_ratio_small:.2f} |"
             for r in rows]
    return head + "\n".join(lines) + "\n"


def write_doc(path: Path, rows: list[Row]) -> None:
    """Replace the aot_size section of the benchmarks doc (other sections are left alone)."""
    begin, end = "<!-- aot_size:begin -->", "<!-- aot_size:end -->"
    section = f"{begin}\n{table(rows)}{end}"
    text = path.read_text() if path.exists() else ""
    if begin in text and end in text:
        text = text[:text.index(begin)] + section + text[text.index(end) + len(end):]
    else:
        text = text.rstrip("\n") + ("\n\n" if text else "") + section + "\n"
    path.write_text(text)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", nargs="*", default=zoo.names(), choices=zoo.names())
    ap.add_argument("--cache", help="where converted zoo models are kept")
    ap.add_argument("--json", type=Path, help="also write the rows as JSON")
    ap.add_argument("--write-doc", type=Path, help="update the aot_size table in this markdown file")
    args = ap.parse_args(argv)
    cache = cache_dir(args.cache)
    ensure_models(args.models, cache)
    rows = []
    with tempfile.TemporaryDirectory(prefix="tinyml-aot-size-") as tmp:
        for name in args.models:
            rows.append(measure(name, cache, Path(tmp)))
            r = rows[-1]
            print(f"{name}: arena {r.aot_arena} vs {r.tflm_arena} ({r.arena_ratio:.2f}), "
                  f"flash {r.aot_flash} vs {r.tflm_flash_low} ({r.flash_ratio:.2f})", file=sys.stderr)
    print(table(rows), end="")
    print(f"\nTFLM runtime flash: {RUNTIME_LOW // 1024}-{RUNTIME_HIGH // 1024} KB ESTIMATE ({RUNTIME_CITATION}); "
          "ratios use the low end.")
    if args.json:
        args.json.write_text(json.dumps([dict(asdict(r), arena_ratio=r.arena_ratio, flash_ratio=r.flash_ratio,
                                              flash_ratio_small=r.flash_ratio_small)
                                         for r in rows], indent=2))
    if args.write_doc:
        write_doc(args.write_doc, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
