"""Flash a virtual board's firmware takes before any model: the `flash_reserved_bytes` of boards/*.toml.

For each virtual board and each small zoo model: `tinyml generate` an aot project (default
samples), build it with PlatformIO (offline, local platforms), and split the firmware's flash
(text + data of the ELF) into

    reserved = firmware - aot model flash (tinyml.codegen.aot.footprint) - stored samples

which is the framework/core, startup, port and tinyml's device runtime. A board file should
reserve the largest value seen (the fit check then never says "fits" for a firmware that does
not). The last column is what `tinyml generate` predicted for the whole firmware vs what was
built (the emulator tests of the QEMU boards and uno-sim check it stays within 0-15 % above).

    .venv/bin/python bench/flash_reserved.py [--boards qemu-mps2-an386 ...] [--models sine digits_cnn]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tinyml import zoo  # noqa: E402
from tinyml.boards import get_board  # noqa: E402
from tinyml.build.flash import build  # noqa: E402
from tinyml.codegen.aot.footprint import elf_flash_bytes, model_flash_bytes  # noqa: E402
from tinyml.codegen.project import create_project  # noqa: E402
from tinyml.model.tflite import parse  # noqa: E402

BOARDS = ["qemu-mps2-an386", "qemu-lm3s6965evb", "uno-sim"]
MODELS = ["sine", "digits_cnn"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--boards", nargs="*", default=BOARDS)
    ap.add_argument("--models", nargs="*", default=MODELS)
    ap.add_argument("--cache", default=str(zoo.default_cache_dir()))
    args = ap.parse_args(argv)
    print("| board | model | firmware | aot model | samples | reserved | board file | predicted / built |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory(prefix="tinyml-flash-reserved-") as tmp:
        for board_id in args.boards:
            board = get_board(board_id)
            for name in args.models:
                raw = zoo.quantized(name, args.cache)
                model = parse(raw)
                src = Path(tmp) / f"{name}.tflite"
                src.write_bytes(raw)
                proj = Path(tmp) / f"{board_id}-{name}"
                _, manifest = create_project(src, board_id, proj, engine="aot")
                elf = build(proj).firmware
                assert elf is not None and elf.suffix == ".elf", elf
                firmware = elf_flash_bytes(elf, board.arch)
                own = model_flash_bytes(model, board.arch) or 0
                samples = manifest["fit"]["flash_samples_bytes"]
                predicted = manifest["fit"]["flash_used_bytes"]
                print(f"| {board_id} | {name} | {firmware:,} | {own:,} | {samples:,} | {firmware - own - samples:,} "
                      f"| {board.flash_reserved_bytes:,} | {predicted / firmware:.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
