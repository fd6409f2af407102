"""RAM and flash of the aot engine vs TFLite Micro, per zoo model (tinyml.zoo).

RAM: the aot arena is what the memory planner gives (tinyml.codegen.aot.plan); the TFLM arena is
measured with the TFLM host interpreter (tinyml.model.arena.measure_arena: the smallest arena,
to 16 bytes, with which it allocates and runs). Goal: aot / TFLM <= 0.6.

Flash: the aot model's generated model.c plus the kernels, compiled -Os for Cortex-M4F and linked
with --gc-sections into an ELF whose main() calls tinyml_init() and tinyml_invoke(); minus the same
link of an empty main(); text + data from arm-none-eabi-size (tinyml.codegen.aot.footprint, which
the fit check uses too). TFLM's flash is the .tflite (which
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
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tinyml import zoo  # noqa: E402
from tinyml.codegen.aot import plan  # noqa: E402
from tinyml.codegen.aot.footprint import flash_split  # noqa: E402
from tinyml.model.analysis import analyze  # noqa: E402
from tinyml.model.arena import measure_arena  # noqa: E402
from tinyml.model.tflite import parse  # noqa: E402

RUNTIME_LOW, RUNTIME_HIGH = 20 * 1024, 50 * 1024
RUNTIME_CITATION = ("applied-ee.github.io, Embedded docs, Edge AI / Inference frameworks / TensorFlow Lite Micro: "
                    "\"The runtime itself compiles to approximately 20-50 KB of flash depending on the number of "
                    "registered operators\"")
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


def live_peak(mem) -> int:
    """The largest total size of buffers alive at the same op: a lower bound for any arena layout
    of these buffers (only fusing ops or computing in place could go below it)."""
    steps = {b.first for b in mem.buffers} | {b.last for b in mem.buffers}
    return max((sum(b.size for b in mem.buffers if b.first <= t <= b.last) for t in steps), default=0)


def measure(name: str, cache: Path) -> Row:
    raw = (cache / f"{name}.tflite").read_bytes()
    model = parse(raw)
    # measured as the fit check measures (tinyml.codegen.aot.footprint), on the Cortex-M4F
    flash, consts = flash_split(model, "cortex-m4f", name=name)
    small, _ = flash_split(model, "cortex-m4f", ("-DTINYML_NO_FAST",), name=name)
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
    for name in args.models:
        rows.append(measure(name, cache))
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
