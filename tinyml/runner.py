"""The one runner for every external process (pio, esptool, qemu, compilers).

Every command is logged, exactly as run, on the ``tinyml.runner`` logger, so ``-v`` shows
what a user can paste into a shell to reproduce it.
"""

from __future__ import annotations

import contextlib
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
        # Its own process group, so that an interrupt or a timeout ends everything it started
        # (pio -> scons -> compilers), not just the direct child; see _end_group.
        proc = subprocess.Popen(argv, cwd=cwd, env=full_env, start_new_session=True,
                                stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                                stdout=subprocess.PIPE if capture else None,
                                stderr=subprocess.PIPE if capture else None)
    except FileNotFoundError as exc:
        raise TinymlError(f"{label}: '{argv[0]}' was not found", hint="install it or put it on PATH",
                          kind=ErrorKind.TOOL) from exc
    try:
        raw_out, raw_err = proc.communicate(input, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        _end_group(proc)
        raise TinymlError(f"{label} did not finish within {timeout:g} s",
                          hint="run the logged command by hand (tinyml -v) to see where it hangs",
                          kind=ErrorKind.TOOL) from exc
    except BaseException:  # Ctrl-C / kill -INT of tinyml: take the whole command down with it
        _end_group(proc)
        raise
    out = raw_out.decode(errors="replace") if capture and raw_out is not None else ""
    err = raw_err.decode(errors="replace") if capture and raw_err is not None else ""
    if check and proc.returncode != 0:
        tail = (err.strip() or out.strip()).splitlines()[-15:]
        detail = ("\n" + "\n".join(tail)) if tail else ""
        raise TinymlError(f"{label} failed with exit code {proc.returncode}{detail}",
                          hint=f"command: {format_command(argv, cwd, env)}", kind=ErrorKind.TOOL)
    return Result(argv, proc.returncode, out, err)


def _end_group(proc: subprocess.Popen[bytes], grace: float = 2.0) -> None:
    """SIGTERM to the command's process group, then SIGKILL to whatever of it is left after the
    leader exits (or after ``grace`` seconds). Processes that started their own session on
    purpose (a virtual board left running) are not in the group and stay."""
    import signal

    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=grace)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


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
