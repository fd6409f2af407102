"""ESP32 flash layout of a ``tflm`` project: a partition table with a raw ``model`` data partition.

The model lives in its own partition so ``tinyml flash DIR --model-only`` can replace it in
seconds with esptool, without rebuilding or rewriting the app. Layout (ESP-IDF's "single factory
app" table, app sized like the board's usable flash, then the model)::

    nvs       data nvs    0x9000    0x6000
    phy_init  data phy    0xf000    0x1000
    factory   app  factory 0x10000  0x140000   (board.flash_bytes, 64 KB multiple)
    model     data 0x40   0x150000  model + headroom, 64 KB multiple, up to the flash chip's end

The model partition is 64 KB aligned (one MMU page: ``esp_partition_mmap`` maps it without an
offset and the mapped model is aligned far beyond TFLM's 16 bytes) and sized for the model plus
headroom (twice the image, at least 64 KB more), so a retrained model of about the same size fits.

Partition contents (little endian, what ``firmware/src/model_check.c`` checks on the device)::

    0    4  magic "TMLM"            (an erased partition reads 0xFF: the firmware's built-in model runs)
    4    4  format version (1)
    8    4  header bytes (128)
    12   4  model bytes
    16   4  CRC-32 (IEEE, zlib) of the model bytes (a torn or partial write is refused)
    20   4  arena bytes the model needs (host-measured TFLM arena + tinyml's margin)
    24  32  model name, NUL padded
    56  64  model sha256, lowercase hex (the hello reports it)
    120  8  zero
    128     the .tflite, unchanged
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from typing import Any

from tinyml.boards import Board
from tinyml.errors import ErrorKind, TinymlError

MODEL_MAGIC = b"TMLM"
MODEL_FORMAT = 1
HEADER_BYTES = 128
MODEL_SUBTYPE = 0x40  # first custom data subtype; the firmware finds the partition by its label
MODEL_LABEL = "model"
PAGE = 0x10000  # 64 KB: flash MMU page
SECTOR = 0x1000
PARTITION_TABLE_OFFSET = 0x8000
FLASH_BYTES = 0x400000  # the flash chip when the board TOML has no flash_chip_bytes
HEADROOM_MIN = 0x10000

# board arch -> (esptool --chip, bootloader offset)
CHIPS = {"xtensa-lx6": ("esp32", 0x1000), "xtensa-lx7": ("esp32s3", 0x0)}


def is_esp32(board: Board) -> bool:
    return board.arch in CHIPS


@dataclass(frozen=True)
class Partition:
    name: str
    type: str
    subtype: str
    offset: int
    size: int

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "subtype": self.subtype, "offset": self.offset,
                "size": self.size}


def _round_up(n: int, to: int) -> int:
    return (n + to - 1) // to * to


def flash_chip_bytes(board: Board) -> int:
    return int(board.extra.get("flash_chip_bytes", FLASH_BYTES))


def model_partition_size(model_bytes: int) -> int:
    image = HEADER_BYTES + model_bytes
    return _round_up(max(2 * image, image + HEADROOM_MIN), PAGE)


def layout(board: Board, model_bytes: int) -> list[Partition]:
    """The partition table for ``board`` with room for a model of ``model_bytes``."""
    if not is_esp32(board):
        raise TinymlError(f"board {board.id} is not an ESP32: it has no partition table",
                          kind=ErrorKind.UNSUPPORTED)
    app = _round_up(board.flash_bytes, PAGE)
    parts = [Partition("nvs", "data", "nvs", 0x9000, 0x6000),
             Partition("phy_init", "data", "phy", 0xF000, 0x1000),
             Partition("factory", "app", "factory", 0x10000, app)]
    model_off = _round_up(0x10000 + app, PAGE)
    size = model_partition_size(model_bytes)
    chip = flash_chip_bytes(board)
    if model_off + size > chip:
        raise TinymlError(f"the model ({model_bytes:,} B) needs a {size:,} B partition, but only "
                          f"{max(chip - model_off, 0):,} B of the {chip // 0x100000} MB flash are left after the app",
                          hint="shrink the model, or use the aot engine (weights in the app)",
                          kind=ErrorKind.DOES_NOT_FIT)
    parts.append(Partition(MODEL_LABEL, "data", hex(MODEL_SUBTYPE), model_off, size))
    return parts


def render_csv(parts: list[Partition], banner: str) -> str:
    lines = [f"# {banner}",
             "# The model has its own partition: `tinyml flash . --model-only` rewrites just that.",
             "# Name, Type, SubType, Offset, Size, Flags"]
    for p in parts:
        lines.append(f"{p.name}, {p.type}, {p.subtype}, {hex(p.offset)}, {hex(p.size)},")
    return "\n".join(lines) + "\n"


def parse_csv(text: str) -> list[Partition]:
    """A partition CSV with explicit offsets (what :func:`render_csv` writes), or a clear error."""
    parts = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        cells = [c.strip() for c in line.split(",")]
        try:
            parts.append(Partition(cells[0], cells[1], cells[2], int(cells[3], 0), int(cells[4], 0)))
        except (IndexError, ValueError) as exc:
            raise TinymlError(f"partitions.csv line {n} is not 'name, type, subtype, offset, size': {line!r}",
                              hint="regenerate the project with --force", kind=ErrorKind.INPUT) from exc
    return parts


def model_partition(parts: list[Partition]) -> Partition:
    for p in parts:
        if p.name == MODEL_LABEL:
            return p
    raise TinymlError("the partition table has no 'model' partition",
                      hint="regenerate the project with the tflm engine", kind=ErrorKind.INPUT)


def model_image(raw: bytes, *, name: str, sha256: str, arena_bytes: int) -> bytes:
    """Header + .tflite: exactly what goes into the ``model`` partition."""
    name_b = name.encode("ascii", "replace")[:31]
    header = struct.pack("<4sIIIII32s64s8s", MODEL_MAGIC, MODEL_FORMAT, HEADER_BYTES, len(raw),
                         zlib.crc32(raw) & 0xFFFFFFFF, arena_bytes, name_b, sha256.encode("ascii"), b"")
    assert len(header) == HEADER_BYTES
    return header + raw


def parse_model_image(image: bytes) -> dict[str, Any]:
    """The header fields of a model partition image (for tests and `tinyml` diagnostics)."""
    magic, fmt, hdr, n, crc, arena, name, sha, _ = struct.unpack_from("<4sIIIII32s64s8s", image)
    return {"magic": magic, "format": fmt, "header_bytes": hdr, "model_bytes": n, "crc32": crc,
            "arena_bytes": arena, "name": name.rstrip(b"\0").decode(), "sha256": sha.decode()}
