"""The one writer that puts generated files on disk, atomically.

Codegen is pure: it returns ``{relative_path: text_or_bytes}``. ``write_tree`` writes all of it
into a temporary sibling directory first and moves it into place, so a failure never leaves a
half-written output behind. ``write_file`` does the same for a single file.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

from tinyml.errors import ErrorKind, TinymlError

Content = str | bytes


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _check_not_dir(path: Path) -> None:
    if path.is_dir():
        raise TinymlError(f"{path} is a directory", hint="pass a file path (a name inside that directory)",
                          kind=ErrorKind.OUTPUT)


def _check_parent(path: Path) -> None:
    parent = path.parent
    if not parent.exists():
        raise TinymlError(f"directory {parent} does not exist", hint="create it first or choose another path",
                          kind=ErrorKind.OUTPUT)
    if not os.access(parent, os.W_OK):
        raise TinymlError(f"directory {parent} is not writable", hint="choose a writable output path",
                          kind=ErrorKind.OUTPUT)


def check_destination(path: str | os.PathLike[str]) -> None:
    """Fail before a long run (a device validation) if ``path`` could not be written afterwards."""
    _check_not_dir(Path(path))
    _check_parent(Path(path))


def _put(path: Path, content: Content) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        # newline="\n": same bytes on every OS.
        with open(path, "w", encoding="utf-8", newline="\n") as f:
            f.write(content)
    else:
        path.write_bytes(content)


def write_file(path: str | os.PathLike[str], content: Content) -> Path:
    """Write one file atomically (temp file in the same directory, then rename)."""
    dest = Path(path)
    _check_not_dir(dest)
    _check_parent(dest)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", dir=dest.parent)
    except OSError as exc:
        raise TinymlError(f"cannot write {dest}: {exc.strerror}", hint="choose a writable output path",
                          kind=ErrorKind.OUTPUT) from exc
    os.close(fd)
    try:
        _put(Path(tmp), content)
        # mkstemp makes 0600 files; give the file the mode a plain open() would have.
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, dest)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise TinymlError(f"cannot write {dest}: {exc.strerror}", kind=ErrorKind.OUTPUT) from exc
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return dest


def write_tree(dest: str | os.PathLike[str], files: Mapping[str, Content], *, force: bool = False,
               merge: bool = False) -> Path:
    """Write ``files`` under ``dest``.

    A new ``dest`` is built in a temporary sibling and renamed into place. An existing ``dest``
    is refused unless ``force`` (replace it whole) or ``merge`` (write these files into it, each
    atomically, leaving other files alone, as for ``convert -o DIR``).
    """
    root = Path(dest)
    for rel in files:
        if Path(rel).is_absolute() or ".." in Path(rel).parts:
            raise ValueError(f"generated path escapes the output directory: {rel}")
    if root.exists() and merge:
        if not root.is_dir():
            raise TinymlError(f"{root} exists and is not a directory", kind=ErrorKind.OUTPUT)
        for rel, content in files.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            write_file(root / rel, content)
        return root
    if root.exists() and not force:
        raise TinymlError(f"{root} already exists", hint="pass --force to replace it, or choose another -o",
                          kind=ErrorKind.OUTPUT)
    _check_parent(root.absolute())
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.", dir=root.absolute().parent))
    except OSError as exc:
        raise TinymlError(f"cannot write {root}: {exc.strerror}", hint="choose a writable output path",
                          kind=ErrorKind.OUTPUT) from exc
    try:
        for rel, content in files.items():
            _put(tmp / rel, content)
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700 directories
        if root.exists():
            old = root.with_name(f".{root.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(root, old)
            os.replace(tmp, root)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, root)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise TinymlError(f"cannot write {root}: {exc.strerror}", kind=ErrorKind.OUTPUT) from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return root
