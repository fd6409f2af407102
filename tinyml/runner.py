"""The one runner for every external process (pio, esptool, qemu, compilers).

Every command is logged, exactly as run, on the ``tinyml.runner`` logger, so ``-v`` shows
what a user can paste into a shell to reproduce it.
"""

from __future__ import annotations

import logging
import os
import shlex
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tinyml.errors import ErrorKind, TinymlError

log = logging.getLogger("tinyml.runner")


@dataclass
class Result:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str


def format_command(args: Sequence[str], cwd: str | os.PathLike[str] | None = None,
                   env: Mapping[str, str] | None = None) -> str:
    prefix = ""
    if env:
        prefix = " ".join(f"{k}={shlex.quote(v)}" for k, v in sorted(env.items())) + " "
    where = f"(cd {shlex.quote(str(cwd))} && " if cwd else ""
    return where + prefix + shlex.join([str(a) for a in args]) + (")" if cwd else "")


def require_tool(name: str, hint: str) -> str:
    """The absolute path of an executable on PATH, or a TinymlError naming what to install."""
    path = shutil.which(name)
    if path is None:
        raise TinymlError(f"'{name}' was not found on PATH", hint=hint, kind=ErrorKind.TOOL)
    return path


def run(args: Sequence[str | os.PathLike[str]], *, cwd: str | os.PathLike[str] | None = None,
        env: Mapping[str, str] | None = None, timeout: float | None = None, check: bool = True,
        capture: bool = True, what: str | None = None, input: bytes | None = None) -> Result:
    """Run a command, log it, and turn failures into TinymlError.

    ``env`` holds only the variables added to the current environment (they are logged).
    ``what`` names the step for error messages ("compiling the model", "pio run").
    """
    argv = [str(a) for a in args]
    log.info("$ %s", format_command(argv, cwd, env))
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    label = what or Path(argv[0]).name
    try:
        proc = subprocess.run(argv, cwd=cwd, env=full_env, timeout=timeout, input=input,
                              stdout=subprocess.PIPE if capture else None,
                              stderr=subprocess.PIPE if capture else None)
    except FileNotFoundError as exc:
        raise TinymlError(f"{label}: '{argv[0]}' was not found", hint="install it or put it on PATH",
                          kind=ErrorKind.TOOL) from exc
    except subprocess.TimeoutExpired as exc:
        raise TinymlError(f"{label} did not finish within {timeout:g} s",
                          hint="run the logged command by hand (tinyml -v) to see where it hangs",
                          kind=ErrorKind.TOOL) from exc
    out = proc.stdout.decode(errors="replace") if capture and proc.stdout is not None else ""
    err = proc.stderr.decode(errors="replace") if capture and proc.stderr is not None else ""
    if check and proc.returncode != 0:
        tail = (err.strip() or out.strip()).splitlines()[-15:]
        detail = ("\n" + "\n".join(tail)) if tail else ""
        raise TinymlError(f"{label} failed with exit code {proc.returncode}{detail}",
                          hint=f"command: {format_command(argv, cwd, env)}", kind=ErrorKind.TOOL)
    return Result(argv, proc.returncode, out, err)


def popen(args: Sequence[str | os.PathLike[str]], *, cwd: str | os.PathLike[str] | None = None,
          env: Mapping[str, str] | None = None, **kwargs: object) -> subprocess.Popen[bytes]:
    """Start a long-running process (an emulator, a monitor) through the same logging."""
    argv = [str(a) for a in args]
    log.info("$ %s &", format_command(argv, cwd, env))
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    try:
        return subprocess.Popen(argv, cwd=cwd, env=full_env, **kwargs)  # type: ignore[call-overload]
    except FileNotFoundError as exc:
        raise TinymlError(f"'{argv[0]}' was not found", hint="install it or put it on PATH",
                          kind=ErrorKind.TOOL) from exc
