"""PlatformIO extra script of tinyml ESP32 + tflm projects: `pio run -t upload` also writes the model
partition, so the firmware runs the model of this project, not one left by an earlier
`tinyml flash --model-only` (the firmware prefers a valid partition model over its built-in copy).

Writes $BUILD_DIR/model.bin (a 128-byte header + model.tflite; layout in tinyml/build/partitions.py,
checked on the device by src/tinyml/model_check.c) and adds it to the images esptool writes
(FLASH_EXTRA_IMAGES) at the `model` partition's offset from tinyml.json. Needs only Python's stdlib.
"""

import hashlib
import json
import os
import struct
import zlib

HEADER = "<4sIIIII32s64s8s"


def model_image(project_dir):
    """(offset, image bytes) for the project's model partition."""
    with open(os.path.join(project_dir, "tinyml.json")) as f:
        manifest = json.load(f)
    with open(os.path.join(project_dir, manifest["model"].get("file", "model.tflite")), "rb") as f:
        raw = f.read()
    name = manifest["model"]["name"].encode("ascii", "replace")[:31]
    header = struct.pack(HEADER, b"TMLM", 1, 128, len(raw), zlib.crc32(raw) & 0xFFFFFFFF,
                         int(manifest["arena_bytes"]), name, hashlib.sha256(raw).hexdigest().encode(), b"")
    return int(manifest["esp32"]["model_partition"]["offset"]), header + raw


try:
    Import("env")  # noqa: F821 - injected by PlatformIO
except NameError:  # imported by a test, not by PlatformIO
    env = None

if env is not None:
    offset, image = model_image(env.subst("$PROJECT_DIR"))
    build_dir = env.subst("$BUILD_DIR")
    os.makedirs(build_dir, exist_ok=True)
    path = os.path.join(build_dir, "model.bin")
    with open(path, "wb") as f:
        f.write(image)
    env.Append(FLASH_EXTRA_IMAGES=[(hex(offset), path)])
