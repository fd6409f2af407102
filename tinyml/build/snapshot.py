"""Source snapshots for content-addressed build caches.

The host library (aot.host), the icount bench firmware and the footprint's kernel archive are
cached under a hash of their sources. Hashing the files and then compiling them from their
places lets an edit in between (an editor saving, another build in a shared checkout) put an
object built from one version under the key of another, and every later build of the first
version gets the wrong binary. So the files are read once: the hash is of those bytes, and the
compiler reads the same bytes, written into the build's temporary directory.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from tinyml.resources import resource_dir


def firmware_files(*patterns: str) -> dict[str, bytes]:
    """``{relative path: content}`` of the files under firmware/ matching ``patterns`` (globs)."""
    root = resource_dir("firmware")
    files: dict[str, bytes] = {}
    for pattern in patterns:
        for path in sorted(root.glob(pattern)):
            if path.is_file():
                files[path.relative_to(root).as_posix()] = path.read_bytes()
    return files


def digest(files: dict[str, bytes], *parts: str) -> str:
    """sha256 over ``parts`` (flags, names) and every file's path and content."""
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode() + b"\0")
    for name in sorted(files):
        h.update(name.encode() + b"\0" + files[name] + b"\0")
    return h.hexdigest()


def write(files: dict[str, bytes], dest: Path) -> Path:
    """Put the snapshot under ``dest`` (same relative layout); returns ``dest``."""
    for name, content in files.items():
        path = dest / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return dest
