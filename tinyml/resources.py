"""Where the non-Python parts of tinyml live: templates/, firmware/, boards/, examples/.

tinyml is installed from its source tree (``pip install -e .``), so these sit next to the
package. A wheel would carry them as package data; this one function is the place to change.
"""

from __future__ import annotations

from pathlib import Path

from tinyml.errors import ErrorKind, TinymlError

ROOT = Path(__file__).resolve().parent.parent


def resource_dir(name: str) -> Path:
    path = ROOT / name
    if not path.is_dir():
        raise TinymlError(f"tinyml's {name}/ directory is missing (looked in {path})",
                          hint="install tinyml from its source tree: pip install -e .", kind=ErrorKind.TOOL)
    return path
